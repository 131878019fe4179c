//! Builds layers and OCI image layouts in the tests themselves: raw tar headers (so hostile
//! names can be written as they are), gzip / zstd / plain blobs, configs, manifests, indexes.

use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use serde_json::{json, Value};
use tar::{EntryType, Header};

use crate::images::config::host_architecture;
use crate::images::digest::Digest;

pub(super) const MTIME: u64 = 1_600_000_000;
pub(super) const GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
pub(super) const TAR: &str = "application/vnd.oci.image.layer.v1.tar";
pub(super) const ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";

/// One layer's tar stream, entry by entry.
pub(super) struct Layer {
    tar: tar::Builder<Vec<u8>>,
    /// The mtime of the entries appended from now on.
    mtime: u64,
    /// PAX records for the next entry, written with its own (path, linkpath) in one header.
    pax: Vec<(String, Vec<u8>)>,
}

impl Layer {
    pub(super) fn new() -> Self {
        Layer { tar: tar::Builder::new(Vec::new()), mtime: MTIME, pax: Vec::new() }
    }

    /// Appends an entry with raw path and link bytes (PAX records when longer than ustar's
    /// 100 bytes); nothing is validated, on purpose.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn raw(
        self,
        kind: EntryType,
        path: &[u8],
        link: Option<&[u8]>,
        mode: u32,
        owner: (u64, u64),
        data: &[u8],
    ) -> Self {
        let mut header = Header::new_ustar();
        header.set_entry_type(kind);
        self.entry(header, path, link, mode, owner, data)
    }

    /// Fills `header` (type set by the caller) and appends it with `data`, the pending PAX
    /// records first.
    fn entry(
        mut self,
        mut header: Header,
        path: &[u8],
        link: Option<&[u8]>,
        mode: u32,
        owner: (u64, u64),
        data: &[u8],
    ) -> Self {
        let mut pax = std::mem::take(&mut self.pax);
        if path.len() > 100 {
            pax.push(("path".into(), path.to_vec()));
        }
        if let Some(link) = link.filter(|l| l.len() > 100) {
            pax.push(("linkpath".into(), link.to_vec()));
        }
        if !pax.is_empty() {
            self.tar
                .append_pax_extensions(pax.iter().map(|(k, v)| (k.as_str(), v.as_slice())))
                .unwrap();
        }
        header.set_mode(mode);
        header.set_uid(owner.0);
        header.set_gid(owner.1);
        header.set_mtime(self.mtime);
        header.set_size(data.len() as u64);
        let old = header.as_old_mut();
        let n = path.len().min(100);
        old.name[..n].copy_from_slice(&path[..n]);
        if let Some(link) = link {
            let n = link.len().min(100);
            old.linkname[..n].copy_from_slice(&link[..n]);
        }
        header.set_cksum();
        self.tar.append(&header, data).unwrap();
        self
    }

    /// An entry with a raw type byte (`EntryType` maps NUL to '0').
    pub(super) fn typeflag(self, byte: u8, path: &[u8], mode: u32, data: &[u8]) -> Self {
        let mut header = Header::new_ustar();
        header.as_old_mut().linkflag[0] = byte;
        self.entry(header, path, None, mode, (0, 0), data)
    }

    /// PAX records for the next entry.
    pub(super) fn pax(mut self, records: &[(&str, &[u8])]) -> Self {
        self.pax.extend(records.iter().map(|(k, v)| (k.to_string(), v.to_vec())));
        self
    }

    /// An extended attribute (a `SCHILY.xattr.` PAX record) for the next entry.
    pub(super) fn xattr(self, name: &str, value: &[u8]) -> Self {
        let key = format!("SCHILY.xattr.{name}");
        self.pax(&[(&key, value)])
    }

    /// The mtime of the entries appended from now on.
    pub(super) fn at(mut self, mtime: u64) -> Self {
        self.mtime = mtime;
        self
    }

    /// Bytes appended to the stream as they are (hand-made headers).
    pub(super) fn bytes(mut self, bytes: &[u8]) -> Self {
        self.tar.get_mut().extend_from_slice(bytes);
        self
    }

    /// A GNU long-name (`L`) or long-link (`K`) entry for the next entry.
    pub(super) fn gnu_long(self, kind: EntryType, name: &[u8]) -> Self {
        let mut header = Header::new_gnu();
        header.set_entry_type(kind);
        let mut data = name.to_vec();
        data.push(0);
        self.entry(header, b"././@LongLink", None, 0o644, (0, 0), &data)
    }

    /// An old GNU sparse entry (`S`): four regions in the header, 21 in each extension block.
    pub(super) fn gnu_sparse(
        self,
        path: &str,
        real_size: u64,
        regions: &[(u64, &[u8])],
        mode: u32,
    ) -> Self {
        let mut header = Header::new_gnu();
        header.set_entry_type(EntryType::GNUSparse);
        header.set_mode(mode);
        header.set_mtime(self.mtime);
        header.set_uid(0);
        header.set_gid(0);
        let data: Vec<u8> = regions.iter().flat_map(|(_, d)| d.iter().copied()).collect();
        header.set_size(data.len() as u64);
        header.as_old_mut().name[..path.len()].copy_from_slice(path.as_bytes());
        let gnu = header.as_gnu_mut().unwrap();
        gnu.set_real_size(real_size);
        gnu.set_is_extended(regions.len() > 4);
        for (slot, (offset, bytes)) in gnu.sparse.iter_mut().zip(regions) {
            slot.set_offset(*offset);
            slot.set_length(bytes.len() as u64);
        }
        header.set_cksum();
        let mut out = header.as_bytes().to_vec();
        let rest: Vec<_> = regions.iter().skip(4).collect();
        let chunks: Vec<_> = rest.chunks(21).collect();
        for (i, chunk) in chunks.iter().enumerate() {
            let mut ext = tar::GnuExtSparseHeader::new();
            for (slot, (offset, bytes)) in ext.sparse_mut().iter_mut().zip(chunk.iter()) {
                slot.set_offset(*offset);
                slot.set_length(bytes.len() as u64);
            }
            ext.set_is_extended(i + 1 < chunks.len());
            out.extend_from_slice(ext.as_bytes());
        }
        out.extend_from_slice(&data);
        out.resize(out.len().div_ceil(512) * 512, 0);
        self.bytes(&out)
    }

    /// A PAX sparse file as GNU tar writes them, `version` "0.0", "0.1" or "1.0".
    pub(super) fn pax_sparse(
        self,
        version: &str,
        path: &str,
        real_size: u64,
        regions: &[(u64, &[u8])],
        mode: u32,
    ) -> Self {
        let mut data: Vec<u8> = Vec::new();
        let mut records: Vec<(String, Vec<u8>)> = Vec::new();
        let mut record = |k: &str, v: String| records.push((k.into(), v.into_bytes()));
        let stand_in = format!("GNUSparseFile.0/{}", path.rsplit('/').next().unwrap());
        let name = match version {
            "0.0" => {
                record("GNU.sparse.size", real_size.to_string());
                record("GNU.sparse.numblocks", regions.len().to_string());
                for (offset, bytes) in regions {
                    record("GNU.sparse.offset", offset.to_string());
                    record("GNU.sparse.numbytes", bytes.len().to_string());
                }
                path.to_owned()
            }
            "0.1" => {
                record("GNU.sparse.size", real_size.to_string());
                record("GNU.sparse.numblocks", regions.len().to_string());
                record("GNU.sparse.name", path.to_owned());
                let map: Vec<String> =
                    regions.iter().map(|(o, b)| format!("{o},{}", b.len())).collect();
                record("GNU.sparse.map", map.join(","));
                stand_in
            }
            "1.0" => {
                record("GNU.sparse.major", "1".into());
                record("GNU.sparse.minor", "0".into());
                record("GNU.sparse.name", path.to_owned());
                record("GNU.sparse.realsize", real_size.to_string());
                let mut map = format!("{}\n", regions.len());
                for (offset, bytes) in regions {
                    map.push_str(&format!("{offset}\n{}\n", bytes.len()));
                }
                data.extend_from_slice(map.as_bytes());
                data.resize(data.len().div_ceil(512) * 512, 0);
                stand_in
            }
            other => panic!("no PAX sparse version {other}"),
        };
        for (_, bytes) in regions {
            data.extend_from_slice(bytes);
        }
        let mut layer = self;
        layer.pax.extend(records);
        layer.raw(EntryType::Regular, name.as_bytes(), None, mode, (0, 0), &data)
    }

    pub(super) fn dir(self, path: &str, mode: u32) -> Self {
        self.raw(EntryType::Directory, path.as_bytes(), None, mode, (0, 0), b"")
    }

    pub(super) fn dir_owned(self, path: &str, mode: u32, owner: (u64, u64)) -> Self {
        self.raw(EntryType::Directory, path.as_bytes(), None, mode, owner, b"")
    }

    pub(super) fn file(self, path: &str, data: &str, mode: u32) -> Self {
        self.raw(EntryType::Regular, path.as_bytes(), None, mode, (0, 0), data.as_bytes())
    }

    pub(super) fn file_owned(self, path: &str, data: &str, mode: u32, owner: (u64, u64)) -> Self {
        self.raw(EntryType::Regular, path.as_bytes(), None, mode, owner, data.as_bytes())
    }

    pub(super) fn symlink(self, path: &str, target: &str) -> Self {
        self.raw(EntryType::Symlink, path.as_bytes(), Some(target.as_bytes()), 0o777, (0, 0), b"")
    }

    pub(super) fn hardlink(self, path: &str, target: &str) -> Self {
        self.raw(EntryType::Link, path.as_bytes(), Some(target.as_bytes()), 0o644, (0, 0), b"")
    }

    pub(super) fn fifo(self, path: &str, mode: u32) -> Self {
        self.raw(EntryType::Fifo, path.as_bytes(), None, mode, (0, 0), b"")
    }

    /// `.wh.NAME` next to `path`'s last component.
    pub(super) fn whiteout(self, path: &str) -> Self {
        let (dir, name) = path.rsplit_once('/').map_or(("", path), |(d, n)| (d, n));
        let marker =
            if dir.is_empty() { format!(".wh.{name}") } else { format!("{dir}/.wh.{name}") };
        self.file(&marker, "", 0o644)
    }

    pub(super) fn opaque(self, dir: &str) -> Self {
        self.file(&format!("{dir}/.wh..wh..opq"), "", 0o644)
    }

    pub(super) fn tar(self) -> Vec<u8> {
        self.tar.into_inner().unwrap()
    }

    pub(super) fn gzip(self) -> Blob {
        let tar = self.tar();
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(&tar).unwrap();
        Blob::new(enc.finish().unwrap(), GZIP, &tar)
    }

    pub(super) fn plain(self) -> Blob {
        let tar = self.tar();
        Blob::new(tar.clone(), TAR, &tar)
    }

    pub(super) fn zstd(self) -> Blob {
        let tar = self.tar();
        let bytes = ruzstd::encoding::compress_to_vec(
            &tar[..],
            ruzstd::encoding::CompressionLevel::Fastest,
        );
        Blob::new(bytes, ZSTD, &tar)
    }
}

/// A blob and the media type its descriptor will carry.
#[derive(Clone)]
pub(super) struct Blob {
    pub(super) bytes: Vec<u8>,
    pub(super) media_type: String,
    /// The digest of the uncompressed tar, for the config's `rootfs.diff_ids`.
    pub(super) diff_id: String,
}

impl Blob {
    pub(super) fn new(bytes: Vec<u8>, media_type: &str, tar: &[u8]) -> Self {
        Blob { bytes, media_type: media_type.into(), diff_id: Digest::of(tar).to_string() }
    }
}

/// An OCI image layout under construction; `index.json` is rewritten on every change.
pub(super) struct Oci {
    pub(super) dir: PathBuf,
    pub(super) index: Vec<Value>,
}

pub(super) fn descriptor(media_type: &str, bytes: &[u8]) -> Value {
    json!({"mediaType": media_type, "digest": Digest::of(bytes).to_string(), "size": bytes.len()})
}

/// The default config of an image made of `layers`.
pub(super) fn config_for(layers: &[Blob]) -> Value {
    let mut config = default_config(layers.len());
    config["rootfs"]["diff_ids"] = layers.iter().map(|l| json!(l.diff_id)).collect();
    config
}

/// A config with Entrypoint, Cmd, Env, WorkingDir and User set; diff_ids are placeholders.
pub(super) fn default_config(layers: usize) -> Value {
    json!({
        "architecture": host_architecture(),
        "os": "linux",
        "config": {
            "Env": ["PATH=/usr/bin:/bin", "LANG=C.UTF-8"],
            "Entrypoint": ["/bin/entry"],
            "Cmd": ["--flag"],
            "WorkingDir": "/srv",
            "User": "1000:1000"
        },
        "rootfs": {"type": "layers", "diff_ids": vec!["sha256:00"; layers]}
    })
}

impl Oci {
    pub(super) fn new(dir: &Path) -> Self {
        std::fs::create_dir_all(dir.join("blobs/sha256")).unwrap();
        std::fs::write(dir.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
        let oci = Oci { dir: dir.to_owned(), index: Vec::new() };
        oci.write_index();
        oci
    }

    pub(super) fn blob_path(&self, bytes: &[u8]) -> PathBuf {
        self.dir.join("blobs/sha256").join(Digest::of(bytes).hex())
    }

    pub(super) fn put(&self, bytes: &[u8]) {
        std::fs::write(self.blob_path(bytes), bytes).unwrap();
    }

    /// Writes config, layers and an OCI manifest; returns the manifest's bytes (not indexed).
    pub(super) fn manifest(&self, layers: &[Blob], config: &Value) -> Vec<u8> {
        let config = serde_json::to_vec(config).unwrap();
        self.put(&config);
        for layer in layers {
            self.put(&layer.bytes);
        }
        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": descriptor("application/vnd.oci.image.config.v1+json", &config),
            "layers": layers.iter().map(|l| descriptor(&l.media_type, &l.bytes)).collect::<Vec<_>>(),
        });
        let bytes = serde_json::to_vec(&manifest).unwrap();
        self.put(&bytes);
        bytes
    }

    /// Adds an image with the default config; returns its manifest digest.
    pub(super) fn image(&mut self, tag: Option<&str>, layers: &[Blob]) -> String {
        let manifest = self.manifest(layers, &config_for(layers));
        self.add(tag, "application/vnd.oci.image.manifest.v1+json", &manifest)
    }

    /// Adds an index entry for a blob written already.
    pub(super) fn add(&mut self, tag: Option<&str>, media_type: &str, bytes: &[u8]) -> String {
        self.put(bytes);
        let mut entry = descriptor(media_type, bytes);
        if let Some(tag) = tag {
            entry["annotations"] = json!({"org.opencontainers.image.ref.name": tag});
        }
        self.index.push(entry);
        self.write_index();
        Digest::of(bytes).to_string()
    }

    pub(super) fn write_index(&self) {
        let index = json!({"schemaVersion": 2, "manifests": self.index});
        std::fs::write(self.dir.join("index.json"), serde_json::to_vec(&index).unwrap()).unwrap();
    }

    pub(super) fn reference(&self, tag: &str) -> String {
        format!("oci:{}:{tag}", self.dir.display())
    }
}

/// A listing of a tree that `diff`s well: one line per entry, sorted, no mtimes.
/// `path type mode uid:gid nlink detail`, detail = file content or symlink target.
pub(super) fn tree(root: &Path) -> Vec<String> {
    let mut lines = Vec::new();
    walk(root, root, &mut lines);
    lines.sort();
    lines
}

fn walk(root: &Path, dir: &Path, lines: &mut Vec<String>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let meta = std::fs::symlink_metadata(&path).unwrap();
        let rel = path.strip_prefix(root).unwrap().display().to_string();
        let t = meta.file_type();
        let (kind, detail) = if t.is_dir() {
            ("dir", String::new())
        } else if t.is_symlink() {
            ("symlink", std::fs::read_link(&path).unwrap().display().to_string())
        } else if t.is_file() {
            ("file", String::from_utf8_lossy(&std::fs::read(&path).unwrap()).into_owned())
        } else {
            ("other", String::new())
        };
        let nlink = if t.is_file() { meta.nlink() } else { 1 };
        lines.push(format!(
            "{rel} {kind} {:o} {}:{} {nlink} {detail}",
            meta.mode() & 0o7777,
            meta.uid(),
            meta.gid()
        ));
        if t.is_dir() {
            walk(root, &path, lines);
        }
    }
}
