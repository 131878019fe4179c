//! `-t` through the real binary with real boxes (fixtures from scripts/test.sh): the box
//! process gets a terminal whether or not ours is one; on a terminal, `-it` puts it in raw
//! mode, forwards its size and keystrokes, and restores it.

use std::io::{Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const LIMIT: Duration = Duration::from_secs(30);

fn image() -> String {
    std::env::var("BOXLITE_TEST_IMAGE")
        .expect("BOXLITE_TEST_IMAGE unset: run the tests through scripts/test.sh (make test)")
}

fn command(home: &Path, args: &[&str]) -> Command {
    for var in ["BOXLITE_SHIM", "BOXLITE_GUEST"] {
        assert!(std::env::var_os(var).is_some(), "{var} unset: run through scripts/test.sh");
    }
    let mut command = Command::new(env!("CARGO_BIN_EXE_boxlite"));
    command.arg("--home").arg(home).args(args).env_remove("BOXLITE_HOME");
    command
}

/// Runs the CLI with `stdin` written to a pipe, stdout and stderr captured.
fn boxlite(home: &Path, args: &[&str], stdin: &[u8]) -> Output {
    let mut child = command(home, args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    child.wait_with_output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A detached box for execs, removed (`rm -f`) when dropped, also when an assertion failed.
struct DetachedBox<'a> {
    home: &'a Path,
    name: &'a str,
}

impl<'a> DetachedBox<'a> {
    fn run(home: &'a Path, name: &'a str) -> Self {
        let out = boxlite(home, &["run", "-d", "--name", name, &image()], b"");
        assert!(out.status.success(), "{}", text(&out.stderr));
        DetachedBox { home, name }
    }
}

impl Drop for DetachedBox<'_> {
    fn drop(&mut self) {
        let out = boxlite(self.home, &["rm", "-f", self.name], b"");
        if !std::thread::panicking() {
            assert!(out.status.success(), "rm -f {}: {}", self.name, text(&out.stderr));
        }
    }
}

#[test]
fn exec_t_with_piped_stdin_gives_the_box_process_a_terminal() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let _box = DetachedBox::run(h, "tt");

    // -t alone: a terminal in the box, nothing forwarded, the default size (ours is no tty).
    let script = "test -t 0 && test -t 1 && test -t 2 && echo is-a-tty; stty size; exit 4";
    let out = boxlite(h, &["exec", "-t", "tt", "sh", "-c", script], b"ignored\n");
    assert_eq!(text(&out.stdout), "is-a-tty\r\n24 80\r\n", "{}", text(&out.stderr));
    assert_eq!(out.status.code(), Some(4));

    // -it: the piped bytes are typed into the box's terminal (which echoes them), and our EOF
    // becomes the terminal's end of file.
    let out = boxlite(h, &["exec", "-it", "tt", "sh", "-c", "cat; echo after-eof"], b"a\nb\n");
    assert_eq!(text(&out.stdout), "a\r\nb\r\na\r\nb\r\nafter-eof\r\n", "{}", text(&out.stderr));
    assert_eq!(out.status.code(), Some(0));

    let out = boxlite(h, &["exec", "-t", "tt", "no-such-binary"], b"");
    assert_eq!(out.status.code(), Some(127), "{}", text(&out.stderr));
}

#[test]
fn run_t_runs_the_command_on_a_terminal_and_stops_the_box() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let img = image();
    let script = "test -t 0 && echo is-a-tty; exit 3";
    let out = boxlite(h, &["run", "-t", "--rm", &img, "sh", "-c", script], b"");
    assert_eq!(text(&out.stdout), "is-a-tty\r\n", "{}", text(&out.stderr));
    assert_eq!(out.status.code(), Some(3));
    let ls = boxlite(h, &["ls", "-a", "--format", "json"], b"");
    assert_eq!(text(&ls.stdout).trim(), "[]", "--rm removed the stopped box");

    for (args, needle) in [
        (vec!["run", "-t", "-d", &img, "sh"], "cannot be used with -d"),
        (vec!["run", "-i", &img, "sh"], "-i needs -t"),
        (vec!["run", "-t", &img], "-t needs a command"),
    ] {
        let out = boxlite(h, &args, b"");
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(125), "{args:?}: {stderr}");
        assert!(stderr.starts_with("boxlite: ") && stderr.contains(needle), "{stderr}");
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
    }
    let ls = boxlite(h, &["ls", "-a", "--format", "json"], b"");
    assert_eq!(text(&ls.stdout).trim(), "[]", "refused runs create no box");
}

/// A pseudo-terminal standing in for the user's: (master, slave).
fn host_terminal(rows: u16, cols: u16) -> (OwnedFd, OwnedFd) {
    let (mut master, mut slave) = (0, 0);
    let ws = libc::winsize { ws_row: rows, ws_col: cols, ws_xpixel: 0, ws_ypixel: 0 };
    // SAFETY: out pointers to two ints; no name buffer; default settings; our winsize.
    let rc = unsafe {
        libc::openpty(&mut master, &mut slave, std::ptr::null_mut(), std::ptr::null(), &ws)
    };
    assert_eq!(rc, 0, "openpty: {}", std::io::Error::last_os_error());
    // SAFETY: openpty returned two fresh descriptors.
    unsafe { (OwnedFd::from_raw_fd(master), OwnedFd::from_raw_fd(slave)) }
}

fn lflag(fd: &OwnedFd) -> libc::tcflag_t {
    // SAFETY: a zeroed termios is a valid out value.
    let mut t: libc::termios = unsafe { std::mem::zeroed() };
    // SAFETY: valid descriptor and out pointer.
    assert_eq!(unsafe { libc::tcgetattr(fd.as_raw_fd(), &mut t) }, 0, "tcgetattr");
    t.c_lflag
}

/// Reads `master` on a thread (ends at EIO, once no process holds the slave side).
fn reader(master: &OwnedFd) -> mpsc::Receiver<Vec<u8>> {
    let mut file = std::fs::File::from(master.try_clone().unwrap());
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n @ 1..) = file.read(&mut buf) {
            if tx.send(buf[..n].to_vec()).is_err() {
                break;
            }
        }
    });
    rx
}

fn read_until(rx: &mpsc::Receiver<Vec<u8>>, seen: &mut Vec<u8>, needle: &str) {
    let end = Instant::now() + LIMIT;
    while !text(seen).contains(needle) {
        let left = end.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(chunk) => seen.extend(chunk),
            Err(e) => panic!("{needle:?} not seen ({e}); got {:?}", text(seen)),
        }
    }
}

#[test]
fn exec_it_on_a_terminal_is_raw_follows_its_size_and_restores_it() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let _box = DetachedBox::run(h, "raw");
    let (master, slave) = host_terminal(33, 77);
    let cooked = lflag(&slave);
    assert_ne!(cooked & libc::ICANON, 0, "a new terminal starts cooked");

    let script = "stty size; trap 'stty size' WINCH; trap 'echo got-int; exit 9' INT; \
                  echo ready; while :; do sleep 0.05; done";
    let mut cli = command(h, &["exec", "-it", "raw", "sh", "-c", script]);
    for stdio in 0..3 {
        let fd = slave.try_clone().unwrap();
        match stdio {
            0 => cli.stdin(fd),
            1 => cli.stdout(fd),
            _ => cli.stderr(fd),
        };
    }
    // SAFETY: only setsid and ioctl between fork and exec. The terminal becomes the CLI's
    // controlling terminal, as a shell's is: resizing it sends the CLI SIGWINCH.
    unsafe {
        cli.pre_exec(|| {
            if libc::setsid() < 0 || libc::ioctl(0, libc::TIOCSCTTY, 0) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = cli.spawn().unwrap();
    let pid = child.id() as libc::pid_t;
    // Ends the CLI if an assertion fails before it exits (its pid is not reused before we
    // reap it, which only the waiting thread does).
    let cli_guard = KillOnDrop(pid);
    let (exited_tx, exited) = mpsc::channel();
    let rx = reader(&master);
    let mut seen = Vec::new();
    read_until(&rx, &mut seen, "ready\r\n");
    assert!(text(&seen).starts_with("33 77\r\n"), "initial size from our terminal: {seen:?}");
    let raw = lflag(&slave);
    assert_eq!(raw & (libc::ICANON | libc::ECHO | libc::ISIG), 0, "raw while attached");

    let ws = libc::winsize { ws_row: 50, ws_col: 132, ws_xpixel: 0, ws_ypixel: 0 };
    // SAFETY: TIOCSWINSZ reads the winsize on this frame.
    assert_eq!(unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCSWINSZ, &ws) }, 0);
    read_until(&rx, &mut seen, "50 132\r\n");

    // Ctrl-C is a byte for the box's terminal, which interrupts the box process, not the CLI.
    std::fs::File::from(master.try_clone().unwrap()).write_all(b"\x03").unwrap();
    read_until(&rx, &mut seen, "got-int");
    std::thread::spawn(move || exited_tx.send(child.wait()));
    let status = exited.recv_timeout(LIMIT).expect("the CLI exits").unwrap();
    std::mem::forget(cli_guard);
    assert_eq!(status.code(), Some(9), "{:?}", text(&seen));
    assert_eq!(lflag(&slave), cooked, "the terminal's settings are restored");
}

struct KillOnDrop(libc::pid_t);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        // SAFETY: kill on our own unreaped child.
        unsafe { libc::kill(self.0, libc::SIGKILL) };
    }
}
