use std::process::ExitCode;

use boxlite_core::{BoxInfo, Runtime};

#[derive(Clone, Copy, clap::ValueEnum)]
enum Format {
    Table,
    Json,
}

#[derive(clap::Args)]
pub(crate) struct Args {
    /// Show every box, not only active ones (starting, running, stopping)
    #[arg(short, long)]
    all: bool,
    /// Output format
    #[arg(long, value_enum, default_value = "table")]
    format: Format,
}

pub(crate) fn run(rt: &Runtime, args: Args) -> anyhow::Result<ExitCode> {
    let boxes: Vec<BoxInfo> =
        rt.list_info()?.into_iter().filter(|b| args.all || b.status.is_active()).collect();
    match args.format {
        Format::Json => println!("{}", serde_json::to_string_pretty(&boxes)?),
        Format::Table => print_table(&boxes),
    }
    Ok(ExitCode::SUCCESS)
}

fn print_table(boxes: &[BoxInfo]) {
    let rows: Vec<[String; 5]> = boxes
        .iter()
        .map(|b| {
            [
                b.id.clone(),
                b.name.clone().unwrap_or_default(),
                b.status.as_str().to_string(),
                b.image.clone(),
                b.created_at.clone(),
            ]
        })
        .collect();
    let header = ["ID", "NAME", "STATUS", "IMAGE", "CREATED"].map(String::from);
    let mut widths = header.clone().map(|h| h.len());
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    for row in std::iter::once(&header).chain(&rows) {
        let line: Vec<String> =
            row.iter().zip(widths).map(|(cell, w)| format!("{cell:<w$}")).collect();
        println!("{}", line.join("  ").trim_end());
    }
}
