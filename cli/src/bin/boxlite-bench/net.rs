//! Network series, each next to a baseline measured in the same run:
//! - TCP throughput box -> test host (iperf3 client in a box, server in a network namespace
//!   the bench makes, reached over a veth pair), against the host's own client to that server;
//! - TCP throughput host -> published port and back (`-R`; iperf3 server in the box), against
//!   an iperf3 server on the host's loopback;
//! - connection setup: connect + one HTTP request/response to a published port (busybox
//!   httpd in the box), against the same httpd in the test namespace.
//!
//! Traffic goes only to loopback and to the namespace made here. Every server is started so
//! that it listens once the call that started it returns (iperf3's "Server listening" line,
//! httpd's daemonizing after `listen`), and every run has a deadline. The namespace, its
//! processes and the boxes are removed on every path, errors included.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::process::{Child, Command as HostCommand, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use boxlite_core::{BoxOptions, Command, LiteBox, NetworkMode, PortSpec, Runtime, RuntimeOptions};

use crate::{ms, row, series, Stats, WARMUP};

/// iperf3's port, in the box and in the test namespace.
const IPERF_PORT: u16 = 5201;
const HTTP_PORT: u16 = 8080;
/// Length of each iperf3 run: long enough to leave TCP's slow start behind.
const IPERF_SECONDS: u32 = 2;
/// iperf3 runs per series, alternated with the baseline's; the median is printed.
const THROUGHPUT_RUNS: usize = 3;
/// Deadline of one iperf3 client run, its connection and result exchange included.
const IPERF_RUN_LIMIT: Duration = Duration::from_secs(20);
/// Deadline for a server to listen, a short command to end, a connection's reads.
const READY_LIMIT: Duration = Duration::from_secs(15);
const IO_TIMEOUT: Duration = Duration::from_secs(5);
/// Upper bound on the box's iperf3 server, in case the stop that ends it never comes.
const BOX_SERVER_LIFETIME: Duration = Duration::from_secs(600);
/// What iperf3 prints once its socket listens (with --forceflush, at once, on a pipe too).
const IPERF_READY: &str = "Server listening";
const HTTP_BODY: &[u8] = b"boxlite-bench\n";
const REQUEST: &[u8] = b"GET / HTTP/1.0\r\n\r\n";

/// Waits for the process of `pidfd` to exit, up to `limit`; true once it has. A pidfd rather
/// than a pid: it names that process even if the number is reused meanwhile.
fn wait_exited(pidfd: &OwnedFd, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    // poll is retried on EINTR only, each time with what is left of the deadline.
    loop {
        let left_ms = deadline.saturating_duration_since(Instant::now()).as_millis() as i32;
        let mut pfd = libc::pollfd { fd: pidfd.as_raw_fd(), events: libc::POLLIN, revents: 0 };
        // SAFETY: one valid pollfd on an fd we own.
        let ready = unsafe { libc::poll(&mut pfd, 1, left_ms) };
        if ready >= 0 || std::io::Error::last_os_error().kind() != std::io::ErrorKind::Interrupted {
            return ready == 1;
        }
        if left_ms == 0 {
            return false;
        }
    }
}

fn pidfd_open(pid: u32) -> anyhow::Result<OwnedFd> {
    // SAFETY: pidfd_open on a pid number; on success the fd is ours.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid as libc::pid_t, 0) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error()).context(format!("pidfd_open {pid}"));
    }
    // SAFETY: a fresh fd nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

struct Output {
    status: ExitStatus,
    stdout: String,
    stderr: String,
}

/// Runs `cmd` to its end, killed (by its pid) if it outlives `limit`.
fn run_within(cmd: &mut HostCommand, limit: Duration) -> anyhow::Result<Output> {
    let what = format!("{cmd:?}");
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("start {what}"))?;
    // Both pipes are drained while it runs: a full pipe would stall it until the deadline.
    let drain = |pipe: Option<Box<dyn Read + Send>>| {
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut text = String::new();
            if let Some(mut pipe) = pipe {
                let _ = pipe.read_to_string(&mut text);
            }
            let _ = tx.send(text);
        });
        rx
    };
    let out = drain(child.stdout.take().map(|p| Box::new(p) as Box<dyn Read + Send>));
    let err = drain(child.stderr.take().map(|p| Box::new(p) as Box<dyn Read + Send>));
    let exited = match pidfd_open(child.id()) {
        Ok(pidfd) => wait_exited(&pidfd, limit),
        Err(e) => {
            let _ = child.kill();
            let _ = child.wait();
            return Err(e);
        }
    };
    if !exited {
        let _ = child.kill();
    }
    let status = child.wait().with_context(|| format!("wait for {what}"))?;
    if !exited {
        bail!("{what} still ran after {limit:?}: killed");
    }
    // A daemon it left behind may hold the pipes open (busybox httpd does not): bounded too.
    let (stdout, stderr) = (out.recv_timeout(IO_TIMEOUT), err.recv_timeout(IO_TIMEOUT));
    let (Ok(stdout), Ok(stderr)) = (stdout, stderr) else {
        bail!("{what} exited, and something it started still holds its output open");
    };
    Ok(Output { status, stdout, stderr })
}

fn ip(args: &[&str]) -> anyhow::Result<()> {
    let out = run_within(HostCommand::new("ip").args(args), READY_LIMIT)
        .context("run ip (iproute2; `ip netns` needs root)")?;
    if !out.status.success() {
        bail!("ip {}: {}: {}", args.join(" "), out.status, out.stderr.trim());
    }
    Ok(())
}

/// A server process of the bench's, killed (by its pid) and reaped when dropped.
struct Server {
    child: Child,
}

impl Server {
    /// Starts `cmd` (an `iperf3 -s --forceflush`) and returns once it prints [`IPERF_READY`].
    fn iperf(cmd: &mut HostCommand) -> anyhow::Result<Server> {
        let what = format!("{cmd:?}");
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .with_context(|| format!("start {what}"))?;
        let stdout = child.stdout.take();
        let server = Server { child };
        let (ready_tx, ready_rx) = mpsc::channel();
        // Keeps reading after the ready line: a server whose reports fill the pipe would
        // stall mid-test. Ends at EOF, once the server is killed.
        std::thread::spawn(move || {
            let Some(stdout) = stdout else { return };
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { return };
                if line.contains(IPERF_READY) {
                    let _ = ready_tx.send(());
                }
            }
        });
        match ready_rx.recv_timeout(READY_LIMIT) {
            Ok(()) => Ok(server),
            Err(mpsc::RecvTimeoutError::Timeout) => {
                bail!("{what}: not listening after {READY_LIMIT:?}")
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                bail!("{what} exited before it listened (its stderr above says why)")
            }
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The bench's own test host: a network namespace with one end of a veth pair, the host
/// holding the other. Dropping it kills what runs in the namespace and removes it, and the
/// veth pair with it.
struct TestNet {
    name: String,
    /// The host's end of the veth pair.
    outer: String,
    addr: Ipv4Addr,
    servers: Vec<Server>,
}

impl TestNet {
    fn new() -> anyhow::Result<TestNet> {
        let pid = std::process::id();
        let name = format!("blbench{pid}");
        // A /24 of 10.252/16 of this run's own; the interface name stays under IFNAMSIZ.
        let third = (pid % 250) as u8 + 1;
        let (addr, host_side) =
            (Ipv4Addr::new(10, 252, third, 2), Ipv4Addr::new(10, 252, third, 1));
        let outer = format!("blb{}", pid % 1_000_000);
        ip(&["netns", "add", &name])?;
        // From here on, an error drops the guard, which removes what was made so far.
        let net = TestNet { name, outer: outer.clone(), addr, servers: Vec::new() };
        let ns = net.name.as_str();
        ip(&["link", "add", &outer, "type", "veth", "peer", "name", "eth0", "netns", ns])?;
        ip(&["addr", "add", &format!("{host_side}/24"), "dev", &outer])?;
        ip(&["link", "set", &outer, "up"])?;
        ip(&["-n", ns, "addr", "add", &format!("{addr}/24"), "dev", "eth0"])?;
        ip(&["-n", ns, "link", "set", "eth0", "up"])?;
        ip(&["-n", ns, "link", "set", "lo", "up"])?;
        Ok(net)
    }

    fn exec(&self, argv: &[&str]) -> HostCommand {
        let mut cmd = HostCommand::new("ip");
        cmd.args(["netns", "exec", &self.name]).args(argv);
        cmd
    }

    /// Pids of the processes in the namespace: only what the bench started there.
    fn pids(&self) -> Vec<u32> {
        run_within(HostCommand::new("ip").args(["netns", "pids", &self.name]), READY_LIMIT)
            .map(|out| out.stdout.split_whitespace().filter_map(|p| p.parse().ok()).collect())
            .unwrap_or_default()
    }
}

impl Drop for TestNet {
    fn drop(&mut self) {
        self.servers.clear();
        // What daemonized (httpd) is no child of ours: killed through a pidfd, which names
        // that very process even if its number is reused meanwhile, and waited for.
        for pid in self.pids() {
            let Ok(pidfd) = pidfd_open(pid) else { continue };
            // SAFETY: pidfd_send_signal on a pidfd we own; no siginfo.
            let sent = unsafe {
                libc::syscall(
                    libc::SYS_pidfd_send_signal,
                    pidfd.as_raw_fd(),
                    libc::SIGKILL,
                    std::ptr::null::<libc::siginfo_t>(),
                    0,
                )
            };
            if sent == 0 && !wait_exited(&pidfd, IO_TIMEOUT) {
                eprintln!("boxlite-bench: process {pid} of netns {} outlived SIGKILL", self.name);
            }
        }
        // The namespace's own removal takes its end of the pair only once the kernel has
        // torn it down, later; removing the host's end takes both at once. It is missing
        // when making it failed, hence no report.
        let _ = ip(&["link", "del", &self.outer]);
        if let Err(e) = ip(&["netns", "del", &self.name]) {
            eprintln!("boxlite-bench: remove the test netns: {e:#}");
        }
    }
}

/// Throughput in Mbit/s of one iperf3 client run, from its JSON report (`-J`).
fn iperf_mbps(json: &str) -> anyhow::Result<f64> {
    let report: serde_json::Value =
        serde_json::from_str(json).with_context(|| format!("iperf3 -J printed {json:?}"))?;
    if let Some(error) = report.get("error").and_then(|e| e.as_str()) {
        bail!("iperf3: {error}");
    }
    let bits_per_second = report["end"]["sum_received"]["bits_per_second"]
        .as_f64()
        .context("iperf3 report without end.sum_received.bits_per_second")?;
    Ok(bits_per_second / 1e6)
}

fn iperf_client_args(server: &str, port: u16, reverse: bool) -> Vec<String> {
    let mut argv = vec![
        "iperf3".to_string(),
        "-c".into(),
        server.into(),
        "-p".into(),
        port.to_string(),
        "-t".into(),
        IPERF_SECONDS.to_string(),
        "-J".into(),
        "--connect-timeout".into(),
        IO_TIMEOUT.as_millis().to_string(),
    ];
    if reverse {
        argv.push("-R".into());
    }
    argv
}

fn host_iperf(server: &str, port: u16, reverse: bool) -> anyhow::Result<f64> {
    let argv = iperf_client_args(server, port, reverse);
    let out = run_within(HostCommand::new(&argv[0]).args(&argv[1..]), IPERF_RUN_LIMIT)?;
    // A failed run still prints its JSON, whose "error" says why.
    iperf_mbps(&out.stdout).with_context(|| format!("{argv:?}: {}", out.status))
}

/// The stdout of `argv` in the box, which must exit 0 within `limit` (else the error holds
/// its stderr and stdout).
async fn box_output(b: &LiteBox, argv: &[String], limit: Duration) -> anyhow::Result<String> {
    let mut cmd = Command::new(argv.iter().cloned());
    cmd.timeout = Some(limit);
    let mut exec = b.exec(cmd).await.with_context(|| format!("exec {argv:?}"))?;
    let collect = |rx: Option<tokio::sync::mpsc::Receiver<Vec<u8>>>| async move {
        let mut all = Vec::new();
        if let Some(mut rx) = rx {
            while let Some(chunk) = rx.recv().await {
                all.extend(chunk);
            }
        }
        String::from_utf8_lossy(&all).into_owned()
    };
    let (out_rx, err_rx) = (exec.stdout(), exec.stderr());
    let ran = async {
        let (out, err) = tokio::join!(collect(out_rx), collect(err_rx));
        (out, err, exec.wait().await)
    };
    // The exec's own timeout kills it; this one covers an agent that stops answering.
    let (out, err, result) = tokio::time::timeout(limit + IO_TIMEOUT, ran)
        .await
        .with_context(|| format!("exec {argv:?}: no end after {limit:?}"))?;
    let result = result.with_context(|| format!("exec {argv:?}"))?;
    if result.exit_code != Some(0) {
        bail!("exec {argv:?}: {result:?}: {}{}", err.trim(), out.trim());
    }
    Ok(out)
}

async fn box_iperf(b: &LiteBox, server: &str) -> anyhow::Result<f64> {
    let argv = iperf_client_args(server, IPERF_PORT, false);
    // A failed run exits 1, and the error then shows its JSON, whose "error" says why.
    let out = box_output(b, &argv, IPERF_RUN_LIMIT).await?;
    iperf_mbps(&out).with_context(|| format!("{argv:?} in the box"))
}

/// The box's iperf3 server, streaming its output; returns once it listens.
async fn box_iperf_server(b: &LiteBox) -> anyhow::Result<boxlite_core::Execution> {
    let port = IPERF_PORT.to_string();
    let mut cmd = Command::new(["iperf3", "-s", "-p", &port, "--forceflush"]);
    cmd.timeout = Some(BOX_SERVER_LIFETIME);
    let mut exec = b.exec(cmd).await.context("exec iperf3 -s in the box")?;
    let mut stdout = exec.stdout().context("the box iperf3's stdout")?;
    let ready = async {
        let mut seen = Vec::new();
        while let Some(chunk) = stdout.recv().await {
            seen.extend(chunk);
            if String::from_utf8_lossy(&seen).contains(IPERF_READY) {
                return Ok(stdout);
            }
        }
        bail!("iperf3 -s in the box ended before it listened: {}", String::from_utf8_lossy(&seen))
    };
    let mut stdout = tokio::time::timeout(READY_LIMIT, ready)
        .await
        .context("iperf3 -s in the box: not listening in time")??;
    // Drained until the server ends, so its reports never back-pressure the agent.
    tokio::spawn(async move { while stdout.recv().await.is_some() {} });
    Ok(exec)
}

fn http_round_trip(addr: SocketAddr) -> anyhow::Result<Duration> {
    let t = Instant::now();
    let mut conn = TcpStream::connect_timeout(&addr, IO_TIMEOUT)
        .with_context(|| format!("connect to {addr}"))?;
    conn.set_read_timeout(Some(IO_TIMEOUT))?;
    conn.set_write_timeout(Some(IO_TIMEOUT))?;
    conn.write_all(REQUEST)?;
    // HTTP/1.0: the server closes after its answer, so the read ends at its FIN.
    let mut reply = Vec::new();
    conn.read_to_end(&mut reply).with_context(|| format!("read the answer of {addr}"))?;
    let elapsed = t.elapsed();
    if !reply.starts_with(b"HTTP/1.") || !reply.ends_with(HTTP_BODY) {
        bail!("{addr} answered {:?}", String::from_utf8_lossy(&reply));
    }
    Ok(elapsed)
}

/// Throughputs of one series, Mbit/s.
struct Rates(Vec<f64>);

impl Rates {
    fn sorted(&self) -> Vec<f64> {
        let mut v = self.0.clone();
        v.sort_by(f64::total_cmp);
        v
    }
    fn median_mbps(&self) -> f64 {
        let v = self.sorted();
        v[v.len() / 2]
    }
    fn row(&self, name: &str) {
        let v = self.sorted();
        println!(
            "{name:<34} {:>9.0} Mbit/s   (min {:.0}, max {:.0}; n={})",
            self.median_mbps(),
            v[0],
            v[v.len() - 1],
            v.len()
        );
    }
    fn json(&self) -> serde_json::Value {
        let v = self.sorted();
        serde_json::json!({
            "median_mbps": self.median_mbps(),
            "min_mbps": v[0],
            "max_mbps": v[v.len() - 1],
            "n": v.len(),
        })
    }
}

fn free_loopback_port() -> anyhow::Result<u16> {
    // The port is free again once the listener is dropped; the server binds it right after.
    Ok(TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?.local_addr()?.port())
}

fn bound_port(b: &LiteBox, guest_port: u16) -> anyhow::Result<u16> {
    let info = b.info()?;
    info.ports
        .iter()
        .find(|p| p.guest_port == guest_port)
        .and_then(|p| p.host_port)
        .with_context(|| format!("box port {guest_port} not published: {:?}", info.ports))
}

/// The network series; returns their JSON entries.
pub(crate) async fn run(
    image: &str,
    n: usize,
) -> anyhow::Result<serde_json::Map<String, serde_json::Value>> {
    let home = tempfile::tempdir()?;
    let rt =
        Runtime::open(RuntimeOptions { home_dir: Some(home.path().into()), ..Default::default() })?;
    let result = measure(&rt, image, n).await;
    // The boxes go whatever happened: a failed series must not leave shims behind.
    let shutdown = rt.shutdown(Duration::from_secs(5)).await;
    let doc = result?;
    shutdown?;
    Ok(doc)
}

async fn measure(
    rt: &Runtime,
    image: &str,
    n: usize,
) -> anyhow::Result<serde_json::Map<String, serde_json::Value>> {
    let mut net = TestNet::new().context("make the test host (netns + veth)")?;
    let www = tempfile::tempdir()?;
    std::fs::write(www.path().join("index.html"), HTTP_BODY)?;
    let www_dir = www.path().to_str().context("temp dir path is not UTF-8")?;
    let test_host = net.addr.to_string();
    let mut netns_iperf = net.exec(&["iperf3", "-s", "-B", &test_host, "--forceflush"]);
    net.servers.push(Server::iperf(&mut netns_iperf).context("iperf3 -s in the test netns")?);
    // busybox httpd returns once it listens (it daemonizes after bind and listen); the same
    // binary the box image holds, so both sides run one server.
    let http_listen = format!("{test_host}:{HTTP_PORT}");
    let httpd = run_within(
        &mut net.exec(&["busybox", "httpd", "-p", &http_listen, "-h", www_dir]),
        READY_LIMIT,
    )?;
    if !httpd.status.success() {
        bail!("busybox httpd in the test netns: {}: {}", httpd.status, httpd.stderr.trim());
    }
    let loopback_port = free_loopback_port()?;
    let _loopback_iperf = Server::iperf(HostCommand::new("iperf3").args([
        "-s",
        "-B",
        "127.0.0.1",
        "-p",
        &loopback_port.to_string(),
        "--forceflush",
    ]))
    .context("iperf3 -s on the host's loopback")?;

    let published = |guest_port| PortSpec { guest_port, ..Default::default() };
    let opts = BoxOptions {
        network: NetworkMode::Enabled,
        ports: vec![published(IPERF_PORT), published(HTTP_PORT)],
        ..BoxOptions::new(image)
    };
    let b = rt.create(opts, None)?;
    b.start().await.with_context(|| format!("start a box of {image}"))?;
    let version = box_output(&b, &["iperf3".into(), "--version".into()], READY_LIMIT)
        .await
        .context("iperf3 in the box (is the image scripts/make-iperf-image.sh's?)")?;
    let version = version.lines().next().unwrap_or_default().to_string();
    let server_exec = box_iperf_server(&b).await?;
    let serve = format!(
        "mkdir -p /www && printf '{}' > /www/index.html && httpd -p {HTTP_PORT} -h /www",
        String::from_utf8_lossy(HTTP_BODY).escape_default()
    );
    box_output(&b, &["sh".into(), "-c".into(), serve], READY_LIMIT)
        .await
        .context("busybox httpd in the box")?;
    let (iperf_port, http_port) = (bound_port(&b, IPERF_PORT)?, bound_port(&b, HTTP_PORT)?);

    // Alternated, so that box and baseline see the same machine.
    let (mut box_out_mbps, mut host_out_mbps) = (Vec::new(), Vec::new());
    let (mut to_box_mbps, mut from_box_mbps) = (Vec::new(), Vec::new());
    let (mut to_lo_mbps, mut from_lo_mbps) = (Vec::new(), Vec::new());
    for _ in 0..THROUGHPUT_RUNS {
        box_out_mbps.push(box_iperf(&b, &test_host).await?);
        host_out_mbps.push(host_iperf(&test_host, IPERF_PORT, false)?);
        to_box_mbps.push(host_iperf("127.0.0.1", iperf_port, false)?);
        to_lo_mbps.push(host_iperf("127.0.0.1", loopback_port, false)?);
        from_box_mbps.push(host_iperf("127.0.0.1", iperf_port, true)?);
        from_lo_mbps.push(host_iperf("127.0.0.1", loopback_port, true)?);
    }

    let published_addr = SocketAddr::from((Ipv4Addr::LOCALHOST, http_port));
    let test_host_addr = SocketAddr::from((net.addr, HTTP_PORT));
    for _ in 0..WARMUP {
        http_round_trip(published_addr)?;
        http_round_trip(test_host_addr)?;
    }
    let (mut connect_box, mut connect_host) = (Vec::with_capacity(n), Vec::with_capacity(n));
    for _ in 0..n {
        connect_box.push(http_round_trip(published_addr)?);
        connect_host.push(http_round_trip(test_host_addr)?);
    }

    // iperf3 -s never ends by itself; a kill that fails leaves it to the stop.
    let _ = server_exec.kill().await;
    let _ = tokio::time::timeout(IO_TIMEOUT, server_exec.wait()).await;
    b.stop(Duration::from_secs(5)).await?;
    rt.remove(b.id(), false)?;
    drop(net);

    let (box_out, host_out) = (Rates(box_out_mbps), Rates(host_out_mbps));
    let (to_box, from_box) = (Rates(to_box_mbps), Rates(from_box_mbps));
    let (to_lo, from_lo) = (Rates(to_lo_mbps), Rates(from_lo_mbps));
    let (connect_box, connect_host) = (Stats(connect_box), Stats(connect_host));
    println!(
        "network: iperf3 TCP, {IPERF_SECONDS} s runs, median of {THROUGHPUT_RUNS} ({version}); \
         test host = a netns over veth"
    );
    box_out.row("box -> test host");
    host_out.row("host -> test host (baseline)");
    to_box.row("host -> published port");
    to_lo.row("host -> host loopback (baseline)");
    from_box.row("published port -> host (-R)");
    from_lo.row("host loopback -R (baseline)");
    row("connect+GET, published port", &connect_box);
    row("connect+GET, test host (baseline)", &connect_host);
    let ratio = |name: &str, value: f64| println!("{name:<41}{value:.2}x");
    let throughput = |a: &Rates, b: &Rates| a.median_mbps() / b.median_mbps();
    ratio("ratio box / host -> test host", throughput(&box_out, &host_out));
    ratio("ratio host -> published / loopback", throughput(&to_box, &to_lo));
    ratio("ratio published -> host / loopback -R", throughput(&from_box, &from_lo));
    ratio(
        "ratio connect p50 published / test host",
        ms(connect_box.p50()) / ms(connect_host.p50()),
    );

    let mut doc = serde_json::Map::new();
    doc.insert("net_box_to_test_host".into(), box_out.json());
    doc.insert("net_host_to_test_host".into(), host_out.json());
    doc.insert("net_host_to_published".into(), to_box.json());
    doc.insert("net_host_to_loopback".into(), to_lo.json());
    doc.insert("net_published_to_host".into(), from_box.json());
    doc.insert("net_loopback_reverse".into(), from_lo.json());
    doc.insert("net_connect_published".into(), series(&connect_box));
    doc.insert("net_connect_test_host".into(), series(&connect_host));
    Ok(doc)
}
