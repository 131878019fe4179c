//! The CLI contract, through the real binary on a temporary home.

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

fn boxlite(home: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_boxlite"))
        .arg("--home")
        .arg(home)
        .args(args)
        .env_remove("BOXLITE_HOME")
        .output()
        .unwrap()
}

fn ok(home: &Path, args: &[&str]) -> String {
    let out = boxlite(home, args);
    assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

/// Asserts a failure: exit status 125 and exactly one line on stderr containing `needle`.
fn fails(home: &Path, args: &[&str], needle: &str) {
    let out = boxlite(home, args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(125), "{args:?}: {stderr}");
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr:?}");
    assert!(stderr.starts_with("boxlite: ") && stderr.contains(needle), "{stderr}");
}

#[test]
fn create_ls_inspect_rm() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let id = ok(
        h,
        &[
            "create", "--name", "web", "-e", "A=1", "-w", "/srv", "--cpus", "0.5", "--memory",
            "64", "busybox", "sh", "-c", "echo hi",
        ],
    );
    let id = id.trim();
    assert_eq!(id.len(), 12);

    let ls: Value = serde_json::from_str(&ok(h, &["ls", "-a", "--format", "json"])).unwrap();
    let row = &ls.as_array().unwrap()[0];
    for key in ["id", "name", "status", "image", "created_at", "error_reason", "exit_code", "pid"] {
        assert!(row.get(key).is_some(), "ls json lacks {key}: {row}");
    }
    assert_eq!(row["id"], id);
    assert_eq!(row["status"], "configured");
    assert_eq!(row["image"], "busybox");

    // Without -a only active boxes are listed; a configured one is not active.
    let active: Value = serde_json::from_str(&ok(h, &["ls", "--format", "json"])).unwrap();
    assert_eq!(active, Value::Array(vec![]));
    let table = ok(h, &["ls", "-a"]);
    assert!(table.lines().next().unwrap().starts_with("ID"), "{table}");
    assert!(table.contains(id) && table.contains("configured"), "{table}");

    let info: Value = serde_json::from_str(&ok(h, &["inspect", &id[..5]])).unwrap();
    assert_eq!(info["name"], "web");
    assert_eq!(info["options"]["cmd"], serde_json::json!(["sh", "-c", "echo hi"]));
    assert_eq!(info["options"]["memory_mib"], 64);
    assert_eq!(info["options"]["working_dir"], "/srv");

    assert_eq!(ok(h, &["rm", "web"]).trim(), "web");
    fails(h, &["inspect", id], "no such box");
}

#[test]
fn bound_flags_are_stored_and_reported_with_the_defaults_filled_in() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    ok(h, &["create", "--name", "plain", "busybox"]);
    let plain: Value = serde_json::from_str(&ok(h, &["inspect", "plain"])).unwrap();
    let defaults = serde_json::json!({
        "memory_mib": 1024, "cpus": null, "pids_max": 4096, "nofile_soft": 1024,
        "nofile_hard": 4096, "tmp_size_mib": 512, "log_max_size_mib": 16, "log_max_files": 2,
        "disk_size_gb": 10, "not_enforced": [],
    });
    assert_eq!(plain["limits"], defaults);
    assert_eq!(plain["options"]["pids_max"], Value::Null, "a default is not an option");
    assert_eq!((&plain["userns"], &plain["warnings"]), (&"private".into(), &serde_json::json!([])));

    ok(
        h,
        &[
            "create",
            "--name",
            "bounded",
            "--memory",
            "256",
            "--pids-limit",
            "64",
            "--ulimit",
            "nofile=100:200",
            "--ulimit",
            "nofile=300:600",
            "--tmp-size",
            "40",
            "--log-max-size",
            "3",
            "--log-max-files",
            "4",
            "--disk-size",
            "3",
            "--cap-add",
            "sys_ptrace",
            "--cap-drop",
            "NET_RAW",
            "busybox",
        ],
    );
    let info: Value = serde_json::from_str(&ok(h, &["inspect", "bounded"])).unwrap();
    let asked = serde_json::json!({
        "memory_mib": 256, "cpus": null, "pids_max": 64, "nofile_soft": 300,
        "nofile_hard": 600, "tmp_size_mib": 40, "log_max_size_mib": 3, "log_max_files": 4,
        "disk_size_gb": 3, "not_enforced": [],
    });
    assert_eq!(info["limits"], asked, "the later --ulimit wins, as Docker's");
    assert_eq!(
        (&info["options"]["cap_add"], &info["options"]["cap_drop"]),
        (&serde_json::json!(["sys_ptrace"]), &serde_json::json!(["NET_RAW"]))
    );
    assert_eq!(
        (&info["options"]["nofile_soft"], &info["options"]["pids_max"]),
        (&300.into(), &64.into())
    );
    ok(h, &["create", "--name", "one", "--ulimit", "nofile=2048", "busybox"]);
    let one: Value = serde_json::from_str(&ok(h, &["inspect", "one"])).unwrap();
    assert_eq!(
        (&one["limits"]["nofile_soft"], &one["limits"]["nofile_hard"]),
        (&2048.into(), &2048.into())
    );
}

#[test]
fn userns_host_is_stored_reported_and_warned_about() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let out = boxlite(h, &["create", "--name", "rooted", "--userns", "host", "busybox"]);
    assert!(out.status.success(), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.starts_with("warning: userns \"host\": box root is host root"), "{stderr}");
    let info: Value = serde_json::from_str(&ok(h, &["inspect", "rooted"])).unwrap();
    assert_eq!((&info["userns"], &info["options"]["userns"]), (&"host".into(), &"host".into()));
    let warnings = info["warnings"].as_array().expect("warnings");
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(warnings[0].as_str().unwrap().contains("box root is host root"));
    fails(h, &["create", "--userns", "nobody", "busybox"], "invalid userns \"nobody\"");

    ok(h, &["create", "--name", "open", "--security-opt", "seccomp=unconfined", "busybox"]);
    let info: Value = serde_json::from_str(&ok(h, &["inspect", "open"])).unwrap();
    assert_eq!(
        (&info["seccomp"], &info["options"]["seccomp"]),
        (&"unconfined".into(), &"unconfined".into())
    );
    assert!(info["warnings"][0].as_str().unwrap().starts_with("seccomp \"unconfined\""));
    fails(
        h,
        &["create", "--security-opt", "seccomp=/nowhere/p.json", "busybox"],
        "seccomp profile /nowhere/p.json: No such file or directory",
    );
    let profile = h.join("profile.json");
    std::fs::write(&profile, r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO"}]}"#).unwrap();
    let opt = format!("seccomp={}", profile.display());
    ok(h, &["create", "--name", "own", "--security-opt", &opt, "busybox"]);
    let info: Value = serde_json::from_str(&ok(h, &["inspect", "own"])).unwrap();
    assert_eq!(info["seccomp"], "profile");
    assert_eq!(info["options"]["seccomp"]["syscalls"][0]["names"][0], "mkdir");
    assert!(info["warnings"][0].as_str().unwrap().starts_with("seccomp profile of the box's own"));
    std::fs::write(&profile, r#"{"defaultAction": "SCMP_ACT_NOTIFY"}"#).unwrap();
    fails(h, &["create", "--security-opt", &opt, "busybox"], "SCMP_ACT_NOTIFY is not supported");
    fails(h, &["create", "--security-opt", "apparmor=x", "busybox"], "only seccomp=");
}

#[test]
fn failures_are_one_line_with_status_125() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    fails(h, &["create", "--name", "bad name!", "busybox"], "invalid box name");
    fails(h, &["create", "-e", "NOEQUALS", "busybox"], "KEY=VALUE");
    fails(h, &["create", "--memory", "1", "busybox"], "memory_mib");
    fails(h, &["create", "--pids-limit", "0", "busybox"], "pids_max");
    fails(h, &["create", "--ulimit", "nproc=10", "busybox"], "only nofile");
    fails(h, &["create", "--ulimit", "nofile=10:5", "busybox"], "nofile_soft");
    fails(h, &["create", "--ulimit", "nofile=x", "busybox"], "--ulimit");
    fails(h, &["create", "--log-max-files", "0", "busybox"], "log_max_files");
    fails(h, &["create", "--disk-size", "0", "busybox"], "disk_size_gb");
    fails(h, &["create", "--cap-add", "CAP_NOPE", "busybox"], "cap_add: \"CAP_NOPE\"");
    ok(h, &["create", "--name", "twin", "busybox"]);
    fails(h, &["create", "--name", "twin", "busybox"], "already exists");
    fails(h, &["rm", "nosuch"], "no such box: nosuch");
    fails(h, &["inspect", "nosuch"], "no such box: nosuch");
}

#[test]
fn rm_continues_past_a_missing_box() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    ok(h, &["create", "--name", "a", "busybox"]);
    ok(h, &["create", "--name", "b", "busybox"]);
    let out = boxlite(h, &["rm", "a", "missing", "b"]);
    assert_eq!(out.status.code(), Some(125));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "a\nb\n");
    let ls: Value = serde_json::from_str(&ok(h, &["ls", "-a", "--format", "json"])).unwrap();
    assert_eq!(ls, Value::Array(vec![]));
}

#[test]
fn failed_record_written_by_core_shows_in_inspect() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let id = ok(h, &["create", "busybox"]);
    let rt = boxlite_core::Runtime::open(boxlite_core::RuntimeOptions {
        home_dir: Some(h.to_path_buf()),
        ..Default::default()
    })
    .unwrap();
    boxlite_core::testing::persist_failed(&rt, id.trim(), "shim exited with status 1").unwrap();
    let info: Value = serde_json::from_str(&ok(h, &["inspect", id.trim()])).unwrap();
    assert_eq!(info["status"], "failed");
    assert_eq!(info["error_reason"], "shim exited with status 1");
}

#[test]
fn home_from_environment() {
    let home = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_boxlite"))
        .args(["create", "--name", "envbox", "busybox"])
        .env("BOXLITE_HOME", home.path())
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(ok(home.path(), &["ls", "-a"]).contains("envbox"));
}

/// Whether this host mounts a cgroup hierarchy with `controller`, looked up directly: the v2
/// root's controller list, else a v1 mount named after it.
fn host_offers(controller: &str) -> bool {
    match std::fs::read_to_string("/sys/fs/cgroup/cgroup.controllers") {
        Ok(list) => list.split_whitespace().any(|c| c == controller),
        Err(_) => std::fs::read_dir("/sys/fs/cgroup").unwrap().flatten().any(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            name.split(',').any(|c| c == controller) && e.path().join("cgroup.procs").exists()
        }),
    }
}

#[test]
fn info_says_which_walls_this_host_gives_boxes() {
    let home = tempfile::tempdir().unwrap();
    let report: Value =
        serde_json::from_str(&ok(home.path(), &["info", "--format", "json"])).unwrap();
    assert_eq!(report["rootless"], false, "the suite runs as root: {report}");
    assert_eq!(report["uid"], 0);
    let walls = report["walls"].as_array().expect("walls");
    let names: Vec<&str> = walls.iter().map(|w| w["name"].as_str().unwrap()).collect();
    let expected = [
        "user namespace",
        "memory limit",
        "cpu limit",
        "pids limit",
        "device filter",
        "disk size",
        "seccomp filter",
    ];
    assert_eq!(names, expected);
    let enforced =
        |name: &str| walls.iter().find(|w| w["name"] == name).unwrap()["enforced"].clone();
    let userns = std::fs::read_to_string("/proc/sys/user/max_user_namespaces").unwrap();
    assert_eq!(enforced("user namespace"), userns.trim() != "0");
    for (wall, controller) in
        [("memory limit", "memory"), ("cpu limit", "cpu"), ("pids limit", "pids")]
    {
        assert_eq!(enforced(wall), host_offers(controller), "{wall}: {report}");
    }
    assert_eq!(enforced("disk size"), Path::new("/dev/loop-control").exists());
    let table = ok(home.path(), &["info"]);
    assert!(table.lines().nth(1).unwrap().starts_with("WALL"), "{table}");
}

/// A reader that went away (`boxlite ls | head`) ends a command quietly with 141, the status
/// of a tool that SIGPIPE ended, not with a panic. The pipe's read end is closed before the
/// CLI starts, so its first write fails. (Two-sided: with `println!` back in `ls` and
/// `inspect`, both exited 101 with a panic message on stderr.)
#[test]
fn a_closed_stdout_ends_a_command_quietly() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    ok(h, &["create", "--name", "quiet", "busybox"]);
    for args in [&["inspect", "quiet"][..], &["ls"], &["info", "--format", "json"]] {
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let out = Command::new(env!("CARGO_BIN_EXE_boxlite"))
            .arg("--home")
            .arg(h)
            .args(args)
            .env_remove("BOXLITE_HOME")
            .stdout(writer)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!((out.status.code(), stderr.as_ref()), (Some(141), ""), "{args:?}");
    }
}
