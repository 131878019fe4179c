//! Local image archives — `oci-archive:FILE[:TAG]` (a tar of an OCI image layout) and
//! `docker-archive:FILE[:REF]` (what `docker save` writes, classic and Docker 25+) — turned into
//! an OCI image layout directory, so [`Layout`](super::layout::Layout) does the rest: tags,
//! platform choice, verified blob reads.
//!
//! The archive is read in one streaming pass (it may be compressed: gzip / zstd by magic), since
//! nothing orders its members: `manifest.json` may come last. No member name ever becomes a path
//! here. Every file is created, `O_NOFOLLOW | O_EXCL`, in a directory this module created
//! itself, under a fixed name (`oci-layout`, `index.json`) or the sha256 hex computed while
//! copying it; links are refused (OCI) or resolved by name inside the archive and never created
//! (Docker).
//!
//! On error `dest` is left half-written: it is the caller's temporary directory, and removing it
//! is the caller's job.

// Until the image store resolves `oci-archive:` / `docker-archive:` references through here.

use std::cell::Cell;
use std::collections::{HashMap, HashSet};
use std::fs::{self, DirBuilder, File, OpenOptions};
use std::io::{self, BufReader, Read, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::json;
use tar::EntryType;

use super::decompress::decompress;
use super::digest::{Digest, HashingReader};
use super::entry::{entry_error, io_kind, read_meta, Kind, Pending};
use super::media::{OCI_CONFIG, OCI_INDEX, OCI_MANIFEST};
use super::Limits;
use crate::error::{Error, ErrorKind, Result};

/// The annotation `Layout::resolve` matches a tag against.
const REF_NAME: &str = "org.opencontainers.image.ref.name";
/// `index.json`, `manifest.json`, `repositories`: read without a digest to check, so bounded
/// (the same bound as `Layout` puts on `index.json`).
pub(crate) const MAX_JSON_BYTES: u64 = 16 << 20;
/// `oci-layout` holds one small JSON object.
const MAX_MARKER_BYTES: u64 = 64 << 10;
/// Largest PAX or GNU long-name extension header read into memory.
const MAX_EXTENSION_BYTES: u64 = 1 << 20;
/// Symlinks followed to resolve one name in a Docker archive.
const MAX_ALIAS_HOPS: usize = 16;
/// Staged under this directory of `dest` while a member's digest is not known yet.
const STAGING: &str = ".staging";

const LAYER_TAR: &str = "application/vnd.oci.image.layer.v1.tar";
const LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
const LAYER_ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";

/// The two archive formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ArchiveKind {
    /// `oci-archive:`: a tar of an OCI image layout (skopeo, buildah, podman).
    Oci,
    /// `docker-archive:`: `docker save` output, with `manifest.json`.
    Docker,
}

/// What [`to_layout`] wrote: enough to turn the reference's TAG / REF into the tag to give
/// `Layout::resolve`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Unpacked {
    kind: ArchiveKind,
    /// Docker: the first tag of the archive's only image, when it has exactly one.
    only_tag: Option<String>,
}

impl Unpacked {
    /// The tag to pass to `Layout::resolve` for the reference's TAG (`oci-archive:`) or REF
    /// (`docker-archive:`). Docker names are compared normalized, as docker and skopeo compare
    /// them (`busybox` = `busybox:latest` = `docker.io/library/busybox:latest`), because
    /// `docker save` writes the short form and skopeo the long one. An archive holding one
    /// image selects it when no REF is given, however many tags it carries.
    pub(crate) fn tag(&self, requested: Option<&str>) -> Option<String> {
        match (self.kind, requested) {
            (ArchiveKind::Oci, requested) => requested.map(str::to_owned),
            (ArchiveKind::Docker, Some(reference)) => Some(normalize_docker_ref(reference)),
            (ArchiveKind::Docker, None) => self.only_tag.clone(),
        }
    }
}

/// Unpacks `archive` into `dest` (an existing empty directory) as an OCI image layout, within
/// the default [`Limits`]. `name` is the image reference, for messages.
pub(crate) fn to_layout(
    archive: &Path,
    kind: ArchiveKind,
    dest: &Path,
    name: &str,
) -> Result<Unpacked> {
    to_layout_with(archive, kind, dest, name, &Limits::default())
}

/// [`to_layout`] with explicit bounds: `max_entries` tar headers (extension headers included)
/// and `max_bytes` of member contents.
pub(crate) fn to_layout_with(
    archive: &Path,
    kind: ArchiveKind,
    dest: &Path,
    name: &str,
    limits: &Limits,
) -> Result<Unpacked> {
    let what = format!("image {name}: archive {}", archive.display());
    let file = open_archive(archive, &what)?;
    let out = Out::create(dest, &what)?;
    let mut reader = Reader::new(&what, kind, limits);
    let stream = decompress(BufReader::with_capacity(256 << 10, file))
        .map_err(|e| reader.stream_error(e))?
        .0;
    reader.read_all(stream, &out)?;
    match kind {
        ArchiveKind::Oci => reader.finish_oci(&out),
        ArchiveKind::Docker => reader.finish_docker(&out),
    }
}

fn open_archive(archive: &Path, what: &str) -> Result<File> {
    let file = File::open(archive).map_err(|e| match e.kind() {
        io::ErrorKind::NotFound => Error::not_found(format!("{what}: the file does not exist")),
        _ => Error::io(format!("{what}: open"), e),
    })?;
    let meta = file.metadata().map_err(|e| Error::io(format!("{what}: stat"), e))?;
    if !meta.is_file() {
        return Err(Error::new(ErrorKind::Image, format!("{what}: not a regular file")));
    }
    Ok(file)
}

/// The directories of `dest` this module creates and writes into.
struct Out {
    dest: PathBuf,
    blobs: PathBuf,
    staging: PathBuf,
    what: String,
    /// Names staging files.
    seq: Cell<u64>,
}

impl Out {
    fn create(dest: &Path, what: &str) -> Result<Self> {
        let mut entries = fs::read_dir(dest)
            .map_err(|e| Error::io(format!("{what}: list {}", dest.display()), e))?;
        if entries.next().is_some() {
            return Err(Error::new(
                ErrorKind::Internal,
                format!("{what}: destination {} is not empty", dest.display()),
            ));
        }
        let out = Out {
            dest: dest.to_owned(),
            blobs: dest.join("blobs/sha256"),
            staging: dest.join(STAGING),
            what: what.to_owned(),
            seq: Cell::new(0),
        };
        // Created here, so nothing in them can be a link planted by someone else.
        for dir in [dest.join("blobs"), out.blobs.clone(), out.staging.clone()] {
            DirBuilder::new()
                .mode(0o755)
                .create(&dir)
                .map_err(|e| Error::io(format!("{what}: create {}", dir.display()), e))?;
        }
        Ok(out)
    }

    fn new_file(&self, path: &Path) -> Result<File> {
        OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o644)
            .custom_flags(libc::O_NOFOLLOW)
            .open(path)
            .map_err(|e| self.write_error(path, e))
    }

    fn write_error(&self, path: &Path, e: io::Error) -> Error {
        Error::new(io_kind(&e), format!("{}: write {}", self.what, path.display())).with_source(e)
    }

    /// Copies `src` into a staging file and moves it to `blobs/sha256/<its digest>`.
    fn put_stream(&self, src: impl Read, member: &str) -> Result<Staged> {
        self.seq.set(self.seq.get() + 1);
        let staged = self.staging.join(self.seq.get().to_string());
        let mut file = self.new_file(&staged)?;
        let mut hashing = HashingReader::new(src);
        let mut head = Head::default();
        copy(&mut hashing, &mut file, &mut head)
            .map_err(|e| entry_error(&self.what, member, "copy", Some(e)))?;
        drop(file);
        let (digest, size) =
            hashing.finish().map_err(|e| entry_error(&self.what, member, "copy", Some(e)))?;
        let blob = self.blobs.join(digest.hex());
        // The same content twice (a layer saved under two names) is the same blob.
        fs::rename(&staged, &blob).map_err(|e| self.write_error(&blob, e))?;
        Ok(Staged { digest, size, head: head.bytes[..head.len].to_vec() })
    }

    fn put_bytes(&self, bytes: &[u8]) -> Result<Digest> {
        let digest = Digest::of(bytes);
        let path = self.blobs.join(digest.hex());
        if !path.exists() {
            self.write(&path, bytes)?;
        }
        Ok(digest)
    }

    fn write(&self, path: &Path, bytes: &[u8]) -> Result<()> {
        let mut file = self.new_file(path)?;
        file.write_all(bytes).map_err(|e| self.write_error(path, e))
    }
}

/// The first bytes of a member: enough to tell gzip and zstd layers from plain tar.
#[derive(Default)]
struct Head {
    bytes: [u8; 4],
    len: usize,
}

fn copy(src: &mut impl Read, dst: &mut File, head: &mut Head) -> io::Result<()> {
    let mut buf = vec![0u8; 256 << 10];
    loop {
        let n = match src.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        let take = (head.bytes.len() - head.len).min(n);
        head.bytes[head.len..head.len + take].copy_from_slice(&buf[..take]);
        head.len += take;
        dst.write_all(&buf[..n])?;
    }
}

/// A member copied into `blobs/sha256/`.
#[derive(Clone, Debug)]
struct Staged {
    digest: Digest,
    size: u64,
    head: Vec<u8>,
}

/// What one pass over the archive collected.
struct Reader<'a> {
    what: &'a str,
    kind: ArchiveKind,
    limits: &'a Limits,
    entries: u64,
    bytes: u64,
    /// Every member name seen, normalized: duplicates are refused.
    names: HashSet<String>,
    /// Docker: regular members by name.
    members: HashMap<String, Staged>,
    /// Docker: symlinks and hardlinks by name, to the name they stand for.
    aliases: HashMap<String, String>,
    /// Small JSON members kept in memory: `index.json`, `oci-layout`, `manifest.json`.
    json: HashMap<&'static str, Vec<u8>>,
}

impl<'a> Reader<'a> {
    fn new(what: &'a str, kind: ArchiveKind, limits: &'a Limits) -> Self {
        Reader {
            what,
            kind,
            limits,
            entries: 0,
            bytes: 0,
            names: HashSet::new(),
            members: HashMap::new(),
            aliases: HashMap::new(),
            json: HashMap::new(),
        }
    }

    fn stream_error(&self, e: io::Error) -> Error {
        Error::new(io_kind(&e), format!("{}: read the tar stream", self.what)).with_source(e)
    }

    fn refuse(&self, member: &str, why: &str) -> Error {
        entry_error(self.what, member, why, None)
    }

    fn read_all(&mut self, stream: impl Read, out: &Out) -> Result<()> {
        let mut archive = tar::Archive::new(stream);
        // Raw: extension headers come here, so their size is bounded before they are read.
        let entries = archive.entries().map_err(|e| self.stream_error(e))?.raw(true);
        let mut pending = Pending::default();
        for entry in entries {
            let mut entry = entry.map_err(|e| self.stream_error(e))?;
            self.entries += 1;
            if self.entries > self.limits.max_entries {
                return Err(Error::new(
                    ErrorKind::Image,
                    format!("{}: more than {} tar entries", self.what, self.limits.max_entries),
                ));
            }
            let size = entry.size();
            self.bytes = self.bytes.saturating_add(size);
            if self.bytes > self.limits.max_bytes {
                return Err(Error::new(
                    ErrorKind::Image,
                    format!("{}: more than {} bytes of contents", self.what, self.limits.max_bytes),
                ));
            }
            let slot = match entry.header().entry_type() {
                EntryType::XHeader => Some(&mut pending.pax),
                EntryType::GNULongName => Some(&mut pending.long_name),
                EntryType::GNULongLink => Some(&mut pending.long_link),
                EntryType::XGlobalHeader => None,
                _ => {
                    let taken = std::mem::take(&mut pending);
                    self.member(&mut entry, taken, out)?;
                    continue;
                }
            };
            if size > MAX_EXTENSION_BYTES {
                return Err(Error::new(
                    ErrorKind::Image,
                    format!(
                        "{}: a tar extension header of {size} bytes (more than \
                         {MAX_EXTENSION_BYTES})",
                        self.what
                    ),
                ));
            }
            let mut bytes = Vec::with_capacity(size as usize);
            entry.read_to_end(&mut bytes).map_err(|e| self.stream_error(e))?;
            if let Some(slot) = slot {
                *slot = Some(bytes);
            }
        }
        Ok(())
    }

    fn member<R: Read>(
        &mut self,
        entry: &mut tar::Entry<'_, R>,
        pending: Pending,
        out: &Out,
    ) -> Result<()> {
        if entry.header().entry_type() == EntryType::GNUSparse || is_sparse_pax(&pending) {
            let shown = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
            return Err(self.refuse(&shown, "sparse files are not supported in image archives"));
        }
        let meta = read_meta(entry, pending, self.what)?;
        let shown = String::from_utf8_lossy(&meta.path).into_owned();
        let name = member_name(&meta.path).map_err(|why| self.refuse(&shown, why))?;
        if name.is_empty() {
            // "./": the archive's root directory.
            return match meta.kind {
                Kind::Dir => Ok(()),
                _ => Err(self.refuse(&shown, "a non-directory entry for the archive's root")),
            };
        }
        if !self.names.insert(name.clone()) {
            return Err(self.refuse(&shown, "the name appears twice in the archive"));
        }
        match meta.kind {
            Kind::Dir => return Ok(()),
            Kind::File => {}
            Kind::Symlink | Kind::Hardlink if self.kind == ArchiveKind::Docker => {
                let link = meta.link.as_deref().unwrap_or_default();
                let target = link_target(&name, link, meta.kind == Kind::Symlink)
                    .map_err(|why| self.refuse(&shown, why))?;
                self.aliases.insert(name, target);
                return Ok(());
            }
            Kind::Symlink => return Err(self.refuse(&shown, "symlinks are not allowed")),
            Kind::Hardlink => return Err(self.refuse(&shown, "hardlinks are not allowed")),
            Kind::Fifo | Kind::Device => {
                return Err(self.refuse(&shown, "device and fifo entries are not allowed"))
            }
        }
        let mut body = Exact { left: entry.size(), inner: entry };
        match self.kind {
            ArchiveKind::Oci => self.oci_file(&mut body, &name, &shown, out),
            ArchiveKind::Docker => self.docker_file(&mut body, &name, &shown, out),
        }
    }

    /// Keeps what an OCI layout has: `oci-layout`, `index.json`, `blobs/sha256/<hex>`.
    fn oci_file(
        &mut self,
        entry: &mut impl Read,
        name: &str,
        shown: &str,
        out: &Out,
    ) -> Result<()> {
        match name {
            "oci-layout" => return self.keep_json(entry, "oci-layout", shown, MAX_MARKER_BYTES),
            "index.json" => return self.keep_json(entry, "index.json", shown, MAX_JSON_BYTES),
            _ => {}
        }
        let Some(rest) = name.strip_prefix("blobs/") else {
            // Not part of a layout (a `manifest.json` of a Docker 25+ archive, say): skipped.
            return Ok(());
        };
        let Some(hex) = rest.strip_prefix("sha256/") else {
            // Blobs of other algorithms cannot be read by `Layout` anyway.
            return Ok(());
        };
        let digest = Digest::parse(&format!("sha256:{hex}"))
            .map_err(|_| self.refuse(shown, "not a blob name (blobs/sha256/<64 lowercase hex>)"))?;
        let staged = out.put_stream(entry, shown)?;
        if staged.digest != digest {
            return Err(self.refuse(
                shown,
                &format!("the content hashes to {}, not the name's digest", staged.digest),
            ));
        }
        Ok(())
    }

    /// Every regular member may be named by `manifest.json`, which may come last: each one is
    /// stored as the blob of its digest now, and what no manifest names is removed at the end.
    fn docker_file(
        &mut self,
        entry: &mut impl Read,
        name: &str,
        shown: &str,
        out: &Out,
    ) -> Result<()> {
        if name == "manifest.json" {
            return self.keep_json(entry, "manifest.json", shown, MAX_JSON_BYTES);
        }
        let staged = out.put_stream(entry, shown)?;
        // Docker 25+ archives name blobs by digest: the name must tell the truth.
        if let Some(hex) = name.strip_prefix("blobs/sha256/") {
            if hex != staged.digest.hex() {
                return Err(self.refuse(
                    shown,
                    &format!("the content hashes to {}, not the name's digest", staged.digest),
                ));
            }
        }
        self.members.insert(name.to_owned(), staged);
        Ok(())
    }

    fn keep_json(
        &mut self,
        entry: &mut impl Read,
        key: &'static str,
        shown: &str,
        max: u64,
    ) -> Result<()> {
        let mut bytes = Vec::new();
        entry
            .take(max + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| entry_error(self.what, shown, "read", Some(e)))?;
        if bytes.len() as u64 > max {
            return Err(self.refuse(shown, &format!("larger than the {max} bytes allowed")));
        }
        self.json.insert(key, bytes);
        Ok(())
    }

    fn missing(&self, file: &str, hint: &str) -> Error {
        Error::new(ErrorKind::Image, format!("{}: no {file} in the archive{hint}", self.what))
    }

    fn finish_oci(self, out: &Out) -> Result<Unpacked> {
        let hint = if self.names.contains("manifest.json") {
            " (it looks like a docker save archive: use docker-archive:)"
        } else {
            " (not an OCI archive)"
        };
        let marker = self.json.get("oci-layout").ok_or_else(|| self.missing("oci-layout", hint))?;
        let index = self.json.get("index.json").ok_or_else(|| self.missing("index.json", hint))?;
        out.write(&out.dest.join("oci-layout"), marker)?;
        out.write(&out.dest.join("index.json"), index)?;
        remove_staging(out)?;
        Ok(Unpacked { kind: ArchiveKind::Oci, only_tag: None })
    }

    fn finish_docker(self, out: &Out) -> Result<Unpacked> {
        let Some(bytes) = self.json.get("manifest.json") else {
            let hint = if self.names.contains("index.json") {
                " (it looks like an OCI archive: use oci-archive:)"
            } else {
                " (not a docker save archive)"
            };
            return Err(self.missing("manifest.json", hint));
        };
        let images: Vec<SavedImage> = serde_json::from_slice(bytes).map_err(|e| {
            Error::new(ErrorKind::Image, format!("{}: invalid manifest.json", self.what))
                .with_source(e)
        })?;
        if images.is_empty() {
            return Err(Error::new(
                ErrorKind::Image,
                format!("{}: manifest.json lists no images", self.what),
            ));
        }
        let mut keep: HashSet<Digest> = HashSet::new();
        let mut index = Vec::new();
        let mut first_tags = Vec::new();
        for (i, image) in images.iter().enumerate() {
            let which = format!("manifest.json image {}/{}", i + 1, images.len());
            let config = self.lookup(&image.config, &which)?;
            let mut layers = Vec::with_capacity(image.layers.len());
            for layer in &image.layers {
                let staged = self.lookup(layer, &which)?;
                keep.insert(staged.digest.clone());
                layers.push(json!({
                    "mediaType": layer_media_type(&staged.head),
                    "digest": staged.digest.to_string(),
                    "size": staged.size,
                }));
            }
            keep.insert(config.digest.clone());
            let manifest = json!({
                "schemaVersion": 2,
                "mediaType": OCI_MANIFEST,
                "config": {
                    "mediaType": OCI_CONFIG,
                    "digest": config.digest.to_string(),
                    "size": config.size,
                },
                "layers": layers,
            });
            let manifest = to_json(&manifest)?;
            let digest = out.put_bytes(&manifest)?;
            keep.insert(digest.clone());
            let descriptor = json!({
                "mediaType": OCI_MANIFEST,
                "digest": digest.to_string(),
                "size": manifest.len(),
            });
            let tags = image.repo_tags.as_deref().unwrap_or_default();
            first_tags.push(tags.first().map(|t| normalize_docker_ref(t)));
            if tags.is_empty() {
                index.push(descriptor.clone());
            }
            let mut seen = HashSet::new();
            for tag in tags {
                let tag = normalize_docker_ref(tag);
                if seen.insert(tag.clone()) {
                    let mut entry = descriptor.clone();
                    entry["annotations"] = json!({ REF_NAME: tag });
                    index.push(entry);
                }
            }
        }
        let index =
            to_json(&json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": index}))?;
        out.write(&out.dest.join("index.json"), &index)?;
        out.write(&out.dest.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#)?;
        for staged in self.members.values() {
            if !keep.contains(&staged.digest) {
                let path = out.blobs.join(staged.digest.hex());
                match fs::remove_file(&path) {
                    Ok(()) => {}
                    // Two unreferenced members with the same content: removed already.
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                    Err(e) => return Err(out.write_error(&path, e)),
                }
            }
        }
        remove_staging(out)?;
        let only_tag = match first_tags.as_slice() {
            [only] => only.clone(),
            _ => None,
        };
        Ok(Unpacked { kind: ArchiveKind::Docker, only_tag })
    }

    /// The member `manifest.json` names `raw`, symlinks followed (by name, never on disk).
    fn lookup(&self, raw: &str, which: &str) -> Result<&Staged> {
        let bad = |why: &str| {
            Error::new(ErrorKind::Image, format!("{}: {which} names {raw:?}: {why}", self.what))
        };
        let mut name = member_name(raw.as_bytes()).map_err(bad)?;
        for _ in 0..=MAX_ALIAS_HOPS {
            if let Some(staged) = self.members.get(&name) {
                return Ok(staged);
            }
            match self.aliases.get(&name) {
                Some(target) => name = target.clone(),
                None => return Err(bad("no such file in the archive")),
            }
        }
        Err(bad(&format!("more than {MAX_ALIAS_HOPS} links to follow")))
    }
}

/// PAX `GNU.sparse.*` records make a regular entry's data a sparse map, not the file.
fn is_sparse_pax(pending: &Pending) -> bool {
    pending.pax.as_deref().is_some_and(|pax| {
        tar::PaxExtensions::new(pax)
            .any(|ext| ext.is_ok_and(|ext| ext.key_bytes().starts_with(b"GNU.sparse.")))
    })
}

/// An entry's contents, which must be as long as its header says: `tar` ends a member cut
/// short by the end of the file without an error.
struct Exact<R> {
    inner: R,
    left: u64,
}

impl<R: Read> Read for Exact<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.left == 0 || buf.is_empty() {
            return Ok(0);
        }
        let n = self.inner.read(buf)?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("the archive ends {} bytes before the end of this entry", self.left),
            ));
        }
        self.left = self.left.saturating_sub(n as u64);
        Ok(n)
    }
}

/// One `manifest.json` entry.
#[derive(Deserialize)]
struct SavedImage {
    #[serde(rename = "Config")]
    config: String,
    #[serde(rename = "RepoTags", default)]
    repo_tags: Option<Vec<String>>,
    #[serde(rename = "Layers", default)]
    layers: Vec<String>,
}

fn to_json(value: &serde_json::Value) -> Result<Vec<u8>> {
    serde_json::to_vec(value)
        .map_err(|e| Error::new(ErrorKind::Internal, "serialize an image manifest").with_source(e))
}

fn layer_media_type(head: &[u8]) -> &'static str {
    if head.starts_with(&[0x1f, 0x8b]) {
        LAYER_GZIP
    } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        LAYER_ZSTD
    } else {
        LAYER_TAR
    }
}

fn remove_staging(out: &Out) -> Result<()> {
    fs::remove_dir(&out.staging).map_err(|e| out.write_error(&out.staging, e))
}

/// A member name as plain components joined by '/': `./` prefixes, repeated and trailing
/// slashes dropped; `..`, absolute names, NUL and non-UTF-8 refused.
fn member_name(raw: &[u8]) -> std::result::Result<String, &'static str> {
    let text = std::str::from_utf8(raw).map_err(|_| "the name is not UTF-8")?;
    if text.contains('\0') {
        return Err("the name contains a NUL byte");
    }
    if text.starts_with('/') {
        return Err("absolute names are not allowed");
    }
    let mut parts = Vec::new();
    for part in text.split('/') {
        match part {
            "" | "." => {}
            ".." => return Err("'..' is not allowed in names"),
            part => parts.push(part),
        }
    }
    Ok(parts.join("/"))
}

/// The member a link stands for: a symlink's target is relative to its own directory, a
/// hardlink's to the archive's root; neither may leave the archive.
fn link_target(
    name: &str,
    link: &[u8],
    symlink: bool,
) -> std::result::Result<String, &'static str> {
    let link = std::str::from_utf8(link).map_err(|_| "the link target is not UTF-8")?;
    if link.starts_with('/') {
        return Err("the link target is absolute");
    }
    let mut parts: Vec<&str> = Vec::new();
    if symlink {
        parts.extend(name.split('/'));
        parts.pop();
    }
    for part in link.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if parts.pop().is_none() {
                    return Err("the link target leaves the archive");
                }
            }
            part => parts.push(part),
        }
    }
    Ok(parts.join("/"))
}

/// A Docker reference in its full form: `busybox` → `docker.io/library/busybox:latest`.
pub(crate) fn normalize_docker_ref(reference: &str) -> String {
    let (repo, tag) = match reference.rsplit_once(':') {
        Some((repo, tag)) if !tag.contains('/') => (repo, tag),
        _ => (reference, "latest"),
    };
    let (domain, path) = match repo.split_once('/') {
        Some((domain, path))
            if domain.contains('.') || domain.contains(':') || domain == "localhost" =>
        {
            (domain, path.to_owned())
        }
        _ => ("docker.io", repo.to_owned()),
    };
    let domain = if domain == "index.docker.io" { "docker.io" } else { domain };
    let path =
        if domain == "docker.io" && !path.contains('/') { format!("library/{path}") } else { path };
    format!("{domain}/{path}:{tag}")
}
