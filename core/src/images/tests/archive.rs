//! `oci-archive:` and `docker-archive:` files unpacked into OCI layouts: archives made by
//! skopeo from the busybox fixture, Docker 25+ and classic `docker save` archives built here,
//! and hostile archives, each refused with nothing written outside the destination.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{json, Value};
use tar::EntryType;
use tempfile::TempDir;

use super::builder::{config_for, tree, Layer, Oci};
use super::{assert_error, names};
use crate::error::{ErrorKind, Result};
use crate::images::archive::{
    normalize_docker_ref, to_layout, to_layout_with, ArchiveKind, Unpacked,
};
use crate::images::digest::{Digest, HashingReader};
use crate::images::layout::{Blob, Layout, Manifest, MAX_CONFIG_BYTES};
use crate::images::Limits;

struct Scratch {
    dir: TempDir,
}

impl Scratch {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("sentinel")).unwrap();
        std::fs::write(dir.path().join("sentinel/secret"), "secret").unwrap();
        Scratch { dir }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// A new empty destination directory.
    fn dest(&self, name: &str) -> PathBuf {
        let dest = self.path(name);
        std::fs::create_dir(&dest).unwrap();
        dest
    }

    fn write(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let path = self.path(name);
        std::fs::write(&path, bytes).unwrap();
        path
    }

    /// Everything but the destinations: must not change while an archive is unpacked.
    fn outside(&self) -> Vec<String> {
        tree(self.dir.path()).into_iter().filter(|l| !l.starts_with("dest")).collect()
    }
}

/// A tar of `members`: (type, name, link target, contents), written as they are.
fn tar_of(members: &[(EntryType, &str, Option<&str>, &[u8])]) -> Vec<u8> {
    let mut tar = Layer::new();
    for (kind, name, link, data) in members {
        tar = tar.raw(*kind, name.as_bytes(), link.map(str::as_bytes), 0o644, (0, 0), data);
    }
    tar.tar()
}

fn file<'a>(name: &'a str, data: &'a [u8]) -> (EntryType, &'a str, Option<&'a str>, &'a [u8]) {
    (EntryType::Regular, name, None, data)
}

/// Runs a fixture tool; a missing tool fails the test.
fn run(program: &str, args: &[&str]) {
    let out = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{program} is required by this test (scripts/setup.sh): {e}"));
    assert!(out.status.success(), "{program} {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

/// The busybox layout of `scripts/make-busybox-image.py`, tagged `latest`, and its manifest.
fn busybox(s: &Scratch) -> (PathBuf, Blob, Manifest) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/make-busybox-image.py");
    let dir = s.path("busybox");
    run("python3", &[script.to_str().unwrap(), dir.to_str().unwrap()]);
    let layout = Layout::open(&dir, "busybox").unwrap();
    let blob = layout.resolve(Some("latest")).unwrap();
    let manifest = layout.read_manifest(&blob).unwrap();
    (dir, blob, manifest)
}

/// Opens `dest` as a layout, resolves `tag` and verifies every blob of the manifest.
fn verify(dest: &Path, tag: Option<&str>) -> Result<(Blob, Manifest, Vec<u8>)> {
    let layout = Layout::open(dest, "test")?;
    let blob = layout.resolve(tag)?;
    let manifest = layout.read_manifest(&blob)?;
    let config = layout.read_blob(&manifest.config, MAX_CONFIG_BYTES)?;
    for layer in &manifest.layers {
        let (digest, size) = HashingReader::new(layout.open_blob(layer)?).finish().unwrap();
        assert_eq!((&digest, size), (&layer.digest, layer.size));
    }
    Ok((blob, manifest, config))
}

fn hexes(digests: &[&Digest]) -> Vec<String> {
    let mut hexes: Vec<String> = digests.iter().map(|d| d.hex().to_owned()).collect();
    hexes.sort();
    hexes.dedup();
    hexes
}

fn diff_ids(config: &[u8]) -> Vec<String> {
    let config: Value = serde_json::from_slice(config).unwrap();
    config["rootfs"]["diff_ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d.as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn oci_archive_from_skopeo_is_the_same_layout() {
    let s = Scratch::new();
    let (dir, original, manifest) = busybox(&s);
    let archive = s.path("busybox.tar");
    run(
        "skopeo",
        &[
            "copy",
            "-q",
            &format!("oci:{}:latest", dir.display()),
            &format!("oci-archive:{}:latest", archive.display()),
        ],
    );
    let dest = s.dest("dest");
    let unpacked = to_layout(&archive, ArchiveKind::Oci, &dest, "oci-archive:busybox.tar").unwrap();
    assert_eq!(unpacked.tag(Some("latest")).as_deref(), Some("latest"));
    assert_eq!(unpacked.tag(None), None);
    let (blob, copied, _) = verify(&dest, unpacked.tag(Some("latest")).as_deref()).unwrap();
    assert_eq!(blob.digest, original.digest);
    assert_eq!(copied.config, manifest.config);
    assert_eq!(copied.layers, manifest.layers);
    assert_eq!(names(&dest), ["blobs", "index.json", "oci-layout"]);
    assert_eq!(names(&dest.join("blobs/sha256")), names(&dir.join("blobs/sha256")));
    // One image: no tag selects it too.
    assert_eq!(verify(&dest, None).unwrap().0.digest, original.digest);
}

#[test]
fn compressed_oci_archives_are_read() {
    let s = Scratch::new();
    let mut oci = Oci::new(&s.path("layout"));
    let digest = oci.image(Some("v1"), &[Layer::new().file("a", "A", 0o644).gzip()]);
    let tar = tar_of_dir(&oci.dir);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut gz, &tar).unwrap();
    let archive = s.write("layout.tar.gz", &gz.finish().unwrap());
    let dest = s.dest("dest");
    to_layout(&archive, ArchiveKind::Oci, &dest, "x").unwrap();
    assert_eq!(verify(&dest, Some("v1")).unwrap().0.digest.to_string(), digest);
}

/// The files of a layout directory as a tar, with `./` names as GNU tar writes them.
fn tar_of_dir(dir: &Path) -> Vec<u8> {
    let mut tar =
        Layer::new().dir("./", 0o755).dir("./blobs/", 0o755).dir("./blobs/sha256/", 0o755);
    for name in ["oci-layout", "index.json"] {
        let data = std::fs::read(dir.join(name)).unwrap();
        tar =
            tar.raw(EntryType::Regular, format!("./{name}").as_bytes(), None, 0o644, (0, 0), &data);
    }
    for name in names(&dir.join("blobs/sha256")) {
        let data = std::fs::read(dir.join("blobs/sha256").join(&name)).unwrap();
        let path = format!("./blobs/sha256/{name}");
        tar = tar.raw(EntryType::Regular, path.as_bytes(), None, 0o644, (0, 0), &data);
    }
    tar.tar()
}

#[test]
fn docker_archive_from_skopeo_resolves_by_short_and_full_name() {
    let s = Scratch::new();
    let (dir, _, manifest) = busybox(&s);
    let original = Layout::open(&dir, "busybox").unwrap();
    let original_config = original.read_blob(&manifest.config, MAX_CONFIG_BYTES).unwrap();
    let archive = s.path("busybox-docker.tar");
    run(
        "skopeo",
        &[
            "copy",
            "-q",
            &format!("oci:{}:latest", dir.display()),
            &format!("docker-archive:{}:busybox:latest", archive.display()),
        ],
    );
    let dest = s.dest("dest");
    let unpacked =
        to_layout(&archive, ArchiveKind::Docker, &dest, "docker-archive:busybox-docker.tar")
            .unwrap();
    let mut found = Vec::new();
    for requested in
        [None, Some("busybox:latest"), Some("busybox"), Some("docker.io/library/busybox:latest")]
    {
        let tag = unpacked.tag(requested);
        let (blob, copied, config) = verify(&dest, tag.as_deref()).unwrap();
        // skopeo stores the config as is and each layer uncompressed: its digest is the diff_id.
        assert_eq!(copied.config.digest, manifest.config.digest);
        assert_eq!(config, original_config);
        let layers: Vec<String> = copied.layers.iter().map(|l| l.digest.to_string()).collect();
        assert_eq!(layers, diff_ids(&config));
        assert_eq!(copied.layers[0].media_type, "application/vnd.oci.image.layer.v1.tar");
        found.push(blob.digest);
    }
    found.dedup();
    assert_eq!(found.len(), 1);
    // Only what the manifest names is left: no layer directories' VERSION or json.
    let (_, copied, _) = verify(&dest, None).unwrap();
    let mut wanted: Vec<&Digest> = copied.layers.iter().map(|l| &l.digest).collect();
    wanted.push(&copied.config.digest);
    wanted.push(&found[0]);
    assert_eq!(names(&dest.join("blobs/sha256")), hexes(&wanted));
    assert_eq!(names(&dest), ["blobs", "index.json", "oci-layout"]);
    let err = verify(&dest, unpacked.tag(Some("busybox:1.0")).as_deref()).unwrap_err();
    assert_error(
        &err,
        ErrorKind::NotFound,
        &["\"docker.io/library/busybox:1.0\" not found", "docker.io/library/busybox:latest"],
    );
}

/// A Docker 25+ `docker save`: an OCI layout plus `manifest.json` naming blobs by path.
#[test]
fn docker_25_archives_with_several_images_and_tags() {
    let s = Scratch::new();
    let shared = Layer::new().file("shared", "S", 0o644).plain();
    let first = [shared.clone(), Layer::new().file("one", "1", 0o644).gzip()];
    let second = [shared.clone(), Layer::new().file("two", "2", 0o644).zstd(), shared.clone()];
    let mut oci = Oci::new(&s.path("layout"));
    oci.image(Some("latest"), &first);
    oci.image(Some("v2"), &second);
    let blob_name = |b: &[u8]| format!("blobs/sha256/{}", Digest::of(b).hex());
    let config_one = serde_json::to_vec(&config_for(&first)).unwrap();
    let config_two = serde_json::to_vec(&config_for(&second)).unwrap();
    let manifest = json!([
        {
            "Config": blob_name(&config_one),
            "RepoTags": ["example.com/one:latest", "one:extra"],
            "Layers": first.iter().map(|l| blob_name(&l.bytes)).collect::<Vec<_>>(),
        },
        {
            "Config": blob_name(&config_two),
            "RepoTags": ["localhost:5000/two:v2"],
            "Layers": second.iter().map(|l| blob_name(&l.bytes)).collect::<Vec<_>>(),
        },
    ]);
    let mut tar = Layer::new().file("manifest.json", &manifest.to_string(), 0o644);
    tar = tar.file("repositories", "{}", 0o644).dir("blobs/", 0o755).dir("blobs/sha256/", 0o755);
    for name in names(&oci.dir.join("blobs/sha256")) {
        let data = std::fs::read(oci.dir.join("blobs/sha256").join(&name)).unwrap();
        let path = format!("blobs/sha256/{name}");
        tar = tar.raw(EntryType::Regular, path.as_bytes(), None, 0o644, (0, 0), &data);
    }
    for name in ["index.json", "oci-layout"] {
        tar = tar.file(name, &std::fs::read_to_string(oci.dir.join(name)).unwrap(), 0o644);
    }
    let archive = s.write("docker25.tar", &tar.tar());
    let dest = s.dest("dest");
    let unpacked = to_layout(&archive, ArchiveKind::Docker, &dest, "docker-archive:d").unwrap();
    let check = |requested: &str, layers: &[super::builder::Blob], config: &[u8]| {
        let (_, manifest, read) = verify(&dest, unpacked.tag(Some(requested)).as_deref()).unwrap();
        assert_eq!(read, config, "{requested}");
        let got: Vec<(String, &str)> =
            manifest.layers.iter().map(|l| (l.digest.to_string(), l.media_type.as_str())).collect();
        let want: Vec<(String, &str)> = layers
            .iter()
            .map(|l| (Digest::of(&l.bytes).to_string(), l.media_type.as_str()))
            .collect();
        assert_eq!(got, want, "{requested}");
    };
    check("example.com/one", &first, &config_one);
    check("one:extra", &first, &config_one);
    check("docker.io/library/one:extra", &first, &config_one);
    check("localhost:5000/two:v2", &second, &config_two);
    // Two images and no REF: which one is not guessed.
    assert_eq!(unpacked.tag(None), None);
    let err = verify(&dest, None).unwrap_err();
    assert_error(&err, ErrorKind::NotFound, &["no tag given", "localhost:5000/two:v2"]);
}

/// The classic `docker save` layout, members in an order that puts `manifest.json` first, a
/// layer reached through a symlink as `docker save` writes repeated layers, and one image
/// with two tags that no REF still selects.
#[test]
fn classic_docker_archives_follow_symlinks_by_name() {
    let s = Scratch::new();
    let layer = Layer::new().file("hello", "hi", 0o644).plain();
    let config =
        serde_json::to_vec(&config_for(&[layer.clone(), layer.clone(), layer.clone()])).unwrap();
    let config_name = format!("{}.json", Digest::of(&config).hex());
    let manifest = json!([{
        "Config": config_name,
        "RepoTags": ["busybox:latest", "busybox:1.36"],
        "Layers": ["aaa/layer.tar", "./bbb/layer.tar", "ddd/layer.tar"],
    }])
    .to_string();
    let archive = s.write(
        "classic.tar",
        &tar_of(&[
            file("manifest.json", manifest.as_bytes()),
            (EntryType::Directory, "aaa/", None, b""),
            file("aaa/VERSION", b"1.0"),
            file("aaa/json", b"{}"),
            file("aaa/layer.tar", &layer.bytes),
            (EntryType::Directory, "bbb/", None, b""),
            (EntryType::Symlink, "bbb/layer.tar", Some("../ccc/layer.tar"), b""),
            (EntryType::Symlink, "ccc/layer.tar", Some("../aaa/./layer.tar"), b""),
            (EntryType::Link, "ddd/layer.tar", Some("./aaa/layer.tar"), b""),
            file(&config_name, &config),
            file("repositories", br#"{"busybox":{"latest":"aaa"}}"#),
        ]),
    );
    let dest = s.dest("dest");
    let unpacked = to_layout(&archive, ArchiveKind::Docker, &dest, "docker-archive:c").unwrap();
    assert_eq!(unpacked.tag(None).as_deref(), Some("docker.io/library/busybox:latest"));
    let by_default = verify(&dest, unpacked.tag(None).as_deref()).unwrap();
    let by_tag = verify(&dest, unpacked.tag(Some("busybox:1.36")).as_deref()).unwrap();
    assert_eq!(by_default.0, by_tag.0);
    let layers: Vec<&Digest> = by_tag.1.layers.iter().map(|l| &l.digest).collect();
    assert_eq!(layers, [&Digest::of(&layer.bytes); 3]);
    assert_eq!(by_tag.2, config);
    assert_eq!(
        names(&dest.join("blobs/sha256")),
        hexes(&[&Digest::of(&layer.bytes), &Digest::of(&config), &by_tag.0.digest])
    );
}

#[test]
fn docker_references_normalize_as_docker_does() {
    for (short, full) in [
        ("busybox", "docker.io/library/busybox:latest"),
        ("busybox:1.36", "docker.io/library/busybox:1.36"),
        ("library/busybox:1", "docker.io/library/busybox:1"),
        ("index.docker.io/user/app:2", "docker.io/user/app:2"),
        ("user/app", "docker.io/user/app:latest"),
        ("localhost/app", "localhost/app:latest"),
        ("localhost:5000/a/b:c", "localhost:5000/a/b:c"),
        ("quay.io/x/y", "quay.io/x/y:latest"),
    ] {
        assert_eq!(normalize_docker_ref(short), full, "{short}");
        assert_eq!(normalize_docker_ref(full), full, "{full}");
    }
}

/// Unpacks `tar` as `kind` into a fresh destination; checks nothing outside it changed.
fn unpack(s: &Scratch, kind: ArchiveKind, tar: &[u8]) -> (PathBuf, Result<Unpacked>) {
    unpack_with(s, kind, tar, &Limits::default())
}

fn unpack_with(
    s: &Scratch,
    kind: ArchiveKind,
    tar: &[u8],
    limits: &Limits,
) -> (PathBuf, Result<Unpacked>) {
    let archive = s.write("hostile.tar", tar);
    let before = s.outside();
    let n = std::fs::read_dir(s.dir.path()).unwrap().count();
    let dest = s.dest(&format!("dest{n}"));
    let result = to_layout_with(&archive, kind, &dest, "hostile", limits);
    assert_eq!(s.outside(), before, "something was written outside the destination");
    (archive, result)
}

#[track_caller]
fn refused(s: &Scratch, kind: ArchiveKind, tar: &[u8], needles: &[&str]) {
    let (archive, result) = unpack(s, kind, tar);
    let err = result.unwrap_err();
    let mut needles = needles.to_vec();
    let shown = archive.display().to_string();
    needles.push(&shown);
    assert_error(&err, ErrorKind::Image, &needles);
}

fn minimal_oci() -> Vec<(&'static str, Vec<u8>)> {
    vec![
        ("oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#.to_vec()),
        ("index.json", br#"{"schemaVersion":2,"manifests":[]}"#.to_vec()),
    ]
}

fn with(extra: &[(EntryType, &str, Option<&str>, &[u8])]) -> Vec<u8> {
    let base = minimal_oci();
    let mut members: Vec<(EntryType, &str, Option<&str>, &[u8])> =
        base.iter().map(|(n, d)| file(n, d)).collect();
    members.extend_from_slice(extra);
    tar_of(&members)
}

#[test]
fn hostile_oci_archives_are_refused_naming_the_entry() {
    let s = Scratch::new();
    let sentinel = s.path("sentinel");
    let target = sentinel.join("x");
    let target = target.to_str().unwrap();
    let blob = b"blob";
    let blob_name = format!("blobs/sha256/{}", Digest::of(blob).hex());
    let oci = ArchiveKind::Oci;
    refused(&s, oci, &with(&[file("../evil", b"x")]), &["\"../evil\"", "'..'"]);
    refused(&s, oci, &with(&[file("blobs/../../evil", b"x")]), &["\"blobs/../../evil\""]);
    let abs = format!("{}/abs", sentinel.display());
    refused(&s, oci, &with(&[file(&abs, b"x")]), &[&abs, "absolute"]);
    refused(
        &s,
        oci,
        &with(&[(EntryType::Symlink, "blobs", Some(target), b""), file(&blob_name, blob)]),
        &["\"blobs\"", "symlinks are not allowed"],
    );
    refused(
        &s,
        oci,
        &with(&[(EntryType::Link, &blob_name, Some("index.json"), b"")]),
        &[&blob_name, "hardlinks are not allowed"],
    );
    refused(
        &s,
        oci,
        &with(&[(EntryType::Char, "blobs/sha256/dev", None, b"")]),
        &["\"blobs/sha256/dev\"", "device"],
    );
    refused(&s, oci, &with(&[file("index.json", b"{}")]), &["\"index.json\"", "twice"]);
    refused(
        &s,
        oci,
        &with(&[file(&blob_name, blob), file(&format!("./{blob_name}"), blob)]),
        &[&blob_name, "twice"],
    );
    refused(&s, oci, &with(&[file("blobs/sha256/../../../sentinel/secret", b"x")]), &["'..'"]);
    refused(
        &s,
        oci,
        &with(&[file("blobs/sha256/nothex", b"x")]),
        &["\"blobs/sha256/nothex\"", "not a blob name"],
    );
    let wrong = format!("blobs/sha256/{}", Digest::of(b"other").hex());
    refused(
        &s,
        oci,
        &with(&[file(&wrong, blob)]),
        &[&wrong, &format!("hashes to {}", Digest::of(blob))],
    );
    let huge = vec![b' '; (16 << 20) + 1];
    refused(
        &s,
        oci,
        &tar_of(&[
            file("oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#),
            file("index.json", &huge),
        ]),
        &["\"index.json\"", "larger than the 16777216 bytes"],
    );
    refused(
        &s,
        oci,
        &tar_of(&[file("index.json", b"{}")]),
        &["no oci-layout", "not an OCI archive"],
    );
    let sparse = Layer::new()
        .pax(&[("GNU.sparse.major", b"1"), ("GNU.sparse.minor", b"0")])
        .file(&blob_name, "", 0o644);
    refused(&s, oci, &sparse.tar(), &[&blob_name, "sparse files are not supported"]);
    let sparse = tar_of(&[(EntryType::GNUSparse, &blob_name, None, b"")]);
    refused(&s, ArchiveKind::Docker, &sparse, &[&blob_name, "sparse files are not supported"]);
    let whole = with(&[file(&blob_name, &[b'x'; 2000])]);
    let cut = &whole[..whole.len() - 1024 - 1000];
    refused(&s, oci, cut, &[&blob_name, "copy"]);
    refused(&s, ArchiveKind::Docker, cut, &[&blob_name, "copy"]);
    refused(
        &s,
        oci,
        &tar_of(&[file("manifest.json", b"[]"), file("repositories", b"{}")]),
        &["no oci-layout", "docker-archive:"],
    );
    refused(
        &s,
        oci,
        b"this is not a tar archive, only some text that is long enough....",
        &["read the tar stream"],
    );
}

#[test]
fn hostile_docker_archives_are_refused_naming_the_entry() {
    let s = Scratch::new();
    let docker = ArchiveKind::Docker;
    let saved = |config: &str, layers: &[&str]| {
        json!([{"Config": config, "RepoTags": ["a:b"], "Layers": layers}]).to_string()
    };
    let m = saved("../../etc/passwd", &[]);
    refused(
        &s,
        docker,
        &tar_of(&[file("manifest.json", m.as_bytes())]),
        &["manifest.json image 1/1 names \"../../etc/passwd\"", "'..'"],
    );
    let m = saved("/etc/passwd", &[]);
    refused(
        &s,
        docker,
        &tar_of(&[file("manifest.json", m.as_bytes())]),
        &["\"/etc/passwd\"", "absolute"],
    );
    let m = saved("c.json", &["l/layer.tar"]);
    refused(
        &s,
        docker,
        &tar_of(&[file("manifest.json", m.as_bytes()), file("c.json", b"{}")]),
        &["names \"l/layer.tar\"", "no such file in the archive"],
    );
    refused(
        &s,
        docker,
        &tar_of(&[
            file("c.json", b"{}"),
            (EntryType::Symlink, "l/layer.tar", Some("../../outside"), b""),
        ]),
        &["\"l/layer.tar\"", "leaves the archive"],
    );
    refused(
        &s,
        docker,
        &tar_of(&[(EntryType::Symlink, "l/layer.tar", Some("/etc/passwd"), b"")]),
        &["\"l/layer.tar\"", "absolute"],
    );
    let m = saved("c.json", &["a"]);
    refused(
        &s,
        docker,
        &tar_of(&[
            file("manifest.json", m.as_bytes()),
            file("c.json", b"{}"),
            (EntryType::Symlink, "a", Some("b"), b""),
            (EntryType::Symlink, "b", Some("a"), b""),
        ]),
        &["names \"a\"", "links to follow"],
    );
    refused(
        &s,
        docker,
        &tar_of(&[(EntryType::Fifo, "fifo", None, b"")]),
        &["\"fifo\"", "device and fifo"],
    );
    refused(
        &s,
        docker,
        &tar_of(&[file("c.json", b"{}")]),
        &["no manifest.json", "not a docker save archive"],
    );
    refused(&s, docker, &with(&[]), &["no manifest.json", "oci-archive:"]);
    refused(
        &s,
        docker,
        &tar_of(&[file("manifest.json", b"[]")]),
        &["manifest.json lists no images"],
    );
    refused(&s, docker, &tar_of(&[file("manifest.json", b"{")]), &["invalid manifest.json"]);
    let wrong = format!("blobs/sha256/{}", Digest::of(b"other").hex());
    refused(&s, docker, &tar_of(&[file(&wrong, b"x")]), &[&wrong, "hashes to"]);
    refused(&s, docker, &tar_of(&[file("x", b"1"), file("./x", b"2")]), &["\"./x\"", "twice"]);
}

#[test]
fn archive_limits_are_enforced() {
    let s = Scratch::new();
    let tar = tar_of(&[file("a", &[7u8; 1000]), file("b", b"1"), file("c", b"2")]);
    let limits = Limits { max_entries: 2, max_bytes: 1 << 20 };
    let (_, result) = unpack_with(&s, ArchiveKind::Docker, &tar, &limits);
    assert_error(&result.unwrap_err(), ErrorKind::Image, &["more than 2 tar entries"]);
    let limits = Limits { max_entries: 100, max_bytes: 999 };
    let (_, result) = unpack_with(&s, ArchiveKind::Docker, &tar, &limits);
    assert_error(&result.unwrap_err(), ErrorKind::Image, &["more than 999 bytes"]);
}

#[test]
fn missing_archives_and_unusable_destinations() {
    let s = Scratch::new();
    let dest = s.dest("dest");
    let err = to_layout(&s.path("nope.tar"), ArchiveKind::Oci, &dest, "oci-archive:nope.tar")
        .unwrap_err();
    assert_error(
        &err,
        ErrorKind::NotFound,
        &["oci-archive:nope.tar", "nope.tar", "does not exist"],
    );
    let err = to_layout(&s.path("sentinel"), ArchiveKind::Oci, &dest, "x").unwrap_err();
    assert_error(&err, ErrorKind::Image, &["not a regular file"]);
    let archive = s.write("ok.tar", &with(&[]));
    std::fs::write(dest.join("leftover"), "x").unwrap();
    let err = to_layout(&archive, ArchiveKind::Oci, &dest, "x").unwrap_err();
    assert_error(&err, ErrorKind::Internal, &["is not empty"]);
}
