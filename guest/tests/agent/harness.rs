//! Runs the real agent binary as a child of the test with the launch descriptors in place,
//! and talks to it over its unix socket.

use std::io::Write;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use boxlite_protocol::launch::{GuestConfig, GuestReport};
use boxlite_protocol::pb::agent_client::AgentClient;
use boxlite_protocol::pb::{exec_event::Event, ExecEvent, ExecRequest, Exited, Started};
use hyper_util::rt::TokioIo;
use tokio::io::AsyncReadExt;
use tokio::net::unix::pipe;
use tokio::net::UnixStream;
use tonic::transport::{Channel, Endpoint, Uri};
use tonic::{Status, Streaming};

pub const LIMIT: Duration = Duration::from_secs(20);

pub type Client = AgentClient<Channel>;

/// A running agent; stopped (SIGTERM, then SIGKILL) on drop if the test did not end it.
pub struct Agent {
    child: Option<Child>,
    pub pid: i32,
    pub dir: tempfile::TempDir,
    socket: PathBuf,
    ready: Option<OwnedFd>,
    report: Option<OwnedFd>,
    stderr: Option<std::process::ChildStderr>,
}

pub fn config() -> GuestConfig {
    GuestConfig { box_id: "test-box".into(), ..GuestConfig::default() }
}

impl Agent {
    /// Starts the agent and waits for its ready line.
    pub async fn start(config: GuestConfig) -> Agent {
        let mut agent = Agent::spawn(config, false);
        assert!(agent.wait_ready().await, "agent did not become ready");
        agent
    }

    /// Starts the agent as `uid` (gid likewise), without any capability: what a development
    /// run by an ordinary user looks like. The test must be root.
    pub async fn start_as(config: GuestConfig, uid: u32) -> Agent {
        let mut agent = Agent::spawn_with(config, false, Some(uid), None);
        assert!(agent.wait_ready().await, "agent did not become ready");
        agent
    }

    /// Starts the agent with `counter` open read-only on its OOM-counter descriptor, as the
    /// shim hands it the box's cgroup file.
    pub async fn start_with_oom_counter(config: GuestConfig, counter: &Path) -> Agent {
        let file = std::fs::File::open(counter).expect("open the OOM counter");
        let mut agent = Agent::spawn_with(config, false, None, Some(file.into()));
        assert!(agent.wait_ready().await, "agent did not become ready");
        agent
    }

    /// Starts the agent without waiting. `capture_stderr`: keep its stderr (the console).
    pub fn spawn(config: GuestConfig, capture_stderr: bool) -> Agent {
        Agent::spawn_with(config, capture_stderr, None, None)
    }

    fn spawn_with(
        config: GuestConfig,
        capture_stderr: bool,
        uid: Option<u32>,
        oom_counter: Option<OwnedFd>,
    ) -> Agent {
        let dir = tempfile::tempdir().expect("tempdir");
        let socket = dir.path().join("agent.sock");
        let listener = UnixListener::bind(&socket).expect("bind");
        let (ready_r, ready_w) = pipe_pair();
        let (config_r, config_w) = pipe_pair();
        let (report_r, report_w) = pipe_pair();
        let counter = oom_counter.as_ref().map_or(-1, AsRawFd::as_raw_fd);
        let handed = [
            listener.as_raw_fd(),
            ready_w.as_raw_fd(),
            config_r.as_raw_fd(),
            report_w.as_raw_fd(),
            counter,
        ];

        let mut command = Command::new(binary());
        command.stdin(Stdio::null());
        if capture_stderr {
            command.stderr(Stdio::piped());
        }
        if let Some(uid) = uid {
            command.uid(uid).gid(uid);
        }
        // SAFETY: only fcntl/dup2 between fork and exec.
        unsafe { command.pre_exec(move || place_fds(handed)) };
        let mut child = command.spawn().expect("spawn agent");
        drop((listener, ready_w, config_r, report_w, oom_counter));

        let mut config_w = std::fs::File::from(config_w);
        config_w
            .write_all(&serde_json::to_vec(&config).expect("config json"))
            .expect("write config");
        drop(config_w);

        let pid = child.id() as i32;
        let stderr = child.stderr.take();
        Agent {
            child: Some(child),
            pid,
            dir,
            socket,
            ready: Some(ready_r),
            report: Some(report_r),
            stderr,
        }
    }

    /// Whether the ready line arrived (false: EOF without it).
    pub async fn wait_ready(&mut self) -> bool {
        let fd = self.ready.take().expect("ready pipe");
        let mut rx = pipe::Receiver::from_owned_fd(fd).expect("ready pipe");
        // Up to the line or EOF: a wrapper around the agent may hold the pipe open too.
        let mut buf = Vec::new();
        let read = async {
            let mut chunk = [0u8; 64];
            while !buf.contains(&b'\n') {
                match rx.read(&mut chunk).await.expect("read ready pipe") {
                    0 => break,
                    n => buf.extend_from_slice(&chunk[..n]),
                }
            }
        };
        tokio::time::timeout(LIMIT, read).await.expect("ready line within the limit");
        buf == boxlite_protocol::launch::READY_LINE.as_bytes()
    }

    pub async fn client(&self) -> Client {
        let path = self.socket.clone();
        let connector = tower::service_fn(move |_: Uri| {
            let path = path.clone();
            async move { Ok::<_, std::io::Error>(TokioIo::new(UnixStream::connect(path).await?)) }
        });
        let channel = Endpoint::try_from("http://[::]:50051")
            .expect("endpoint")
            .connect_with_connector(connector)
            .await
            .expect("connect to agent");
        AgentClient::new(channel)
    }

    /// Waits for the agent to exit; returns its status, the report and (when captured) stderr.
    pub async fn wait_exit(&mut self) -> (ExitStatus, Option<GuestReport>, String) {
        let mut child = self.child.take().expect("agent still owned");
        let stderr = self.stderr.take();
        let waited = tokio::task::spawn_blocking(move || {
            let mut console = String::new();
            if let Some(mut stderr) = stderr {
                use std::io::Read;
                let _ = stderr.read_to_string(&mut console);
            }
            (child.wait(), console)
        });
        let (status, console) =
            tokio::time::timeout(LIMIT, waited).await.expect("agent exits in time").expect("join");
        let status = status.expect("wait agent");
        let report_fd = self.report.take().expect("report pipe");
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut std::fs::File::from(report_fd), &mut bytes)
            .expect("read report");
        let report = (!bytes.is_empty()).then(|| {
            assert!(bytes.ends_with(b"\n"), "report is one line");
            serde_json::from_slice(&bytes).expect("report json")
        });
        (status, report, console)
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let Some(mut child) = self.child.take() else { return };
        // SAFETY: plain kill on our own child.
        unsafe { libc::kill(self.pid, libc::SIGTERM) };
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(child.wait());
        });
        if rx.recv_timeout(Duration::from_secs(10)).is_err() {
            // SAFETY: as above; the waiting thread reaps it.
            unsafe { libc::kill(self.pid, libc::SIGKILL) };
        }
    }
}

/// The agent under test: the debug build of this crate, or the binary named by
/// `BOXLITE_GUEST_UNDER_TEST` (e.g. the static build from scripts/build-guest.sh).
pub fn binary() -> PathBuf {
    std::env::var_os("BOXLITE_GUEST_UNDER_TEST")
        .map_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_boxlite-guest")), PathBuf::from)
}

/// In the child: moves the handed descriptors to 3..=7 (via high copies, so no source is
/// clobbered by an earlier dup2); a -1 (no OOM counter) leaves its number closed.
fn place_fds(handed: [RawFd; 5]) -> std::io::Result<()> {
    let mut high = [-1; 5];
    for (slot, fd) in high.iter_mut().zip(handed).filter(|(_, fd)| *fd >= 0) {
        // SAFETY: fcntl on descriptors we own.
        *slot = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 100) };
        if *slot < 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    for (target, fd) in (3..).zip(high).filter(|(_, fd)| *fd >= 0) {
        // SAFETY: dup2 onto the fixed launch descriptors.
        if unsafe { libc::dup2(fd, target) } < 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

fn pipe_pair() -> (OwnedFd, OwnedFd) {
    let mut fds = [0; 2];
    // SAFETY: room for two descriptors.
    assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0, "pipe2");
    // SAFETY: fresh descriptors.
    unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) }
}

pub fn request(argv: &[&str]) -> ExecRequest {
    ExecRequest { argv: argv.iter().map(|s| s.to_string()).collect(), ..ExecRequest::default() }
}

pub fn sh(script: &str) -> ExecRequest {
    request(&["/bin/sh", "-c", script])
}

/// What one exec produced.
#[derive(Debug)]
pub struct Output {
    pub started: Started,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    pub exited: Exited,
}

impl Output {
    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }
}

/// Runs `req` to completion, checking the stream's shape: Started first, one Exited last.
pub async fn run(client: &mut Client, req: ExecRequest) -> Result<Output, Status> {
    let stream = client.exec(req).await?.into_inner();
    Ok(tokio::time::timeout(LIMIT, collect(stream)).await.expect("exec finishes in time"))
}

/// Reads a whole exec stream.
pub async fn collect(mut stream: Streaming<ExecEvent>) -> Output {
    let first = stream.message().await.expect("first event").expect("stream not empty");
    let Some(Event::Started(started)) = first.event else {
        panic!("first event is not Started: {first:?}")
    };
    let rest = drain(&mut stream).await;
    Output { started, stdout: rest.stdout, stderr: rest.stderr, exited: rest.exited }
}

pub struct Tail {
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    pub exited: Exited,
}

/// Reads output events up to Exited, and checks nothing follows it.
pub async fn drain(stream: &mut Streaming<ExecEvent>) -> Tail {
    let (mut stdout, mut stderr) = (Vec::new(), Vec::new());
    loop {
        let event = stream.message().await.expect("event").expect("stream ends with Exited");
        match event.event {
            Some(Event::Stdout(d)) => {
                assert!(d.len() <= 64 * 1024, "chunk of {} bytes", d.len());
                stdout.extend(d)
            }
            Some(Event::Stderr(d)) => stderr.extend(d),
            Some(Event::Exited(exited)) => {
                assert!(stream.message().await.expect("end").is_none(), "nothing after Exited");
                return Tail { stdout, stderr, exited };
            }
            other => panic!("unexpected event {other:?}"),
        }
    }
}

/// The state letter of /proc/<pid>/status, or None when the process is gone.
/// Runs `req` (a script that starts `sleep 100` in the background, prints its pid, then
/// sleeps itself) with a 300 ms timeout and a 10 s kill grace: SIGTERM must end the whole
/// group at once, the background sleep included, whatever the exec's stdio.
pub async fn assert_timeout_kills_group(mut req: ExecRequest) {
    let agent = Agent::start(config()).await;
    req.timeout_ms = 300;
    req.kill_grace_ms = 10_000;
    let begun = Instant::now();
    let out = run(&mut agent.client().await, req).await.expect("exec");
    let took = begun.elapsed();
    assert!(out.exited.timed_out);
    assert_eq!(out.exited.signal, Some(libc::SIGTERM));
    assert!(took >= Duration::from_millis(300), "{took:?}");
    // SIGTERM ends both sleeps, so nothing waits for the 10 s grace.
    assert!(took < Duration::from_secs(5), "{took:?}");
    let sleeper: i32 = out.stdout().trim().parse().expect("pid");
    assert!(matches!(proc_state(sleeper), None | Some('Z')), "background sleep still running");
}

pub fn proc_state(pid: i32) -> Option<char> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status.lines().find_map(|l| l.strip_prefix("State:")).and_then(|s| s.trim().chars().next())
}

pub fn proc_ppid(pid: i32) -> Option<i32> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status.lines().find_map(|l| l.strip_prefix("PPid:")).and_then(|s| s.trim().parse().ok())
}

/// Retries `check` every 10 ms until it holds or `LIMIT` passes. For asserting on state the
/// agent reaches asynchronously (a reaped orphan), never for ordering the agent's own work.
pub async fn eventually(mut check: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + LIMIT;
    while Instant::now() < end {
        if check() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    check()
}

pub fn mkfifo(path: &Path) {
    let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).expect("path");
    // SAFETY: valid C string.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0, "mkfifo");
}

/// Opens `fifo` for writing (blocks until a reader opens it), writes `data`, closes.
pub async fn write_fifo(fifo: &Path, data: &'static [u8]) {
    let fifo = fifo.to_owned();
    let write = tokio::task::spawn_blocking(move || {
        let mut f = std::fs::OpenOptions::new().write(true).open(fifo).expect("open fifo");
        f.write_all(data).expect("write fifo");
    });
    tokio::time::timeout(LIMIT, write).await.expect("fifo reader in time").expect("join");
}

/// Reads `fifo` to EOF (blocks until a writer opens and closes it).
pub async fn read_fifo(fifo: &Path) -> String {
    let fifo = fifo.to_owned();
    let read =
        tokio::task::spawn_blocking(move || std::fs::read_to_string(fifo).expect("read fifo"));
    tokio::time::timeout(LIMIT, read).await.expect("fifo writer in time").expect("join")
}

/// Whether the tests run as root (the privilege, user and seccomp tests need it).
pub fn root() -> bool {
    // SAFETY: geteuid cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// The value of `field` in a /proc/<pid>/status text.
pub fn status_field<'a>(status: &'a str, field: &str) -> &'a str {
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .unwrap_or_else(|| panic!("no {field} in {status}"))
        .trim()
}
