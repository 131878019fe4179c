//! `boxlite pull REF`: a progress bar per layer on a terminal, one line per finished layer
//! otherwise; the image's id on stdout at the end.

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use boxlite_core::{PullProgress, Runtime};

use super::images::human_bytes;

#[derive(clap::Args)]
pub(crate) struct Args {
    /// Print only the image id
    #[arg(short, long)]
    quiet: bool,
    /// Image reference: `alpine`, `ghcr.io/org/tool:v1`, `repo@sha256:…`, `oci:DIR[:TAG]`,
    /// `oci-archive:FILE[:TAG]`, `docker-archive:FILE[:REF]`
    #[arg(value_name = "IMAGE")]
    reference: String,
}

/// Redraws at most this often: a fast loopback pull sends thousands of events.
const REDRAW_EVERY: Duration = Duration::from_millis(100);
const BAR_WIDTH: usize = 30;

pub(crate) async fn run(rt: &Runtime, args: Args) -> anyhow::Result<ExitCode> {
    let display = (!args.quiet).then(|| Arc::new(Mutex::new(Display::new())));
    let progress = display.clone().map(|d| {
        Arc::new(move |event: &PullProgress| {
            d.lock().unwrap_or_else(|p| p.into_inner()).update(event);
        }) as boxlite_core::ProgressFn
    });
    let result = rt.images().pull_with_progress(&args.reference, progress).await;
    if let Some(d) = &display {
        d.lock().unwrap_or_else(|p| p.into_inner()).finish();
    }
    let info = result?;
    if args.quiet {
        crate::out::outln!("{}", info.id);
    } else {
        crate::out::outln!("{} {}", info.reference, info.id);
    }
    Ok(ExitCode::SUCCESS)
}

struct Layer {
    index: usize,
    layers: usize,
    downloaded: u64,
    total: u64,
    cached: bool,
    reported: bool,
}

impl Layer {
    fn done(&self) -> bool {
        self.cached || self.downloaded >= self.total
    }
}

/// Layer states, drawn to stderr: in place on a terminal, as plain lines otherwise.
struct Display {
    terminal: bool,
    layers: BTreeMap<String, Layer>,
    drawn_lines: usize,
    last_draw: Option<Instant>,
}

impl Display {
    fn new() -> Self {
        Display {
            terminal: std::io::stderr().is_terminal(),
            layers: BTreeMap::new(),
            drawn_lines: 0,
            last_draw: None,
        }
    }

    fn update(&mut self, event: &PullProgress) {
        let layer = self.layers.entry(event.layer.clone()).or_insert(Layer {
            index: event.index,
            layers: event.layers,
            downloaded: 0,
            total: event.total_bytes,
            cached: false,
            reported: false,
        });
        layer.downloaded = event.downloaded_bytes;
        layer.cached = event.cached;
        let finished = layer.done();
        if self.terminal {
            let due = self.last_draw.is_none_or(|t| t.elapsed() >= REDRAW_EVERY);
            if due || finished {
                self.draw();
            }
        } else {
            self.report_finished();
        }
    }

    fn finish(&mut self) {
        if self.terminal {
            self.draw();
        } else {
            self.report_finished();
        }
    }

    /// Plain output: one line per layer once it is complete.
    fn report_finished(&mut self) {
        let mut err = std::io::stderr().lock();
        let mut ordered: Vec<(&String, &mut Layer)> = self.layers.iter_mut().collect();
        ordered.sort_by_key(|(_, l)| l.index);
        for (digest, layer) in ordered {
            if layer.done() && !layer.reported {
                layer.reported = true;
                let state = if layer.cached { "already present" } else { "pulled" };
                let _ = writeln!(
                    err,
                    "layer {}/{} {} {} ({})",
                    layer.index,
                    layer.layers,
                    short(digest),
                    state,
                    human_bytes(layer.total)
                );
            }
        }
    }

    /// Terminal output: redraws every layer's bar in place.
    fn draw(&mut self) {
        let mut err = std::io::stderr().lock();
        if self.drawn_lines > 0 {
            // Back to the first line drawn last time.
            let _ = write!(err, "\x1b[{}F", self.drawn_lines);
        }
        let mut ordered: Vec<(&String, &Layer)> = self.layers.iter().collect();
        ordered.sort_by_key(|(_, l)| l.index);
        for (digest, layer) in &ordered {
            let fraction = if layer.total == 0 {
                1.0
            } else {
                (layer.downloaded as f64 / layer.total as f64).min(1.0)
            };
            let filled = (fraction * BAR_WIDTH as f64).round() as usize;
            let bar = format!("{}{}", "=".repeat(filled), " ".repeat(BAR_WIDTH - filled));
            let state = if layer.cached {
                "already present".to_owned()
            } else {
                format!("{} / {}", human_bytes(layer.downloaded), human_bytes(layer.total))
            };
            let _ = writeln!(err, "\x1b[2K{}  [{bar}]  {state}", short(digest));
        }
        let _ = err.flush();
        self.drawn_lines = ordered.len();
        self.last_draw = Some(Instant::now());
    }
}

fn short(digest: &str) -> &str {
    let hex = digest.strip_prefix("sha256:").unwrap_or(digest);
    &hex[..hex.len().min(12)]
}
