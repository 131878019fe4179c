//! The start pipeline's cleanup guard: armed across every step; on an error it stops what was
//! started, keeps the record and the box's files, and persists `failed` with the reason.

use std::time::Duration;

use super::Runtime;
use crate::shim::ShimHandle;

/// How long cleanup waits for a killed shim to be reaped before giving up on waiting (the
/// reaper still reaps it later).
const REAP_WAIT: Duration = Duration::from_secs(5);

pub(crate) struct CleanupGuard {
    rt: Runtime,
    box_id: String,
    shim: Option<ShimHandle>,
    armed: bool,
}

impl CleanupGuard {
    pub(crate) fn new(rt: &Runtime, box_id: &str) -> Self {
        CleanupGuard { rt: rt.clone(), box_id: box_id.to_string(), shim: None, armed: true }
    }

    /// From here on, cleanup must also kill and reap this shim.
    pub(crate) fn set_shim(&mut self, shim: ShimHandle) {
        self.shim = Some(shim);
    }

    /// The pipeline succeeded: nothing to undo.
    pub(crate) fn disarm(mut self) {
        self.armed = false;
    }

    /// The orderly failure path: kill the shim (its death takes the agent and every process
    /// of the box with it), wait until it is reaped, then persist `failed` with `reason`.
    pub(crate) async fn fail(mut self, reason: &str) {
        self.armed = false;
        if let Some(shim) = self.shim.take() {
            kill_shim(&shim);
            let _ = tokio::time::timeout(REAP_WAIT, shim.wait()).await;
        }
        self.rt.live().remove(&self.box_id);
        persist_failed(&self.rt, &self.box_id, reason);
        // A killed shim could not remove the box's cgroups itself.
        if let Err(e) = crate::cgroups::remove_box_cgroups(&self.box_id) {
            eprintln!("boxlite: box {}: {e}", self.box_id);
        }
    }
}

impl Drop for CleanupGuard {
    /// The panic and cancellation path: same effects, without waiting for the reap (the reaper
    /// thread still reaps the shim). Never panics.
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        if let Some(shim) = &self.shim {
            kill_shim(shim);
        }
        self.rt.live().remove(&self.box_id);
        let reason = if std::thread::panicking() {
            "start panicked (a bug in boxlite); the box's processes were killed"
        } else {
            "start was cancelled before the box became ready"
        };
        persist_failed(&self.rt, &self.box_id, reason);
    }
}

/// Through the reaper's pidfd: if the reaper reaps the shim first, the signal reaches nobody.
fn kill_shim(shim: &ShimHandle) {
    shim.process().signal(libc::SIGKILL);
}

/// Persists `failed` without taking the box lock (the pipeline holds it). A database error
/// here has nowhere better to go than the log of the embedding program.
fn persist_failed(rt: &Runtime, box_id: &str, reason: &str) {
    rt.counters().box_failed();
    let result = rt.store().box_by_id(box_id).and_then(|rec| match rec {
        Some(mut rec) => {
            rec.state.mark_failed(reason);
            rt.store().update_state(box_id, &rec.state)
        }
        None => Ok(()),
    });
    if let Err(e) = result {
        eprintln!("boxlite: box {box_id}: could not record failure ({reason}): {e}");
    }
}
