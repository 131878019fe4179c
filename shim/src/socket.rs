//! The agent's listening socket, bound by the shim in the host's mount namespace.
//!
//! The agent gets the listening descriptor (fd 3), never the path: the path lives in the box
//! dir on the host, outside the box's rootfs, so nothing in the box can connect to it (a
//! non-root process in the box could otherwise ask the agent to run commands as root).

use std::fs;
use std::io;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};

use nix::sys::stat::{umask, Mode};

use crate::error::{Step, StepError};

/// The socket file this shim created, removed when the box is over.
#[derive(Debug)]
pub struct SocketFile {
    path: PathBuf,
    dev: u64,
    ino: u64,
}

/// Binds and listens on `path` with mode 0600, replacing a stale socket from an earlier run.
pub fn bind(path: &Path) -> Result<(UnixListener, SocketFile), StepError> {
    let shown = path.display();
    match fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_socket() => {
            fs::remove_file(path).step(|| format!("remove stale socket {shown}"))?;
        }
        Ok(_) => {
            return Err(StepError::new(
                format!("bind socket {shown}"),
                "the path exists and is not a socket",
            ))
        }
        Err(err) if err.kind() == io::ErrorKind::NotFound => {}
        Err(err) => return Err(err).step(|| format!("inspect socket path {shown}")),
    }
    // bind() creates the file with the mode the umask leaves; narrowing the umask around it
    // avoids a window in which the socket is reachable by others. The shim has one thread, so
    // the process-wide umask change is safe.
    let old = umask(Mode::from_bits_truncate(0o177));
    let bound = UnixListener::bind(path);
    umask(old);
    let listener = bound.step(|| format!("bind socket {shown}"))?;
    let meta = fs::symlink_metadata(path).step(|| format!("inspect socket {shown}"))?;
    Ok((listener, SocketFile { path: path.to_path_buf(), dev: meta.dev(), ino: meta.ino() }))
}

impl SocketFile {
    /// Removes the socket file if it is still the one this shim bound (a later run of the same
    /// box may have replaced it).
    pub fn remove(&self) -> Result<(), StepError> {
        let shown = self.path.display();
        match fs::symlink_metadata(&self.path) {
            Ok(meta) if meta.dev() == self.dev && meta.ino() == self.ino => {
                fs::remove_file(&self.path).step(|| format!("remove socket {shown}"))
            }
            Ok(_) => Ok(()),
            Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(err) => Err(err).step(|| format!("inspect socket {shown}")),
        }
    }
}
