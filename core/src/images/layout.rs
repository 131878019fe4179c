//! Reads an OCI image layout directory (`oci-layout`, `index.json`, `blobs/sha256/…`): picks the
//! manifest for a tag and this host's platform, and reads blobs after checking their size and
//! digest against the descriptor that named them.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::config::host_architecture;
use super::digest::Digest;
use super::media::{self, ManifestKind};
use crate::error::{Error, ErrorKind, Result};

/// The annotation that carries a manifest's tag in `index.json`.
const REF_NAME: &str = "org.opencontainers.image.ref.name";
/// `index.json` is the one file read without a digest to check: bound it.
const MAX_INDEX_BYTES: u64 = 16 << 20;
pub(crate) const MAX_MANIFEST_BYTES: u64 = 4 << 20;
pub(crate) const MAX_CONFIG_BYTES: u64 = 16 << 20;
/// Indexes pointing at indexes: a few levels are legitimate, a cycle is not.
pub(crate) const MAX_INDEX_DEPTH: usize = 4;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawDescriptor {
    #[serde(default)]
    media_type: Option<String>,
    digest: String,
    size: i64,
    #[serde(default)]
    annotations: Option<BTreeMap<String, String>>,
    #[serde(default)]
    platform: Option<Platform>,
}

#[derive(Deserialize)]
struct Platform {
    #[serde(default)]
    os: String,
    #[serde(default)]
    architecture: String,
}

#[derive(Deserialize)]
struct RawIndex {
    #[serde(default)]
    manifests: Vec<RawDescriptor>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawManifest {
    #[serde(default)]
    media_type: Option<String>,
    config: RawDescriptor,
    #[serde(default)]
    layers: Vec<RawDescriptor>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Sniff {
    #[serde(default)]
    media_type: Option<String>,
    #[serde(default)]
    manifests: Option<serde_json::Value>,
    #[serde(default)]
    layers: Option<serde_json::Value>,
}

/// A checked descriptor: the digest is valid and safe as a file name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Blob {
    pub(crate) digest: Digest,
    pub(crate) size: u64,
    /// Empty when the descriptor had none.
    pub(crate) media_type: String,
}

/// An image manifest: its config and layers, in order.
#[derive(Debug)]
pub(crate) struct Manifest {
    pub(crate) config: Blob,
    pub(crate) layers: Vec<Blob>,
}

impl Manifest {
    /// Refuses layers that are not filesystem layers (Helm charts, signatures, …): applying
    /// them as tar streams could only fail later, less clearly.
    pub(crate) fn check_layer_types(&self, name: &str) -> Result<()> {
        for (i, layer) in self.layers.iter().enumerate() {
            if !layer.media_type.is_empty() && media::layer_compression(&layer.media_type).is_none()
            {
                return Err(Error::new(
                    ErrorKind::Image,
                    format!(
                        "image {name}: layer {}/{} ({}) has media type {:?}, not a filesystem layer",
                        i + 1,
                        self.layers.len(),
                        layer.digest,
                        layer.media_type
                    ),
                ));
            }
        }
        Ok(())
    }
}

/// An OCI image layout on disk; `name` is the reference, for messages.
pub(crate) struct Layout {
    dir: PathBuf,
    name: String,
}

impl Layout {
    /// Checks that `dir` is an OCI image layout.
    pub(crate) fn open(dir: &Path, name: &str) -> Result<Self> {
        match std::fs::metadata(dir) {
            Ok(meta) if meta.is_dir() => {}
            Ok(_) => {
                return Err(Error::new(
                    ErrorKind::Image,
                    format!("image {name}: {} is not a directory", dir.display()),
                ))
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(Error::not_found(format!(
                    "image {name}: OCI layout directory {} does not exist",
                    dir.display()
                )))
            }
            Err(e) => return Err(Error::io(format!("image {name}: stat {}", dir.display()), e)),
        }
        let marker = dir.join("oci-layout");
        let text = read_bounded(&marker, 64 << 10).map_err(|e| {
            if e.kind() == io::ErrorKind::NotFound {
                Error::new(
                    ErrorKind::Image,
                    format!(
                        "image {name}: {} is not an OCI image layout (no oci-layout file)",
                        dir.display()
                    ),
                )
            } else {
                Error::io(format!("image {name}: read {}", marker.display()), e)
            }
        })?;
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Marker {
            image_layout_version: String,
        }
        let version = serde_json::from_slice::<Marker>(&text)
            .map(|m| m.image_layout_version)
            .map_err(|e| {
                Error::new(ErrorKind::Image, format!("image {name}: invalid {}", marker.display()))
                    .with_source(e)
            })?;
        if !version.starts_with("1.") {
            return Err(Error::new(
                ErrorKind::Image,
                format!("image {name}: unsupported OCI layout version {version:?}"),
            ));
        }
        Ok(Layout { dir: dir.to_owned(), name: name.to_owned() })
    }

    /// The home's blob store seen as a layout (it has no `index.json`: blobs only).
    pub(crate) fn blob_store(images_dir: &Path, name: &str) -> Self {
        Layout { dir: images_dir.to_owned(), name: name.to_owned() }
    }

    /// The image manifest for `tag` (or the only / `latest` one) on this host's platform.
    pub(crate) fn resolve(&self, tag: Option<&str>) -> Result<Blob> {
        let path = self.dir.join("index.json");
        let bytes = read_bounded(&path, MAX_INDEX_BYTES).map_err(|e| {
            if e.kind() == io::ErrorKind::NotFound {
                Error::new(
                    ErrorKind::Image,
                    format!("image {}: the layout has no index.json", self.name),
                )
            } else {
                Error::io(format!("image {}: read {}", self.name, path.display()), e)
            }
        })?;
        let index: RawIndex = serde_json::from_slice(&bytes).map_err(|e| {
            Error::new(ErrorKind::Image, format!("image {}: invalid index.json", self.name))
                .with_source(e)
        })?;
        let chosen = self.pick_tagged(&index.manifests, tag)?;
        self.to_manifest(chosen, 0)
    }

    fn pick_tagged<'i>(
        &self,
        entries: &'i [RawDescriptor],
        tag: Option<&str>,
    ) -> Result<&'i RawDescriptor> {
        if tag.is_none() && entries.len() == 1 {
            return Ok(&entries[0]);
        }
        let wanted = tag.unwrap_or("latest");
        let tagged: Vec<&RawDescriptor> =
            entries.iter().filter(|d| ref_name(d) == Some(wanted)).collect();
        match tagged.as_slice() {
            [] => {
                let mut tags: Vec<&str> = entries.iter().filter_map(ref_name).collect();
                tags.sort_unstable();
                tags.dedup();
                let available = if tags.is_empty() { "none".to_owned() } else { tags.join(", ") };
                let what = match tag {
                    Some(tag) => format!("tag {tag:?} not found"),
                    None => format!(
                        "no tag given and the layout has {} manifests, none tagged \"latest\"",
                        entries.len()
                    ),
                };
                Err(Error::not_found(format!(
                    "image {}: {what} in {}; tags available: {available}",
                    self.name,
                    self.dir.display()
                )))
            }
            [one] => Ok(one),
            many => self.pick_platform(many),
        }
    }

    /// The entry for this host among several (linux and this architecture; the first wins).
    fn pick_platform<'i>(&self, entries: &[&'i RawDescriptor]) -> Result<&'i RawDescriptor> {
        let arch = host_architecture();
        if let Some(found) = entries.iter().find(|d| {
            d.platform.as_ref().is_some_and(|p| p.os == "linux" && p.architecture == arch)
        }) {
            return Ok(found);
        }
        if let [only] = entries {
            if only.platform.is_none() {
                return Ok(only);
            }
        }
        let mut platforms: Vec<String> = entries
            .iter()
            .map(|d| match &d.platform {
                Some(p) => format!("{}/{}", p.os, p.architecture),
                None => "unspecified".to_owned(),
            })
            .collect();
        platforms.dedup();
        Err(Error::new(
            ErrorKind::Image,
            format!(
                "image {}: no manifest for linux/{arch}; platforms available: {}",
                self.name,
                platforms.join(", ")
            ),
        ))
    }

    /// Follows `desc` down to an image manifest, choosing a platform in every index met.
    fn to_manifest(&self, desc: &RawDescriptor, depth: usize) -> Result<Blob> {
        let blob = self.check(desc)?;
        let kind = match media::manifest_kind(&blob.media_type) {
            Some(kind) => kind,
            // No or an unknown type on the descriptor: ask the blob itself.
            None => self.sniff_kind(&blob)?,
        };
        match kind {
            ManifestKind::Image => Ok(blob),
            ManifestKind::Index if depth >= MAX_INDEX_DEPTH => Err(Error::new(
                ErrorKind::Image,
                format!("image {}: indexes nested deeper than {MAX_INDEX_DEPTH}", self.name),
            )),
            ManifestKind::Index => {
                let bytes = self.read_blob(&blob, MAX_MANIFEST_BYTES)?;
                let index: RawIndex = serde_json::from_slice(&bytes)
                    .map_err(|e| self.invalid(&blob, "image index").with_source(e))?;
                let entries: Vec<&RawDescriptor> = index.manifests.iter().collect();
                let chosen = self.pick_platform(&entries)?;
                self.to_manifest(chosen, depth + 1)
            }
        }
    }

    /// The entry of an index blob for this host's platform (a registry's manifest list).
    pub(crate) fn choose_from_index(&self, blob: &Blob, bytes: &[u8]) -> Result<Blob> {
        let index: RawIndex = serde_json::from_slice(bytes)
            .map_err(|e| self.invalid(blob, "image index").with_source(e))?;
        let entries: Vec<&RawDescriptor> = index.manifests.iter().collect();
        let chosen = self.pick_platform(&entries)?;
        self.check(chosen)
    }

    /// Reads and checks an image manifest.
    pub(crate) fn read_manifest(&self, blob: &Blob) -> Result<Manifest> {
        let bytes = self.read_blob(blob, MAX_MANIFEST_BYTES)?;
        self.parse_manifest(blob, &bytes)
    }

    fn sniff_kind(&self, blob: &Blob) -> Result<ManifestKind> {
        let bytes = self.read_blob(blob, MAX_MANIFEST_BYTES)?;
        self.kind_of(blob, &bytes)
    }

    /// What a manifest-or-index blob is: its declared media type, else its shape.
    pub(crate) fn kind_of(&self, blob: &Blob, bytes: &[u8]) -> Result<ManifestKind> {
        if let Some(kind) = media::manifest_kind(&blob.media_type) {
            return Ok(kind);
        }
        let sniff: Sniff = serde_json::from_slice(bytes)
            .map_err(|e| self.invalid(blob, "manifest").with_source(e))?;
        if let Some(kind) = sniff.media_type.as_deref().and_then(media::manifest_kind) {
            return Ok(kind);
        }
        match (sniff.manifests.is_some(), sniff.layers.is_some()) {
            (true, false) => Ok(ManifestKind::Index),
            (false, true) => Ok(ManifestKind::Image),
            _ => Err(Error::new(
                ErrorKind::Image,
                format!(
                    "image {}: {} is neither an image manifest nor an index (media type {:?})",
                    self.name, blob.digest, blob.media_type
                ),
            )),
        }
    }

    /// Checks an image manifest's bytes (already verified against `blob`).
    pub(crate) fn parse_manifest(&self, blob: &Blob, bytes: &[u8]) -> Result<Manifest> {
        let raw: RawManifest = serde_json::from_slice(bytes)
            .map_err(|e| self.invalid(blob, "image manifest").with_source(e))?;
        if let Some(kind) = raw.media_type.as_deref() {
            if media::manifest_kind(kind) != Some(ManifestKind::Image) {
                return Err(Error::new(
                    ErrorKind::Image,
                    format!(
                        "image {}: manifest {} has media type {kind:?}, not an image manifest",
                        self.name, blob.digest
                    ),
                ));
            }
        }
        let config = self.check(&raw.config)?;
        if !config.media_type.is_empty() && !media::is_config(&config.media_type) {
            return Err(Error::new(
                ErrorKind::Image,
                format!(
                    "image {}: not a container image (config media type {:?})",
                    self.name, config.media_type
                ),
            ));
        }
        let layers = raw.layers.iter().map(|d| self.check(d)).collect::<Result<Vec<_>>>()?;
        Ok(Manifest { config, layers })
    }

    fn check(&self, desc: &RawDescriptor) -> Result<Blob> {
        let digest = Digest::parse(&desc.digest).map_err(|e| {
            Error::new(ErrorKind::Image, format!("image {}: bad descriptor", self.name))
                .with_source(e)
        })?;
        let size = u64::try_from(desc.size).map_err(|_| {
            Error::new(
                ErrorKind::Image,
                format!(
                    "image {}: descriptor of {digest} has negative size {}",
                    self.name, desc.size
                ),
            )
        })?;
        Ok(Blob { digest, size, media_type: desc.media_type.clone().unwrap_or_default() })
    }

    fn invalid(&self, blob: &Blob, what: &str) -> Error {
        Error::new(ErrorKind::Image, format!("image {}: invalid {what} {}", self.name, blob.digest))
    }

    /// The path of a blob, for opening; its digest is checked hex, so the path stays in `blobs/`.
    fn blob_path(&self, blob: &Blob) -> PathBuf {
        self.dir.join("blobs/sha256").join(blob.digest.hex())
    }

    /// Opens a blob whose size on disk matches its descriptor; the caller hashes what it reads.
    pub(crate) fn open_blob(&self, blob: &Blob) -> Result<File> {
        let path = self.blob_path(blob);
        let file = File::open(&path).map_err(|e| {
            if e.kind() == io::ErrorKind::NotFound {
                Error::new(
                    ErrorKind::Image,
                    format!("image {}: blob {} is missing from the layout", self.name, blob.digest),
                )
            } else {
                Error::io(format!("image {}: open blob {}", self.name, path.display()), e)
            }
        })?;
        let actual = file
            .metadata()
            .map_err(|e| Error::io(format!("image {}: stat {}", self.name, path.display()), e))?
            .len();
        if actual != blob.size {
            return Err(self.size_mismatch(blob, actual));
        }
        Ok(file)
    }

    pub(crate) fn size_mismatch(&self, blob: &Blob, actual: u64) -> Error {
        Error::new(
            ErrorKind::Image,
            format!(
                "image {}: blob {} is {actual} bytes, its descriptor says {}",
                self.name, blob.digest, blob.size
            ),
        )
    }

    pub(crate) fn digest_mismatch(&self, blob: &Blob, actual: &Digest) -> Error {
        Error::new(
            ErrorKind::Image,
            format!(
                "image {}: blob {} does not match its digest (content hashes to {actual})",
                self.name, blob.digest
            ),
        )
    }

    /// Reads a whole small blob (manifest, index, config) and verifies it.
    pub(crate) fn read_blob(&self, blob: &Blob, max: u64) -> Result<Vec<u8>> {
        if blob.size > max {
            return Err(Error::new(
                ErrorKind::Image,
                format!(
                    "image {}: blob {} is {} bytes, more than the {max} allowed for it",
                    self.name, blob.digest, blob.size
                ),
            ));
        }
        let mut bytes = Vec::with_capacity(blob.size as usize);
        self.open_blob(blob)?
            // One byte more than announced shows a file that grew after the size check.
            .take(blob.size + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| Error::io(format!("image {}: read blob {}", self.name, blob.digest), e))?;
        if bytes.len() as u64 != blob.size {
            return Err(self.size_mismatch(blob, bytes.len() as u64));
        }
        let actual = Digest::of(&bytes);
        if actual != blob.digest {
            return Err(self.digest_mismatch(blob, &actual));
        }
        Ok(bytes)
    }
}

fn ref_name(desc: &RawDescriptor) -> Option<&str> {
    desc.annotations.as_ref()?.get(REF_NAME).map(String::as_str)
}

fn read_bounded(path: &Path, max: u64) -> io::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    File::open(path)?.take(max + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > max {
        return Err(io::Error::other(format!("{} is larger than {max} bytes", path.display())));
    }
    Ok(bytes)
}
