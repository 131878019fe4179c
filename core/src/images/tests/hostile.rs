//! Hostile layers: each is refused or contained, and nothing outside the rootfs changes — the
//! scratch world (a sentinel directory with a secret, the layouts, the home) is listed before
//! and after every prepare.

use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;

use tar::EntryType;

use super::builder::{tree, Blob, Layer};
use super::{assert_error, world, World};
use crate::error::{ErrorKind, Result};
use crate::images::store::{ImageStore, PreparedImage};
use crate::images::Limits;

struct Hostile {
    w: World,
    /// `work/sentinel`, absolute; holds `secret`.
    sentinel: PathBuf,
}

impl Hostile {
    fn new() -> Self {
        let w = world();
        let sentinel = w.work.join("sentinel");
        std::fs::create_dir(&sentinel).unwrap();
        std::fs::write(sentinel.join("secret"), "secret").unwrap();
        Hostile { w, sentinel }
    }

    /// The sentinel as a path relative to `/`, for writing "through" an absolute symlink.
    fn sentinel_rel(&self) -> String {
        self.sentinel.strip_prefix("/").unwrap().display().to_string()
    }

    fn abs(&self) -> String {
        self.sentinel.display().to_string()
    }

    /// Everything that must not change: the world outside the home's image and scratch dirs.
    fn snapshot(&self) -> Vec<String> {
        tree(self.w.root())
            .into_iter()
            .filter(|l| {
                !["home/tmp/", "home/images/rootfs/", "home/images/blobs/", "home/locks/"]
                    .iter()
                    .any(|p| l.starts_with(p))
            })
            .collect()
    }

    /// Prepares a one-image layout made of `layers` with `store`, checking containment.
    fn prepare_with(
        &self,
        store: &ImageStore,
        name: &str,
        layers: Vec<Blob>,
    ) -> Result<PreparedImage> {
        let mut oci = self.w.layout(name);
        let digest = oci.image(Some("t"), &layers);
        let before = self.snapshot();
        let result = store.prepare(&oci.reference("t"));
        assert_eq!(self.snapshot(), before, "{name}: something changed outside the rootfs");
        assert_eq!(self.w.tmp_entries(), Vec::<String>::new(), "{name}: staging left behind");
        let rootfs = self.w.rootfs_entries();
        match &result {
            Ok(_) => assert!(rootfs.contains(&digest[7..].to_owned()), "{name}: {rootfs:?}"),
            Err(_) => assert!(!rootfs.contains(&digest[7..].to_owned()), "{name}: {rootfs:?}"),
        }
        result
    }

    fn prepare(&self, name: &str, layers: Vec<Blob>) -> Result<PreparedImage> {
        self.prepare_with(&self.w.store, name, layers)
    }
}

#[test]
fn dotdot_paths_are_refused() {
    let h = Hostile::new();
    for (name, path) in [
        ("up", "../escape"),
        ("deep", "a/../../../../escape"),
        ("abs", "/../escape"),
        ("sentinel", "../../../work/sentinel/pwned"),
    ] {
        let layer = Layer::new().file("ok", "ok", 0o644).file(path, "x", 0o644).gzip();
        let err = h.prepare(name, vec![layer]).unwrap_err();
        assert_error(&err, ErrorKind::Image, &[path, "climbs above the root"]);
    }
}

#[test]
fn writes_through_symlinks_stay_inside_the_root() {
    let h = Hostile::new();
    let rel = h.sentinel_rel();
    let cases = [
        (
            "absolute",
            Layer::new().symlink("evil", "/").file(&format!("evil/{rel}/pwned"), "x", 0o644),
        ),
        (
            "direct",
            Layer::new().symlink("s", &h.abs()).dir("s/sub", 0o777).file("s/pwned", "x", 0o644),
        ),
        (
            "relative",
            Layer::new().dir("a", 0o755).symlink("a/up", "../../../../../../../../../..").file(
                &format!("a/up/{rel}/pwned"),
                "x",
                0o644,
            ),
        ),
    ];
    for (name, layer) in cases {
        let prepared = h.prepare(name, vec![layer.gzip()]).unwrap();
        let landed = prepared.rootfs.join(&rel).join("pwned");
        assert_eq!(std::fs::read(&landed).unwrap(), b"x", "{name}: {}", landed.display());
    }
    // Across layers: the symlink below, the write above.
    let lower = Layer::new().symlink("evil", &h.abs()).gzip();
    let upper = Layer::new().file("evil/pwned", "x", 0o644).dir("evil/d", 0o777).gzip();
    let prepared = h.prepare("layers", vec![lower, upper]).unwrap();
    assert!(prepared.rootfs.join(&rel).join("pwned").is_file());
    assert!(std::fs::symlink_metadata(prepared.rootfs.join("evil")).unwrap().is_symlink());
}

#[test]
fn entries_replace_symlinks_instead_of_following_them() {
    let h = Hostile::new();
    let lower = Layer::new()
        .symlink("f", &format!("{}/secret", h.abs()))
        .symlink("d", &h.abs())
        .symlink("fifo", &format!("{}/secret", h.abs()))
        .gzip();
    let upper = Layer::new()
        .file("f", "overwritten", 0o666)
        .dir("d", 0o777)
        .file("d/x", "x", 0o644)
        .fifo("fifo", 0o666)
        .gzip();
    let prepared = h.prepare("replace", vec![lower, upper]).unwrap();
    assert_eq!(std::fs::read(prepared.rootfs.join("f")).unwrap(), b"overwritten");
    assert!(std::fs::symlink_metadata(prepared.rootfs.join("d")).unwrap().is_dir());
    assert_eq!(std::fs::read(h.sentinel.join("secret")).unwrap(), b"secret");
    assert_eq!(std::fs::metadata(&h.sentinel).unwrap().mode() & 0o777, 0o755);
}

#[test]
fn hardlinks_to_outside_are_refused() {
    let h = Hostile::new();
    let rel = h.sentinel_rel();
    let cases = [
        (
            "dotdot",
            Layer::new().hardlink("h", "../../../work/sentinel/secret"),
            "climbs above the root",
        ),
        (
            "absolute",
            Layer::new().hardlink("h", &format!("{}/secret", h.abs())),
            "does not exist in this image",
        ),
        (
            "via-symlink",
            Layer::new().symlink("evil", "/").hardlink("h", &format!("evil/{rel}/secret")),
            "does not exist in this image",
        ),
        ("missing", Layer::new().hardlink("h", "nothing"), "does not exist in this image"),
        ("directory", Layer::new().dir("d", 0o755).hardlink("h", "d"), "the target is a directory"),
        ("self", Layer::new().file("h", "x", 0o644).hardlink("h", "h"), "links to itself"),
    ];
    for (name, layer, why) in cases {
        let err = h.prepare(name, vec![layer.gzip()]).unwrap_err();
        assert_error(&err, ErrorKind::Image, &["\"h\"", "hardlink", why]);
    }
    assert_eq!(std::fs::metadata(h.sentinel.join("secret")).unwrap().nlink(), 1);
}

#[test]
fn whiteout_tricks_are_refused_or_contained() {
    let h = Hostile::new();
    for (name, marker, why) in [
        ("dots", "dir/.wh...", "whiteout of '.' or '..'"),
        ("dot", ".wh..", "whiteout of '.' or '..'"),
        ("empty", "dir/.wh.", "whiteout names no file"),
        ("up", "../.wh.sentinel", "climbs above the root"),
        ("up-deep", "a/../../work/.wh.sentinel", "climbs above the root"),
    ] {
        let layer = Layer::new().dir("dir", 0o755).file(marker, "", 0o644).gzip();
        let err = h.prepare(name, vec![layer]).unwrap_err();
        assert_error(&err, ErrorKind::Image, &[marker, why]);
    }
    // Through symlinks to the host: resolved in the root, where there is nothing to remove.
    let work = h.w.work.display().to_string();
    let cases = [
        Layer::new().symlink("evil", &work).file("evil/.wh.sentinel", "", 0o644),
        Layer::new().symlink("evil", &h.abs()).file("evil/.wh.secret", "", 0o644),
        Layer::new().symlink("evil", &h.abs()).file("evil/.wh..wh..opq", "", 0o644),
    ];
    for (i, layer) in cases.into_iter().enumerate() {
        h.prepare(&format!("through-{i}"), vec![layer.gzip()]).unwrap();
    }
    // And across layers.
    let lower = Layer::new().symlink("evil", &h.abs()).gzip();
    let upper =
        Layer::new().file("evil/.wh..wh..opq", "", 0o644).file("evil/.wh.secret", "", 0o644);
    h.prepare("through-layers", vec![lower, upper.gzip()]).unwrap();
    assert!(h.sentinel.join("secret").exists());
}

#[test]
fn device_nodes_are_skipped() {
    let h = Hostile::new();
    let layer = Layer::new()
        .raw(EntryType::Char, b"dev/null", None, 0o666, (0, 0), b"")
        .raw(EntryType::Block, b"dev/sda", None, 0o660, (0, 0), b"")
        .raw(EntryType::Char, b"etc/console", None, 0o600, (0, 0), b"")
        .file("ok", "ok", 0o644)
        .gzip();
    let prepared = h.prepare("devices", vec![layer]).unwrap();
    assert_eq!(tree(&prepared.rootfs), ["ok file 644 0:0 1 ok"]);
}

#[test]
fn long_names_work_up_to_path_max_and_fail_cleanly_beyond() {
    let h = Hostile::new();
    let component = "n".repeat(100);
    let deep: Vec<&str> = std::iter::repeat_n(component.as_str(), 38).collect();
    let deep = deep.join("/");
    assert!(deep.len() > 3800 && deep.len() < 4000);
    let target = "t".repeat(4000);
    let layer = Layer::new()
        .file(&format!("{deep}/file"), "deep", 0o644)
        .symlink(&format!("{}/link", component), &target)
        .hardlink("hard", &format!("{deep}/file"))
        .gzip();
    let prepared = h.prepare("long", vec![layer]).unwrap();
    assert_eq!(std::fs::read(prepared.rootfs.join("hard")).unwrap(), b"deep");
    let link = std::fs::read_link(prepared.rootfs.join(&component).join("link")).unwrap();
    assert_eq!(link.as_os_str().len(), 4000);

    let too_long = "x/".repeat(2600);
    let err =
        h.prepare("too-long", vec![Layer::new().file(&too_long, "", 0o644).gzip()]).unwrap_err();
    assert_error(&err, ErrorKind::Image, &["longer than PATH_MAX"]);
    let wide = "w".repeat(300);
    let err = h.prepare("wide", vec![Layer::new().file(&wide, "", 0o644).gzip()]).unwrap_err();
    assert_error(&err, ErrorKind::Image, &[&wide, "too long"]);
}

#[test]
fn broken_parents_are_refused() {
    let h = Hostile::new();
    let cases = [
        ("loop", Layer::new().symlink("loop", "loop").file("loop/x", "", 0o644), "loop/x"),
        ("file", Layer::new().file("f", "", 0o644).file("f/x", "", 0o644), "f/x"),
    ];
    for (name, layer, needle) in cases {
        let err = h.prepare(name, vec![layer.gzip()]).unwrap_err();
        assert_error(&err, ErrorKind::Image, &[needle, "open parent"]);
    }
}

#[test]
fn dangling_symlink_parents_are_created_inside_the_root() {
    let h = Hostile::new();
    let layer = Layer::new()
        .symlink("abs", "/nowhere/dir")
        .file("abs/x", "x", 0o644)
        .dir("a", 0o755)
        .symlink("a/rel", "../../../../b/./c")
        .file("a/rel/y", "y", 0o644)
        .symlink("chain", "abs/deeper")
        .file("chain/z", "z", 0o644)
        .symlink("out", &h.abs())
        .file("out/pwned", "x", 0o644);
    let prepared = h.prepare("dangling", vec![layer.gzip()]).unwrap();
    let root = &prepared.rootfs;
    assert_eq!(std::fs::read(root.join("nowhere/dir/x")).unwrap(), b"x");
    assert_eq!(std::fs::read(root.join("b/c/y")).unwrap(), b"y");
    assert_eq!(std::fs::read(root.join("nowhere/dir/deeper/z")).unwrap(), b"z");
    assert_eq!(std::fs::read(root.join(h.sentinel_rel()).join("pwned")).unwrap(), b"x");
    for link in ["abs", "a/rel", "chain", "out"] {
        assert!(std::fs::symlink_metadata(root.join(link)).unwrap().is_symlink(), "{link}");
    }
}

#[test]
fn limits_stop_tar_bombs() {
    let h = Hostile::new();
    let small = |max_entries, max_bytes| {
        ImageStore::new(&h.w.home).with_limits(Limits { max_entries, max_bytes })
    };
    let mut many = Layer::new();
    for i in 0..20 {
        many = many.file(&format!("f{i}"), "", 0o644);
    }
    let err = h.prepare_with(&small(10, 1 << 30), "entries", vec![many.gzip()]).unwrap_err();
    assert_error(&err, ErrorKind::Image, &["more than 10 tar entries"]);

    // 16 MiB of zeros compress to ~16 KiB; the limit stops it at 1 MiB.
    let zeros = "0".repeat(16 << 20);
    let bomb = Layer::new().file("bomb", &zeros, 0o644).gzip();
    assert!(bomb.bytes.len() < 1 << 20);
    let err = h.prepare_with(&small(100, 1 << 20), "bomb", vec![bomb]).unwrap_err();
    assert_error(&err, ErrorKind::Image, &["unpacks to more than 1048576 bytes"]);

    // The byte budget spans layers.
    let half = "h".repeat(600 << 10);
    let layers = vec![
        Layer::new().file("a", &half, 0o644).gzip(),
        Layer::new().file("b", &half, 0o644).gzip(),
    ];
    let err = h.prepare_with(&small(100, 1 << 20), "two", layers).unwrap_err();
    assert_error(&err, ErrorKind::Image, &["layer 2/2", "unpacks to more than"]);

    let huge = vec![b'p'; 2 << 20];
    let layer = Layer::new().pax(&[("comment", &huge)]).file("x", "", 0o644).gzip();
    let err = h.prepare("pax", vec![layer]).unwrap_err();
    assert_error(&err, ErrorKind::Image, &["extension header of"]);
}

#[test]
fn hardlinks_to_symlinks_link_the_symlink_never_its_target() {
    let h = Hostile::new();
    let secret = format!("{}/secret", h.abs());
    let layer = Layer::new()
        .symlink("s", &secret)
        .hardlink("h", "s")
        .symlink("dir", &h.abs())
        // Through a symlink to a host directory: resolved in the root, where nothing is.
        .hardlink("h2", "dir/secret");
    let err = h.prepare("via-dir-symlink", vec![layer.gzip()]).unwrap_err();
    assert_error(&err, ErrorKind::Image, &["\"h2\"", "does not exist in this image"]);
    let layer = Layer::new().symlink("s", &secret).hardlink("h", "s").gzip();
    let prepared = h.prepare("to-symlink", vec![layer]).unwrap();
    let link = std::fs::symlink_metadata(prepared.rootfs.join("h")).unwrap();
    assert!(link.file_type().is_symlink());
    assert_eq!(link.ino(), std::fs::symlink_metadata(prepared.rootfs.join("s")).unwrap().ino());
    assert_eq!(std::fs::metadata(h.sentinel.join("secret")).unwrap().nlink(), 1);
}

#[test]
fn xattrs_never_reach_a_symlink_target() {
    let h = Hostile::new();
    let secret = format!("{}/secret", h.abs());
    let lower = Layer::new().symlink("s", &secret).gzip();
    let upper = Layer::new()
        .xattr("user.pwned", b"1")
        .xattr("security.capability", b"\x01\x00\x00\x02")
        .symlink("s2", &secret)
        .xattr("user.pwned", b"1")
        .hardlink("h", "s")
        .gzip();
    h.prepare("symlink-xattrs", vec![lower, upper]).unwrap();
    let mut buf = [0u8; 256];
    let names = rustix::fs::listxattr(h.sentinel.join("secret"), &mut buf[..]).unwrap();
    assert_eq!(names, 0, "xattrs set on the symlink's target");
}

#[test]
fn sparse_maps_that_lie_are_refused() {
    let h = Hostile::new();
    let data = [b'x'; 1024];
    let mut huge_count = b"99999999999\n".to_vec();
    huge_count.resize(512, 0);
    let cases: Vec<(&str, Layer, &str)> =
        vec![
            (
                "overlap",
                Layer::new().gnu_sparse("f", 4096, &[(0, &data), (512, &data)], 0o644),
                "overlap or are out of order",
            ),
            (
                "past-end",
                Layer::new().pax_sparse("0.1", "f", 1000, &[(0, &data)], 0o644),
                "ends past the file's size",
            ),
            (
                "too-big",
                Layer::new().pax_sparse("1.0", "f", 1 << 40, &[(0, &data)], 0o644),
                "more than the image may unpack to",
            ),
            (
                "odd-map",
                Layer::new()
                    .pax(&[("GNU.sparse.size", b"100"), ("GNU.sparse.map", b"0,10,20")])
                    .file("f", "0123456789", 0o644),
                "odd number of values",
            ),
            (
                "numblocks",
                Layer::new()
                    .pax(&[
                        ("GNU.sparse.size", b"100"),
                        ("GNU.sparse.numblocks", b"2"),
                        ("GNU.sparse.map", b"0,10"),
                    ])
                    .file("f", "0123456789", 0o644),
                "does not match GNU.sparse.numblocks",
            ),
            (
                "short-data",
                Layer::new().pax(&[("GNU.sparse.size", b"100"), ("GNU.sparse.map", b"0,50")]).file(
                    "f",
                    "0123456789",
                    0o644,
                ),
                "disagree",
            ),
            (
                "on-a-symlink",
                Layer::new()
                    .pax(&[("GNU.sparse.size", b"100"), ("GNU.sparse.map", b"0,0")])
                    .symlink("f", "target"),
                "not a regular file",
            ),
            (
                "garbage-map",
                Layer::new()
                    .pax(&[
                        ("GNU.sparse.major", b"1"),
                        ("GNU.sparse.minor", b"0"),
                        ("GNU.sparse.realsize", b"100"),
                    ])
                    .raw(EntryType::Regular, b"f", None, 0o644, (0, 0), &[b'z'; 512]),
                "bad sparse map number",
            ),
            (
                "huge-count",
                Layer::new()
                    .pax(&[
                        ("GNU.sparse.major", b"1"),
                        ("GNU.sparse.minor", b"0"),
                        ("GNU.sparse.realsize", b"100"),
                    ])
                    .raw(EntryType::Regular, b"f", None, 0o644, (0, 0), &huge_count),
                "sparse map too long",
            ),
        ];
    for (name, layer, why) in cases {
        let err = h.prepare(name, vec![layer.gzip()]).unwrap_err();
        assert_error(&err, ErrorKind::Image, &["\"f\"", why]);
    }
}
