//! One tar entry's metadata — header fields with PAX / GNU extension headers applied — and the
//! errors that name an entry.

use std::io::{self, Read};

use rustix::fs::Timespec;
use tar::EntryType;

use crate::error::{Error, ErrorKind, Result};

/// Extension headers waiting for the entry they describe.
#[derive(Default)]
pub(super) struct Pending {
    pub(super) pax: Option<Vec<u8>>,
    pub(super) long_name: Option<Vec<u8>>,
    pub(super) long_link: Option<Vec<u8>>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Kind {
    File,
    Dir,
    Symlink,
    Hardlink,
    Fifo,
    Device,
}

/// One entry's metadata, extension headers applied.
pub(super) struct Meta {
    pub(super) path: Vec<u8>,
    pub(super) link: Option<Vec<u8>>,
    pub(super) kind: Kind,
    pub(super) mode: u32,
    pub(super) uid: u32,
    pub(super) gid: u32,
    pub(super) mtime: Timespec,
    /// PAX `atime`; the mtime when absent.
    pub(super) atime: Option<Timespec>,
    pub(super) xattrs: Vec<(Vec<u8>, Vec<u8>)>,
    /// A sparse file: which byte ranges the entry's data fills.
    pub(super) sparse: Option<Sparse>,
}

/// Most data regions one sparse file may list (16 bytes of memory each).
pub(super) const MAX_SPARSE_REGIONS: usize = 1 << 18;

/// A sparse file (GNU `S` entries; PAX "GNU.sparse" versions 0.0, 0.1 and 1.0). The entry's
/// data is the regions' bytes back to back; everything else is a hole.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Sparse {
    /// The file's size, holes included.
    pub(super) real_size: u64,
    /// (offset, length) of each data region, in file order.
    pub(super) regions: Vec<(u64, u64)>,
    pub(super) more: MoreRegions,
}

/// Where the rest of a sparse map is.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum MoreRegions {
    /// `regions` is the whole map.
    None,
    /// GNU extension blocks follow the header, before the data (not counted in its size).
    GnuExtension,
    /// PAX 1.0: the map is text at the start of the data, padded to a 512-byte block.
    InData,
}

/// Reads an entry's metadata, applying the extension headers that preceded it. `layer` names
/// the layer in errors.
pub(super) fn read_meta<R: Read>(
    entry: &tar::Entry<'_, R>,
    pending: Pending,
    layer: &str,
) -> Result<Meta> {
    let header = entry.header();
    let mut path = entry.path_bytes().into_owned();
    let mut link = entry.link_name_bytes().map(|l| l.into_owned());
    let shown = String::from_utf8_lossy(&path).into_owned();
    let bad = |what: &str, e: Option<io::Error>| entry_error(layer, &shown, what, e);
    let old = header.as_old();
    let mut uid = numeric(header.uid(), &old.uid).map_err(|e| bad("bad uid field", Some(e)))?;
    let mut gid = numeric(header.gid(), &old.gid).map_err(|e| bad("bad gid field", Some(e)))?;
    let secs = numeric(header.mtime(), &old.mtime).map_err(|e| bad("bad mtime field", Some(e)))?;
    let mut mtime = Timespec { tv_sec: i64::try_from(secs).unwrap_or(i64::MAX), tv_nsec: 0 };
    let mode = numeric(header.mode().map(u64::from), &old.mode)
        .map_err(|e| bad("bad mode field", Some(e)))? as u32
        & 0o7777;
    let mut atime = None;
    let mut xattrs = Vec::new();
    let mut gnu_sparse = GnuSparsePax::default();
    if let Some(pax) = &pending.pax {
        for ext in tar::PaxExtensions::new(pax) {
            let ext = ext.map_err(|e| bad("malformed PAX header", Some(e)))?;
            let value = ext.value_bytes();
            if value.is_empty() {
                // An empty record means "use the header's field" (POSIX pax; Go's archive/tar
                // reads it so, which is what umoci, containerd and Docker unpack with).
                continue;
            }
            let number = || decimal(value);
            match ext.key_bytes() {
                b"path" => path = value.to_vec(),
                b"linkpath" => link = Some(value.to_vec()),
                b"uid" => uid = number().ok_or_else(|| bad("bad PAX uid", None))?,
                b"gid" => gid = number().ok_or_else(|| bad("bad PAX gid", None))?,
                b"mtime" => {
                    mtime = parse_pax_time(value).ok_or_else(|| bad("bad PAX mtime", None))?
                }
                b"atime" => {
                    atime = Some(parse_pax_time(value).ok_or_else(|| bad("bad PAX atime", None))?)
                }
                b"size" if number() != Some(entry.size()) => {
                    return Err(bad("PAX size override (files over 8 GiB) is not supported", None))
                }
                key => {
                    if let Some(name) = key.strip_prefix(b"SCHILY.xattr.") {
                        xattrs.push((name.to_vec(), value.to_vec()));
                    } else if let Some(key) = key.strip_prefix(b"GNU.sparse.") {
                        gnu_sparse.record(key, value).map_err(|why| bad(why, None))?;
                    }
                }
            }
        }
    }
    // GNU long names win over PAX paths, as in Go's archive/tar: a layer must not mean one
    // tree to us and another to every other unpacker.
    if let Some(name) = pending.long_name {
        path = cut_at_nul(name);
    }
    if let Some(name) = pending.long_link {
        link = Some(cut_at_nul(name));
    }
    let sparse = match header.entry_type() {
        EntryType::GNUSparse => Some(gnu_sparse_header(header).map_err(|why| bad(why, None))?),
        _ => gnu_sparse.finish(&mut path).map_err(|why| bad(why, None))?,
    };
    let shown = String::from_utf8_lossy(&path).into_owned();
    let bad = |what: &str| entry_error(layer, &shown, what, None);
    let kind = match header.entry_type() {
        // A pre-POSIX regular file named with a trailing slash is a directory (old tars wrote
        // directories so; Go's archive/tar reads them so).
        EntryType::Regular if header.as_old().linkflag[0] == 0 && path.ends_with(b"/") => Kind::Dir,
        EntryType::Regular | EntryType::Continuous | EntryType::GNUSparse => Kind::File,
        EntryType::Directory => Kind::Dir,
        EntryType::Symlink => Kind::Symlink,
        EntryType::Link => Kind::Hardlink,
        EntryType::Fifo => Kind::Fifo,
        EntryType::Char | EntryType::Block => Kind::Device,
        other => {
            return Err(bad(&format!("unsupported tar entry type {:?}", other.as_byte() as char)))
        }
    };
    if matches!(kind, Kind::Symlink | Kind::Hardlink) && link.as_ref().is_none_or(Vec::is_empty) {
        return Err(bad("link without a target"));
    }
    if sparse.is_some() && kind != Kind::File {
        return Err(bad("a sparse map on an entry that is not a regular file"));
    }
    let uid = owner_id(uid, "uid").map_err(|why| bad(&why))?;
    let gid = owner_id(gid, "gid").map_err(|why| bad(&why))?;
    Ok(Meta { path, link, kind, mode, uid, gid, mtime, atime, xattrs, sparse })
}

/// An entry's uid or gid as the kernel takes it. 4294967295 fits 32 bits but is (uid_t)-1,
/// which chown reads as "leave this unchanged": applied, the file would keep whatever owner
/// the unpacking process gave it instead of the one the layer names, so it is refused.
fn owner_id(raw: u64, what: &str) -> std::result::Result<u32, String> {
    match u32::try_from(raw) {
        Ok(u32::MAX) => Err(format!("{what} {raw} is (uid_t)-1, which names no owner")),
        Ok(id) => Ok(id),
        Err(_) => Err(format!("{what} {raw} does not fit 32 bits")),
    }
}

/// The `GNU.sparse.*` PAX records of one entry.
#[derive(Default)]
struct GnuSparsePax {
    major: Option<Vec<u8>>,
    minor: Option<Vec<u8>>,
    name: Option<Vec<u8>>,
    size: Option<u64>,
    real_size: Option<u64>,
    /// Version 0.0: `offset` and `numbytes` records, alternating, in order.
    pairs: Vec<u64>,
    /// Version 0.1: `map`, "offset,length,offset,length,…".
    map: Option<Vec<u8>>,
    numblocks: Option<u64>,
}

impl GnuSparsePax {
    fn record(&mut self, key: &[u8], value: &[u8]) -> std::result::Result<(), &'static str> {
        let number = || decimal(value).ok_or("bad GNU.sparse number");
        match key {
            b"major" => self.major = Some(value.to_vec()),
            b"minor" => self.minor = Some(value.to_vec()),
            b"name" => self.name = Some(value.to_vec()),
            b"size" => self.size = Some(number()?),
            b"realsize" => self.real_size = Some(number()?),
            b"numblocks" => self.numblocks = Some(number()?),
            b"map" => self.map = Some(value.to_vec()),
            b"offset" | b"numbytes" => {
                let expected: &[u8] =
                    if self.pairs.len().is_multiple_of(2) { b"offset" } else { b"numbytes" };
                if key != expected {
                    return Err("GNU.sparse.offset and numbytes records out of order");
                }
                if self.pairs.len() >= 2 * MAX_SPARSE_REGIONS {
                    return Err("sparse map too long");
                }
                self.pairs.push(number()?);
            }
            _ => {}
        }
        Ok(())
    }

    /// The sparse map these records describe, if any; `GNU.sparse.name` renames the entry.
    /// Versions as Go's archive/tar tells them apart; an unknown version is a plain file.
    fn finish(self, path: &mut Vec<u8>) -> std::result::Result<Option<Sparse>, &'static str> {
        let v1 = match (self.major.as_deref(), self.minor.as_deref()) {
            (Some(b"0"), Some(b"0" | b"1")) => false,
            (Some(b"1"), Some(b"0")) => true,
            (None, None) if self.map.is_some() || !self.pairs.is_empty() => false,
            _ => return Ok(None),
        };
        if let Some(name) = self.name {
            *path = name;
        }
        let real_size = self.size.or(self.real_size).ok_or("sparse file without a real size")?;
        if v1 {
            return Ok(Some(Sparse { real_size, regions: Vec::new(), more: MoreRegions::InData }));
        }
        let numbers = match self.map {
            Some(map) => parse_map_list(&map)?,
            None => self.pairs,
        };
        if !numbers.len().is_multiple_of(2) {
            return Err("sparse map has an odd number of values");
        }
        if self.numblocks.is_some_and(|n| n.saturating_mul(2) != numbers.len() as u64) {
            return Err("sparse map does not match GNU.sparse.numblocks");
        }
        let regions = numbers.chunks(2).map(|p| (p[0], p[1])).collect();
        Ok(Some(Sparse { real_size, regions, more: MoreRegions::None }))
    }
}

fn parse_map_list(map: &[u8]) -> std::result::Result<Vec<u64>, &'static str> {
    let mut numbers = Vec::new();
    for field in map.split(|&b| b == b',') {
        if numbers.len() >= 2 * MAX_SPARSE_REGIONS {
            return Err("sparse map too long");
        }
        numbers.push(decimal(field).ok_or("bad GNU.sparse.map")?);
    }
    Ok(numbers)
}

/// The map in an old GNU sparse header (`S`): up to four regions, more in extension blocks.
fn gnu_sparse_header(header: &tar::Header) -> std::result::Result<Sparse, &'static str> {
    let gnu = header.as_gnu().ok_or("a GNU sparse entry without a GNU header")?;
    let real_size = gnu.real_size().map_err(|_| "bad GNU sparse real size")?;
    let mut regions = Vec::new();
    gnu_regions(&gnu.sparse, &mut regions)?;
    let more = if gnu.is_extended() { MoreRegions::GnuExtension } else { MoreRegions::None };
    Ok(Sparse { real_size, regions, more })
}

/// Appends the regions of one run of GNU sparse slots; the first slot whose offset field
/// starts with NUL ends the run (as GNU tar, bsdtar and Go read it).
pub(super) fn gnu_regions(
    slots: &[tar::GnuSparseHeader],
    regions: &mut Vec<(u64, u64)>,
) -> std::result::Result<(), &'static str> {
    for slot in slots {
        if slot.offset[0] == 0 {
            break;
        }
        if regions.len() >= MAX_SPARSE_REGIONS {
            return Err("sparse map too long");
        }
        let offset = slot.offset().map_err(|_| "bad GNU sparse offset")?;
        let length = slot.length().map_err(|_| "bad GNU sparse length")?;
        regions.push((offset, length));
    }
    Ok(())
}

/// Reads the PAX 1.0 sparse map from the start of an entry's data: decimal numbers, one per
/// line (the count, then offset and length per region), padded to a whole 512-byte block.
/// Returns the regions and how many data bytes the map took.
pub(super) fn read_map_in_data(
    data: &mut impl Read,
) -> std::result::Result<(Vec<(u64, u64)>, u64), MapError> {
    let mut block = [0u8; 512];
    let mut buffered: Vec<u8> = Vec::new();
    let mut consumed = 0u64;
    let mut numbers: Vec<u64> = Vec::new();
    let mut wanted: Option<u64> = None;
    loop {
        // Take every complete line buffered so far.
        while let Some(end) = buffered.iter().position(|&b| b == b'\n') {
            let n = decimal(&buffered[..end]).ok_or(MapError::Bad("bad sparse map number"))?;
            buffered.drain(..=end);
            match wanted {
                None => {
                    if n > MAX_SPARSE_REGIONS as u64 {
                        return Err(MapError::Bad("sparse map too long"));
                    }
                    wanted = Some(2 * n);
                }
                Some(_) => numbers.push(n),
            }
            if wanted == Some(numbers.len() as u64) {
                let regions = numbers.chunks(2).map(|p| (p[0], p[1])).collect();
                return Ok((regions, consumed));
            }
        }
        if buffered.len() > 64 {
            return Err(MapError::Bad("bad sparse map number"));
        }
        data.read_exact(&mut block).map_err(MapError::Io)?;
        consumed += 512;
        buffered.extend_from_slice(&block);
    }
}

pub(super) enum MapError {
    Bad(&'static str),
    Io(io::Error),
}

/// Checks a complete sparse map as Go's archive/tar does (regions in order, not overlapping,
/// inside the file) and that the entry holds exactly the regions' bytes.
pub(super) fn check_sparse(
    regions: &[(u64, u64)],
    real_size: u64,
    data_bytes: u64,
) -> std::result::Result<(), &'static str> {
    let mut end = 0u64;
    let mut total = 0u64;
    for &(offset, length) in regions {
        if offset < end {
            return Err("sparse regions overlap or are out of order");
        }
        end = offset.checked_add(length).ok_or("sparse region overflows")?;
        if end > real_size {
            return Err("sparse region ends past the file's size");
        }
        total += length;
    }
    if total != data_bytes {
        return Err("sparse map and the entry's data size disagree");
    }
    Ok(())
}

fn decimal(value: &[u8]) -> Option<u64> {
    if value.is_empty() || !value.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(value).ok()?.parse().ok()
}

/// `<layer>: entry "<path>": <what>: <cause>`.
pub(super) fn entry_error(layer: &str, entry: &str, what: &str, e: Option<io::Error>) -> Error {
    let kind = e.as_ref().map_or(ErrorKind::Image, io_kind);
    let err = Error::new(kind, format!("{layer}: entry {entry:?}: {what}"));
    match e {
        Some(e) => err.with_source(e),
        None => err,
    }
}

/// Host trouble (disk full, I/O error, out of descriptors) is `Io`; anything else the layer's
/// content provoked is `Image`.
pub(super) fn io_kind(e: &io::Error) -> ErrorKind {
    match e.raw_os_error() {
        Some(
            libc::ENOSPC
            | libc::EDQUOT
            | libc::EIO
            | libc::EROFS
            | libc::EMFILE
            | libc::ENFILE
            | libc::ENOMEM,
        ) => ErrorKind::Io,
        _ => ErrorKind::Image,
    }
}

/// A header number; an empty field (all NUL or spaces) is 0, as Go's archive/tar reads it.
fn numeric(parsed: io::Result<u64>, raw: &[u8]) -> io::Result<u64> {
    match parsed {
        Err(_) if raw.iter().all(|&b| b == 0 || b == b' ') => Ok(0),
        other => other,
    }
}

/// A GNU long name ends at its first NUL, as every reader of the format takes it.
fn cut_at_nul(mut bytes: Vec<u8>) -> Vec<u8> {
    if let Some(end) = bytes.iter().position(|&b| b == 0) {
        bytes.truncate(end);
    }
    bytes
}

/// A PAX time: decimal seconds with an optional fraction, possibly negative.
fn parse_pax_time(value: &[u8]) -> Option<Timespec> {
    let text = std::str::from_utf8(value).ok()?;
    let (secs, frac) = text.split_once('.').unwrap_or((text, ""));
    let tv_sec: i64 = secs.parse().ok()?;
    if !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let digits: String = frac.chars().chain(std::iter::repeat('0')).take(9).collect();
    let tv_nsec: i64 = digits.parse().ok()?;
    if text.starts_with('-') && tv_nsec != 0 {
        // -1.5 is 1.5 s before the epoch: -2 s + 0.5 s.
        return Some(Timespec { tv_sec: tv_sec - 1, tv_nsec: 1_000_000_000 - tv_nsec });
    }
    Some(Timespec { tv_sec, tv_nsec })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pax_times() {
        let t = |s: &str| parse_pax_time(s.as_bytes()).map(|t| (t.tv_sec, t.tv_nsec));
        assert_eq!(t("1700000000"), Some((1_700_000_000, 0)));
        assert_eq!(t("1700000000.25"), Some((1_700_000_000, 250_000_000)));
        assert_eq!(t("-1.5"), Some((-2, 500_000_000)));
        assert_eq!(t("12x"), None);
        assert_eq!(t("1.2x"), None);
    }
}
