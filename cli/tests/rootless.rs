//! Rootless boxes: the CLI run by an unprivileged user, a uid of each test's own switched to
//! with `setpriv` (util-linux), on a home that user owns. Needs root (to switch users) and the
//! variables of scripts/test.sh: BOXLITE_SHIM, BOXLITE_GUEST, BOXLITE_TEST_IMAGE.
//!
//! Each test ends by checking that no process of its uid is left on the host: a rootless box
//! must not leave its shim, agent or workload behind any more than a root one.

use std::os::unix::fs::{chown, PermissionsExt};
use std::path::PathBuf;
use std::process::{Command, Output};

use serde_json::Value;

fn image() -> String {
    std::env::var("BOXLITE_TEST_IMAGE")
        .expect("BOXLITE_TEST_IMAGE unset: run the tests through scripts/test.sh (make test)")
}

/// A non-root user (`uid`, no passwd entry needed) and its home.
struct User {
    uid: u32,
    home: PathBuf,
    _dir: tempfile::TempDir,
}

impl User {
    fn new(uid: u32) -> Self {
        assert!(nix_is_root(), "these tests switch to uid {uid}: they need root");
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let home = dir.path().join("home");
        std::fs::create_dir(&home).unwrap();
        chown(&home, Some(uid), Some(uid)).expect("chown home");
        User { uid, home, _dir: dir }
    }

    fn boxlite(&self, args: &[&str]) -> Output {
        let id = self.uid.to_string();
        Command::new("setpriv")
            .args(["--reuid", &id, "--regid", &id, "--clear-groups", "--"])
            .arg(env!("CARGO_BIN_EXE_boxlite"))
            .arg("--home")
            .arg(&self.home)
            .args(args)
            .env_remove("BOXLITE_HOME")
            .output()
            .expect("setpriv (util-linux) is needed")
    }

    fn ok(&self, args: &[&str]) -> (String, String) {
        let out = self.boxlite(args);
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(out.status.success(), "{args:?}: {:?}; {stderr}", out.status);
        (String::from_utf8(out.stdout).unwrap(), stderr)
    }

    /// Host processes running as this user (real, effective, saved or filesystem uid),
    /// zombies aside.
    fn processes(&self) -> Vec<(u32, String)> {
        let mut found = Vec::new();
        for entry in std::fs::read_dir("/proc").unwrap().flatten() {
            let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else {
                continue;
            };
            // A process may exit while it is looked at: skip it then.
            let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) else {
                continue;
            };
            // A zombie has exited; reaping an orphaned shim is the host's init's job.
            let zombie = status.lines().any(|l| l.starts_with("State:\tZ"));
            if host_uids(&status).contains(&self.uid) && !zombie {
                let name = status.lines().next().unwrap_or_default().to_string();
                found.push((pid, name));
            }
        }
        found
    }
}

impl Drop for User {
    fn drop(&mut self) {
        if std::thread::panicking() {
            return;
        }
        // A shim writes the box's exit record and then exits: `stop` may return in between.
        // Each process found gets a bounded wait for its exit, through a pidfd.
        for (pid, _) in self.processes() {
            wait_for_exit(pid, 10_000);
        }
        let left = self.processes();
        assert!(left.is_empty(), "processes of uid {} left behind: {left:?}", self.uid);
    }
}

/// Waits up to `timeout_ms` for `pid` to exit (returns at once if it is gone).
fn wait_for_exit(pid: u32, timeout_ms: i32) {
    // SAFETY: pidfd_open takes a pid and flags; the descriptor is closed below.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) } as i32;
    if fd < 0 {
        return;
    }
    let mut poll = libc::pollfd { fd, events: libc::POLLIN, revents: 0 };
    // SAFETY: one valid pollfd; a pidfd polls readable once its process has exited.
    unsafe {
        libc::poll(&mut poll, 1, timeout_ms);
        libc::close(fd);
    }
}

fn nix_is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// The four uids of a `/proc/PID/status`.
fn host_uids(status: &str) -> Vec<u32> {
    let line = status.lines().find_map(|l| l.strip_prefix("Uid:")).expect("Uid line");
    line.split_whitespace().map(|n| n.parse().expect("uid")).collect()
}

fn inspect(user: &User, name: &str) -> Value {
    serde_json::from_str(&user.ok(&["inspect", name]).0).expect("inspect json")
}

#[test]
fn a_non_root_user_creates_runs_execs_stops_and_removes_boxes() {
    let user = User::new(61_001);
    let image = image();
    // Loopback only: a user's box needs /dev/net/tun for a network (the test below).
    let (_, stderr) = user.ok(&["create", "--name", "r", "--network", "disabled", &image]);
    assert!(stderr.starts_with("warning: rootless: not enforced"), "{stderr}");
    user.ok(&["start", "r"]);

    let (out, _) = user.ok(&["exec", "r", "sh", "-c", "id -u; cat /proc/self/uid_map"]);
    let fields: Vec<&str> = out.split_whitespace().collect();
    assert_eq!(fields, ["0", "0", &user.uid.to_string(), "1"], "{out}");
    // From the host: the box's shim and every process in it run as the user, nothing as root.
    let info = inspect(&user, "r");
    let shim = info["pid"].as_u64().expect("shim pid") as u32;
    let children = std::fs::read_to_string(format!("/proc/{shim}/task/{shim}/children")).unwrap();
    let agent: u32 = children.split_whitespace().next().expect("agent").parse().unwrap();
    for pid in [shim, agent] {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
        assert_eq!(host_uids(&status), [user.uid; 4], "pid {pid}");
    }
    // No cgroup, so no usage from one; the box still runs.
    let (out, _) = user.ok(&["stats", "--no-stream", "--format", "json", "r"]);
    let stats: Value = serde_json::from_str(&out).expect("stats json");
    for key in ["cpu_time_usec", "memory_bytes", "pids_current", "block_write_bytes"] {
        assert!(stats[0][key].is_null(), "{key} of a rootless box: {stats}");
    }
    let warnings = info["warnings"].as_array().expect("warnings");
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    let warning = warnings[0].as_str().unwrap();
    assert!(warning.contains("the memory limit (1024 MiB)"), "{warning}");
    assert!(warning.contains("the pids limit (4096) holds"), "{warning}");
    // The limits say which of them do not hold; a cpu limit only when one was asked for.
    assert_eq!(info["limits"]["not_enforced"], serde_json::json!(["memory_mib", "disk_size_gb"]));
    user.ok(&["create", "--name", "c", "--cpus", "0.5", "--network", "disabled", &image]);
    let limits = &inspect(&user, "c")["limits"];
    assert_eq!(limits["not_enforced"], serde_json::json!(["memory_mib", "cpus", "disk_size_gb"]));
    user.ok(&["rm", "c"]);

    // The writable layer is kept across a restart, in the user's home.
    user.ok(&["exec", "r", "sh", "-c", "echo kept > /root/file"]);
    user.ok(&["stop", "r"]);
    user.ok(&["start", "r"]);
    assert_eq!(user.ok(&["exec", "r", "cat", "/root/file"]).0, "kept\n");
    user.ok(&["stop", "r"]);
    user.ok(&["rm", "r"]);
    let boxes: Vec<_> = std::fs::read_dir(user.home.join("boxes")).unwrap().collect();
    assert!(boxes.is_empty(), "left in the home: {boxes:?}");

    // --rm removes a box whose overlay made a mode-000 work dir the user must open first.
    let (out, stderr) = user.ok(&["run", "--rm", "--network", "disabled", &image, "echo", "hi"]);
    assert_eq!(out, "hi\n");
    assert!(!stderr.contains("boxlite:"), "{stderr}");
    let boxes: Vec<_> = std::fs::read_dir(user.home.join("boxes")).unwrap().collect();
    assert!(boxes.is_empty(), "left in the home: {boxes:?}");
}

/// The pids limit holds without a pids cgroup, as box root's RLIMIT_NPROC. (Two-sided: with
/// the agent's setrlimit taken out, all 32 sleeps started and the test failed.)
#[test]
fn a_rootless_box_keeps_its_pids_limit() {
    let user = User::new(61_002);
    let script = "for i in $(seq 32); do sleep 30 & done; echo all started";
    let args = ["run", "--rm", "--network", "disabled", "--pids-limit", "16"];
    let out = user.boxlite(&[&args[..], &[&image(), "sh", "-c", script]].concat());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("can't fork: Resource temporarily unavailable"), "{stderr}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "", "{stderr}");
    assert_ne!(out.status.code(), Some(0));
}

#[test]
fn info_names_what_a_non_root_user_runs_without() {
    let user = User::new(61_004);
    let report: Value = serde_json::from_str(&user.ok(&["info", "--format", "json"]).0).unwrap();
    assert_eq!((&report["rootless"], &report["uid"]), (&true.into(), &user.uid.into()));
    let wall = |name: &str| {
        report["walls"].as_array().unwrap().iter().find(|w| w["name"] == name).unwrap().clone()
    };
    for name in ["memory limit", "cpu limit", "disk size"] {
        assert_eq!(wall(name)["enforced"], false, "{name}: {report}");
    }
    assert_eq!(wall("pids limit")["enforced"], true);
    assert!(wall("pids limit")["how"].as_str().unwrap().contains("RLIMIT_NPROC"));
    assert!(wall("user namespace")["how"].as_str().unwrap().contains(&user.uid.to_string()));
}

#[test]
fn userns_host_is_refused_to_a_non_root_user() {
    let user = User::new(61_003);
    let out = user.boxlite(&["create", "--userns", "host", &image()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(125), "{stderr}");
    assert!(stderr.starts_with("boxlite: userns \"host\" needs root"), "{stderr}");
    let rows: Value = serde_json::from_str(&user.ok(&["ls", "-a", "--format", "json"]).0).unwrap();
    assert_eq!(rows, Value::Array(vec![]));
}

/// The default network makes the box's eth0 from /dev/net/tun. Where this user cannot open it
/// (mode 0600, as on this project's CI machines) a box with the default network is refused at
/// create, saying what to do; where it can (0666, most distributions), the box has its eth0.
#[test]
fn a_default_network_needs_a_tun_device_the_user_can_open() {
    use std::os::unix::fs::MetadataExt;
    let user = User::new(61_005);
    let mode = std::fs::metadata("/dev/net/tun").map_or(0, |m| m.mode());
    if mode & 0o006 != 0o006 {
        let out = user.boxlite(&["create", &image()]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(125), "{stderr}");
        let says = "network \"enabled\" (the default) needs /dev/net/tun for a non-root user's box";
        assert!(stderr.contains(says), "{stderr}");
        assert!(stderr.contains("network \"disabled\""), "{stderr}");
        let rows: Value =
            serde_json::from_str(&user.ok(&["ls", "-a", "--format", "json"]).0).unwrap();
        assert_eq!(rows, Value::Array(vec![]));
    } else {
        let (out, _) = user.ok(&["run", "--rm", &image(), "ls", "/sys/class/net"]);
        assert_eq!(out, "eth0\nlo\n");
    }
}
