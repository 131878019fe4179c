//! Entry names and the descriptor walk that keeps every entry beneath its directory.

use std::ffi::OsStr;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;

use rustix::fs::{AtFlags, FileType, Mode, OFlags, Stat};
use rustix::io::Errno;

use super::{Error, Kind, Result};

/// Longest entry name, as the kernel's `PATH_MAX`.
pub const PATH_MAX: usize = 4096;

/// A directory opened without following a symlink at its last component.
pub(super) const DIR_FLAGS: OFlags =
    OFlags::DIRECTORY.union(OFlags::RDONLY).union(OFlags::CLOEXEC).union(OFlags::NOFOLLOW);

/// The plain components of an entry name (`./a//b/` is `a`, `b`; `.` is none: the directory
/// itself). Absolute names, `..`, NUL bytes and names longer than [`PATH_MAX`] are refused:
/// whoever packs never writes them, so such a stream was made to escape.
pub fn components(raw: &[u8]) -> std::result::Result<Vec<&OsStr>, &'static str> {
    if raw.contains(&0) {
        return Err("the name contains a NUL byte");
    }
    if raw.len() > PATH_MAX {
        return Err("the name is longer than PATH_MAX (4096 bytes)");
    }
    if raw.first() == Some(&b'/') {
        return Err("the name is absolute");
    }
    let mut out = Vec::new();
    for part in raw.split(|&b| b == b'/') {
        match part {
            b"" | b"." => {}
            b".." => return Err("the name has a '..' component"),
            name => out.push(OsStr::from_bytes(name)),
        }
    }
    Ok(out)
}

/// `name` as text, for messages.
pub(super) fn shown(name: &[u8]) -> String {
    String::from_utf8_lossy(name).into_owned()
}

/// Opens directory `name` in `dir`, never through a symlink.
pub(super) fn open_dir(dir: BorrowedFd<'_>, name: &OsStr) -> io::Result<OwnedFd> {
    Ok(rustix::fs::openat(dir, name, DIR_FLAGS, Mode::empty())?)
}

/// `lstat` of `name` in `dir`; `None` when nothing is there.
pub(super) fn lstat(dir: BorrowedFd<'_>, name: &OsStr) -> io::Result<Option<Stat>> {
    match rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW) {
        Ok(stat) => Ok(Some(stat)),
        Err(Errno::NOENT) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

pub(super) fn file_type(stat: &Stat) -> FileType {
    FileType::from_raw_mode(stat.st_mode)
}

/// Opens the directory at `parts` beneath `base`, one component at a time, never following a
/// symlink. With `create`, missing directories are made (mode 0755, owned by the caller).
/// `entry` names the entry in errors.
pub(super) fn dir_beneath(
    base: BorrowedFd<'_>,
    parts: &[&OsStr],
    create: bool,
    entry: &str,
) -> Result<OwnedFd> {
    let mut dir = base.try_clone_to_owned().map_err(|e| Error::io(entry, e))?;
    for (i, part) in parts.iter().enumerate() {
        let opened = match open_dir(dir.as_fd(), part) {
            Err(e) if create && e.raw_os_error() == Some(Errno::NOENT.raw_os_error()) => {
                match rustix::fs::mkdirat(&dir, *part, Mode::from_raw_mode(0o755)) {
                    Ok(()) | Err(Errno::EXIST) => {}
                    Err(e) => {
                        return Err(Error::io(format!("{entry}: create directory"), e.into()))
                    }
                }
                open_dir(dir.as_fd(), part)
            }
            other => other,
        };
        dir = opened.map_err(|e| match e.raw_os_error() {
            // O_NOFOLLOW on a symlink, O_DIRECTORY on anything else.
            Some(code)
                if code == Errno::LOOP.raw_os_error() || code == Errno::NOTDIR.raw_os_error() =>
            {
                let prefix: Vec<_> = parts[..=i].iter().map(|p| p.to_string_lossy()).collect();
                Error::new(
                    Kind::Refused,
                    format!(
                        "{entry}: {} is not a directory (symlinks in the way are never followed)",
                        prefix.join("/")
                    ),
                )
            }
            _ => Error::io(entry, e),
        })?;
    }
    Ok(dir)
}
