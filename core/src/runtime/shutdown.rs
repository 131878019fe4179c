use std::time::Duration;

use super::Runtime;
use crate::error::Result;

impl Runtime {
    /// Stops every non-detached box this runtime started, concurrently, each with `timeout`
    /// as its grace period. Returns the first error after all stops finished.
    ///
    /// Idempotent. Afterwards every other operation of this runtime (and of its clones and box
    /// handles) fails with `InvalidState`; open a new runtime to go on.
    pub async fn shutdown(&self, timeout: Duration) -> Result<()> {
        self.mark_shut_down();
        let ids: Vec<String> = self
            .live()
            .iter()
            .filter(|(_, live)| !live.detach && live.shim.is_some())
            .map(|(id, _)| id.clone())
            .collect();
        let mut stops = tokio::task::JoinSet::new();
        for id in ids {
            let rt = self.clone();
            stops.spawn(async move { rt.stop_box(&id, timeout).await });
        }
        let mut first_error = None;
        while let Some(joined) = stops.join_next().await {
            let result = joined.unwrap_or_else(|e| {
                Err(crate::Error::new(crate::ErrorKind::Internal, format!("stop task: {e}")))
            });
            match result {
                // Removed meanwhile by another process (a forced remove kills our shim too):
                // there is nothing left to stop.
                Err(e) if e.kind() == crate::ErrorKind::NotFound => {}
                Err(e) => {
                    first_error.get_or_insert(e);
                }
                Ok(()) => {}
            }
        }
        first_error.map_or(Ok(()), Err)
    }
}
