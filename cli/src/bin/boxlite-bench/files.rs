//! Copy throughput: `copy_in` and `copy_out` of one 256 MiB file and of 10 000 small files,
//! next to `tar -cf - | tar -xf -` between two host directories in the same run (the target is
//! at least half of that).

use std::io::Write;
use std::path::Path;
use std::process::Command as HostCommand;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use boxlite_core::{BoxOptions, Command, CopyOptions, NetworkMode, Runtime, RuntimeOptions};

use crate::{series, Stats};

const BIG_FILE_MIB: usize = 256;
const SMALL_FILES: usize = 10_000;
const SMALL_FILE_BYTES: usize = 1024;
/// Iterations at most: a series moves 256 MiB per iteration.
const MAX_ITERATIONS: usize = 5;

/// Bytes that do not compress or dedupe (xorshift), so no layer takes a shortcut.
fn write_noise(path: &Path, bytes: usize) -> anyhow::Result<()> {
    let mut out = std::io::BufWriter::new(std::fs::File::create(path)?);
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut block = vec![0u8; 1 << 20];
    for _ in 0..bytes / block.len() {
        for chunk in block.chunks_mut(8) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            chunk.copy_from_slice(&x.to_le_bytes());
        }
        out.write_all(&block)?;
    }
    out.flush()?;
    Ok(())
}

fn small_tree(root: &Path) -> anyhow::Result<()> {
    let data = vec![b'x'; SMALL_FILE_BYTES];
    for d in 0..SMALL_FILES / 100 {
        let dir = root.join(format!("d{d:03}"));
        std::fs::create_dir_all(&dir)?;
        for f in 0..100 {
            std::fs::write(dir.join(format!("f{f:03}")), &data)?;
        }
    }
    Ok(())
}

/// `tar -C SRC_PARENT -cf - NAME | tar -C DST -xf -` on the host.
fn host_tar(src_parent: &Path, name: &str, dst: &Path) -> anyhow::Result<Duration> {
    std::fs::create_dir_all(dst)?;
    let script = format!(
        "tar -C '{}' -cf - '{name}' | tar -C '{}' -xf -",
        src_parent.display(),
        dst.display()
    );
    let t = Instant::now();
    let status = HostCommand::new("sh").args(["-c", &script]).status()?;
    let took = t.elapsed();
    if !status.success() {
        bail!("{script}: {status}");
    }
    std::fs::remove_dir_all(dst)?;
    Ok(took)
}

async fn box_sh(b: &boxlite_core::LiteBox, script: &str) -> anyhow::Result<()> {
    let result = b.exec(Command::new(["sh", "-c", script])).await?.wait().await?;
    if result.exit_code != Some(0) {
        bail!("{script}: {result:?}");
    }
    Ok(())
}

fn mib_per_s(bytes: usize, d: Duration) -> f64 {
    bytes as f64 / (1 << 20) as f64 / d.as_secs_f64()
}

pub(crate) async fn run(
    image: &str,
    n: usize,
) -> anyhow::Result<serde_json::Map<String, serde_json::Value>> {
    let n = n.clamp(1, MAX_ITERATIONS);
    let work = tempfile::tempdir()?;
    let src = work.path().join("src");
    std::fs::create_dir_all(src.join("small"))?;
    write_noise(&src.join("big"), BIG_FILE_MIB << 20).context("write the 256 MiB file")?;
    small_tree(&src.join("small")).context("write the small files")?;

    let home = tempfile::tempdir()?;
    let rt =
        Runtime::open(RuntimeOptions { home_dir: Some(home.path().into()), ..Default::default() })?;
    let opts = BoxOptions {
        network: NetworkMode::Disabled,
        memory_mib: Some(2048),
        ..BoxOptions::new(image.to_owned())
    };
    let b = rt.create(opts, None)?;
    b.start().await?;

    let mut doc = serde_json::Map::new();
    println!("copy throughput: {n} iterations, box on its disk, host tar|tar in the same run");
    for (name, bytes) in [("big", BIG_FILE_MIB << 20), ("small", SMALL_FILES * SMALL_FILE_BYTES)] {
        let (mut tar, mut copy_in, mut copy_out) = (Vec::new(), Vec::new(), Vec::new());
        for i in 0..n {
            tar.push(host_tar(&src, name, &work.path().join("tar-dst"))?);

            let t = Instant::now();
            b.copy_in(src.join(name), &format!("/in{i}/"), CopyOptions::default()).await?;
            copy_in.push(t.elapsed());

            let out = work.path().join("out");
            std::fs::create_dir_all(&out)?;
            let t = Instant::now();
            b.copy_out(&format!("/in{i}/{name}"), &out, CopyOptions::default()).await?;
            copy_out.push(t.elapsed());
            std::fs::remove_dir_all(&out)?;
            box_sh(&b, &format!("rm -rf /in{i}")).await?;
        }
        let what = match name {
            "big" => "one 256 MiB file",
            _ => "10000 files of 1 KiB",
        };
        let (tar, copy_in, copy_out) = (Stats(tar), Stats(copy_in), Stats(copy_out));
        let rate = |s: &Stats| mib_per_s(bytes, s.p50());
        println!(
            "{what:<22} tar|tar {:>7.1} MiB/s   copy_in {:>7.1} MiB/s ({:.2}x)   copy_out {:>7.1} \
             MiB/s ({:.2}x)   (p50 of {n}; target >= 0.5x)",
            rate(&tar),
            rate(&copy_in),
            rate(&copy_in) / rate(&tar),
            rate(&copy_out),
            rate(&copy_out) / rate(&tar),
        );
        doc.insert(format!("copy_{name}_tar"), series(&tar));
        doc.insert(format!("copy_{name}_in"), series(&copy_in));
        doc.insert(format!("copy_{name}_out"), series(&copy_out));
    }
    b.stop(Duration::from_secs(5)).await?;
    Ok(doc)
}
