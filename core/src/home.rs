//! The home directory layout (docs/architecture.md, "Home directory").

use std::fs::DirBuilder;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// Paths under `$BOXLITE_HOME`.
#[derive(Clone, Debug)]
pub(crate) struct Home {
    root: PathBuf,
}

impl Home {
    /// Creates the layout if missing. Directories are private to the owner: boxes' files and
    /// sockets live here.
    pub(crate) fn create(root: PathBuf) -> Result<Self> {
        let home = Home { root };
        for dir in [
            home.root.clone(),
            home.db_dir(),
            home.root.join("images/blobs/sha256"),
            home.root.join("images/rootfs"),
            home.boxes_dir(),
            home.locks_dir(),
            home.root.join("tmp"),
        ] {
            DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(&dir)
                .map_err(|e| Error::io(format!("create home directory {}", dir.display()), e))?;
        }
        Ok(home)
    }

    /// `$BOXLITE_HOME`, else `~/.boxlite`.
    pub(crate) fn default_root() -> Result<PathBuf> {
        if let Some(dir) = std::env::var_os("BOXLITE_HOME").filter(|d| !d.is_empty()) {
            return Ok(PathBuf::from(dir));
        }
        match std::env::var_os("HOME").filter(|d| !d.is_empty()) {
            Some(home) => Ok(PathBuf::from(home).join(".boxlite")),
            None => Err(Error::invalid_argument(
                "no home directory: set BOXLITE_HOME or HOME, or pass home_dir",
            )),
        }
    }

    pub(crate) fn root(&self) -> &Path {
        &self.root
    }

    pub(crate) fn db_dir(&self) -> PathBuf {
        self.root.join("db")
    }

    pub(crate) fn db_path(&self) -> PathBuf {
        self.db_dir().join("boxlite.db")
    }

    pub(crate) fn boxes_dir(&self) -> PathBuf {
        self.root.join("boxes")
    }

    pub(crate) fn box_dir(&self, id: &str) -> PathBuf {
        self.boxes_dir().join(id)
    }

    pub(crate) fn tmp_dir(&self) -> PathBuf {
        self.root.join("tmp")
    }

    pub(crate) fn locks_dir(&self) -> PathBuf {
        self.root.join("locks")
    }

    pub(crate) fn box_lock_path(&self, id: &str) -> PathBuf {
        self.locks_dir().join(format!("{id}.lock"))
    }

    /// The formatted empty disk image new boxes of `size_gb` start from (made by the first
    /// shim that needs it).
    pub(crate) fn disk_template(&self, size_gb: u64) -> PathBuf {
        // `-lean`: made without the resize inode (shim/src/disk.rs). A home's older template
        // stays unused beside it.
        self.root.join("disks").join(format!("ext4-{size_gb}g-lean.img"))
    }

    /// Held while a process opens and migrates the database.
    pub(crate) fn db_open_lock_path(&self) -> PathBuf {
        self.locks_dir().join("db-open.lock")
    }
}

/// The files of one box (docs/architecture.md, "Home directory").
#[derive(Clone, Debug)]
pub(crate) struct BoxPaths {
    pub(crate) dir: PathBuf,
    /// The box's disk image and where it is mounted in the box's mount namespace; the
    /// writable layer's upper and work dirs are on it.
    pub(crate) disk_image: PathBuf,
    pub(crate) disk_mount: PathBuf,
    /// Upper and work dirs of a box made before disks existed: plain host directories.
    pub(crate) legacy_upper: PathBuf,
    pub(crate) legacy_work: PathBuf,
    pub(crate) merged: PathBuf,
    pub(crate) log: PathBuf,
    pub(crate) spec: PathBuf,
    pub(crate) exit_record: PathBuf,
    /// The ports the shim bound (core/src/ports.rs), written by it before the box starts.
    pub(crate) ports: PathBuf,
    pub(crate) socket: PathBuf,
}

/// Longest unix socket path (`sun_path` is 108 bytes with the NUL).
const MAX_SOCKET_PATH: usize = 107;

impl Home {
    pub(crate) fn box_paths(&self, id: &str) -> BoxPaths {
        let dir = self.box_dir(id);
        let mut socket = dir.join("agent.sock");
        if socket.as_os_str().len() > MAX_SOCKET_PATH {
            // A deep home: bind through a short per-user path instead. The id keeps it unique;
            // the home's inode keeps two homes with the same box id apart.
            use std::os::unix::fs::MetadataExt;
            let ino = std::fs::metadata(&self.root).map(|m| m.ino()).unwrap_or(0);
            // SAFETY: getuid cannot fail.
            let uid = unsafe { libc::getuid() };
            socket = std::env::temp_dir().join(format!("boxlite-{uid}-{ino:x}-{id}.sock"));
        }
        BoxPaths {
            disk_image: dir.join("disk.img"),
            disk_mount: dir.join("disk"),
            legacy_upper: dir.join("upper"),
            legacy_work: dir.join("work"),
            merged: dir.join("rootfs"),
            log: dir.join("logs/box.log"),
            spec: dir.join("shim.json"),
            exit_record: dir.join("exit.json"),
            ports: dir.join("ports.json"),
            socket,
            dir,
        }
    }
}
