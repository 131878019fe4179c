//! `boxlite stats` through the real binary with a real box (fixtures from scripts/fixtures.sh:
//! BOXLITE_SHIM, BOXLITE_GUEST, BOXLITE_TEST_IMAGE).

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use serde_json::Value;

/// How long the streaming test waits for each line.
const LINE_WAIT: Duration = Duration::from_secs(30);

fn image() -> String {
    std::env::var("BOXLITE_TEST_IMAGE")
        .expect("BOXLITE_TEST_IMAGE unset: run the tests through scripts/test.sh (make test)")
}

fn command(home: &Path, args: &[&str]) -> Command {
    for var in ["BOXLITE_SHIM", "BOXLITE_GUEST"] {
        assert!(std::env::var_os(var).is_some(), "{var} unset: run through scripts/test.sh");
    }
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_boxlite"));
    cmd.arg("--home").arg(home).args(args).env_remove("BOXLITE_HOME").stdin(Stdio::null());
    cmd
}

fn ok(home: &Path, args: &[&str]) -> String {
    let out: Output = command(home, args).output().unwrap();
    assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

/// `rm -f` of the box when dropped, so a failed assertion leaves no detached box running.
struct Removed<'a>(&'a Path, &'a str);

impl Drop for Removed<'_> {
    fn drop(&mut self) {
        let out = command(self.0, &["rm", "-f", self.1]).output().unwrap();
        if !std::thread::panicking() {
            assert!(out.status.success(), "rm -f: {}", String::from_utf8_lossy(&out.stderr));
        }
    }
}

#[test]
fn stats_no_stream_json_reports_running_boxes() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let _removed = Removed(h, "busy");
    ok(h, &["run", "-d", "--name", "busy", "--memory", "128", &image()]);
    ok(h, &["create", "--name", "idle", &image()]);
    ok(h, &["exec", "busy", "sh", "-c", "i=0; while [ $i -lt 100000 ]; do i=$((i+1)); done"]);

    let all: Value = serde_json::from_str(&ok(h, &["stats", "--no-stream", "--format", "json"]))
        .expect("one JSON array");
    let rows = all.as_array().expect("an array");
    assert_eq!(rows.len(), 1, "only the running box: {all}");
    let row = &rows[0];
    assert_eq!(row["name"], "busy");
    assert_eq!(row["id"].as_str().unwrap().len(), 12);
    assert!(row["cpu_time_usec"].as_u64().unwrap() > 0, "{row}");
    assert!(row["cpu_percent"].as_f64().unwrap() > 0.0, "{row}");
    assert!(row["memory_bytes"].as_u64().unwrap() > 0, "{row}");
    assert_eq!(row["memory_limit_bytes"].as_u64(), Some(128 << 20), "{row}");
    assert!(row["pids_current"].as_u64().unwrap() >= 1, "{row}");
    assert!(row["network_bytes_sent"].is_u64(), "network enabled by default: {row}");
    // The exec ran through another process's runtime: this one counted nothing.
    assert_eq!(row["commands_executed_total"], 0, "{row}");

    let named: Value =
        serde_json::from_str(&ok(h, &["stats", "--no-stream", "--format", "json", "idle"]))
            .unwrap();
    assert_eq!(named[0]["name"], "idle");
    assert!(named[0]["cpu_time_usec"].is_null(), "a configured box has no usage: {named}");

    let table = ok(h, &["stats", "--no-stream"]);
    let header = table.lines().next().unwrap();
    assert!(header.starts_with("ID") && header.contains("CPU %"), "{table}");
    assert!(table.contains("busy") && table.contains("128.0MiB"), "{table}");
    ok(h, &["rm", "-f", "idle"]);
}

#[test]
fn stats_streams_until_interrupted() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let _removed = Removed(h, "streamed");
    ok(h, &["run", "-d", "--name", "streamed", &image()]);
    let mut child = command(h, &["stats", "--format", "json", "streamed"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (lines_tx, lines) = std::sync::mpsc::channel();
    let stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            if lines_tx.send(line.unwrap()).is_err() {
                return;
            }
        }
    });
    let mut cpu = Vec::new();
    for _ in 0..2 {
        let line = lines.recv_timeout(LINE_WAIT).expect("a line per refresh");
        let row: Value = serde_json::from_str(&line).expect("one JSON object per line");
        assert_eq!(row["name"], "streamed");
        cpu.push(row["cpu_time_usec"].as_u64().expect("cpu time"));
    }
    assert!(cpu[1] >= cpu[0], "{cpu:?}");
    // SAFETY: a signal to our own child, which has not been waited for.
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGINT) }, 0);
    let status = child.wait().unwrap();
    assert!(status.success(), "Ctrl-C ends stats cleanly: {status:?}");
    reader.join().unwrap();
}
