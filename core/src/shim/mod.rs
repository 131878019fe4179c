//! Host-side bookkeeping of shim processes, and process control through pidfds.

mod orphans;
mod pidfd;
mod reaper;

pub(crate) use orphans::kill_box_shims_blocking;
pub(crate) use pidfd::ProcessRef;
pub(crate) use reaper::{ShimHandle, ShimReaper};
