//! Service boots: the agent of a box that is not running, booted for one call that needs the
//! box's files (a copy in or out), then stopped again. The box's record does not change: no
//! main command runs, there is no network and no published port, and the box stays
//! `configured`, `stopped` or `failed` (with its reason) throughout. The box lock is held for
//! the whole call, so no start or stop interleaves with it.

use std::time::Duration;

use boxlite_protocol::pb::ShutdownRequest;

use super::start::{Boot, Booted};
use super::Runtime;
use crate::agent::{Agent, AGENT_CALL_TIMEOUT};
use crate::error::{Error, ErrorKind, Result};
use crate::network::NetworkMode;
use crate::shim::ShimHandle;
use crate::status::BoxStatus;

/// Grace the service boot's processes get to end (there are none of the box's own).
const SERVICE_STOP_GRACE: Duration = Duration::from_secs(1);
/// How long its shim may take to exit after the agent answered, and after SIGKILL.
const SERVICE_SHIM_EXIT: Duration = Duration::from_secs(5);

impl Runtime {
    /// Runs `work` with an agent of box `id`: the running box's own, or one booted for the
    /// call when the box is configured, stopped or failed. `what` names the call in errors
    /// ("copy into").
    pub(crate) async fn with_agent<T>(
        &self,
        id: &str,
        what: &str,
        work: impl AsyncFnOnce(&str, &Agent) -> Result<T>,
    ) -> Result<T> {
        let rec = self.resolve_existing(id)?;
        if rec.state.status() == BoxStatus::Running {
            let agent = self.agent_for(&rec).await?;
            return work(&rec.id, &agent).await;
        }
        let _lock = self.lock_box(&rec.id).await?;
        let rec = self.resolve_existing(&rec.id)?;
        let status = rec.state.status();
        match status {
            // Started while we waited for the lock.
            BoxStatus::Running => {
                let agent = self.agent_for(&rec).await?;
                return work(&rec.id, &agent).await;
            }
            BoxStatus::Configured | BoxStatus::Stopped | BoxStatus::Failed => {}
            _ => {
                return Err(Error::new(
                    ErrorKind::InvalidState,
                    format!("cannot {what} box {}: it is {status}", rec.id),
                ))
            }
        }
        if !rec.config.unknown.is_empty() {
            return Err(Error::new(
                ErrorKind::InvalidState,
                format!(
                    "cannot {what} box {}: a newer boxlite configured it with options this \
                     version does not know ({})",
                    rec.id,
                    rec.config.unknown_names()
                ),
            ));
        }
        let mut config = rec.config.clone();
        config.network = NetworkMode::Disabled;
        config.ports.clear();
        let mut shim: Option<ShimHandle> = None;
        let boot = Boot { detach: false, main: false };
        let booted = self
            .boot(&rec.id, rec.name.as_deref(), &config, boot, |s| {
                shim = Some(s.clone());
                Ok(())
            })
            .await;
        let booted = match booted {
            Ok(booted) => booted,
            Err(e) => {
                if let Some(shim) = &shim {
                    self.end_service_boot(&rec.id, shim, None).await;
                }
                return Err(Error::new(
                    e.kind(),
                    format!("cannot {what} box {}: booting its agent failed: {e}", rec.id),
                ));
            }
        };
        let Booted { shim, liveness, agent, .. } = booted;
        let result = work(&rec.id, &agent).await;
        self.end_service_boot(&rec.id, &shim, Some(agent)).await;
        drop(liveness);
        result
    }

    /// Stops a service boot: the agent asked to shut down, its shim killed if it does not
    /// exit, and what a shim leaves (exit record, cgroups) removed, all bounded. Failures go
    /// to the log of the embedding program: the call's own result is what the caller gets.
    async fn end_service_boot(&self, id: &str, shim: &ShimHandle, agent: Option<Agent>) {
        if let Some(mut agent) = agent {
            let req = ShutdownRequest { grace_ms: SERVICE_STOP_GRACE.as_millis() as u64 };
            let budget = SERVICE_STOP_GRACE + AGENT_CALL_TIMEOUT;
            let _ = tokio::time::timeout(budget, agent.shutdown(req)).await;
        }
        if tokio::time::timeout(SERVICE_SHIM_EXIT, shim.wait()).await.is_err() {
            shim.process().signal(libc::SIGKILL);
            if tokio::time::timeout(SERVICE_SHIM_EXIT, shim.wait()).await.is_err() {
                eprintln!(
                    "boxlite: box {id}: the shim of a service boot (pid {}) survived SIGKILL",
                    shim.pid()
                );
            }
        }
        let paths = self.home().box_paths(id);
        let _ = std::fs::remove_file(&paths.exit_record);
        if let Err(e) = crate::cgroups::remove_box_cgroups(id) {
            eprintln!("boxlite: box {id}: {e}");
        }
    }
}
