//! The unpacked side of the image store: a manifest whose blobs are in the blob store
//! ([`super::blobs`]) → its layers applied once into `images/rootfs/<manifest digest hex>/`,
//! staged in `tmp/` and renamed into place. [`ImageStore::prepare_local`] brings a local
//! source's blobs in first; registry pulls ([`super::pull`]) fetch them.
//!
//! Every layer is read back from the blob store through its digest check, decompressed, and
//! the decompressed stream checked against the config's `rootfs.diff_ids`; a mismatch fails
//! the unpack and the staging directory is thrown away, so a rootfs only ever holds verified
//! bytes.
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
use super::archive::{self, ArchiveKind};
use super::blobs::BlobStore;
use super::config::{self, ImageConfig};
use super::decompress::decompress;
use super::digest::{Digest, HashingReader};
use super::layout::{Blob, Layout, Manifest, MAX_CONFIG_BYTES};
use super::reference::ImageRef;
use super::rootfs::Root;
use super::Limits;
use crate::error::{Error, ErrorKind, Result};
use crate::home::Home;
use crate::lock::FileLock;

/// Blobs and unpacked images under a home directory.
#[derive(Clone, Debug)]
pub(crate) struct ImageStore {
    blobs: BlobStore,
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
    pub(crate) config_digest: String,
    /// Layer blob digests, in order.
    pub(crate) layers: Vec<String>,
    /// Bytes of the image's blobs as stored (config and layers, compressed).
    pub(crate) size: u64,
}

/// What `images/rootfs/<hex>.json` holds, so a cached prepare reads no manifest or config.
#[derive(Serialize, Deserialize)]
struct Record {
    manifest: String,
    config_digest: String,
    config: ImageConfig,
    #[serde(default)]
    layers: Vec<String>,
    #[serde(default)]
    size: u64,
}

impl Record {
    fn prepared(self, rootfs: PathBuf) -> PreparedImage {
        PreparedImage {
            digest: self.manifest,
            rootfs,
            config: self.config,
            config_digest: self.config_digest,
            layers: self.layers,
            size: self.size,
        }
    }
}

/// Makes staging names unique within a process (the pid makes them unique across processes).
static STAGING_SEQ: AtomicU64 = AtomicU64::new(0);

impl ImageStore {
    pub(crate) fn new(home: &Home) -> Self {
        ImageStore {
            blobs: BlobStore::new(home.root().join("images"), home.tmp_dir()),
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

    pub(crate) fn blobs(&self) -> &BlobStore {
        &self.blobs
    }

    pub(crate) fn tmp_dir(&self) -> &Path {
        &self.tmp_dir
    }

    /// Resolves a local reference (`oci:`, `oci-archive:`, `docker-archive:`), copying its
    /// blobs into the blob store and unpacking its layers once. Blocking: call it from
    /// `spawn_blocking`. A cached layout image costs reading `index.json` and one small record.
    #[cfg(test)]
    pub(crate) fn prepare(&self, reference: &str) -> Result<PreparedImage> {
        self.prepare_local(&ImageRef::parse(reference)?)
    }

    /// [`ImageStore::prepare`] for a parsed reference; registry references are refused.
    pub(crate) fn prepare_local(&self, image: &ImageRef) -> Result<PreparedImage> {
        let name = image.to_string();
        match image {
            // The layout is re-read every time: a tag may have moved since the last prepare.
            ImageRef::OciLayout { path, tag } => {
                let layout = Layout::open(path, &name)?;
                let manifest = layout.resolve(tag.as_deref())?;
                self.import_and_unpack(&layout, &manifest, &name)
            }
            ImageRef::OciArchive { path, tag } => {
                self.prepare_archive(path, ArchiveKind::Oci, tag.as_deref(), &name)
            }
            ImageRef::DockerArchive { path, reference } => {
                self.prepare_archive(path, ArchiveKind::Docker, reference.as_deref(), &name)
            }
            ImageRef::Registry(_) => Err(Error::new(
                ErrorKind::Internal,
                format!("image {name}: a registry reference reached the local store"),
            )),
        }
    }

    fn prepare_archive(
        &self,
        path: &Path,
        kind: ArchiveKind,
        tag: Option<&str>,
        name: &str,
    ) -> Result<PreparedImage> {
        match fs::metadata(path) {
            Ok(m) if m.is_file() => {}
            Ok(_) => {
                return Err(Error::new(
                    ErrorKind::Image,
                    format!("image {name}: {} is not a file", path.display()),
                ))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(Error::not_found(format!(
                    "image {name}: archive {} does not exist",
                    path.display()
                )))
            }
            Err(e) => return Err(Error::io(format!("image {name}: stat {}", path.display()), e)),
        }
        let staging = Staging::create(&self.tmp_dir, "archive")?;
        let unpacked = archive::to_layout(path, kind, &staging.path, name)?;
        let layout = Layout::open(&staging.path, name)?;
        let manifest = layout.resolve(unpacked.tag(tag).as_deref())?;
        self.import_and_unpack(&layout, &manifest, name)
    }

    /// Copies the blobs of `manifest` from `layout` into the blob store, then unpacks.
    fn import_and_unpack(&self, layout: &Layout, blob: &Blob, name: &str) -> Result<PreparedImage> {
        if let Some(prepared) = self.cached(&blob.digest) {
            return Ok(prepared);
        }
        let manifest = layout.read_manifest(blob)?;
        let what = |b: &Blob| format!("image {name}: blob {}", b.digest);
        self.blobs.import(layout, blob, &what(blob))?;
        self.blobs.import(layout, &manifest.config, &what(&manifest.config))?;
        for layer in &manifest.layers {
            self.blobs.import(layout, layer, &what(layer))?;
        }
        self.unpack_stored(blob, name)
    }

    /// The prepared image of a manifest whose blobs are all in the blob store: cached, or
    /// unpacked now under the manifest's lock.
    pub(crate) fn unpack_stored(&self, blob: &Blob, name: &str) -> Result<PreparedImage> {
        if let Some(prepared) = self.cached(&blob.digest) {
            return Ok(prepared);
        }
        let hex = blob.digest.hex();
        let _lock = FileLock::acquire(
            &self.locks_dir.join(format!("image-{hex}.lock")),
            &format!("image {}", blob.digest),
        )?;
        if let Some(prepared) = self.cached(&blob.digest) {
            return Ok(prepared);
        }
        self.unpack(&self.blobs.reader(name), blob, name)
    }

    /// The rootfs directories present, by manifest digest.
    pub(crate) fn rootfs_digests(&self) -> Result<Vec<Digest>> {
        Digest::names_in(&self.rootfs_dir)
    }

    /// Removes an unpacked image: record first, so a half-removed tree never looks ready.
    /// Runs under the manifest's lock, so no unpack of it runs meanwhile.
    pub(crate) fn remove_rootfs(&self, digest: &Digest) -> Result<()> {
        let _lock = FileLock::acquire(
            &self.locks_dir.join(format!("image-{}.lock", digest.hex())),
            &format!("image {digest}"),
        )?;
        match fs::remove_file(self.record_path(digest)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(Error::io(format!("remove image record of {digest}"), e))
            }
            _ => {}
        }
        let rootfs = self.rootfs_path(digest);
        // Renamed into tmp/ first: the name is free at once, the slow removal happens there.
        let doomed = self.tmp_dir.join(format!(
            "image-{}-removed-{}-{}",
            digest.hex(),
            std::process::id(),
            STAGING_SEQ.fetch_add(1, Ordering::Relaxed)
        ));
        match fs::rename(&rootfs, &doomed) {
            Ok(()) => crate::tree::remove_all(&doomed)
                .map_err(|e| Error::io(format!("remove {}", doomed.display()), e)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Error::io(format!("remove {}", rootfs.display()), e)),
        }
    }

    fn rootfs_path(&self, digest: &Digest) -> PathBuf {
        self.rootfs_dir.join(digest.hex())
    }

    fn record_path(&self, digest: &Digest) -> PathBuf {
        self.rootfs_dir.join(format!("{}.json", digest.hex()))
    }

    /// The prepared image if its rootfs and record are in place. Anything unreadable counts as
    /// "not cached": the locked path below repairs it.
    pub(crate) fn cached(&self, digest: &Digest) -> Option<PreparedImage> {
        let rootfs = self.rootfs_path(digest);
        if !fs::symlink_metadata(&rootfs).is_ok_and(|m| m.is_dir()) {
            return None;
        }
        let bytes = fs::read(self.record_path(digest)).ok()?;
        let record: Record = serde_json::from_slice(&bytes).ok()?;
        if record.manifest != digest.to_string() {
            return None;
        }
        Some(record.prepared(rootfs))
    }

    /// Verifies the manifest and config, applies the layers into a staging directory and
    /// renames it into place. Runs under the digest's lock.
    fn unpack(&self, layout: &Layout, blob: &Blob, name: &str) -> Result<PreparedImage> {
        let manifest = layout.read_manifest(blob)?;
        let config_bytes = layout.read_blob(&manifest.config, MAX_CONFIG_BYTES)?;
        let what = format!("image {name}");
        let config = ImageConfig::parse(&config_bytes, &what)?;
        let diff_ids = config::diff_ids(&config_bytes, manifest.layers.len(), &what)?;
        let record = Record {
            manifest: blob.digest.to_string(),
            config_digest: manifest.config.digest.to_string(),
            config,
            layers: manifest.layers.iter().map(|l| l.digest.to_string()).collect(),
            size: stored_size(&manifest),
        };
        let rootfs = self.rootfs_path(&blob.digest);
        if fs::symlink_metadata(&rootfs).is_ok_and(|m| m.is_dir()) {
            // Unpacked, but the record was lost: write it again.
            self.write_record(&blob.digest, &record)?;
            return Ok(record.prepared(rootfs));
        }
        manifest.check_layer_types(name)?;

        self.remove_stale_staging(&blob.digest)?;
        let staging = Staging::create(&self.tmp_dir, &format!("image-{}", blob.digest.hex()))?;
        let root = Root::open(&staging.path)
            .map_err(|e| Error::io(format!("open staging {}", staging.path.display()), e))?;
        let mut totals = Totals::default();
        for (i, (layer, diff_id)) in manifest.layers.iter().zip(&diff_ids).enumerate() {
            let what =
                format!("image {name}: layer {}/{} {}", i + 1, manifest.layers.len(), layer.digest);
            self.apply_blob(layout, layer, diff_id, &root, &mut totals, &what)?;
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
        Ok(record.prepared(rootfs))
    }

    /// Streams one layer blob through its digest check, decompression, the diff_id check and
    /// the applier. The blob digest covers every byte of the blob; a mismatch wins over any
    /// error the bytes caused, then a diff_id mismatch does.
    fn apply_blob(
        &self,
        layout: &Layout,
        layer: &Blob,
        diff_id: &Digest,
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
        let uncompressed = applied?;
        if &uncompressed != diff_id {
            return Err(Error::new(
                ErrorKind::Image,
                format!(
                    "{what}: the uncompressed layer hashes to {uncompressed}, the config's \
                     diff_id is {diff_id}"
                ),
            ));
        }
        Ok(())
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
                Ok(t) if t.is_dir() => crate::tree::remove_all(&path),
                _ => fs::remove_file(&path),
            };
            removed
                .map_err(|e| Error::io(format!("remove stale staging {}", path.display()), e))?;
        }
        Ok(())
    }
}

/// Applies one blob's stream; returns the digest of the decompressed tar (its diff_id).
fn apply_stream(
    hashing: &mut HashingReader<fs::File>,
    root: &Root,
    limits: &Limits,
    totals: &mut Totals,
    what: &str,
) -> Result<Digest> {
    let buffered = BufReader::with_capacity(256 << 10, hashing);
    let (decoded, _) = decompress(buffered).map_err(|e| {
        Error::new(ErrorKind::Image, format!("{what}: read layer stream")).with_source(e)
    })?;
    let mut tar = HashingReader::new(decoded);
    apply_layer(root, &mut tar, limits, totals, what)?;
    let (diff_id, _) = tar.finish().map_err(|e| {
        Error::new(ErrorKind::Image, format!("{what}: read layer stream")).with_source(e)
    })?;
    Ok(diff_id)
}

/// Bytes an image's config and layers take in the blob store.
fn stored_size(manifest: &Manifest) -> u64 {
    manifest.config.size + manifest.layers.iter().map(|l| l.size).sum::<u64>()
}

/// A staging directory in `tmp/`, removed on drop unless kept.
struct Staging {
    path: PathBuf,
    keep: bool,
}

impl Staging {
    fn create(tmp_dir: &Path, prefix: &str) -> Result<Self> {
        let path = tmp_dir.join(format!(
            "{prefix}-{}-{}",
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
