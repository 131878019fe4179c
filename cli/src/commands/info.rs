//! `boxlite info`: what this host lets boxes have, wall by wall.

use std::process::ExitCode;

use boxlite_core::Runtime;

use super::images::Format;

#[derive(clap::Args)]
pub(crate) struct Args {
    /// Output format
    #[arg(long, value_enum, default_value = "table")]
    format: Format,
}

pub(crate) fn run(rt: &Runtime, args: Args) -> anyhow::Result<ExitCode> {
    let report = boxlite_core::host_report();
    match args.format {
        Format::Json => crate::out::outln!("{}", serde_json::to_string_pretty(&report)?),
        Format::Table => {
            let who = if report.rootless { "rootless" } else { "root" };
            crate::out::outln!(
                "home {}, uid {} ({who}), cgroups {}",
                rt.home_dir().display(),
                report.uid,
                report.cgroups
            );
            let rows: Vec<[String; 3]> = report
                .walls
                .iter()
                .map(|w| {
                    let enforced = if w.enforced { "yes" } else { "no" };
                    [w.name.to_string(), enforced.to_string(), w.how.clone()]
                })
                .collect();
            super::table::print(["WALL", "ENFORCED", "HOW"], &rows)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
