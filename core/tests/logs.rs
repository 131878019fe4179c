//! The box log end to end: a real box floods it, the shim bounds it by rotation, and
//! `Runtime::logs` reads its last lines and follows it until the box stops.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use boxlite_core::{BoxOptions, BoxStatus, LiteBox, LogOptions, Runtime};
use common::{output, sh, TestHome};

/// Generous: two cores shared with parallel builds.
const TIMEOUT: Duration = Duration::from_secs(120);

fn logs_dir(t: &TestHome, b: &LiteBox) -> PathBuf {
    let live = b.log_path();
    assert!(live.starts_with(t.path()));
    live.parent().unwrap().to_path_buf()
}

/// The log files, oldest first, with their sizes.
fn log_files(dir: &Path) -> Vec<(String, u64)> {
    let mut files: Vec<(Option<u32>, String, u64)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            let name = e.file_name().into_string().unwrap();
            let k = name.strip_prefix("box.log.").and_then(|k| k.parse().ok());
            (k, name, e.metadata().unwrap().len())
        })
        .collect();
    // box.log.N … box.log.1, then box.log.
    files.sort_by_key(|(k, _, _)| std::cmp::Reverse(*k));
    files.into_iter().map(|(_, name, len)| (name, len)).collect()
}

/// Everything the stream yields, within `TIMEOUT`.
async fn collect(rt: &Runtime, id: &str, options: LogOptions) -> Vec<u8> {
    let mut stream = rt.logs(id, options).unwrap();
    let mut all = Vec::new();
    tokio::time::timeout(TIMEOUT, async {
        while let Some(chunk) = stream.next_chunk().await.unwrap() {
            assert!(chunk.len() <= boxlite_core::LOG_CHUNK_BYTES);
            all.extend(chunk);
        }
    })
    .await
    .expect("log stream did not end");
    all
}

/// A box whose main command is `sh -c script`, with a log of `files` files of 1 MiB.
fn shell_box(t: &TestHome, script: &str, files: u32) -> BoxOptions {
    BoxOptions {
        cmd: Some(vec!["sh".into(), "-c".into(), script.into()]),
        log_max_size_mib: Some(1),
        log_max_files: Some(files),
        ..t.options()
    }
}

async fn wait_stopped(b: &LiteBox) {
    let info = tokio::time::timeout(TIMEOUT, b.wait()).await.expect("box did not stop").unwrap();
    assert_eq!(info.status, BoxStatus::Stopped, "{:?}", info.error_reason);
}

#[tokio::test]
async fn a_flood_of_200_mb_leaves_at_most_the_bound_on_disk_and_keeps_its_last_line() {
    let t = TestHome::new();
    let line = "x".repeat(1000);
    // head cuts the last line short: the marker gets a line of its own.
    let script = format!("yes {line} | head -c 200000000; printf '\\nflood-done\\n'");
    let b = t.rt.create(shell_box(&t, &script, 2), None).unwrap();
    b.start().await.unwrap();
    wait_stopped(&b).await;
    assert_eq!(b.info().unwrap().exit_code, Some(0));

    let files = log_files(&logs_dir(&t, &b));
    let names: Vec<&str> = files.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["box.log.1", "box.log"]);
    let total: u64 = files.iter().map(|(_, len)| len).sum();
    assert!(total <= 2 << 20, "{total} bytes of log for a bound of 2 MiB");
    for (name, len) in &files {
        assert!(*len <= 1 << 20, "{name}: {len} bytes");
    }

    // The newest bytes are kept: the marker, then the shim's last line, at the very end.
    let tail = collect(&t.rt, b.id(), LogOptions { tail_lines: Some(5), follow: false }).await;
    let tail = String::from_utf8_lossy(&tail);
    let shown = &tail[tail.len().saturating_sub(1000)..];
    assert!(tail.contains("\nflood-done\n"), "tail:\n{shown}");
    assert!(tail.trim_end().lines().last().unwrap().contains("box ended"), "tail:\n{shown}");
    let live = std::fs::read(b.log_path()).unwrap();
    assert!(String::from_utf8_lossy(&live).contains("box ended"), "the live file is the newest");
    t.rt.remove(b.id(), false).unwrap();
}

#[tokio::test]
async fn rotated_files_hold_the_lines_in_order_and_the_last_lines_span_them() {
    let t = TestHome::new();
    // 40 000 lines of 60 bytes: 2.4 MB over files of 1 MiB, three kept.
    let script = "i=0; while [ $i -lt 40000 ]; do \
                  printf 'line %06d %s\\n' $i yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy; \
                  i=$((i+1)); done";
    let b = t.rt.create(shell_box(&t, script, 3), None).unwrap();
    b.start().await.unwrap();
    // Followed while the shim rotates under it, the log comes in order and whole.
    let followed = collect(&t.rt, b.id(), LogOptions { tail_lines: None, follow: true }).await;
    wait_stopped(&b).await;

    let dir = logs_dir(&t, &b);
    let files = log_files(&dir);
    let names: Vec<&str> = files.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["box.log.2", "box.log.1", "box.log"]);
    let numbers = |text: &str| -> Vec<u32> {
        text.lines().filter_map(|l| l.strip_prefix("line ")?.get(..6)?.parse().ok()).collect()
    };
    // File by file, oldest first, each continues where the one before ended.
    let mut all_numbers = Vec::new();
    for (name, _) in &files {
        let text = std::fs::read_to_string(dir.join(name)).unwrap();
        assert!(text.ends_with('\n'), "{name} ends mid-line");
        all_numbers.extend(numbers(&text));
    }
    assert_eq!(all_numbers.last(), Some(&39_999));
    assert!(all_numbers.windows(2).all(|w| w[1] == w[0] + 1), "lines out of order or missing");
    let followed = numbers(&String::from_utf8_lossy(&followed));
    assert_eq!(followed.last(), Some(&39_999));
    // Only a reader that falls a whole bound behind can miss lines, and this one reads far
    // faster than the box writes.
    assert_eq!(followed.len(), 40_000, "the follower missed lines");
    assert!(followed.windows(2).all(|w| w[1] == w[0] + 1), "followed out of order");

    // The stream is the same bytes as the files, oldest first.
    let whole = collect(&t.rt, b.id(), LogOptions::default()).await;
    let on_disk: Vec<u8> =
        files.iter().flat_map(|(name, _)| std::fs::read(dir.join(name)).unwrap()).collect();
    assert!(whole == on_disk, "stream: {} bytes, files: {} bytes", whole.len(), on_disk.len());

    // The last lines, also when they start in an older file than the live one.
    let live_lines = std::fs::read_to_string(dir.join("box.log")).unwrap().lines().count();
    let text = String::from_utf8(whole).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    for n in [1, 3, live_lines + 2] {
        let tail = collect(&t.rt, b.id(), LogOptions { tail_lines: Some(n), follow: false }).await;
        let expected = lines[lines.len() - n..].join("\n") + "\n";
        let tail = String::from_utf8(tail).unwrap();
        let first = |s: &str| s.lines().next().unwrap_or_default().to_string();
        assert!(
            tail == expected,
            "last {n} lines: from {:?}, expected from {:?}",
            first(&tail),
            first(&expected)
        );
    }
    t.rt.remove(b.id(), false).unwrap();
}

#[tokio::test]
async fn follow_yields_what_the_box_writes_later_and_ends_when_it_stops() {
    let t = TestHome::new();
    let script = "mkfifo /tmp/go && echo fifo-ready && cat /tmp/go && echo marker-late";
    let b = t.rt.create(shell_box(&t, script, 2), None).unwrap();
    b.start().await.unwrap();

    // From the start: the box may have printed its first line already.
    let mut stream = t.rt.logs(b.id(), LogOptions { tail_lines: None, follow: true }).unwrap();
    let mut seen = Vec::new();
    let mut released = false;
    let followed = tokio::time::timeout(TIMEOUT, async {
        while let Some(chunk) = stream.next_chunk().await.unwrap() {
            seen.extend(chunk);
            // The box waits on its FIFO until the stream has shown it is there.
            if !released && String::from_utf8_lossy(&seen).contains("fifo-ready\n") {
                released = true;
                // Its result does not matter: the box may stop (and kill it) as soon as the
                // FIFO is written.
                output(b.exec(sh("echo go > /tmp/go")).await.unwrap()).await;
            }
        }
    })
    .await;
    let seen = String::from_utf8_lossy(&seen);
    assert!(followed.is_ok(), "follow did not end with the box; saw:\n{seen}");
    let at = |s: &str| seen.find(s).unwrap_or_else(|| panic!("{s:?} missing from:\n{seen}"));
    assert!(at("fifo-ready\n") < at("\ngo\n") && at("\ngo\n") < at("\nmarker-late\n"));
    assert!(seen.trim_end().lines().last().unwrap().contains("box ended"), "saw:\n{seen}");
    wait_stopped(&b).await;

    // A box that is not running: follow prints what is there and ends.
    let again = collect(&t.rt, b.id(), LogOptions { tail_lines: None, follow: true }).await;
    assert!(String::from_utf8_lossy(&again).contains("marker-late"));
    t.rt.remove(b.id(), false).unwrap();
}

#[tokio::test]
async fn a_stalled_log_slows_the_box_output_but_not_the_agent() {
    let t = TestHome::new();
    let b = t.rt.create(shell_box(&t, "yes stalled-console-line", 2), None).unwrap();
    b.start().await.unwrap();
    let shim = b.info().unwrap().pid.expect("running box has a shim") as i32;
    // The shim stops copying the console: the box's console pipe fills within microseconds,
    // and every further console write in the box blocks.
    // SAFETY: plain kill(2) on the shim this test just started.
    assert_eq!(unsafe { libc::kill(shim, libc::SIGSTOP) }, 0);
    let served = tokio::time::timeout(Duration::from_secs(20), async {
        for i in 0..3 {
            let (out, _, res) = output(b.exec(sh(&format!("echo alive {i}"))).await.unwrap()).await;
            assert_eq!(
                (String::from_utf8_lossy(&out).trim(), res.exit_code),
                (format!("alive {i}").as_str(), Some(0))
            );
        }
    })
    .await;
    // SAFETY: as above.
    assert_eq!(unsafe { libc::kill(shim, libc::SIGCONT) }, 0);
    assert!(served.is_ok(), "the agent stopped serving while its console was full");
    b.stop(Duration::from_secs(5)).await.unwrap();
    let total: u64 = log_files(&logs_dir(&t, &b)).iter().map(|(_, len)| len).sum();
    assert!(total <= 2 << 20, "{total} bytes of log");
    t.rt.remove(b.id(), false).unwrap();
}

#[tokio::test]
async fn what_a_main_command_prints_just_before_it_exits_is_in_the_log() {
    let t = TestHome::new();
    let mut boxes = Vec::new();
    for i in 0..8 {
        let b = t.rt.create(shell_box(&t, &format!("echo last-words-{i}"), 2), None).unwrap();
        boxes.push(b);
    }
    let runs = boxes.iter().map(|b| async move {
        b.start().await.unwrap();
        wait_stopped(b).await;
    });
    futures_util::future::join_all(runs).await;
    for (i, b) in boxes.iter().enumerate() {
        let log = String::from_utf8_lossy(&std::fs::read(b.log_path()).unwrap()).into_owned();
        assert!(log.contains(&format!("last-words-{i}\n")), "box {i}:\n{log}");
        t.rt.remove(b.id(), false).unwrap();
    }
}
