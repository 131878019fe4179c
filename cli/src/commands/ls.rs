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
        Format::Json => crate::out::outln!("{}", serde_json::to_string_pretty(&boxes)?),
        Format::Table => print_table(&boxes)?,
    }
    Ok(ExitCode::SUCCESS)
}

fn print_table(boxes: &[BoxInfo]) -> anyhow::Result<()> {
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
    super::table::print(["ID", "NAME", "STATUS", "IMAGE", "CREATED"], &rows)
}
