//! Host-side bookkeeping of shim processes.

mod reaper;
mod wait;

pub(crate) use reaper::{ShimHandle, ShimReaper};
pub(crate) use wait::{wait_pid_exit, wait_pid_exit_blocking};
