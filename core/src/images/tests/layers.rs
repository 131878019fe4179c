//! Layer application on well-formed images: whiteouts, opaque directories, replacements,
//! links, special bits and owners; compression kinds. oracle.rs compares them with umoci.

use std::os::unix::fs::MetadataExt;

use super::builder::{tree, Blob, Layer, MTIME};
use super::world;

/// Four layers: every rule of layer application at least once.
pub(super) fn four_layers() -> Vec<Blob> {
    let one = Layer::new()
        .dir("bin", 0o755)
        .file("bin/tool", "v1", 0o755)
        .dir("etc", 0o755)
        .file("etc/passwd", "old", 0o644)
        .dir("etc/conf.d", 0o755)
        .file("etc/conf.d/a", "a", 0o644)
        .file("etc/conf.d/b", "b", 0o644)
        .dir("data", 0o755)
        .file("data/old", "old", 0o644)
        .dir("home", 0o755)
        .dir_owned("home/user", 0o700, (1000, 1000))
        .file_owned("home/user/.profile", "profile", 0o644, (1000, 1000))
        .dir("opt", 0o755)
        .file("opt/thing", "x", 0o644)
        .dir("var", 0o755)
        .dir("var/lib", 0o755)
        .file("var/lib/data", "d", 0o644)
        .dir("usr", 0o755)
        .dir("usr/bin", 0o755)
        .file("usr/bin/su", "su", 0o4755)
        .file_owned("usr/bin/wall", "wall", 0o2755, (0, 5))
        .dir("shared", 0o1777)
        .gzip();
    let two = Layer::new()
        .whiteout("etc/passwd")
        .opaque("etc/conf.d")
        .file("etc/conf.d/c", "c", 0o644)
        // file -> directory
        .dir("opt/thing", 0o755)
        .file("opt/thing/inner", "inner", 0o644)
        // directory -> file
        .file("var/lib", "now a file", 0o600)
        .hardlink("bin/tool-link", "bin/tool")
        .symlink("bin/sh", "tool")
        .plain();
    let three = Layer::new()
        .file("etc/passwd", "root:x:0:0", 0o644)
        // Replaces the file; the hardlink of layer 2 keeps the old content, as in overlayfs.
        .file("bin/tool", "v2", 0o755)
        // Content of the layer before its opaque marker stays.
        .file("data/new", "new", 0o644)
        .opaque("data")
        .whiteout("home/user")
        .gzip();
    let four = Layer::new()
        .dir_owned("home/user", 0o750, (1000, 1000))
        .file_owned("home/user/new", "n", 0o640, (1000, 1000))
        .symlink("lib64", "/usr/lib")
        // No "run" entry: its parent is made implicitly.
        .fifo("run/fifo", 0o600)
        .whiteout("opt/thing")
        .hardlink("usr/bin/su-link", "usr/bin/su")
        .gzip();
    vec![one, two, three, four]
}

const EXPECTED: &[&str] = &[
    "bin dir 755 0:0 1 ",
    "bin/sh symlink 777 0:0 1 tool",
    "bin/tool file 755 0:0 1 v2",
    "bin/tool-link file 755 0:0 1 v1",
    "data dir 755 0:0 1 ",
    "data/new file 644 0:0 1 new",
    "etc dir 755 0:0 1 ",
    "etc/conf.d dir 755 0:0 1 ",
    "etc/conf.d/c file 644 0:0 1 c",
    "etc/passwd file 644 0:0 1 root:x:0:0",
    "home dir 755 0:0 1 ",
    "home/user dir 750 1000:1000 1 ",
    "home/user/new file 640 1000:1000 1 n",
    "lib64 symlink 777 0:0 1 /usr/lib",
    "opt dir 755 0:0 1 ",
    "run dir 755 0:0 1 ",
    "run/fifo other 600 0:0 1 ",
    "shared dir 1777 0:0 1 ",
    "usr dir 755 0:0 1 ",
    "usr/bin dir 755 0:0 1 ",
    "usr/bin/su file 4755 0:0 2 su",
    "usr/bin/su-link file 4755 0:0 2 su",
    "usr/bin/wall file 2755 0:5 1 wall",
    "var dir 755 0:0 1 ",
    "var/lib file 600 0:0 1 now a file",
];

fn is_root() -> bool {
    // SAFETY: no preconditions.
    unsafe { libc::geteuid() == 0 }
}

#[test]
fn four_layers_apply_whiteouts_replacements_links_and_modes() {
    if !is_root() {
        eprintln!("skipped: owners and setuid bits need root");
        return;
    }
    let w = world();
    let mut oci = w.layout("four");
    let digest = oci.image(Some("v1"), &four_layers());
    let prepared = w.store.prepare(&oci.reference("v1")).unwrap();
    assert_eq!(prepared.digest, digest);
    assert_eq!(prepared.rootfs, w.home.root().join("images/rootfs").join(&digest[7..]));
    assert_eq!(tree(&prepared.rootfs), EXPECTED);

    // Times come from the headers; directories' after their content was written.
    for path in ["bin/tool", "shared", "home/user", "lib64"] {
        let meta = std::fs::symlink_metadata(prepared.rootfs.join(path)).unwrap();
        assert_eq!(meta.mtime(), MTIME as i64, "{path}");
    }
    // The hard link is one inode.
    let su = std::fs::metadata(prepared.rootfs.join("usr/bin/su")).unwrap();
    let link = std::fs::metadata(prepared.rootfs.join("usr/bin/su-link")).unwrap();
    assert_eq!(su.ino(), link.ino());
    assert_eq!(w.tmp_entries(), Vec::<String>::new());

    let config = &prepared.config;
    assert_eq!(config.entrypoint, Some(vec!["/bin/entry".to_owned()]));
    assert_eq!(config.cmd, Some(vec!["--flag".to_owned()]));
    assert_eq!(config.env[0], ("PATH".to_owned(), "/usr/bin:/bin".to_owned()));
    assert_eq!(config.working_dir.as_deref(), Some("/srv"));
    assert_eq!(config.user.as_deref(), Some("1000:1000"));
}

#[test]
fn gzip_plain_zstd_and_mislabelled_layers_give_the_same_tree() {
    let w = world();
    let content = || {
        Layer::new()
            .dir("etc", 0o755)
            .file("etc/os-release", "ID=test\n", 0o644)
            .symlink("etc/alias", "os-release")
            .dir("empty", 0o700)
    };
    let mut oci = w.layout("kinds");
    let mut mislabelled = content().gzip();
    mislabelled.media_type = super::builder::TAR.into();
    let kinds = [
        ("gzip", content().gzip()),
        ("plain", content().plain()),
        ("zstd", content().zstd()),
        ("mislabelled", mislabelled),
    ];
    let mut trees = Vec::new();
    for (tag, blob) in kinds {
        oci.image(Some(tag), &[blob]);
        let prepared = w.store.prepare(&oci.reference(tag)).unwrap();
        trees.push((tag, tree(&prepared.rootfs)));
    }
    assert_eq!(trees[0].1.len(), 4, "{:?}", trees[0].1);
    assert!(trees[0].1.contains(&"etc/os-release file 644 0:0 1 ID=test\n".to_owned()));
    for (tag, listing) in &trees[1..] {
        assert_eq!(listing, &trees[0].1, "{tag}");
    }
}

#[test]
fn an_empty_image_and_an_empty_layer_are_fine() {
    let w = world();
    let mut oci = w.layout("empty");
    oci.image(Some("none"), &[]);
    let nothing = Blob::new(Vec::new(), super::builder::TAR, b"");
    oci.image(Some("empty"), &[Layer::new().gzip(), nothing]);
    for tag in ["none", "empty"] {
        let prepared = w.store.prepare(&oci.reference(tag)).unwrap();
        assert_eq!(super::names(&prepared.rootfs), Vec::<String>::new(), "{tag}");
    }
}

#[test]
fn root_entry_sets_the_root_directory_metadata() {
    let w = world();
    let mut oci = w.layout("root");
    oci.image(Some("t"), &[Layer::new().dir("./", 0o750).file("./a", "a", 0o644).gzip()]);
    let prepared = w.store.prepare(&oci.reference("t")).unwrap();
    let meta = std::fs::metadata(&prepared.rootfs).unwrap();
    assert_eq!(meta.mode() & 0o7777, 0o750);
    assert_eq!(meta.mtime(), MTIME as i64);
    assert_eq!(std::fs::read(prepared.rootfs.join("a")).unwrap(), b"a");
}

#[test]
fn gnu_long_names_pax_overrides_and_xattrs() {
    if !is_root() {
        eprintln!("skipped: owners and file capabilities need root");
        return;
    }
    let long_dir = "d".repeat(150);
    let long_target = "t".repeat(300);
    // GNU long-name and long-link entries, as tar::Builder writes them for GNU headers. The
    // first header leaves uid, gid and mtime empty: read as 0, as Go's archive/tar does.
    let mut gnu = tar::Builder::new(Vec::new());
    let mut header = tar::Header::new_gnu();
    header.set_entry_type(tar::EntryType::Regular);
    header.set_mode(0o640);
    header.set_size(3);
    gnu.append_data(&mut header, format!("{long_dir}/gnu-file"), &b"gnu"[..]).unwrap();
    let mut header = tar::Header::new_gnu();
    header.set_entry_type(tar::EntryType::Symlink);
    header.set_mode(0o777);
    header.set_size(0);
    header.set_mtime(MTIME);
    header.set_uid(0);
    header.set_gid(0);
    gnu.append_link(&mut header, format!("{long_dir}/gnu-link"), &long_target).unwrap();
    let gnu_tar = gnu.into_inner().unwrap();

    // cap_net_raw in the permitted set (VFS_CAP_REVISION_2 with the effective bit).
    let mut caps = Vec::new();
    for word in [0x0200_0001u32, 1 << 13, 0, 0, 0] {
        caps.extend_from_slice(&word.to_le_bytes());
    }
    let pax = Layer::new()
        .pax(&[
            ("uid", b"70000"),
            ("gid", b"70001"),
            ("mtime", b"1700000000.5"),
            ("SCHILY.xattr.security.capability", &caps),
            ("SCHILY.xattr.user.origin", b"test"),
            ("SCHILY.xattr.trusted.overlay.opaque", b"y"),
        ])
        .file("ping", "ping", 0o755)
        .plain();

    let w = world();
    let mut oci = w.layout("gnu");
    let gnu_blob = Blob::new(gnu_tar.clone(), super::builder::TAR, &gnu_tar);
    oci.image(Some("t"), &[gnu_blob, pax]);
    let prepared = w.store.prepare(&oci.reference("t")).unwrap();
    let root = &prepared.rootfs;
    assert_eq!(std::fs::read(root.join(&long_dir).join("gnu-file")).unwrap(), b"gnu");
    let link = std::fs::read_link(root.join(&long_dir).join("gnu-link")).unwrap();
    assert_eq!(link.to_str().unwrap(), long_target);

    let ping = root.join("ping");
    let meta = std::fs::metadata(&ping).unwrap();
    assert_eq!((meta.uid(), meta.gid()), (70000, 70001));
    assert_eq!((meta.mtime(), meta.mtime_nsec()), (1_700_000_000, 500_000_000));
    let get = |name: &str| {
        let mut buf = [0u8; 64];
        rustix::fs::getxattr(&ping, name, &mut buf[..]).map(|n| buf[..n].to_vec())
    };
    match get("user.origin") {
        Err(rustix::io::Errno::NOTSUP) => eprintln!("note: this filesystem has no user xattrs"),
        other => assert_eq!(other.unwrap(), b"test"),
    }
    assert_eq!(get("security.capability").unwrap(), caps);
    assert!(get("trusted.overlay.opaque").is_err(), "overlay xattrs must not come from images");
}
