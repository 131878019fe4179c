//! `boxlite-bench`: latency and memory of boxes, next to baselines measured in the same run
//! (host fork+exec+wait, bwrap when installed), because shared machines are noisy: compare
//! the ratios, not the absolute numbers.
//!
//! Usage: boxlite-bench [IMAGE] [--iterations N] [--json PATH] [--no-boxes] [--no-scale]
//!                      [--iperf-image IMAGE] [--no-net] [--only-net]
//!                      [--no-files] [--pull NAME=OCI_DIR[,iterations=N]]...
//! (boxes use BOXLITE_SHIM / BOXLITE_GUEST). `--json` also writes the series as
//! `{name: {p50_us, p99_us, n}}`, which scripts/bench-sdks.py reads to put the SDKs' figures
//! next to the core's. Each `--pull` serves the layout from a loopback registry as
//! `library/NAME:latest` and times pulling it (pull.rs); `--no-boxes` runs only those. The
//! scale series (scale.rs: CLI exec with 1 and 500 boxes in the home, host memory per idle
//! box) need the `boxlite` CLI built next to this program; `--no-scale` skips them. The
//! network series (net.rs: iperf3 throughput box -> test netns and host <-> published port,
//! connection setup to a published port, each with a host baseline) need root (`ip netns`)
//! and an image with iperf3 (`--iperf-image`, from scripts/make-iperf-image.sh); `--no-net`
//! skips them, `--only-net` runs them without the box and scale series. The copy series
//! (files.rs: copy_in / copy_out of a 256 MiB file and of 10 000 small files next to a host
//! `tar | tar`) run with the box series; `--no-files` skips them.

use std::path::Path;
use std::process::{Command as HostCommand, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use boxlite_core::{BoxOptions, Command, NetworkMode, Runtime, RuntimeOptions, UsernsMode};

mod files;
mod net;
mod pull;
mod scale;

/// Discarded iterations before each measured series.
const WARMUP: usize = 10;

pub(crate) struct Stats(pub(crate) Vec<Duration>);

impl Stats {
    fn pct(&self, p: f64) -> Duration {
        let mut v = self.0.clone();
        v.sort();
        v[((v.len() - 1) as f64 * p).round() as usize]
    }
    fn p50(&self) -> Duration {
        self.pct(0.50)
    }
    fn p99(&self) -> Duration {
        self.pct(0.99)
    }
}

pub(crate) fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

pub(crate) fn row(name: &str, s: &Stats) {
    println!(
        "{name:<34} p50 {:>8.2} ms   p99 {:>8.2} ms   (n={})",
        ms(s.p50()),
        ms(s.p99()),
        s.0.len()
    );
}

pub(crate) fn series(s: &Stats) -> serde_json::Value {
    serde_json::json!({
        "p50_us": s.p50().as_secs_f64() * 1e6,
        "p99_us": s.p99().as_secs_f64() * 1e6,
        "n": s.0.len(),
    })
}

fn time_host(argv: &[&str], n: usize) -> anyhow::Result<Stats> {
    let mut v = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        let status = HostCommand::new(argv[0]).args(&argv[1..]).stdout(Stdio::null()).status()?;
        v.push(t.elapsed());
        if !status.success() {
            bail!("{argv:?} failed: {status}");
        }
    }
    Ok(Stats(v))
}

/// PSS in KiB of `pid` and all its descendants.
fn tree_pss_kib(pid: u32) -> u64 {
    let mut total = 0;
    let mut stack = vec![pid];
    while let Some(p) = stack.pop() {
        let rollup = std::fs::read_to_string(format!("/proc/{p}/smaps_rollup")).unwrap_or_default();
        total += rollup
            .lines()
            .find_map(|l| l.strip_prefix("Pss:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .unwrap_or(0);
        let children =
            std::fs::read_to_string(format!("/proc/{p}/task/{p}/children")).unwrap_or_default();
        stack.extend(children.split_whitespace().filter_map(|c| c.parse::<u32>().ok()));
    }
    total
}

const USAGE: &str =
    "usage: boxlite-bench [IMAGE] [--iterations N] [--json PATH] [--no-boxes] [--no-scale] \
                     [--iperf-image IMAGE] [--no-net] [--only-net] [--no-files] \
                     [--pull NAME=OCI_DIR[,iterations=N]]...";

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let (mut image, mut json_path, mut n, mut boxes) = (None, None, 30usize, true);
    let mut pull_args = Vec::new();
    let (mut scale, mut net, mut iperf_image, mut files) = (true, true, None, true);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--json" => json_path = Some(args.next().context("--json PATH")?),
            "--iterations" => n = args.next().context("--iterations N")?.parse()?,
            "--no-boxes" => (boxes, net) = (false, false),
            "--no-scale" => scale = false,
            "--iperf-image" => iperf_image = Some(args.next().context("--iperf-image IMAGE")?),
            "--no-net" => net = false,
            "--no-files" => files = false,
            "--only-net" => (boxes, scale, files) = (false, false, false),
            "--pull" => pull_args.push(args.next().context("--pull NAME=OCI_DIR")?),
            flag if flag.starts_with("--") => bail!("unknown option {flag}; {USAGE}"),
            _ if image.is_none() => image = Some(arg),
            _ => bail!("unexpected argument {arg:?}; {USAGE}"),
        }
    }
    let fixtures: Vec<pull::Fixture> =
        pull_args.iter().map(|a| pull::Fixture::parse(a, n)).collect::<Result<_, _>>()?;
    let mut doc = serde_json::Map::new();
    if boxes {
        let image = image.context(USAGE)?;
        doc = bench_boxes(&image, n).await?;
        if files {
            println!();
            doc.extend(files::run(&image, n).await?);
        }
        if scale {
            println!();
            doc.extend(scale::run(&image, n).await?);
        }
    }
    if net {
        if boxes {
            println!();
        }
        match &iperf_image {
            Some(iperf_image) => doc.extend(net::run(iperf_image, n).await?),
            None => println!("network: skipped (no --iperf-image; scripts/make-iperf-image.sh)"),
        }
    }
    if !fixtures.is_empty() {
        if boxes || net {
            println!();
        }
        doc.extend(pull::run(&fixtures).await?);
    }
    if let Some(path) = json_path {
        std::fs::write(&path, serde_json::Value::Object(doc).to_string())
            .with_context(|| format!("write {path}"))?;
    }
    Ok(())
}

/// Box latencies and memory, with the host baselines; returns their JSON series.
async fn bench_boxes(
    image: &str,
    n: usize,
) -> anyhow::Result<serde_json::Map<String, serde_json::Value>> {
    let image = image.to_owned();
    let home = tempfile::tempdir()?;
    let rt =
        Runtime::open(RuntimeOptions { home_dir: Some(home.path().into()), ..Default::default() })?;

    // Warm the image cache so "ready" measures boxes, not unpacking.
    let warm = rt.create(BoxOptions::new(image.clone()), None)?;
    warm.start().await?;
    warm.stop(Duration::from_secs(5)).await?;

    // Boxes with their own user namespace (the default), boxes in the host's, both loopback
    // only, and boxes with a network (the default), alternated so that all see the same
    // machine: the differences are what the user namespace and the network cost.
    let with_userns = |userns| BoxOptions {
        userns,
        network: NetworkMode::Disabled,
        ..BoxOptions::new(image.clone())
    };
    let with_network =
        || BoxOptions { network: NetworkMode::Enabled, ..BoxOptions::new(image.clone()) };
    let (mut ready, mut ready_host_userns, mut stop) = (Vec::new(), Vec::new(), Vec::new());
    let mut ready_network = Vec::new();
    for _ in 0..n {
        for variant in 0..3 {
            let t = Instant::now();
            let b = match variant {
                0 => rt.create(with_userns(UsernsMode::Private), None)?,
                1 => rt.create(with_userns(UsernsMode::Host), None)?,
                _ => rt.create(with_network(), None)?,
            };
            b.start().await?;
            [&mut ready, &mut ready_host_userns, &mut ready_network][variant].push(t.elapsed());
            let t = Instant::now();
            b.stop(Duration::from_secs(5)).await?;
            if variant == 0 {
                stop.push(t.elapsed());
            }
            rt.remove(b.id(), false)?;
        }
    }

    let b = rt.create(with_userns(UsernsMode::Private), None)?;
    b.start().await?;
    let b_host = rt.create(with_userns(UsernsMode::Host), None)?;
    b_host.start().await?;
    // Warm-up (discarded), for the box as for the host baseline below: first runs pay for
    // cold caches on both sides.
    for _ in 0..WARMUP {
        b.exec(Command::new(["true"])).await?.wait().await?;
        b_host.exec(Command::new(["true"])).await?.wait().await?;
    }
    let (mut exec, mut exec_host_userns) = (Vec::new(), Vec::new());
    for _ in 0..n * 3 {
        for (bx, times) in [(&b, &mut exec), (&b_host, &mut exec_host_userns)] {
            let t = Instant::now();
            let result = bx.exec(Command::new(["true"])).await?.wait().await?;
            times.push(t.elapsed());
            if result.exit_code != Some(0) {
                bail!("true exited with {result:?}");
            }
        }
    }
    b.stop(Duration::from_secs(5)).await?;
    b_host.stop(Duration::from_secs(5)).await?;

    // Memory: several idle boxes at once, PSS of each box's shim and everything under it.
    let idle: Vec<_> = (0..5)
        .map(|_| rt.create(BoxOptions::new(image.clone()), None))
        .collect::<Result<_, _>>()?;
    for b in &idle {
        b.start().await?;
    }
    let pss: Vec<u64> =
        idle.iter().map(|b| b.info().ok().and_then(|i| i.pid).map_or(0, tree_pss_kib)).collect();
    rt.shutdown(Duration::from_secs(5)).await?;

    time_host(&["/bin/true"], WARMUP)?;
    let host = time_host(&["/bin/true"], n * 3)?;
    let bwrap = Path::new("/usr/bin/bwrap").exists().then(|| {
        time_host(
            &[
                "bwrap",
                "--ro-bind",
                "/",
                "/",
                "--dev",
                "/dev",
                "--proc",
                "/proc",
                "--unshare-all",
                "/bin/true",
            ],
            n,
        )
    });

    println!("boxlite-bench: {n} iterations, image {image}");
    row("box ready, loopback only (cached)", &Stats(ready.clone()));
    row("box ready, userns host (no user namespace)", &Stats(ready_host_userns.clone()));
    row("box ready, network enabled", &Stats(ready_network.clone()));
    row("exec round trip of `true`", &Stats(exec.clone()));
    row("exec round trip, userns host", &Stats(exec_host_userns.clone()));
    row("stop", &Stats(stop));
    row("host fork+exec+wait of /bin/true", &host);
    let bwrap = match bwrap {
        Some(Ok(s)) => {
            row("bwrap --unshare-all /bin/true", &s);
            Some(s)
        }
        _ => {
            println!("bwrap: not installed (apt-get install bubblewrap)");
            None
        }
    };
    let avg_pss_mib = pss.iter().sum::<u64>() as f64 / pss.len().max(1) as f64 / 1024.0;
    println!("memory per idle box (PSS, shim + agent) {avg_pss_mib:.2} MiB   (boxes: {pss:?} KiB)");
    println!(
        "ratio exec p50 / host fork+exec p50      {:.2}x (target <= 2x)",
        ms(Stats(exec.clone()).p50()) / ms(host.p50())
    );
    if let Some(bw) = bwrap {
        println!(
            "ratio ready p50 / bwrap p50              {:.2}x",
            ms(Stats(ready.clone()).p50()) / ms(bw.p50())
        );
    }
    println!(
        "ratio ready p50 / userns host p50        {:.2}x (the user namespace's cost)",
        ms(Stats(ready.clone()).p50()) / ms(Stats(ready_host_userns).p50())
    );
    println!(
        "ratio exec p50 / userns host p50         {:.2}x",
        ms(Stats(exec.clone()).p50()) / ms(Stats(exec_host_userns).p50())
    );
    println!(
        "network enabled - disabled, ready p50    {:+.2} ms (target <= +3 ms)",
        ms(Stats(ready_network).p50()) - ms(Stats(ready.clone()).p50())
    );
    println!("target ready p50 <= 10 ms: {:.2} ms", ms(Stats(ready.clone()).p50()));
    let mut doc = serde_json::Map::new();
    doc.insert("box_ready".into(), series(&Stats(ready)));
    doc.insert("exec_true".into(), series(&Stats(exec)));
    doc.insert("host_fork_exec".into(), series(&host));
    Ok(doc)
}
