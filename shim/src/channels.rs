//! The two pipes between the shim and the agent besides the socket: the agent's configuration
//! (shim → agent, fd 5) and its final report (agent → shim, fd 6).

use std::os::fd::{AsFd, OwnedFd};

use nix::fcntl::{fcntl, FcntlArg, OFlag};
use nix::unistd::pipe2;

use crate::error::{Step, StepError};

/// Both pipes; every end is close-on-exec until the child places its two ends at fds 5 and 6.
#[derive(Debug)]
pub struct Channels {
    /// The agent's fd 5.
    pub config_read: OwnedFd,
    /// The shim writes the `GuestConfig` JSON here, non-blocking, from its event loop: a
    /// config larger than the pipe buffer must not block the shim while the agent is still
    /// being set up (or has died).
    pub config_write: OwnedFd,
    /// The shim reads the `GuestReport` here, non-blocking, from its event loop.
    pub report_read: OwnedFd,
    /// The agent's fd 6.
    pub report_write: OwnedFd,
}

/// Creates both pipes.
pub fn open() -> Result<Channels, StepError> {
    let (config_read, config_write) =
        pipe2(OFlag::O_CLOEXEC).step(|| "create config pipe".to_string())?;
    let (report_read, report_write) =
        pipe2(OFlag::O_CLOEXEC).step(|| "create report pipe".to_string())?;
    // O_NONBLOCK is per open file description, and each end of a pipe has its own, so the
    // agent's ends stay blocking.
    set_nonblocking(&config_write).step(|| "make config pipe non-blocking".to_string())?;
    set_nonblocking(&report_read).step(|| "make report pipe non-blocking".to_string())?;
    Ok(Channels { config_read, config_write, report_read, report_write })
}

fn set_nonblocking(fd: &impl AsFd) -> nix::Result<()> {
    let flags = OFlag::from_bits_truncate(fcntl(fd.as_fd(), FcntlArg::F_GETFL)?);
    fcntl(fd.as_fd(), FcntlArg::F_SETFL(flags | OFlag::O_NONBLOCK))?;
    Ok(())
}
