//! What a box looks like from inside and from the host: namespaces, filesystems, devices,
//! descriptors, the agent's socket and binary, and state kept across runs.

mod harness;

use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};

use boxlite_protocol::launch::GuestConfig;
use harness::*;
use nix::sys::signal::Signal;

const TMPFS_MAGIC: &str = "0x1021994";
const OVERLAYFS_MAGIC: &str = "0x794c7630";

#[test]
fn the_guest_is_pid_1_of_a_sealed_box() {
    sealed_box(true);
}

#[test]
fn the_guest_is_pid_1_of_a_sealed_box_without_a_user_namespace() {
    sealed_box(false);
}

fn sealed_box(user_namespace: bool) {
    let dir = tempfile::tempdir().expect("tempdir");
    let rootfs = busybox_rootfs(dir.path(), true);
    let socket_path = dir.path().join("box/sockets/agent.sock");
    let socket_arg = socket_path.to_string_lossy().into_owned();
    let mut spec = spec(dir.path(), &rootfs, Some(&["report", &socket_arg]));
    spec.user_namespace = user_namespace;
    // A socket file left by a crashed earlier run must not stop the box from starting.
    drop(UnixListener::bind(&socket_path).expect("stale socket"));

    let mut shim = spawn(dir.path(), "run", &spec);
    let took = shim.expect_ready();
    println!("shim spawn -> ready line: {:.2} ms", took.as_secs_f64() * 1000.0);
    shim.expect_ready_pipe_eof();
    let status = shim.wait_exit();
    let log = shim.log();
    assert!(status.success(), "shim failed: {status:?}; log:\n{log}");

    let facts = guest_facts(&log);
    let fact = |key: &str| facts.get(key).map(String::as_str).unwrap_or("<missing>");
    assert_eq!(fact("pid"), "1", "log:\n{log}");
    assert_eq!(fact("ppid"), "0");
    assert_eq!(fact("uid"), "0");
    assert_eq!(fact("hostname"), "testbox");
    // PID 1 runs the host's binary itself (no copy), through a read-only mount that no path
    // in the box names; even PID 1, which passes /proc/1/exe's access check, cannot write it:
    // box root, an unprivileged host uid, may not open it for writing (EACCES); host root may,
    // but the running binary refuses (ETXTBSY).
    let guest = fs::metadata(test_guest()).expect("test guest");
    assert_eq!(fact("exe_id"), format!("{}:{}", guest.dev(), guest.ino()));
    assert!(!fact("exe").contains("test_guest"), "exe = {}", fact("exe"));
    assert_eq!(fact("exe_ro"), "1", "the agent's mount is read-only");
    assert_eq!(fact("exe_write"), if user_namespace { "EACCES" } else { "ETXTBSY" });
    assert_eq!(fact("exe_chmod"), "EROFS");
    assert_eq!(fact("cwd"), "/");
    assert_eq!(fact("env_path"), "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
    // The agent had exactly 0-7; it closed 4 (after "ready") and 5 (after the config). 7 is
    // the box's OOM-kill counter, none killed yet (a box with no memory cgroup gets
    // /dev/null there, which has no count).
    assert_eq!(fact("fds"), "0,1,2,3,6,7");
    assert!(["0", "none"].contains(&fact("oom_kills")), "fd 7: {}", fact("oom_kills"));
    assert_eq!(fact("fd3_listening"), "1");
    let config: GuestConfig = serde_json::from_str(fact("config")).expect("config json");
    assert_eq!(config, spec.guest);
    assert_eq!(fact("proc_count"), "1", "the box's /proc shows only the box");
    assert_eq!(fact("proc_magic"), "0x9fa0");
    assert_eq!(fact("dev_magic"), TMPFS_MAGIC);
    assert_eq!(fact("pts_magic"), "0x1cd1");
    assert_eq!(fact("shm_magic"), TMPFS_MAGIC);
    assert_eq!(fact("ptmx"), "pts/ptmx");
    assert_eq!(fact("devnull_ok"), "1");
    assert_eq!(fact("devzero_ok"), "1");
    assert_eq!(fact("sys_magic"), "0x62656572");
    assert_eq!(fact("sys_ro"), "1");
    assert_eq!(fact("root_nosuid_nodev"), "1,1", "the rootfs overlay is nosuid,nodev");
    assert_eq!(fact("proc_sys_ro"), "1");
    // Docker's masked and read-only sets, each checked where this kernel has the path.
    let masked_files = [
        "/proc/kcore",
        "/proc/keys",
        "/proc/timer_list",
        "/proc/sched_debug",
        "/proc/latency_stats",
        "/proc/timer_stats",
    ];
    for masked in masked_files {
        let expected = if std::path::Path::new(masked).exists() { "null" } else { "missing" };
        assert_eq!(fact(&format!("mask{masked}")), expected, "{masked}");
    }
    let masked_dirs = [
        "/proc/acpi",
        "/proc/asound",
        "/proc/scsi",
        "/sys/firmware",
        "/sys/devices/virtual/powercap",
    ];
    for masked in masked_dirs {
        let expected = if std::path::Path::new(masked).exists() { "empty" } else { "missing" };
        assert_eq!(fact(&format!("mask{masked}")), expected, "{masked}");
    }
    for path in ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"] {
        let expected = if std::path::Path::new(path).exists() { "1" } else { "missing" };
        assert_eq!(fact(&format!("ro{path}")), expected, "{path} is writable in the box");
    }
    assert_eq!(fact("lo_up"), "1");
    assert_eq!(fact("tmp_magic"), OVERLAYFS_MAGIC, "the image's own /tmp is kept");
    assert_eq!(fact("hidden_path_visible"), "0", "the agent socket leaks into the box");

    let record = exit_record(&spec);
    assert_eq!(record.exit_code, Some(0));
    assert_eq!(record.error, None);
    assert_eq!(record.agent_status, "exited with status 0");
    assert!(record.finished_at_ms > 0);
    assert!(!socket_path.exists(), "socket file left behind");
    assert!(!spec.exit_record_path.with_extension("json.tmp").exists());
}

#[test]
fn a_running_box_has_its_own_namespaces_and_a_private_socket() {
    let dir = tempfile::tempdir().expect("tempdir");
    let rootfs = busybox_rootfs(dir.path(), true);
    let mut spec = spec(dir.path(), &rootfs, None);
    spec.detach = true;

    let mut shim = spawn(dir.path(), "run", &spec);
    shim.expect_ready();
    let agent = shim.agent();
    let agent_pid = agent.pid.to_string();

    for ns in ["mnt", "pid", "uts", "ipc", "net", "cgroup", "user"] {
        assert_ne!(ns_link(&agent_pid, ns), ns_link("self", ns), "{ns} namespace is shared");
    }
    // Box root is an unprivileged host uid of a 65536-wide range (shim/src/userns.rs).
    let uid_map = fs::read_to_string(format!("/proc/{agent_pid}/uid_map")).expect("uid_map");
    let fields: Vec<u64> =
        uid_map.split_whitespace().map(|f| f.parse().expect("uid_map number")).collect();
    assert!(matches!(fields.as_slice(), [0, base, 65536] if *base >= 65536), "uid_map {uid_map:?}");
    let status = fs::read_to_string(format!("/proc/{agent_pid}/status")).expect("status");
    let uid_line = status.lines().find(|l| l.starts_with("Uid:")).expect("Uid line");
    assert_eq!(
        uid_line.split_whitespace().nth(1).map(str::parse::<u64>),
        Some(Ok(fields[1])),
        "{uid_line}"
    );
    let exe = fs::metadata(format!("/proc/{agent_pid}/exe")).expect("agent exe");
    let guest = fs::metadata(test_guest()).expect("test guest");
    assert_eq!(
        (exe.dev(), exe.ino()),
        (guest.dev(), guest.ino()),
        "the agent runs the host's file"
    );

    // The socket is on the host, private to root, and served by the agent's listener.
    let meta = fs::symlink_metadata(&spec.socket_path).expect("socket file");
    assert!(meta.file_type().is_socket());
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    UnixStream::connect(&spec.socket_path).expect("connect to the agent's listener");
    // The host's mount table is untouched by the box's mounts.
    let host_mounts = fs::read_to_string("/proc/self/mountinfo").expect("mountinfo");
    assert!(!host_mounts.contains(&spec.merged_dir.to_string_lossy().into_owned()));

    shim.signal(Signal::SIGTERM);
    let status = shim.wait_exit();
    assert!(status.success(), "shim failed: {status:?}; log:\n{}", shim.log());
    assert_gone(&[agent]);
    let record = exit_record(&spec);
    assert_eq!(record.error, None);
    assert_eq!(record.exit_code, None);
    assert!(!spec.socket_path.exists());
}

#[test]
fn tmp_is_a_tmpfs_only_when_the_image_has_none() {
    let dir = tempfile::tempdir().expect("tempdir");
    let rootfs = busybox_rootfs(dir.path(), false);
    let spec = spec(dir.path(), &rootfs, Some(&["report"]));
    for run in ["first", "second"] {
        let mut shim = spawn(dir.path(), run, &spec);
        let status = shim.wait_exit();
        let log = shim.log();
        assert!(status.success(), "{run} run failed; log:\n{log}");
        let facts = guest_facts(&log);
        // Also on the second run, although the mount point now exists in the upper dir.
        assert_eq!(facts.get("tmp_magic").map(String::as_str), Some(TMPFS_MAGIC), "{run}");
    }
    assert!(!rootfs.join("tmp").exists(), "the image was modified");
}

#[test]
fn files_written_in_the_box_persist_in_its_upper_dir() {
    let dir = tempfile::tempdir().expect("tempdir");
    let rootfs = busybox_rootfs(dir.path(), true);

    let write = spec(dir.path(), &rootfs, Some(&["sh", "echo persisted > /state.txt"]));
    let mut shim = spawn(dir.path(), "write", &write);
    assert!(shim.wait_exit().success(), "log:\n{}", shim.log());
    assert_eq!(exit_record(&write).exit_code, Some(0));
    let on_host = fs::read_to_string(write.upper_dir.join("state.txt")).expect("upper file");
    assert_eq!(on_host, "persisted\n");
    assert!(!rootfs.join("state.txt").exists(), "the image was modified");

    let read = spec(dir.path(), &rootfs, Some(&["sh", "echo \"read=$(cat /state.txt)\"; exit 7"]));
    let mut shim = spawn(dir.path(), "read", &read);
    // A main command's failure is the box's result, not a shim failure.
    assert!(shim.wait_exit().success(), "log:\n{}", shim.log());
    assert!(shim.log().contains("read=persisted"), "log:\n{}", shim.log());
    let record = exit_record(&read);
    assert_eq!(record.exit_code, Some(7));
    assert_eq!(record.error, None);
}

#[test]
fn a_config_larger_than_a_pipe_buffer_reaches_the_agent() {
    let dir = tempfile::tempdir().expect("tempdir");
    let rootfs = busybox_rootfs(dir.path(), true);
    let mut spec = spec(dir.path(), &rootfs, Some(&["report"]));
    spec.guest.env.push(("BIG".to_string(), "x".repeat(300 * 1024)));
    let expected = serde_json::to_vec(&spec.guest).expect("encode").len();

    let mut shim = spawn(dir.path(), "run", &spec);
    assert!(shim.wait_exit().success(), "log:\n{}", shim.log());
    let facts = guest_facts(&shim.log());
    assert_eq!(facts.get("config_len"), Some(&expected.to_string()));
}

#[test]
fn a_hostile_image_cannot_redirect_mounts_to_the_host() {
    let dir = tempfile::tempdir().expect("tempdir");
    let rootfs = busybox_rootfs(dir.path(), true);
    // /dev as a symlink out of the image: following it would create device files on the host.
    let outside = dir.path().join("outside");
    fs::create_dir(&outside).expect("outside dir");
    std::os::unix::fs::symlink(&outside, rootfs.join("dev")).expect("hostile symlink");
    let spec = spec(dir.path(), &rootfs, Some(&["report"]));

    let mut shim = spawn(dir.path(), "run", &spec);
    assert!(matches!(shim.wait_ready(), Readiness::Eof(text) if text.is_empty()));
    assert!(!shim.wait_exit().success());
    let record = exit_record(&spec);
    let error = record.error.unwrap_or_default();
    assert_eq!(
        error,
        "box setup failed: mount point /dev: exists in the image and is not a directory"
    );
    assert_eq!(fs::read_dir(&outside).expect("outside").count(), 0, "files escaped the box");
}
