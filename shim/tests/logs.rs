//! The box log: the box's console reaches it through the shim, which bounds it with rotation,
//! keeps serving signals during a flood, and copies the last bytes before the exit record.

mod harness;

use std::fs;
use std::path::{Path, PathBuf};

use harness::*;
use nix::sys::signal::Signal;

/// The run's log files, oldest first (`run.log.N` … `run.log.1`, then `run.log`).
fn log_files(dir: &Path, name: &str) -> Vec<PathBuf> {
    let live = log_path(dir, name);
    let mut rotated: Vec<(u32, PathBuf)> = fs::read_dir(dir)
        .expect("read dir")
        .flatten()
        .filter_map(|e| {
            let file = e.file_name().into_string().ok()?;
            let k = file.strip_prefix(&format!("{name}.log."))?.parse().ok()?;
            Some((k, e.path()))
        })
        .collect();
    rotated.sort_by_key(|(k, _)| std::cmp::Reverse(*k));
    let mut files: Vec<PathBuf> = rotated.into_iter().map(|(_, p)| p).collect();
    files.push(live);
    files
}

fn concatenated(files: &[PathBuf]) -> String {
    files.iter().map(|f| fs::read_to_string(f).expect("read log file")).collect()
}

/// The numbers of the `line N …` lines, in the order they appear.
fn line_numbers(text: &str) -> Vec<u64> {
    text.lines()
        .filter_map(|l| l.strip_prefix("line "))
        .filter_map(|rest| rest.split(' ').next()?.parse().ok())
        .collect()
}

/// A shell loop printing `line 0 …` to `line {n-1} …` (about 60 bytes each), then `last-line`.
fn print_lines(n: u64) -> String {
    format!(
        "i=0; while [ $i -lt {n} ]; do \
         echo \"line $i xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"; i=$((i+1)); done; \
         echo last-line"
    )
}

#[test]
fn a_flood_is_bounded_by_rotation_and_the_newest_lines_are_kept_in_order() {
    let dir = tempfile::tempdir().expect("tempdir");
    let rootfs = busybox_rootfs(dir.path(), true);
    let script = print_lines(20_000);
    let mut spec = spec(dir.path(), &rootfs, Some(&["sh", script.as_str()]));
    spec.log.max_bytes = 16 * 1024;
    spec.log.files = 3;

    let mut shim = spawn(dir.path(), "run", &spec);
    let status = shim.wait_exit();
    let files = log_files(dir.path(), "run");
    let text = concatenated(&files);
    assert!(status.success(), "shim failed: {status:?}; log:\n{text}");
    assert_eq!(exit_record(&spec).exit_code, Some(0));

    // About 1.2 MB written; three files of 16 KiB kept, each ending at a line end.
    assert_eq!(files.len(), 3, "{files:?}");
    for file in &files {
        let bytes = fs::read(file).expect("read");
        assert!(bytes.len() <= 16 * 1024, "{}: {} bytes", file.display(), bytes.len());
        assert!(bytes.ends_with(b"\n"), "{} ends mid-line", file.display());
    }
    let numbers = line_numbers(&text);
    assert_eq!(numbers.last(), Some(&19_999), "the newest line is kept");
    assert!(numbers.len() > 500, "only {} lines kept", numbers.len());
    assert!(numbers.windows(2).all(|w| w[1] == w[0] + 1), "lines out of order or missing");
    // What came after the flood, the shim's own last line included, is there too.
    let tail = &text[text.find("line 19999 ").expect("last numbered line")..];
    assert!(tail.contains("\nlast-line\n"), "tail:\n{tail}");
    let ended = format!("boxlite-shim: box {}: box ended: guest agent exited", spec.box_id);
    assert!(tail.contains(&ended), "tail:\n{tail}");
}

#[test]
fn a_box_flooding_its_console_still_stops_on_sigterm_within_its_bound() {
    let dir = tempfile::tempdir().expect("tempdir");
    let rootfs = busybox_rootfs(dir.path(), true);
    let flood = "while :; do echo flood-flood-flood-flood-flood-flood-flood-flood; done";
    let mut spec = spec(dir.path(), &rootfs, Some(&["sh", flood]));
    spec.log.max_bytes = 64 * 1024;
    spec.log.files = 2;
    spec.stop_grace_ms = 200;

    let mut shim = spawn(dir.path(), "run", &spec);
    shim.expect_ready();
    // The test guest ignores SIGTERM while its shell runs: the shim must still keep its
    // deadline and kill it, flood or not. Until then (1.2 s) the flood writes many times the
    // bound.
    shim.signal(Signal::SIGTERM);
    shim.wait_exit();
    assert_eq!(exit_record(&spec).agent_status, "killed by signal 9");
    let files = log_files(dir.path(), "run");
    assert_eq!(files.len(), 2, "{files:?}");
    let total: u64 = files.iter().map(|f| fs::metadata(f).expect("stat").len()).sum();
    assert!(total <= 2 * 64 * 1024, "{total} bytes kept");
    let text = concatenated(&files);
    // The flood may have rotated the stop's lines away, never the shim's last one.
    let last = text.lines().last().unwrap_or_default();
    let ended =
        format!("boxlite-shim: box {}: box ended: guest agent killed by signal 9", spec.box_id);
    assert!(last.starts_with(&ended), "last line: {last}");
}

#[test]
fn everything_a_box_prints_just_before_it_ends_reaches_the_log() {
    let dir = tempfile::tempdir().expect("tempdir");
    let rootfs = busybox_rootfs(dir.path(), true);
    let script = print_lines(3_000);
    let spec = spec(dir.path(), &rootfs, Some(&["sh", script.as_str()]));

    let mut shim = spawn(dir.path(), "run", &spec);
    assert!(shim.wait_exit().success(), "log:\n{}", shim.log());
    let log = shim.log();
    assert_eq!(line_numbers(&log), (0..3_000).collect::<Vec<_>>());
    let after = &log[log.find("\nlast-line\n").expect("last-line")..];
    assert!(after.contains("box ended"), "the shim's last line follows the box's output");
    assert_eq!(log_files(dir.path(), "run").len(), 1, "no rotation within the default bound");
}
