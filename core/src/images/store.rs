//! [`ImageStore::prepare`]: reference → verified manifest → layers applied once into
//! `images/rootfs/<manifest digest hex>/`, staged in `tmp/` and renamed into place.
//!
//! Concurrency: a `flock` per manifest digest (`locks/image-<hex>.lock`) serialises unpacking
//! across threads and processes; whoever gets it second finds the rootfs in place. A rootfs
//! directory only ever appears whole (rename), and its config record (`<hex>.json`) is written
//! before it, so "the directory exists" means "the image is ready".

use std::fs::{self, DirBuilder};
use std::io::{BufReader, Write};
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};

use super::apply::{apply_layer, Totals};
use super::config::ImageConfig;
use super::decompress::decompress;
use super::digest::{Digest, HashingReader};
use super::layout::{Blob, Layout, MAX_CONFIG_BYTES};
use super::media;
use super::reference::ImageRef;
use super::rootfs::Root;
use super::Limits;
use crate::error::{Error, ErrorKind, Result};
use crate::home::Home;
use crate::lock::FileLock;

/// Unpacked images under a home directory.
#[derive(Clone, Debug)]
pub(crate) struct ImageStore {
    rootfs_dir: PathBuf,
    tmp_dir: PathBuf,
    locks_dir: PathBuf,
    limits: Limits,
}

/// An image ready to be a box's lower directory.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct PreparedImage {
    /// The manifest digest, `sha256:…`.
    pub(crate) digest: String,
    /// `images/rootfs/<hex>`: the layers applied in order. Read-only by convention.
    pub(crate) rootfs: PathBuf,
    pub(crate) config: ImageConfig,
}

/// What `images/rootfs/<hex>.json` holds, so a cached prepare reads no manifest or config.
#[derive(Serialize, Deserialize)]
struct Record {
    manifest: String,
    config_digest: String,
    config: ImageConfig,
}

/// Makes staging names unique within a process (the pid makes them unique across processes).
static STAGING_SEQ: AtomicU64 = AtomicU64::new(0);

impl ImageStore {
    pub(crate) fn new(home: &Home) -> Self {
        ImageStore {
            rootfs_dir: home.root().join("images/rootfs"),
            tmp_dir: home.tmp_dir(),
            locks_dir: home.locks_dir(),
            limits: Limits::default(),
        }
    }

    #[cfg(test)]
    pub(crate) fn with_limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// Resolves `reference`, unpacking its layers once. Blocking: call it from
    /// `spawn_blocking`. A cached image costs reading `index.json` and one small record.
    pub(crate) fn prepare(&self, reference: &str) -> Result<PreparedImage> {
        let image = ImageRef::parse(reference)?;
        let ImageRef::OciLayout { path, tag } = &image;
        let name = image.to_string();
        // The layout is re-read every time: a tag may have moved since the last prepare.
        let layout = Layout::open(path, &name)?;
        let manifest = layout.resolve(tag.as_deref())?;
        if let Some(prepared) = self.cached(&manifest.digest) {
            return Ok(prepared);
        }
        let hex = manifest.digest.hex();
        let _lock = FileLock::acquire(
            &self.locks_dir.join(format!("image-{hex}.lock")),
            &format!("image {}", manifest.digest),
        )?;
        if let Some(prepared) = self.cached(&manifest.digest) {
            return Ok(prepared);
        }
        self.unpack(&layout, &manifest, &name)
    }

    fn rootfs_path(&self, digest: &Digest) -> PathBuf {
        self.rootfs_dir.join(digest.hex())
    }

    fn record_path(&self, digest: &Digest) -> PathBuf {
        self.rootfs_dir.join(format!("{}.json", digest.hex()))
    }

    /// The prepared image if its rootfs and record are in place. Anything unreadable counts as
    /// "not cached": the locked path below repairs it.
    fn cached(&self, digest: &Digest) -> Option<PreparedImage> {
        let rootfs = self.rootfs_path(digest);
        if !fs::symlink_metadata(&rootfs).is_ok_and(|m| m.is_dir()) {
            return None;
        }
        let bytes = fs::read(self.record_path(digest)).ok()?;
        let record: Record = serde_json::from_slice(&bytes).ok()?;
        if record.manifest != digest.to_string() {
            return None;
        }
        Some(PreparedImage { digest: record.manifest, rootfs, config: record.config })
    }

    /// Verifies the manifest and config, applies the layers into a staging directory and
    /// renames it into place. Runs under the digest's lock.
    fn unpack(&self, layout: &Layout, blob: &Blob, name: &str) -> Result<PreparedImage> {
        let manifest = layout.read_manifest(blob)?;
        let config_bytes = layout.read_blob(&manifest.config, MAX_CONFIG_BYTES)?;
        let config = ImageConfig::parse(&config_bytes, &format!("image {name}"))?;
        let record = Record {
            manifest: blob.digest.to_string(),
            config_digest: manifest.config.digest.to_string(),
            config,
        };
        let rootfs = self.rootfs_path(&blob.digest);
        if fs::symlink_metadata(&rootfs).is_ok_and(|m| m.is_dir()) {
            // Unpacked, but the record was lost: write it again.
            self.write_record(&blob.digest, &record)?;
            return Ok(PreparedImage { digest: record.manifest, rootfs, config: record.config });
        }
        for (i, layer) in manifest.layers.iter().enumerate() {
            if !layer.media_type.is_empty() && media::layer_compression(&layer.media_type).is_none()
            {
                return Err(Error::new(
                    ErrorKind::Image,
                    format!(
                        "image {name}: layer {}/{} ({}) has media type {:?}, not a filesystem layer",
                        i + 1,
                        manifest.layers.len(),
                        layer.digest,
                        layer.media_type
                    ),
                ));
            }
        }

        self.remove_stale_staging(&blob.digest)?;
        let staging = Staging::create(&self.tmp_dir, &blob.digest)?;
        let root = Root::open(&staging.path)
            .map_err(|e| Error::io(format!("open staging {}", staging.path.display()), e))?;
        let mut totals = Totals::default();
        for (i, layer) in manifest.layers.iter().enumerate() {
            let what =
                format!("image {name}: layer {}/{} {}", i + 1, manifest.layers.len(), layer.digest);
            self.apply_blob(layout, layer, &root, &mut totals, &what)?;
        }
        // Data on disk before the rename makes the rootfs visible.
        rustix::fs::syncfs(root.fd())
            .map_err(|e| Error::io(format!("sync staging {}", staging.path.display()), e.into()))?;
        drop(root);
        self.write_record(&blob.digest, &record)?;
        fs::rename(&staging.path, &rootfs).map_err(|e| {
            Error::io(
                format!("move {} into place at {}", staging.path.display(), rootfs.display()),
                e,
            )
        })?;
        staging.keep();
        sync_dir(&self.rootfs_dir)?;
        Ok(PreparedImage { digest: record.manifest, rootfs, config: record.config })
    }

    /// Streams one layer blob through its digest check, decompression and the applier. The
    /// digest covers every byte of the blob; a mismatch wins over any error the bytes caused.
    fn apply_blob(
        &self,
        layout: &Layout,
        layer: &Blob,
        root: &Root,
        totals: &mut Totals,
        what: &str,
    ) -> Result<()> {
        let mut hashing = HashingReader::new(layout.open_blob(layer)?);
        let applied = apply_stream(&mut hashing, root, &self.limits, totals, what);
        let (digest, size) =
            hashing.finish().map_err(|e| Error::io(format!("{what}: read blob"), e))?;
        if size != layer.size {
            return Err(layout.size_mismatch(layer, size));
        }
        if digest != layer.digest {
            return Err(layout.digest_mismatch(layer, &digest));
        }
        applied
    }

    fn write_record(&self, digest: &Digest, record: &Record) -> Result<()> {
        let path = self.record_path(digest);
        let tmp = self.tmp_dir.join(format!(
            "image-{}-{}-{}.json",
            digest.hex(),
            std::process::id(),
            STAGING_SEQ.fetch_add(1, Ordering::Relaxed)
        ));
        let bytes = serde_json::to_vec(record).map_err(|e| {
            Error::new(ErrorKind::Internal, "serialize image record").with_source(e)
        })?;
        let write = || -> std::io::Result<()> {
            let mut file = fs::File::create(&tmp)?;
            file.write_all(&bytes)?;
            file.sync_all()?;
            fs::rename(&tmp, &path)
        };
        write().map_err(|e| {
            let _ = fs::remove_file(&tmp);
            Error::io(format!("write image record {}", path.display()), e)
        })
    }

    /// Staging leftovers of this digest: their creator held the lock we hold now, so it died.
    fn remove_stale_staging(&self, digest: &Digest) -> Result<()> {
        let prefix = format!("image-{}-", digest.hex());
        let entries = fs::read_dir(&self.tmp_dir)
            .map_err(|e| Error::io(format!("list {}", self.tmp_dir.display()), e))?;
        for entry in entries.flatten() {
            if !entry.file_name().to_string_lossy().starts_with(&prefix) {
                continue;
            }
            let path = entry.path();
            // remove_dir_all does not follow symlinks (and a staged rootfs is full of them).
            let removed = match entry.file_type() {
                Ok(t) if t.is_dir() => fs::remove_dir_all(&path),
                _ => fs::remove_file(&path),
            };
            removed
                .map_err(|e| Error::io(format!("remove stale staging {}", path.display()), e))?;
        }
        Ok(())
    }
}

fn apply_stream(
    hashing: &mut HashingReader<fs::File>,
    root: &Root,
    limits: &Limits,
    totals: &mut Totals,
    what: &str,
) -> Result<()> {
    let buffered = BufReader::with_capacity(256 << 10, hashing);
    let (mut decoded, _) = decompress(buffered).map_err(|e| {
        Error::new(ErrorKind::Image, format!("{what}: read layer stream")).with_source(e)
    })?;
    apply_layer(root, &mut decoded, limits, totals, what)
}

/// A staging directory in `tmp/`, removed on drop unless kept.
struct Staging {
    path: PathBuf,
    keep: bool,
}

impl Staging {
    fn create(tmp_dir: &Path, digest: &Digest) -> Result<Self> {
        let path = tmp_dir.join(format!(
            "image-{}-{}-{}",
            digest.hex(),
            std::process::id(),
            STAGING_SEQ.fetch_add(1, Ordering::Relaxed)
        ));
        DirBuilder::new()
            .mode(0o755)
            .create(&path)
            .and_then(|()| fs::set_permissions(&path, fs::Permissions::from_mode(0o755)))
            .map_err(|e| Error::io(format!("create staging directory {}", path.display()), e))?;
        Ok(Staging { path, keep: false })
    }

    fn keep(mut self) {
        self.keep = true;
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        if !self.keep {
            let _ = fs::remove_dir_all(&self.path);
        }
    }
}

fn sync_dir(dir: &Path) -> Result<()> {
    fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| Error::io(format!("sync {}", dir.display()), e))
}
