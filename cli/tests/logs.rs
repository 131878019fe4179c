//! `boxlite logs [-n N] [-f]` through the real binary with real boxes (fixtures from
//! scripts/test.sh: BOXLITE_SHIM, BOXLITE_GUEST, BOXLITE_TEST_IMAGE).

use std::io::Read;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Generous: two cores shared with parallel builds.
const TIMEOUT: Duration = Duration::from_secs(60);

fn command(home: &Path, args: &[&str]) -> Command {
    let image = std::env::var("BOXLITE_TEST_IMAGE")
        .expect("BOXLITE_TEST_IMAGE unset: run the tests through scripts/test.sh (make test)");
    let mut command = Command::new(env!("CARGO_BIN_EXE_boxlite"));
    command.arg("--home").arg(home);
    command.args(args.iter().map(|a| if *a == "IMAGE" { image.as_str() } else { a }));
    command.stdin(Stdio::null());
    command
}

/// Runs to completion; stdout, asserting success.
fn ok(home: &Path, args: &[&str]) -> String {
    let out = command(home, args).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{args:?}: {stderr}");
    String::from_utf8(out.stdout).unwrap()
}

/// Waits for `child` to exit (its pidfd becomes readable) within `timeout`.
fn wait_exit(child: &mut Child, timeout: Duration) -> Option<ExitStatus> {
    // SAFETY: pidfd_open on our own unreaped child; the descriptor is owned right away.
    let pidfd = unsafe { libc::syscall(libc::SYS_pidfd_open, child.id() as i32, 0) };
    assert!(pidfd >= 0, "pidfd_open: {}", std::io::Error::last_os_error());
    // SAFETY: a new descriptor owned by nobody else.
    let pidfd = unsafe { OwnedFd::from_raw_fd(pidfd as i32) };
    let mut pfd = libc::pollfd { fd: pidfd.as_raw_fd(), events: libc::POLLIN, revents: 0 };
    // SAFETY: one pollfd that outlives the call.
    let ready = unsafe { libc::poll(&mut pfd, 1, timeout.as_millis() as i32) };
    (ready > 0).then(|| child.wait().unwrap())
}

#[test]
fn logs_prints_the_whole_log_or_its_last_lines() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    ok(h, &["run", "--name", "t", "IMAGE", "sh", "-c", "for i in 1 2 3 4 5 6; do echo l$i; done"]);

    let all = ok(h, &["logs", "t"]);
    let at = |s: &str| all.find(s).unwrap_or_else(|| panic!("{s} missing from:\n{all}"));
    assert!(at("l1\n") < at("l2\n") && at("l5\n") < at("l6\n"), "{all}");
    let last: Vec<&str> = all.lines().collect();
    let expected = last[last.len() - 3..].join("\n") + "\n";
    assert_eq!(ok(h, &["logs", "-n", "3", "t"]), expected);
    assert_eq!(ok(h, &["logs", "--tail", "3", "t"]), expected);
    assert_eq!(ok(h, &["logs", "-n", "0", "t"]), "");
    // A stopped box: following prints what is there and ends.
    assert_eq!(ok(h, &["logs", "-f", "t"]), all);
    ok(h, &["rm", "t"]);
}

#[test]
fn logs_follow_prints_what_the_box_writes_later_and_ends_when_it_stops() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let script = "mkfifo /tmp/go && echo fifo-ready && cat /tmp/go && echo marker-late";
    ok(h, &["run", "-d", "--name", "f", "IMAGE", "sh", "-c", script]);

    let mut follow = command(h, &["logs", "-f", "f"]).stdout(Stdio::piped()).spawn().unwrap();
    let mut stdout = follow.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    // Ends at EOF: when the follower exits.
    let reader = std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n @ 1..) = stdout.read(&mut buf) {
            if tx.send(buf[..n].to_vec()).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + TIMEOUT;
    let mut seen = Vec::new();
    let mut released = false;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(chunk) => seen.extend(chunk),
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                // SAFETY: kill(2) on the follower this test started and has not reaped.
                unsafe { libc::kill(follow.id() as i32, libc::SIGKILL) };
                follow.wait().unwrap();
                panic!(
                    "logs -f did not end with the box; saw:\n{}",
                    String::from_utf8_lossy(&seen)
                );
            }
        }
        // The box waits on its FIFO until the follower has printed that it is there.
        if !released && String::from_utf8_lossy(&seen).contains("fifo-ready\n") {
            released = true;
            // Its status does not matter: the box stops as soon as the FIFO is written.
            command(h, &["exec", "f", "sh", "-c", "echo go > /tmp/go"]).output().unwrap();
        }
    }
    reader.join().unwrap();
    let status = wait_exit(&mut follow, TIMEOUT).expect("logs -f still running at EOF");
    assert!(status.success(), "{status:?}");
    let seen = String::from_utf8_lossy(&seen);
    let at = |s: &str| seen.find(s).unwrap_or_else(|| panic!("{s:?} missing from:\n{seen}"));
    assert!(at("fifo-ready\n") < at("\ngo\n") && at("\ngo\n") < at("\nmarker-late\n"), "{seen}");
    assert!(seen.trim_end().lines().last().unwrap().contains("box ended"), "{seen}");
    ok(h, &["rm", "-f", "f"]);
}
