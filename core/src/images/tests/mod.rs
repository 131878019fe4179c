//! Tests of the image store. Every image is built here, in Rust (see [`builder`]); the busybox
//! test runs `scripts/make-busybox-image.py`.

mod archive;
mod builder;
mod busybox;
mod fuzz_seeds;
mod hostile;
mod layers;
mod oracle;
mod store;

use std::path::{Path, PathBuf};

use tempfile::TempDir;

use super::store::ImageStore;
use crate::error::{Error, ErrorKind};
use crate::home::Home;

/// A scratch world: a home directory and a work directory for layouts.
struct World {
    dir: TempDir,
    home: Home,
    store: ImageStore,
    work: PathBuf,
}

fn world() -> World {
    let dir = tempfile::tempdir().unwrap();
    let home = Home::create(dir.path().join("home")).unwrap();
    let store = ImageStore::new(&home);
    let work = dir.path().join("work");
    std::fs::create_dir(&work).unwrap();
    World { dir, home, store, work }
}

impl World {
    fn root(&self) -> &Path {
        self.dir.path()
    }

    fn layout(&self, name: &str) -> builder::Oci {
        builder::Oci::new(&self.work.join(name))
    }

    /// Entries of `tmp/`: staging must never be left behind.
    fn tmp_entries(&self) -> Vec<String> {
        names(&self.home.tmp_dir())
    }

    /// Entries of `images/rootfs/`.
    fn rootfs_entries(&self) -> Vec<String> {
        names(&self.home.root().join("images/rootfs"))
    }
}

fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// Asserts the error's kind and that its message mentions every piece of `needles`.
#[track_caller]
fn assert_error(err: &Error, kind: ErrorKind, needles: &[&str]) {
    let text = err.to_string();
    assert_eq!(err.kind(), kind, "wrong kind for: {text}");
    for needle in needles {
        assert!(text.contains(needle), "{needle:?} missing from: {text}");
    }
}
