//! Whiteouts (OCI image spec, "Whiteouts"): `.wh.NAME` deletes NAME from the layers below;
//! `.wh..wh..opq` empties its directory of everything the layers below put there.

use std::collections::HashSet;
use std::ffi::OsStr;
use std::io;
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use super::rootfs::{self, is_dir, lstat_at};

const PREFIX: &[u8] = b".wh.";
const META_PREFIX: &[u8] = b".wh..wh.";
const OPAQUE: &[u8] = b".wh..wh..opq";

/// What an entry's last component says about whiteouts.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Whiteout<'n> {
    /// An ordinary entry.
    No,
    /// `.wh..wh..opq`: hide the lower content of the directory it is in.
    Opaque,
    /// `.wh.NAME`: remove NAME, a sibling of the marker.
    Remove(&'n OsStr),
    /// Another `.wh..wh.` name: aufs bookkeeping (hardlink dirs), skipped as Docker does.
    AufsMeta,
}

/// Classifies an entry's last component; an unusable target name (`.wh.`, `.wh..`, `.wh...`)
/// is an error. Names cannot carry '/' here: they come from a cleaned path's last component.
pub(crate) fn classify(name: &OsStr) -> Result<Whiteout<'_>, &'static str> {
    let bytes = name.as_bytes();
    if bytes == OPAQUE {
        return Ok(Whiteout::Opaque);
    }
    if bytes.starts_with(META_PREFIX) {
        return Ok(Whiteout::AufsMeta);
    }
    let Some(target) = bytes.strip_prefix(PREFIX) else { return Ok(Whiteout::No) };
    match target {
        b"" => Err("whiteout names no file"),
        b"." | b".." => Err("whiteout of '.' or '..'"),
        _ if target.contains(&b'/') => Err("whiteout name contains '/'"),
        _ => Ok(Whiteout::Remove(OsStr::from_bytes(target))),
    }
}

/// Removes everything in `dir` (at `dir_rel` in the root) that this layer did not write:
/// `written` holds the layer's entry paths and all their ancestors. Kept directories are
/// walked too, since lower content inside them is hidden as well.
pub(crate) fn make_opaque(
    dir: BorrowedFd<'_>,
    dir_rel: &Path,
    written: &HashSet<PathBuf>,
) -> io::Result<()> {
    for name in rootfs::list(dir)? {
        let rel = dir_rel.join(&name);
        if !written.contains(&rel) {
            rootfs::remove_at(dir, &name)?;
            continue;
        }
        if lstat_at(dir, &name)?.as_ref().is_some_and(is_dir) {
            let child = rootfs::open_child_dir(dir, &name)?;
            make_opaque(child.as_fd(), &rel, written)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_markers_and_refuses_tricks() {
        fn c(s: &str) -> Result<Whiteout<'_>, &'static str> {
            classify(OsStr::new(s))
        }
        assert_eq!(c("file"), Ok(Whiteout::No));
        assert_eq!(c(".whatever"), Ok(Whiteout::No));
        assert_eq!(c(".wh..wh..opq"), Ok(Whiteout::Opaque));
        assert_eq!(c(".wh..wh.plnk"), Ok(Whiteout::AufsMeta));
        assert_eq!(c(".wh.passwd"), Ok(Whiteout::Remove(OsStr::new("passwd"))));
        assert_eq!(c(".wh..hidden"), Ok(Whiteout::Remove(OsStr::new(".hidden"))));
        assert!(c(".wh.").is_err());
        assert!(c(".wh..").is_err());
        assert!(c(".wh...").is_err());
    }
}
