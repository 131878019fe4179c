//! Differential tests: each fixture image is applied by our applier (decompression and
//! `apply_layer`, layer by layer, as the store runs them) and by `umoci unpack`, and the two
//! trees are compared entry by entry: names (bytes), type, mode bits, owner, size, content
//! hash, symlink targets, hardlink groups, xattrs and mtimes.
//!
//! umoci is Go's `archive/tar` underneath, the reader Docker, containerd and Podman use too:
//! agreeing with it means a layer means the same tree to us as to them.
//!
//! Differences kept on purpose (and checked as such, never ignored silently):
//! - device nodes: umoci creates them, we skip them (boxes get `/dev` from the runtime);
//! - `trusted.*` and `security.selinux` xattrs: umoci 0.4.7 sets `trusted.*` when root; we drop
//!   them (see `xattr_allowed` in apply.rs). Only the namespaces we apply are compared, and
//!   our tree is checked to hold no `trusted.*` at all;
//! - directories created implicitly (a parent no entry names) get "now" as mtime on both
//!   sides: those are only checked to be recent on both;
//! - atimes are not compared (reading a tree changes them);
//! - old GNU sparse entries (type 'S'): umoci 0.4.7 refuses them ("unknown typeflag", as
//!   Docker's and containerd's appliers do); we apply them, and GNU tar is their oracle.
//!
//! These tests need root (owners, file capabilities, device nodes for umoci) and umoci; they
//! fail, never skip, without them.

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsStr;
use std::fs::File;
use std::io::BufReader;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::Value;
use tar::EntryType;

use super::builder::{Blob, Layer, MTIME};
use super::layers::four_layers;
use super::{world, World};
use crate::images::apply::{apply_layer, Totals};
use crate::images::decompress::decompress;
use crate::images::digest::HashingReader;
use crate::images::rootfs::Root;
use crate::images::Limits;

/// Namespaces both sides apply, so both trees must agree on.
fn compared_xattr(name: &[u8]) -> bool {
    name.starts_with(b"user.")
        || name == b"security.capability"
        || name.starts_with(b"system.posix_acl_")
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Type {
    File,
    Dir,
    Symlink,
    Fifo,
    Device,
    Socket,
}

#[derive(Debug)]
struct Node {
    kind: Type,
    mode: u32,
    uid: u32,
    gid: u32,
    size: u64,
    /// sha256 of a file's content.
    content: Option<String>,
    target: Option<Vec<u8>>,
    xattrs: BTreeMap<Vec<u8>, Vec<u8>>,
    /// Every xattr name, compared or not.
    all_xattrs: Vec<Vec<u8>>,
    mtime: (i64, i64),
    ino: u64,
    blocks: u64,
}

type Tree = BTreeMap<Vec<u8>, Node>;

/// `path` printed with non-UTF-8 bytes escaped.
fn show(path: &[u8]) -> String {
    if path.is_empty() {
        return "/".into();
    }
    path.iter().flat_map(|&b| std::ascii::escape_default(b)).map(char::from).collect()
}

fn scan(root: &Path) -> Tree {
    let mut tree = Tree::new();
    let meta = std::fs::symlink_metadata(root).unwrap();
    tree.insert(Vec::new(), node(root, &meta));
    walk(root, b"", &mut tree);
    tree
}

fn walk(dir: &Path, rel: &[u8], tree: &mut Tree) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        let path = entry.path();
        let mut child = rel.to_vec();
        if !child.is_empty() {
            child.push(b'/');
        }
        child.extend_from_slice(entry.file_name().as_bytes());
        let meta = std::fs::symlink_metadata(&path).unwrap();
        tree.insert(child.clone(), node(&path, &meta));
        if meta.is_dir() {
            walk(&path, &child, tree);
        }
    }
}

fn node(path: &Path, meta: &std::fs::Metadata) -> Node {
    let t = meta.file_type();
    let kind = if t.is_dir() {
        Type::Dir
    } else if t.is_symlink() {
        Type::Symlink
    } else if t.is_file() {
        Type::File
    } else if t.is_fifo() {
        Type::Fifo
    } else if t.is_char_device() || t.is_block_device() {
        Type::Device
    } else {
        Type::Socket
    };
    let content = (kind == Type::File)
        .then(|| HashingReader::new(File::open(path).unwrap()).finish().unwrap().0.to_string());
    let target = (kind == Type::Symlink)
        .then(|| std::fs::read_link(path).unwrap().as_os_str().as_bytes().to_vec());
    let all_xattrs = list_xattrs(path);
    let xattrs = all_xattrs
        .iter()
        .filter(|n| compared_xattr(n))
        .map(|n| (n.clone(), get_xattr(path, n)))
        .collect();
    Node {
        kind,
        mode: if kind == Type::Symlink { 0 } else { meta.mode() & 0o7777 },
        uid: meta.uid(),
        gid: meta.gid(),
        size: if kind == Type::File { meta.len() } else { 0 },
        content,
        target,
        xattrs,
        all_xattrs,
        mtime: (meta.mtime(), meta.mtime_nsec()),
        ino: meta.ino(),
        blocks: meta.blocks(),
    }
}

fn list_xattrs(path: &Path) -> Vec<Vec<u8>> {
    let mut buf = vec![0u8; 64 << 10];
    match rustix::fs::llistxattr(path, &mut buf[..]) {
        Ok(n) => {
            buf[..n].split(|&b| b == 0).filter(|n| !n.is_empty()).map(<[u8]>::to_vec).collect()
        }
        Err(rustix::io::Errno::NOTSUP) => Vec::new(),
        Err(e) => panic!("llistxattr {}: {e}", path.display()),
    }
}

fn get_xattr(path: &Path, name: &[u8]) -> Vec<u8> {
    let mut buf = vec![0u8; 64 << 10];
    let n = rustix::fs::lgetxattr(path, OsStr::from_bytes(name), &mut buf[..]).unwrap();
    buf.truncate(n);
    buf
}

/// Paths sharing an inode, for every inode with more than one name.
fn link_groups(tree: &Tree) -> BTreeSet<BTreeSet<Vec<u8>>> {
    let mut by_inode: BTreeMap<u64, BTreeSet<Vec<u8>>> = BTreeMap::new();
    for (path, node) in tree {
        if node.kind != Type::Dir {
            by_inode.entry(node.ino).or_default().insert(path.clone());
        }
    }
    by_inode.into_values().filter(|g| g.len() > 1).collect()
}

/// Every difference between the two trees, one readable line each; deliberate differences
/// (see the module comment) are left out here and checked by the caller.
fn differences(ours: &Tree, umoci: &Tree, other: &str, started: (i64, i64)) -> Vec<String> {
    let mut out = Vec::new();
    for (path, theirs) in umoci {
        let Some(mine) = ours.get(path) else {
            if theirs.kind != Type::Device {
                out.push(format!("{}: only in {other}'s tree ({:?})", show(path), theirs.kind));
            }
            continue;
        };
        let mut field = |name: &str, a: String, b: String| {
            if a != b {
                out.push(format!("{}: {name}: ours {a}, {other} {b}", show(path)));
            }
        };
        field("type", format!("{:?}", mine.kind), format!("{:?}", theirs.kind));
        if mine.kind != theirs.kind {
            continue;
        }
        field("mode", format!("{:o}", mine.mode), format!("{:o}", theirs.mode));
        field(
            "owner",
            format!("{}:{}", mine.uid, mine.gid),
            format!("{}:{}", theirs.uid, theirs.gid),
        );
        field("size", mine.size.to_string(), theirs.size.to_string());
        field("content", format!("{:?}", mine.content), format!("{:?}", theirs.content));
        let target = |t: &Option<Vec<u8>>| t.as_deref().map(show).unwrap_or_default();
        field("symlink target", target(&mine.target), target(&theirs.target));
        let xattrs = |n: &Node| {
            n.xattrs
                .iter()
                .map(|(k, v)| format!("{}={:?}", show(k), String::from_utf8_lossy(v)))
                .collect::<Vec<_>>()
                .join(" ")
        };
        field("xattrs", xattrs(mine), xattrs(theirs));
        let implicit = |t: (i64, i64)| t >= started;
        if mine.kind == Type::Dir && (implicit(mine.mtime) || implicit(theirs.mtime)) {
            // Made without an entry of its own: "now" on both sides, if on either.
            let recent = |t: (i64, i64)| if implicit(t) { "now".into() } else { format!("{t:?}") };
            field("mtime", recent(mine.mtime), recent(theirs.mtime));
        } else {
            field("mtime", format!("{:?}", mine.mtime), format!("{:?}", theirs.mtime));
        }
    }
    for (path, mine) in ours {
        if !umoci.contains_key(path) {
            out.push(format!("{}: only in our tree ({:?})", show(path), mine.kind));
        }
    }
    let show_group =
        |g: &BTreeSet<Vec<u8>>| g.iter().map(|p| show(p)).collect::<Vec<_>>().join(" = ");
    let (a, b) = (link_groups(ours), link_groups(umoci));
    for group in a.difference(&b) {
        out.push(format!("hardlink group only in our tree: {}", show_group(group)));
    }
    for group in b.difference(&a) {
        out.push(format!("hardlink group only in {other}'s tree: {}", show_group(group)));
    }
    out
}

fn is_root() -> bool {
    // SAFETY: no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// The prerequisites, failing loudly: a missing oracle must never look like a pass.
fn require_oracle() {
    assert!(
        is_root(),
        "the umoci oracle tests need root (owners, file capabilities, device nodes): run them \
         as root, as CI does"
    );
    let version = Command::new("umoci").arg("--version").output();
    assert!(
        version.as_ref().is_ok_and(|o| o.status.success()),
        "umoci is not installed (scripts/setup.sh installs it: apt-get install umoci): {version:?}"
    );
}

fn now() -> (i64, i64) {
    let d = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    // A second of slack: file systems may round timestamps to their granularity.
    (d.as_secs() as i64 - 1, 0)
}

/// The layer blobs of `tag` in the layout at `dir`, in order.
fn layer_paths(dir: &Path, tag: &str) -> Vec<PathBuf> {
    let read = |path: PathBuf| -> Value {
        serde_json::from_slice(&std::fs::read(&path).unwrap())
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    };
    let blob = |digest: &Value| {
        let digest = digest.as_str().unwrap();
        dir.join("blobs/sha256").join(digest.strip_prefix("sha256:").unwrap())
    };
    let index = read(dir.join("index.json"));
    let entry = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["annotations"]["org.opencontainers.image.ref.name"] == tag)
        .unwrap_or_else(|| panic!("no tag {tag} in {}", dir.display()));
    let manifest = read(blob(&entry["digest"]));
    manifest["layers"].as_array().unwrap().iter().map(|l| blob(&l["digest"])).collect()
}

/// Applies the layout's layers to `root` the way the store does: each blob's stream
/// decompressed by its magic bytes, then `apply_layer`, one byte budget across layers.
fn apply_ours(dir: &Path, tag: &str, root_dir: &Path) {
    std::fs::DirBuilder::new().mode(0o755).create(root_dir).unwrap();
    // umoci starts the root at the epoch (few layers have an entry for "/"), then keeps it
    // there as it keeps every parent's mtime. The store's staging directory starts at "now";
    // the applier keeps whichever time it finds.
    let epoch = rustix::fs::Timestamps {
        last_access: rustix::fs::Timespec { tv_sec: 0, tv_nsec: 0 },
        last_modification: rustix::fs::Timespec { tv_sec: 0, tv_nsec: 0 },
    };
    rustix::fs::utimensat(rustix::fs::CWD, root_dir, &epoch, rustix::fs::AtFlags::empty()).unwrap();
    let root = Root::open(root_dir).unwrap();
    let limits = Limits::default();
    let mut totals = Totals::default();
    let layers = layer_paths(dir, tag);
    for (i, path) in layers.iter().enumerate() {
        let what = format!("layer {}/{}", i + 1, layers.len());
        let reader = BufReader::new(File::open(path).unwrap());
        let (mut stream, _) = decompress(reader).unwrap();
        apply_layer(&root, &mut stream, &limits, &mut totals, &what)
            .unwrap_or_else(|e| panic!("our applier: {what}: {e:#}"));
    }
}

fn unpack_umoci(dir: &Path, tag: &str, bundle: &Path) -> PathBuf {
    let out = Command::new("umoci")
        .arg("unpack")
        .arg("--image")
        .arg(format!("{}:{tag}", dir.display()))
        .arg(bundle)
        .output()
        .unwrap();
    assert!(out.status.success(), "umoci unpack: {}", String::from_utf8_lossy(&out.stderr));
    bundle.join("rootfs")
}

/// Both trees of the image `tag` in `dir`, asserted equal but for the deliberate differences.
struct Compared {
    ours: Tree,
    umoci: Tree,
    ours_root: PathBuf,
}

fn compare_layout(dir: &Path, tag: &str, work: &Path) -> Compared {
    let started = now();
    std::fs::create_dir_all(work).unwrap();
    let ours_root = work.join(format!("ours-{tag}"));
    apply_ours(dir, tag, &ours_root);
    let umoci_root = unpack_umoci(dir, tag, &work.join(format!("bundle-{tag}")));
    let ours = scan(&ours_root);
    let umoci = scan(&umoci_root);
    let diff = differences(&ours, &umoci, "umoci", started);
    assert!(
        diff.is_empty(),
        "{tag}: our tree and umoci's differ in {} places:\n  {}",
        diff.len(),
        diff.join("\n  ")
    );
    for (path, node) in &ours {
        assert_ne!(node.kind, Type::Device, "{}: device nodes are skipped", show(path));
        for name in &node.all_xattrs {
            assert!(!name.starts_with(b"trusted."), "{}: {} applied", show(path), show(name));
        }
    }
    Compared { ours, umoci, ours_root }
}

/// Builds a one-image layout of `layers` and compares both trees. The world (the temporary
/// directory holding them) is returned so the trees stay while the caller looks at them.
fn compare(name: &str, layers: &[Blob]) -> (Compared, World) {
    require_oracle();
    let w = world();
    let mut oci = w.layout(name);
    oci.image(Some(name), layers);
    let compared = compare_layout(&oci.dir, name, &w.work);
    (compared, w)
}

#[test]
fn four_layers_match_umoci() {
    let (c, _world) = compare("four", &four_layers());
    assert!(c.ours.contains_key(&b"usr/bin/su-link"[..]));
}

/// Hardlinks across layers, chains, links whose target is replaced or whited out later,
/// links to a symlink and to a fifo.
#[test]
fn hardlinks_match_umoci() {
    let one = Layer::new()
        .dir("d", 0o755)
        .file("d/a", "A", 0o644)
        .file("d/t", "T1", 0o600)
        .symlink("d/s", "a")
        .fifo("d/p", 0o640)
        .dir("x", 0o755)
        .file("x/f", "F", 0o755)
        .gzip();
    let two = Layer::new()
        // Across layers: the target is in layer 1.
        .hardlink("d/b", "d/a")
        // A chain: c links to b, itself a link of a.
        .hardlink("d/c", "d/b")
        .hardlink("d/sl", "d/s")
        .hardlink("d/pl", "d/p")
        .hardlink("d/tl", "d/t")
        // The target replaced after the link was made: the link keeps the old inode.
        .file("d/t", "T2", 0o644)
        .hardlink("keep", "x/f")
        .gzip();
    let three = Layer::new()
        // The target whited out: its other names live on.
        .whiteout("d/a")
        .whiteout("x")
        .hardlink("d/e", "d/c")
        .gzip();
    let (c, _world) = compare("links", &[one, two, three]);
    let groups = link_groups(&c.ours);
    let group = |paths: &[&str]| paths.iter().map(|p| p.as_bytes().to_vec()).collect();
    assert!(groups.contains(&group(&["d/b", "d/c", "d/e"])), "{groups:?}");
    assert!(groups.contains(&group(&["d/s", "d/sl"])), "{groups:?}");
    assert!(groups.contains(&group(&["d/p", "d/pl"])), "{groups:?}");
    assert_eq!(c.ours[&b"d/sl"[..]].kind, Type::Symlink);
    assert_eq!(c.ours[&b"d/tl"[..]].size, 2);
    assert!(!c.ours.contains_key(&b"x"[..]) && c.ours.contains_key(&b"keep"[..]));
}

/// cap_net_raw+ep as `setcap` writes it (VFS_CAP_REVISION_2).
fn net_raw_capability() -> Vec<u8> {
    let mut caps = Vec::new();
    for word in [0x0200_0001u32, 1 << 13, 0, 0, 0] {
        caps.extend_from_slice(&word.to_le_bytes());
    }
    caps
}

/// A POSIX access ACL in the kernel's xattr form: owner rw, user 1000 r, group r, mask r.
fn acl() -> Vec<u8> {
    let mut acl = 2u32.to_le_bytes().to_vec();
    for (tag, perm, id) in [
        (1u16, 6u16, u32::MAX),
        (2, 4, 1000),
        (4, 4, u32::MAX),
        (0x10, 4, u32::MAX),
        (0x20, 0, u32::MAX),
    ] {
        acl.extend_from_slice(&tag.to_le_bytes());
        acl.extend_from_slice(&perm.to_le_bytes());
        acl.extend_from_slice(&id.to_le_bytes());
    }
    acl
}

#[test]
fn xattrs_match_umoci() {
    let one = Layer::new().xattr("user.lower", b"1").dir("etc", 0o755).dir("bin", 0o755).gzip();
    let two = Layer::new()
        // Redeclared without its xattr: the header is the truth, the lower xattr goes.
        .xattr("user.upper", b"2")
        .dir("etc", 0o755)
        .xattr("security.capability", &net_raw_capability())
        .xattr("user.empty-is-unset", b"")
        .file("bin/ping", "ping", 0o755)
        .xattr("user.mime_type", b"text/plain")
        .xattr("user.binary", &[0, 1, 2, 255])
        .xattr("system.posix_acl_access", &acl())
        .file("etc/acl", "acl", 0o640)
        // Dropped by policy; umoci sets trusted.* itself (not compared, checked absent here).
        .xattr("trusted.overlay.opaque", b"y")
        .xattr("trusted.overlay.redirect", b"/elsewhere")
        .xattr("user.kept", b"yes")
        .dir("opaque-forgery", 0o755)
        .file("opaque-forgery/f", "f", 0o644)
        .gzip();
    let (c, _world) = compare("xattrs", &[one, two]);
    let xattr =
        |path: &str, name: &str| c.ours[path.as_bytes()].xattrs.get(name.as_bytes()).cloned();
    assert_eq!(xattr("bin/ping", "security.capability"), Some(net_raw_capability()));
    assert_eq!(xattr("etc", "user.lower"), None);
    assert_eq!(xattr("etc", "user.upper"), Some(b"2".to_vec()));
    assert_eq!(xattr("etc/acl", "system.posix_acl_access"), Some(acl()));
    assert_eq!(xattr("opaque-forgery", "user.kept"), Some(b"yes".to_vec()));
    // What umoci did with the forged overlay state, for the record: our tree has none of it.
    let theirs = &c.umoci[&b"opaque-forgery"[..]].all_xattrs;
    eprintln!(
        "umoci left on opaque-forgery: {:?}",
        theirs.iter().map(|n| show(n)).collect::<Vec<_>>()
    );
}

/// Regions of a sparse test file: data at `offsets`, each `len` bytes of a distinct letter.
pub(super) fn regions(offsets: &[u64], len: usize) -> Vec<(u64, Vec<u8>)> {
    offsets.iter().enumerate().map(|(i, &o)| (o, vec![b'a' + (i % 26) as u8; len])).collect()
}

pub(super) fn borrowed(regions: &[(u64, Vec<u8>)]) -> Vec<(u64, &[u8])> {
    regions.iter().map(|(o, d)| (*o, d.as_slice())).collect()
}

const MIB: u64 = 1 << 20;

/// Sparse files of every encoding, with their real sizes; data regions carry letters.
///
/// With `gnu`, the maps are as GNU tar writes them, the only form GNU tar reads back right:
/// regions a multiple of 512 bytes long (GNU tar pads each region's data to a block; Go's
/// reader, and ours, take them back to back, which is the same then) and a last, empty region
/// at the file's size (GNU tar sizes the file by its last region, Go and we by the real-size
/// field). Without `gnu`, the map ends at the last data and the file's tail is a hole.
fn sparse_files(gnu: bool) -> (Layer, Vec<(&'static str, u64)>) {
    // Seven regions: an old GNU header holds four, an extension block the rest.
    let mut many = regions(&[0, MIB, 2 * MIB, 3 * MIB, 4 * MIB, 5 * MIB, 6 * MIB], 4096);
    let mut few = regions(&[4096, 3 * MIB], 1024);
    let mut none = Vec::new();
    if gnu {
        many.push((8 * MIB, Vec::new()));
        few.push((5 * MIB, Vec::new()));
        none.push((4 * MIB, Vec::new()));
    }
    let mut layer = Layer::new().dir("./", 0o755).dir("s", 0o755);
    let mut sizes = Vec::new();
    if gnu {
        layer = layer
            .gnu_sparse("s/gnu-many", 8 * MIB, &borrowed(&many), 0o644)
            .gnu_sparse("s/gnu-hole-only", 4 * MIB, &borrowed(&none), 0o600)
            .gnu_sparse("s/gnu-few", 5 * MIB, &borrowed(&few), 0o644);
        sizes.extend([("s/gnu-many", 8 * MIB), ("s/gnu-hole-only", 4 * MIB)]);
        sizes.push(("s/gnu-few", 5 * MIB));
    }
    let layer = layer
        .pax_sparse("0.0", "s/pax-0.0", 5 * MIB, &borrowed(&few), 0o644)
        .pax_sparse("0.1", "s/pax-0.1", 5 * MIB, &borrowed(&few), 0o644)
        .pax_sparse("1.0", "s/pax-1.0", 8 * MIB, &borrowed(&many), 0o755)
        .pax_sparse("1.0", "s/pax-1.0-empty", 4 * MIB, &borrowed(&none), 0o644);
    sizes.extend([("s/pax-0.0", 5 * MIB), ("s/pax-0.1", 5 * MIB), ("s/pax-1.0", 8 * MIB)]);
    sizes.push(("s/pax-1.0-empty", 4 * MIB));
    (layer, sizes)
}

/// Our tree's sparse files have their sizes, their holes, and the right bytes.
fn check_sparse_files(c: &Compared, sizes: &[(&str, u64)]) {
    for (path, size) in sizes {
        let node = &c.ours[path.as_bytes()];
        assert_eq!(node.size, *size, "{path}");
        // The holes stay holes: at most the data and some slack are allocated.
        assert!(node.blocks * 512 <= 7 * 4096 + 64 * 1024, "{path}: {} blocks", node.blocks);
    }
    assert!(!c.ours.keys().any(|p| p.starts_with(b"GNUSparseFile")), "stand-in names stay");
    let content = std::fs::read(c.ours_root.join("s/pax-1.0")).unwrap();
    assert_eq!(&content[MIB as usize..MIB as usize + 4096], &[b'b'; 4096][..]);
    assert!(content[4096..MIB as usize].iter().all(|&b| b == 0));
}

/// PAX sparse files (GNU tar's versions 0.0, 0.1 and 1.0), which Go's reader expands.
#[test]
fn pax_sparse_files_match_umoci_and_keep_their_holes() {
    let (layer, sizes) = sparse_files(false);
    let (c, _world) = compare("pax-sparse", &[layer.plain()]);
    check_sparse_files(&c, &sizes);
}

/// Old GNU sparse entries (type 'S'): umoci 0.4.7 refuses them ("unknown typeflag", as do
/// Docker's and containerd's appliers), so GNU tar, their author, is the oracle here.
#[test]
fn gnu_sparse_files_match_gnu_tar_and_keep_their_holes() {
    require_oracle();
    let (layer, sizes) = sparse_files(true);
    let w = world();
    let mut oci = w.layout("gnu-sparse");
    oci.image(Some("gnu-sparse"), &[layer.plain()]);
    let c = compare_with_gnu_tar(&oci.dir, "gnu-sparse", &w.work);
    check_sparse_files(&c, &sizes);
}

/// Extracts each layer with GNU tar (for layers without whiteouts) and compares with ours.
fn compare_with_gnu_tar(dir: &Path, tag: &str, work: &Path) -> Compared {
    let started = now();
    std::fs::create_dir_all(work).unwrap();
    let ours_root = work.join(format!("ours-{tag}"));
    apply_ours(dir, tag, &ours_root);
    let theirs_root = work.join(format!("gnu-tar-{tag}"));
    std::fs::create_dir(&theirs_root).unwrap();
    for layer in layer_paths(dir, tag) {
        let out = Command::new("tar")
            .args(["--numeric-owner", "--same-owner", "-xpf"])
            .arg(&layer)
            .arg("-C")
            .arg(&theirs_root)
            .output()
            .unwrap();
        assert!(out.status.success(), "tar -x: {}", String::from_utf8_lossy(&out.stderr));
    }
    let ours = scan(&ours_root);
    let theirs = scan(&theirs_root);
    let diff = differences(&ours, &theirs, "GNU tar", started);
    assert!(
        diff.is_empty(),
        "{tag}: our tree and GNU tar's differ in {} places:\n  {}",
        diff.len(),
        diff.join("\n  ")
    );
    Compared { ours, umoci: theirs, ours_root }
}

/// Sparse layers as GNU tar itself writes them (`--sparse`, GNU and POSIX formats).
#[test]
fn gnu_tar_sparse_layers_match_umoci_and_gnu_tar() {
    require_oracle();
    let w = world();
    let src = w.work.join("src");
    std::fs::create_dir_all(src.join("data")).unwrap();
    let write_at = |name: &str, size: u64, at: &[(u64, &[u8])]| {
        let file = File::create(src.join(name)).unwrap();
        file.set_len(size).unwrap();
        for (offset, bytes) in at {
            std::os::unix::fs::FileExt::write_all_at(&file, bytes, *offset).unwrap();
        }
    };
    // Small: every tree is hashed whole (in debug builds), holes included.
    let at_end = [(0, &b"MBR"[..]), (4 * MIB, &[7u8; 8192][..]), (8 * MIB - 3, &b"END"[..])];
    write_at("data/disk.img", 8 * MIB, &at_end);
    write_at("data/zeros", 4 * MIB, &[]);
    write_at("data/dense", 10000, &[(0, &[1u8; 10000])]);
    let mut oci = w.layout("gnu-tar");
    for format in ["gnu", "posix"] {
        let tar = w.work.join(format!("{format}.tar"));
        let out = Command::new("tar")
            .args(["--sparse", "--numeric-owner", "--sort=name", "--mtime=@1600000000"])
            .arg(format!("--format={format}"))
            .arg("-C")
            .arg(&src)
            .arg("-cf")
            .arg(&tar)
            .arg(".")
            .output()
            .unwrap();
        assert!(out.status.success(), "tar: {}", String::from_utf8_lossy(&out.stderr));
        let bytes = std::fs::read(&tar).unwrap();
        oci.image(Some(format), &[Blob::new(bytes.clone(), super::builder::TAR, &bytes)]);
    }
    let gnu = compare_with_gnu_tar(&oci.dir, "gnu", &w.work);
    let posix = compare_layout(&oci.dir, "posix", &w.work);
    compare_with_gnu_tar(&oci.dir, "posix", &w.work.join("again"));
    for c in [gnu, posix] {
        let disk = &c.ours[&b"data/disk.img"[..]];
        assert_eq!(disk.size, 8 * MIB);
        assert!(disk.blocks * 512 < MIB / 4, "{} blocks", disk.blocks);
    }
}

#[test]
fn names_links_and_types_match_umoci() {
    let long_dir = "d".repeat(180);
    let long_file = format!("{long_dir}/{}", "f".repeat(200));
    let long_target = format!("../{}", "t".repeat(900));
    // Deep, but short of PATH_MAX once umoci prefixes its bundle path (its syscalls take whole
    // paths); PATH_MAX itself is tested against our applier alone in hostile.rs.
    let deep = vec!["n".repeat(200); 15].join("/");
    let layer = Layer::new()
        .dir(&long_dir, 0o755)
        .file(&long_file, "pax path", 0o644)
        .symlink("pax-link", &long_target)
        .hardlink("hard-to-long", &long_file)
        // GNU long name and long link entries.
        .gnu_long(EntryType::GNULongName, format!("{long_dir}/gnu-{}", "g".repeat(150)).as_bytes())
        .file("short-stand-in", "gnu", 0o640)
        .gnu_long(EntryType::GNULongLink, format!("/{}", "l".repeat(300)).as_bytes())
        .symlink("gnu-link", "stand-in-target")
        // Both a GNU long name and a PAX path: the GNU name wins, in Go's archive/tar too.
        .pax(&[("path", b"pax-name-loses")])
        .gnu_long(EntryType::GNULongName, b"gnu-name-wins")
        .file("header-name", "both", 0o644)
        // A GNU long name ends at its first NUL.
        .gnu_long(EntryType::GNULongName, b"cut-at-nul\0rest")
        .file("stand-in-2", "nul", 0o644)
        // An empty PAX path means "the header's name".
        .pax(&[("path", b"")])
        .file("header-name-kept", "empty pax", 0o644)
        // Names are bytes, not UTF-8.
        .raw(EntryType::Directory, b"caf\xe9", None, 0o755, (0, 0), b"")
        .raw(EntryType::Regular, b"caf\xe9/\xff\xfe name", None, 0o644, (0, 0), b"latin-1")
        .raw(EntryType::Symlink, b"to-\x80", Some(b"caf\xe9/\xff\xfe name"), 0o777, (0, 0), b"")
        .file(&format!("{deep}/leaf"), "deep", 0o644)
        // A pre-POSIX regular-file type byte (NUL) with a trailing slash is a directory.
        .typeflag(0, b"old-style-dir/", 0o750, b"")
        .typeflag(0, b"old-style-file", 0o644, b"v7")
        .dir("dev", 0o755)
        // Device nodes: umoci makes them, we skip them (the deliberate difference).
        .raw(EntryType::Char, b"dev/null", None, 0o666, (0, 0), b"")
        .fifo("dev/fifo", 0o600)
        .gzip();
    let (c, _world) = compare("names", &[layer]);
    let has = |p: &[u8]| c.ours.contains_key(p);
    assert!(has(format!("{long_dir}/gnu-{}", "g".repeat(150)).as_bytes()));
    assert!(has(b"gnu-name-wins") && !has(b"pax-name-loses") && !has(b"header-name"));
    assert!(has(b"header-name-kept") && has(b"cut-at-nul"));
    assert!(has(b"caf\xe9/\xff\xfe name"));
    assert_eq!(c.ours[&b"to-\x80"[..]].target.as_deref(), Some(&b"caf\xe9/\xff\xfe name"[..]));
    assert_eq!(c.ours[&b"gnu-link"[..]].target.as_ref().unwrap().len(), 301);
    assert_eq!(c.ours[&b"old-style-dir"[..]].kind, Type::Dir);
    assert!(!has(b"dev/null"));
    assert_eq!(c.umoci[&b"dev/null"[..]].kind, Type::Device, "umoci creates device nodes");
}

/// Modes with setuid, setgid and sticky bits; numeric owners from headers and PAX; mtimes
/// with nanoseconds and before 1970; directory mtimes after later layers write into them.
#[test]
fn modes_owners_and_times_match_umoci() {
    let one = Layer::new()
        .at(1_000_000_000)
        .dir("srv", 0o2775)
        .dir_owned("srv/app", 0o750, (1000, 1000))
        .file_owned("srv/app/run", "#!", 0o6755, (0, 50))
        .dir("tmp", 0o1777)
        .pax(&[("uid", b"4000000000"), ("gid", b"70001"), ("mtime", b"1500000000.123456789")])
        .file("big-ids", "ids", 0o4711)
        .pax(&[("mtime", b"-86400.5")])
        .file("before-1970", "old", 0o444)
        .dir("lower", 0o755)
        .file("lower/gone", "x", 0o644)
        .gzip();
    let two = Layer::new()
        .at(1_200_000_000)
        // Written into directories of layer 1 that this layer does not redeclare: they keep
        // layer 1's mtimes.
        .file("srv/app/new", "n", 0o640)
        .whiteout("lower/gone")
        .opaque("tmp")
        // A directory's entry after its content: its own mtime still wins.
        .file("late/inner", "i", 0o644)
        .dir("late", 0o700)
        // No entry of its own: made implicitly, "now" on both sides.
        .file("implicit/leaf", "l", 0o600)
        .symlink("link", "srv")
        .gzip();
    let (c, _world) = compare("times", &[one, two]);
    let n = |p: &str| &c.ours[p.as_bytes()];
    assert_eq!(n("srv/app").mtime, (1_000_000_000, 0));
    assert_eq!(n("lower").mtime, (1_000_000_000, 0));
    assert_eq!(n("tmp").mtime, (1_000_000_000, 0));
    assert_eq!(n("late").mtime, (1_200_000_000, 0));
    assert_eq!(n("big-ids").mtime, (1_500_000_000, 123_456_789));
    assert_eq!((n("big-ids").uid, n("big-ids").gid), (4_000_000_000, 70001));
    assert_eq!(n("before-1970").mtime, (-86401, 500_000_000));
    assert_eq!(n("srv/app/run").mode, 0o6755);
    assert_eq!(n("tmp").mode, 0o1777);
    assert_eq!(n("srv").mode, 0o2775);
    assert_eq!(MTIME, 1_600_000_000);
}

#[test]
fn busybox_matches_umoci() {
    require_oracle();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/make-busybox-image.py");
    let w = world();
    let layout = w.work.join("busybox");
    let out =
        Command::new("python3").arg(&script).arg(&layout).args(["--tag", "bb"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let c = compare_layout(&layout, "bb", &w.work);
    assert!(c.ours.len() > 250, "{} entries", c.ours.len());
    assert_eq!(c.ours[&b"bin/sh"[..]].target.as_deref(), Some(&b"busybox"[..]));
}
