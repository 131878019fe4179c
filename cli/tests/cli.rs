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
fn failures_are_one_line_with_status_125() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    fails(h, &["create", "--name", "bad name!", "busybox"], "invalid box name");
    fails(h, &["create", "-e", "NOEQUALS", "busybox"], "KEY=VALUE");
    fails(h, &["create", "--memory", "1", "busybox"], "memory_mib");
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
