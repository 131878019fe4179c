//! The child side of a spawn, between `fork` and `execve`.
//!
//! The agent is multi-threaded (the reaper thread), so after `fork` only async-signal-safe calls
//! are allowed: no allocation, no locks, no panics. Everything is prepared by the parent as raw
//! pointers; a failure is written as (stage, errno) to a close-on-exec pipe that the parent
//! reads: EOF there means `execve` succeeded.

use std::os::fd::RawFd;

use libc::{c_char, gid_t, uid_t};

use crate::caps::{CapData, Privileges};

/// Which step of the child setup failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Stage {
    Setup = 1,
    Groups = 2,
    Gid = 3,
    Uid = 4,
    Chdir = 5,
    Exec = 6,
    /// PR_CAPBSET_DROP: removing capabilities outside the default set from the bounding set.
    Bounding = 7,
    /// capset and clearing the ambient set.
    Capabilities = 8,
    /// PR_SET_NO_NEW_PRIVS.
    NoNewPrivs = 9,
    /// Raising `/proc/self/oom_score_adj` to [`WORKLOAD_OOM_SCORE_ADJ`].
    OomScore = 10,
    /// setsid and TIOCSCTTY: a new session with the terminal as its controlling one.
    Terminal = 11,
    /// setrlimit(RLIMIT_NOFILE) to the box's open-file limit.
    Nofile = 12,
    /// PR_SET_SECCOMP with the box's own profile.
    Seccomp = 13,
}

impl Stage {
    pub fn from_byte(byte: u8) -> Option<Self> {
        Some(match byte {
            1 => Self::Setup,
            2 => Self::Groups,
            3 => Self::Gid,
            4 => Self::Uid,
            5 => Self::Chdir,
            6 => Self::Exec,
            7 => Self::Bounding,
            8 => Self::Capabilities,
            9 => Self::NoNewPrivs,
            10 => Self::OomScore,
            11 => Self::Terminal,
            12 => Self::Nofile,
            13 => Self::Seccomp,
            _ => return None,
        })
    }
}

/// `oom_score_adj` of every process the agent starts: half the memory limit's worth of badness
/// added, so the OOM killer picks workloads before the agent and the shim.
pub const WORKLOAD_OOM_SCORE_ADJ: &str = "500";

/// Size of a failure record on the error pipe: the stage byte and the errno.
pub const FAILURE_LEN: usize = 5;

/// Identity switch, borrowed from the parent's prepared data.
pub struct RawCredentials {
    pub uid: uid_t,
    pub gid: gid_t,
    pub groups: *const gid_t,
    pub groups_len: usize,
    /// False where the user namespace denies setgroups: the groups are left as they are.
    pub set_groups: bool,
}

/// Everything the child needs, as pointers into data the parent keeps alive across the fork.
pub struct ChildSpec {
    pub program: *const c_char,
    /// NULL-terminated.
    pub argv: *const *const c_char,
    /// NULL-terminated.
    pub envp: *const *const c_char,
    pub cwd: *const c_char,
    pub credentials: Option<RawCredentials>,
    /// Descriptors to become 0, 1 and 2.
    pub stdio: [RawFd; 3],
    /// `stdio` is a terminal's slave side, to become the controlling terminal of a new session.
    pub terminal: bool,
    /// Write end of the error pipe.
    pub errors: RawFd,
    /// What the process may keep; `capset` is its capset payload, built from it.
    pub privileges: Privileges,
    pub capset: [CapData; 2],
    /// Set the workload's `oom_score_adj` (see [`raise_oom_score`]).
    pub raise_oom_score: bool,
    /// The box's `RLIMIT_NOFILE`; `None` keeps the agent's.
    pub nofile: Option<libc::rlimit>,
    /// The box's own seccomp profile ([`crate::seccomp::profile`]); `None` leaves the process
    /// under the agent's filter, if any.
    pub seccomp: Option<libc::sock_fprog>,
}

/// Sets the child up and execs. Never returns.
///
/// # Safety
/// Must only be called in the child right after `fork`, with every pointer in `spec` valid.
pub unsafe fn exec(spec: &ChildSpec) -> ! {
    // Own process group, so a timeout or signal reaches everything the command forks. The
    // parent makes the same call, so neither order of the two races. On a terminal, a new
    // session instead (its own group too: pid = pgid = sid), which only a process that leads
    // no group may create, so the parent leaves it to the child.
    if spec.terminal {
        if libc::setsid() < 0 {
            fail(spec.errors, Stage::Terminal);
        }
    } else if libc::setpgid(0, 0) != 0 {
        fail(spec.errors, Stage::Setup);
    }
    reset_signals();
    if spec.raise_oom_score {
        raise_oom_score(spec.errors);
    }
    // While the child still holds the agent's capabilities: with CAP_SYS_RESOURCE a box may be
    // given a hard limit above the agent's own. Set here, the limit holds for everything the
    // process runs and forks; it can lower it, and raise the soft one up to the hard one, but
    // never the hard one again (the capability is gone after the drop below).
    if let Some(limit) = &spec.nofile {
        if libc::setrlimit(libc::RLIMIT_NOFILE, limit) != 0 {
            fail(spec.errors, Stage::Nofile);
        }
    }
    let mut target = 0;
    while target < 3 {
        let fd = spec.stdio[target as usize];
        let rc = if fd == target {
            // dup2 onto itself would keep close-on-exec set.
            libc::fcntl(fd, libc::F_SETFD, 0)
        } else {
            libc::dup2(fd, target)
        };
        if rc < 0 {
            fail(spec.errors, Stage::Setup);
        }
        target += 1;
    }
    // The session leader takes the terminal as its controlling one (and its group becomes the
    // foreground group): job control, ^C and SIGWINCH reach the process, /dev/tty opens.
    if spec.terminal && libc::ioctl(0, libc::TIOCSCTTY, 0 as libc::c_int) != 0 {
        fail(spec.errors, Stage::Terminal);
    }
    // Order matters: setgroups/setgid and setuid need CAP_SETGID/CAP_SETUID, and dropping from
    // the bounding set needs CAP_SETPCAP, which setuid to a non-zero uid clears (no
    // PR_SET_KEEPCAPS: a non-root process keeps no capability, so there is nothing to carry
    // across). So: groups and gid, bounding set, uid, then the final sets, all before chdir so
    // the working directory is entered with the process's own credentials.
    if let Some(creds) = &spec.credentials {
        if creds.set_groups && libc::setgroups(creds.groups_len, creds.groups) != 0 {
            fail(spec.errors, Stage::Groups);
        }
        if libc::setgid(creds.gid) != 0 {
            fail(spec.errors, Stage::Gid);
        }
    }
    drop_bounding(spec);
    if let Some(creds) = &spec.credentials {
        if libc::setuid(creds.uid) != 0 {
            fail(spec.errors, Stage::Uid);
        }
    }
    set_capabilities(spec);
    if libc::chdir(spec.cwd) != 0 {
        fail(spec.errors, Stage::Chdir);
    }
    // From here no setuid binary or file capability raises privileges across execve (nor can
    // the process undo it: the flag is inherited and cannot be cleared).
    if prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0) != 0 {
        fail(spec.errors, Stage::NoNewPrivs);
    }
    // Last, so that the profile filters the command and nothing of the setup above; the
    // profile must allow `execve` itself, or the exec fails with the profile's answer.
    if let Some(fprog) = &spec.seccomp {
        let fprog: *const libc::sock_fprog = fprog;
        if libc::prctl(libc::PR_SET_SECCOMP, libc::SECCOMP_MODE_FILTER, fprog) != 0 {
            fail(spec.errors, Stage::Seccomp);
        }
    }
    libc::execve(spec.program, spec.argv, spec.envp);
    fail(spec.errors, Stage::Exec)
}

/// A box at its memory limit must lose its workload, never its agent: every process the agent
/// starts runs at [`WORKLOAD_OOM_SCORE_ADJ`] (raising a score is always allowed), the agent at
/// -1000 where it may (see [`crate::boot::protect_from_oom`]). Written while the child still
/// holds the agent's capabilities, before the user switch and the drop: with CAP_SYS_RESOURCE
/// the kernel also makes the value the process's floor (`oom_score_adj_min`), so neither it nor
/// anything it forks can lower its score again. On a host that withholds CAP_SYS_RESOURCE (these
/// machines do) there is no floor to set, and a workload may go back down to the agent's 0.
unsafe fn raise_oom_score(errors: RawFd) {
    let fd = libc::open(c"/proc/self/oom_score_adj".as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC);
    if fd < 0 {
        fail(errors, Stage::OomScore);
    }
    let value = WORKLOAD_OOM_SCORE_ADJ.as_bytes();
    let written = libc::write(fd, value.as_ptr().cast(), value.len());
    libc::close(fd);
    if written != value.len() as isize {
        fail(errors, Stage::OomScore);
    }
}

/// Removes every capability the plan marked from the bounding set, so nothing exec'd later can
/// regain it (e.g. through a file capability).
///
/// Safety: child only; prctl is a plain system call (async-signal-safe), no memory is passed.
unsafe fn drop_bounding(spec: &ChildSpec) {
    let privileges = &spec.privileges;
    let mut cap = 0;
    while cap <= privileges.last_cap {
        if privileges.bounding_drop & (1 << cap) != 0
            && prctl(libc::PR_CAPBSET_DROP, libc::c_ulong::from(cap), 0) != 0
        {
            fail(spec.errors, Stage::Bounding);
        }
        cap += 1;
    }
}

/// Sets effective/permitted to the plan's set and inheritable and ambient to empty. Every
/// failure aborts the spawn: a process never runs with the agent's privileges instead.
///
/// Safety: child only; raw system calls on a stack header and the parent's prepared data.
unsafe fn set_capabilities(spec: &ChildSpec) {
    let mut header = Privileges::capset_header();
    // SAFETY (of the call): version 3 reads exactly two data structs, which `spec.capset` is;
    // the header lives on this stack frame. Through syscall(): the libc crate has no capset.
    if libc::syscall(libc::SYS_capset, &mut header as *mut _, spec.capset.as_ptr()) != 0 {
        fail(spec.errors, Stage::Capabilities);
    }
    // Ambient capabilities would survive execve; capset does not touch them (only lowering
    // permitted/inheritable does, implicitly). EINVAL: a kernel before 4.3 has no ambient set,
    // so there is nothing to clear.
    if prctl(libc::PR_CAP_AMBIENT, libc::PR_CAP_AMBIENT_CLEAR_ALL as libc::c_ulong, 0) != 0
        && *libc::__errno_location() != libc::EINVAL
    {
        fail(spec.errors, Stage::Capabilities);
    }
}

/// prctl with every argument passed as a full `unsigned long`: it is variadic, and the kernel
/// rejects PR_SET_NO_NEW_PRIVS and PR_CAP_AMBIENT unless the unused ones are really zero.
unsafe fn prctl(option: libc::c_int, arg2: libc::c_ulong, arg3: libc::c_ulong) -> libc::c_int {
    libc::prctl(option, arg2, arg3, 0 as libc::c_ulong, 0 as libc::c_ulong)
}

/// Default dispositions and an empty mask: ignored signals (the agent ignores SIGPIPE) would
/// survive execve, and the parent blocked everything around the fork.
unsafe fn reset_signals() {
    let mut signal = 1;
    while signal < 65 {
        if signal != libc::SIGKILL && signal != libc::SIGSTOP {
            // Fails harmlessly for numbers the C library reserves.
            libc::signal(signal, libc::SIG_DFL);
        }
        signal += 1;
    }
    let mut empty: libc::sigset_t = std::mem::zeroed();
    libc::sigemptyset(&mut empty);
    libc::sigprocmask(libc::SIG_SETMASK, &empty, std::ptr::null_mut());
}

unsafe fn fail(errors: RawFd, stage: Stage) -> ! {
    let errno = *libc::__errno_location();
    let e = errno.to_ne_bytes();
    let record: [u8; FAILURE_LEN] = [stage as u8, e[0], e[1], e[2], e[3]];
    libc::write(errors, record.as_ptr().cast(), FAILURE_LEN);
    libc::_exit(127)
}
