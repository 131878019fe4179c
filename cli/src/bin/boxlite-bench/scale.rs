//! What a home full of boxes costs: the CLI's `exec BOX true` with 1 and with many idle boxes
//! in the home (opening a home must not cost O(boxes)), and the host memory an idle box takes,
//! measured as the rise of the host's memory fields that boxes hold over boxes started by
//! separate CLI processes, as a user would start them.

use std::path::{Path, PathBuf};
use std::process::{Command as HostCommand, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use boxlite_core::{BoxOptions, Runtime, RuntimeOptions};

use crate::{ms, row, series, Stats, WARMUP};

/// Boxes in the crowded home of the open-cost series.
const CROWD: usize = 500;
/// Boxes started for the memory figure.
const MEMORY_BOXES: usize = 200;

/// The `boxlite` CLI built next to this program (scripts/bench.sh builds both).
fn cli() -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let cli = exe.with_file_name("boxlite");
    if !cli.exists() {
        bail!("{} not found: build it with `cargo build --release -p boxlite-cli`", cli.display());
    }
    Ok(cli)
}

fn run_cli(cli: &Path, home: &Path, args: &[&str]) -> anyhow::Result<String> {
    let out = HostCommand::new(cli)
        .arg("--home")
        .arg(home)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("run {} {args:?}", cli.display()))?;
    if !out.status.success() {
        bail!("boxlite {args:?}: {}: {}", out.status, String::from_utf8_lossy(&out.stderr));
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

fn time_cli_exec(cli: &Path, home: &Path, id: &str, n: usize) -> anyhow::Result<Stats> {
    for _ in 0..WARMUP {
        run_cli(cli, home, &["exec", id, "true"])?;
    }
    let mut v = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        run_cli(cli, home, &["exec", id, "true"])?;
        v.push(t.elapsed());
    }
    Ok(Stats(v))
}

/// Host memory that boxes hold, in KiB: anonymous and shared memory, unreclaimable kernel
/// slab, page tables and kernel stacks. MemTotal - MemAvailable moves with every other
/// process's page cache on a shared machine (it read 0 per box in some runs); these fields
/// are what an idle box costs and little else moves them.
fn box_memory_kib() -> anyhow::Result<i64> {
    let meminfo = std::fs::read_to_string("/proc/meminfo")?;
    let field = |name: &str| {
        meminfo
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|v| v.parse::<i64>().ok())
            .with_context(|| format!("{name} in /proc/meminfo"))
    };
    let mut total = 0;
    for name in ["AnonPages:", "Shmem:", "SUnreclaim:", "PageTables:", "KernelStack:"] {
        total += field(name)?;
    }
    Ok(total)
}

async fn open_home(home: &Path) -> anyhow::Result<Runtime> {
    Ok(Runtime::open(RuntimeOptions { home_dir: Some(home.into()), ..Default::default() })?)
}

/// Removes every box of the home, killing what runs.
fn clear(rt: &Runtime) -> anyhow::Result<()> {
    for info in rt.list_info()? {
        rt.remove(&info.id, true)?;
    }
    Ok(())
}

/// The open-cost series and the memory figure; returns their JSON series.
pub(crate) async fn run(
    image: &str,
    n: usize,
) -> anyhow::Result<serde_json::Map<String, serde_json::Value>> {
    let cli = cli()?;
    let dir = tempfile::tempdir()?;
    let home = dir.path();
    let rt = open_home(home).await?;
    let detached = || BoxOptions { detach: true, ..BoxOptions::new(image) };

    // Memory first, on an empty home: memory the crowd below frees is released lazily and
    // would inflate the starting point. Boxes started one CLI process each, as users do.
    let before = box_memory_kib()?;
    let mut ids = Vec::with_capacity(MEMORY_BOXES);
    for _ in 0..MEMORY_BOXES {
        let id = run_cli(&cli, home, &["create", image])?;
        run_cli(&cli, home, &["start", &id])?;
        ids.push(id);
    }
    let after = box_memory_kib()?;
    clear(&rt)?;
    let target = rt.create(detached(), None)?;
    target.start().await?;
    let alone = time_cli_exec(&cli, home, target.id(), n)?;
    for _ in 1..CROWD {
        rt.create(detached(), None)?.start().await?;
    }
    let crowded = time_cli_exec(&cli, home, target.id(), n)?;
    let t = Instant::now();
    let listed =
        run_cli(&cli, home, &["ls", "-a"]).map(|out| out.lines().count().saturating_sub(1));
    let ls = t.elapsed();
    clear(&rt)?;

    rt.shutdown(Duration::from_secs(5)).await?;

    println!("home with {CROWD} idle boxes (CLI, one process per call):");
    row("CLI exec `true`, 1 box in the home", &alone);
    row(&format!("CLI exec `true`, {CROWD} boxes"), &crowded);
    match listed {
        Ok(count) => println!("CLI ls of {count} boxes                  {:>8.2} ms", ms(ls)),
        Err(e) => println!("CLI ls: {e}"),
    }
    println!(
        "ratio exec p50 {CROWD} boxes / 1 box         {:.2}x (target <= 1.3x)",
        ms(crowded.p50()) / ms(alone.p50())
    );
    let per_box_kib = (after - before) / MEMORY_BOXES as i64;
    println!(
        "host memory per idle box ({MEMORY_BOXES} boxes; anon, shmem, slab, page tables, \
         stacks) {:.2} MiB (target <= 1.5 MiB)",
        per_box_kib as f64 / 1024.0
    );
    let mut doc = serde_json::Map::new();
    doc.insert("cli_exec_1_box".into(), series(&alone));
    doc.insert("cli_exec_crowded".into(), series(&crowded));
    doc.insert("idle_box_host_kib".into(), serde_json::json!(per_box_kib));
    Ok(doc)
}
