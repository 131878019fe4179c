//! Packing a file or a directory tree into a copy stream.

use std::ffi::OsStr;
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use rustix::fs::{AtFlags, Dir, FileType, Mode, OFlags, Stat};

use super::walk::{file_type, open_dir, shown, DIR_FLAGS};
use super::{Error, Kind, Limits, Result, Totals};

/// How a tree is packed.
#[derive(Clone, Copy, Debug, Default)]
pub struct PackOptions {
    /// Pack a directory's tree; otherwise a directory is refused.
    pub recursive: bool,
    /// Pack what symlinks point to rather than the links.
    pub follow_symlinks: bool,
    pub limits: Limits,
}

/// Deepest directory nesting packed: a symlink loop followed ends here, as does a tree deeper
/// than any real one.
const MAX_DEPTH: usize = 256;

/// Packs `name` in directory `parent` into `out` as the entry `top` (its tree as `top/…`).
/// An empty `top` packs a directory's contents as the stream's top level, and a file under its
/// own name.
pub fn pack(
    out: impl Write,
    parent: BorrowedFd<'_>,
    name: &OsStr,
    top: &[u8],
    opts: &PackOptions,
) -> Result<Totals> {
    let mut packer = Packer { builder: tar::Builder::new(out), opts, totals: Totals::default() };
    let top = match top.is_empty() && !packer.is_dir(parent, name)? {
        true => name.as_bytes(),
        false => top,
    };
    packer.entry(parent, name, top, 0)?;
    packer.builder.into_inner().map_err(write_error)?;
    Ok(packer.totals)
}

/// A stream of one regular file `name` holding `data`, with `mode` and the current time.
pub fn pack_bytes(out: impl Write, name: &str, data: &[u8], mode: u32) -> Result<()> {
    let mut header = tar::Header::new_gnu();
    header.set_entry_type(tar::EntryType::Regular);
    header.set_mode(mode & 0o7777);
    header.set_uid(0);
    header.set_gid(0);
    header.set_size(data.len() as u64);
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
    header.set_mtime(now.map(|d| d.as_secs()).unwrap_or(0));
    let mut builder = tar::Builder::new(out);
    builder.append_data(&mut header, name, data).map_err(write_error)?;
    builder.into_inner().map_err(write_error)?;
    Ok(())
}

fn write_error(e: io::Error) -> Error {
    Error::io("write the copy stream", e)
}

struct Packer<'a, W: Write> {
    builder: tar::Builder<W>,
    opts: &'a PackOptions,
    totals: Totals,
}

impl<W: Write> Packer<'_, W> {
    fn stat(&self, dir: BorrowedFd<'_>, name: &OsStr) -> io::Result<Stat> {
        let flags = match self.opts.follow_symlinks {
            true => AtFlags::empty(),
            false => AtFlags::SYMLINK_NOFOLLOW,
        };
        Ok(rustix::fs::statat(dir, name, flags)?)
    }

    fn is_dir(&self, dir: BorrowedFd<'_>, name: &OsStr) -> Result<bool> {
        let stat = self.stat(dir, name).map_err(|e| Error::io(name.to_string_lossy(), e))?;
        Ok(file_type(&stat) == FileType::Directory)
    }

    /// Packs `name` of `dir` as `path` (empty: a directory's contents at the top level).
    fn entry(
        &mut self,
        dir: BorrowedFd<'_>,
        name: &OsStr,
        path: &[u8],
        depth: usize,
    ) -> Result<()> {
        let shown_path = if path.is_empty() { ".".to_string() } else { shown(path) };
        let stat = self.stat(dir, name).map_err(|e| Error::io(&shown_path, e))?;
        let mut header = tar::Header::new_gnu();
        header.set_mode(stat.st_mode & 0o7777);
        header.set_uid(u64::from(stat.st_uid));
        header.set_gid(u64::from(stat.st_gid));
        header.set_mtime(stat.st_mtime.max(0) as u64);
        let tar_path = Path::new(OsStr::from_bytes(path));
        let add = |e: io::Error| Error::io(format!("{shown_path}: add to the copy stream"), e);
        match file_type(&stat) {
            FileType::Directory => {
                if !self.opts.recursive {
                    return Err(Error::new(
                        Kind::WrongType,
                        format!("{shown_path} is a directory (recursive copy is off)"),
                    ));
                }
                if depth >= MAX_DEPTH {
                    return Err(Error::new(
                        Kind::Refused,
                        format!("{shown_path}: more than {MAX_DEPTH} directories deep"),
                    ));
                }
                let child = match self.opts.follow_symlinks {
                    true => {
                        rustix::fs::openat(dir, name, DIR_FLAGS - OFlags::NOFOLLOW, Mode::empty())
                            .map_err(io::Error::from)
                    }
                    false => open_dir(dir, name),
                }
                .map_err(|e| Error::io(format!("{shown_path}: open"), e))?;
                if !path.is_empty() {
                    self.totals.add(&self.opts.limits, 0, &shown_path)?;
                    header.set_entry_type(tar::EntryType::Directory);
                    header.set_size(0);
                    // Directory names end in `/`, as every tar writes them.
                    let dir_path = [path, b"/"].concat();
                    let dir_path = Path::new(OsStr::from_bytes(&dir_path));
                    self.builder.append_data(&mut header, dir_path, io::empty()).map_err(add)?;
                }
                let names =
                    list(child.as_fd()).map_err(|e| Error::io(format!("{shown_path}: list"), e))?;
                for child_name in names {
                    let child_path = match path.is_empty() {
                        true => child_name.clone(),
                        false => [path, b"/", &child_name].concat(),
                    };
                    self.entry(
                        child.as_fd(),
                        OsStr::from_bytes(&child_name),
                        &child_path,
                        depth + 1,
                    )?;
                }
                Ok(())
            }
            FileType::RegularFile => {
                let mut flags =
                    OFlags::RDONLY | OFlags::NONBLOCK | OFlags::CLOEXEC | OFlags::NOCTTY;
                if !self.opts.follow_symlinks {
                    flags |= OFlags::NOFOLLOW;
                }
                let fd = rustix::fs::openat(dir, name, flags, Mode::empty())
                    .map_err(|e| Error::io(format!("{shown_path}: open"), e.into()))?;
                // What was opened is what counts: it may not be what was stat'ed.
                let opened =
                    rustix::fs::fstat(&fd).map_err(|e| Error::io(&shown_path, e.into()))?;
                if file_type(&opened) != FileType::RegularFile {
                    return Err(special(&shown_path, file_type(&opened)));
                }
                let size = opened.st_size.max(0) as u64;
                self.totals.add(&self.opts.limits, size, &shown_path)?;
                header.set_entry_type(tar::EntryType::Regular);
                header.set_size(size);
                let data = Exact { inner: File::from(fd), left: size, eof: false };
                self.builder.append_data(&mut header, tar_path, data).map_err(add)
            }
            FileType::Symlink => {
                let target = rustix::fs::readlinkat(dir, name, Vec::new())
                    .map_err(|e| Error::io(format!("{shown_path}: read link"), e.into()))?;
                self.totals.add(&self.opts.limits, 0, &shown_path)?;
                header.set_entry_type(tar::EntryType::Symlink);
                header.set_size(0);
                let target = Path::new(OsStr::from_bytes(target.to_bytes()));
                self.builder.append_link(&mut header, tar_path, target).map_err(add)
            }
            other => Err(special(&shown_path, other)),
        }
    }
}

fn special(path: &str, kind: FileType) -> Error {
    let what = match kind {
        FileType::Fifo => "a FIFO",
        FileType::Socket => "a socket",
        FileType::CharacterDevice | FileType::BlockDevice => "a device node",
        _ => "not a regular file",
    };
    Error::new(Kind::Refused, format!("{path} is {what}: not copied"))
}

/// The names in a directory, `.` and `..` left out, sorted (a stream is then the same for the
/// same tree).
fn list(dir: BorrowedFd<'_>) -> io::Result<Vec<Vec<u8>>> {
    let mut names = Vec::new();
    for entry in Dir::read_from(dir)? {
        let name = entry?.file_name().to_bytes().to_vec();
        if name != b"." && name != b".." {
            names.push(name);
        }
    }
    names.sort_unstable();
    Ok(names)
}

/// Exactly `left` bytes of `inner`: a file that shrinks while read is padded with zeros, one
/// that grows is cut, so the stream always matches its header.
struct Exact<R> {
    inner: R,
    left: u64,
    eof: bool,
}

impl<R: Read> Read for Exact<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let want = buf.len().min(self.left.min(usize::MAX as u64) as usize);
        if want == 0 {
            return Ok(0);
        }
        let n = match self.eof {
            false => match self.inner.read(&mut buf[..want])? {
                0 => {
                    self.eof = true;
                    buf[..want].fill(0);
                    want
                }
                n => n,
            },
            true => {
                buf[..want].fill(0);
                want
            }
        };
        self.left -= n as u64;
        Ok(n)
    }
}
