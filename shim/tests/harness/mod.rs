//! Test harness: a busybox rootfs, a static test guest, and a shim run with real pipes.
//!
//! Every wait is on an event (pipe data or EOF, the shim's pidfd) bounded by a timeout; no
//! sleep is used to synchronise.
#![allow(dead_code)]

use std::collections::HashMap;
use std::fs::{self, OpenOptions};
use std::io::{PipeReader, PipeWriter, Read};
use std::os::fd::{AsFd, FromRawFd, OwnedFd};
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use boxlite_protocol::launch::{ExitRecord, GuestConfig, Limits, LogLimits, ShimSpec};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

pub const SHIM: &str = env!("CARGO_BIN_EXE_boxlite-shim");
pub const BUSYBOX: &str = "/bin/busybox";
/// Generous: parallel compiles on two cores slow everything down 3-4x.
pub const TIMEOUT: Duration = Duration::from_secs(20);

/// The static test guest, compiled once per test process.
pub fn test_guest() -> &'static Path {
    static GUEST: OnceLock<PathBuf> = OnceLock::new();
    GUEST.get_or_init(|| {
        let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/test_guest.c");
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("boxlite-shim-tests");
        fs::create_dir_all(&dir).expect("create test guest dir");
        let out = dir.join("test_guest");
        // Compiled to a private name, then renamed: test binaries may race on the same path.
        let private = dir.join(format!("test_guest.{}", std::process::id()));
        let status = Command::new("cc")
            .args(["-static", "-O2", "-Wall", "-o"])
            .arg(&private)
            .arg(&source)
            .status()
            .expect("run cc");
        assert!(status.success(), "cc -static failed for {}", source.display());
        fs::rename(&private, &out).expect("rename test guest");
        out
    })
}

/// A minimal image rootfs from the host's static busybox (`apt-get install busybox-static`).
pub fn busybox_rootfs(dir: &Path, with_tmp: bool) -> PathBuf {
    assert!(
        Path::new(BUSYBOX).exists(),
        "{BUSYBOX} is missing: install the busybox-static package"
    );
    let root = dir.join("rootfs");
    fs::create_dir_all(root.join("bin")).expect("create rootfs/bin");
    fs::create_dir_all(root.join("etc")).expect("create rootfs/etc");
    if with_tmp {
        fs::create_dir_all(root.join("tmp")).expect("create rootfs/tmp");
    }
    fs::copy(BUSYBOX, root.join("bin/busybox")).expect("copy busybox");
    for applet in ["sh", "echo", "cat", "sleep", "hostname", "ls", "mount", "ps", "true"] {
        symlink("busybox", root.join("bin").join(applet)).expect("symlink applet");
    }
    fs::write(root.join("etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n").expect("passwd");
    root
}

/// A box id of its own per spec: the box's cgroups are named after it, and tests run in
/// parallel (also in other test binaries).
pub fn unique_box_id() -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    format!("bx-test-{}-{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed))
}

/// A spec with the box's dirs under `dir/box`.
pub fn spec(dir: &Path, rootfs: &Path, main: Option<&[&str]>) -> ShimSpec {
    let box_id = unique_box_id();
    let box_dir = dir.join("box");
    fs::create_dir_all(box_dir.join("sockets")).expect("create box dir");
    let main = main.map(|argv| argv.iter().map(|s| s.to_string()).collect::<Vec<_>>());
    ShimSpec {
        box_id: box_id.clone(),
        hostname: "testbox".to_string(),
        rootfs_lower: rootfs.to_path_buf(),
        upper_dir: box_dir.join("upper"),
        work_dir: box_dir.join("work"),
        merged_dir: box_dir.join("merged"),
        socket_path: box_dir.join("sockets/agent.sock"),
        guest_path: test_guest().to_path_buf(),
        exit_record_path: box_dir.join("exit.json"),
        detach: false,
        stop_grace_ms: 2000,
        limits: Limits::default(),
        tmp_size_mib: 64,
        // Replaced by `write_spec`, which keeps each run's log apart.
        log: LogLimits { path: dir.join("box.log"), max_bytes: 16 << 20, files: 2 },
        disk: None,
        user_namespace: true,
        rootless: false,
        network: None,
        volumes: Vec::new(),
        guest: GuestConfig {
            box_id,
            env: vec![("GREETING".to_string(), "hello".to_string())],
            working_dir: "/".to_string(),
            user: String::new(),
            main,
            stop_grace_ms: 2000,
            nofile: Some([1024, 4096]),
            capabilities: None,
            seccomp_unconfined: false,
            seccomp_profile: None,
            nproc_max: None,
        },
    }
}

/// How the readiness pipe ended up.
#[derive(Debug, PartialEq, Eq)]
pub enum Readiness {
    /// The agent wrote the ready line, this long after the shim was spawned.
    Ready(Duration),
    /// EOF without the ready line; whatever was read.
    Eof(String),
}

/// A running shim with the host's ends of its pipes.
pub struct Shim {
    pub child: Child,
    pub liveness: Option<PipeWriter>,
    ready: PipeReader,
    pub log_path: PathBuf,
    pub spawned_at: Instant,
    pidfd: OwnedFd,
    status: Option<ExitStatus>,
}

/// Spawns the shim for `spec` (written to `dir/<name>.json`), logging to `dir/<name>.log`.
pub fn spawn(dir: &Path, name: &str, spec: &ShimSpec) -> Shim {
    spawn_with_spec_file(dir, name, &write_spec(dir, name, spec))
}

/// Writes `spec` to `dir/<name>.json`, with its log at `dir/<name>.log` (the file the shim's
/// stderr goes to), as the host gives a shim its own log as stderr.
pub fn write_spec(dir: &Path, name: &str, spec: &ShimSpec) -> PathBuf {
    let spec_path = dir.join(format!("{name}.json"));
    let mut spec = spec.clone();
    spec.log.path = log_path(dir, name);
    fs::write(&spec_path, serde_json::to_vec_pretty(&spec).expect("encode spec")).expect("spec");
    spec_path
}

/// Spawns the shim with an arbitrary spec file.
pub fn spawn_with_spec_file(dir: &Path, name: &str, spec_path: &Path) -> Shim {
    spawn_with(dir, name, spec_path, |_| {})
}

/// Spawns the shim, letting the test adjust the command first (e.g. a `pre_exec` hook).
pub fn spawn_with(
    dir: &Path,
    name: &str,
    spec_path: &Path,
    adjust: impl FnOnce(&mut Command),
) -> Shim {
    let log_path = log_path(dir, name);
    let log = OpenOptions::new().create(true).append(true).open(&log_path).expect("log");
    // std's pipes are close-on-exec: shims spawned by parallel tests never inherit them.
    let (liveness_read, liveness) = std::io::pipe().expect("liveness pipe");
    let (ready, ready_write) = std::io::pipe().expect("ready pipe");
    let spawned_at = Instant::now();
    // The Command owns the child's ends; it is dropped right after spawning so that the only
    // write end of the readiness pipe is the shim's.
    let mut command = Command::new(SHIM);
    command
        .arg(spec_path)
        .stdin(Stdio::from(liveness_read))
        .stdout(Stdio::from(ready_write))
        .stderr(Stdio::from(log));
    adjust(&mut command);
    let child = command.spawn().expect("spawn shim");
    drop(command);
    let pidfd = pidfd(child.id() as i32);
    Shim { child, liveness: Some(liveness), ready, log_path, spawned_at, pidfd, status: None }
}

/// The live log of the run `name`.
pub fn log_path(dir: &Path, name: &str) -> PathBuf {
    dir.join(format!("{name}.log"))
}

/// A pidfd for `pid`: readable once the process has exited.
pub fn pidfd(pid: i32) -> OwnedFd {
    // SAFETY: pidfd_open(2) only returns a new descriptor, checked below.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    assert!(fd >= 0, "pidfd_open: {}", std::io::Error::last_os_error());
    // SAFETY: a fresh descriptor owned by nobody else.
    unsafe { OwnedFd::from_raw_fd(fd as i32) }
}

/// Polls one descriptor for input until `deadline`; false on timeout.
pub fn wait_readable(fd: impl AsFd, deadline: Instant) -> bool {
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return false;
        }
        let timeout = PollTimeout::try_from(left).unwrap_or(PollTimeout::MAX);
        let mut fds = [PollFd::new(fd.as_fd(), PollFlags::POLLIN)];
        match poll(&mut fds, timeout) {
            Ok(0) => return false,
            Ok(_) => return true,
            Err(nix::errno::Errno::EINTR) => continue,
            Err(errno) => panic!("poll: {errno}"),
        }
    }
}

impl Shim {
    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// Waits for the ready line or EOF on the readiness pipe.
    pub fn wait_ready(&mut self) -> Readiness {
        let deadline = Instant::now() + TIMEOUT;
        let mut seen = Vec::new();
        loop {
            assert!(
                wait_readable(&self.ready, deadline),
                "no readiness within {TIMEOUT:?}; log:\n{}",
                self.log()
            );
            let mut buf = [0u8; 256];
            let n = self.ready.read(&mut buf).expect("read readiness pipe");
            if n == 0 {
                return Readiness::Eof(String::from_utf8_lossy(&seen).into_owned());
            }
            seen.extend_from_slice(&buf[..n]);
            if seen == b"ready\n" {
                return Readiness::Ready(self.spawned_at.elapsed());
            }
        }
    }

    /// Waits for the ready line; panics with the log otherwise.
    pub fn expect_ready(&mut self) -> Duration {
        match self.wait_ready() {
            Readiness::Ready(took) => took,
            other => panic!("box not ready: {other:?}; log:\n{}", self.log()),
        }
    }

    /// After the ready line: the readiness pipe must reach EOF (the shim keeps no copy).
    pub fn expect_ready_pipe_eof(&mut self) {
        let deadline = Instant::now() + TIMEOUT;
        assert!(wait_readable(&self.ready, deadline), "readiness pipe not at EOF");
        let mut buf = [0u8; 16];
        assert_eq!(self.ready.read(&mut buf).expect("read"), 0, "readiness pipe not at EOF");
    }

    /// Closes the host's end of the liveness pipe, as if the host died.
    pub fn close_liveness(&mut self) {
        self.liveness = None;
    }

    pub fn signal(&self, signal: Signal) {
        kill(Pid::from_raw(self.pid()), signal).expect("signal the shim");
    }

    /// Waits for the shim to exit (its pidfd becomes readable), then reaps it.
    pub fn wait_exit(&mut self) -> ExitStatus {
        self.wait_exit_within(TIMEOUT)
            .unwrap_or_else(|| panic!("shim still running after {TIMEOUT:?}; log:\n{}", self.log()))
    }

    /// As [`Self::wait_exit`], but `None` when it is still running after `timeout`.
    pub fn wait_exit_within(&mut self, timeout: Duration) -> Option<ExitStatus> {
        if let Some(status) = self.status {
            return Some(status);
        }
        if !wait_readable(&self.pidfd, Instant::now() + timeout) {
            return None;
        }
        let status = self.child.wait().expect("wait for the shim");
        self.status = Some(status);
        Some(status)
    }

    pub fn log(&self) -> String {
        fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    /// The agent's host pid: the shim's only child.
    pub fn agent(&self) -> Proc {
        let children = children_of(self.pid());
        assert_eq!(children.len(), 1, "shim children: {children:?}");
        children[0]
    }
}

impl Drop for Shim {
    fn drop(&mut self) {
        // A failed test must not leave its box behind: the agent dies with the shim
        // (PDEATHSIG), and the shim is ours to kill and reap.
        if self.status.is_none() {
            let _ = kill(Pid::from_raw(self.pid()), Signal::SIGKILL);
            let _ = self.child.wait();
        }
    }
}

/// A process identified by pid and start time, so a reused pid is not mistaken for it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Proc {
    pub pid: i32,
    pub start: u64,
}

/// Fields of /proc/<pid>/stat after the command name: (ppid, starttime).
fn stat_of(pid: i32) -> Option<(i32, u64)> {
    let text = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &text[text.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // rest[0] is the state (field 3): ppid is field 4, starttime field 22.
    Some((fields.get(1)?.parse().ok()?, fields.get(19)?.parse().ok()?))
}

pub fn children_of(parent: i32) -> Vec<Proc> {
    let mut found = Vec::new();
    for entry in fs::read_dir("/proc").expect("read /proc").flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse::<i32>().ok()) else {
            continue;
        };
        if let Some((ppid, start)) = stat_of(pid) {
            if ppid == parent {
                found.push(Proc { pid, start });
            }
        }
    }
    found
}

impl Proc {
    /// Still there (running or a zombie) with the same start time.
    pub fn exists(&self) -> bool {
        stat_of(self.pid).is_some_and(|(_, start)| start == self.start)
    }
}

/// Asserts the processes are gone: neither running nor left as zombies.
pub fn assert_gone(procs: &[Proc]) {
    for proc in procs {
        assert!(!proc.exists(), "process {} is still there", proc.pid);
    }
}

pub fn exit_record(spec: &ShimSpec) -> ExitRecord {
    let text = fs::read(&spec.exit_record_path).expect("read exit record");
    serde_json::from_slice(&text).expect("parse exit record")
}

/// The `guest: key=value` lines the test guest printed.
pub fn guest_facts(log: &str) -> HashMap<String, String> {
    log.lines()
        .filter_map(|line| line.strip_prefix("guest: "))
        .filter_map(|fact| fact.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// A namespace link of a process, e.g. `net:[4026531840]`.
pub fn ns_link(pid: &str, ns: &str) -> String {
    fs::read_link(format!("/proc/{pid}/ns/{ns}"))
        .unwrap_or_else(|e| panic!("read ns {ns} of {pid}: {e}"))
        .to_string_lossy()
        .into_owned()
}

/// Where a box's cgroups are, found the way the shim finds them (independently coded).
#[derive(Debug)]
pub struct BoxCgroups {
    /// Pure cgroup v2: one directory for every controller.
    pub v2: bool,
    pub memory: PathBuf,
    pub pids: PathBuf,
    pub cpu: PathBuf,
    /// v1's `devices` directory (v2 filters devices with an eBPF program instead).
    pub devices: Option<PathBuf>,
}

impl BoxCgroups {
    pub fn of(box_id: &str) -> Self {
        let root = Path::new("/sys/fs/cgroup");
        if root.join("cgroup.controllers").exists() {
            let dir = root.join("boxlite").join(box_id);
            return Self {
                v2: true,
                memory: dir.clone(),
                pids: dir.clone(),
                cpu: dir,
                devices: None,
            };
        }
        let mountinfo = fs::read_to_string("/proc/self/mountinfo").expect("mountinfo");
        let mount_of = |controller: &str| {
            mountinfo
                .lines()
                .filter_map(|line| line.split_once(" - "))
                .find(|(_, right)| {
                    let fields: Vec<&str> = right.split(' ').collect();
                    fields[0] == "cgroup" && fields[2].split(',').any(|o| o == controller)
                })
                .map(|(left, _)| PathBuf::from(left.split(' ').nth(4).expect("mount point")))
                .unwrap_or_else(|| panic!("no v1 {controller} hierarchy"))
                .join("boxlite")
                .join(box_id)
        };
        Self {
            v2: false,
            memory: mount_of("memory"),
            pids: mount_of("pids"),
            cpu: mount_of("cpu"),
            devices: Some(mount_of("devices")),
        }
    }

    /// The distinct directories (one on v2).
    pub fn dirs(&self) -> Vec<PathBuf> {
        let mut dirs = vec![self.memory.clone(), self.pids.clone(), self.cpu.clone()];
        dirs.extend(self.devices.clone());
        dirs.sort();
        dirs.dedup();
        dirs
    }

    /// Reads a file of the box's cgroup, trimmed.
    pub fn read(dir: &Path, file: &str) -> String {
        fs::read_to_string(dir.join(file))
            .unwrap_or_else(|e| panic!("read {}: {e}", dir.join(file).display()))
            .trim()
            .to_string()
    }
}

/// Removes whatever the shim left of a box's cgroups when the test ends (the shim normally
/// removes them itself; a failed test or a killed shim does not).
pub struct CgroupCleanup(pub String);

impl Drop for CgroupCleanup {
    fn drop(&mut self) {
        for dir in BoxCgroups::of(&self.0).dirs() {
            let _ = fs::remove_dir(dir);
        }
    }
}
