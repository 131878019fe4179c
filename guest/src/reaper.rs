//! The box's one and only `waitpid(-1)`.
//!
//! A dedicated thread blocks in `waitpid(-1, .., 0)` and hands each status to the registration
//! of its pid. Spawns fork *while holding the reaper's mutex* and register the new pid before
//! releasing it; the thread takes the same mutex to deliver, so a child that exits at once is
//! still found registered. A status nobody registered is an orphan re-parented to us: counted.
//!
//! When the agent has no children at all, `waitpid` fails with ECHILD; the thread then sleeps on
//! a condvar until the next spawn (or SIGCHLD, see [`Reaper::kick`]) instead of polling. An
//! epoch counter bumped by both closes the window between that ECHILD and going to sleep.

use std::collections::{HashMap, HashSet};
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::sync::{oneshot, watch};

/// How a process ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExitStatus {
    Code(i32),
    Signal(i32),
}

impl ExitStatus {
    fn from_wait(status: libc::c_int) -> Option<Self> {
        if libc::WIFEXITED(status) {
            Some(Self::Code(libc::WEXITSTATUS(status)))
        } else if libc::WIFSIGNALED(status) {
            Some(Self::Signal(libc::WTERMSIG(status)))
        } else {
            None
        }
    }

    /// The shell convention: the exit code, or 128 + the signal number.
    pub fn code(self) -> i32 {
        match self {
            Self::Code(code) => code,
            Self::Signal(signal) => 128 + signal,
        }
    }
}

/// Why a spawn could not be registered.
#[derive(Debug, thiserror::Error)]
pub enum RegisterError {
    #[error("the box is stopping")]
    Closed,
    #[error("fork: {0}")]
    Fork(io::Error),
}

/// Handle on the reaper; cheap to clone.
#[derive(Clone)]
pub struct Reaper {
    shared: Arc<Shared>,
}

struct Shared {
    state: Mutex<State>,
    wake: Condvar,
    orphans: AtomicU64,
    /// Whether the agent has any child, as far as the reaper knows. Turns false on ECHILD.
    has_children: watch::Sender<bool>,
}

#[derive(Default)]
struct State {
    waiting: HashMap<libc::pid_t, oneshot::Sender<ExitStatus>>,
    /// Process groups the agent created, for stopping the box when we are not PID 1.
    groups: HashSet<libc::pid_t>,
    epoch: u64,
    closed: bool,
}

impl Reaper {
    /// Starts the reaper thread.
    pub fn start() -> io::Result<Self> {
        let (has_children, _) = watch::channel(false);
        let shared = Arc::new(Shared {
            state: Mutex::new(State::default()),
            wake: Condvar::new(),
            orphans: AtomicU64::new(0),
            has_children,
        });
        let thread_shared = Arc::clone(&shared);
        std::thread::Builder::new()
            .name("reaper".into())
            .stack_size(256 * 1024)
            .spawn(move || run(&thread_shared))?;
        Ok(Self { shared })
    }

    /// Runs `fork` (which returns the child's pid in the parent) with the reaper's mutex held
    /// and registers the child before anyone can observe its exit. The child becomes the
    /// leader of its own process group.
    pub fn register_fork(
        &self,
        fork: impl FnOnce() -> io::Result<libc::pid_t>,
    ) -> Result<(libc::pid_t, oneshot::Receiver<ExitStatus>), RegisterError> {
        let mut state = self.shared.lock();
        if state.closed {
            return Err(RegisterError::Closed);
        }
        let pid = fork().map_err(RegisterError::Fork)?;
        let (tx, rx) = oneshot::channel();
        state.waiting.insert(pid, tx);
        state.groups.insert(pid);
        state.epoch += 1;
        self.shared.has_children.send_replace(true);
        drop(state);
        self.shared.wake.notify_one();
        Ok((pid, rx))
    }

    /// Wakes the thread from its no-children sleep. Called on SIGCHLD: a process that entered
    /// the box from outside (setns) is not our child until its parent dies and it is
    /// re-parented to us, which no spawn announces.
    pub fn kick(&self) {
        self.shared.lock().epoch += 1;
        self.shared.wake.notify_one();
    }

    /// Refuses every later spawn: the box is stopping and must end up with no processes.
    pub fn close(&self) {
        self.shared.lock().closed = true;
    }

    /// Processes reaped that no spawn registered.
    pub fn orphans_reaped(&self) -> u64 {
        self.shared.orphans.load(Ordering::Relaxed)
    }

    /// Process groups the agent created that may still have members.
    pub fn groups(&self) -> Vec<libc::pid_t> {
        self.shared.lock().groups.iter().copied().collect()
    }

    /// Waits until the agent has no child left, at most `limit`. True when none is left.
    pub async fn wait_no_children(&self, limit: Duration) -> bool {
        let mut rx = self.shared.has_children.subscribe();
        let gone = async { rx.wait_for(|has| !*has).await.is_ok() };
        tokio::time::timeout(limit, gone).await.unwrap_or(false)
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic elsewhere while holding the lock leaves the maps consistent (each operation
        // is a single insert or remove), so carrying on beats losing the box's init.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn deliver(&self, pid: libc::pid_t, status: ExitStatus) {
        let mut state = self.lock();
        match state.waiting.remove(&pid) {
            // The receiver may be gone (a caller that stopped caring); the status is reaped
            // either way, which is all that matters for the process table.
            Some(tx) => {
                let _ = tx.send(status);
                // Forget the group once its last member is gone, so the set stays small.
                if !crate::sys::group_alive(pid) {
                    state.groups.remove(&pid);
                }
            }
            None => {
                self.orphans.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

fn run(shared: &Shared) {
    loop {
        let seen = shared.lock().epoch;
        let mut raw = 0;
        // SAFETY: `raw` is a valid out pointer for the status.
        let pid = unsafe { libc::waitpid(-1, &mut raw, 0) };
        if pid > 0 {
            if let Some(status) = ExitStatus::from_wait(raw) {
                shared.deliver(pid, status);
            }
            continue;
        }
        match crate::sys::errno() {
            libc::EINTR => {}
            libc::ECHILD => {
                let mut state = shared.lock();
                if state.epoch == seen {
                    shared.has_children.send_replace(false);
                }
                while state.epoch == seen {
                    state = shared.wake.wait(state).unwrap_or_else(PoisonError::into_inner);
                }
            }
            errno => {
                let err = io::Error::from_raw_os_error(errno);
                crate::report::fail(&format!("reaper: waitpid: {err}"));
            }
        }
    }
}
