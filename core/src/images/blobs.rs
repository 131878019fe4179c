//! The content-addressed blob store, `images/blobs/sha256/<hex>`: manifests, configs and layers
//! as they were fetched. A blob only ever appears whole and verified: it is written to `tmp/`,
//! its size and sha256 checked against the descriptor, synced, then renamed into place.
//! Readers still hash what they read (a blob on disk may rot or be tampered with): the
//! store's layout view ([`BlobStore::reader`]) verifies every read as a layout does.

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use sha2::{Digest as _, Sha256};

use super::digest::Digest;
use super::layout::{Blob, Layout};
use crate::error::{Error, ErrorKind, Result};

static TMP_SEQ: AtomicU64 = AtomicU64::new(0);

/// `images/` of a home; blobs live in its `blobs/sha256/`, as in an OCI layout.
#[derive(Clone, Debug)]
pub(crate) struct BlobStore {
    images_dir: PathBuf,
    tmp_dir: PathBuf,
}

impl BlobStore {
    pub(crate) fn new(images_dir: PathBuf, tmp_dir: PathBuf) -> Self {
        BlobStore { images_dir, tmp_dir }
    }

    pub(crate) fn path(&self, digest: &Digest) -> PathBuf {
        self.images_dir.join("blobs/sha256").join(digest.hex())
    }

    /// Whether a blob of this digest and size is stored (its content is verified on read).
    pub(crate) fn has(&self, blob: &Blob) -> bool {
        fs::symlink_metadata(self.path(&blob.digest))
            .is_ok_and(|m| m.is_file() && m.len() == blob.size)
    }

    /// A layout view of the store, for verified reads; `name` is the image, for messages.
    pub(crate) fn reader(&self, name: &str) -> Layout {
        Layout::blob_store(&self.images_dir, name)
    }

    /// Starts writing `blob`; `what` names it in errors.
    pub(crate) fn writer(&self, blob: &Blob, what: &str) -> Result<BlobWriter> {
        let tmp = self.tmp_dir.join(format!(
            "blob-{}-{}-{}",
            blob.digest.hex(),
            std::process::id(),
            TMP_SEQ.fetch_add(1, Ordering::Relaxed)
        ));
        let file = File::options()
            .write(true)
            .create_new(true)
            .open(&tmp)
            .map_err(|e| Error::io(format!("{what}: create {}", tmp.display()), e))?;
        Ok(BlobWriter {
            file: Some(file),
            tmp,
            dest: self.path(&blob.digest),
            expected: blob.clone(),
            hasher: Sha256::new(),
            written: 0,
            what: what.to_owned(),
        })
    }

    /// Stores a small blob held in memory (manifests, configs).
    pub(crate) fn put(&self, blob: &Blob, bytes: &[u8], what: &str) -> Result<()> {
        if self.has(blob) {
            return Ok(());
        }
        let mut writer = self.writer(blob, what)?;
        writer.write_chunk(bytes)?;
        writer.finish()
    }

    /// Copies `blob` from a layout on this host, verified on the way.
    pub(crate) fn import(&self, layout: &Layout, blob: &Blob, what: &str) -> Result<()> {
        if self.has(blob) {
            return Ok(());
        }
        let mut source = layout.open_blob(blob)?;
        let mut writer = self.writer(blob, what)?;
        let mut buf = vec![0u8; 256 << 10];
        loop {
            let n = match source.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(Error::io(format!("{what}: read"), e)),
            };
            writer.write_chunk(&buf[..n])?;
        }
        writer.finish()
    }

    /// Every stored blob's digest (names that are not digests are ignored).
    pub(crate) fn list(&self) -> Result<Vec<Digest>> {
        Digest::names_in(&self.images_dir.join("blobs/sha256"))
    }

    /// Removes a blob; returns the bytes freed.
    pub(crate) fn remove(&self, digest: &Digest) -> Result<u64> {
        let path = self.path(digest);
        let size = fs::symlink_metadata(&path).map(|m| m.len()).unwrap_or(0);
        match fs::remove_file(&path) {
            Ok(()) => Ok(size),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(0),
            Err(e) => Err(Error::io(format!("remove blob {}", path.display()), e)),
        }
    }
}

/// A blob being written: hashed and counted as it goes, refused as soon as it grows past its
/// descriptor's size (a registry cannot stream forever), published by [`BlobWriter::finish`].
pub(crate) struct BlobWriter {
    file: Option<File>,
    tmp: PathBuf,
    dest: PathBuf,
    expected: Blob,
    hasher: Sha256,
    written: u64,
    what: String,
}

impl BlobWriter {
    pub(crate) fn write_chunk(&mut self, bytes: &[u8]) -> Result<()> {
        self.written += bytes.len() as u64;
        if self.written > self.expected.size {
            return Err(Error::new(
                ErrorKind::Image,
                format!(
                    "{}: more bytes than the {} its descriptor announces",
                    self.what, self.expected.size
                ),
            ));
        }
        self.hasher.update(bytes);
        let file = self.file.as_mut().ok_or_else(|| {
            Error::new(ErrorKind::Internal, format!("{}: write after finish", self.what))
        })?;
        file.write_all(bytes).map_err(|e| Error::io(format!("{}: write", self.what), e))
    }

    /// Checks size and digest, syncs and renames the blob into place.
    pub(crate) fn finish(mut self) -> Result<()> {
        if self.written != self.expected.size {
            return Err(Error::new(
                ErrorKind::Image,
                format!(
                    "{}: got {} bytes, its descriptor says {}",
                    self.what, self.written, self.expected.size
                ),
            ));
        }
        let actual = Digest::from_hasher(std::mem::take(&mut self.hasher));
        if actual != self.expected.digest {
            return Err(Error::new(
                ErrorKind::Image,
                format!("{}: does not match its digest (content hashes to {actual})", self.what),
            ));
        }
        let file = self.file.take().ok_or_else(|| {
            Error::new(ErrorKind::Internal, format!("{}: finished twice", self.what))
        })?;
        file.sync_all().map_err(|e| Error::io(format!("{}: sync", self.what), e))?;
        drop(file);
        fs::rename(&self.tmp, &self.dest)
            .map_err(|e| Error::io(format!("{}: move into {}", self.what, self.dest.display()), e))
    }
}

impl Drop for BlobWriter {
    fn drop(&mut self) {
        // Unpublished bytes never stay: a failed or abandoned download leaves nothing.
        if self.file.is_some() || fs::symlink_metadata(&self.tmp).is_ok() {
            let _ = fs::remove_file(&self.tmp);
        }
    }
}

/// Removes `tmp/blob-*` files whose writer died (called under the store's exclusive lock).
pub(crate) fn remove_stale_downloads(tmp_dir: &Path) -> Result<()> {
    let entries =
        fs::read_dir(tmp_dir).map_err(|e| Error::io(format!("list {}", tmp_dir.display()), e))?;
    for entry in entries.flatten() {
        if entry.file_name().to_string_lossy().starts_with("blob-") {
            let _ = fs::remove_file(entry.path());
        }
    }
    Ok(())
}
