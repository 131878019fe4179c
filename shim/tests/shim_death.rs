//! A box must not outlive its shim. Its own test binary: the process becomes a child
//! subreaper so that the orphaned agent is reparented to it and can be reaped and checked
//! here, instead of being left to the machine's init. The killed shim leaves its box's
//! cgroups behind; the next start of the same box copes with them.

mod harness;

use std::time::Instant;

use harness::*;
use nix::sys::prctl;
use nix::sys::signal::Signal;
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

#[test]
fn the_box_dies_with_its_shim() {
    prctl::set_child_subreaper(true).expect("become a child subreaper");
    let dir = tempfile::tempdir().expect("tempdir");
    let rootfs = busybox_rootfs(dir.path(), true);
    let mut spec = spec(dir.path(), &rootfs, None);
    spec.limits.pids_max = Some(64);
    let cgroups = BoxCgroups::of(&spec.box_id);
    let _cleanup = CgroupCleanup(spec.box_id.clone());

    let mut shim = spawn(dir.path(), "run", &spec);
    shim.expect_ready();
    let agent = shim.agent();
    let agent_exit = pidfd(agent.pid);
    shim.signal(Signal::SIGKILL);
    assert_eq!(shim.wait_exit().code(), None, "the shim was not killed");

    // PR_SET_PDEATHSIG: the agent, and with it the whole pid namespace, dies with the shim.
    assert!(wait_readable(&agent_exit, Instant::now() + TIMEOUT), "agent outlived its shim");
    let status = waitpid(Pid::from_raw(agent.pid), Some(WaitPidFlag::WNOHANG)).expect("reap");
    assert_eq!(status, WaitStatus::Signaled(Pid::from_raw(agent.pid), Signal::SIGKILL, false));
    assert_gone(&[agent]);

    // Nobody removed the box's cgroups; a restart of the box replaces them, and removes them
    // when it ends.
    for dir in cgroups.dirs() {
        assert!(dir.exists(), "{} vanished", dir.display());
    }
    let mut shim = spawn(dir.path(), "restart", &spec);
    shim.expect_ready();
    assert_eq!(BoxCgroups::read(&cgroups.pids, "pids.max"), "64");
    shim.signal(Signal::SIGTERM);
    let status = shim.wait_exit();
    assert!(status.success(), "restart failed: {status:?}; log:\n{}", shim.log());
    for dir in cgroups.dirs() {
        assert!(!dir.exists(), "{} left behind; log:\n{}", dir.display(), shim.log());
    }
}
