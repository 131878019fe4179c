//! The box's console: a pipe whose write end is the agent's stdout and stderr (and, until it
//! executes, the box's PID 1's lines), and whose read end the shim's event loop copies into
//! the bounded box log.
//!
//! A pipe rather than the log file itself: only the shim can then bound what reaches the disk,
//! and a box that writes faster than the disk takes it fills the pipe and waits in `write`,
//! which slows the box's output and nothing else.

use std::os::fd::{AsFd, OwnedFd};

use nix::errno::Errno;
use nix::fcntl::{fcntl, FcntlArg, OFlag};
use nix::unistd::{pipe2, read};

use crate::error::{Step, StepError};
use crate::log;

/// Largest read from the pipe in one call.
const CHUNK_BYTES: usize = 64 * 1024;

/// Both ends; close-on-exec until the child installs the write end as the agent's fds 1 and 2.
#[derive(Debug)]
pub struct Console {
    /// The shim's end, non-blocking (read from the event loop).
    pub read: OwnedFd,
    /// The agent's end, blocking: the box waits when the pipe is full.
    pub write: OwnedFd,
}

/// Creates the pipe.
pub fn open() -> Result<Console, StepError> {
    let (read, write) = pipe2(OFlag::O_CLOEXEC).step(|| "create console pipe".to_string())?;
    // O_NONBLOCK is per open file description, and each end of a pipe has its own.
    let flags = fcntl(read.as_fd(), FcntlArg::F_GETFL)
        .map(OFlag::from_bits_truncate)
        .step(|| "read console pipe flags".to_string())?;
    fcntl(read.as_fd(), FcntlArg::F_SETFL(flags | OFlag::O_NONBLOCK))
        .step(|| "make console pipe non-blocking".to_string())?;
    Ok(Console { read, write })
}

/// Copies what the pipe holds into the box log, at most about `max_bytes` (so a flood cannot
/// keep the event loop from its other descriptors); false once the pipe is at EOF or broken
/// (no writer is left).
pub fn copy(read_end: &OwnedFd, max_bytes: usize) -> bool {
    let mut buf = vec![0u8; CHUNK_BYTES];
    let mut copied = 0;
    // Bounded: every round reads at least one byte towards `max_bytes`, or returns.
    while copied < max_bytes {
        match read(read_end.as_fd(), &mut buf) {
            Ok(0) => return false,
            Ok(n) => {
                log::console(&buf[..n]);
                copied += n;
            }
            Err(Errno::EINTR) => continue,
            Err(Errno::EAGAIN) => return true,
            Err(_) => return false,
        }
    }
    true
}
