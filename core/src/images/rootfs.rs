//! Filesystem operations on a root directory being built from layers, with every path resolved
//! inside that root.
//!
//! How paths stay inside (the security argument of the whole applier):
//! 1. Entry names are cleaned lexically first ([`clean`]): leading `/` and `./` go, `.` and empty
//!    components go, `..` pops a component, and a `..` that would climb above the root rejects
//!    the entry. What is left is a list of plain names.
//! 2. The parent directory of an entry is opened with `openat2(root_fd, parent,
//!    RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)` ([`Root::dir`]): the kernel resolves symlinks met
//!    on the way as if `root_fd` were `/` (absolute targets restart at the root, `..` stops at
//!    it), so `ln -s / evil` followed by `evil/etc/x` writes the root's own `etc/x`, exactly what
//!    a process in the box would see — and never a host path. Missing parents are created one by
//!    one, each opened again from the root the same way; a dangling symlink on the way has its
//!    target read and cleaned (`..` clamped at the root) and the walk restarts from the root.
//! 3. The last component is then only ever used with `*at` calls on that parent descriptor that
//!    do not follow it: `O_NOFOLLOW | O_EXCL` creation, `AT_SYMLINK_NOFOLLOW` stat and chown,
//!    `unlinkat`, `linkat` without `AT_SYMLINK_FOLLOW`, `symlinkat` (the target is stored as
//!    given, never resolved here). Recursive removal walks descriptors with `O_NOFOLLOW`.

use std::collections::VecDeque;
use std::ffi::{OsStr, OsString};
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Component, Path, PathBuf};

use rustix::fs::{AtFlags, Dir, FileType, Mode, OFlags, ResolveFlags, Stat};
use rustix::io::Errno;

/// Longest entry path accepted, as the kernel's `PATH_MAX`.
pub(crate) const PATH_MAX: usize = 4096;

/// Why an entry name was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum BadPath {
    Escapes,
    TooLong,
    Nul,
}

impl BadPath {
    pub(crate) fn reason(self) -> &'static str {
        match self {
            BadPath::Escapes => "path climbs above the root with '..'",
            BadPath::TooLong => "path is longer than PATH_MAX (4096 bytes)",
            BadPath::Nul => "path contains a NUL byte",
        }
    }
}

/// Cleans a tar entry name into a path relative to the root, made of plain names only. The
/// empty path is the root itself.
pub(crate) fn clean(raw: &[u8]) -> Result<PathBuf, BadPath> {
    if raw.contains(&0) {
        return Err(BadPath::Nul);
    }
    if raw.len() > PATH_MAX {
        return Err(BadPath::TooLong);
    }
    let mut out = PathBuf::new();
    for component in Path::new(OsStr::from_bytes(raw)).components() {
        match component {
            Component::Normal(name) => out.push(name),
            Component::ParentDir => {
                if !out.pop() {
                    return Err(BadPath::Escapes);
                }
            }
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
        }
    }
    Ok(out)
}

/// Symlinks followed by hand while creating parents, as the kernel's limit.
const MAX_SYMLINKS: u32 = 40;

/// Like [`clean`] for a symlink target, but `..` above the root stays at the root.
fn clamp(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::Normal(name) => out.push(name),
            Component::ParentDir => {
                out.pop();
            }
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
        }
    }
    out
}

const DIR_FLAGS: OFlags =
    OFlags::DIRECTORY.union(OFlags::RDONLY).union(OFlags::CLOEXEC).union(OFlags::NOFOLLOW);
const IN_ROOT: ResolveFlags = ResolveFlags::IN_ROOT.union(ResolveFlags::NO_MAGICLINKS);

/// A root directory, held open; all work goes through its descriptor.
pub(crate) struct Root {
    fd: OwnedFd,
}

impl Root {
    pub(crate) fn open(path: &Path) -> io::Result<Self> {
        let fd = rustix::fs::open(path, DIR_FLAGS, Mode::empty())?;
        Ok(Root { fd })
    }

    pub(crate) fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// Opens the directory at `rel` (a [`clean`] path) resolved inside the root. With `create`,
    /// missing directories are made (mode 0755, owned by the caller).
    pub(crate) fn dir(&self, rel: &Path, create: bool) -> io::Result<OwnedFd> {
        if rel.as_os_str().is_empty() {
            return self.fd.try_clone();
        }
        match self.open_in_root(rel) {
            Err(Errno::NOENT) if create => {}
            other => return Ok(other?),
        }
        // Slow path: walk from the root, creating what is missing. A component that exists
        // yet does not resolve is a dangling symlink: its target is created instead, inside the
        // root, as `mkdir -p` in a chroot would (and as umoci does).
        let mut pending: VecDeque<OsString> = rel.iter().map(OsStr::to_owned).collect();
        let mut done = PathBuf::new();
        let mut current = self.fd.try_clone()?;
        let mut links = 0;
        while let Some(name) = pending.pop_front() {
            let candidate = done.join(&name);
            match self.open_in_root(&candidate) {
                Ok(fd) => {
                    current = fd;
                    done = candidate;
                    continue;
                }
                Err(Errno::NOENT) => {}
                Err(e) => return Err(e.into()),
            }
            match rustix::fs::mkdirat(&current, &name, Mode::from_raw_mode(0o755)) {
                Ok(()) => {
                    let fd = rustix::fs::openat(&current, &name, DIR_FLAGS, Mode::empty())?;
                    rustix::fs::fchmod(&fd, Mode::from_raw_mode(0o755))?;
                    current = fd;
                    done = candidate;
                }
                Err(Errno::EXIST) => {
                    links += 1;
                    if links > MAX_SYMLINKS {
                        return Err(Errno::LOOP.into());
                    }
                    let target = rustix::fs::readlinkat(&current, &name, Vec::new())?;
                    let target = Path::new(OsStr::from_bytes(target.as_bytes()));
                    // Relative targets start at the symlink's directory, absolute ones at the
                    // root; either way `..` stops at the root. Then start over from the root.
                    let base = if target.is_absolute() { PathBuf::new() } else { done };
                    let resolved = clamp(&base.join(target));
                    for component in resolved.iter().rev() {
                        pending.push_front(component.to_owned());
                    }
                    done = PathBuf::new();
                    current = self.fd.try_clone()?;
                }
                Err(e) => return Err(e.into()),
            }
        }
        Ok(current)
    }

    fn open_in_root(&self, rel: &Path) -> Result<OwnedFd, Errno> {
        // NOFOLLOW is not passed here: a symlink as the last component is resolved in the root
        // like any other (RESOLVE_IN_ROOT), as a process in the box would.
        let flags = OFlags::DIRECTORY | OFlags::RDONLY | OFlags::CLOEXEC;
        loop {
            match rustix::fs::openat2(&self.fd, rel, flags, Mode::empty(), IN_ROOT) {
                // openat2 asks callers to retry on EAGAIN (a concurrent rename nearby).
                Err(Errno::AGAIN) | Err(Errno::INTR) => continue,
                other => return other,
            }
        }
    }

    /// The parent directory of `rel` (created if missing) and the last component's name.
    /// `rel` must not be the root.
    pub(crate) fn parent_of<'p>(&self, rel: &'p Path) -> io::Result<(OwnedFd, &'p OsStr)> {
        let name = rel
            .file_name()
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "the root has no parent"))?;
        let parent = rel.parent().unwrap_or(Path::new(""));
        Ok((self.dir(parent, true)?, name))
    }
}

/// `lstat` of `name` in `dir`; `None` when nothing is there.
pub(crate) fn lstat_at(dir: BorrowedFd<'_>, name: &OsStr) -> io::Result<Option<Stat>> {
    match rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW) {
        Ok(stat) => Ok(Some(stat)),
        Err(Errno::NOENT) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

pub(crate) fn is_dir(stat: &Stat) -> bool {
    FileType::from_raw_mode(stat.st_mode) == FileType::Directory
}

/// The names in a directory, `.` and `..` left out.
pub(crate) fn list(dir: BorrowedFd<'_>) -> io::Result<Vec<OsString>> {
    let mut names = Vec::new();
    for entry in Dir::read_from(dir)? {
        let name = entry?.file_name().to_bytes().to_vec();
        if name != b"." && name != b".." {
            names.push(OsString::from_vec(name));
        }
    }
    Ok(names)
}

/// Removes `name` from `dir`, recursively for a directory, never following a symlink. Nothing
/// there is not an error.
pub(crate) fn remove_at(dir: BorrowedFd<'_>, name: &OsStr) -> io::Result<()> {
    let Some(stat) = lstat_at(dir, name)? else { return Ok(()) };
    if is_dir(&stat) {
        let child = rustix::fs::openat(dir, name, DIR_FLAGS, Mode::empty())?;
        for entry in list(child.as_fd())? {
            remove_at(child.as_fd(), &entry)?;
        }
        rustix::fs::unlinkat(dir, name, AtFlags::REMOVEDIR)?;
    } else {
        match rustix::fs::unlinkat(dir, name, AtFlags::empty()) {
            Ok(()) | Err(Errno::NOENT) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// Opens the directory `name` in `dir` without following a symlink.
pub(crate) fn open_child_dir(dir: BorrowedFd<'_>, name: &OsStr) -> io::Result<OwnedFd> {
    Ok(rustix::fs::openat(dir, name, DIR_FLAGS, Mode::empty())?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cleaned(raw: &str) -> Result<String, BadPath> {
        clean(raw.as_bytes()).map(|p| p.to_string_lossy().into_owned())
    }

    #[test]
    fn clean_strips_and_refuses_escapes() {
        assert_eq!(cleaned("./etc/passwd").unwrap(), "etc/passwd");
        assert_eq!(cleaned("/etc//x/./y/").unwrap(), "etc/x/y");
        assert_eq!(cleaned("a/b/../c").unwrap(), "a/c");
        assert_eq!(cleaned("./").unwrap(), "");
        assert_eq!(cleaned("a/..").unwrap(), "");
        assert_eq!(cleaned("../etc/passwd"), Err(BadPath::Escapes));
        assert_eq!(cleaned("a/../../b"), Err(BadPath::Escapes));
        assert_eq!(cleaned("/.."), Err(BadPath::Escapes));
        assert_eq!(clean(&[b'a'; PATH_MAX + 1]), Err(BadPath::TooLong));
        assert_eq!(clean(b"a\0b"), Err(BadPath::Nul));
    }

    #[test]
    fn dir_resolves_symlinks_inside_the_root() {
        let outside = tempfile::tempdir().unwrap();
        let root_dir = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink("/", root_dir.path().join("abs")).unwrap();
        std::os::unix::fs::symlink("../../../..", root_dir.path().join("up")).unwrap();
        std::os::unix::fs::symlink(outside.path(), root_dir.path().join("out")).unwrap();
        let root = Root::open(root_dir.path()).unwrap();
        // Through an absolute symlink: lands in the root, created there.
        root.dir(Path::new("abs/etc/new"), true).unwrap();
        assert!(root_dir.path().join("etc/new").is_dir());
        root.dir(Path::new("up/x"), true).unwrap();
        assert!(root_dir.path().join("x").is_dir());
        // A symlink to a host directory resolves to that path inside the root instead.
        root.dir(Path::new("out/y"), true).unwrap();
        assert!(root_dir.path().join(outside.path().strip_prefix("/").unwrap()).join("y").is_dir());
        assert_eq!(std::fs::read_dir(outside.path()).unwrap().count(), 0);
    }

    #[test]
    fn remove_at_does_not_follow_symlinks() {
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("keep"), b"x").unwrap();
        let root_dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(root_dir.path().join("d")).unwrap();
        std::os::unix::fs::symlink(outside.path(), root_dir.path().join("d/link")).unwrap();
        let root = Root::open(root_dir.path()).unwrap();
        remove_at(root.fd(), OsStr::new("d")).unwrap();
        assert!(!root_dir.path().join("d").exists());
        assert!(outside.path().join("keep").exists());
    }
}
