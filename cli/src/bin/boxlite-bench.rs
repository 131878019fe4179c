//! `boxlite-bench`: latency and memory of boxes, next to baselines measured in the same run
//! (host fork+exec+wait, bwrap when installed), because shared machines are noisy: compare
//! the ratios, not the absolute numbers.
//!
//! Usage: boxlite-bench IMAGE [--iterations N] [--json PATH] (uses BOXLITE_SHIM /
//! BOXLITE_GUEST). `--json` also writes the series as `{name: {p50_us, p99_us, n}}`, which
//! scripts/bench-sdks.py reads to put the SDKs' figures next to the core's.

use std::path::Path;
use std::process::{Command as HostCommand, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use boxlite_core::{BoxOptions, Command, Runtime, RuntimeOptions};

/// Discarded iterations before each measured series.
const WARMUP: usize = 10;

struct Stats(Vec<Duration>);

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

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn row(name: &str, s: &Stats) {
    println!(
        "{name:<34} p50 {:>8.2} ms   p99 {:>8.2} ms   (n={})",
        ms(s.p50()),
        ms(s.p99()),
        s.0.len()
    );
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

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let image =
        args.first().context("usage: boxlite-bench IMAGE [--iterations N] [--json PATH]")?.clone();
    let json_path = match args.iter().position(|a| a == "--json") {
        Some(i) => Some(args.get(i + 1).context("--json PATH")?.clone()),
        None => None,
    };
    let n: usize = match args.iter().position(|a| a == "--iterations") {
        Some(i) => args.get(i + 1).context("--iterations N")?.parse()?,
        None => 30,
    };
    let home = tempfile::tempdir()?;
    let rt =
        Runtime::open(RuntimeOptions { home_dir: Some(home.path().into()), ..Default::default() })?;

    // Warm the image cache so "ready" measures boxes, not unpacking.
    let warm = rt.create(BoxOptions::new(image.clone()), None)?;
    warm.start().await?;
    warm.stop(Duration::from_secs(5)).await?;

    let (mut ready, mut stop) = (Vec::new(), Vec::new());
    for _ in 0..n {
        let t = Instant::now();
        let b = rt.create(BoxOptions::new(image.clone()), None)?;
        b.start().await?;
        ready.push(t.elapsed());
        let t = Instant::now();
        b.stop(Duration::from_secs(5)).await?;
        stop.push(t.elapsed());
        rt.remove(b.id(), false)?;
    }

    let b = rt.create(BoxOptions::new(image.clone()), None)?;
    b.start().await?;
    // Warm-up (discarded), for the box as for the host baseline below: first runs pay for
    // cold caches on both sides.
    for _ in 0..WARMUP {
        b.exec(Command::new(["true"])).await?.wait().await?;
    }
    let mut exec = Vec::new();
    for _ in 0..n * 3 {
        let t = Instant::now();
        let result = b.exec(Command::new(["true"])).await?.wait().await?;
        exec.push(t.elapsed());
        if result.exit_code != Some(0) {
            bail!("true exited with {result:?}");
        }
    }
    b.stop(Duration::from_secs(5)).await?;

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
    row("box ready (create+start, cached)", &Stats(ready.clone()));
    row("exec round trip of `true`", &Stats(exec.clone()));
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
    println!("target ready p50 <= 15 ms: {:.2} ms", ms(Stats(ready.clone()).p50()));
    if let Some(path) = json_path {
        let series = |s: &Stats| {
            serde_json::json!({
                "p50_us": s.p50().as_secs_f64() * 1e6,
                "p99_us": s.p99().as_secs_f64() * 1e6,
                "n": s.0.len(),
            })
        };
        let doc = serde_json::json!({
            "box_ready": series(&Stats(ready)),
            "exec_true": series(&Stats(exec)),
            "host_fork_exec": series(&host),
        });
        std::fs::write(&path, doc.to_string()).with_context(|| format!("write {path}"))?;
    }
    Ok(())
}
