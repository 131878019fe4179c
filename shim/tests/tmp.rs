//! The `/tmp` tmpfs a box gets when its image has none is bounded by the spec's
//! `tmp_size_mib`: its size as the box sees it, ENOSPC beyond it, and no unbounded size.

mod harness;

use harness::*;

#[test]
fn tmp_has_the_size_of_the_spec_and_is_full_beyond_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let rootfs = busybox_rootfs(dir.path(), false);
    let script = "busybox df -m /tmp | busybox tail -n 1 | busybox sed 's/^/guest: df=/'; \
                  busybox head -c 16777216 /dev/zero > /tmp/fill 2>/dev/null; echo guest: rc=$?";
    let mut spec = spec(dir.path(), &rootfs, Some(&["sh", script]));
    spec.tmp_size_mib = 8;

    let mut shim = spawn(dir.path(), "run", &spec);
    let status = shim.wait_exit();
    let log = shim.log();
    assert!(status.success(), "shim failed: {status:?}; log:\n{log}");
    let facts = guest_facts(&log);
    let df: Vec<&str> = facts.get("df").map(|l| l.split_whitespace().collect()).unwrap_or_default();
    // Filesystem, 1M-blocks, Used, ...: 8 MiB in all, and full after the write.
    assert_eq!(df.get(..3), Some(&["tmpfs", "8", "0"][..]), "log:\n{log}");
    assert_eq!(facts.get("rc").map(String::as_str), Some("1"), "log:\n{log}");
    assert!(!rootfs.join("tmp").exists(), "the image was modified");
}

#[test]
fn a_tmp_size_of_zero_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let rootfs = busybox_rootfs(dir.path(), false);
    let mut spec = spec(dir.path(), &rootfs, Some(&["exit", "0"]));
    spec.tmp_size_mib = 0;

    let mut shim = spawn(dir.path(), "run", &spec);
    assert_eq!(shim.wait_ready(), Readiness::Eof(String::new()));
    assert_eq!(shim.wait_exit().code(), Some(1));
    let expected = "box setup failed: mount tmpfs on /tmp: a size of 0 MiB would be unbounded";
    assert_eq!(exit_record(&spec).error.as_deref(), Some(expected), "log:\n{}", shim.log());
}
