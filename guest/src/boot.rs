//! Startup: process hardening and taking over the descriptors of the launch contract
//! ([`boxlite_protocol::launch::fds`]).

use std::fs::File;
use std::io::{self, Read};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::net::UnixListener;

use boxlite_protocol::launch::{fds, GuestConfig};

use crate::oom::OomCounter;

/// Why the agent could not start.
#[derive(Debug, thiserror::Error)]
pub enum BootError {
    #[error("launch descriptor {fd} ({what}) is not open")]
    MissingFd { fd: i32, what: &'static str },
    #[error("{what}: {source}")]
    Sys { what: &'static str, source: io::Error },
    #[error("reading the config: {0}")]
    ReadConfig(io::Error),
    #[error("parsing the config: {0}")]
    ParseConfig(serde_json::Error),
    #[error("descriptor 3 is not a listening unix socket: {0}")]
    Listener(io::Error),
    #[error("the box's {0}")]
    Profile(String),
}

/// What the launch handed over, ready to use.
pub struct Launch {
    pub config: GuestConfig,
    pub listener: UnixListener,
    /// Write end of the readiness pipe.
    pub ready: File,
    /// The box's OOM-kill counter.
    pub oom_counter: OomCounter,
}

/// Process-wide settings that must be in place before anything else runs.
pub fn harden() -> Result<(), BootError> {
    ensure_std_fds();
    protect_from_oom();
    seal_own_proc()?;
    // SAFETY: prctl with integer arguments has no memory-safety preconditions.
    unsafe {
        // Nothing in the box may ptrace the agent or read its memory through /proc.
        if libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0) != 0 {
            return Err(sys("PR_SET_DUMPABLE"));
        }
        // Orphans re-parent to us even when we are not PID 1 (tests, nested setups), so the
        // central reaper sees every descendant.
        if libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0 {
            return Err(sys("PR_SET_CHILD_SUBREAPER"));
        }
        // A client that goes away must surface as EPIPE on a write, not kill the agent.
        libc::signal(libc::SIGPIPE, libc::SIG_IGN);
        // One malloc arena: the agent has two threads and cares about memory, not contention.
        libc::mallopt(libc::M_ARENA_MAX, 1);
        // The agent never execs anything that should gain privileges; and an agent without
        // CAP_SYS_ADMIN may only install a seccomp filter under no_new_privs.
        if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 {
            return Err(sys("PR_SET_NO_NEW_PRIVS"));
        }
    }
    Ok(())
}

/// The seccomp filter goes on the agent itself, once its config is read and before any thread
/// exists, and every process it starts inherits it. Installing it per spawn made the kernel
/// JIT-compile it on every exec (measured here: +100-140 us per fork, most of an exec's
/// overhead over a host fork+exec). The agent needs none of the denied calls. A box created
/// with `seccomp` "unconfined" gets none, as it asked (and its info says so). The pids limit
/// of a box without a pids cgroup is set here too, for the same inheritance.
pub fn confine(config: &GuestConfig) -> Result<(), BootError> {
    if let Some(max) = config.nproc_max {
        // Soft and hard alike: raising the hard limit needs CAP_SYS_RESOURCE in the host's
        // user namespace, which no process of the box has.
        let limit = libc::rlimit { rlim_cur: max, rlim_max: max };
        // SAFETY: setrlimit reads a properly initialised rlimit.
        if unsafe { libc::setrlimit(libc::RLIMIT_NPROC, &limit) } != 0 {
            return Err(sys("setrlimit(RLIMIT_NPROC)"));
        }
    }
    if let Some(profile) = &config.seccomp_profile {
        // Installed per spawn instead (see GuestConfig::seccomp_profile).
        return crate::seccomp::set_profile(profile).map_err(BootError::Profile);
    }
    if config.seccomp_unconfined {
        return Ok(());
    }
    let fprog = crate::seccomp::fprog();
    let fprog: *const libc::sock_fprog = &fprog;
    // SAFETY: the kernel copies the program during the call; `fprog` points at `len`
    // instructions of a `'static` vector.
    if unsafe { libc::prctl(libc::PR_SET_SECCOMP, libc::SECCOMP_MODE_FILTER, fprog) } != 0 {
        return Err(sys("PR_SET_SECCOMP"));
    }
    Ok(())
}

/// What the agent asks for its own `oom_score_adj`: never chosen by the OOM killer.
const AGENT_OOM_SCORE_ADJ: &str = "-1000";

/// Takes the agent out of the OOM killer's reach, so a box at its memory limit loses workload
/// processes, never the process that reports on them. Needs CAP_SYS_RESOURCE, which the agent
/// has wherever its host grants it to root; elsewhere the score stays as inherited (0), the
/// workloads' 500 ([`crate::child::WORKLOAD_OOM_SCORE_ADJ`]) still puts them first, and the
/// console log says so.
pub fn protect_from_oom() {
    let result = std::fs::OpenOptions::new()
        .write(true)
        .open("/proc/self/oom_score_adj")
        .and_then(|mut file| std::io::Write::write_all(&mut file, AGENT_OOM_SCORE_ADJ.as_bytes()));
    if let Err(err) = result {
        let kept = std::fs::read_to_string("/proc/self/oom_score_adj").unwrap_or_default();
        eprintln!(
            "boxlite-guest: oom_score_adj stays {} (setting {AGENT_OOM_SCORE_ADJ} needs \
             CAP_SYS_RESOURCE): {err}",
            kept.trim()
        );
    }
}

/// Makes the agent's own `/proc/1` read-only for the whole box. The agent is root, so a root
/// workload owns its /proc files too, and could write, e.g., 1000 to `/proc/1/oom_score_adj`
/// (raising a score needs no privilege) and make the agent the OOM killer's first choice. A
/// read-only bind of the directory onto itself covers every file in it and in its threads'
/// `task/<tid>` directories, threads started later included; lifting it takes CAP_SYS_ADMIN,
/// which no workload has. Only as PID 1: anywhere else (tests, nested runs) /proc/1 is not ours.
fn seal_own_proc() -> Result<(), BootError> {
    // SAFETY: getpid cannot fail.
    if unsafe { libc::getpid() } != 1 {
        return Ok(());
    }
    let path = c"/proc/1";
    // SAFETY: mount with valid NUL-terminated paths and no data.
    unsafe {
        if libc::mount(
            path.as_ptr(),
            path.as_ptr(),
            std::ptr::null(),
            libc::MS_BIND,
            std::ptr::null(),
        ) != 0
        {
            return Err(sys("bind /proc/1"));
        }
        let flags = libc::MS_REMOUNT
            | libc::MS_BIND
            | libc::MS_RDONLY
            | libc::MS_NOSUID
            | libc::MS_NODEV
            | libc::MS_NOEXEC;
        if libc::mount(std::ptr::null(), path.as_ptr(), std::ptr::null(), flags, std::ptr::null())
            != 0
        {
            return Err(sys("remount /proc/1 read-only"));
        }
    }
    Ok(())
}

/// Takes the listener, the readiness pipe, the config (read to EOF and closed) and the OOM-kill
/// counter.
pub fn take_launch() -> Result<Launch, BootError> {
    let oom_counter = OomCounter::take();
    for (fd, what) in [(fds::LISTENER, "listener"), (fds::READY, "readiness pipe")] {
        if !crate::sys::is_open(fd) {
            return Err(BootError::MissingFd { fd, what });
        }
        // Spawned processes must never inherit the socket (a process in the box could accept
        // the host's connections) nor the shim's pipes.
        crate::sys::set_cloexec(fd)
            .map_err(|source| BootError::Sys { what: "FD_CLOEXEC", source })?;
    }
    // Anything else a launcher leaked stays out of the box's processes as well. Best effort:
    // close_range with this flag needs Linux 5.11.
    let first_unknown = fds::OOM_COUNTER as u32 + 1;
    // SAFETY: close_range with integer arguments has no memory-safety preconditions.
    unsafe { libc::close_range(first_unknown, u32::MAX, libc::CLOSE_RANGE_CLOEXEC as libc::c_int) };

    let config = read_config()?;
    // SAFETY: the launch contract hands us this descriptor and nothing else owns it.
    let listener = unsafe { UnixListener::from_raw_fd(fds::LISTENER) };
    listener.local_addr().map_err(BootError::Listener)?;
    listener.set_nonblocking(true).map_err(BootError::Listener)?;
    // SAFETY: as above, for the readiness pipe.
    let ready = File::from(unsafe { OwnedFd::from_raw_fd(fds::READY) });
    Ok(Launch { config, listener, ready, oom_counter })
}

fn read_config() -> Result<GuestConfig, BootError> {
    if !crate::sys::is_open(fds::CONFIG) {
        return Err(BootError::MissingFd { fd: fds::CONFIG, what: "config pipe" });
    }
    // SAFETY: the launch contract hands us this descriptor and nothing else owns it.
    let mut file = File::from(unsafe { OwnedFd::from_raw_fd(fds::CONFIG) });
    crate::sys::set_cloexec(file.as_raw_fd()).map_err(BootError::ReadConfig)?;
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes).map_err(BootError::ReadConfig)?;
    drop(file);
    serde_json::from_slice(&bytes).map_err(BootError::ParseConfig)
}

/// Opens /dev/null on any of 0-2 that is closed, so every descriptor the agent creates is
/// above 2 and the child side of a spawn can dup2 its pipes onto 0-2 without clobbering.
fn ensure_std_fds() {
    for fd in 0..=2 {
        if crate::sys::is_open(fd) {
            continue;
        }
        // open returns the lowest free descriptor, which is `fd` since the lower ones are open.
        // SAFETY: the path is a valid NUL-terminated string.
        unsafe { libc::open(c"/dev/null".as_ptr(), libc::O_RDWR) };
    }
}

fn sys(what: &'static str) -> BootError {
    BootError::Sys { what, source: io::Error::last_os_error() }
}
