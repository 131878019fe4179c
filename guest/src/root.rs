//! The box's root filesystem as planning sees it: one directory descriptor, against which every
//! lookup is resolved without ever leaving it.
//!
//! In production the root is `/` (the agent runs inside the box), where staying inside changes
//! nothing. It is a parameter so that the fuzz target (see [`crate::fuzzing`]) can plan against
//! a hostile root it built in a scratch directory: there, a symbolic link to `../..` or to an
//! absolute path must mean the root's own files, as it does for the box.

use std::ffi::CString;
use std::fs::{File, Metadata};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// An open root directory (an `O_PATH` handle: it grants no reads by itself).
pub struct BoxRoot {
    fd: OwnedFd,
    /// Where the root is in the agent's own view; `/` in production.
    path: PathBuf,
}

/// How a path is resolved under the root, on top of staying inside it.
#[derive(Clone, Copy)]
pub enum Resolve {
    /// As the kernel resolves the box's own `execve` and `chdir`: mounts inside the box
    /// (volumes, `/proc`) may be crossed.
    Box,
    /// For files the agent reads with all its privileges: never into another mount (such as
    /// `/proc`, `/sys` or `/dev`), and no `/proc` magic link.
    SameMount,
}

impl BoxRoot {
    /// Opens `path` as the root.
    pub fn open(path: &Path) -> io::Result<Self> {
        let c_path = c_path(path.as_os_str().as_bytes())?;
        // SAFETY: a valid NUL-terminated path; O_PATH opens nothing but a handle.
        let fd = unsafe {
            libc::open(c_path.as_ptr(), libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC)
        };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: open succeeded; the descriptor is ours.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        Ok(BoxRoot { fd, path: path.to_owned() })
    }

    /// The agent's own root, which production plans against.
    pub fn system() -> io::Result<Self> {
        Self::open(Path::new("/"))
    }

    /// Opens `path` (absolute or relative, both meaning inside the root) with `flags`;
    /// `None` when it does not exist. `..` and symbolic links, absolute ones included, are
    /// resolved as if the root were `/` (openat2 with RESOLVE_IN_ROOT, Linux 5.6).
    ///
    /// On a kernel without openat2 only the agent's own root can be used (a plain open from
    /// `/` is the same lookup there); any other root is refused rather than escaped.
    pub fn open_at(
        &self,
        path: &Path,
        flags: i32,
        resolve: Resolve,
    ) -> io::Result<Option<OwnedFd>> {
        let bytes = path.as_os_str().as_bytes();
        let relative = c_path(&bytes[bytes.iter().take_while(|&&b| b == b'/').count()..])?;
        // An empty path names the root itself, which openat2 only opens with AT_EMPTY_PATH.
        let relative = if relative.as_bytes().is_empty() { c".".to_owned() } else { relative };
        let flags = flags | libc::O_CLOEXEC;
        let system = self.path == Path::new("/");
        if system && matches!(resolve, Resolve::Box) {
            // Nothing is outside `/`, and RESOLVE_IN_ROOT would refuse `/proc` magic links
            // (`/proc/self/cwd` as a working directory), which the box's own chdir and execve
            // follow: a plain lookup is the one the process will make.
            // SAFETY: a valid NUL-terminated path and a descriptor we own.
            let fd = unsafe { libc::openat(self.fd.as_raw_fd(), relative.as_ptr(), flags) };
            return owned(fd);
        }
        // SAFETY: open_how is plain integers, for which all zeroes is valid (and the kernel
        // wants unused fields zero). Filled field by field: the libc crate marks it
        // non-exhaustive.
        let mut how: libc::open_how = unsafe { std::mem::zeroed() };
        how.flags = flags as u64;
        how.resolve = libc::RESOLVE_IN_ROOT
            | match resolve {
                Resolve::Box => 0,
                Resolve::SameMount => libc::RESOLVE_NO_XDEV | libc::RESOLVE_NO_MAGICLINKS,
            };
        // SAFETY: openat2 reads `size_of::<open_how>()` bytes of `how` and the NUL-terminated
        // path.
        let mut fd = unsafe {
            libc::syscall(
                libc::SYS_openat2,
                self.fd.as_raw_fd(),
                relative.as_ptr(),
                &how as *const libc::open_how,
                std::mem::size_of::<libc::open_how>(),
            )
        } as libc::c_int;
        if fd < 0 && crate::sys::errno() == libc::ENOSYS {
            if !system {
                return Err(io::Error::from_raw_os_error(libc::ENOSYS));
            }
            // SAFETY: as above, with openat's arguments.
            fd = unsafe { libc::openat(self.fd.as_raw_fd(), relative.as_ptr(), flags) };
        }
        owned(fd)
    }

    /// What `stat(path)` says inside the root, following symbolic links. The file is opened
    /// with O_PATH only: no FIFO, device or terminal is opened for real, so this never
    /// blocks on one, and it needs no read permission, as stat needs none.
    pub fn metadata(&self, path: impl AsRef<Path>) -> io::Result<Metadata> {
        match self.open_at(path.as_ref(), libc::O_PATH, Resolve::Box)? {
            Some(fd) => File::from(fd).metadata(),
            None => Err(io::Error::from_raw_os_error(libc::ENOENT)),
        }
    }
}

/// The result of an open that returned `fd`: `None` for ENOENT.
fn owned(fd: libc::c_int) -> io::Result<Option<OwnedFd>> {
    if fd < 0 {
        let err = io::Error::last_os_error();
        return match err.raw_os_error() {
            Some(libc::ENOENT) => Ok(None),
            _ => Err(err),
        };
    }
    // SAFETY: the open succeeded; the descriptor is ours.
    Ok(Some(unsafe { OwnedFd::from_raw_fd(fd) }))
}

fn c_path(bytes: &[u8]) -> io::Result<CString> {
    // A path with a NUL in it names nothing; the kernel would say so with EINVAL too.
    CString::new(bytes).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::MetadataExt;

    use super::*;

    #[test]
    fn links_and_dotdot_stay_in_the_root() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path().join("root");
        std::fs::create_dir_all(root.join("bin")).expect("mkdir");
        std::fs::write(dir.path().join("secret"), "outside").expect("write");
        std::fs::write(root.join("bin/tool"), "inside").expect("write");
        std::os::unix::fs::symlink("../../secret", root.join("bin/up")).expect("link");
        std::os::unix::fs::symlink("/bin/tool", root.join("abs")).expect("link");
        let root = BoxRoot::open(&root).expect("open");
        assert!(root.metadata("/bin/up").is_err(), "../../secret is the root's /secret");
        assert!(root.metadata("/../secret").is_err());
        assert_eq!(root.metadata("/abs").expect("abs").len(), 6);
        assert_eq!(root.metadata("/../../bin/tool").expect("clamped").len(), 6);
        assert!(root.metadata("/").expect("root").is_dir());
        assert!(root.metadata("").expect("root").is_dir());
    }

    #[test]
    fn the_system_root_stats_as_stat_does() {
        let system = BoxRoot::system().expect("open /");
        // A magic link, which RESOLVE_IN_ROOT refuses: production must still follow it.
        let exe = system.metadata("/proc/self/exe").expect("/proc/self/exe");
        let expected = std::fs::metadata("/proc/self/exe").expect("stat");
        assert_eq!((exe.dev(), exe.ino()), (expected.dev(), expected.ino()));
        assert!(system.metadata("/proc/self/cwd").expect("cwd").is_dir());
    }
}
