//! Host-side bookkeeping of shim processes.

mod reaper;
mod wait;

pub(crate) use reaper::{ShimHandle, ShimReaper};
pub(crate) use wait::{kill_and_wait_blocking, wait_pid_exit};
