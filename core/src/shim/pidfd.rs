//! Process control through pidfds. A pid is only a name, and names are reused; a pidfd is the
//! process itself: once it is open, a signal sent through it reaches that process or nobody
//! (ESRCH), never whoever got the pid next. So every kill in core goes through a
//! [`ProcessRef`], and each way of getting one proves which process it holds:
//!
//! - [`ProcessRef::child`]: our own unreaped child (its pid cannot have been reused);
//! - [`ProcessRef::recorded`]: a pid with its recorded start time, checked *after* the pidfd is
//!   open (the process alive at that check is the one the pidfd holds; one that died before it
//!   can no longer be signalled through it);
//! - [`ProcessRef::with_arg`] and [`ProcessRef::verified_by`]: the same, with another fact
//!   (an argument on its command line, membership in a box's cgroup) checked after opening.
//!
//! A missing pid is no process: nothing here can signal pid 0 (the caller's process group) or
//! a negative pid (a group).

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::unix::AsyncFd;

/// One process, held by a pidfd. Cheap to clone (clones share the descriptor).
#[derive(Clone, Debug)]
pub(crate) struct ProcessRef {
    pid: u32,
    fd: Arc<OwnedFd>,
}

impl ProcessRef {
    /// Opens a pidfd for `pid`; `None` for pid 0, a pid out of range, or no such process.
    fn open(pid: u32) -> Option<Self> {
        let raw = libc::pid_t::try_from(pid).ok().filter(|&p| p > 0)?;
        // SAFETY: plain syscall; a returned fd is owned right away.
        let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, raw, 0) };
        if fd < 0 {
            return None;
        }
        // SAFETY: a new descriptor returned by the kernel, owned from here on.
        let fd = unsafe { OwnedFd::from_raw_fd(fd as i32) };
        Some(ProcessRef { pid, fd: Arc::new(fd) })
    }

    /// Our own child, not yet reaped (so `pid` is still its pid).
    pub(crate) fn child(pid: u32) -> std::io::Result<Self> {
        Self::open(pid).ok_or_else(std::io::Error::last_os_error)
    }

    /// The process `pid` that started at `start_ticks` (clock ticks since boot), if it is
    /// still alive. Without a pid or a start time there is nothing to verify: `None`.
    pub(crate) fn recorded(pid: Option<u32>, start_ticks: Option<u64>) -> Option<Self> {
        let ticks = start_ticks?;
        Self::verified_by(pid?, |pid| crate::procfs::is_alive(pid, Some(ticks)))
    }

    /// A live process `pid` whose command line has `arg` as one of its arguments.
    pub(crate) fn with_arg(pid: u32, arg: &std::path::Path) -> Option<Self> {
        Self::verified_by(pid, |pid| crate::procfs::has_arg(pid, arg))
    }

    /// Opens `pid`, then asks `check` about it. Checked after opening, a fact about `/proc/PID`
    /// is a fact about the process the pidfd holds if that process is still alive; if it is
    /// not, nothing sent through the pidfd reaches anyone.
    pub(crate) fn verified_by(pid: u32, check: impl FnOnce(u32) -> bool) -> Option<Self> {
        let process = Self::open(pid)?;
        check(pid).then_some(process)
    }

    /// Opens each of `pids`, then keeps those that `still_listed` (asked once, after every
    /// pidfd is open) names: the batch form of [`ProcessRef::verified_by`], for the members of
    /// a cgroup.
    pub(crate) fn verified_batch(
        pids: impl IntoIterator<Item = u32>,
        still_listed: impl FnOnce() -> Vec<u32>,
    ) -> Vec<Self> {
        let opened: Vec<Self> = pids.into_iter().filter_map(Self::open).collect();
        if opened.is_empty() {
            return opened;
        }
        let listed: std::collections::HashSet<u32> = still_listed().into_iter().collect();
        opened.into_iter().filter(|p| listed.contains(&p.pid)).collect()
    }

    pub(crate) fn pid(&self) -> u32 {
        self.pid
    }

    /// Sends `signal`; false when the process has already been reaped.
    pub(crate) fn signal(&self, signal: i32) -> bool {
        // SAFETY: plain syscall on our own pidfd; no siginfo, no flags.
        let rc = unsafe {
            libc::syscall(
                libc::SYS_pidfd_send_signal,
                self.fd.as_raw_fd(),
                signal,
                std::ptr::null::<libc::siginfo_t>(),
                0,
            )
        };
        rc == 0
    }

    /// Whether the process has exited (a zombie counts as exited).
    pub(crate) fn has_exited(&self) -> bool {
        self.poll_exit(Duration::ZERO)
    }

    /// Waits up to `timeout` for the process to exit; true once it has.
    pub(crate) async fn wait_exit(&self, timeout: Duration) -> bool {
        // A duplicate per wait: the executor's epoll set refuses the same descriptor twice,
        // and two tasks may wait for one process.
        // Without a descriptor to register (fd table full) only a glance is possible: blocking
        // here would stall the executor.
        let Ok(dup) = self.fd.try_clone() else { return self.has_exited() };
        // SAFETY: the duplicate is moved into the AsyncFd and stays open for its whole life.
        let Ok(async_fd) = (unsafe { AsyncFd::register(dup) }) else { return self.has_exited() };
        tokio::time::timeout(timeout, async_fd.readable()).await.is_ok_and(|r| r.is_ok())
    }

    /// Blocking variant of [`ProcessRef::wait_exit`], for synchronous paths.
    pub(crate) fn wait_exit_blocking(&self, timeout: Duration) -> bool {
        self.poll_exit(timeout)
    }

    /// SIGKILL, then waits up to `timeout` for the process to be gone.
    pub(crate) fn kill_and_wait_blocking(&self, timeout: Duration) -> bool {
        self.signal(libc::SIGKILL);
        self.poll_exit(timeout)
    }

    fn poll_exit(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        // Bounded: each round either returns or was interrupted by a signal, and the time
        // left shrinks to zero.
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let ms = i32::try_from(left.as_millis()).unwrap_or(i32::MAX);
            let mut pfd =
                libc::pollfd { fd: self.fd.as_raw_fd(), events: libc::POLLIN, revents: 0 };
            // SAFETY: one valid pollfd that outlives the call.
            let n = unsafe { libc::poll(&mut pfd, 1, ms) };
            if n >= 0 {
                return n > 0;
            }
            if std::io::Error::last_os_error().kind() != std::io::ErrorKind::Interrupted
                || left.is_zero()
            {
                return false;
            }
        }
    }
}

/// The raw descriptor, for the reaper's epoll set.
impl AsRawFd for ProcessRef {
    fn as_raw_fd(&self) -> std::os::fd::RawFd {
        self.fd.as_raw_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    #[test]
    fn no_pid_or_no_start_time_is_no_process() {
        assert!(ProcessRef::recorded(None, Some(1)).is_none());
        let me = std::process::id();
        assert!(ProcessRef::recorded(Some(me), None).is_none(), "a bare pid is not trusted");
        assert!(ProcessRef::open(0).is_none(), "pid 0 is the caller's group, never a process");
        assert!(ProcessRef::open(u32::MAX).is_none(), "-1 would be every process");
    }

    #[test]
    fn a_wrong_start_time_is_another_process_and_is_never_signalled() {
        let mut child = Command::new("sleep").arg("1000").spawn().unwrap();
        let pid = child.id();
        let ticks = crate::procfs::start_ticks(pid).unwrap();
        assert!(ProcessRef::recorded(Some(pid), Some(ticks + 1)).is_none());
        assert!(child.try_wait().unwrap().is_none(), "still running");
        let process = ProcessRef::recorded(Some(pid), Some(ticks)).expect("the right one");
        assert!(!process.has_exited());
        assert!(process.kill_and_wait_blocking(Duration::from_secs(10)));
        child.wait().unwrap();
        assert!(!process.signal(libc::SIGKILL), "reaped: the pidfd reaches nobody");
    }

    #[tokio::test]
    async fn waits_end_on_exit_from_several_tasks() {
        let mut child = Command::new("sleep").arg("1000").spawn().unwrap();
        let process = ProcessRef::child(child.id()).unwrap();
        assert!(!process.wait_exit(Duration::from_millis(50)).await, "still running");
        let (a, b) = (process.clone(), process.clone());
        let waits = tokio::spawn(async move {
            tokio::join!(a.wait_exit(Duration::from_secs(10)), b.wait_exit(Duration::from_secs(10)))
        });
        assert!(process.signal(libc::SIGKILL));
        assert_eq!(waits.await.unwrap(), (true, true));
        child.wait().unwrap();
    }
}
