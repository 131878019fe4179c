//! The new mount API calls the box setup needs (`open_tree`, `mount_setattr`, `move_mount`),
//! as thin wrappers: the libc crate has their syscall numbers but neither flags nor structs.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use crate::error::{io_cause, StepError};

// linux/mount.h.
const OPEN_TREE_CLONE: libc::c_uint = 1;
pub const MOUNT_ATTR_RDONLY: u64 = 0x0000_0001;
pub const MOUNT_ATTR_NOSUID: u64 = 0x0000_0002;
pub const MOUNT_ATTR_NODEV: u64 = 0x0000_0004;
const MOUNT_ATTR_IDMAP: u64 = 0x0010_0000;
const MOVE_MOUNT_F_EMPTY_PATH: libc::c_uint = 0x04;
const MOVE_MOUNT_T_EMPTY_PATH: libc::c_uint = 0x40;

/// `struct mount_attr`.
#[repr(C)]
struct MountAttr {
    attr_set: u64,
    attr_clr: u64,
    propagation: u64,
    userns_fd: u64,
}

fn c_path(path: &Path, step: &str) -> Result<CString, StepError> {
    CString::new(path.as_os_str().as_bytes())
        .map_err(|_| StepError::new(step, "path has a NUL byte"))
}

fn last_error(step: String) -> StepError {
    StepError::new(step, io_cause(&io::Error::last_os_error()))
}

/// A detached copy of the mount at `path` (with the mounts under it when `recursive`), rooted
/// at `path`.
pub fn clone_tree(path: &Path, recursive: bool) -> Result<OwnedFd, StepError> {
    let step = || format!("clone the mount of {}", path.display());
    let c_path = c_path(path, &step())?;
    let mut flags = OPEN_TREE_CLONE | libc::O_CLOEXEC as libc::c_uint;
    if recursive {
        flags |= libc::AT_RECURSIVE as libc::c_uint;
    }
    // SAFETY: open_tree with a NUL-terminated path; the result is checked.
    let raw = unsafe { libc::syscall(libc::SYS_open_tree, libc::AT_FDCWD, c_path.as_ptr(), flags) };
    if raw < 0 {
        return Err(last_error(step()));
    }
    // SAFETY: open_tree returned a new descriptor, owned from here on.
    Ok(unsafe { OwnedFd::from_raw_fd(raw as RawFd) })
}

/// Makes the detached `tree` idmapped through the user namespace `userns`. The errno is
/// returned as it is: EINVAL is the kernel's answer for a filesystem without idmapped mounts,
/// which the caller explains.
pub fn set_idmap(tree: &OwnedFd, userns: BorrowedFd<'_>, recursive: bool) -> Result<(), io::Error> {
    let attr = MountAttr {
        attr_set: MOUNT_ATTR_IDMAP,
        attr_clr: 0,
        propagation: 0,
        userns_fd: userns.as_raw_fd() as u64,
    };
    set_attr(tree, &attr, recursive)
}

/// Sets the `MOUNT_ATTR_*` flags `flags` on `tree` (and the mounts under it when `recursive`).
pub fn set_flags(tree: &OwnedFd, flags: u64, recursive: bool) -> Result<(), io::Error> {
    let attr = MountAttr { attr_set: flags, attr_clr: 0, propagation: 0, userns_fd: 0 };
    set_attr(tree, &attr, recursive)
}

fn set_attr(tree: &OwnedFd, attr: &MountAttr, recursive: bool) -> Result<(), io::Error> {
    let mut at_flags = libc::AT_EMPTY_PATH;
    if recursive {
        at_flags |= libc::AT_RECURSIVE;
    }
    // SAFETY: mount_setattr reads `size_of::<MountAttr>()` bytes of `attr`, a valid
    // `struct mount_attr`, for the detached tree we own.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            tree.as_raw_fd(),
            c"".as_ptr(),
            at_flags,
            attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// A detached copy of the mount tree at the opened file `source` (an `O_PATH` descriptor),
/// with the mounts under it, rooted at that file. `what` names it in the error.
pub fn clone_opened(source: BorrowedFd<'_>, what: &str) -> Result<OwnedFd, StepError> {
    let flags = OPEN_TREE_CLONE
        | libc::O_CLOEXEC as libc::c_uint
        | libc::AT_EMPTY_PATH as libc::c_uint
        | libc::AT_RECURSIVE as libc::c_uint;
    // SAFETY: open_tree of a descriptor we hold, with an empty NUL-terminated path.
    let raw =
        unsafe { libc::syscall(libc::SYS_open_tree, source.as_raw_fd(), c"".as_ptr(), flags) };
    if raw < 0 {
        return Err(last_error(format!("clone the mount of {what}")));
    }
    // SAFETY: open_tree returned a new descriptor, owned from here on.
    Ok(unsafe { OwnedFd::from_raw_fd(raw as RawFd) })
}

/// Attaches the detached `tree` on the opened file `target` (an `O_PATH` descriptor), so
/// that no path is looked up again; `what` names the target in the error.
pub fn attach_opened(tree: &OwnedFd, target: BorrowedFd<'_>, what: &str) -> Result<(), StepError> {
    // SAFETY: move_mount between two descriptors we hold, with empty NUL-terminated paths.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_move_mount,
            tree.as_raw_fd(),
            c"".as_ptr(),
            target.as_raw_fd(),
            c"".as_ptr(),
            MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH,
        )
    };
    if rc < 0 {
        return Err(last_error(format!("mount on {what}")));
    }
    Ok(())
}

/// Attaches the detached `tree` on `target`.
pub fn attach(tree: &OwnedFd, target: &Path) -> Result<(), StepError> {
    let step = || format!("mount on {}", target.display());
    let c_target = c_path(target, &step())?;
    // SAFETY: move_mount of a descriptor we own onto a NUL-terminated path.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_move_mount,
            tree.as_raw_fd(),
            c"".as_ptr(),
            libc::AT_FDCWD,
            c_target.as_ptr(),
            MOVE_MOUNT_F_EMPTY_PATH,
        )
    };
    if rc < 0 {
        return Err(last_error(step()));
    }
    Ok(())
}
