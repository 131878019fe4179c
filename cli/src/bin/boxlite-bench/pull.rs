//! Image pulls from a registry on loopback: boxlite's pull + unpack into a fresh home, then
//! again into the same home (cached), next to `skopeo copy` + `umoci unpack` of the same image
//! in the same run. Iterations alternate which side goes first, and every iteration ends with
//! a `sync()` outside the timed parts, so one side's writeback does not land in the other's
//! measurement (boxlite syncs what it unpacked; skopeo and umoci do not).
//!
//! Every home and bundle is kept until all series are done: ext4 skips inodes freed in the
//! last minute or so when it allocates new ones (`recently_deleted`), one lookup each, so
//! unpacking right after removing the previous iteration's 8000-file tree spent seconds of
//! system time in the allocator (measured with perf), for boxlite and umoci alike.

use std::collections::HashSet;
use std::io::{BufRead, BufReader};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command as HostCommand, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use boxlite_core::{ImageInfo, PullProgress, Runtime, RuntimeOptions};

use crate::{ms, row, series, Stats};

/// Discarded iterations of each side before the measured ones (first runs pay for cold page
/// and connection caches).
const WARMUP: usize = 1;
const MB: f64 = 1e6;

/// One image to pull: `--pull NAME=OCI_DIR[,iterations=N]`.
pub struct Fixture {
    pub name: String,
    pub layout: PathBuf,
    pub iterations: usize,
}

impl Fixture {
    pub fn parse(arg: &str, default_iterations: usize) -> anyhow::Result<Fixture> {
        let (name, rest) = arg
            .split_once('=')
            .with_context(|| format!("--pull {arg}: expected NAME=OCI_DIR[,iterations=N]"))?;
        let mut parts = rest.split(',');
        let layout = PathBuf::from(parts.next().unwrap_or_default());
        let mut iterations = default_iterations;
        for option in parts {
            match option.split_once('=') {
                Some(("iterations", n)) => {
                    iterations = n.parse().with_context(|| format!("--pull {arg}: iterations"))?
                }
                _ => bail!("--pull {arg}: unknown option {option:?} (only iterations=N)"),
            }
        }
        let valid_name =
            !name.is_empty() && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
        if !valid_name {
            bail!("--pull {arg}: NAME must be lowercase letters and digits (a repository name)");
        }
        if !layout.join("index.json").is_file() {
            bail!("--pull {arg}: {} is not an OCI layout (no index.json)", layout.display());
        }
        if iterations == 0 {
            bail!("--pull {arg}: iterations must be at least 1");
        }
        Ok(Fixture { name: name.to_owned(), layout, iterations })
    }

    fn repository(&self) -> String {
        format!("library/{}:latest", self.name)
    }
}

/// scripts/registry-fixture.py, serving until its stdin closes.
struct Registry {
    child: Child,
    stdin: Option<ChildStdin>,
    addr: String,
}

impl Registry {
    fn start(fixtures: &[Fixture]) -> anyhow::Result<Registry> {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/registry-fixture.py");
        let mut cmd = HostCommand::new("python3");
        cmd.arg(&script);
        for f in fixtures {
            let layout = std::fs::canonicalize(&f.layout)
                .with_context(|| format!("image layout {}", f.layout.display()))?;
            cmd.arg("--push").arg(format!("oci:{}:latest={}", layout.display(), f.repository()));
        }
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .with_context(|| format!("start {}", script.display()))?;
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().context("registry fixture stdout")?;
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).context("read the registry fixture")?;
        let mut registry = Registry { child, stdin, addr: String::new() };
        if line.trim().is_empty() {
            bail!("the registry fixture exited before it was ready (its stderr says why)");
        }
        let ready: serde_json::Value =
            serde_json::from_str(&line).with_context(|| format!("registry fixture: {line:?}"))?;
        registry.addr =
            ready["addr"].as_str().context("registry fixture: no addr in its line")?.to_owned();
        Ok(registry)
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        // EOF on stdin is the fixture's signal to stop the registry and remove its storage.
        drop(self.stdin.take());
        let _ = self.child.wait();
    }
}

/// Bytes of regular files under `root`, each hard-linked inode once.
fn tree_bytes(root: &Path) -> anyhow::Result<u64> {
    let mut seen = HashSet::new();
    let mut total = 0;
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).with_context(|| format!("list {}", dir.display()))? {
            let entry = entry?;
            let meta = entry.path().symlink_metadata()?;
            if meta.is_dir() {
                stack.push(entry.path());
            } else if meta.is_file() && seen.insert((meta.dev(), meta.ino())) {
                total += meta.len();
            }
        }
    }
    Ok(total)
}

/// User and system CPU time of this process (`RUSAGE_SELF`) or of its waited-for children
/// (`RUSAGE_CHILDREN`: skopeo and umoci), so far.
fn cpu_time(who: libc::c_int) -> (Duration, Duration) {
    // SAFETY: getrusage writes only into the struct it is given.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    if unsafe { libc::getrusage(who, &mut usage) } != 0 {
        return (Duration::ZERO, Duration::ZERO);
    }
    let tv = |t: libc::timeval| {
        Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64)
    };
    (tv(usage.ru_utime), tv(usage.ru_stime))
}

/// CPU time spent between two [`cpu_time`] readings.
fn cpu_since(who: libc::c_int, (user, sys): (Duration, Duration)) -> (Duration, Duration) {
    let (user_now, sys_now) = cpu_time(who);
    (user_now.saturating_sub(user), sys_now.saturating_sub(sys))
}

struct BoxliteRun {
    /// The home, removed when all series are done.
    home: tempfile::TempDir,
    cold: Duration,
    /// CPU time of the cold pull (user, system): the rest of `cold` was spent waiting.
    cold_cpu: (Duration, Duration),
    /// Start of the pull until its last layer byte arrived (manifest, config, layer bodies).
    receive: Duration,
    cached: Duration,
    info: ImageInfo,
    unpacked_bytes: u64,
}

async fn boxlite_once(reference: &str, measure_tree: bool) -> anyhow::Result<BoxliteRun> {
    let home = tempfile::tempdir()?;
    let rt =
        Runtime::open(RuntimeOptions { home_dir: Some(home.path().into()), ..Default::default() })?;
    // When the last layer byte arrived: the pull reports every chunk it receives.
    let last_byte: Arc<Mutex<Option<Instant>>> = Arc::default();
    let sink = last_byte.clone();
    let progress = Arc::new(move |_: &PullProgress| {
        if let Ok(mut last) = sink.lock() {
            *last = Some(Instant::now());
        }
    });
    let cpu = cpu_time(libc::RUSAGE_SELF);
    let start = Instant::now();
    let info = rt.images().pull_with_progress(reference, Some(progress)).await?;
    let cold = start.elapsed();
    let cold_cpu = cpu_since(libc::RUSAGE_SELF, cpu);
    let receive = last_byte
        .lock()
        .ok()
        .and_then(|last| *last)
        .map_or(Duration::ZERO, |last| last.duration_since(start));
    let t = Instant::now();
    let again = rt.images().pull(reference).await?;
    let cached = t.elapsed();
    if again.id != info.id {
        bail!("{reference}: the cached pull found {} instead of {}", again.id, info.id);
    }
    let unpacked_bytes = if measure_tree {
        tree_bytes(&home.path().join("images/rootfs").join(info.id.trim_start_matches("sha256:")))?
    } else {
        0
    };
    rt.shutdown(Duration::from_secs(5)).await?;
    drop(rt);
    Ok(BoxliteRun { home, cold, cold_cpu, receive, cached, info, unpacked_bytes })
}

struct BaselineRun {
    /// The skopeo layout and umoci bundle, removed when all series are done.
    dir: tempfile::TempDir,
    copy: Duration,
    unpack: Duration,
    /// CPU time of skopeo and umoci (user, system).
    cpu: (Duration, Duration),
    unpacked_bytes: u64,
}

fn run_tool(argv: &[&str]) -> anyhow::Result<Duration> {
    let t = Instant::now();
    let out = HostCommand::new(argv[0])
        .args(&argv[1..])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .with_context(|| format!("run {} (scripts/setup.sh installs it)", argv[0]))?;
    let elapsed = t.elapsed();
    if !out.status.success() {
        bail!("{argv:?} failed ({}): {}", out.status, String::from_utf8_lossy(&out.stderr).trim());
    }
    Ok(elapsed)
}

fn baseline_once(source: &str, measure_tree: bool) -> anyhow::Result<BaselineRun> {
    let dir = tempfile::tempdir()?;
    let layout = dir.path().join("oci");
    let bundle = dir.path().join("bundle");
    let (layout, bundle) = (layout.to_string_lossy(), bundle.to_string_lossy());
    let dest = format!("oci:{layout}:latest");
    let cpu = cpu_time(libc::RUSAGE_CHILDREN);
    let copy = run_tool(&["skopeo", "copy", "-q", "--src-tls-verify=false", source, &dest])?;
    let image = format!("{layout}:latest");
    let unpack = run_tool(&["umoci", "unpack", "--image", &image, &bundle])?;
    let cpu = cpu_since(libc::RUSAGE_CHILDREN, cpu);
    let unpacked_bytes =
        if measure_tree { tree_bytes(&dir.path().join("bundle/rootfs"))? } else { 0 };
    Ok(BaselineRun { dir, copy, unpack, cpu, unpacked_bytes })
}

/// Median user and system CPU time next to the median wall time: what is neither was waiting
/// (on the disk, on fsync, on the registry, or for a CPU on a loaded machine).
fn cpu_line(cpu: &[(Duration, Duration)], wall: &Stats) -> String {
    let user = Stats(cpu.iter().map(|c| c.0).collect()).p50();
    let sys = Stats(cpu.iter().map(|c| c.1).collect()).p50();
    let waiting = wall.p50().saturating_sub(user + sys);
    format!(
        "   cpu p50: user {:.0} ms, sys {:.0} ms; not on a cpu {:.0} ms",
        ms(user),
        ms(sys),
        ms(waiting)
    )
}

/// Writes back everything dirty, so the next measurement does not pay for this one's.
fn sync() {
    // SAFETY: sync() has no preconditions.
    unsafe { libc::sync() };
}

/// The layer blobs of `layout`'s only manifest, in order.
fn layer_blobs(layout: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let blob = |digest: &str| {
        let (algo, hex) = digest.split_once(':').unwrap_or(("sha256", digest));
        layout.join("blobs").join(algo).join(hex)
    };
    let read = |path: &Path| -> anyhow::Result<serde_json::Value> {
        let bytes = std::fs::read(path).with_context(|| format!("read {}", path.display()))?;
        serde_json::from_slice(&bytes).with_context(|| format!("parse {}", path.display()))
    };
    let index = read(&layout.join("index.json"))?;
    let manifest_digest = index["manifests"][0]["digest"]
        .as_str()
        .with_context(|| format!("{}: no manifest in index.json", layout.display()))?;
    let manifest = read(&blob(manifest_digest))?;
    let layers = manifest["layers"].as_array().context("manifest without layers")?;
    layers
        .iter()
        .map(|l| l["digest"].as_str().map(blob).context("layer without a digest"))
        .collect()
}

/// GNU tar extracting the layer blobs into a fresh directory: the floor set by this
/// filesystem (no fetch, no digest checks, no sync); returns the time and the directory.
fn tar_once(layers: &[PathBuf]) -> anyhow::Result<(Duration, tempfile::TempDir)> {
    let dir = tempfile::tempdir()?;
    let root = dir.path().to_string_lossy().into_owned();
    let mut total = Duration::ZERO;
    for layer in layers {
        let layer = layer.to_string_lossy();
        total += run_tool(&["tar", "-x", "-f", &layer, "-C", &root])?;
    }
    Ok((total, dir))
}

fn mb_per_s(bytes: u64, d: Duration) -> f64 {
    bytes as f64 / MB / d.as_secs_f64()
}

/// Runs every fixture; returns the JSON it adds to `--json`.
pub async fn run(
    fixtures: &[Fixture],
) -> anyhow::Result<serde_json::Map<String, serde_json::Value>> {
    let mut doc = serde_json::Map::new();
    let started = Instant::now();
    let mut kept: Vec<tempfile::TempDir> = Vec::new();
    let registry = Registry::start(fixtures)?;
    println!(
        "image pulls from a loopback registry ({}; boxlite: a fresh home each time)",
        registry.addr
    );
    for f in fixtures {
        let reference = format!("{}/{}", registry.addr, f.repository());
        let source = format!("docker://{reference}");
        let (mut cold, mut receive, mut cached) = (Vec::new(), Vec::new(), Vec::new());
        let (mut copy, mut unpack, mut pair) = (Vec::new(), Vec::new(), Vec::new());
        let (mut ours_cpu, mut theirs_cpu) = (Vec::new(), Vec::new());
        let layers = layer_blobs(&f.layout)?;
        let mut tar = Vec::new();
        let (mut info, mut ours_bytes, mut theirs_bytes) = (None, 0, 0);
        for i in 0..WARMUP + f.iterations {
            // The last iteration also sizes both unpacked trees (outside the timed parts).
            let measure = i + 1 == WARMUP + f.iterations;
            let (b, s) = if i % 2 == 0 {
                let b = boxlite_once(&reference, measure).await?;
                sync();
                (b, baseline_once(&source, measure)?)
            } else {
                let s = baseline_once(&source, measure)?;
                sync();
                (boxlite_once(&reference, measure).await?, s)
            };
            sync();
            let (tar_time, tar_dir) = tar_once(&layers)?;
            sync();
            kept.extend([b.home, s.dir, tar_dir]);
            if i < WARMUP {
                continue;
            }
            cold.push(b.cold);
            receive.push(b.receive);
            cached.push(b.cached);
            copy.push(s.copy);
            unpack.push(s.unpack);
            pair.push(s.copy + s.unpack);
            ours_cpu.push(b.cold_cpu);
            theirs_cpu.push(s.cpu);
            tar.push(tar_time);
            if measure {
                ours_bytes = b.unpacked_bytes;
                theirs_bytes = s.unpacked_bytes;
                info = Some(b.info);
            }
        }
        let info = info.context("no measured iteration")?;
        let pulled_bytes = info.size.unwrap_or(0);
        let (cold, receive, cached) = (Stats(cold), Stats(receive), Stats(cached));
        let (copy, unpack, pair) = (Stats(copy), Stats(unpack), Stats(pair));
        let rest: Vec<Duration> =
            cold.0.iter().zip(&receive.0).map(|(c, r)| c.saturating_sub(*r)).collect();
        let rest = Stats(rest);
        println!(
            "{}: {} layer(s), {:.1} MB pulled (compressed), {:.1} MB unpacked (regular files)",
            f.name,
            info.layers.len(),
            pulled_bytes as f64 / MB,
            ours_bytes as f64 / MB
        );
        let rate = |d: Duration| {
            format!(
                "{:>7.1} MB/s pulled {:>7.1} MB/s unpacked",
                mb_per_s(pulled_bytes, d),
                mb_per_s(ours_bytes, d)
            )
        };
        let label = |what: &str| format!("  {what}");
        row(&label("boxlite pull+unpack, fresh home"), &cold);
        println!("{:<36} at p50: {}", "", rate(cold.p50()));
        println!("{:<36} {}", "", cpu_line(&ours_cpu, &cold));
        row(&label("  to the last layer byte"), &receive);
        row(&label("  store + verify + unpack + sync"), &rest);
        row(&label("boxlite pull again (same home)"), &cached);
        row(&label("skopeo copy + umoci unpack"), &pair);
        println!("{:<36} at p50: {}", "", rate(pair.p50()));
        println!("{:<36} {}", "", cpu_line(&theirs_cpu, &pair));
        row(&label("  skopeo copy"), &copy);
        row(&label("  umoci unpack"), &unpack);
        if ours_bytes != theirs_bytes {
            println!(
                "  note: boxlite unpacked {ours_bytes} bytes of regular files, umoci {theirs_bytes}"
            );
        }
        let tar = Stats(tar);
        row(&label("host tar -xf of the layer(s)"), &tar);
        println!("{:<36} (the filesystem's floor: no fetch, digest checks or sync)", "");
        let ratio = ms(cold.p50()) / ms(pair.p50());
        println!("  ratio boxlite / (skopeo+umoci) p50      {ratio:.2}x (target < 1x)");
        doc.insert(format!("pull_{}", f.name), series(&cold));
        doc.insert(format!("pull_{}_receive", f.name), series(&receive));
        doc.insert(format!("pull_{}_cached", f.name), series(&cached));
        doc.insert(format!("skopeo_umoci_{}", f.name), series(&pair));
        doc.insert(format!("skopeo_copy_{}", f.name), series(&copy));
        doc.insert(format!("umoci_unpack_{}", f.name), series(&unpack));
        doc.insert(format!("tar_extract_{}", f.name), series(&tar));
        doc.insert(
            format!("pull_{}_sizes", f.name),
            serde_json::json!({
                "pulled_bytes": pulled_bytes,
                "unpacked_bytes": ours_bytes,
                "umoci_unpacked_bytes": theirs_bytes,
                "layers": info.layers.len(),
                "ratio_p50": ratio,
            }),
        );
    }
    drop(registry);
    let measured = started.elapsed();
    let removing = Instant::now();
    drop(kept);
    let removed = removing.elapsed();
    if let Some(busybox) = doc.get("pull_busybox") {
        let p50_ms = busybox["p50_us"].as_f64().unwrap_or(f64::NAN) / 1e3;
        println!("target busybox pull+unpack p50 <= 100 ms: {p50_ms:.2} ms");
    }
    println!(
        "(image pulls took {:.0} s, then {:.0} s to remove their homes and bundles)",
        measured.as_secs_f64(),
        removed.as_secs_f64()
    );
    Ok(doc)
}
