//! `boxlite-shim`: the host-side process of one box.
//!
//! Started by the host (posix_spawn, nothing done between fork and exec) with the path of a
//! [`ShimSpec`] JSON file as its only argument, stdin = the host's liveness pipe, stdout = the
//! readiness pipe, stderr = the box's log (until the spec is read; from then on the shim writes
//! the log itself, bounded, with the box's console copied in). It binds the agent's socket on
//! the host, finds the agent binary (the box's PID 1 executes it through a read-only bind that
//! no path in the box reaches), creates the box's cgroups (its resource limits; only the box's
//! PID 1 enters them), clones the box's namespaces, builds its rootfs, starts the agent there
//! as PID 1, supervises it (graceful stop on SIGTERM/SIGINT or, for a box that is not
//! detached, when the host dies), removes the cgroups and writes the box's [`ExitRecord`] when
//! it is over.
//!
//! Exit status: 0 when the box ended cleanly, 1 otherwise (the exit record says why).
//!
//! [`ShimSpec`]: boxlite_protocol::launch::ShimSpec
//! [`ExitRecord`]: boxlite_protocol::launch::ExitRecord

mod agent_binary;
mod boxlog;
mod cgroup;
mod channels;
mod child;
mod clone;
mod console;
mod descriptors;
mod device_filter;
mod devices;
mod disk;
mod error;
mod exit_record;
mod log;
mod mount_api;
mod mounts;
mod net;
mod netstack;
mod socket;
mod spec;
mod supervise;
mod userns;
mod volumes;

use std::fs::{DirBuilder, OpenOptions};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::fs::DirBuilderExt;
use std::path::Path;
use std::time::Duration;

use boxlite_protocol::launch::{ExitRecord, Limits, ShimSpec};
use nix::sys::signal::SigSet;
use nix::sys::stat::{umask, Mode};
use nix::unistd::{dup2_stdout, getpid, getsid, setsid};

use crate::cgroup::Cgroup;
use crate::child::ChildPlan;
use crate::descriptors::Sources;
use crate::error::{Step, StepError};
use crate::mounts::RootfsPlan;
use crate::socket::SocketFile;
use crate::supervise::Supervisor;

fn main() {
    std::process::exit(run());
}

fn run() -> i32 {
    // Before anything else: a SIGTERM from now on queues for the event loop instead of killing
    // the shim without an exit record.
    let signals = supervise::handled_signals();
    if let Err(err) = supervise::block_signals(&signals) {
        log::bare(err);
        return 1;
    }
    become_session_leader();
    // Predictable modes for the dirs the shim creates; the agent inherits it as the box's.
    umask(Mode::from_bits_truncate(0o022));

    let args: Vec<_> = std::env::args_os().skip(1).collect();
    let [spec_path] = args.as_slice() else {
        log::bare("usage: boxlite-shim <spec.json>");
        return 1;
    };
    let spec = match spec::load(Path::new(spec_path)) {
        Ok(spec) => spec,
        Err(err) => {
            log::bare(&err.message);
            if let Some(path) = err.exit_record_path {
                let record = exit_record::not_started(format!("box setup failed: {}", err.message));
                if let Err(err) = exit_record::write(&path, &record) {
                    log::bare(err);
                }
            }
            return 1;
        }
    };
    let id = spec.box_id.as_str();
    // From here on the shim's lines and the box's console share one bounded log.
    match boxlog::BoxLog::open(&spec.log) {
        Ok(box_log) => log::start(box_log),
        Err(err) => log::line(id, format!("open box log {}: {err}", spec.log.path.display())),
    }

    if let Err(err) = exit_record::remove_stale(&spec.exit_record_path) {
        log::line(id, &err);
    }
    let mut socket_file = None;
    let mut cgroup = None;
    let record = match launch(&spec, &signals, &mut socket_file, &mut cgroup) {
        Ok(record) => record,
        Err(err) => {
            log::line(id, &err);
            exit_record::not_started(format!("box setup failed: {err}"))
        }
    };
    if let Some(socket_file) = socket_file {
        if let Err(err) = socket_file.remove() {
            log::line(id, err);
        }
    }
    // The agent is reaped (or never ran): its pid namespace is gone, the box's cgroups empty.
    if let Some(cgroup) = cgroup {
        cgroup.remove(id);
    }
    report_end(id, &record);
    let written = exit_record::write(&spec.exit_record_path, &record);
    if let Err(err) = &written {
        log::line(id, err);
    }
    i32::from(record.error.is_some() || written.is_err())
}

/// The shim's own session, so the host's terminal signals and job control never reach the box.
/// A host that already asked posix_spawn for a new session makes `setsid` fail with EPERM;
/// only an actual failure to lead a session is logged.
fn become_session_leader() {
    if let Err(errno) = setsid() {
        if getsid(None).ok() != Some(getpid()) {
            log::bare(format!("setsid: {}", errno.desc()));
        }
    }
}

/// Everything from preparing the box to collecting its agent. An `Err` means the agent never
/// started; an agent that started always yields a record. `socket_file` and `cgroup` are
/// handed out as soon as they exist, for the caller to remove in either case.
fn launch(
    spec: &ShimSpec,
    signals: &SigSet,
    socket_file: &mut Option<SocketFile>,
    cgroup: &mut Option<Cgroup>,
) -> Result<ExitRecord, StepError> {
    check_rootless(spec)?;
    create_dir(&spec.merged_dir)?;
    // With a disk, the upper and work dirs live on it and the child makes them once mounted.
    match &spec.disk {
        Some(disk) => create_dir(&disk.mount_dir)?,
        None => {
            create_dir(&spec.upper_dir)?;
            create_dir(&spec.work_dir)?;
        }
    }
    let disk = match &spec.disk {
        Some(spec_disk) => Some((disk::prepare(&spec.box_id, spec_disk)?, spec_disk)),
        None => None,
    };
    let signal_fd = supervise::signal_fd(signals)?;
    let (listener, bound) = socket::bind(&spec.socket_path)?;
    *socket_file = Some(bound);
    let agent = agent_binary::find(&spec.guest_path)?;
    let channels = channels::open()?;
    let console = console::open()?;
    let net_handoff = spec.network.as_ref().map(|_| netstack::handoff()).transpose()?;
    // Before the box exists: a port already taken fails the start, with nothing to undo.
    let published = spec.network.as_ref().map(netstack::ports::bind).transpose()?;
    let liveness = if spec.detach { None } else { Some(liveness_pipe()?) };
    let config = serde_json::to_vec(&spec.guest)
        .map_err(|err| StepError::new("encode guest config", err.to_string()))?;

    // Held until the shim exits: the range is the box's for as long as any of it runs.
    let range = match (spec.user_namespace, spec.rootless) {
        (true, false) => Some(userns::Range::allocate(&spec.box_id)?),
        (true, true) => Some(userns::Range::own()),
        (false, _) => None,
    };
    let namespace = range.as_ref().map(userns::Range::namespace).transpose()?;

    // The box's PID 1 joins these itself (child.rs); the shim stays outside.
    let disk_device = disk.as_ref().map(|(attached, _)| attached.device.as_path());
    *cgroup = match spec.rootless {
        // A non-root user has no cgroup of its own to divide here; core reports the limits
        // this leaves unenforced (core/src/rootless.rs).
        true => {
            log::line(&spec.box_id, "rootless: the box runs without a cgroup");
            None
        }
        false => Cgroup::create(&spec.box_id, &spec.limits, disk_device, spec.user_namespace)?,
    };
    let oom_counter = cgroup.as_ref().and_then(|c| c.open_oom_counter(&spec.box_id));
    let plan = ChildPlan {
        box_id: spec.box_id.clone(),
        hostname: spec.hostname.clone(),
        cgroups: cgroup.as_ref().map_or_else(Vec::new, |c| c.dirs().to_vec()),
        agent,
        rootfs: RootfsPlan {
            lower: spec.rootfs_lower.clone(),
            upper: spec.upper_dir.clone(),
            work: spec.work_dir.clone(),
            merged: spec.merged_dir.clone(),
            tmp_size_mib: spec.tmp_size_mib,
            userxattr: spec.rootless,
            disk: disk.as_ref().map(|(attached, spec_disk)| mounts::DiskPlan {
                device: attached.device.clone(),
                spec: (*spec_disk).clone(),
            }),
        },
        fds: Sources {
            console: console.write.as_raw_fd(),
            listener: listener.as_raw_fd(),
            ready: libc::STDOUT_FILENO,
            config_read: channels.config_read.as_raw_fd(),
            report_write: channels.report_write.as_raw_fd(),
            oom_counter: oom_counter.as_ref().map(AsRawFd::as_raw_fd),
        },
        userns: range.as_ref().zip(namespace.as_ref()).map(|(range, ns)| child::UsernsPlan {
            fd: ns.as_raw_fd(),
            base: range.base,
            rootless: spec.rootless,
        }),
        shim_ends: [channels.config_write.as_raw_fd(), channels.report_read.as_raw_fd()],
        net_handoff: net_handoff.as_ref().map(|h| h.child.as_raw_fd()),
        volumes: spec.volumes.clone(),
    };
    // Nothing after this may fail with `Err`: from here on the agent runs, and its end is
    // what the record reports.
    log::route_clones_to(console.write.as_raw_fd());
    if let (true, Some(ns)) = (spec.rootless, &namespace) {
        userns::join(ns.as_fd())?;
    }
    let agent = clone::spawn(&plan)?;

    // The agent has its copies now. The shim keeps none of them: the socket is the agent's to
    // serve, and the host must see EOF on the readiness pipe as soon as the agent dies.
    // Nor the console's write end: the pipe reaches EOF once the box is gone.
    // The disk's loop device too: once the child has mounted it, the mount alone holds it,
    // and it detaches itself when the box's mount namespace goes.
    drop((
        listener,
        channels.config_read,
        channels.report_write,
        console.write,
        oom_counter,
        disk,
        namespace,
    ));
    if let Err(err) = release_stdout() {
        log::line(&spec.box_id, err);
    }
    if let (Some(network), Some(handoff)) = (&spec.network, net_handoff) {
        // The child's end goes with this copy: EOF tells the stack the child ended first.
        drop(handoff.child);
        netstack::start(&spec.box_id, network, handoff.shim, published.unwrap_or_default());
    }

    let ended = Supervisor {
        box_id: &spec.box_id,
        agent,
        signals: signal_fd,
        liveness,
        console: Some(console.read),
        report: channels.report_read,
        config: Some((channels.config_write, config)),
        stop_grace: Duration::from_millis(spec.stop_grace_ms),
    }
    .run();
    // Read now: the caller removes the cgroup, and its counter with it.
    let memory = exit_record::Memory {
        limit_mib: spec.limits.memory_mib,
        oom_kills: cgroup.as_ref().and_then(|c| c.oom_kills(&spec.box_id)),
    };
    Ok(exit_record::decide(&ended.end, &ended.report, ended.forced_kill, memory))
}

/// A rootless spec asks for nothing that needs host root; a shim that is not root must be
/// given one.
fn check_rootless(spec: &ShimSpec) -> Result<(), StepError> {
    let step = "rootless box";
    if !spec.rootless {
        let euid = nix::unistd::geteuid();
        if !euid.is_root() {
            let cause = format!("the shim runs as uid {euid}, and the spec is not rootless");
            return Err(StepError::new(step, cause));
        }
        return Ok(());
    }
    let refused = [
        (!spec.user_namespace, "it needs a user namespace"),
        (spec.disk.is_some(), "a disk needs a loop device"),
        (spec.limits != Limits::default(), "limits need a cgroup"),
    ];
    match refused.into_iter().find(|(refused, _)| *refused) {
        Some((_, why)) => Err(StepError::new(step, why)),
        None => Ok(()),
    }
}

fn create_dir(dir: &Path) -> Result<(), StepError> {
    DirBuilder::new()
        .recursive(true)
        .mode(0o755)
        .create(dir)
        .step(|| format!("create {}", dir.display()))
}

/// Points the shim's stdout (the readiness pipe) at /dev/null.
fn release_stdout() -> Result<(), StepError> {
    let devnull =
        OpenOptions::new().write(true).open("/dev/null").step(|| "open /dev/null".to_string())?;
    dup2_stdout(&devnull).step(|| "release the readiness pipe".to_string())
}

/// A duplicate of stdin, the host's liveness pipe, for the event loop (which reads it only
/// when poll says it is readable, so it need not be non-blocking).
fn liveness_pipe() -> Result<OwnedFd, StepError> {
    std::io::stdin().as_fd().try_clone_to_owned().step(|| "duplicate the liveness pipe".to_string())
}

fn report_end(id: &str, record: &ExitRecord) {
    let mut line = format!("box ended: guest agent {}", record.agent_status);
    if let Some(code) = record.exit_code {
        line.push_str(&format!(", main exit code {code}"));
    }
    if let Some(error) = &record.error {
        line.push_str(&format!(", error: {error}"));
    }
    log::line(id, line);
}
