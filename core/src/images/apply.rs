//! Applies one layer — a tar stream — to a root directory: entries in order, whiteouts, bounds.
//!
//! `tar` is used as a reader only, in raw mode: extension headers (PAX, GNU long names) come to
//! this module as entries so their size can be bounded before they are read into memory, and
//! every file is written here through [`Root`], never by `tar`'s own unpacking.

use std::cell::RefCell;
use std::collections::HashSet;
use std::ffi::OsStr;
use std::fs::File;
use std::io::{self, Read};
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use rustix::fs::{AtFlags, FileType, Gid, Mode, OFlags, Timespec, Timestamps, Uid, XattrFlags};
use rustix::io::Errno;
use tar::EntryType;

use super::entry::{
    check_sparse, entry_error, gnu_regions, io_kind, read_map_in_data, read_meta, Kind, MapError,
    Meta, MoreRegions, Pending, Sparse,
};
use super::rootfs::{self, clean, is_dir, lstat_at, Root};
use super::whiteout::{self, Whiteout};
use super::Limits;
use crate::error::{Error, ErrorKind, Result};

/// Largest PAX or GNU long-name extension header read into memory.
const MAX_EXTENSION_BYTES: u64 = 1 << 20;

/// What the layers applied so far used of the image's [`Limits`].
#[derive(Debug, Default)]
pub(crate) struct Totals {
    pub(crate) entries: u64,
    pub(crate) bytes: u64,
}

/// Applies the (decompressed) tar stream `stream` to `root`. `what` names the layer in errors
/// ("image oci:/x:t: layer 2/3 sha256:…"). On error the root is left half-applied: the caller
/// throws the staging directory away.
pub(crate) fn apply_layer(
    root: &Root,
    stream: impl Read,
    limits: &Limits,
    totals: &mut Totals,
    what: &str,
) -> Result<()> {
    let shared =
        Shared(RefCell::new(Budget::new(stream, limits.max_bytes.saturating_sub(totals.bytes))));
    let mut archive = tar::Archive::new(&shared);
    let mut layer = Layer {
        root,
        what,
        chown: !crate::rootless::active(),
        written: HashSet::new(),
        dir_times: Vec::new(),
        max_file_bytes: limits.max_bytes,
    };
    let mut result = layer.entries(&mut archive, &shared, limits, totals);
    if result.is_ok() {
        // The end-of-archive blocks and padding: read so the caller can hash the whole blob.
        result =
            io::copy(&mut &shared, &mut io::sink()).map(drop).map_err(|e| layer.stream_error(e));
    }
    let budget = shared.0.into_inner();
    totals.bytes += budget.used;
    if budget.exceeded {
        return Err(Error::new(
            ErrorKind::Image,
            format!("{what}: the image unpacks to more than {} bytes", limits.max_bytes),
        ));
    }
    result?;
    layer.set_dir_times()
}

/// The layer stream, read by `tar` (headers and entry data, through `&Shared`) and by the
/// applier itself for what `tar`'s raw mode does not know about: the GNU sparse extension
/// blocks between a sparse header and its data. `tar` keeps its own count of where the next
/// header is, so bytes read here are simply never seen by it.
struct Shared<R>(RefCell<Budget<R>>);

impl<R: Read> Read for &Shared<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.borrow_mut().read(buf)
    }
}

/// Counts decompressed bytes and fails the read that would exceed the image's allowance.
struct Budget<R> {
    inner: R,
    left: u64,
    used: u64,
    exceeded: bool,
}

impl<R: Read> Budget<R> {
    fn new(inner: R, left: u64) -> Self {
        Budget { inner, left, used: 0, exceeded: false }
    }
}

impl<R: Read> Read for Budget<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        let n64 = n as u64;
        if n64 > self.left {
            self.exceeded = true;
            return Err(io::Error::other("the image's size limit is exceeded"));
        }
        self.left -= n64;
        self.used += n64;
        Ok(n)
    }
}

struct Layer<'a> {
    root: &'a Root,
    what: &'a str,
    /// Ownership is applied only when running as root: a rootless box's files are all its
    /// user's, which is box root (core/src/rootless.rs).
    chown: bool,
    /// Paths this layer wrote, with all their ancestors: what an opaque marker keeps.
    written: HashSet<PathBuf>,
    /// Directory times, set once the layer is done (writing inside a directory changes it).
    dir_times: Vec<(PathBuf, Timestamps)>,
    /// A sparse file's size, holes included, may not exceed the image's byte allowance.
    max_file_bytes: u64,
}

impl Layer<'_> {
    fn entries<R: Read>(
        &mut self,
        archive: &mut tar::Archive<&Shared<R>>,
        stream: &Shared<R>,
        limits: &Limits,
        totals: &mut Totals,
    ) -> Result<()> {
        let entries = archive.entries().map_err(|e| self.stream_error(e))?.raw(true);
        let mut pending = Pending::default();
        for entry in entries {
            let mut entry = entry.map_err(|e| self.stream_error(e))?;
            totals.entries += 1;
            if totals.entries > limits.max_entries {
                return Err(Error::new(
                    ErrorKind::Image,
                    format!(
                        "{}: the image has more than {} tar entries",
                        self.what, limits.max_entries
                    ),
                ));
            }
            let slot = match entry.header().entry_type() {
                EntryType::XHeader => Some(&mut pending.pax),
                EntryType::GNULongName => Some(&mut pending.long_name),
                EntryType::GNULongLink => Some(&mut pending.long_link),
                EntryType::XGlobalHeader => None,
                _ => {
                    let mut meta = read_meta(&entry, std::mem::take(&mut pending), self.what)?;
                    if let Some(sparse) = &mut meta.sparse {
                        if sparse.more == MoreRegions::GnuExtension {
                            self.read_gnu_extensions(stream, sparse, &meta.path)?;
                        }
                    }
                    self.apply(meta, &mut entry)?;
                    continue;
                }
            };
            let bytes = self.read_extension(&mut entry)?;
            // Global PAX headers (comments, mostly) are read and ignored.
            if let Some(slot) = slot {
                *slot = Some(bytes);
            }
        }
        Ok(())
    }

    /// The extension blocks of an old GNU sparse header: 21 more regions each, chained.
    fn read_gnu_extensions<R: Read>(
        &self,
        stream: &Shared<R>,
        sparse: &mut Sparse,
        path: &[u8],
    ) -> Result<()> {
        let shown = String::from_utf8_lossy(path);
        loop {
            let mut block = tar::GnuExtSparseHeader::new();
            (&mut &*stream).read_exact(block.as_mut_bytes()).map_err(|e| self.stream_error(e))?;
            gnu_regions(block.sparse(), &mut sparse.regions)
                .map_err(|why| self.entry_error(&shown, why, None))?;
            if !block.is_extended() {
                sparse.more = MoreRegions::None;
                return Ok(());
            }
        }
    }

    fn read_extension<R: Read>(&self, entry: &mut tar::Entry<'_, R>) -> Result<Vec<u8>> {
        let size = entry.size();
        if size > MAX_EXTENSION_BYTES {
            return Err(Error::new(
                ErrorKind::Image,
                format!(
                    "{}: a tar extension header of {size} bytes (more than {MAX_EXTENSION_BYTES})",
                    self.what
                ),
            ));
        }
        let mut bytes = Vec::with_capacity(size as usize);
        entry.read_to_end(&mut bytes).map_err(|e| self.stream_error(e))?;
        Ok(bytes)
    }

    fn apply<R: Read>(&mut self, meta: Meta, data: &mut tar::Entry<'_, R>) -> Result<()> {
        let shown = String::from_utf8_lossy(&meta.path).into_owned();
        let rel = clean(&meta.path).map_err(|e| self.entry_error(&shown, e.reason(), None))?;
        let layer = self.what;
        let fail = |what: &str, e: io::Error| entry_error(layer, &shown, what, Some(e));
        let Some(name) = rel.file_name() else {
            // "./" or "/": the root directory's own metadata.
            if meta.kind != Kind::Dir {
                return Err(self.entry_error(&shown, "a non-directory entry for the root", None));
            }
            self.set_attrs(self.root.fd(), &meta).map_err(|e| fail("set root attributes", e))?;
            self.dir_times.push((rel, entry_times(&meta)));
            return Ok(());
        };
        let parent_rel = rel.parent().unwrap_or(Path::new("")).to_owned();
        match whiteout::classify(name).map_err(|why| self.entry_error(&shown, why, None))? {
            Whiteout::No => {}
            Whiteout::AufsMeta => return Ok(()),
            Whiteout::Opaque => {
                let dir =
                    self.root.dir(&parent_rel, true).map_err(|e| fail("open directory", e))?;
                self.record(&parent_rel);
                let times = saved_times(dir.as_fd()).map_err(|e| fail("stat directory", e))?;
                whiteout::make_opaque(dir.as_fd(), &parent_rel, &self.written)
                    .map_err(|e| fail("apply opaque whiteout", e))?;
                return restore_times(dir.as_fd(), &times).map_err(|e| fail("restore mtime", e));
            }
            Whiteout::Remove(target) => {
                if self.written.contains(&parent_rel.join(target)) {
                    return Ok(());
                }
                let dir = match self.root.dir(&parent_rel, false) {
                    Ok(dir) => dir,
                    // Nothing below to hide.
                    Err(e) if matches!(e.raw_os_error(), Some(libc::ENOENT | libc::ENOTDIR)) => {
                        return Ok(())
                    }
                    Err(e) => return Err(fail("open directory", e)),
                };
                let times = saved_times(dir.as_fd()).map_err(|e| fail("stat directory", e))?;
                rootfs::remove_at(dir.as_fd(), target).map_err(|e| fail("apply whiteout", e))?;
                return restore_times(dir.as_fd(), &times).map_err(|e| fail("restore mtime", e));
            }
        }
        if meta.kind == Kind::Device {
            // Boxes get /dev from the runtime; device nodes in images are skipped.
            return Ok(());
        }
        let (parent, name) = self.root.parent_of(&rel).map_err(|e| fail("open parent", e))?;
        let parent = parent.as_fd();
        // An entry changes its parent directory's mtime; the parent keeps the time it had
        // (its own entry's, from this layer or a lower one), as umoci does: the tree then
        // depends on the layers only, not on when they were applied.
        let parent_times = saved_times(parent).map_err(|e| fail("stat parent", e))?;
        self.create(&rel, parent, name, &meta, data)?;
        restore_times(parent, &parent_times).map_err(|e| fail("restore parent mtime", e))?;
        self.record(&rel);
        Ok(())
    }

    /// Creates the entry `name` in `parent`, replacing what is there.
    fn create<R: Read>(
        &mut self,
        rel: &Path,
        parent: BorrowedFd<'_>,
        name: &OsStr,
        meta: &Meta,
        data: &mut tar::Entry<'_, R>,
    ) -> Result<()> {
        let shown = String::from_utf8_lossy(&meta.path).into_owned();
        let layer = self.what;
        let fail = |what: &str, e: io::Error| entry_error(layer, &shown, what, Some(e));
        let existing = lstat_at(parent, name).map_err(|e| fail("stat", e))?;
        let keep_dir = meta.kind == Kind::Dir && existing.as_ref().is_some_and(is_dir);
        if existing.is_some() && !keep_dir && meta.kind != Kind::Hardlink {
            rootfs::remove_at(parent, name).map_err(|e| fail("replace existing entry", e))?;
        }
        match meta.kind {
            Kind::Dir => {
                if !keep_dir {
                    rustix::fs::mkdirat(parent, name, Mode::from_raw_mode(0o700))
                        .map_err(|e| fail("create directory", e.into()))?;
                }
                let dir =
                    rootfs::open_child_dir(parent, name).map_err(|e| fail("open directory", e))?;
                self.set_attrs(dir.as_fd(), meta).map_err(|e| fail("set attributes", e))?;
                self.dir_times.push((rel.to_owned(), entry_times(meta)));
            }
            Kind::File => {
                let flags = OFlags::CREATE
                    | OFlags::EXCL
                    | OFlags::WRONLY
                    | OFlags::NOFOLLOW
                    | OFlags::CLOEXEC;
                let fd = rustix::fs::openat(parent, name, flags, Mode::from_raw_mode(0o600))
                    .map_err(|e| fail("create file", e.into()))?;
                let mut file = File::from(fd);
                match &meta.sparse {
                    None => {
                        io::copy(data, &mut file).map_err(|e| fail("write file contents", e))?;
                    }
                    Some(sparse) => self.write_sparse(&file, data, sparse, &shown)?,
                }
                self.set_attrs(file.as_fd(), meta).map_err(|e| fail("set attributes", e))?;
                rustix::fs::futimens(&file, &entry_times(meta))
                    .map_err(|e| fail("set mtime", e.into()))?;
            }
            Kind::Symlink => {
                let target = OsStr::from_bytes(meta.link.as_deref().unwrap_or_default());
                // Stored as given: the target is resolved by the box's processes, not here.
                rustix::fs::symlinkat(target, parent, name)
                    .map_err(|e| fail("create symlink", e.into()))?;
                self.set_owner_nofollow(parent, name, meta)
                    .map_err(|e| fail("chown symlink", e))?;
            }
            Kind::Hardlink => self.hardlink(rel, parent, name, meta, existing.is_some())?,
            Kind::Fifo => {
                rustix::fs::mknodat(parent, name, FileType::Fifo, Mode::from_raw_mode(0o600), 0)
                    .map_err(|e| fail("create fifo", e.into()))?;
                self.set_owner_nofollow(parent, name, meta).map_err(|e| fail("chown fifo", e))?;
                // A fifo just made by us under this name: chmodat cannot be misdirected.
                rustix::fs::chmodat(parent, name, Mode::from_raw_mode(meta.mode), AtFlags::empty())
                    .map_err(|e| fail("chmod fifo", e.into()))?;
            }
            Kind::Device => {}
        }
        Ok(())
    }

    /// Writes a sparse file's regions at their offsets and sizes the file; the holes between
    /// them stay holes (never written, so they take no disk blocks).
    fn write_sparse<R: Read>(
        &self,
        file: &File,
        data: &mut tar::Entry<'_, R>,
        sparse: &Sparse,
        shown: &str,
    ) -> Result<()> {
        let bad = |why: &str| self.entry_error(shown, why, None);
        let fail = |what: &str, e: io::Error| self.entry_error(shown, what, Some(e));
        let mut data_bytes = data.size();
        let in_data;
        let regions = match sparse.more {
            MoreRegions::InData => {
                let (regions, used) = read_map_in_data(data).map_err(|e| match e {
                    MapError::Bad(why) => bad(why),
                    MapError::Io(e) => fail("read sparse map", e),
                })?;
                data_bytes = data_bytes.checked_sub(used).ok_or_else(|| bad("bad sparse map"))?;
                in_data = regions;
                &in_data
            }
            _ => &sparse.regions,
        };
        if sparse.real_size > self.max_file_bytes {
            return Err(bad(&format!(
                "a sparse file of {} bytes (more than the image may unpack to, {})",
                sparse.real_size, self.max_file_bytes
            )));
        }
        check_sparse(regions, sparse.real_size, data_bytes).map_err(bad)?;
        file.set_len(sparse.real_size).map_err(|e| fail("size sparse file", e))?;
        let mut buf = vec![0u8; 64 << 10];
        for &(offset, length) in regions {
            let mut done = 0u64;
            while done < length {
                let n = (length - done).min(buf.len() as u64) as usize;
                data.read_exact(&mut buf[..n]).map_err(|e| fail("read file contents", e))?;
                file.write_all_at(&buf[..n], offset + done)
                    .map_err(|e| fail("write file contents", e))?;
                done += n as u64;
            }
        }
        Ok(())
    }

    /// A hard link to an entry already in this root; the target is resolved inside it.
    fn hardlink(
        &self,
        rel: &Path,
        parent: BorrowedFd<'_>,
        name: &OsStr,
        meta: &Meta,
        replace: bool,
    ) -> Result<()> {
        let shown = String::from_utf8_lossy(&meta.path).into_owned();
        let link = meta.link.as_deref().unwrap_or_default();
        let bad = |what: &str, e: Option<io::Error>| {
            self.entry_error(
                &shown,
                &format!("hardlink to {:?}: {what}", String::from_utf8_lossy(link)),
                e,
            )
        };
        let target = clean(link).map_err(|e| bad(e.reason(), None))?;
        let Some(target_name) = target.file_name() else {
            return Err(bad("the target is the root", None));
        };
        if target == rel {
            return Err(bad("the entry links to itself", None));
        }
        let target_dir = self
            .root
            .dir(target.parent().unwrap_or(Path::new("")), false)
            .map_err(|e| bad("the target does not exist in this image", Some(e)))?;
        match lstat_at(target_dir.as_fd(), target_name) {
            Ok(Some(stat)) if is_dir(&stat) => return Err(bad("the target is a directory", None)),
            Ok(Some(_)) => {}
            Ok(None) => return Err(bad("the target does not exist in this image", None)),
            Err(e) => return Err(bad("stat target", Some(e))),
        }
        if replace {
            rootfs::remove_at(parent, name).map_err(|e| bad("replace existing entry", Some(e)))?;
        }
        // No AT_SYMLINK_FOLLOW: a symlink target is linked itself, never followed.
        rustix::fs::linkat(target_dir.as_fd(), target_name, parent, name, AtFlags::empty())
            .map_err(|e| bad("link", Some(e.into())))
    }

    /// Owner, mode (after chown, which clears setuid/setgid) and permitted xattrs — set on
    /// the descriptor, so never through a symlink. The header is the whole truth: permitted
    /// xattrs it does not list (a kept directory's from a lower layer, ACLs inherited from a
    /// parent's default ACL) are removed, as umoci does.
    fn set_attrs(&self, fd: BorrowedFd<'_>, meta: &Meta) -> io::Result<()> {
        if self.chown {
            rustix::fs::fchown(fd, Some(uid(meta.uid)), Some(gid(meta.gid)))?;
        }
        rustix::fs::fchmod(fd, Mode::from_raw_mode(meta.mode))?;
        for name in list_xattrs(fd)? {
            if xattr_allowed(&name) && !meta.xattrs.iter().any(|(n, _)| *n == name) {
                match rustix::fs::fremovexattr(fd, OsStr::from_bytes(&name)) {
                    Ok(()) | Err(Errno::NODATA) => {}
                    Err(e) => return Err(e.into()),
                }
            }
        }
        for (name, value) in &meta.xattrs {
            if !xattr_allowed(name) {
                continue;
            }
            match rustix::fs::fsetxattr(fd, OsStr::from_bytes(name), value, XattrFlags::empty()) {
                Ok(()) | Err(Errno::NOTSUP) => {}
                // Unprivileged, file capabilities cannot be set; the file stays, without them.
                Err(Errno::PERM) if !self.chown && name.starts_with(b"security.") => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }

    fn set_owner_nofollow(
        &self,
        parent: BorrowedFd<'_>,
        name: &OsStr,
        meta: &Meta,
    ) -> io::Result<()> {
        if self.chown {
            rustix::fs::chownat(
                parent,
                name,
                Some(uid(meta.uid)),
                Some(gid(meta.gid)),
                AtFlags::SYMLINK_NOFOLLOW,
            )?;
        }
        rustix::fs::utimensat(parent, name, &entry_times(meta), AtFlags::SYMLINK_NOFOLLOW)?;
        Ok(())
    }

    /// Marks `rel` and its ancestors as written by this layer.
    fn record(&mut self, rel: &Path) {
        for ancestor in rel.ancestors() {
            if !self.written.insert(ancestor.to_owned()) {
                break;
            }
        }
    }

    fn set_dir_times(&self) -> Result<()> {
        for (rel, times) in &self.dir_times {
            let dir = match self.root.dir(rel, false) {
                Ok(dir) => dir,
                // Removed or replaced later in the same layer.
                Err(e) if matches!(e.raw_os_error(), Some(libc::ENOENT | libc::ENOTDIR)) => {
                    continue
                }
                Err(e) => {
                    return Err(self.entry_error(&rel.to_string_lossy(), "open directory", Some(e)))
                }
            };
            rustix::fs::futimens(&dir, times).map_err(|e| {
                self.entry_error(&rel.to_string_lossy(), "set directory mtime", Some(e.into()))
            })?;
        }
        Ok(())
    }

    fn stream_error(&self, e: io::Error) -> Error {
        Error::new(io_kind(&e), format!("{}: read layer stream", self.what)).with_source(e)
    }

    fn entry_error(&self, entry: &str, what: &str, e: Option<io::Error>) -> Error {
        entry_error(self.what, entry, what, e)
    }
}

/// Extended attributes taken from images (PAX `SCHILY.xattr.*` records), and why:
/// - `user.*`: the files' own data (MIME types, application metadata);
/// - `security.capability`: file capabilities (`ping` with cap_net_raw instead of setuid root).
///   They grant no more than a setuid-root file, which images may carry too: the box's
///   namespaces and capability bounding set still decide what they are worth;
/// - `system.posix_acl_access` / `system.posix_acl_default`: POSIX ACLs are permissions like
///   the mode bits, about the image's own uids and gids.
///
/// Everything else is dropped:
/// - `trusted.*`, and any `*.overlay.*` name in any namespace: overlayfs keeps its state there
///   (`trusted.overlay.opaque`, `.redirect`, `.origin`, `.metacopy`; `user.overlay.*` when
///   mounted with `userxattr`). The rootfs is a box's overlayfs lower directory: a layer that
///   set them would forge whiteouts and redirects that overlayfs would obey;
/// - `security.selinux` and the other `security.*` names (IMA/EVM, SMACK, AppArmor): labels and
///   integrity data are the host's policy, never the image's to choose (SELinux labels are
///   assigned by the host's policy when the box runs; umoci drops them as well);
/// - `system.nfs4_acl` and names this list does not know.
fn xattr_allowed(name: &[u8]) -> bool {
    let overlay = name.windows(b".overlay.".len()).any(|w| w == b".overlay.");
    !overlay
        && (name.starts_with(b"user.")
            || name == b"security.capability"
            || name == b"system.posix_acl_access"
            || name == b"system.posix_acl_default")
}

/// The xattr names on `fd`.
fn list_xattrs(fd: BorrowedFd<'_>) -> io::Result<Vec<Vec<u8>>> {
    let mut buf = vec![0u8; 1024];
    loop {
        match rustix::fs::flistxattr(fd, &mut buf[..]) {
            Ok(n) => {
                return Ok(buf[..n]
                    .split(|&b| b == 0)
                    .filter(|name| !name.is_empty())
                    .map(<[u8]>::to_vec)
                    .collect())
            }
            Err(Errno::NOTSUP) => return Ok(Vec::new()),
            Err(Errno::RANGE) if buf.len() < XATTR_LIST_MAX => buf.resize(buf.len() * 4, 0),
            Err(e) => return Err(e.into()),
        }
    }
}

/// The kernel's bound on an xattr name list.
const XATTR_LIST_MAX: usize = 64 << 10;

fn saved_times(fd: BorrowedFd<'_>) -> io::Result<Timestamps> {
    let stat = rustix::fs::fstat(fd)?;
    Ok(Timestamps {
        last_access: Timespec { tv_sec: stat.st_atime, tv_nsec: stat.st_atime_nsec as _ },
        last_modification: Timespec { tv_sec: stat.st_mtime, tv_nsec: stat.st_mtime_nsec as _ },
    })
}

fn restore_times(fd: BorrowedFd<'_>, times: &Timestamps) -> io::Result<()> {
    Ok(rustix::fs::futimens(fd, times)?)
}

fn uid(raw: u32) -> Uid {
    Uid::from_raw(raw)
}

fn gid(raw: u32) -> Gid {
    Gid::from_raw(raw)
}

fn entry_times(meta: &Meta) -> Timestamps {
    Timestamps { last_access: meta.atime.unwrap_or(meta.mtime), last_modification: meta.mtime }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xattr_policy() {
        assert!(xattr_allowed(b"security.capability"));
        assert!(xattr_allowed(b"user.mime_type"));
        assert!(!xattr_allowed(b"trusted.overlay.opaque"));
        assert!(!xattr_allowed(b"user.overlay.redirect"));
        assert!(!xattr_allowed(b"security.selinux"));
    }
}
