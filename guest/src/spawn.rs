//! Starting a process: raw `fork` + `execve`, registered with the central reaper.
//!
//! Not `std::process::Command` nor tokio's process module: both wait for their child with
//! `waitpid(pid)`, which races the reaper's `waitpid(-1)` (std even panics when its wait after
//! a failed exec gets ECHILD).

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::sync::Arc;

use libc::c_char;
use tokio::io::AsyncReadExt;
use tokio::net::unix::pipe;
use tokio::sync::oneshot;

use crate::caps::Privileges;
use crate::child::{self, ChildSpec, RawCredentials, Stage, FAILURE_LEN};
use crate::output::{Kind, Source};
use crate::pty::{self, Master, WindowSize};
use crate::reaper::{ExitStatus, Reaper, RegisterError};
use crate::users::Credentials;

/// A fully resolved command, ready to fork: nothing in it can fail in the child except the
/// system calls themselves.
#[derive(Debug)]
pub struct Plan {
    /// What `execve` gets: absolute, or relative to `cwd`.
    pub program: CString,
    pub argv: Vec<CString>,
    /// `NAME=value` entries.
    pub env: Vec<CString>,
    pub cwd: CString,
    /// `None`: keep the agent's identity.
    pub credentials: Option<Credentials>,
    /// Give the process a stdin pipe (else /dev/null). Ignored with `tty`.
    pub stdin: bool,
    /// Run on a new pseudo-terminal of this size instead of pipes (see [`crate::pty`]).
    pub tty: Option<WindowSize>,
    /// The capabilities it keeps (see [`crate::caps`]).
    pub privileges: Privileges,
    /// Its `RLIMIT_NOFILE` (soft, hard); `None` inherits the agent's.
    pub nofile: Option<[u64; 2]>,
}

/// A started process. Its exit status arrives on `exit` from the reaper.
pub struct Process {
    pub pid: libc::pid_t,
    pub exit: oneshot::Receiver<ExitStatus>,
    pub input: Option<Input>,
    /// What to read its output from, each with the stream it becomes.
    pub outputs: Vec<(Source, Kind)>,
}

/// Where a process's input is written.
pub enum Input {
    Pipe(OwnedFd),
    /// Its terminal, which is also its output and can be resized.
    Terminal(Arc<Master>),
}

/// Why a process did not start.
#[derive(Debug, thiserror::Error)]
pub enum SpawnError {
    #[error("creating pipes: {0}")]
    Pipes(io::Error),
    #[error("opening a terminal: {0}")]
    Terminal(io::Error),
    #[error(transparent)]
    Register(#[from] RegisterError),
    #[error("waiting for the child to exec: {0}")]
    Handshake(io::Error),
    #[error("child setup failed at {stage:?}: {}", io::Error::from_raw_os_error(*errno))]
    Child { stage: Stage, errno: i32 },
}

/// Forks and execs `plan`; returns once `execve` succeeded (or the child reported why not).
pub async fn spawn(reaper: &Reaper, plan: &Plan) -> Result<Process, SpawnError> {
    let (forked, failures) = fork(reaper, plan)?;
    let mut failures = pipe::Receiver::from_owned_fd(failures).map_err(SpawnError::Handshake)?;
    let mut record = Vec::with_capacity(FAILURE_LEN);
    failures.read_to_end(&mut record).await.map_err(SpawnError::Handshake)?;
    if record.is_empty() {
        return Ok(forked);
    }
    // The child has _exit(127)ed or is about to; its registration is reaped like any other.
    let stage = record.first().copied().and_then(Stage::from_byte).unwrap_or(Stage::Setup);
    let errno = match record.get(1..FAILURE_LEN) {
        Some(&[a, b, c, d]) => i32::from_ne_bytes([a, b, c, d]),
        _ => libc::EIO,
    };
    Err(SpawnError::Child { stage, errno })
}

/// The synchronous part: pipes or terminal, pointer arrays, fork. Returns the process and the
/// read end of the error pipe.
fn fork(reaper: &Reaper, plan: &Plan) -> Result<(Process, OwnedFd), SpawnError> {
    let Stdio { child: child_fds, child_stdio, input, outputs } = match plan.tty {
        Some(size) => terminal_stdio(plan, size)?,
        None => pipe_stdio(plan.stdin).map_err(SpawnError::Pipes)?,
    };
    let (failures_r, failures_w) = crate::sys::pipe().map_err(SpawnError::Pipes)?;

    let argv = null_terminated(&plan.argv);
    let envp = null_terminated(&plan.env);
    let spec = ChildSpec {
        program: plan.program.as_ptr(),
        argv: argv.as_ptr(),
        envp: envp.as_ptr(),
        cwd: plan.cwd.as_ptr(),
        credentials: plan.credentials.as_ref().map(|c| RawCredentials {
            uid: c.uid,
            gid: c.gid,
            groups: c.groups.as_ptr(),
            groups_len: c.groups.len(),
            set_groups: !setgroups_denied(),
        }),
        stdio: child_stdio,
        terminal: plan.tty.is_some(),
        errors: failures_w.as_raw_fd(),
        privileges: plan.privileges,
        capset: plan.privileges.capset_data(),
        // SAFETY: geteuid cannot fail. An agent that is not root is non-dumpable without
        // privilege: its children's /proc/self files are root's, so the write would fail —
        // and such an agent runs no cgroup-limited box anyway.
        raise_oom_score: unsafe { libc::geteuid() } == 0,
        nofile: plan.nofile.map(|[soft, hard]| libc::rlimit { rlim_cur: soft, rlim_max: hard }),
        seccomp: crate::seccomp::profile(),
    };
    let (pid, exit) = reaper.register_fork(|| fork_child(&spec))?;
    if plan.tty.is_none() {
        // SAFETY: setpgid has no memory-safety preconditions. Mirrors the child's own call so
        // a signal sent right after this returns reaches the group; EACCES once the child has
        // exec'd is expected and harmless. Not for a terminal: the child's setsid fails once
        // it leads a group, and spawn returns only after its exec, so the session exists by
        // then.
        unsafe { libc::setpgid(pid, pid) };
    }
    // Only the child keeps these: EOF on the pipes (EIO on the terminal) must mean the process
    // side closed them.
    drop((child_fds, failures_w));
    Ok((Process { pid, exit, input, outputs }, failures_r))
}

/// Descriptors of one spawn: what the child gets as 0, 1 and 2 (owned by `child`, closed in
/// the parent after the fork) and what the agent keeps.
struct Stdio {
    child: Vec<OwnedFd>,
    child_stdio: [RawFd; 3],
    input: Option<Input>,
    outputs: Vec<(Source, Kind)>,
}

fn pipe_stdio(stdin: bool) -> io::Result<Stdio> {
    let (stdout_r, stdout_w) = crate::sys::pipe()?;
    let (stderr_r, stderr_w) = crate::sys::pipe()?;
    let (input, stdin_child) = if stdin {
        let (r, w) = crate::sys::pipe()?;
        (Some(Input::Pipe(w)), r)
    } else {
        (None, null_stdin()?)
    };
    Ok(Stdio {
        child_stdio: [stdin_child.as_raw_fd(), stdout_w.as_raw_fd(), stderr_w.as_raw_fd()],
        child: vec![stdin_child, stdout_w, stderr_w],
        input,
        outputs: vec![
            (Source::Pipe(stdout_r), Kind::Stdout),
            (Source::Pipe(stderr_r), Kind::Stderr),
        ],
    })
}

/// A terminal: the slave side is all three of the child's descriptors, so everything the
/// process prints comes back through the master as stdout.
fn terminal_stdio(plan: &Plan, size: WindowSize) -> Result<Stdio, SpawnError> {
    let pty::Pair { master, slave } = pty::open(size).map_err(SpawnError::Terminal)?;
    // SAFETY: geteuid cannot fail.
    let euid = unsafe { libc::geteuid() };
    // An agent that is not root cannot switch users either: the child reports that (as
    // PERMISSION_DENIED) rather than the chown.
    if let Some(creds) = plan.credentials.as_ref().filter(|c| euid == 0 && c.uid != 0) {
        pty::give_to(&slave, creds.uid).map_err(SpawnError::Terminal)?;
    }
    let master = Arc::new(Master::new(master).map_err(SpawnError::Terminal)?);
    Ok(Stdio {
        child_stdio: [slave.as_raw_fd(); 3],
        child: vec![slave],
        input: Some(Input::Terminal(Arc::clone(&master))),
        outputs: vec![(Source::Terminal(master), Kind::Stdout)],
    })
}

fn fork_child(spec: &ChildSpec) -> io::Result<libc::pid_t> {
    // SAFETY: sigset manipulation on local values; fork's child only runs `child::exec`, which
    // restricts itself to async-signal-safe calls on data prepared above.
    unsafe {
        // No signal handler of ours may run in the child before it resets the dispositions.
        let mut all: libc::sigset_t = std::mem::zeroed();
        let mut old: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut all);
        libc::pthread_sigmask(libc::SIG_SETMASK, &all, &mut old);
        let pid = libc::fork();
        if pid == 0 {
            child::exec(spec);
        }
        let err = io::Error::last_os_error();
        libc::pthread_sigmask(libc::SIG_SETMASK, &old, std::ptr::null_mut());
        if pid < 0 {
            Err(err)
        } else {
            Ok(pid)
        }
    }
}

fn null_terminated(strings: &[CString]) -> Vec<*const c_char> {
    strings.iter().map(|s| s.as_ptr()).chain(std::iter::once(std::ptr::null())).collect()
}

/// /dev/null, or in an image without one, a pipe whose write end is already closed (reads EOF
/// all the same).
fn null_stdin() -> io::Result<OwnedFd> {
    match crate::sys::open_dev_null() {
        Ok(fd) => Ok(fd),
        Err(_) => Ok(crate::sys::pipe()?.0),
    }
}

/// Whether the box's user namespace denies `setgroups` (a rootless box: the kernel requires it
/// of a gid map written by a non-root user). Its processes then keep the agent's groups, as
/// they must; read once, the answer never changes for the namespace.
fn setgroups_denied() -> bool {
    static DENIED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *DENIED.get_or_init(|| {
        use std::io::Read;
        let mut text = String::new();
        // A kernel file of one word ("allow" or "deny"), read bounded all the same.
        let read = std::fs::File::open("/proc/self/setgroups")
            .and_then(|f| f.take(16).read_to_string(&mut text));
        read.is_ok() && text.trim() == "deny"
    })
}
