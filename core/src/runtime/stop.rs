//! Stopping: ask the agent to shut down (SIGTERM to every process, grace, SIGKILL), wait for
//! the shim to exit, escalate to SIGKILL, persist `stopped`.

use std::time::Duration;

use boxlite_protocol::pb::ShutdownRequest;

use super::Runtime;
use crate::error::{Error, ErrorKind, Result};
use crate::status::BoxStatus;

/// Beyond the grace period, how long the shim gets to exit before it is killed.
const SHIM_EXIT_SLACK: Duration = Duration::from_secs(3);

impl Runtime {
    pub(crate) async fn stop_box(&self, id: &str, grace: Duration) -> Result<()> {
        let _lock = self.lock_box(id).await?;
        let mut rec = self.resolve_existing(id)?;
        match rec.state.status() {
            BoxStatus::Stopped => return Ok(()),
            BoxStatus::Running => {}
            status => {
                return Err(Error::new(
                    ErrorKind::InvalidState,
                    format!("cannot stop box {id}: it is {status}"),
                ))
            }
        }
        if !self.shim_alive(&rec) {
            return self.settle_exit(&rec, true);
        }
        rec.state.transition(BoxStatus::Stopping)?;
        self.store().update_state(id, &rec.state)?;

        let pid = rec.state.pid().unwrap_or(0);
        let own = self.live().get(id).and_then(|l| l.shim.clone());
        let asked = match self.agent_for(&rec).await {
            Ok(mut agent) => {
                let req = ShutdownRequest { grace_ms: grace.as_millis() as u64 };
                agent.shutdown(req).await.is_ok()
            }
            Err(_) => false,
        };
        if !asked {
            // The agent is unreachable: the shim forwards SIGTERM to it.
            // SAFETY: pid was checked alive with its start time just above.
            unsafe { libc::kill(pid as libc::pid_t, libc::SIGTERM) };
        }
        // Our own child is awaited through the reaper; another process's shim through a pidfd.
        let wait_gone = |timeout: Duration| {
            let own = own.clone();
            async move {
                match own {
                    Some(shim) => tokio::time::timeout(timeout, shim.wait()).await.is_ok(),
                    None => crate::shim::wait_pid_exit(pid, timeout).await,
                }
            }
        };
        if !wait_gone(grace + SHIM_EXIT_SLACK).await {
            // SAFETY: as above; the shim's death takes the agent (PDEATHSIG) and the box.
            unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
            if !wait_gone(SHIM_EXIT_SLACK).await {
                return Err(Error::new(
                    ErrorKind::Timeout,
                    format!("stop box {id}: shim {pid} survived SIGKILL"),
                ));
            }
        }
        self.settle_exit(&rec, true)
    }
}
