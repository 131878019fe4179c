//! Advisory file locks between processes sharing a home: one per box, held by every lifecycle
//! transition so two processes cannot, say, start the same box twice; and one around opening
//! the database.

use std::fs::{File, OpenOptions};
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use crate::error::{Error, Result};
use crate::home::Home;

/// An exclusive `flock`, released on drop.
#[derive(Debug)]
pub(crate) struct FileLock {
    _file: File,
}

impl FileLock {
    /// Blocks until the lock on `path` (created if missing) is held.
    pub(crate) fn acquire(path: &Path, what: &str) -> Result<Self> {
        Self::acquire_mode(path, what, libc::LOCK_EX)
    }

    /// Blocks until a shared hold of the lock on `path` is granted: many holders at once,
    /// none while someone holds it exclusively.
    pub(crate) fn acquire_shared(path: &Path, what: &str) -> Result<Self> {
        Self::acquire_mode(path, what, libc::LOCK_SH)
    }

    fn acquire_mode(path: &Path, what: &str, mode: libc::c_int) -> Result<Self> {
        let file = open(path)?;
        loop {
            // SAFETY: flock on a descriptor we own.
            if unsafe { libc::flock(file.as_raw_fd(), mode) } == 0 {
                return Ok(FileLock { _file: file });
            }
            let err = std::io::Error::last_os_error();
            if err.kind() != std::io::ErrorKind::Interrupted {
                return Err(Error::io(format!("lock {what}"), err));
            }
        }
    }

    /// The lock of box `id` if nobody holds it (another process mid-transition does).
    pub(crate) fn try_for_box(home: &Home, id: &str) -> Result<Option<Self>> {
        let path = home.box_lock_path(id);
        let file = open(&path)?;
        // SAFETY: flock on a descriptor we own.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0 {
            return Ok(Some(FileLock { _file: file }));
        }
        let err = std::io::Error::last_os_error();
        if err.raw_os_error() == Some(libc::EWOULDBLOCK) {
            return Ok(None);
        }
        Err(Error::io(format!("lock box {id}"), err))
    }

    /// The lock of box `id`. Callers must re-read the box after acquiring it: a remover may
    /// have deleted the record while they waited.
    pub(crate) fn for_box(home: &Home, id: &str) -> Result<Self> {
        Self::acquire(&home.box_lock_path(id), &format!("box {id}"))
    }
}

fn open(path: &Path) -> Result<File> {
    OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(0o600)
        .custom_flags(libc::O_CLOEXEC)
        .open(path)
        .map_err(|e| Error::io(format!("open lock {}", path.display()), e))
}
