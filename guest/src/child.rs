//! The child side of a spawn, between `fork` and `execve`.
//!
//! The agent is multi-threaded (the reaper thread), so after `fork` only async-signal-safe calls
//! are allowed: no allocation, no locks, no panics. Everything is prepared by the parent as raw
//! pointers; a failure is written as (stage, errno) to a close-on-exec pipe that the parent
//! reads: EOF there means `execve` succeeded.

use std::os::fd::RawFd;

use libc::{c_char, gid_t, uid_t};

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
            _ => return None,
        })
    }
}

/// Size of a failure record on the error pipe: the stage byte and the errno.
pub const FAILURE_LEN: usize = 5;

/// Identity switch, borrowed from the parent's prepared data.
pub struct RawCredentials {
    pub uid: uid_t,
    pub gid: gid_t,
    pub groups: *const gid_t,
    pub groups_len: usize,
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
    /// Write end of the error pipe.
    pub errors: RawFd,
}

/// Sets the child up and execs. Never returns.
///
/// # Safety
/// Must only be called in the child right after `fork`, with every pointer in `spec` valid.
pub unsafe fn exec(spec: &ChildSpec) -> ! {
    // Own process group, so a timeout or signal reaches everything the command forks. The
    // parent makes the same call, so neither order of the two races.
    if libc::setpgid(0, 0) != 0 {
        fail(spec.errors, Stage::Setup);
    }
    reset_signals();
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
    if let Some(creds) = &spec.credentials {
        if libc::setgroups(creds.groups_len, creds.groups) != 0 {
            fail(spec.errors, Stage::Groups);
        }
        if libc::setgid(creds.gid) != 0 {
            fail(spec.errors, Stage::Gid);
        }
        if libc::setuid(creds.uid) != 0 {
            fail(spec.errors, Stage::Uid);
        }
    }
    if libc::chdir(spec.cwd) != 0 {
        fail(spec.errors, Stage::Chdir);
    }
    libc::execve(spec.program, spec.argv, spec.envp);
    fail(spec.errors, Stage::Exec)
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
