//! Unpacking a copy stream into a directory (the rules are in the module docs of `archive`).

use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;

use rustix::fs::{AtFlags, FileType, Gid, Mode, OFlags, Timespec, Timestamps, Uid};
use tar::EntryType;

use super::walk::{components, dir_beneath, file_type, lstat, shown};
use super::{Error, Kind, Limits, Result, Totals, MAX_EXTENSION_BYTES};

/// How a stream is unpacked.
#[derive(Clone, Copy, Debug, Default)]
pub struct UnpackOptions {
    /// Replace files and symlinks in the way (a directory is never replaced by a file, nor a
    /// file by a directory unless this is set).
    pub overwrite: bool,
    /// Give entries the owners in the stream; otherwise they belong to whoever unpacks.
    pub preserve_owners: bool,
    /// Keep setuid and setgid bits; otherwise they are cleared (unpacking on the host, a box's
    /// setuid file must never become one of the host's).
    pub keep_setid: bool,
    pub limits: Limits,
}

/// Unpacks `stream` into the directory `dir`.
pub fn unpack(stream: impl Read, dir: BorrowedFd<'_>, opts: &UnpackOptions) -> Result<Totals> {
    let mut archive = tar::Archive::new(stream);
    let entries = archive.entries().map_err(stream_error)?.raw(true);
    let mut state = Unpacker { base: dir, opts, totals: Totals::default(), dirs: Vec::new() };
    let mut pending = Pending::default();
    let mut headers = 0u64;
    for entry in entries {
        let mut entry = entry.map_err(stream_error)?;
        // Extension headers are no entries, yet an endless run of them must end too.
        headers += 1;
        let most = opts.limits.max_entries.saturating_mul(MAX_HEADERS_PER_ENTRY);
        if most != 0 && headers > most {
            return Err(Error::new(
                Kind::Limit,
                format!(
                    "more than {most} headers in a stream of at most {} entries",
                    opts.limits.max_entries
                ),
            ));
        }
        let Some(meta) = pending.take_meta(&mut entry)? else { continue };
        state.apply(meta, &mut entry)?;
    }
    state.finish_dirs()?;
    Ok(state.totals)
}

/// The first regular file of `stream`, read into memory; more than `max_bytes` is refused
/// (before it is read).
pub fn read_single_file(stream: impl Read, max_bytes: u64) -> Result<Vec<u8>> {
    let mut archive = tar::Archive::new(stream);
    let entries = archive.entries().map_err(stream_error)?.raw(true);
    let mut pending = Pending::default();
    for entry in entries {
        let mut entry = entry.map_err(stream_error)?;
        let Some(meta) = pending.take_meta(&mut entry)? else { continue };
        let name = shown(&meta.name);
        if meta.kind != EntryType::Regular {
            return Err(Error::new(Kind::WrongType, format!("{name}: not a regular file")));
        }
        let size = entry.header().entry_size().map_err(stream_error)?;
        if size > max_bytes {
            return Err(Error::new(
                Kind::Limit,
                format!("{name}: {size} bytes, more than the {max_bytes} asked for"),
            ));
        }
        let mut data = Vec::with_capacity(size as usize);
        entry.read_to_end(&mut data).map_err(stream_error)?;
        return Ok(data);
    }
    Err(Error::new(Kind::NotFound, "the stream holds no file"))
}

fn stream_error(e: io::Error) -> Error {
    Error::io("read the copy stream", e)
}

/// An entry's metadata, extension headers applied.
struct Meta {
    name: Vec<u8>,
    link: Option<Vec<u8>>,
    kind: EntryType,
    mode: u32,
    uid: u32,
    gid: u32,
    mtime: i64,
}

/// Extension headers read, waiting for the entry they describe.
#[derive(Default)]
struct Pending {
    long_name: Option<Vec<u8>>,
    long_link: Option<Vec<u8>>,
    pax_path: Option<Vec<u8>>,
    pax_link: Option<Vec<u8>>,
    pax_mtime: Option<i64>,
}

impl Pending {
    /// `None` for an extension header (now pending); the entry's metadata otherwise.
    fn take_meta<R: Read>(&mut self, entry: &mut tar::Entry<'_, R>) -> Result<Option<Meta>> {
        let header = entry.header();
        let kind = header.entry_type();
        let raw_name = entry.path_bytes().into_owned();
        match kind {
            EntryType::GNULongName => {
                self.long_name = Some(cut_at_nul(read_extension(entry, &raw_name)?));
                return Ok(None);
            }
            EntryType::GNULongLink => {
                self.long_link = Some(cut_at_nul(read_extension(entry, &raw_name)?));
                return Ok(None);
            }
            EntryType::XHeader => {
                let records = read_extension(entry, &raw_name)?;
                self.pax(&records, &raw_name)?;
                return Ok(None);
            }
            EntryType::XGlobalHeader => {
                read_extension(entry, &raw_name)?;
                return Ok(None);
            }
            _ => {}
        }
        let header = entry.header();
        let field = |r: io::Result<u64>, what: &str| {
            r.map_err(|e| Error::io(format!("{}: {what}", shown(&raw_name)), e))
        };
        let mode = field(header.mode().map(u64::from), "mode")? as u32;
        let uid = field(header.uid(), "uid")?;
        let gid = field(header.gid(), "gid")?;
        let mtime = field(header.mtime(), "mtime")?;
        let kind = match kind {
            EntryType::Continuous => EntryType::Regular,
            other => other,
        };
        let link = match kind {
            EntryType::Symlink | EntryType::Link => Some(
                self.long_link
                    .take()
                    .or(self.pax_link.take())
                    .or_else(|| entry.link_name_bytes().map(|l| l.into_owned()))
                    .unwrap_or_default(),
            ),
            _ => None,
        };
        let name = self.long_name.take().or(self.pax_path.take()).unwrap_or(raw_name);
        let mtime = self.pax_mtime.take().unwrap_or(mtime.min(i64::MAX as u64) as i64);
        *self = Pending::default();
        Ok(Some(Meta {
            name,
            link,
            kind,
            mode,
            uid: u32::try_from(uid).unwrap_or(u32::MAX),
            gid: u32::try_from(gid).unwrap_or(u32::MAX),
            mtime,
        }))
    }

    /// PAX records (`LEN key=value\n`): the name, link and mtime are used; a size is refused
    /// (the entry's data would not be where its header says), the rest ignored.
    fn pax(&mut self, mut records: &[u8], header_name: &[u8]) -> Result<()> {
        let bad =
            || Error::new(Kind::Refused, format!("{}: malformed PAX header", shown(header_name)));
        while !records.is_empty() {
            let space = records.iter().position(|&b| b == b' ').ok_or_else(bad)?;
            let len: usize = std::str::from_utf8(&records[..space])
                .ok()
                .and_then(|s| s.parse().ok())
                .filter(|&n| n > space + 1 && n <= records.len())
                .ok_or_else(bad)?;
            let record = &records[space + 1..len];
            let record = record.strip_suffix(b"\n").ok_or_else(bad)?;
            let eq = record.iter().position(|&b| b == b'=').ok_or_else(bad)?;
            let (key, value) = (&record[..eq], &record[eq + 1..]);
            match key {
                b"path" => self.pax_path = Some(value.to_vec()),
                b"linkpath" => self.pax_link = Some(value.to_vec()),
                b"mtime" => {
                    let secs = value.split(|&b| b == b'.').next().unwrap_or_default();
                    self.pax_mtime = std::str::from_utf8(secs).ok().and_then(|s| s.parse().ok());
                }
                b"size" | b"GNU.sparse.map" | b"GNU.sparse.size" | b"GNU.sparse.major" => {
                    return Err(Error::new(
                        Kind::Refused,
                        format!(
                            "{}: PAX {} records are not supported (large or sparse files)",
                            shown(header_name),
                            shown(key)
                        ),
                    ))
                }
                _ => {}
            }
            records = &records[len..];
        }
        Ok(())
    }
}

fn read_extension<R: Read>(entry: &mut tar::Entry<'_, R>, name: &[u8]) -> Result<Vec<u8>> {
    let size = entry.header().entry_size().map_err(stream_error)?;
    if size > MAX_EXTENSION_BYTES {
        return Err(Error::new(
            Kind::Refused,
            format!(
                "{}: an extension header of {size} bytes (at most {MAX_EXTENSION_BYTES})",
                shown(name)
            ),
        ));
    }
    let mut data = Vec::with_capacity(size as usize);
    entry.read_to_end(&mut data).map_err(stream_error)?;
    Ok(data)
}

fn cut_at_nul(mut bytes: Vec<u8>) -> Vec<u8> {
    if let Some(end) = bytes.iter().position(|&b| b == 0) {
        bytes.truncate(end);
    }
    bytes
}

struct Unpacker<'a> {
    base: BorrowedFd<'a>,
    opts: &'a UnpackOptions,
    totals: Totals,
    /// Directories unpacked, whose mode and times are set last (their entries change them).
    dirs: Vec<(Vec<OsString>, Meta)>,
}

/// Headers one entry may come with: its own, a GNU long name and long link, a PAX header.
const MAX_HEADERS_PER_ENTRY: u64 = 4;

/// Bytes copied at a time from the stream into a file.
const COPY_BUFFER_BYTES: usize = 128 << 10;

impl Unpacker<'_> {
    fn apply<R: Read>(&mut self, meta: Meta, data: &mut tar::Entry<'_, R>) -> Result<()> {
        let name = shown(&meta.name);
        let parts = components(&meta.name).map_err(|why| refused(&name, why))?;
        let size = match meta.kind {
            EntryType::Regular => data.header().entry_size().map_err(stream_error)?,
            _ => 0,
        };
        self.totals.add(&self.opts.limits, size, &name)?;
        let Some((last, parents)) = parts.split_last() else {
            // `.` or `./`: the destination itself, which is not the stream's to change.
            return match meta.kind {
                EntryType::Directory => Ok(()),
                _ => Err(refused(&name, "only a directory can be named '.'")),
            };
        };
        let parent = dir_beneath(self.base, parents, true, &name)?;
        let parent = parent.as_fd();
        match meta.kind {
            EntryType::Directory => {
                self.make_dir(parent, last, &name)?;
                let parts = parts.iter().map(|p| p.to_os_string()).collect();
                self.dirs.push((parts, meta));
                Ok(())
            }
            EntryType::Regular => {
                self.clear(parent, last, &name)?;
                let file = rustix::fs::openat(
                    parent,
                    *last,
                    OFlags::WRONLY
                        | OFlags::CREATE
                        | OFlags::EXCL
                        | OFlags::NOFOLLOW
                        | OFlags::CLOEXEC,
                    Mode::from_raw_mode(0o600),
                )
                .map_err(|e| Error::io(format!("{name}: create"), e.into()))?;
                let mut file = File::from(file);
                copy_data(data, &mut file).map_err(|e| Error::io(format!("{name}: write"), e))?;
                self.set_attrs(file.as_fd(), &meta, &name)
            }
            EntryType::Symlink => {
                self.clear(parent, last, &name)?;
                let target = meta.link.as_deref().unwrap_or_default();
                if target.is_empty() || target.contains(&0) {
                    return Err(refused(&name, "a symlink without a valid target"));
                }
                rustix::fs::symlinkat(OsStr::from_bytes(target), parent, *last)
                    .map_err(|e| Error::io(format!("{name}: create symlink"), e.into()))?;
                self.set_link_attrs(parent, last, &meta, &name)
            }
            EntryType::Link => {
                let target = meta.link.as_deref().unwrap_or_default();
                let target_parts = components(target)
                    .map_err(|why| refused(&name, &format!("link target: {why}")))?;
                let Some((target_last, target_parents)) = target_parts.split_last() else {
                    return Err(refused(&name, "a hard link to the directory itself"));
                };
                let target_dir = dir_beneath(self.base, target_parents, false, &name)?;
                self.clear(parent, last, &name)?;
                rustix::fs::linkat(&target_dir, *target_last, parent, *last, AtFlags::empty())
                    .map_err(|e| Error::io(format!("{name}: link to {}", shown(target)), e.into()))
            }
            EntryType::Char | EntryType::Block => {
                Err(refused(&name, "device nodes are not copied"))
            }
            EntryType::Fifo => Err(refused(&name, "FIFOs are not copied")),
            EntryType::GNUSparse => Err(refused(&name, "sparse entries are not supported")),
            other => Err(refused(
                &name,
                &format!("entries of type {:?} are not supported", other.as_byte() as char),
            )),
        }
    }

    /// Makes room for a non-directory entry: a file or symlink in the way goes when
    /// overwriting; a directory never does.
    fn clear(&self, parent: BorrowedFd<'_>, name: &OsStr, entry: &str) -> Result<()> {
        let Some(stat) = lstat(parent, name).map_err(|e| Error::io(entry, e))? else {
            return Ok(());
        };
        if file_type(&stat) == FileType::Directory {
            return Err(Error::new(Kind::WrongType, format!("{entry}: a directory is in the way")));
        }
        if !self.opts.overwrite {
            return Err(Error::new(Kind::Exists, format!("{entry}: exists (overwrite is off)")));
        }
        rustix::fs::unlinkat(parent, name, AtFlags::empty())
            .map_err(|e| Error::io(format!("{entry}: replace"), e.into()))
    }

    fn make_dir(&self, parent: BorrowedFd<'_>, name: &OsStr, entry: &str) -> Result<()> {
        if let Some(stat) = lstat(parent, name).map_err(|e| Error::io(entry, e))? {
            if file_type(&stat) == FileType::Directory {
                return Ok(());
            }
            self.clear(parent, name, entry)?;
        }
        // Owner-writable until its own mode is set, after its entries are in.
        rustix::fs::mkdirat(parent, name, Mode::from_raw_mode(0o700))
            .map_err(|e| Error::io(format!("{entry}: create directory"), e.into()))
    }

    fn mode(&self, meta: &Meta) -> Mode {
        let bits = if self.opts.keep_setid { 0o7777 } else { 0o1777 };
        Mode::from_raw_mode(meta.mode & bits)
    }

    fn set_attrs(&self, fd: BorrowedFd<'_>, meta: &Meta, entry: &str) -> Result<()> {
        let fail =
            |what: &str, e: rustix::io::Errno| Error::io(format!("{entry}: {what}"), e.into());
        if self.opts.preserve_owners {
            rustix::fs::fchown(fd, Some(Uid::from_raw(meta.uid)), Some(Gid::from_raw(meta.gid)))
                .map_err(|e| fail("set owner", e))?;
        }
        // After the chown, which clears setuid bits.
        rustix::fs::fchmod(fd, self.mode(meta)).map_err(|e| fail("set mode", e))?;
        rustix::fs::futimens(fd, &times(meta.mtime)).map_err(|e| fail("set mtime", e))
    }

    fn set_link_attrs(
        &self,
        parent: BorrowedFd<'_>,
        name: &OsStr,
        meta: &Meta,
        entry: &str,
    ) -> Result<()> {
        let fail =
            |what: &str, e: rustix::io::Errno| Error::io(format!("{entry}: {what}"), e.into());
        if self.opts.preserve_owners {
            rustix::fs::chownat(
                parent,
                name,
                Some(Uid::from_raw(meta.uid)),
                Some(Gid::from_raw(meta.gid)),
                AtFlags::SYMLINK_NOFOLLOW,
            )
            .map_err(|e| fail("set owner", e))?;
        }
        rustix::fs::utimensat(parent, name, &times(meta.mtime), AtFlags::SYMLINK_NOFOLLOW)
            .map_err(|e| fail("set mtime", e))
    }

    /// Sets the directories' own modes and times, deepest last-made first.
    fn finish_dirs(&mut self) -> Result<()> {
        for (parts, meta) in self.dirs.iter().rev() {
            let parts: Vec<&OsStr> = parts.iter().map(OsString::as_os_str).collect();
            let entry = shown(&meta.name);
            let dir: OwnedFd = match dir_beneath(self.base, &parts, false, &entry) {
                Ok(dir) => dir,
                // Replaced by a later entry of the stream.
                Err(e) if matches!(e.kind, Kind::NotFound | Kind::Refused) => continue,
                Err(e) => return Err(e),
            };
            self.set_attrs(dir.as_fd(), meta, &entry)?;
        }
        Ok(())
    }
}

fn refused(entry: &str, why: &str) -> Error {
    Error::new(Kind::Refused, format!("{entry}: {why}"))
}

fn times(mtime: i64) -> Timestamps {
    let at = Timespec { tv_sec: mtime, tv_nsec: 0 };
    Timestamps { last_access: at, last_modification: at }
}

fn copy_data(from: &mut impl Read, to: &mut File) -> io::Result<()> {
    let mut buf = vec![0u8; COPY_BUFFER_BYTES];
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        to.write_all(&buf[..n])?;
    }
}
