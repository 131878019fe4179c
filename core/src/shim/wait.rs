//! Waiting for a process that is not our child (a shim another process started) to exit:
//! pidfds become readable on exit for any process, so no polling is needed.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::Duration;

use tokio::io::unix::AsyncFd;

fn pidfd_open(pid: u32) -> Option<OwnedFd> {
    // SAFETY: plain syscall; the fd is owned right away.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid as libc::pid_t, 0) };
    (fd >= 0).then(|| unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

/// Waits up to `timeout` for `pid` to exit; true when it is gone (or never existed).
pub(crate) async fn wait_pid_exit(pid: u32, timeout: Duration) -> bool {
    let Some(fd) = pidfd_open(pid) else { return true };
    // SAFETY: the OwnedFd is moved into the AsyncFd and stays open for its whole lifetime.
    let Ok(async_fd) = (unsafe { AsyncFd::register(fd) }) else { return false };
    tokio::time::timeout(timeout, async_fd.readable()).await.is_ok_and(|r| r.is_ok())
}

/// Blocking variant for synchronous paths (reconcile at open).
fn wait_pid_exit_blocking(pid: u32, timeout: Duration) -> bool {
    let Some(fd) = pidfd_open(pid) else { return true };
    let mut pfd = libc::pollfd { fd: fd.as_raw_fd(), events: libc::POLLIN, revents: 0 };
    let ms = i32::try_from(timeout.as_millis()).unwrap_or(i32::MAX);
    // SAFETY: one valid pollfd.
    unsafe { libc::poll(&mut pfd, 1, ms) > 0 }
}

/// SIGKILL to `pid`, then waits up to `timeout` for it to be gone. The caller vouches that
/// `pid` is the process it means (checked with its start time, or a member of a box's cgroup).
pub(crate) fn kill_and_wait_blocking(pid: u32, timeout: Duration) -> bool {
    // SAFETY: kill(2) has no memory effects; which process is targeted is the caller's check.
    unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
    wait_pid_exit_blocking(pid, timeout)
}
