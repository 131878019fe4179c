//! Registry pulls end to end, through the public API only: a real `docker-registry` on
//! 127.0.0.1 (common::registry), `Runtime::open` on a temporary home, `rt.images()`. Every
//! assertion reads what crossed production code: the `ImageInfo` read back from the database,
//! the files under `home/images`, the error's kind and message, a box's exec output.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use boxlite_core::{
    BoxOptions, BoxStatus, ErrorKind, ImageInfo, ImageRegistry, PullProgress, RegistryAuth,
    Runtime, RuntimeOptions,
};
use common::registry::RegistryOptions;
use common::registry::{busybox, layout_digest, sha256_digest, Auth, Busybox, Push, Registry};
use common::{fixture, output, sh};

/// Environment of the helper process (see [`helper_process_pull`]).
const HELPER_HOME: &str = "BOXLITE_REGISTRY_TEST_HOME";
const HELPER_REF: &str = "BOXLITE_REGISTRY_TEST_REF";
const HELPER_OUT: &str = "BOXLITE_REGISTRY_TEST_OUT";
/// A directory where the helper announces `ready-<pid>` once its runtime is open, then waits
/// for `go`: two helpers pull at the same moment.
const HELPER_BARRIER: &str = "BOXLITE_REGISTRY_TEST_BARRIER";
/// A helper process pulls a few MB from loopback; far more than it needs.
const HELPER_TIMEOUT: Duration = Duration::from_secs(60);

fn start(auth: Auth, pushes: Vec<Push>) -> Registry {
    Registry::start(RegistryOptions { auth, pushes, ..Default::default() })
}

/// A runtime on its own temporary home; `with_boxes` adds the fixture's shim and guest.
struct Home {
    dir: tempfile::TempDir,
    rt: Runtime,
}

impl Home {
    fn new(registries: Vec<ImageRegistry>) -> Home {
        Self::open(registries, false)
    }

    fn with_boxes(registries: Vec<ImageRegistry>) -> Home {
        Self::open(registries, true)
    }

    fn open(image_registries: Vec<ImageRegistry>, with_boxes: bool) -> Home {
        let dir = tempfile::Builder::new().prefix("bl-reg-").tempdir().unwrap();
        let rt = Runtime::open(RuntimeOptions {
            home_dir: Some(dir.path().to_path_buf()),
            shim_path: with_boxes.then(|| fixture().shim.clone()),
            guest_path: with_boxes.then(|| fixture().guest.clone()),
            image_registries,
            ..Default::default()
        })
        .unwrap();
        Home { dir, rt }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn blobs_dir(&self) -> PathBuf {
        self.path().join("images/blobs/sha256")
    }

    /// Stored blobs by `sha256:HEX`, with what tells a rewrite apart: inode, mtime and size.
    fn blobs(&self) -> BTreeMap<String, (u64, i64, i64, u64)> {
        let Ok(entries) = std::fs::read_dir(self.blobs_dir()) else { return BTreeMap::new() };
        entries
            .map(|e| {
                let e = e.unwrap();
                let m = e.metadata().unwrap();
                let name = format!("sha256:{}", e.file_name().to_string_lossy());
                (name, (m.ino(), m.mtime(), m.mtime_nsec(), m.len()))
            })
            .collect()
    }

    /// Names in `images/rootfs/` (one directory and one `.json` per unpacked image).
    fn rootfs_entries(&self) -> BTreeSet<String> {
        names(&self.path().join("images/rootfs"))
    }

    fn tmp_entries(&self) -> BTreeSet<String> {
        names(&self.path().join("tmp"))
    }

    fn rootfs(&self, id: &str) -> PathBuf {
        self.path().join("images/rootfs").join(id.strip_prefix("sha256:").unwrap())
    }

    fn blob(&self, digest: &str) -> Vec<u8> {
        std::fs::read(self.blobs_dir().join(digest.strip_prefix("sha256:").unwrap())).unwrap()
    }

    async fn pull(&self, reference: &str) -> boxlite_core::Result<ImageInfo> {
        self.rt.images().pull(reference).await
    }

    /// Nothing of any image is left: no record, blob, unpacked root or download.
    fn assert_empty(&self) {
        assert_eq!(self.rt.images().list().unwrap(), vec![], "no image record");
        assert_eq!(self.blobs(), BTreeMap::new(), "no blob");
        assert_eq!(self.rootfs_entries(), BTreeSet::new(), "no rootfs");
        assert_eq!(self.tmp_entries(), BTreeSet::new(), "nothing in tmp/");
    }

    /// Every stored blob hashes to its name, and exactly `expected` are stored.
    fn assert_blobs(&self, expected: &[&str]) {
        let stored: BTreeSet<String> = self.blobs().into_keys().collect();
        let expected: BTreeSet<String> = expected.iter().map(|s| s.to_string()).collect();
        assert_eq!(stored, expected);
        for digest in &stored {
            assert_eq!(&sha256_digest(&self.blob(digest)), digest, "blob content");
        }
    }
}

fn names(dir: &Path) -> BTreeSet<String> {
    match std::fs::read_dir(dir) {
        Ok(entries) => entries.map(|e| e.unwrap().file_name().to_string_lossy().into()).collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => BTreeSet::new(),
        Err(e) => panic!("list {}: {e}", dir.display()),
    }
}

fn basic(reg: &Registry, password: &str) -> ImageRegistry {
    ImageRegistry {
        host: reg.addr().to_owned(),
        auth: RegistryAuth::Basic {
            username: reg.user().unwrap().to_owned(),
            password: password.to_owned(),
        },
        ..Default::default()
    }
}

/// The manifest the registry serves for `repo:tag`, as JSON.
fn served_manifest(reg: &Registry, repo: &str, tag: &str) -> serde_json::Value {
    let response = reg.manifest(repo, tag);
    assert_eq!(response.status, 200, "{}", response.text());
    response.json()
}

/// The config and layer digests of a served manifest.
fn config_and_layers(manifest: &serde_json::Value) -> (String, Vec<String>) {
    let config = manifest["config"]["digest"].as_str().unwrap().to_owned();
    let layers = manifest["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["digest"].as_str().unwrap().to_owned())
        .collect();
    (config, layers)
}

/// Paths, modes and sizes of every file under `root`, for comparing unpacked images.
fn tree(root: &Path) -> BTreeMap<String, (u32, u64)> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let entry = entry.unwrap();
            let m = std::fs::symlink_metadata(entry.path()).unwrap();
            let rel = entry.path().strip_prefix(root).unwrap().display().to_string();
            if m.is_dir() {
                stack.push(entry.path());
            }
            out.insert(rel, (m.mode(), if m.is_file() { m.len() } else { 0 }));
        }
    }
    out
}

#[tokio::test]
async fn pull_by_tag_then_by_digest_records_one_image() {
    let reg = start(Auth::None, vec![Push::new(busybox(Busybox::Gzip), "library/busybox:1")]);
    let home = Home::new(vec![]);
    let digest = reg.digest("library/busybox:1");
    let (config, layers) = config_and_layers(&served_manifest(&reg, "library/busybox", "1"));

    let info = home.pull(&reg.reference("library/busybox:1")).await.unwrap();
    assert_eq!(info.reference, reg.reference("library/busybox:1"));
    assert_eq!(info.repository, reg.reference("library/busybox"));
    assert_eq!(info.tag, "1");
    assert_eq!(info.id, digest);
    assert_eq!(info.config_digest, config);
    assert_eq!(info.layers, layers);
    assert_eq!(info.source, reg.addr());
    let stored_size = home.blob(&config).len() + home.blob(&layers[0]).len();
    assert_eq!(info.size, Some(stored_size as u64));
    home.assert_blobs(&[&digest, &config, &layers[0]]);
    let root = home.rootfs(&digest);
    assert!(root.join("bin/busybox").is_file(), "{} unpacked", root.display());
    assert_eq!(std::fs::read_link(root.join("bin/sh")).unwrap(), Path::new("busybox"));
    assert_eq!(home.rt.images().inspect(&info.reference).unwrap(), Some(info.clone()));

    let by_digest = format!("{}@{digest}", reg.reference("library/busybox"));
    let pinned = home.pull(&by_digest).await.unwrap();
    assert_eq!(pinned.reference, by_digest);
    assert_eq!(pinned.tag, "");
    assert_eq!(pinned.id, digest);
    assert!(pinned.cached_at_ms >= info.cached_at_ms);
    let listed: Vec<String> =
        home.rt.images().list().unwrap().into_iter().map(|i| i.reference).collect();
    assert_eq!(listed, vec![by_digest.clone(), info.reference.clone()], "newest first");
    // One manifest: one unpacked root and the same three blobs, whatever the names.
    home.assert_blobs(&[&digest, &config, &layers[0]]);
    let hex = digest.strip_prefix("sha256:").unwrap();
    assert_eq!(home.rootfs_entries(), BTreeSet::from([hex.to_owned(), format!("{hex}.json")]));
    // An id prefix names the newest record of that manifest.
    assert_eq!(home.rt.images().inspect(&hex[..12]).unwrap().map(|i| i.reference), Some(by_digest));
    assert_eq!(home.tmp_entries(), BTreeSet::new());
}

#[tokio::test]
async fn docker_media_types_and_zstd_and_plain_layers_unpack_to_the_same_tree() {
    let gzip = busybox(Busybox::Gzip);
    let reg = start(
        Auth::None,
        vec![
            Push::new(&gzip, "bb:gzip"),
            Push::new(&gzip, "bb:v2s2").v2s2(),
            Push::new(&gzip, "bb:zstd").zstd(),
            Push::new(busybox(Busybox::Plain), "bb:plain"),
        ],
    );
    let home = Home::new(vec![]);
    let mut trees = Vec::new();
    for (tag, magic) in [
        ("gzip", &[0x1f_u8, 0x8b][..]),
        ("v2s2", &[0x1f, 0x8b]),
        ("zstd", &[0x28, 0xb5, 0x2f, 0xfd]),
        ("plain", &b"bin/"[..]),
    ] {
        let info = home.pull(&reg.reference(&format!("bb:{tag}"))).await.unwrap();
        assert_eq!(info.id, reg.digest(&format!("bb:{tag}")), "{tag}");
        let (config, layers) = config_and_layers(&served_manifest(&reg, "bb", tag));
        assert_eq!((&info.config_digest, &info.layers), (&config, &layers), "{tag}");
        let layer = home.blob(&layers[0]);
        assert_eq!(&layer[..magic.len()], magic, "{tag}: layer stored as served");
        trees.push((tag, tree(&home.rootfs(&info.id))));
    }
    let manifest = served_manifest(&reg, "bb", "v2s2");
    assert_eq!(manifest["mediaType"], "application/vnd.docker.distribution.manifest.v2+json");
    let (_, reference) = &trees[0];
    assert!(reference.contains_key("bin/busybox"), "{reference:?}");
    for (tag, t) in &trees[1..] {
        assert_eq!(t, reference, "{tag} unpacks like gzip");
    }
    assert_eq!(home.rt.images().list().unwrap().len(), 4);
    assert_eq!(home.tmp_entries(), BTreeSet::new());
}

#[tokio::test]
async fn an_index_of_two_platforms_pulls_this_hosts_manifest_only() {
    let reg = start(Auth::None, vec![Push::new(busybox(Busybox::Index), "multi:1").all()]);
    let home = Home::new(vec![]);
    let index = reg.digest("multi:1");
    let host_manifest = layout_digest(&busybox(Busybox::Gzip));

    let info = home.pull(&reg.reference("multi:1")).await.unwrap();
    assert_eq!(info.id, host_manifest, "the host's manifest, not the index {index}");
    let config: serde_json::Value =
        serde_json::from_slice(&home.blob(&info.config_digest)).unwrap();
    let host_arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    };
    assert_eq!(config["architecture"], host_arch);
    // The index, the host's manifest, its config and its layer; nothing of the other platform.
    home.assert_blobs(&[&index, &host_manifest, &info.config_digest, &info.layers[0]]);
    assert!(home.rootfs(&host_manifest).join("bin/busybox").is_file());
}

#[tokio::test]
async fn a_second_pull_downloads_nothing_and_a_moved_tag_is_followed() {
    let reg = start(Auth::Token, vec![Push::new(busybox(Busybox::Gzip), "moving:latest")]);
    let home = Home::new(vec![basic(&reg, reg.password().unwrap())]);
    let reference = reg.reference("moving:latest");
    let events: Arc<Mutex<Vec<PullProgress>>> = Arc::default();
    let sink = events.clone();
    let progress: boxlite_core::ProgressFn =
        Arc::new(move |p| sink.lock().unwrap().push(p.clone()));
    let images = home.rt.images();
    let pull = || images.pull_with_progress(&reference, Some(progress.clone()));

    let first = pull().await.unwrap();
    let downloaded = std::mem::take(&mut *events.lock().unwrap());
    assert!(!downloaded.is_empty() && downloaded.iter().all(|p| !p.cached), "{downloaded:?}");
    let last = downloaded.last().unwrap();
    assert_eq!((last.layer.as_str(), last.index, last.layers), (first.layers[0].as_str(), 1, 1));
    assert_eq!(last.downloaded_bytes, last.total_bytes);
    let blobs_before = home.blobs();
    let rootfs_before = home.rootfs_entries();

    let again = pull().await.unwrap();
    let second = std::mem::take(&mut *events.lock().unwrap());
    assert_eq!(second.len(), 1, "{second:?}");
    assert!(second[0].cached, "{second:?}");
    assert_eq!(again.id, first.id);
    assert_eq!(home.blobs(), blobs_before, "no blob written again");
    assert_eq!(home.rootfs_entries(), rootfs_before);
    assert!(again.cached_at_ms >= first.cached_at_ms);

    // The tag moves to another image (same content, zstd layer): the next pull follows it.
    let moved = reg.push(Push::new(busybox(Busybox::Zstd), "moving:latest"));
    assert_ne!(moved, first.id);
    let third = pull().await.unwrap();
    assert_eq!(third.id, moved);
    assert_eq!(third.reference, reference);
    let list = home.rt.images().list().unwrap();
    assert_eq!(list, vec![third.clone()], "one record per reference");
    assert!(home.rootfs(&moved).join("bin/busybox").is_file());

    // The old manifest and its layer are garbage now; the shared config is not.
    let before_prune = home.blobs();
    let report = home.rt.images().prune().unwrap();
    assert_eq!(report.rootfs_removed, 1);
    let after: BTreeSet<String> = home.blobs().into_keys().collect();
    let removed: Vec<&String> = before_prune.keys().filter(|d| !after.contains(*d)).collect();
    assert_eq!(removed.len() as u64, report.blobs_removed, "{removed:?}");
    assert!(removed.contains(&&first.id) && removed.contains(&&first.layers[0]), "{removed:?}");
    let freed: u64 = removed.iter().map(|d| before_prune[*d].3).sum();
    assert_eq!(report.bytes_freed, freed);
    home.assert_blobs(&[&moved, &third.config_digest, &third.layers[0]]);
    assert!(!home.rootfs(&first.id).exists());
}

#[tokio::test]
async fn basic_auth_pulls_with_the_password_and_refuses_without() {
    let reg = start(Auth::Basic, vec![Push::new(busybox(Busybox::Gzip), "library/busybox")]);
    let reference = reg.reference("library/busybox:latest");

    let anonymous = Home::new(vec![]);
    let err = anonymous.pull(&reference).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unauthorized, "{err}");
    assert!(err.to_string().contains(&reference), "{err}");
    anonymous.assert_empty();

    let wrong = Home::new(vec![basic(&reg, "wrong")]);
    let err = wrong.pull(&reference).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unauthorized, "{err}");
    assert!(err.to_string().contains(&reference), "{err}");
    assert!(!err.to_string().contains("wrong"), "no password in messages: {err}");
    wrong.assert_empty();

    let right = Home::new(vec![basic(&reg, reg.password().unwrap())]);
    let info = right.pull(&reference).await.unwrap();
    assert_eq!(info.id, reg.digest("library/busybox"));
    assert!(right.rootfs(&info.id).join("bin/busybox").is_file());
}

#[tokio::test]
async fn token_auth_pulls_with_the_password_and_refuses_a_wrong_one() {
    let reg = start(Auth::Token, vec![Push::new(busybox(Busybox::Gzip), "private/busybox:1")]);
    let reference = reg.reference("private/busybox:1");
    for (password, registries) in [("wrong", vec![basic(&reg, "wrong")]), ("none", vec![])] {
        let home = Home::new(registries);
        let err = home.pull(&reference).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Unauthorized, "{password}: {err}");
        assert!(err.to_string().contains(&reference), "{password}: {err}");
        home.assert_empty();
    }
    let home = Home::new(vec![basic(&reg, reg.password().unwrap())]);
    let info = home.pull(&reference).await.unwrap();
    assert_eq!(info.id, reg.digest("private/busybox:1"));
    assert_eq!(info.source, reg.addr());
}

#[tokio::test]
async fn token_auth_with_anonymous_pull_needs_no_credentials() {
    let reg = Registry::start(RegistryOptions {
        auth: Auth::Token,
        pushes: vec![Push::new(busybox(Busybox::Gzip), "public/busybox")],
        anonymous_pull: true,
        ..Default::default()
    });
    let home = Home::new(vec![]);
    let info = home.pull(&reg.reference("public/busybox")).await.unwrap();
    assert_eq!(info.reference, reg.reference("public/busybox:latest"));
    assert_eq!(info.id, reg.digest("public/busybox"));
}

#[tokio::test]
async fn a_missing_tag_or_repository_is_not_found_and_a_closed_port_unavailable() {
    let reg = start(Auth::None, vec![Push::new(busybox(Busybox::Gzip), "library/busybox")]);
    let home = Home::new(vec![]);
    for missing in [reg.reference("library/busybox:nope"), reg.reference("nobody/here:1")] {
        let err = home.pull(&missing).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NotFound, "{missing}: {err}");
        assert!(err.to_string().contains(&missing), "{err}");
    }
    home.assert_empty();

    // A port nothing listens on: bound, then released.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let closed = format!("127.0.0.1:{port}/library/busybox:latest");
    let err = home.pull(&closed).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unavailable, "{err}");
    assert!(err.to_string().contains(&closed), "{err}");
    home.assert_empty();
}

/// Overwrites the registry's copy of `digest` with as many other bytes.
fn corrupt_blob(reg: &Registry, digest: &str) {
    let hex = digest.strip_prefix("sha256:").unwrap();
    let data =
        reg.storage().join(format!("docker/registry/v2/blobs/sha256/{}/{hex}/data", &hex[..2]));
    let mut bytes = std::fs::read(&data).unwrap_or_else(|e| panic!("{}: {e}", data.display()));
    for b in bytes.iter_mut().skip(16).step_by(97) {
        *b ^= 0x5a;
    }
    std::fs::write(&data, &bytes).unwrap();
}

#[tokio::test]
async fn a_corrupted_layer_fails_the_pull_with_its_digest_and_leaves_no_image() {
    let reg = start(Auth::None, vec![Push::new(busybox(Busybox::Gzip), "library/busybox")]);
    let (config, layers) = config_and_layers(&served_manifest(&reg, "library/busybox", "latest"));
    corrupt_blob(&reg, &layers[0]);
    let home = Home::new(vec![]);
    let reference = reg.reference("library/busybox");

    let err = home.pull(&reference).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Image, "{err}");
    assert!(err.to_string().contains(&layers[0]), "names the layer: {err}");
    assert_eq!(home.rt.images().list().unwrap(), vec![]);
    assert_eq!(home.rootfs_entries(), BTreeSet::new());
    assert_eq!(home.tmp_entries(), BTreeSet::new());
    // Neither the bad layer nor the manifest is stored. The config, fetched and verified before
    // the layers, stays for the next attempt until a prune.
    home.assert_blobs(&[&config]);
    let report = home.rt.images().prune().unwrap();
    assert_eq!(report.blobs_removed, 1, "{report:?}");
    home.assert_empty();
}

#[tokio::test]
async fn a_docker_io_mirror_serves_unqualified_names() {
    let reg = start(
        Auth::None,
        vec![
            Push::new(busybox(Busybox::Gzip), "library/busybox:latest"),
            Push::new(busybox(Busybox::Zstd), "library/alpine:3"),
        ],
    );
    let home = Home::new(vec![ImageRegistry {
        host: "docker.io".into(),
        mirrors: vec![reg.addr().to_owned()],
        ..Default::default()
    }]);
    let info = home.pull("busybox").await.unwrap();
    assert_eq!(info.reference, "docker.io/library/busybox:latest");
    assert_eq!(info.repository, "docker.io/library/busybox");
    assert_eq!(info.source, reg.addr(), "served by the mirror");
    assert_eq!(info.id, reg.digest("library/busybox:latest"));
    let alpine = home.pull("alpine:3").await.unwrap();
    assert_eq!(alpine.reference, "docker.io/library/alpine:3");
    assert_eq!(alpine.id, reg.digest("library/alpine:3"));
    // Every spelling of the name is that one record.
    for name in ["busybox", "busybox:latest", "docker.io/library/busybox", "library/busybox"] {
        let found = home.rt.images().inspect(name).unwrap();
        assert_eq!(found.as_ref().map(|i| &i.id), Some(&info.id), "{name}");
    }
}

#[tokio::test]
async fn a_search_registry_resolves_unqualified_names() {
    let reg = start(Auth::None, vec![Push::new(busybox(Busybox::Gzip), "busybox:latest")]);
    let home = Home::new(vec![ImageRegistry {
        host: reg.addr().to_owned(),
        search: true,
        ..Default::default()
    }]);
    let info = home.pull("busybox").await.unwrap();
    assert_eq!(info.reference, reg.reference("busybox:latest"));
    assert_eq!(info.source, reg.addr());
    assert_eq!(info.id, reg.digest("busybox:latest"));
    assert_eq!(home.rt.images().inspect("busybox").unwrap(), Some(info));

    let err = home.pull("nothere").await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
    assert!(err.to_string().contains(&reg.reference("nothere:latest")), "{err}");
}

#[tokio::test]
async fn the_home_config_file_configures_search_and_credentials() {
    let reg = start(Auth::Basic, vec![Push::new(busybox(Busybox::Gzip), "tools/busybox:2")]);
    let dir = tempfile::Builder::new().prefix("bl-reg-").tempdir().unwrap();
    let entry = ImageRegistry { search: true, ..basic(&reg, reg.password().unwrap()) };
    let config = serde_json::json!({ "image_registries": [entry] });
    std::fs::write(dir.path().join("config.json"), config.to_string()).unwrap();
    let rt = Runtime::open(RuntimeOptions {
        home_dir: Some(dir.path().to_path_buf()),
        ..Default::default()
    })
    .unwrap();
    let info = rt.images().pull("tools/busybox:2").await.unwrap();
    assert_eq!(info.reference, reg.reference("tools/busybox:2"));
    assert_eq!(info.id, reg.digest("tools/busybox:2"));
}

/// Runs this test binary again as a helper process that pulls `reference` into `home` (with
/// `env` added) and returns what it wrote: `{"ok": ImageInfo}` or `{"error": {kind, message}}`.
fn spawn_helper(home: &Path, reference: &str, env: &[(&str, &str)]) -> Helper {
    let out = home.join(format!("helper-{}.json", unique_suffix()));
    let mut cmd = std::process::Command::new(std::env::current_exe().unwrap());
    cmd.args(["helper_process_pull", "--exact", "--ignored", "--nocapture", "--test-threads=1"])
        .env(HELPER_HOME, home)
        .env(HELPER_REF, reference)
        .env(HELPER_OUT, &out)
        .env_remove(boxlite_core::IMAGE_REGISTRIES_ENV)
        .env_remove(HELPER_BARRIER)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    Helper { child: Some(cmd.spawn().unwrap()), out }
}

fn unique_suffix() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static SEQ: AtomicU64 = AtomicU64::new(0);
    format!("{}-{}", std::process::id(), SEQ.fetch_add(1, Ordering::Relaxed))
}

struct Helper {
    child: Option<std::process::Child>,
    out: PathBuf,
}

impl Helper {
    fn wait(mut self) -> serde_json::Value {
        let child = self.child.take().unwrap();
        let pid = child.id();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(child.wait_with_output());
        });
        let output = rx
            .recv_timeout(HELPER_TIMEOUT)
            .unwrap_or_else(|_| {
                // SAFETY: kills the helper this test started.
                unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
                panic!("helper {pid} did not finish within {HELPER_TIMEOUT:?}")
            })
            .unwrap();
        let text = std::fs::read_to_string(&self.out).unwrap_or_else(|e| {
            panic!(
                "helper wrote no result ({e}; {}): {}{}",
                output.status,
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            )
        });
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        std::fs::remove_file(&self.out).unwrap();
        serde_json::from_str(&text).unwrap()
    }
}

impl Drop for Helper {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Not a test: the second process of the tests above, run by [`spawn_helper`].
#[tokio::test]
#[ignore = "a helper process that other tests in this file start"]
async fn helper_process_pull() {
    let var = |name: &str| {
        std::env::var(name).unwrap_or_else(|_| panic!("{name} is unset: run by spawn_helper"))
    };
    let (home, reference, out) = (var(HELPER_HOME), var(HELPER_REF), var(HELPER_OUT));
    let opened =
        Runtime::open(RuntimeOptions { home_dir: Some(home.into()), ..Default::default() });
    if let Ok(barrier) = std::env::var(HELPER_BARRIER) {
        let barrier = Path::new(&barrier);
        std::fs::write(barrier.join(format!("ready-{}", std::process::id())), "").unwrap();
        assert!(common::wait_for_file(barrier, "go", HELPER_TIMEOUT), "no go within the timeout");
    }
    let pulled = match opened {
        Ok(rt) => rt.images().pull(&reference).await,
        Err(e) => Err(e),
    };
    let result = match pulled {
        Ok(info) => serde_json::json!({ "ok": info }),
        Err(e) => serde_json::json!({ "error": { "kind": e.code(), "message": e.to_string() } }),
    };
    std::fs::write(out, result.to_string()).unwrap();
}

#[test]
fn the_environment_variable_configures_registries() {
    let reg = start(Auth::Basic, vec![Push::new(busybox(Busybox::Gzip), "busybox:latest")]);
    let home = tempfile::Builder::new().prefix("bl-reg-").tempdir().unwrap();
    let entry = ImageRegistry { search: true, ..basic(&reg, reg.password().unwrap()) };
    let env = serde_json::to_string(&vec![entry]).unwrap();
    let result =
        spawn_helper(home.path(), "busybox", &[(boxlite_core::IMAGE_REGISTRIES_ENV, &env)]).wait();
    let info = &result["ok"];
    assert_eq!(info["reference"], reg.reference("busybox:latest"), "{result}");
    assert_eq!(info["id"], reg.digest("busybox:latest"));

    // A malformed variable is refused at open, naming the variable.
    let bad =
        spawn_helper(home.path(), "busybox", &[(boxlite_core::IMAGE_REGISTRIES_ENV, "{x")]).wait();
    assert_eq!(bad["error"]["kind"], "invalid_argument", "{bad}");
    let message = bad["error"]["message"].as_str().unwrap();
    assert!(message.contains(boxlite_core::IMAGE_REGISTRIES_ENV), "{message}");
}

#[test]
fn two_processes_pulling_one_image_into_one_home_share_it() {
    let reg = start(Auth::None, vec![Push::new(busybox(Busybox::Gzip), "library/busybox:1")]);
    let dir = tempfile::Builder::new().prefix("bl-reg-").tempdir().unwrap();
    let reference = reg.reference("library/busybox:1");
    let barrier = tempfile::tempdir().unwrap();
    let barrier_env = [(HELPER_BARRIER, barrier.path().to_str().unwrap())];
    let helpers: Vec<Helper> =
        (0..2).map(|_| spawn_helper(dir.path(), &reference, &barrier_env)).collect();
    for helper in &helpers {
        let ready = format!("ready-{}", helper.child.as_ref().unwrap().id());
        assert!(common::wait_for_file(barrier.path(), &ready, HELPER_TIMEOUT), "{ready}");
    }
    std::fs::write(barrier.path().join("go"), "").unwrap();
    let results: Vec<serde_json::Value> = helpers.into_iter().map(Helper::wait).collect();
    let digest = reg.digest("library/busybox:1");
    for result in &results {
        assert_eq!(result["ok"]["id"], digest, "{result}");
    }
    let rt = Runtime::open(RuntimeOptions {
        home_dir: Some(dir.path().to_path_buf()),
        ..Default::default()
    })
    .unwrap();
    let home = Home { dir, rt };
    let list = home.rt.images().list().unwrap();
    assert_eq!(list.len(), 1, "{list:?}");
    let info = &list[0];
    home.assert_blobs(&[&digest, &info.config_digest, &info.layers[0]]);
    let hex = digest.strip_prefix("sha256:").unwrap();
    assert_eq!(home.rootfs_entries(), BTreeSet::from([hex.to_owned(), format!("{hex}.json")]));
    assert!(home.rootfs(&digest).join("bin/busybox").is_file());
    assert_eq!(home.tmp_entries(), BTreeSet::new());
}

/// A copy of the busybox layout whose config sets `GREETING` and `WorkingDir /root`.
fn image_with_config_defaults(dir: &Path) -> String {
    let source = busybox(Busybox::Gzip);
    let src = Path::new(source.strip_prefix("oci:").unwrap().rsplit_once(':').unwrap().0);
    let blobs = dir.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).unwrap();
    for entry in std::fs::read_dir(src.join("blobs/sha256")).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), blobs.join(entry.file_name())).unwrap();
    }
    std::fs::copy(src.join("oci-layout"), dir.join("oci-layout")).unwrap();
    let read = |digest: &str| -> serde_json::Value {
        serde_json::from_slice(&std::fs::read(blobs.join(&digest[7..])).unwrap()).unwrap()
    };
    let write = |value: &serde_json::Value| -> (String, usize) {
        let bytes = serde_json::to_vec(value).unwrap();
        let digest = sha256_digest(&bytes);
        std::fs::write(blobs.join(&digest[7..]), &bytes).unwrap();
        (digest, bytes.len())
    };
    let mut index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(src.join("index.json")).unwrap()).unwrap();
    let mut manifest = read(index["manifests"][0]["digest"].as_str().unwrap());
    let mut config = read(manifest["config"]["digest"].as_str().unwrap());
    config["config"]["Env"].as_array_mut().unwrap().push("GREETING=from-image".into());
    config["config"]["WorkingDir"] = "/root".into();
    let (digest, size) = write(&config);
    manifest["config"]["digest"] = digest.into();
    manifest["config"]["size"] = size.into();
    let (digest, size) = write(&manifest);
    index["manifests"][0]["digest"] = digest.into();
    index["manifests"][0]["size"] = size.into();
    std::fs::write(dir.join("index.json"), serde_json::to_vec(&index).unwrap()).unwrap();
    format!("oci:{}:latest", dir.display())
}

#[tokio::test]
async fn a_box_from_a_registry_image_runs_with_its_defaults_and_holds_it_until_removed() {
    let layout = tempfile::tempdir().unwrap();
    let source = image_with_config_defaults(layout.path());
    let reg = start(Auth::Token, vec![Push::new(&source, "apps/greeter:1")]);
    let home = Home::with_boxes(vec![basic(&reg, reg.password().unwrap())]);
    let reference = reg.reference("apps/greeter:1");

    let b = home.rt.create(BoxOptions::new(reference.clone()), None).unwrap();
    let (out, err, res) = output(b.exec(sh("echo hi; echo $GREETING; pwd")).await.unwrap()).await;
    assert_eq!(String::from_utf8_lossy(&out), "hi\nfrom-image\n/root\n", "{err:?}");
    assert_eq!(res.exit_code, Some(0));
    let info = home.rt.images().inspect(&reference).unwrap().expect("pulled at start");
    assert_eq!(info.id, reg.digest("apps/greeter:1"));

    let err = home.rt.images().remove(&reference, false).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidState, "{err}");
    assert!(err.to_string().contains(b.id()), "names the box: {err}");
    assert!(home.rt.images().inspect(&reference).unwrap().is_some());

    home.rt.images().remove(&reference, true).unwrap();
    assert_eq!(home.rt.images().list().unwrap(), vec![]);
    // The box runs from its unpacked root, which stays while the box exists.
    let (out, _, res) =
        output(b.exec(sh("echo still; cat /etc/group | head -1")).await.unwrap()).await;
    assert_eq!(String::from_utf8_lossy(&out), "still\nroot:x:0:\n");
    assert_eq!(res.exit_code, Some(0));
    assert!(home.rootfs(&info.id).is_dir());

    b.stop(Duration::from_secs(5)).await.unwrap();
    home.rt.remove(b.id(), false).unwrap();
    let report = home.rt.images().prune().unwrap();
    assert_eq!(report.rootfs_removed, 1, "{report:?}");
    assert_eq!(home.blobs(), BTreeMap::new());
    assert_eq!(home.rootfs_entries(), BTreeSet::new());
    let left = common::processes_mentioning(&home.path().display().to_string());
    assert!(left.is_empty(), "left running: {left:?}");
}

#[tokio::test]
async fn removing_an_image_by_id_prefix_frees_its_blobs_and_root() {
    let reg = start(Auth::None, vec![Push::new(busybox(Busybox::Gzip), "library/busybox")]);
    let home = Home::new(vec![]);
    let info = home.pull(&reg.reference("library/busybox")).await.unwrap();
    // Everything stored is named by the record: nothing to prune.
    assert_eq!(home.rt.images().prune().unwrap(), Default::default());
    assert_eq!(home.blobs().len(), 3);
    home.rt.images().remove(&info.id[..19], false).unwrap();
    home.assert_empty();
    assert_eq!(home.rt.images().inspect(&info.reference).unwrap(), None);
    let again = home.rt.images().remove(&info.reference, false).unwrap_err();
    assert_eq!(again.kind(), ErrorKind::NotFound, "{again}");
    assert!(again.to_string().contains(&info.reference), "{again}");
}

#[tokio::test]
async fn a_failed_pull_at_box_start_fails_the_box_with_the_reason_and_leaves_no_image() {
    let reg = start(Auth::None, vec![Push::new(busybox(Busybox::Gzip), "library/busybox")]);
    let (_, layers) = config_and_layers(&served_manifest(&reg, "library/busybox", "latest"));
    let home = Home::with_boxes(vec![]);

    let missing = reg.reference("library/busybox:nope");
    let b = home.rt.create(BoxOptions::new(missing.clone()), None).unwrap();
    let err = b.start().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
    let info = b.info().unwrap();
    assert_eq!(info.status, BoxStatus::Failed);
    let reason = info.error_reason.unwrap_or_default();
    assert!(reason.contains(&missing), "{reason}");
    home.rt.remove(b.id(), false).unwrap();

    corrupt_blob(&reg, &layers[0]);
    let corrupt = reg.reference("library/busybox:latest");
    let b = home.rt.create(BoxOptions::new(corrupt.clone()), None).unwrap();
    let err = b.start().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Image, "{err}");
    let info = b.info().unwrap();
    assert_eq!(info.status, BoxStatus::Failed);
    let reason = info.error_reason.unwrap_or_default();
    assert!(reason.contains(&layers[0]) && reason.contains("library/busybox"), "{reason}");
    assert_eq!(home.rt.images().list().unwrap(), vec![]);
    assert_eq!(home.rootfs_entries(), BTreeSet::new());
    assert_eq!(home.tmp_entries(), BTreeSet::new());
    home.rt.remove(b.id(), false).unwrap();
    home.rt.images().prune().unwrap();
    home.assert_empty();
}

/// A broken `config.json` fails image operations with a clear error naming the file, never
/// opening the home or the box commands that need no registry.
#[tokio::test]
async fn a_broken_config_file_fails_pulls_not_the_home() {
    let home = tempfile::tempdir().unwrap();
    std::fs::write(home.path().join("config.json"), "{\"image_registries\": [{\"hots\": 1}]}")
        .unwrap();
    let rt =
        Runtime::open(RuntimeOptions { home_dir: Some(home.path().into()), ..Default::default() })
            .unwrap();
    assert!(rt.list_info().unwrap().is_empty());
    let b = rt.create(boxlite_core::BoxOptions::new("busybox"), Some("b")).unwrap();
    let err = rt.images().pull("busybox").await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{err}");
    assert!(err.to_string().contains("config.json: invalid configuration"), "{err}");
    rt.remove(b.id(), false).unwrap();
}
