//! The child's final descriptor table, exactly as the agent expects it: 0 = /dev/null, 1 and
//! 2 = the console pipe (the shim copies it into the box's log), 3 = listener, 4 = readiness,
//! 5 = config, 6 = report, 7 = the OOM-kill counter (or /dev/null); everything else closes on
//! exec.

use std::os::fd::{AsRawFd, OwnedFd, RawFd};

use boxlite_protocol::launch::fds;

use crate::error::{io_cause, StepError};

/// Where the child finds, at clone time, the descriptors the agent gets.
#[derive(Clone, Copy, Debug)]
pub struct Sources {
    /// The console pipe's write end.
    pub console: RawFd,
    /// The listening socket.
    pub listener: RawFd,
    /// The readiness pipe (the shim's stdout).
    pub ready: RawFd,
    /// The config pipe's read end.
    pub config_read: RawFd,
    /// The report pipe's write end.
    pub report_write: RawFd,
    /// The memory cgroup's OOM-kill counter file; `None`: the agent gets /dev/null there.
    pub oom_counter: Option<RawFd>,
}

/// Temporary copies go at or above this number, clear of every target.
const FIRST_TEMP: RawFd = 10;

/// Installs the agent's descriptors; returns where `agent` (the binary to `fexecve`) ended up,
/// close-on-exec.
///
/// Any source may sit on a target number (the listener may be fd 4, say, and `agent` was
/// opened in the child, at whatever number was free), so every source is first copied above
/// all targets, and only then are the targets overwritten.
pub fn install(src: &Sources, agent: OwnedFd) -> Result<RawFd, StepError> {
    let devnull = open_devnull()?;
    let wanted = [
        (devnull, 0),
        (src.console, 1),
        (src.console, 2),
        (src.listener, fds::LISTENER),
        (src.ready, fds::READY),
        (src.config_read, fds::CONFIG),
        (src.report_write, fds::REPORT),
        (src.oom_counter.unwrap_or(devnull), fds::OOM_COUNTER),
    ];
    let mut temps = [0; 8];
    for (temp, (source, target)) in temps.iter_mut().zip(wanted) {
        *temp = dup_above(source).map_err(|e| e.with_step(format!("copy fd for fd {target}")))?;
    }
    let agent_copy = dup_above(agent.as_raw_fd())
        .map_err(|e| e.with_step("copy the guest agent's fd".to_string()))?;
    drop(agent);
    for (temp, (_, target)) in temps.iter().zip(wanted) {
        // SAFETY: dup2 on two descriptor numbers; `temp` is open, `target` is replaced
        // atomically. The new descriptor has FD_CLOEXEC clear, as the agent needs.
        if unsafe { libc::dup2(*temp, target) } < 0 {
            return Err(last_error(format!("install fd {target}")));
        }
    }
    close_rest_on_exec(fds::OOM_COUNTER + 1)?;
    Ok(agent_copy)
}

fn open_devnull() -> Result<RawFd, StepError> {
    // SAFETY: the path is a NUL-terminated literal; the result is checked.
    let fd = unsafe { libc::open(c"/dev/null".as_ptr(), libc::O_RDWR | libc::O_CLOEXEC) };
    if fd < 0 {
        return Err(last_error("open /dev/null in the box".to_string()));
    }
    Ok(fd)
}

/// A close-on-exec copy of `fd` numbered at least [`FIRST_TEMP`].
fn dup_above(fd: RawFd) -> Result<RawFd, StepError> {
    // SAFETY: F_DUPFD_CLOEXEC only creates a new descriptor; the result is checked.
    let copy = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, FIRST_TEMP) };
    if copy < 0 {
        return Err(last_error(String::new()));
    }
    Ok(copy)
}

/// Marks every descriptor from `first` on close-on-exec: whatever the shim had open (the
/// signalfd, the pipes' other ends, the temporaries above) must not reach the box.
fn close_rest_on_exec(first: RawFd) -> Result<(), StepError> {
    // SAFETY: close_range only changes descriptor flags; CLOSE_RANGE_CLOEXEC needs Linux 5.11.
    let rc = unsafe { libc::close_range(first as u32, u32::MAX, libc::CLOSE_RANGE_CLOEXEC as i32) };
    if rc == 0 {
        return Ok(());
    }
    // Older kernels: walk the open descriptors (the box's /proc is mounted by now).
    let entries = std::fs::read_dir("/proc/self/fd")
        .map_err(|e| StepError::new("list open fds", io_cause(&e)))?;
    for entry in entries.flatten() {
        let Some(fd) = entry.file_name().to_str().and_then(|n| n.parse::<RawFd>().ok()) else {
            continue;
        };
        if fd >= first {
            // SAFETY: sets FD_CLOEXEC on a descriptor number; a stale number (the directory
            // handle itself) only yields EBADF, which is ignored.
            unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) };
        }
    }
    Ok(())
}

fn last_error(step: String) -> StepError {
    StepError::new(step, io_cause(&std::io::Error::last_os_error()))
}
