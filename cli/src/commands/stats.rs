//! `boxlite stats`: boxes' usage, refreshed every second until Ctrl-C, as `docker stats`.

use std::process::ExitCode;
use std::time::Duration;

use boxlite_core::{BoxMetrics, BoxStatus, ErrorKind, LiteBox, Runtime};
use serde::Serialize;
use tokio::signal::unix::{signal, SignalKind};
use tokio::time::MissedTickBehavior;

use super::images::Format;

/// Time between two refreshes; each refresh's CPU % covers it.
const REFRESH: Duration = Duration::from_secs(1);

#[derive(clap::Args)]
pub(crate) struct Args {
    /// Boxes to show (id, name or id prefix) [default: every running box, listed anew at each
    /// refresh]
    #[arg(value_name = "BOX")]
    boxes: Vec<String>,
    /// Show one sample and exit (its CPU % is the average since each box started)
    #[arg(long)]
    no_stream: bool,
    /// Output format. json: one object per box and refresh, one per line; with --no-stream
    /// one array of them
    #[arg(long, value_enum, default_value = "table")]
    format: Format,
}

/// One box's line: its names and its metrics, flattened into one JSON object.
#[derive(Serialize)]
struct Sample {
    id: String,
    name: Option<String>,
    #[serde(flatten)]
    metrics: BoxMetrics,
}

pub(crate) async fn run(rt: &Runtime, args: Args) -> anyhow::Result<ExitCode> {
    if args.no_stream {
        let samples = sample(rt, &args.boxes).await?;
        match args.format {
            Format::Json => crate::out::outln!("{}", serde_json::to_string_pretty(&samples)?),
            Format::Table => print_table(&samples)?,
        }
        return Ok(ExitCode::SUCCESS);
    }
    // SAFETY: isatty only inspects the descriptor.
    let clear = matches!(args.format, Format::Table) && unsafe { libc::isatty(1) } == 1;
    let mut sigint = signal(SignalKind::interrupt())?;
    let mut sigterm = signal(SignalKind::terminate())?;
    let mut refresh = tokio::time::interval(REFRESH);
    refresh.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = sigint.recv() => return Ok(ExitCode::SUCCESS),
            _ = sigterm.recv() => return Ok(ExitCode::SUCCESS),
            _ = refresh.tick() => {}
        }
        let samples = sample(rt, &args.boxes).await?;
        match args.format {
            Format::Json => {
                for s in &samples {
                    crate::out::outln!("{}", serde_json::to_string(s)?);
                }
            }
            Format::Table => {
                if clear {
                    // Home, then erase the screen: each table replaces the last.
                    crate::out::raw("\x1b[H\x1b[2J")?;
                }
                print_table(&samples)?;
            }
        }
    }
}

/// The metrics of the boxes named by `keys`, or of every running box when there are none.
async fn sample(rt: &Runtime, keys: &[String]) -> anyhow::Result<Vec<Sample>> {
    let boxes: Vec<LiteBox> = if keys.is_empty() {
        let running = rt.list_info()?.into_iter().filter(|b| b.status == BoxStatus::Running);
        running.filter_map(|b| rt.get(&b.id).ok().flatten()).collect()
    } else {
        keys.iter().map(|key| super::find(rt, key)).collect::<anyhow::Result<_>>()?
    };
    let mut samples = Vec::with_capacity(boxes.len());
    for b in boxes {
        let metrics = match b.metrics().await {
            // Removed since it was listed: it is no longer one of "every running box".
            Err(e) if e.kind() == ErrorKind::NotFound && keys.is_empty() => continue,
            other => other?,
        };
        samples.push(Sample { id: b.id().to_string(), name: b.name().map(str::to_owned), metrics });
    }
    Ok(samples)
}

fn print_table(samples: &[Sample]) -> anyhow::Result<()> {
    let rows: Vec<[String; 8]> = samples
        .iter()
        .map(|s| {
            let m = &s.metrics;
            let memory_percent = match (m.memory_bytes, m.memory_limit_bytes) {
                (Some(used), Some(limit)) if limit > 0 => {
                    format!("{:.2}%", used as f64 / limit as f64 * 100.0)
                }
                _ => "--".to_string(),
            };
            [
                s.id.clone(),
                s.name.clone().unwrap_or_default(),
                m.cpu_percent.map_or("--".to_string(), |p| format!("{p:.2}%")),
                format!("{} / {}", size(m.memory_bytes), size(m.memory_limit_bytes)),
                memory_percent,
                format!("{} / {}", size(m.network_bytes_received), size(m.network_bytes_sent)),
                format!("{} / {}", size(m.block_read_bytes), size(m.block_write_bytes)),
                m.pids_current.map_or("--".to_string(), |p| p.to_string()),
            ]
        })
        .collect();
    super::table::print(
        ["ID", "NAME", "CPU %", "MEM USAGE / LIMIT", "MEM %", "NET I/O", "BLOCK I/O", "PIDS"],
        &rows,
    )
}

/// Bytes in binary units, as `docker stats` shows them; `--` when unknown.
fn size(bytes: Option<u64>) -> String {
    let Some(bytes) = bytes else { return "--".to_string() };
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    match unit {
        0 => format!("{bytes}B"),
        _ => format!("{value:.1}{}", UNITS[unit]),
    }
}

#[cfg(test)]
mod tests {
    use super::size;

    #[test]
    fn sizes_are_shown_in_binary_units() {
        assert_eq!(size(None), "--");
        assert_eq!(size(Some(512)), "512B");
        assert_eq!(size(Some(1536)), "1.5KiB");
        assert_eq!(size(Some(256 << 20)), "256.0MiB");
    }
}
