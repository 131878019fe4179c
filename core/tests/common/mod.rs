//! Shared set-up of the end-to-end tests: the real shim, the real static guest and a real
//! busybox OCI image, all prepared by scripts/test.sh and named by environment variables.
#![allow(dead_code)]

pub mod registry;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use boxlite_core::{BoxOptions, Runtime, RuntimeOptions};

pub struct Fixture {
    pub shim: PathBuf,
    pub guest: PathBuf,
    /// `oci:DIR:TAG` of the busybox test image.
    pub image: String,
}

fn required(var: &str) -> String {
    std::env::var(var).unwrap_or_else(|_| {
        panic!("{var} is not set: run the end-to-end tests through scripts/test.sh (make test)")
    })
}

pub fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| Fixture {
        shim: required("BOXLITE_SHIM").into(),
        guest: required("BOXLITE_GUEST").into(),
        image: required("BOXLITE_TEST_IMAGE"),
    })
}

/// A runtime on its own temporary home, with explicit binaries.
pub struct TestHome {
    pub dir: tempfile::TempDir,
    pub rt: Runtime,
}

impl TestHome {
    pub fn new() -> Self {
        Self::with_guest(&fixture().guest)
    }

    pub fn with_guest(guest: &Path) -> Self {
        Self::with_options(guest, None)
    }

    pub fn with_options(guest: &Path, ready_timeout: Option<std::time::Duration>) -> Self {
        let dir = tempfile::Builder::new().prefix("bl-").tempdir().unwrap();
        let rt = open(dir.path(), guest, ready_timeout);
        TestHome { dir, rt }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn options(&self) -> BoxOptions {
        BoxOptions::new(fixture().image.clone())
    }
}

pub fn open(home: &Path, guest: &Path, ready_timeout: Option<std::time::Duration>) -> Runtime {
    Runtime::open(RuntimeOptions {
        home_dir: Some(home.to_path_buf()),
        shim_path: Some(fixture().shim.clone()),
        guest_path: Some(guest.to_path_buf()),
        guest_ready_timeout: ready_timeout,
        ..Default::default()
    })
    .unwrap()
}

/// A fixture C program from tests/fixtures, compiled statically once per test binary.
pub fn fake_guest(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("fake-guests");
    std::fs::create_dir_all(&dir).unwrap();
    let out = dir.join(name);
    {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("tests/fixtures/{name}.c"));
        let status =
            Command::new("cc").args(["-static", "-O2", "-o"]).arg(&out).arg(&src).status().unwrap();
        assert!(status.success(), "compile {}", src.display());
    }
    out
}

/// Processes whose command line mentions `needle` (e.g. a test's home directory): what a
/// leaked shim or agent would look like.
pub fn processes_mentioning(needle: &str) -> Vec<(u32, String)> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else { continue };
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else { continue };
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        if cmdline.contains(needle) {
            found.push((pid, cmdline));
        }
    }
    found
}

/// `(state letter, start time in clock ticks since boot)` of a host process, from
/// `/proc/PID/stat`; `None` once it is gone. The command name may hold spaces and
/// parentheses, so fields are counted from the last `)`.
pub fn proc_stat(pid: u32) -> Option<(char, u64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let mut fields = stat[stat.rfind(')')? + 1..].split_whitespace();
    let state = fields.next()?.chars().next()?;
    // The state is field 3; the start time is field 22, the 19th after it.
    Some((state, fields.nth(18)?.parse().ok()?))
}

/// The box's agent as the host sees it: the shim's only child.
pub fn agent_of(shim_pid: u32) -> u32 {
    let children = format!("/proc/{shim_pid}/task/{shim_pid}/children");
    let text = std::fs::read_to_string(&children).unwrap_or_else(|e| panic!("{children}: {e}"));
    let pids: Vec<u32> = text.split_whitespace().map(|p| p.parse().unwrap()).collect();
    assert_eq!(pids.len(), 1, "the shim has one child, the agent: {pids:?}");
    pids[0]
}

/// Zombie children of this test process.
pub fn own_zombies() -> Vec<u32> {
    let me = std::process::id();
    let mut zombies = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else { continue };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else { continue };
        let Some(rest) = stat.rfind(')').map(|i| &stat[i + 2..]) else { continue };
        let mut fields = rest.split_whitespace();
        let state = fields.next();
        let ppid = fields.next().and_then(|p| p.parse::<u32>().ok());
        if state == Some("Z") && ppid == Some(me) {
            zombies.push(pid);
        }
    }
    zombies
}

/// Collects an execution's stdout and stderr and its result.
pub async fn output(
    mut exec: boxlite_core::Execution,
) -> (Vec<u8>, Vec<u8>, boxlite_core::ExecResult) {
    let mut out_rx = exec.stdout().unwrap();
    let mut err_rx = exec.stderr().unwrap();
    let out = tokio::spawn(async move {
        let mut all = Vec::new();
        while let Some(chunk) = out_rx.recv().await {
            all.extend(chunk);
        }
        all
    });
    let err = tokio::spawn(async move {
        let mut all = Vec::new();
        while let Some(chunk) = err_rx.recv().await {
            all.extend(chunk);
        }
        all
    });
    let result = exec.wait().await.unwrap();
    (out.await.unwrap(), err.await.unwrap(), result)
}

/// Waits (with inotify, bounded by `timeout`) until `dir/name` exists.
pub fn wait_for_file(dir: &Path, name: &str, timeout: std::time::Duration) -> bool {
    use std::os::unix::ffi::OsStrExt;
    // SAFETY: plain syscalls on fds we own; buffers outlive the calls.
    unsafe {
        let fd = libc::inotify_init1(libc::IN_CLOEXEC | libc::IN_NONBLOCK);
        assert!(fd >= 0);
        let cdir = std::ffi::CString::new(dir.as_os_str().as_bytes()).unwrap();
        let wd = libc::inotify_add_watch(fd, cdir.as_ptr(), libc::IN_CREATE | libc::IN_MOVED_TO);
        assert!(wd >= 0, "watch {}", dir.display());
        let deadline = std::time::Instant::now() + timeout;
        let found = loop {
            if dir.join(name).exists() {
                break true;
            }
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                break false;
            }
            let mut pfd = libc::pollfd { fd, events: libc::POLLIN, revents: 0 };
            libc::poll(&mut pfd, 1, left.as_millis() as i32);
            let mut buf = [0u8; 4096];
            libc::read(fd, buf.as_mut_ptr().cast(), buf.len());
        };
        libc::close(fd);
        found
    }
}

/// The box's cgroup directories still present (there should be none once it is not running).
pub fn leftover_cgroups(id: &str) -> Vec<String> {
    cgroup_mounts()
        .into_iter()
        .map(|root| root.join("boxlite").join(id))
        .filter(|d| d.exists())
        .map(|d| d.display().to_string())
        .collect()
}

/// Every mounted cgroup hierarchy (v1 controllers and the v2 tree), from the mount table, so
/// no hierarchy a box could have a cgroup in is missed.
fn cgroup_mounts() -> Vec<PathBuf> {
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    mountinfo
        .lines()
        .filter_map(|line| {
            let (before, after) = line.split_once(" - ")?;
            let fstype = after.split_whitespace().next()?;
            (fstype == "cgroup" || fstype == "cgroup2")
                .then(|| before.split_whitespace().nth(4).map(PathBuf::from))?
        })
        .collect()
}

/// The box's memory cgroup directory (v1 or v2).
fn memory_cgroup(id: &str) -> PathBuf {
    let v2 = Path::new("/sys/fs/cgroup/cgroup.controllers").exists();
    let dir = if v2 { "/sys/fs/cgroup/boxlite" } else { "/sys/fs/cgroup/memory/boxlite" };
    Path::new(dir).join(id)
}

/// OOM kills inside the box so far, from its memory cgroup (`oom_kill` in v1's
/// memory.oom_control, v2's memory.events).
pub fn oom_kills(id: &str) -> u64 {
    let dir = memory_cgroup(id);
    let file = ["memory.events", "memory.oom_control"]
        .into_iter()
        .map(|name| dir.join(name))
        .find(|path| path.exists())
        .unwrap_or_else(|| panic!("no oom counter in {}", dir.display()));
    let text = std::fs::read_to_string(&file).unwrap();
    text.lines()
        .find_map(|line| line.strip_prefix("oom_kill "))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no oom_kill in {}: {text}", file.display()))
}

/// Runs `sh -c SCRIPT` in box `b`, bounded by `timeout`: its stdout, stderr and exit code.
pub async fn run_script(
    b: &boxlite_core::LiteBox,
    script: &str,
    timeout: std::time::Duration,
) -> (String, String, Option<i32>) {
    let mut cmd = sh(script);
    cmd.timeout = Some(timeout);
    let (out, err, res) = output(b.exec(cmd).await.unwrap()).await;
    (
        String::from_utf8_lossy(&out).into_owned(),
        String::from_utf8_lossy(&err).into_owned(),
        res.exit_code,
    )
}

/// `sh -c SCRIPT` in the box.
pub fn sh(script: &str) -> boxlite_core::Command {
    boxlite_core::Command::new(["sh", "-c", script])
}

/// Waits (on a pidfd, bounded by `timeout`) until process `pid` has exited; true when it has
/// (or was gone already).
pub fn wait_exited(pid: u32, timeout: std::time::Duration) -> bool {
    // SAFETY: pidfd_open on a pid number; the fd is ours and closed below.
    let pidfd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid as libc::pid_t, 0) } as i32;
    if pidfd < 0 {
        return true;
    }
    let mut pfd = libc::pollfd { fd: pidfd, events: libc::POLLIN, revents: 0 };
    // SAFETY: one valid pollfd; the fd is closed right after.
    let ready = unsafe { libc::poll(&mut pfd, 1, timeout.as_millis() as i32) };
    unsafe { libc::close(pidfd) };
    ready == 1
}

/// Files named `name` anywhere under `dir`, without following links.
pub fn find_named(dir: &Path, name: &str, found: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        if entry.file_name() == name {
            found.push(path.clone());
        }
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            find_named(&path, name, found);
        }
    }
}

/// Loop devices whose backing file is `path` or lies under it (from
/// /sys/block/loop*/loop/backing_file; a removed file still counts).
pub fn loop_devices_under(path: &Path) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/sys/block").unwrap().flatten() {
        let Ok(text) = std::fs::read_to_string(entry.path().join("loop/backing_file")) else {
            continue;
        };
        let backing = text.trim_end().trim_end_matches(" (deleted)");
        if Path::new(backing).starts_with(path) {
            found.push(entry.file_name().to_string_lossy().into_owned());
        }
    }
    found
}

/// Runs the test `test` of this test binary again as the unprivileged `uid` (through
/// `setpriv`, util-linux) and asserts that it ran and passed there: how a test run as root
/// checks what a non-root user's (rootless) boxes do.
pub fn rerun_as_user(test: &str, uid: &str) {
    let out = std::process::Command::new("setpriv")
        .args(["--reuid", uid, "--regid", uid, "--clear-groups", "--"])
        .arg(std::env::current_exe().expect("test binary"))
        .args(["--exact", test, "--nocapture", "--test-threads", "1"])
        .output()
        .expect("setpriv (util-linux) is needed");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "as uid {uid}:\n{stdout}\n{stderr}");
    // The run as the user must have run the test, not filtered it out.
    assert!(stdout.contains("test result: ok. 1 passed"), "as uid {uid}:\n{stdout}");
}
