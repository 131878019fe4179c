//! The guest agent's binary: one copy on the host, executed read-only by every box.
//!
//! What must hold (CVE-2019-5736 is the runc case of it): nothing in a box can modify the
//! agent binary that other boxes and the host execute. A sealed memfd copy per box gives that,
//! but costs the binary's size (about 3 MiB) of unreclaimable shared memory per box. Instead,
//! the box's PID 1 executes the host's file itself, so every box maps the same page-cache
//! pages, through a read-only bind mount of it that no path in the box leads to:
//!
//! - the bind is made in the box's private mount namespace, over the binary's own host path,
//!   before `pivot_root`; detaching the old root then detaches it too, before anything else
//!   runs in the box. Only the open descriptor, and then the running agent's `exe`, pin it;
//! - that mount is read-only, so any change made through the agent's `exe` fails with EROFS
//!   (a chmod, a truncate, an xattr), and the file is being executed, so a write open of it
//!   fails with ETXTBSY, through any path;
//! - a box process cannot even open `/proc/1/exe`: the agent is non-dumpable
//!   (guest/src/boot.rs) and holds capabilities box processes lack, either of which fails the
//!   kernel's ptrace access check; and no box process has CAP_SYS_ADMIN to mount anything.
//!
//! ETXTBSY alone would not do: it stops write opens only, not a chmod (setuid bits, say),
//! utimes or xattrs. The read-only mount stops them all.
//!
//! core/tests/agent_binary.rs attacks each of these from inside a real box.

use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use nix::fcntl::{open, OFlag};
use nix::mount::{mount, MsFlags};
use nix::sys::stat::Mode;
use nix::sys::statvfs::{fstatvfs, FsFlags};

use crate::error::{Step, StepError};

/// The host's agent binary, as the shim found it before `clone`.
#[derive(Debug)]
pub struct HostBinary {
    /// Canonical host path: the child binds over exactly this path.
    path: PathBuf,
}

/// In the shim: finds the agent binary, so a missing one fails before the box exists.
pub fn find(guest: &Path) -> Result<HostBinary, StepError> {
    let step = || format!("open guest agent {}", guest.display());
    let path = guest.canonicalize().step(step)?;
    if !path.metadata().step(step)?.is_file() {
        return Err(StepError::new(step(), "not a regular file"));
    }
    Ok(HostBinary { path })
}

/// In the child, in its private mount namespace and before `pivot_root`: binds the binary
/// read-only over its host path and returns an `O_PATH` descriptor of it on that mount, for
/// `fexecve`. Mounts must already be private: the bind must not propagate to the host.
pub fn bind_read_only(host: &HostBinary) -> Result<OwnedFd, StepError> {
    let path = host.path.as_path();
    let shown = path.display();
    mount(Some(path), path, None::<&str>, MsFlags::MS_BIND, None::<&str>)
        .step(|| format!("bind guest agent {shown}"))?;
    // A bind inherits the source's flags; only a remount changes them. NOEXEC stays off.
    let flags = MsFlags::MS_REMOUNT
        | MsFlags::MS_BIND
        | MsFlags::MS_RDONLY
        | MsFlags::MS_NOSUID
        | MsFlags::MS_NODEV;
    mount(None::<&str>, path, None::<&str>, flags, None::<&str>)
        .step(|| format!("remount guest agent {shown} read-only"))?;
    let file = open(path, OFlag::O_PATH | OFlag::O_CLOEXEC, Mode::empty())
        .step(|| format!("open guest agent {shown} on its read-only bind"))?;
    // The exec goes through this descriptor, so the box's protection rests on its mount being
    // read-only: checked, not assumed.
    let read_only = fstatvfs(&file)
        .step(|| format!("inspect the bind of guest agent {shown}"))?
        .flags()
        .contains(FsFlags::ST_RDONLY);
    if !read_only {
        return Err(StepError::new(
            format!("bind guest agent {shown} read-only"),
            "the mount is writable",
        ));
    }
    Ok(file)
}
