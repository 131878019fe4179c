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
    pub(super) xattrs: Vec<(Vec<u8>, Vec<u8>)>,
}

/// Reads an entry's metadata, applying the extension headers that preceded it. `layer` names
/// the layer in errors.
pub(super) fn read_meta<R: Read>(
    entry: &tar::Entry<'_, R>,
    pending: Pending,
    layer: &str,
) -> Result<Meta> {
    let header = entry.header();
    let mut path = match pending.long_name {
        Some(name) => trim_nul(name),
        None => entry.path_bytes().into_owned(),
    };
    let mut link = match pending.long_link {
        Some(name) => Some(trim_nul(name)),
        None => entry.link_name_bytes().map(|l| l.into_owned()),
    };
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
    let mut xattrs = Vec::new();
    if let Some(pax) = &pending.pax {
        for ext in tar::PaxExtensions::new(pax) {
            let ext = ext.map_err(|e| bad("malformed PAX header", Some(e)))?;
            let value = ext.value_bytes();
            let number = || std::str::from_utf8(value).ok().and_then(|v| v.parse::<u64>().ok());
            match ext.key_bytes() {
                b"path" => path = value.to_vec(),
                b"linkpath" => link = Some(value.to_vec()),
                b"uid" => uid = number().ok_or_else(|| bad("bad PAX uid", None))?,
                b"gid" => gid = number().ok_or_else(|| bad("bad PAX gid", None))?,
                b"mtime" => {
                    mtime = parse_pax_time(value).ok_or_else(|| bad("bad PAX mtime", None))?
                }
                b"size" if number() != Some(entry.size()) => {
                    return Err(bad("PAX size override (files over 8 GiB) is not supported", None))
                }
                key => {
                    if let Some(name) = key.strip_prefix(b"SCHILY.xattr.") {
                        xattrs.push((name.to_vec(), value.to_vec()));
                    }
                }
            }
        }
    }
    let shown = String::from_utf8_lossy(&path).into_owned();
    let bad = |what: &str| entry_error(layer, &shown, what, None);
    let kind = match header.entry_type() {
        EntryType::Regular | EntryType::Continuous => Kind::File,
        EntryType::Directory => Kind::Dir,
        EntryType::Symlink => Kind::Symlink,
        EntryType::Link => Kind::Hardlink,
        EntryType::Fifo => Kind::Fifo,
        EntryType::Char | EntryType::Block => Kind::Device,
        EntryType::GNUSparse => return Err(bad("sparse files are not supported")),
        other => {
            return Err(bad(&format!("unsupported tar entry type {:?}", other.as_byte() as char)))
        }
    };
    if matches!(kind, Kind::Symlink | Kind::Hardlink) && link.as_ref().is_none_or(Vec::is_empty) {
        return Err(bad("link without a target"));
    }
    let uid = u32::try_from(uid).map_err(|_| bad("uid does not fit 32 bits"))?;
    let gid = u32::try_from(gid).map_err(|_| bad("gid does not fit 32 bits"))?;
    Ok(Meta { path, link, kind, mode, uid, gid, mtime, xattrs })
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

fn trim_nul(mut bytes: Vec<u8>) -> Vec<u8> {
    while bytes.last() == Some(&0) {
        bytes.pop();
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
