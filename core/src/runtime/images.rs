//! [`ImageHandle`]: pull, list, inspect, remove and prune the images of a home; and the
//! resolution a box start goes through.
//!
//! Locks: every pull or start-time resolution holds `locks/images.lock` shared, `remove` and
//! `prune` hold it exclusively, so garbage collection never deletes what a pull is writing or
//! a starting box is about to mount. Pulls of one reference also hold `locks/pull-<hash>.lock`:
//! a second puller (thread or process) waits, then finds every blob in place.

use std::collections::HashSet;
use std::path::PathBuf;

use serde::Serialize;

use super::Runtime;
use crate::db::ImageRecord;
use crate::error::{Error, ErrorKind, Result};
use crate::images::{self, Digest, ImageRef, PreparedImage, ProgressFn, RegistryRef};
use crate::lock::FileLock;

/// A cached image (upstream BoxLite's `ImageInfo`, plus what `inspect` needs).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ImageInfo {
    /// Canonical reference: `docker.io/library/alpine:latest`, `oci:/abs/dir:tag`.
    pub reference: String,
    /// `docker.io/library/alpine`, or the local source.
    pub repository: String,
    /// The tag; empty for a reference by digest only.
    pub tag: String,
    /// Image id: the digest of the platform manifest.
    pub id: String,
    /// Digest of the image config.
    pub config_digest: String,
    /// Layer blob digests, in order.
    pub layers: Vec<String>,
    /// Bytes of the config and layer blobs as stored.
    pub size: Option<u64>,
    /// When this reference was last pulled or loaded, RFC 3339 UTC.
    pub cached_at: String,
    /// The same in milliseconds since the Unix epoch.
    pub cached_at_ms: i64,
    /// The registry host that served it (a mirror, possibly), or `local`.
    pub source: String,
}

/// What [`ImageHandle::prune`] removed.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct PruneReport {
    /// Blobs deleted (no image record names them).
    pub blobs_removed: u64,
    /// Unpacked root filesystems deleted (no image record or box uses them).
    pub rootfs_removed: u64,
    /// Bytes of blobs freed.
    pub bytes_freed: u64,
}

impl From<ImageRecord> for ImageInfo {
    fn from(rec: ImageRecord) -> Self {
        ImageInfo {
            reference: rec.reference,
            repository: rec.repository,
            tag: rec.tag.unwrap_or_default(),
            id: rec.manifest_digest,
            config_digest: rec.config_digest,
            layers: rec.layers,
            size: Some(rec.size_bytes),
            cached_at: crate::info::rfc3339_ms(rec.pulled_at_ms),
            cached_at_ms: rec.pulled_at_ms,
            source: rec.source,
        }
    }
}

/// The images of a runtime's home: `rt.images()`.
#[derive(Clone, Debug)]
pub struct ImageHandle {
    rt: Runtime,
}

/// A reference and the canonical names it may be stored under, in search order.
struct Resolved {
    image: ImageRef,
    candidates: Vec<Candidate>,
}

enum Candidate {
    Registry(RegistryRef),
    Local(ImageRef),
}

impl Candidate {
    fn key(&self) -> String {
        match self {
            Candidate::Registry(r) => r.to_string(),
            Candidate::Local(r) => r.to_string(),
        }
    }
}

impl Runtime {
    /// The image store of this home.
    pub fn images(&self) -> ImageHandle {
        ImageHandle { rt: self.clone() }
    }

    /// The image box `id` starts from: cached, else pulled (or loaded); recorded as the box's
    /// image while the images lock is held, so no prune can take it away in between.
    pub(crate) async fn image_for_box(&self, id: &str, reference: &str) -> Result<PreparedImage> {
        let handle = self.images();
        let resolved = handle.resolve(reference)?;
        let _shared = handle.shared_lock().await?;
        let prepared = match handle.cached(&resolved)? {
            Some(prepared) => prepared,
            None => handle.fetch(&resolved, None, true).await?,
        };
        self.store().set_box_image(id, &prepared.digest)?;
        Ok(prepared)
    }
}

impl ImageHandle {
    /// Pulls `reference` from its registry (or loads a local `oci:`, `oci-archive:` or
    /// `docker-archive:` source) and unpacks it; a tag is always looked up anew.
    pub async fn pull(&self, reference: &str) -> Result<ImageInfo> {
        self.pull_with_progress(reference, None).await
    }

    /// [`ImageHandle::pull`], reporting each layer's download to `progress`.
    pub async fn pull_with_progress(
        &self,
        reference: &str,
        progress: Option<ProgressFn>,
    ) -> Result<ImageInfo> {
        self.rt.check_open(&format!("pull image {reference}"))?;
        let resolved = self.resolve(reference)?;
        let _shared = self.shared_lock().await?;
        let prepared = self.fetch(&resolved, progress, false).await?;
        // The record fetch wrote: found again by the canonical name the pull settled on.
        self.find(&resolved)?.map(ImageInfo::from).ok_or_else(|| {
            Error::new(
                ErrorKind::Internal,
                format!("image {reference}: pulled {} but found no record", prepared.digest),
            )
        })
    }

    /// Every cached image, newest first.
    pub fn list(&self) -> Result<Vec<ImageInfo>> {
        self.rt.check_open("list images")?;
        Ok(self.rt.store().list_images()?.into_iter().map(ImageInfo::from).collect())
    }

    /// The cached image `reference` names (a reference, or an image id or its unique prefix
    /// of at least 12 hex digits), `None` if it is not cached.
    pub fn inspect(&self, reference: &str) -> Result<Option<ImageInfo>> {
        self.rt.check_open(&format!("inspect image {reference}"))?;
        Ok(self.lookup(reference)?.map(ImageInfo::from))
    }

    /// Removes a cached image and whatever only it used. Refused while a box uses it (by
    /// reference or by the manifest it started from) unless `force`; boxes keep running from
    /// their unpacked root either way.
    pub fn remove(&self, reference: &str, force: bool) -> Result<()> {
        self.rt.check_open(&format!("remove image {reference}"))?;
        let Some(rec) = self.lookup(reference)? else {
            return Err(Error::not_found(format!(
                "cannot remove image {reference}: it is not in the image store"
            )));
        };
        let _exclusive = self.exclusive_lock()?;
        let users = self.users(&rec)?;
        if !users.is_empty() && !force {
            return Err(Error::new(
                ErrorKind::InvalidState,
                format!(
                    "cannot remove image {}: used by box{} {}; remove {} first, or force",
                    rec.reference,
                    if users.len() == 1 { "" } else { "es" },
                    users.join(", "),
                    if users.len() == 1 { "it" } else { "them" },
                ),
            ));
        }
        self.rt.store().delete_image(&rec.reference)?;
        self.collect_garbage()?;
        Ok(())
    }

    /// Removes every blob no image record names and every unpacked root no record or box
    /// uses, and leftovers of interrupted pulls.
    pub fn prune(&self) -> Result<PruneReport> {
        self.rt.check_open("prune images")?;
        let _exclusive = self.exclusive_lock()?;
        self.collect_garbage()
    }

    fn collect_garbage(&self) -> Result<PruneReport> {
        let store = self.rt.image_store();
        let records = self.rt.store().list_images()?;
        let mut keep_rootfs: HashSet<String> =
            records.iter().map(|r| r.manifest_digest.clone()).collect();
        for (_, _, digest) in self.rt.store().box_images()? {
            if let Some(d) = digest {
                keep_rootfs.insert(d);
            }
        }
        let mut keep_blobs: HashSet<String> = HashSet::new();
        for r in &records {
            keep_blobs.insert(r.manifest_digest.clone());
            keep_blobs.insert(r.config_digest.clone());
            keep_blobs.extend(r.layers.iter().cloned());
        }
        let mut report = PruneReport::default();
        for digest in store.rootfs_digests()? {
            if !keep_rootfs.contains(&digest.to_string()) {
                store.remove_rootfs(&digest)?;
                report.rootfs_removed += 1;
            }
        }
        for digest in store.blobs().list()? {
            if !keep_blobs.contains(&digest.to_string()) {
                report.bytes_freed += store.blobs().remove(&digest)?;
                report.blobs_removed += 1;
            }
        }
        // Every puller holds the shared lock we exclude: what is in tmp/ now is abandoned.
        images::remove_stale_downloads(store.tmp_dir())?;
        Ok(report)
    }

    /// Boxes that use `rec`: started from its manifest, or created from its reference.
    fn users(&self, rec: &ImageRecord) -> Result<Vec<String>> {
        let mut users = Vec::new();
        for (id, image, digest) in self.rt.store().box_images()? {
            let by_digest = digest.as_deref() == Some(rec.manifest_digest.as_str());
            let by_reference = self
                .resolve(&image)
                .map(|r| r.candidates.iter().any(|c| c.key() == rec.reference))
                .unwrap_or(false);
            if by_digest || by_reference {
                users.push(id);
            }
        }
        Ok(users)
    }

    fn resolve(&self, reference: &str) -> Result<Resolved> {
        let image = ImageRef::parse(reference)?;
        let candidates = match &image {
            ImageRef::Registry(r) if r.qualified => vec![Candidate::Registry(r.clone())],
            ImageRef::Registry(r) => self
                .rt
                .remote()
                .registries()?
                .search()
                .iter()
                .flat_map(|host| r.search_candidates(host))
                .map(Candidate::Registry)
                .collect(),
            local => vec![Candidate::Local(absolute(local)?)],
        };
        Ok(Resolved { image, candidates })
    }

    /// The record of a reference or image id.
    fn lookup(&self, reference: &str) -> Result<Option<ImageRecord>> {
        if let Some(rec) = self.lookup_id(reference)? {
            return Ok(Some(rec));
        }
        self.find(&self.resolve(reference)?)
    }

    fn lookup_id(&self, key: &str) -> Result<Option<ImageRecord>> {
        let hex = key.strip_prefix("sha256:").unwrap_or(key);
        let id_like = hex.len() >= 12
            && hex.len() <= 64
            && hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        if !id_like {
            return Ok(None);
        }
        let mut found = self.rt.store().images_by_digest_prefix(&format!("sha256:{hex}"))?;
        found.sort_by_key(|r| std::cmp::Reverse(r.pulled_at_ms));
        let ids: HashSet<&str> = found.iter().map(|r| r.manifest_digest.as_str()).collect();
        if ids.len() > 1 {
            return Err(Error::invalid_argument(format!(
                "image id prefix {key} matches {} images; give more digits",
                ids.len()
            )));
        }
        Ok(found.into_iter().next())
    }

    fn find(&self, resolved: &Resolved) -> Result<Option<ImageRecord>> {
        for candidate in &resolved.candidates {
            if let Some(rec) = self.rt.store().image(&candidate.key())? {
                return Ok(Some(rec));
            }
        }
        Ok(None)
    }

    /// A recorded image whose root is unpacked, for a registry reference; local sources are
    /// always read again (their tag may have moved), which costs an index read when cached.
    fn cached(&self, resolved: &Resolved) -> Result<Option<PreparedImage>> {
        if resolved.image.is_local() {
            return Ok(None);
        }
        for candidate in &resolved.candidates {
            if let Some(prepared) = self.cached_one(&candidate.key())? {
                return Ok(Some(prepared));
            }
        }
        Ok(None)
    }

    /// Fetches the first candidate that exists, records it and returns it. With
    /// `reuse_cached` a candidate another puller finished while we waited is taken as is.
    async fn fetch(
        &self,
        resolved: &Resolved,
        progress: Option<ProgressFn>,
        reuse_cached: bool,
    ) -> Result<PreparedImage> {
        let mut failures: Vec<(String, Error)> = Vec::new();
        for candidate in &resolved.candidates {
            let key = candidate.key();
            let _pull = self.pull_lock(&key).await?;
            if reuse_cached {
                if let Some(prepared) = self.cached_one(&key)? {
                    return Ok(prepared);
                }
            }
            let result = match candidate {
                Candidate::Local(image) => {
                    let store = self.rt.image_store().clone();
                    let image = image.clone();
                    tokio::task::spawn_blocking(move || store.prepare_local(&image))
                        .await
                        .map_err(|e| Error::new(ErrorKind::Internal, format!("image task: {e}")))?
                        .map(|p| (p, "local".to_owned()))
                }
                Candidate::Registry(r) => {
                    images::pull(self.rt.image_store(), self.rt.remote(), r, progress.clone()).await
                }
            };
            match result {
                Ok((prepared, source)) => {
                    self.record(candidate, &prepared, &source)?;
                    return Ok(prepared);
                }
                Err(e) if resolved.candidates.len() > 1 && images::is_retryable(&e) => {
                    failures.push((key, e));
                }
                Err(e) => return Err(e),
            }
        }
        let all_missing = failures.iter().all(|(_, e)| e.kind() == ErrorKind::NotFound);
        let kind = match failures.last() {
            Some(_) if all_missing => ErrorKind::NotFound,
            Some((_, e)) => e.kind(),
            None => ErrorKind::Internal,
        };
        let tried: Vec<String> = failures.iter().map(|(_, e)| e.to_string()).collect();
        let outcome = if all_missing {
            "not found in any registry searched"
        } else {
            "no registry searched could serve it"
        };
        Err(Error::new(kind, format!("image {}: {outcome} ({})", resolved.image, tried.join("; "))))
    }

    fn cached_one(&self, key: &str) -> Result<Option<PreparedImage>> {
        let Some(rec) = self.rt.store().image(key)? else { return Ok(None) };
        let Ok(digest) = Digest::parse(&rec.manifest_digest) else { return Ok(None) };
        Ok(self.rt.image_store().cached(&digest))
    }

    fn record(&self, candidate: &Candidate, prepared: &PreparedImage, source: &str) -> Result<()> {
        let (repository, tag) = match candidate {
            Candidate::Registry(r) => (r.name(), r.tag.clone()),
            Candidate::Local(
                ImageRef::OciLayout { path, tag } | ImageRef::OciArchive { path, tag },
            ) => (local_repository(candidate, path), tag.clone()),
            Candidate::Local(ImageRef::DockerArchive { path, reference }) => {
                (local_repository(candidate, path), reference.clone())
            }
            Candidate::Local(ImageRef::Registry(r)) => (r.name(), r.tag.clone()),
        };
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0);
        self.rt.store().put_image(&ImageRecord {
            reference: candidate.key(),
            repository,
            tag,
            manifest_digest: prepared.digest.clone(),
            config_digest: prepared.config_digest.clone(),
            layers: prepared.layers.clone(),
            size_bytes: prepared.size,
            source: source.to_owned(),
            pulled_at_ms: now_ms,
        })
    }

    async fn shared_lock(&self) -> Result<FileLock> {
        let path = self.rt.home().locks_dir().join("images.lock");
        blocking(move || FileLock::acquire_shared(&path, "image store")).await
    }

    fn exclusive_lock(&self) -> Result<FileLock> {
        FileLock::acquire(&self.rt.home().locks_dir().join("images.lock"), "image store")
    }

    async fn pull_lock(&self, key: &str) -> Result<FileLock> {
        let hash = Digest::of(key.as_bytes());
        let path = self.rt.home().locks_dir().join(format!("pull-{}.lock", &hash.hex()[..32]));
        let what = format!("pull of {key}");
        blocking(move || FileLock::acquire(&path, &what)).await
    }
}

fn local_repository(candidate: &Candidate, path: &std::path::Path) -> String {
    let scheme = candidate.key().split(':').next().unwrap_or_default().to_owned();
    format!("{scheme}:{}", path.display())
}

/// Local sources are recorded under their absolute path: `oci:layout` from two working
/// directories are two images.
fn absolute(image: &ImageRef) -> Result<ImageRef> {
    let abs = |p: &PathBuf| {
        std::path::absolute(p).map_err(|e| Error::io(format!("image {image}: resolve path"), e))
    };
    Ok(match image {
        ImageRef::OciLayout { path, tag } => {
            ImageRef::OciLayout { path: abs(path)?, tag: tag.clone() }
        }
        ImageRef::OciArchive { path, tag } => {
            ImageRef::OciArchive { path: abs(path)?, tag: tag.clone() }
        }
        ImageRef::DockerArchive { path, reference } => {
            ImageRef::DockerArchive { path: abs(path)?, reference: reference.clone() }
        }
        ImageRef::Registry(r) => ImageRef::Registry(r.clone()),
    })
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Error::new(ErrorKind::Internal, format!("lock task: {e}")))?
}
