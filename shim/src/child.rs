//! The child: PID 1 of the box's new namespaces until it becomes the guest agent.
//!
//! It runs as a copy-on-write copy of the single-threaded shim (see `clone.rs`), moves itself
//! into the box's cgroups and a cgroup namespace of its own, binds the agent binary read-only
//! (see `agent_binary.rs`), builds the box's root filesystem, seals it with `pivot_root`,
//! installs the agent's descriptors and executes the agent through that bind. Any failure ends
//! it with one line on stderr (the box's log) *and* a
//! `GuestReport { error: "box setup failed: <step>: <cause>" }` on the report pipe, so the
//! shim's exit record carries the same words without scraping the log.

use std::convert::Infallible;
use std::os::fd::{BorrowedFd, RawFd};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

use boxlite_protocol::launch::{fds, GuestReport};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::prctl;
use nix::sys::signal::{sigprocmask, SigSet, SigmaskHow, Signal};
use nix::unistd::{chdir, fexecve, sethostname};

use crate::agent_binary::{self, HostBinary};
use crate::descriptors::{self, Sources};
use crate::error::{Step, StepError};
use crate::mounts::{self, RootfsPlan};
use crate::{cgroup, devices, disk, log, net, netstack, userns, volumes};

/// The agent's argv[0] and its whole initial environment.
const AGENT_NAME: &std::ffi::CStr = c"boxlite-guest";
const AGENT_PATH_ENV: &std::ffi::CStr =
    c"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Everything the child needs, prepared by the shim before `clone`.
#[derive(Debug)]
pub struct ChildPlan {
    /// For log lines.
    pub box_id: String,
    /// The box's hostname.
    pub hostname: String,
    /// The box's cgroup directories (host paths), created by the shim; empty when the box
    /// runs without cgroups.
    pub cgroups: Vec<PathBuf>,
    /// The agent binary to execute.
    pub agent: HostBinary,
    /// The rootfs to assemble.
    pub rootfs: RootfsPlan,
    /// Descriptors the agent gets.
    pub fds: Sources,
    /// The box's user namespace; `None`: the box runs in the host's (box root is host root).
    pub userns: Option<UsernsPlan>,
    /// The shim's ends of the two pipes: the child closes its copies first thing, so that the
    /// agent sees EOF on the config pipe and the shim-alive check below is exact.
    pub shim_ends: [RawFd; 2],
    /// With a network: the child's end of the socket pair its `eth0` is handed over on.
    pub net_handoff: Option<RawFd>,
    /// Host paths to mount into the box, in order (volumes.rs).
    pub volumes: Vec<boxlite_protocol::launch::VolumeMount>,
}

/// The user namespace the child joins once the host-root steps are done.
#[derive(Debug)]
pub struct UsernsPlan {
    /// The namespace, opened by the shim (close-on-exec: the agent never holds it).
    pub fd: RawFd,
    /// Host uid and gid of box root.
    pub base: u32,
    /// The shim is not root and has joined the namespace already (userns.rs, "Rootless"):
    /// the child is box root from its first instruction and takes no host-root step.
    pub rootless: bool,
}

/// Body of the child; never returns.
pub fn run(plan: &ChildPlan) -> ! {
    let mut report = plan.fds.report_write;
    let failure = match catch_unwind(AssertUnwindSafe(|| setup_and_exec(plan, &mut report))) {
        Ok(Err(err)) => err.to_string(),
        Ok(Ok(never)) => match never {},
        Err(_) => "panic during box setup".to_string(),
    };
    log::line(&plan.box_id, &failure);
    let report_line =
        GuestReport { main_exit_code: None, error: Some(format!("box setup failed: {failure}")) };
    if let Ok(mut text) = serde_json::to_string(&report_line) {
        text.push('\n');
        // SAFETY: writes a buffer we own to a descriptor number; failure is not actionable.
        unsafe { libc::write(report, text.as_ptr().cast(), text.len()) };
    }
    // SAFETY: _exit ends this process without running the shim's atexit handlers or
    // destructors, which belong to the parent.
    unsafe { libc::_exit(1) }
}

fn setup_and_exec(plan: &ChildPlan, report: &mut RawFd) -> Result<Infallible, StepError> {
    for fd in plan.shim_ends {
        // SAFETY: closes this process's copy of a descriptor only the shim uses.
        unsafe { libc::close(fd) };
    }
    tie_to_shim(plan.fds.report_write)?;
    // First: the box's limits hold from here on, and its pids limit before anything forks.
    cgroup::enter(&plan.cgroups)?;

    mounts::make_private()?;
    // While the host's paths are still reachable; `pivot_into` detaches the bind with the
    // old root, and from then on only this descriptor leads to it.
    let agent = agent_binary::bind_read_only(&plan.agent)?;
    let host_root = plan.userns.as_ref().filter(|userns| !userns.rootless);
    // Also while the host's paths are reachable, and while host root: idmapping needs it.
    let volumes = volumes::prepare(&plan.box_id, &plan.volumes, host_root.map(|userns| userns.fd))?;
    if let Some(disk) = &plan.rootfs.disk {
        disk::mount(&disk.device, &disk.spec, &plan.rootfs.upper, &plan.rootfs.work)?;
    }
    let tmp_in_image = mounts::image_has_tmp(&plan.rootfs)?;
    if let Some(userns) = host_root {
        userns::idmap_in_place(&plan.rootfs.lower, userns.fd)?;
        userns::idmap_in_place(mounts::writable_root(&plan.rootfs)?, userns.fd)?;
        // Box root cannot lower its own score: done while host root. Best effort, as in the
        // agent (a host may deny CAP_SYS_RESOURCE even to root): the agent tries again and
        // logs the score it is left with.
        protect_from_oom();
        userns::write_as_box_root(userns.base)?;
    }
    mounts::mount_overlay(&plan.rootfs)?;
    // From here on the box's tree is addressed from inside it: box root may not be able to
    // walk the host path that leads to it.
    let merged = Path::new(".");
    chdir(&plan.rootfs.merged).step(|| format!("chdir {}", plan.rootfs.merged.display()))?;
    // Before the user namespace, so that their read-only flags are locked from the box's
    // root; before `/proc`, so that no guest path can reach into it through a link.
    volumes::attach_all(&volumes, tmp_in_image)?;
    drop(volumes);
    // Before the user namespace: the box's pid namespace is the host user namespace's (but
    // the box's own in a rootless box).
    mounts::mount_proc(merged)?;
    if let Some(userns) = host_root {
        userns::enter(userns.fd)?;
        // A change of credentials clears the parent-death signal: set it again, and check
        // again that the shim did not die while it was cleared.
        tie_to_shim(plan.fds.report_write)?;
    }
    // In the box's network namespace now (made at clone, or on entering the user namespace);
    // the shim makes its eth0 while the host's /proc still shows it to us.
    if let Some(handoff) = plan.net_handoff {
        netstack::hand_over_netns(handoff)?;
    }
    devices::populate(&mounts::mount_point(merged, "dev")?)?;
    mounts::mount_sys(merged)?;
    if !tmp_in_image {
        mounts::mount_tmp(merged, plan.rootfs.tmp_size_mib)?;
    }
    if plan.userns.is_some() {
        mounts::own_root_tree()?;
    }
    mounts::pivot_into(merged)?;

    sethostname(&plan.hostname).step(|| format!("set hostname {:?}", plan.hostname))?;
    net::loopback_up()?;
    if plan.net_handoff.is_some() {
        netstack::iface::write_resolv_conf()?;
    }
    mounts::mask_kernel_paths()?;

    let agent = descriptors::install(&plan.fds, agent)?;
    *report = fds::REPORT;
    reset_signals()?;
    // SAFETY: `agent` was just returned by `install` and stays open until exec.
    let agent = unsafe { BorrowedFd::borrow_raw(agent) };
    let errno = match fexecve(agent, &[AGENT_NAME], &[AGENT_PATH_ENV]) {
        Err(errno) => errno,
        Ok(never) => match never {},
    };
    Err(StepError::new("exec guest agent", errno.desc()))
}

/// Dies with the shim: PDEATHSIG covers a shim death from now on, and the check covers one
/// that already happened. `getppid()` cannot serve as that check (it is 0 here: the shim lives
/// outside our pid namespace), but the report pipe can: the shim holds its only read end for
/// its whole life, and a pipe's write end polls POLLERR once no reader is left.
fn tie_to_shim(report_write: RawFd) -> Result<(), StepError> {
    prctl::set_pdeathsig(Signal::SIGKILL).step(|| "set parent-death signal".to_string())?;
    // SAFETY: `report_write` is open in this process for as long as this call runs.
    let fd = unsafe { BorrowedFd::borrow_raw(report_write) };
    let mut poll_fds = [PollFd::new(fd, PollFlags::POLLOUT)];
    poll(&mut poll_fds, PollTimeout::ZERO).step(|| "check the shim is alive".to_string())?;
    let gone = poll_fds[0].revents().is_some_and(|r| r.contains(PollFlags::POLLERR));
    if gone {
        return Err(StepError::new("check the shim is alive", "the shim has exited"));
    }
    Ok(())
}

/// `oom_score_adj` -1000: the agent is never the OOM killer's choice (guest/src/boot.rs,
/// which reports the outcome).
fn protect_from_oom() {
    let _ = std::fs::write("/proc/self/oom_score_adj", "-1000");
}

/// The shim blocks the signals its signalfd handles, and Rust's runtime ignores SIGPIPE; a
/// blocked mask and ignored dispositions survive exec, so both are reset for the agent.
fn reset_signals() -> Result<(), StepError> {
    sigprocmask(SigmaskHow::SIG_SETMASK, Some(&SigSet::empty()), None)
        .step(|| "unblock signals".to_string())?;
    // SAFETY: restores the default disposition of SIGPIPE; no handler function is involved.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
    Ok(())
}
