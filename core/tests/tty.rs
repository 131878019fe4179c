//! TTY execs end to end: a real box from the busybox fixture, the process on a pseudo-terminal
//! in the box, its window size set at start and changed while it runs.

mod common;

use std::time::Duration;

use boxlite_core::{Command, ErrorKind};
use common::{output, sh, TestHome};
use tokio::sync::mpsc;

const LIMIT: Duration = Duration::from_secs(20);

/// Appends chunks to `seen` until it contains `needle`.
async fn read_until(rx: &mut mpsc::Receiver<Vec<u8>>, seen: &mut Vec<u8>, needle: &str) {
    let read = async {
        while !String::from_utf8_lossy(seen).contains(needle) {
            let chunk = rx.recv().await.unwrap_or_else(|| {
                panic!("stdout ended before {needle:?}: {:?}", String::from_utf8_lossy(seen))
            });
            seen.extend(chunk);
        }
    };
    tokio::time::timeout(LIMIT, read).await.expect("output in time");
}

/// Stops and removes `b`. `remove` blocks in the box's flock, and the box's exit monitor (a
/// task on this current-thread runtime) may hold that lock right after the stop: called on
/// the runtime's thread, neither could go on. A blocking thread lets the monitor finish.
async fn remove(t: &TestHome, b: &boxlite_core::LiteBox) {
    b.stop(Duration::from_secs(5)).await.unwrap();
    let (rt, id) = (t.rt.clone(), b.id().to_string());
    let removed = tokio::task::spawn_blocking(move || rt.remove(&id, false));
    tokio::time::timeout(LIMIT, removed).await.expect("removed in time").unwrap().unwrap();
}

#[tokio::test]
async fn a_tty_exec_runs_on_a_terminal_that_can_be_resized() {
    let t = TestHome::new();
    let b = t.rt.create(t.options(), None).unwrap();
    b.start().await.unwrap();

    let script = "test -t 0 && test -t 1 && echo is-a-tty; read line; stty size";
    let mut exec = b.exec(Command { tty: true, ..sh(script) }).await.unwrap();
    let mut stdout = exec.stdout().unwrap();
    let mut stderr = exec.stderr().unwrap();
    let mut stdin = exec.stdin().expect("a tty exec has stdin without asking");
    let mut seen = Vec::new();
    read_until(&mut stdout, &mut seen, "is-a-tty\r\n").await;
    exec.resize_tty(40, 100).await.unwrap();
    stdin.write(b"\n").await.unwrap();
    read_until(&mut stdout, &mut seen, "40 100\r\n").await;
    let rest = tokio::time::timeout(LIMIT, async {
        while let Some(chunk) = stdout.recv().await {
            seen.extend(chunk);
        }
    });
    rest.await.expect("stdout ends");
    // The echoed newline sits between the two lines.
    assert_eq!(String::from_utf8_lossy(&seen), "is-a-tty\r\n\r\n40 100\r\n");
    assert_eq!(stderr.recv().await, None, "a terminal's output is all stdout");
    let result = tokio::time::timeout(LIMIT, exec.wait()).await.expect("exits").unwrap();
    assert_eq!(result.exit_code, Some(0));

    let sized = Command { tty: true, tty_size: Some((30, 90)), ..sh("stty size") };
    let (out, _, result) = output(b.exec(sized).await.unwrap()).await;
    assert_eq!(String::from_utf8_lossy(&out), "30 90\r\n");
    assert_eq!(result.exit_code, Some(0));

    remove(&t, &b).await;
}

#[tokio::test]
async fn resize_tty_without_a_terminal_is_invalid_state() {
    let t = TestHome::new();
    let b = t.rt.create(t.options(), None).unwrap();
    b.start().await.unwrap();

    let mut exec = b.exec(Command { stdin: true, ..Command::new(["cat"]) }).await.unwrap();
    let err = exec.resize_tty(40, 100).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidState, "{err}");
    assert!(err.to_string().contains(b.id()), "names the box: {err}");
    assert!(err.to_string().contains("has no terminal"), "says why: {err}");
    exec.stdin().unwrap().close().await.unwrap();
    let result = tokio::time::timeout(LIMIT, exec.wait()).await.expect("cat exits").unwrap();
    assert_eq!(result.exit_code, Some(0));

    remove(&t, &b).await;
}
