use std::io::ErrorKind as IoKind;
use std::time::Duration;

use super::Runtime;
use crate::error::{Error, ErrorKind, Result};

/// How long a forced remove waits for a killed shim to exit.
const KILL_WAIT: Duration = Duration::from_secs(5);

impl Runtime {
    /// Deletes the box's record and directory. A box that is not in a removable status
    /// (`starting`, `running`, `stopping`) needs `force`, which kills its processes first.
    pub fn remove(&self, id_or_name: &str, force: bool) -> Result<()> {
        self.check_open("remove box")?;
        let id = self.resolve_existing(id_or_name)?.id;
        let _lock = self.lock_box_blocking(&id)?;
        // Re-read under the lock: the status may have changed, or another remover won.
        let rec = self.store().box_by_id(&id)?.ok_or_else(|| {
            Error::not_found(format!("no such box: {id_or_name} (removed concurrently)"))
        })?;
        let status = rec.state.status();
        if !status.can_remove() && !force {
            return Err(Error::new(
                ErrorKind::InvalidState,
                format!("cannot remove box {id}: it is {status}; stop it first or use force"),
            ));
        }
        // An unreadable record may still have a live shim: its status column is what could not
        // be read, not the process.
        let may_run = status.is_active() || rec.damage.is_some();
        if let Some(shim) = self.shim_process(&rec).filter(|_| may_run) {
            // Its death takes the agent and every process of the box with it; what is left in
            // the box's cgroups is killed with them below.
            if !shim.kill_and_wait_blocking(KILL_WAIT) {
                return Err(Error::new(
                    ErrorKind::Timeout,
                    format!("remove box {id}: its shim (pid {}) survived SIGKILL", shim.pid()),
                ));
            }
        }
        self.live().remove(&id);
        self.remove_locked(&id)
    }

    /// Deletes files, then the record, then the lock file. Caller holds the box lock.
    pub(crate) fn remove_locked(&self, id: &str) -> Result<()> {
        self.counters().forget(id);
        let paths = self.home().box_paths(id);
        // Files first: if that fails the record stays, so nothing is lost without a trace.
        for path in [&paths.dir, &paths.socket] {
            let result = if path.is_dir() {
                crate::tree::remove_all(path)
            } else {
                std::fs::remove_file(path)
            };
            match result {
                Err(e) if e.kind() != IoKind::NotFound => {
                    return Err(Error::io(format!("remove box {id}: {}", path.display()), e))
                }
                _ => {}
            }
        }
        crate::cgroups::remove_box_cgroups(id)?;
        self.store().delete_box(id)?;
        let lock_path = self.home().box_lock_path(id);
        match std::fs::remove_file(&lock_path) {
            Err(e) if e.kind() != IoKind::NotFound => {
                Err(Error::io(format!("remove box {id}: lock {}", lock_path.display()), e))
            }
            _ => Ok(()),
        }
    }
}
