//! Volumes: host files and directories mounted into the box by descriptor.
//!
//! **The host side is opened once.** Each host path is opened (`O_PATH`) refusing a symbolic
//! link in any component (`RESOLVE_NO_SYMLINKS`), and the mount is cloned from that
//! descriptor (`open_tree`), never from the path again: a link swapped in for the path
//! before the open is refused, one swapped in after it changes nothing. This happens in the
//! child while it is host root, in its private mount namespace (a copy of the host's, so
//! `open_tree` accepts the mounts it sees), before the box's root exists.
//!
//! **The box side is resolved inside the box.** The image is untrusted: a guest path may meet
//! a symbolic link of the image (`/data -> /etc`, or an absolute one to anywhere), so each
//! component is opened with `RESOLVE_IN_ROOT` against the box's merged root, as a process of
//! the box would resolve it, and missing ones are created there. The mount is attached to the
//! opened target (`move_mount` between descriptors), so it lands inside the box's tree
//! whatever the image holds.
//!
//! **Owners.** In a box with its own user namespace the copy is idmapped through it, as the
//! rootfs is (userns.rs): host owner `n` is box uid `n`, and what box root writes is stored
//! as host uid 0. A filesystem without idmapped mounts gets a plain bind, said in the box's
//! log: host files then show as owned by nobody, and box root writes as the box's host uid.
//!
//! **Read-only** is a flag of the detached copy, set while host root; when the child enters
//! the box's user namespace the kernel locks it in the new mount namespace, so box root,
//! whatever its capabilities, cannot remount it read-write. Every volume is `nosuid,nodev`.

use std::ffi::{CString, OsStr};
use std::io;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

use boxlite_protocol::launch::VolumeMount;

use crate::error::{io_cause, StepError};
use crate::{log, mount_api};

/// A volume's host side, cloned and flagged, waiting to be attached in the box's root.
#[derive(Debug)]
pub struct Prepared {
    tree: OwnedFd,
    is_dir: bool,
    host_path: PathBuf,
    guest_path: PathBuf,
}

/// Opens and clones every volume's host path. `idmap_through` is the box's user namespace
/// when the child is host root and the box has one.
pub fn prepare(
    box_id: &str,
    volumes: &[VolumeMount],
    idmap_through: Option<RawFd>,
) -> Result<Vec<Prepared>, StepError> {
    volumes.iter().map(|volume| prepare_one(box_id, volume, idmap_through)).collect()
}

fn prepare_one(
    box_id: &str,
    volume: &VolumeMount,
    idmap_through: Option<RawFd>,
) -> Result<Prepared, StepError> {
    let host = &volume.host_path;
    let what = format!("volume {}", host.display());
    let source = open_host(host).map_err(|err| {
        let mut cause = io_cause(&err);
        if err.raw_os_error() == Some(libc::ELOOP) {
            cause.push_str(" (a component of the host path is a symbolic link, which is refused)");
        }
        StepError::new(format!("open the host path of {what}"), cause)
    })?;
    let is_dir = match file_kind(source.as_fd().as_raw_fd()) {
        Ok(libc::S_IFDIR) => true,
        Ok(libc::S_IFREG) => false,
        // O_NOFOLLOW opened the link itself.
        Ok(libc::S_IFLNK) => {
            return Err(StepError::new(
                format!("open the host path of {what}"),
                "it is a symbolic link, which is refused",
            ))
        }
        Ok(_) => {
            return Err(StepError::new(
                format!("open the host path of {what}"),
                "it is neither a directory nor a regular file",
            ))
        }
        Err(err) => return Err(StepError::new(format!("inspect {what}"), io_cause(&err))),
    };
    let tree = mount_api::clone_opened(source.as_fd(), &what)?;
    if let Some(userns) = idmap_through {
        // SAFETY: `userns` is the namespace descriptor the shim opened for this child.
        let userns = unsafe { std::os::fd::BorrowedFd::borrow_raw(userns) };
        match mount_api::set_idmap(&tree, userns, true) {
            Ok(()) => {}
            // The tree is unchanged: it is bound as it is, and the box's log says what that
            // means for owners.
            Err(err) if err.raw_os_error() == Some(libc::EINVAL) => log::line(
                box_id,
                format!(
                    "{what} on {}: not idmapped ({}): host files show as owned by nobody in \
                     the box, and box root writes as the box's own host uid",
                    volume.guest_path.display(),
                    crate::userns::NO_IDMAP
                ),
            ),
            Err(err) => {
                return Err(StepError::new(format!("idmap {what}"), io_cause(&err)));
            }
        }
    }
    let mut flags = mount_api::MOUNT_ATTR_NOSUID | mount_api::MOUNT_ATTR_NODEV;
    if volume.read_only {
        flags |= mount_api::MOUNT_ATTR_RDONLY;
    }
    mount_api::set_flags(&tree, flags, true)
        .map_err(|err| StepError::new(format!("set the flags of {what}"), io_cause(&err)))?;
    Ok(Prepared { tree, is_dir, host_path: host.clone(), guest_path: volume.guest_path.clone() })
}

/// Attaches every prepared volume inside the box's root, the working directory by now.
/// `tmp_in_image` tells whether `/tmp` stays the image's: otherwise a tmpfs is mounted there
/// later, which would hide a volume under it.
pub fn attach_all(volumes: &[Prepared], tmp_in_image: bool) -> Result<(), StepError> {
    if volumes.is_empty() {
        return Ok(());
    }
    let root = open_path(libc::AT_FDCWD, c".", libc::O_DIRECTORY)
        .map_err(|err| StepError::new("open the box's root for its volumes", io_cause(&err)))?;
    for volume in volumes {
        let guest = volume.guest_path.display();
        let step = || format!("mount volume {} on {guest}", volume.host_path.display());
        if !tmp_in_image && volume.guest_path.starts_with("/tmp") {
            return Err(StepError::new(
                step(),
                "the image has no /tmp, so the box gets a tmpfs there, which would hide it; \
                 give the image a /tmp or mount the volume elsewhere",
            ));
        }
        let target = resolve_target(&root, &volume.guest_path, volume.is_dir)
            .map_err(|cause| StepError::new(step(), cause))?;
        mount_api::attach_opened(&volume.tree, target.as_fd(), &guest.to_string())?;
    }
    Ok(())
}

/// Opens `guest` inside `root` as the box would resolve it, creating what is missing: the
/// directories on the way, and the last component as a directory (`is_dir`) or an empty file.
/// The error is the cause alone.
fn resolve_target(root: &OwnedFd, guest: &Path, is_dir: bool) -> Result<OwnedFd, String> {
    let names: Vec<&OsStr> = guest
        .components()
        .filter_map(|c| match c {
            Component::Normal(name) => Some(name),
            _ => None,
        })
        .collect();
    let mut here = PathBuf::new();
    let mut current: Option<OwnedFd> = None;
    for (index, name) in names.iter().enumerate() {
        here.push(name);
        let last = index + 1 == names.len();
        let shown = Path::new("/").join(&here);
        let opened = match open_in_root(root, &here) {
            Ok(fd) => fd,
            Err(err) if err.raw_os_error() == Some(libc::ENOENT) => {
                let parent = current.as_ref().unwrap_or(root).as_raw_fd();
                create(parent, name, last && !is_dir).map_err(|err| match err.raw_os_error() {
                    Some(libc::EEXIST) => format!(
                        "{} is a symbolic link to a path that does not exist",
                        shown.display()
                    ),
                    _ => format!("create {}: {}", shown.display(), io_cause(&err)),
                })?;
                open_in_root(root, &here)
                    .map_err(|err| format!("open {}: {}", shown.display(), io_cause(&err)))?
            }
            Err(err) => return Err(format!("open {}: {}", shown.display(), io_cause(&err))),
        };
        current = Some(opened);
    }
    let target = current.ok_or_else(|| "the guest path names the box's root".to_string())?;
    let kind = file_kind(target.as_raw_fd()).map_err(|err| io_cause(&err))?;
    match (is_dir, kind == libc::S_IFDIR) {
        (true, false) => Err("the box has a file there, and the host path is a directory".into()),
        (false, true) => Err("the box has a directory there, and the host path is a file".into()),
        _ => Ok(target),
    }
}

/// Makes `name` under the directory `parent`: an empty file (mode 0644) or a directory
/// (0755), never following a link, never replacing anything.
fn create(parent: RawFd, name: &OsStr, file: bool) -> io::Result<()> {
    let name =
        CString::new(name.as_bytes()).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
    // SAFETY: *at calls on a descriptor we hold and a NUL-terminated name; a created file's
    // descriptor is closed at once.
    unsafe {
        if file {
            let flags = libc::O_CREAT | libc::O_EXCL | libc::O_NOFOLLOW | libc::O_WRONLY;
            let fd = libc::openat(parent, name.as_ptr(), flags | libc::O_CLOEXEC, 0o644);
            if fd < 0 {
                return Err(io::Error::last_os_error());
            }
            libc::close(fd);
        } else if libc::mkdirat(parent, name.as_ptr(), 0o755) != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// The host path, opened without following a symbolic link anywhere in it.
fn open_host(path: &Path) -> io::Result<OwnedFd> {
    let c_path = c_string(path)?;
    openat2(libc::AT_FDCWD, &c_path, libc::O_NOFOLLOW, libc::RESOLVE_NO_SYMLINKS)
}

/// `relative` resolved inside `root` as if it were `/`; magic links (`/proc/self/...`) refused.
fn open_in_root(root: &OwnedFd, relative: &Path) -> io::Result<OwnedFd> {
    let c_path = c_string(relative)?;
    openat2(root.as_raw_fd(), &c_path, 0, libc::RESOLVE_IN_ROOT | libc::RESOLVE_NO_MAGICLINKS)
}

fn open_path(dir: RawFd, path: &std::ffi::CStr, flags: libc::c_int) -> io::Result<OwnedFd> {
    // SAFETY: openat with a NUL-terminated path; the result is checked.
    let fd = unsafe { libc::openat(dir, path.as_ptr(), flags | libc::O_PATH | libc::O_CLOEXEC) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a new descriptor, owned from here on.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// `openat2` for an `O_PATH` descriptor with `flags` and `resolve` added.
fn openat2(
    dir: RawFd,
    path: &std::ffi::CStr,
    flags: libc::c_int,
    resolve: u64,
) -> io::Result<OwnedFd> {
    // SAFETY: open_how is plain integers, for which all zeroes is valid (and the kernel wants
    // unused fields zero). Filled field by field: the libc crate marks it non-exhaustive.
    let mut how: libc::open_how = unsafe { std::mem::zeroed() };
    how.flags = (flags | libc::O_PATH | libc::O_CLOEXEC) as u64;
    how.resolve = resolve;
    // SAFETY: openat2 reads `size_of::<open_how>()` bytes of `how` and the NUL-terminated path.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_openat2,
            dir,
            path.as_ptr(),
            &how as *const libc::open_how,
            std::mem::size_of::<libc::open_how>(),
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a new descriptor, owned from here on.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

fn c_string(path: &Path) -> io::Result<CString> {
    CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))
}

/// The `S_IFMT` bits of the opened file.
fn file_kind(fd: RawFd) -> io::Result<libc::mode_t> {
    // SAFETY: fstat fills a stat buffer we own; all zeroes is a valid initial value.
    let mut stat: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: see above; `fd` is open for the duration of the call.
    if unsafe { libc::fstat(fd, &mut stat) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(stat.st_mode & libc::S_IFMT)
}
