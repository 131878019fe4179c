//! What happens when a box's shim is gone: read its exit record and persist `stopped` (with
//! the main command's exit code) or `failed` (with the reason).

use std::sync::Arc;

use boxlite_protocol::launch::ExitRecord;

use super::Runtime;
use crate::db::BoxRecord;
use crate::error::Result;
use crate::shim::{ProcessRef, ShimHandle};
use crate::status::BoxStatus;

impl Runtime {
    /// The shim of `rec` if it is alive: our own child through the reaper's pidfd, another
    /// process's through a pidfd verified against the recorded start time. `None` when there
    /// is no such process: a missing pid never stands for one.
    pub(crate) fn shim_process(&self, rec: &BoxRecord) -> Option<ProcessRef> {
        let own = self.live().get(&rec.id).and_then(|live| live.shim.clone());
        let process = match own {
            Some(shim) => (shim.status().is_none()).then(|| shim.process().clone()),
            None => ProcessRef::recorded(rec.state.pid(), rec.state.shim_start_ticks()),
        };
        process.filter(|p| !p.has_exited())
    }

    /// Whether the shim recorded for `rec` is alive (pid and start time both match).
    pub(crate) fn shim_alive(&self, rec: &BoxRecord) -> bool {
        self.shim_process(rec).is_some()
    }

    /// Persists the end of a box whose shim has exited. `stop_requested`: a user stop, so an
    /// escalation to SIGKILL is still a clean `stopped`. Caller holds the box lock.
    pub(crate) fn settle_exit(&self, rec: &BoxRecord, stop_requested: bool) -> Result<()> {
        self.settle(rec, stop_requested, None)
    }

    /// Persists the end of a box whose stop had to kill its shim: `stopped` if the shim still
    /// wrote its exit record, else `failed` with `reason`. Caller holds the box lock.
    pub(crate) fn settle_killed(&self, rec: &BoxRecord, reason: &str) -> Result<()> {
        self.settle(rec, true, Some(reason))
    }

    fn settle(&self, rec: &BoxRecord, stop_requested: bool, killed: Option<&str>) -> Result<()> {
        let mut state = rec.state.clone();
        if !state.status().is_active() {
            return Ok(());
        }
        self.live().remove(&rec.id);
        let paths = self.home().box_paths(&rec.id);
        let record = read_exit_record(&paths.exit_record);
        match (record, killed) {
            (Some(r), _) if r.error.is_none() || stop_requested => {
                state.transition(BoxStatus::Stopped)?;
                state.set_exit_code(r.exit_code);
            }
            (Some(r), _) => state.mark_failed(r.error.unwrap_or_default()),
            (None, Some(reason)) => state.mark_failed(reason),
            (None, None) if stop_requested => state.transition(BoxStatus::Stopped)?,
            (None, None) => state.mark_failed(format!(
                "the box's shim (pid {}) exited without writing an exit record; see {}",
                rec.state.pid().map_or_else(|| "?".to_string(), |p| p.to_string()),
                paths.log.display()
            )),
        }
        self.store().update_state(&rec.id, &state)?;
        // A shim that exited normally removed the box's cgroups; one killed by an escalated
        // stop or a crash could not.
        crate::cgroups::remove_box_cgroups(&rec.id)?;
        if state.status() == BoxStatus::Stopped && rec.config.auto_remove {
            self.remove_locked(&rec.id)?;
        }
        Ok(())
    }

    /// Watches a shim this process started: when it exits on its own (main command done, box
    /// crashed), the record is settled without anyone asking.
    pub(crate) fn spawn_exit_monitor(&self, id: &str, shim: ShimHandle) {
        // Weak: a monitor must not keep a dropped runtime (and its liveness pipes) alive.
        let weak = Arc::downgrade(&self.inner);
        let id = id.to_string();
        tokio::spawn(async move {
            if shim.wait().await.is_none() {
                return; // the reaper shut down with its runtime
            }
            let Some(inner) = weak.upgrade() else { return };
            let rt = Runtime { inner };
            if let Err(e) = rt.settle_after_exit(&id, shim.pid()).await {
                eprintln!("boxlite: box {id}: recording its exit failed: {e}");
            }
        });
    }

    /// Settles the run whose shim was `shim_pid`, unless the box has moved on (stopped by
    /// someone else, or already started again with another shim).
    ///
    /// The lock is taken, used and released on one blocking-pool thread, never held by this
    /// task across an await: a caller blocked in the sync [`Runtime::remove`] on the executor
    /// thread of a current-thread runtime would otherwise wait for a lock that only this
    /// (unpolled) task could release.
    pub(crate) async fn settle_after_exit(&self, id: &str, shim_pid: u32) -> Result<()> {
        let rt = self.clone();
        let id = id.to_string();
        tokio::task::spawn_blocking(move || {
            // Removed meanwhile (a stop and a remove can both finish before this runs): nothing
            // to settle, and no lock file may be re-created for it.
            let _lock = match rt.lock_box_blocking(&id) {
                Err(e) if e.kind() == crate::ErrorKind::NotFound => return Ok(()),
                lock => lock?,
            };
            match rt.store().box_by_id(&id)? {
                Some(rec) if rec.state.pid() == Some(shim_pid) => rt.settle_exit(&rec, false),
                _ => Ok(()),
            }
        })
        .await
        .map_err(|e| crate::Error::new(crate::ErrorKind::Internal, format!("settle task: {e}")))?
    }
}

/// Largest exit record read; the shim writes a few hundred bytes.
const MAX_EXIT_RECORD_BYTES: u64 = 64 * 1024;

/// The box's exit record, if it is a regular file of a sane size holding one. The shim writes
/// it on the host side, out of the box's reach, but it is read without trusting that: opened
/// without blocking and read with a bound.
fn read_exit_record(path: &std::path::Path) -> Option<ExitRecord> {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOFOLLOW)
        .open(path)
        .ok()?;
    if !file.metadata().ok()?.is_file() {
        return None;
    }
    let mut bytes = Vec::new();
    file.take(MAX_EXIT_RECORD_BYTES + 1).read_to_end(&mut bytes).ok()?;
    if bytes.len() as u64 > MAX_EXIT_RECORD_BYTES {
        return None;
    }
    serde_json::from_slice(&bytes).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_bounded_regular_file_is_read_as_the_exit_record() {
        let dir = tempfile::tempdir().unwrap();
        let good = dir.path().join("exit.json");
        std::fs::write(&good, r#"{"exit_code":7,"error":null,"agent_status":"exited with status 0","finished_at_ms":1}"#).unwrap();
        assert_eq!(read_exit_record(&good).unwrap().exit_code, Some(7));

        let fifo = dir.path().join("fifo.json");
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        assert!(read_exit_record(&fifo).is_none(), "a FIFO neither blocks nor counts");

        let huge = dir.path().join("huge.json");
        let padding = " ".repeat(MAX_EXIT_RECORD_BYTES as usize);
        std::fs::write(&huge, format!("{padding}{{\"exit_code\":1,\"error\":null,\"agent_status\":\"\",\"finished_at_ms\":1}}")).unwrap();
        assert!(read_exit_record(&huge).is_none(), "past the bound it is not read");

        let link = dir.path().join("link.json");
        std::os::unix::fs::symlink(&good, &link).unwrap();
        assert!(read_exit_record(&link).is_none(), "a symlink is not followed");
    }
}
