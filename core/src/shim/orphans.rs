//! Shims left behind by a host that died mid-start.

use std::path::Path;
use std::time::{Duration, Instant};

use super::ProcessRef;

/// SIGKILLs every shim of one box: the recorded one (`pid` with its start time) and any live
/// process whose command line names the box's `spec` (a host that died between spawning the
/// shim and persisting its pid left no record of it). Each is opened as a pidfd and verified
/// before the signal, so a pid reused meanwhile is never hit. Waits up to `timeout` in all for
/// them to be gone; false when one survived.
pub(crate) fn kill_box_shims_blocking(
    pid: Option<u32>,
    start_ticks: Option<u64>,
    spec: &Path,
    timeout: Duration,
) -> bool {
    let mut shims: Vec<ProcessRef> = crate::procfs::pids_with_arg(spec)
        .into_iter()
        .filter_map(|pid| ProcessRef::with_arg(pid, spec))
        .collect();
    if let Some(recorded) = ProcessRef::recorded(pid, start_ticks) {
        if !shims.iter().any(|s| s.pid() == recorded.pid()) {
            shims.push(recorded);
        }
    }
    for shim in &shims {
        shim.signal(libc::SIGKILL);
    }
    let deadline = Instant::now() + timeout;
    shims
        .iter()
        .all(|shim| shim.wait_exit_blocking(deadline.saturating_duration_since(Instant::now())))
}
