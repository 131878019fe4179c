//! `scripts/make-busybox-image.py`: deterministic output, readable by other OCI tools. (The
//! store's own tests, which prepare this image, are unit tests in `core/src/images/tests/`.)

use std::path::{Path, PathBuf};
use std::process::Command;

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/make-busybox-image.py")
}

fn build(out: &Path, tag: &str) -> String {
    let output =
        Command::new("python3").arg(script()).arg(out).args(["--tag", tag]).output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).unwrap().lines().last().unwrap().to_owned()
}

fn python3_missing() -> bool {
    let missing = Command::new("python3").arg("--version").output().is_err();
    if missing {
        eprintln!("skipped: python3 is not installed");
    }
    missing
}

#[test]
fn busybox_image_is_deterministic_and_replaces_its_output() {
    if python3_missing() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    assert_eq!(build(&a, "latest"), format!("oci:{}:latest", a.display()));
    build(&b, "latest");
    for file in ["index.json", "oci-layout"] {
        assert_eq!(std::fs::read(a.join(file)).unwrap(), std::fs::read(b.join(file)).unwrap());
    }
    let blobs = |dir: &Path| {
        let mut names: Vec<_> = std::fs::read_dir(dir.join("blobs/sha256"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        names.sort();
        names
    };
    assert_eq!(blobs(&a).len(), 3);
    assert_eq!(blobs(&a), blobs(&b));

    // Run again over an existing layout: replaced, same bytes.
    std::fs::write(a.join("stray"), "x").unwrap();
    build(&a, "latest");
    assert!(!a.join("stray").exists());
    assert_eq!(blobs(&a), blobs(&b));

    // A directory that is not a layout is left alone.
    let precious = dir.path().join("precious");
    std::fs::create_dir(&precious).unwrap();
    std::fs::write(precious.join("data"), "keep").unwrap();
    let output = Command::new("python3").arg(script()).arg(&precious).output().unwrap();
    assert!(!output.status.success());
    assert!(precious.join("data").exists());
}

#[test]
fn busybox_image_reads_with_skopeo() {
    if python3_missing() {
        return;
    }
    if Command::new("skopeo").arg("--version").output().is_err() {
        eprintln!("skipped: skopeo is not installed (apt-get install skopeo)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let reference = build(&dir.path().join("bb"), "v1");
    let output = Command::new("skopeo").args(["inspect", "--config", &reference]).output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let config: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(config["config"]["Cmd"], serde_json::json!(["sh"]));
    assert_eq!(config["os"], "linux");
}
