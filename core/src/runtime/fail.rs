use super::Runtime;
use crate::error::Result;
use crate::lock::FileLock;

impl Runtime {
    /// Persists `failed` with `reason` for the box, under its lock. Used by the init pipeline's
    /// cleanup and by recovery; keeps the record and its files.
    pub(crate) fn persist_failed(&self, id_or_name: &str, reason: &str) -> Result<()> {
        let id = self.resolve_existing(id_or_name)?.id;
        let _lock = FileLock::for_box(self.home(), &id)?;
        let mut rec = self.resolve_existing(&id)?;
        rec.state.mark_failed(reason);
        self.store().update_state(&id, &rec.state)
    }
}
