//! The scoped reaper: reaps exactly the shim processes this runtime spawned and registered.
//!
//! It never calls `waitpid(-1)`: the embedding program (Python's `subprocess`, Node's
//! `child_process`, a C program's own children) must keep its children's exit codes. Each
//! registered shim gets a pidfd; one worker thread waits on all of them with epoll (and an
//! eventfd for registrations and shutdown), then reaps the one that became readable with
//! `waitpid(pid, WNOHANG)` (through `Child::try_wait`).

use std::collections::HashMap;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::process::{Child, ExitStatus};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;

use tokio::sync::watch;

use super::ProcessRef;
use crate::error::{Error, ErrorKind, Result};

/// epoll key of the control eventfd; pids are never 0.
const CONTROL_KEY: u64 = 0;

struct Entry {
    child: Child,
    process: ProcessRef,
    exited: watch::Sender<Option<ExitStatus>>,
}

#[derive(Default)]
struct State {
    entries: HashMap<u32, Entry>,
    /// Registered but not yet added to the epoll set by the worker.
    pending: Vec<u32>,
    shutdown: bool,
}

struct Shared {
    state: Mutex<State>,
    control: OwnedFd,
}

impl Shared {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn wake(&self) {
        let one: u64 = 1;
        // SAFETY: writes 8 bytes from a live u64 to our eventfd. A full counter (EAGAIN) still
        // leaves the worker woken, so the result needs no handling.
        unsafe { libc::write(self.control.as_raw_fd(), (&one as *const u64).cast(), 8) };
    }
}

/// One per runtime. Dropping it stops the worker promptly; shims still running then are no
/// longer reaped by this process (they are re-parented when it exits).
pub(crate) struct ShimReaper {
    shared: Arc<Shared>,
    worker: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for ShimReaper {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ShimReaper")
            .field("registered", &self.shared.state().entries.len())
            .finish()
    }
}

/// A registration: the shim's pid and a way to wait for its exit status. Dropping it does not
/// stop the reaping — a shim is always reaped once it exits.
#[derive(Clone, Debug)]
pub(crate) struct ShimHandle {
    process: ProcessRef,
    exited: watch::Receiver<Option<ExitStatus>>,
}

impl ShimHandle {
    pub(crate) fn pid(&self) -> u32 {
        self.process.pid()
    }

    /// The shim's pidfd: signals sent through it can never reach a process that reused the
    /// pid after the reaper reaped the shim.
    pub(crate) fn process(&self) -> &ProcessRef {
        &self.process
    }

    /// The exit status once reaped.
    pub(crate) fn status(&self) -> Option<ExitStatus> {
        *self.exited.borrow()
    }

    /// Waits until the shim has exited and been reaped.
    pub(crate) async fn wait(&self) -> Option<ExitStatus> {
        let mut rx = self.exited.clone();
        // Err means the reaper shut down before the shim exited.
        rx.wait_for(Option::is_some).await.ok().and_then(|s| *s)
    }
}

impl ShimReaper {
    pub(crate) fn new() -> Result<Self> {
        let sys = |what: &str| {
            Error::new(ErrorKind::Io, format!("start shim reaper: {what}"))
                .with_source(std::io::Error::last_os_error())
        };
        // SAFETY: plain syscalls; each fd is checked and owned right away.
        let control = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
        if control < 0 {
            return Err(sys("eventfd"));
        }
        let control = unsafe { OwnedFd::from_raw_fd(control) };
        let epoll = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
        if epoll < 0 {
            return Err(sys("epoll_create1"));
        }
        let epoll = unsafe { OwnedFd::from_raw_fd(epoll) };
        epoll_add(&epoll, control.as_raw_fd(), CONTROL_KEY).map_err(|e| {
            Error::new(ErrorKind::Io, "start shim reaper: epoll_ctl").with_source(e)
        })?;
        let shared = Arc::new(Shared { state: Mutex::default(), control });
        let worker_shared = shared.clone();
        let worker = std::thread::Builder::new()
            .name("boxlite-reaper".into())
            .spawn(move || run_worker(&worker_shared, &epoll))
            .map_err(|e| Error::io("start shim reaper thread", e))?;
        Ok(ShimReaper { shared, worker: Some(worker) })
    }

    /// Takes ownership of a freshly spawned shim and reaps it when it exits.
    pub(crate) fn register(&self, child: Child) -> Result<ShimHandle> {
        let pid = child.id();
        // A child we own and have not reaped: the pid cannot have been reused.
        let process = ProcessRef::child(pid).map_err(|e| {
            Error::new(ErrorKind::Io, format!("pidfd_open for shim {pid}")).with_source(e)
        })?;
        let (tx, rx) = watch::channel(None);
        {
            let mut state = self.shared.state();
            state.entries.insert(pid, Entry { child, process: process.clone(), exited: tx });
            state.pending.push(pid);
        }
        self.shared.wake();
        Ok(ShimHandle { process, exited: rx })
    }
}

impl Drop for ShimReaper {
    fn drop(&mut self) {
        self.shared.state().shutdown = true;
        self.shared.wake();
        if let Some(worker) = self.worker.take() {
            let _ = worker.join();
        }
    }
}

fn epoll_add(epoll: &OwnedFd, fd: RawFd, key: u64) -> std::io::Result<()> {
    let mut event = libc::epoll_event { events: libc::EPOLLIN as u32, u64: key };
    // SAFETY: valid epoll fd, a live fd and a properly initialised event.
    if unsafe { libc::epoll_ctl(epoll.as_raw_fd(), libc::EPOLL_CTL_ADD, fd, &mut event) } < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

fn run_worker(shared: &Shared, epoll: &OwnedFd) {
    let mut events = [libc::epoll_event { events: 0, u64: 0 }; 16];
    loop {
        // SAFETY: the buffer outlives the call and its length is passed.
        let n = unsafe {
            libc::epoll_wait(epoll.as_raw_fd(), events.as_mut_ptr(), events.len() as i32, -1)
        };
        if n < 0 {
            if std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            // epoll on our own fds cannot fail otherwise; stop rather than spin.
            return;
        }
        let mut state = shared.state();
        for event in &events[..n as usize] {
            let key = event.u64;
            if key == CONTROL_KEY {
                let mut counter = 0u64;
                // SAFETY: reads 8 bytes into a live u64; resets the eventfd.
                unsafe {
                    libc::read(shared.control.as_raw_fd(), (&mut counter as *mut u64).cast(), 8)
                };
                continue;
            }
            let pid = key as u32;
            let reaped = match state.entries.get_mut(&pid) {
                // try_wait is waitpid(pid, WNOHANG): this pid only.
                Some(entry) => match entry.child.try_wait() {
                    Ok(Some(status)) => Some(status),
                    Ok(None) => None,
                    // ECHILD cannot happen for a child only we reap; give up on it anyway.
                    Err(_) => Some(ExitStatus::default()),
                },
                None => None,
            };
            if let Some(status) = reaped {
                if let Some(entry) = state.entries.remove(&pid) {
                    // SAFETY: removing a registered fd; failure leaves nothing to clean.
                    unsafe {
                        libc::epoll_ctl(
                            epoll.as_raw_fd(),
                            libc::EPOLL_CTL_DEL,
                            entry.process.as_raw_fd(),
                            std::ptr::null_mut(),
                        )
                    };
                    let _ = entry.exited.send(Some(status));
                }
            }
        }
        for pid in std::mem::take(&mut state.pending) {
            if let Some(entry) = state.entries.get(&pid) {
                if epoll_add(epoll, entry.process.as_raw_fd(), u64::from(pid)).is_err() {
                    // Cannot watch it: reap synchronously later via try_wait on shutdown.
                    continue;
                }
            }
        }
        if state.shutdown {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::process::ExitStatusExt;
    use std::process::Command;

    #[tokio::test]
    async fn reaps_registered_children_only() {
        let reaper = ShimReaper::new().unwrap();
        // A child the reaper does not know about keeps its own status.
        let mut bystander = Command::new("sh").args(["-c", "exit 7"]).spawn().unwrap();
        let registered = Command::new("sh").args(["-c", "exit 3"]).spawn().unwrap();
        let handle = reaper.register(registered).unwrap();
        let status = tokio::time::timeout(std::time::Duration::from_secs(10), handle.wait())
            .await
            .expect("reaped in time")
            .expect("status");
        assert_eq!(status.code(), Some(3));
        assert_eq!(bystander.wait().unwrap().code(), Some(7));
        assert!(
            !std::path::Path::new(&format!("/proc/{}", handle.pid())).exists(),
            "no zombie left"
        );
    }

    #[tokio::test]
    async fn reports_signals() {
        let reaper = ShimReaper::new().unwrap();
        let child = Command::new("sleep").arg("1000").spawn().unwrap();
        let handle = reaper.register(child).unwrap();
        assert!(handle.process().signal(libc::SIGKILL));
        let status = handle.wait().await.unwrap();
        assert_eq!(status.signal(), Some(libc::SIGKILL));
    }

    #[test]
    fn drop_stops_the_worker_promptly() {
        let reaper = ShimReaper::new().unwrap();
        let child = Command::new("sleep").arg("1000").spawn().unwrap();
        let pid = child.id();
        reaper.register(child).unwrap();
        drop(reaper); // must return although the child is still running
                      // SAFETY: cleaning up our own child.
        unsafe {
            libc::kill(pid as i32, libc::SIGKILL);
            libc::waitpid(pid as i32, std::ptr::null_mut(), 0);
        }
    }
}
