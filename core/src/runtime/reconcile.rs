//! Reconcile on touch (docs/architecture.md, "Box lifecycle"): make every active record a call
//! reads agree with the processes that actually run, so nothing is left behind unaccounted.

use std::time::Duration;

use super::{LiveBox, Runtime};
use crate::agent::{connect, Agent};
use crate::db::BoxRecord;
use crate::error::{Error, Result};
use crate::lock::FileLock;
use crate::status::BoxStatus;

/// How long reconcile waits for an orphan shim it killed to exit.
const ORPHAN_KILL_WAIT: Duration = Duration::from_secs(5);

impl Runtime {
    /// `rec` made to agree with the processes that actually run, as every call that touches a
    /// box sees it: reconciling on touch keeps opening a home O(1) however many boxes it has
    /// (docs/architecture.md, "Box lifecycle"). A box this process runs is watched by the
    /// reaper already; a box whose lock another process holds is left to it; a damaged record
    /// is reported as it is.
    pub(crate) fn reconciled(&self, rec: BoxRecord) -> Result<BoxRecord> {
        if !rec.state.status().is_active() || rec.damage.is_some() {
            return Ok(rec);
        }
        if self.live().get(&rec.id).is_some_and(|l| l.shim.is_some()) {
            return Ok(rec);
        }
        let Some(lock) = FileLock::try_for_box(self.home(), &rec.id)? else { return Ok(rec) };
        // Re-read under the lock: the other process may have finished meanwhile, or removed it.
        let Some(current) = self.store().box_by_id(&rec.id)? else {
            self.remove_stray_lock(&rec.id);
            return Ok(rec);
        };
        self.reconcile_one(&current)?;
        drop(lock);
        Ok(self.store().box_by_id(&rec.id)?.unwrap_or(current))
    }

    fn reconcile_one(&self, rec: &BoxRecord) -> Result<()> {
        match rec.state.status() {
            BoxStatus::Running | BoxStatus::Stopping => {
                if self.shim_alive(rec) {
                    return Ok(()); // still running; re-attached on first use
                }
                self.settle_exit(rec, rec.state.status() == BoxStatus::Stopping)
            }
            BoxStatus::Starting => {
                let owner = rec.state.owner_pid();
                // We hold the lock, so no start is in progress anywhere: whoever was starting
                // it died mid-pipeline (the lock dies with its holder).
                // The recorded pid, and any shim running this box's spec: the host may have died
                // after spawning the shim but before persisting its pid.
                let spec = self.home().box_paths(&rec.id).spec;
                // Each is verified through its pidfd before the kill; its death takes the box.
                let (pid, ticks) = (rec.state.pid(), rec.state.shim_start_ticks());
                crate::shim::kill_box_shims_blocking(pid, ticks, &spec, ORPHAN_KILL_WAIT);
                crate::cgroups::remove_box_cgroups(&rec.id)?;
                let mut state = rec.state.clone();
                state.mark_failed(format!(
                    "start interrupted: the process that was starting it{} exited before the \
                     box was ready",
                    owner.map(|p| format!(" (pid {p})")).unwrap_or_default()
                ));
                self.store().update_state(&rec.id, &state)
            }
            _ => Ok(()),
        }
    }

    /// A client for the agent of a running box: cached, or connected now (a box started by
    /// another process is re-attached this way).
    pub(crate) async fn agent_for(&self, rec: &BoxRecord) -> Result<Agent> {
        if let Some(agent) = self.live().get(&rec.id).and_then(|l| l.agent.clone()) {
            return Ok(agent);
        }
        if rec.state.status() != BoxStatus::Running && rec.state.status() != BoxStatus::Stopping {
            return Err(Error::new(
                crate::ErrorKind::InvalidState,
                format!("box {} is {}, not running", rec.id, rec.state.status()),
            ));
        }
        let agent = connect(&rec.id, &self.home().box_paths(&rec.id).socket).await?;
        self.live()
            .entry(rec.id.clone())
            .or_insert(LiveBox {
                shim: None,
                liveness: None,
                agent: None,
                detach: true,
                main_stream: None,
            })
            .agent = Some(agent.clone());
        Ok(agent)
    }
}
