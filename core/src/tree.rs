//! Removing a directory tree the runtime made, also as a non-root user.
//!
//! Root removes anything; its owner cannot remove an entry of a directory it may not write or
//! search. Such directories are routine in the trees a rootless runtime removes: overlay makes
//! its `work/work` directory with mode 000, images ship 0555 directories, and box root may
//! `chmod` anything in its writable layer. They are all the caller's own (a rootless box's
//! files belong to its user), so their modes are opened up for the owner, and the removal
//! tried again.

use std::fs;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// Like [`fs::remove_dir_all`] (symlinks are removed, never followed), but a directory the
/// caller owns without write or search permission does not stop it.
pub(crate) fn remove_all(path: &Path) -> io::Result<()> {
    match fs::remove_dir_all(path) {
        Err(err) if err.kind() == io::ErrorKind::PermissionDenied => {
            open_up(path)?;
            fs::remove_dir_all(path)
        }
        result => result,
    }
}

/// Gives the owner rwx on every directory of the tree. Iterative: a box can nest directories
/// deeper than any stack.
fn open_up(root: &Path) -> io::Result<()> {
    let mut pending: Vec<PathBuf> = vec![root.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let meta = fs::symlink_metadata(&dir)?;
        if !meta.is_dir() {
            continue;
        }
        let mode = meta.permissions().mode();
        if mode & 0o700 != 0o700 {
            fs::set_permissions(&dir, fs::Permissions::from_mode(mode | 0o700))?;
        }
        for entry in fs::read_dir(&dir)? {
            let entry = entry?;
            if entry.file_type()?.is_dir() {
                pending.push(entry.path());
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// As root (how the suite runs) this checks the removal alone, since root may enter any
    /// directory; the non-root path is checked by cli/tests/rootless.rs, whose rootless
    /// boxes leave overlay's mode-000 work dir behind.
    #[test]
    fn closed_directories_are_opened_and_removed() {
        let dir = tempfile::tempdir().unwrap();
        let top = dir.path().join("tree");
        let closed = top.join("work/work");
        fs::create_dir_all(closed.join("inner")).unwrap();
        fs::write(closed.join("inner/file"), b"x").unwrap();
        fs::set_permissions(closed.join("inner"), fs::Permissions::from_mode(0o555)).unwrap();
        fs::set_permissions(&closed, fs::Permissions::from_mode(0o000)).unwrap();
        std::os::unix::fs::symlink("/", top.join("link")).unwrap();
        remove_all(&top).unwrap();
        assert!(fs::symlink_metadata(&top).is_err());
    }
}
