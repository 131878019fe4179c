//! The busybox fixture of `scripts/make-busybox-image.py`, prepared by the store.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;
use std::time::Instant;

use super::world;

#[test]
fn busybox_image_from_the_script_prepares() {
    if Command::new("python3").arg("--version").output().is_err() {
        eprintln!("skipped: python3 is not installed");
        return;
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/make-busybox-image.py");
    let w = world();
    let layout = w.work.join("busybox");
    let started = Instant::now();
    let out =
        Command::new("python3").arg(&script).arg(&layout).args(["--tag", "t1"]).output().unwrap();
    let build_time = started.elapsed();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8(out.stdout).unwrap();
    let reference = stdout.lines().last().unwrap();
    assert_eq!(reference, format!("oci:{}:t1", layout.display()));

    let started = Instant::now();
    let prepared = w.store.prepare(reference).unwrap();
    let cold = started.elapsed();
    let started = Instant::now();
    assert_eq!(w.store.prepare(reference).unwrap(), prepared);
    let cached = started.elapsed();
    eprintln!("busybox: build {build_time:?}, prepare cold {cold:?}, cached {cached:?}");

    let rootfs = &prepared.rootfs;
    assert_eq!(std::fs::read_link(rootfs.join("bin/sh")).unwrap(), Path::new("busybox"));
    assert_eq!(std::fs::read_link(rootfs.join("bin/ls")).unwrap(), Path::new("busybox"));
    let busybox = std::fs::symlink_metadata(rootfs.join("bin/busybox")).unwrap();
    assert!(busybox.is_file() && busybox.len() > 500_000);
    assert_eq!(busybox.permissions().mode() & 0o7777, 0o755);
    let passwd = std::fs::read_to_string(rootfs.join("etc/passwd")).unwrap();
    assert!(passwd.starts_with("root:x:0:0:root:/root:/bin/sh\n"), "{passwd}");
    assert_eq!(std::fs::metadata(rootfs.join("root")).unwrap().permissions().mode() & 0o777, 0o700);
    assert!(!rootfs.join("tmp").exists());
    assert!(!rootfs.join("etc/hostname").exists());

    let config = &prepared.config;
    assert_eq!(config.cmd, Some(vec!["sh".to_owned()]));
    assert_eq!(config.entrypoint, None);
    assert_eq!(config.working_dir.as_deref(), Some("/"));
    assert_eq!(
        config.env,
        [(
            "PATH".to_owned(),
            "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".to_owned()
        )]
    );
}
