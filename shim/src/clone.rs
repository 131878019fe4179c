//! Creating the box: one `clone(2)` into new mount, pid, uts, ipc and net namespaces (only
//! mount and pid when the box has a user namespace the child joins itself: see `userns.rs`). The
//! cgroup namespace is not among them: the child unshares it itself once it has moved into
//! the box's cgroups (see `cgroup::enter`), since a cgroup namespace is rooted wherever its
//! creator is at that moment and the shim never enters the box's cgroups.
//!
//! Why `clone` with every flag at once rather than fork + unshare: the child is born inside all
//! its namespaces, as PID 1 of the new pid namespace and a direct child of the shim, so the
//! shim's `waitpid` sees the agent itself. fork + unshare cannot enter a new pid namespace
//! itself; it needs either a second fork (an intermediate process to reap and to keep in sync)
//! or `unshare(CLONE_NEWPID)` in the shim, which changes the shim's own state.
//!
//! Without `CLONE_VM` the child gets a copy-on-write copy of the shim's memory, exactly as with
//! fork, so it may run ordinary Rust code: the shim has a single thread, hence no lock (malloc,
//! stdio) can be held by a thread that does not exist in the child.

use nix::sched::{clone, CloneFlags};
use nix::unistd::Pid;

use crate::child::{self, ChildPlan};
use crate::error::{Step, StepError};

/// The child's stack. It only runs the setup steps (paths, a few formatted messages) before
/// exec; pages are touched lazily, so the size costs nothing until used.
const STACK_SIZE: usize = 1 << 20;

/// Starts the child; returns its pid in the shim's namespace.
pub fn spawn(plan: &ChildPlan) -> Result<Pid, StepError> {
    let mut stack = vec![0u8; STACK_SIZE];
    let mut flags = CloneFlags::CLONE_NEWNS | CloneFlags::CLONE_NEWPID;
    // With a user namespace the child unshares these once it has joined it, so that they
    // belong to it (userns.rs); a rootless shim has joined it already.
    if plan.userns.as_ref().is_none_or(|userns| userns.rootless) {
        flags |= CloneFlags::CLONE_NEWUTS | CloneFlags::CLONE_NEWIPC | CloneFlags::CLONE_NEWNET;
    }
    let body: Box<dyn FnMut() -> isize + '_> = Box::new(|| child::run(plan));
    // SAFETY: without CLONE_VM the child runs `body` on its own copy of `stack` (1 MiB is ample
    // for the setup steps) and never returns into the shim's frames: `child::run` ends in
    // exec or `_exit`. The shim is single-threaded here (see the module comment).
    let pid = unsafe { clone(body, &mut stack, flags, Some(libc::SIGCHLD)) };
    pid.step(|| "clone the box's namespaces".to_string())
}
