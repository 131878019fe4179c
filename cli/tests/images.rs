//! `pull`, `images`, `rmi`, `image prune|inspect` and `run` pulling on demand, through the
//! real binary against a real registry on 127.0.0.1 (scripts/registry-fixture.py) serving the
//! busybox fixture (BOXLITE_TEST_IMAGE, from scripts/test.sh).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Output, Stdio};

use serde_json::Value;

/// The fixture registry; dropping it closes its stdin, which stops it, and waits.
struct Registry {
    child: Child,
    stdin: Option<ChildStdin>,
    addr: String,
    digest: String,
}

impl Registry {
    fn start() -> Registry {
        let image = std::env::var("BOXLITE_TEST_IMAGE")
            .expect("BOXLITE_TEST_IMAGE unset: run the tests through scripts/test.sh");
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/registry-fixture.py");
        let mut child = Command::new("python3")
            .arg(script)
            .arg("--push")
            .arg(format!("{image}=library/busybox:latest"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("python3 is needed for the registry fixture");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let ready: Value = serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("registry fixture did not start ({e}): {line:?}"));
        Registry {
            stdin: child.stdin.take(),
            child,
            addr: ready["addr"].as_str().unwrap().to_owned(),
            digest: ready["pushed"]["library/busybox:latest"].as_str().unwrap().to_owned(),
        }
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        drop(self.stdin.take());
        let _ = self.child.wait();
    }
}

fn boxlite(home: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_boxlite"))
        .arg("--home")
        .arg(home)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[track_caller]
fn ok(home: &Path, args: &[&str]) -> (String, String) {
    let out = boxlite(home, args);
    assert!(out.status.success(), "{args:?} failed: {}", text(&out.stderr));
    (text(&out.stdout), text(&out.stderr))
}

fn images(home: &Path) -> Vec<Value> {
    let (stdout, _) = ok(home, &["images", "--format", "json"]);
    serde_json::from_str::<Value>(&stdout).unwrap().as_array().unwrap().clone()
}

fn blob_count(home: &Path) -> usize {
    std::fs::read_dir(PathBuf::from(home).join("images/blobs/sha256")).unwrap().count()
}

#[test]
fn pull_list_run_remove_and_prune() {
    for var in ["BOXLITE_SHIM", "BOXLITE_GUEST"] {
        assert!(std::env::var_os(var).is_some(), "{var} unset: run through scripts/test.sh");
    }
    let registry = Registry::start();
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let reg = ["--registry", registry.addr.as_str()];

    // Unqualified, found through --registry; not a terminal, so one plain line per layer.
    let (stdout, stderr) = ok(h, &[reg[0], reg[1], "pull", "busybox"]);
    let reference = format!("{}/library/busybox:latest", registry.addr);
    assert_eq!(stdout.trim(), format!("{reference} {}", registry.digest));
    assert!(stderr.contains("layer 1/1") && stderr.contains("pulled"), "{stderr}");
    let listed = images(h);
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["reference"], reference.as_str());
    assert_eq!(listed[0]["id"], registry.digest.as_str());
    assert_eq!(listed[0]["source"], registry.addr.as_str());
    let (table, _) = ok(h, &["images"]);
    assert!(table.starts_with("REPOSITORY"), "{table}");
    assert!(table.contains(&registry.digest[7..19]), "{table}");
    let (inspect, _) = ok(h, &["image", "inspect", &registry.digest[7..19]]);
    let inspected: Value = serde_json::from_str(&inspect).unwrap();
    assert_eq!(inspected["reference"], reference.as_str());

    // A second pull finds every blob in place.
    let (_, stderr) = ok(h, &[reg[0], reg[1], "pull", "busybox"]);
    assert!(stderr.contains("already present"), "{stderr}");

    // run resolves the same name to the cached image.
    let (stdout, _) = ok(h, &[reg[0], reg[1], "run", "--name", "b", "busybox", "echo", "hi"]);
    assert_eq!(stdout, "hi\n");

    // In use by box b: refused, naming the box; the image stays.
    let out = boxlite(h, &["rmi", &reference]);
    assert_eq!(out.status.code(), Some(125));
    let err = text(&out.stderr);
    assert!(err.contains("used by box") && err.contains(&reference), "{err}");
    assert_eq!(images(h).len(), 1);

    ok(h, &["rm", "-f", "b"]);
    let (stdout, _) = ok(h, &["rmi", &reference]);
    assert_eq!(stdout.trim(), reference);
    assert!(images(h).is_empty());
    assert_eq!(blob_count(h), 0, "rmi removes the blobs only that image used");
    let (stdout, _) = ok(h, &["image", "prune"]);
    assert!(stdout.starts_with("removed 0 blobs"), "{stdout}");
}

#[test]
fn pulling_a_missing_image_names_it_and_caches_nothing() {
    let registry = Registry::start();
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let missing = format!("{}/library/nothere:v1", registry.addr);
    let out = boxlite(h, &["pull", &missing]);
    assert_eq!(out.status.code(), Some(125));
    let err = text(&out.stderr);
    assert!(err.contains(&missing) && err.contains("not found"), "{err}");
    assert!(images(h).is_empty());
    assert_eq!(blob_count(h), 0);

    let out = boxlite(h, &["pull", "Not/Valid"]);
    assert_eq!(out.status.code(), Some(125));
    assert!(text(&out.stderr).contains("lowercase"), "{}", text(&out.stderr));
}

/// A home on a 1.5 MiB tmpfs: the busybox layer (1 MB) fits, its unpacked tree (2 MB) does
/// not. The pull fails naming the image and the cause, and records nothing.
#[test]
fn a_full_disk_fails_the_pull_cleanly() {
    // SAFETY: geteuid has no preconditions.
    assert_eq!(unsafe { libc::geteuid() }, 0, "mounting a small tmpfs needs root (CI is root)");
    let registry = Registry::start();
    let dir = tempfile::tempdir().unwrap();
    let mount = dir.path().join("small");
    std::fs::create_dir(&mount).unwrap();
    let status = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=1536k", "boxlite-test", mount.to_str().unwrap()])
        .status()
        .unwrap();
    assert!(status.success(), "mount tmpfs on {}", mount.display());
    struct Unmount(PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = Command::new("umount").arg(&self.0).status();
        }
    }
    let _unmount = Unmount(mount.clone());
    let home = mount.join("home");
    let reference = format!("{}/library/busybox:latest", registry.addr);
    let out = boxlite(&home, &["pull", &reference]);
    assert_eq!(out.status.code(), Some(125));
    let err = text(&out.stderr);
    assert!(err.contains(&reference) && err.contains("No space left on device"), "{err}");
    assert_eq!(err.matches("No space left").count(), 1, "the cause is said once: {err}");
    assert!(images(&home).is_empty());
    let rootfs = std::fs::read_dir(home.join("images/rootfs")).unwrap().count();
    assert_eq!(rootfs, 0, "no unpacked image may be left");
    assert_eq!(std::fs::read_dir(home.join("tmp")).unwrap().count(), 0, "staging left behind");
}
