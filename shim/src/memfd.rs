//! The guest agent's sealed in-memory copy.
//!
//! As runc does since CVE-2019-5736: the agent runs from a sealed memfd, so `/proc/1/exe` inside
//! the box names an anonymous, immutable file instead of the host's binary, which a process in
//! the box could otherwise open and overwrite.

use std::fs::File;
use std::io;
use std::os::fd::OwnedFd;
use std::path::Path;

use nix::fcntl::{fcntl, FcntlArg, SealFlag};
use nix::sys::memfd::{memfd_create, MFdFlags};

use crate::error::{Step, StepError};

/// Copies `guest` into a close-on-exec memfd and seals it against any change.
pub fn sealed_copy(guest: &Path) -> Result<OwnedFd, StepError> {
    let shown = guest.display();
    let mut source = File::open(guest).step(|| format!("open guest agent {shown}"))?;
    let memfd = memfd_create(c"boxlite-guest", MFdFlags::MFD_CLOEXEC | MFdFlags::MFD_ALLOW_SEALING)
        .step(|| "create guest agent memfd".to_string())?;
    let mut copy = File::from(memfd);
    // io::copy uses copy_file_range/sendfile between two files: no userspace buffer.
    io::copy(&mut source, &mut copy).step(|| format!("copy guest agent {shown} into a memfd"))?;
    let seals = SealFlag::F_SEAL_SHRINK
        | SealFlag::F_SEAL_GROW
        | SealFlag::F_SEAL_WRITE
        | SealFlag::F_SEAL_SEAL;
    fcntl(&copy, FcntlArg::F_ADD_SEALS(seals)).step(|| "seal guest agent memfd".to_string())?;
    Ok(OwnedFd::from(copy))
}
