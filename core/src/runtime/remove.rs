use std::io::ErrorKind as IoKind;

use super::Runtime;
use crate::error::{Error, ErrorKind, Result};
use crate::lock::FileLock;

impl Runtime {
    /// Deletes the box's record and directory. A box that is not in a removable status
    /// (`starting`, `running`, `stopping`) needs `force`.
    pub fn remove(&self, id_or_name: &str, force: bool) -> Result<()> {
        let id = self.resolve_existing(id_or_name)?.id;
        let _lock = FileLock::for_box(self.home(), &id)?;
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
        let dir = self.home().box_dir(&id);
        // Files first: if that fails the record stays, so nothing is lost without a trace.
        match std::fs::remove_dir_all(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == IoKind::NotFound => {}
            Err(e) => {
                return Err(Error::io(format!("remove box {id}: directory {}", dir.display()), e))
            }
        }
        self.store().delete_box(&id)?;
        let lock_path = self.home().box_lock_path(&id);
        if let Err(e) = std::fs::remove_file(&lock_path) {
            if e.kind() != IoKind::NotFound {
                return Err(Error::io(format!("remove box {id}: lock {}", lock_path.display()), e));
            }
        }
        Ok(())
    }
}
