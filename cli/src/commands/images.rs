//! `boxlite images`, `rmi`, `image prune|inspect|ls|rm|pull`: the image store.

use std::process::ExitCode;

use boxlite_core::{ImageInfo, Runtime};

#[derive(Clone, Copy, clap::ValueEnum)]
pub(crate) enum Format {
    Table,
    Json,
}

#[derive(clap::Args)]
pub(crate) struct ListArgs {
    /// Output format
    #[arg(long, value_enum, default_value = "table")]
    format: Format,
}

#[derive(clap::Args)]
pub(crate) struct RemoveArgs {
    /// Remove images even when boxes use them (the boxes keep their unpacked root)
    #[arg(short, long)]
    force: bool,
    /// Image references or ids (a unique prefix of at least 12 hex digits)
    #[arg(value_name = "IMAGE", required = true)]
    references: Vec<String>,
}

#[derive(clap::Args)]
pub(crate) struct InspectArgs {
    /// Image reference or id
    #[arg(value_name = "IMAGE")]
    reference: String,
}

#[derive(clap::Subcommand)]
pub(crate) enum ImageCommand {
    /// Pull an image (same as `boxlite pull`)
    Pull(super::pull::Args),
    /// List cached images (same as `boxlite images`)
    #[command(alias = "list")]
    Ls(ListArgs),
    /// Remove images (same as `boxlite rmi`)
    Rm(RemoveArgs),
    /// Show one cached image as JSON
    Inspect(InspectArgs),
    /// Delete blobs and unpacked roots that no image or box uses
    Prune,
}

pub(crate) async fn image(rt: &Runtime, command: ImageCommand) -> anyhow::Result<ExitCode> {
    match command {
        ImageCommand::Pull(args) => super::pull::run(rt, args).await,
        ImageCommand::Ls(args) => list(rt, args),
        ImageCommand::Rm(args) => remove(rt, args),
        ImageCommand::Inspect(args) => inspect(rt, args),
        ImageCommand::Prune => prune(rt),
    }
}

pub(crate) fn list(rt: &Runtime, args: ListArgs) -> anyhow::Result<ExitCode> {
    let images = rt.images().list()?;
    match args.format {
        Format::Json => crate::out::outln!("{}", serde_json::to_string_pretty(&images)?),
        Format::Table => print_table(&images)?,
    }
    Ok(ExitCode::SUCCESS)
}

fn print_table(images: &[ImageInfo]) -> anyhow::Result<()> {
    let rows: Vec<[String; 5]> = images
        .iter()
        .map(|i| {
            [
                i.repository.clone(),
                if i.tag.is_empty() { "<none>".to_owned() } else { i.tag.clone() },
                short_id(&i.id),
                i.size.map(human_bytes).unwrap_or_default(),
                i.cached_at.clone(),
            ]
        })
        .collect();
    super::table::print(["REPOSITORY", "TAG", "IMAGE ID", "SIZE", "PULLED"], &rows)
}

/// `sha256:0123456789ab…` → `0123456789ab`, as `docker images` shows ids.
fn short_id(id: &str) -> String {
    id.strip_prefix("sha256:").unwrap_or(id).chars().take(12).collect()
}

/// Decimal units, as registries and `docker images` report sizes.
pub(crate) fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "kB", "MB", "GB", "TB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1000.0 && unit + 1 < UNITS.len() {
        value /= 1000.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// Removes each image in turn; one failure does not stop the others.
pub(crate) fn remove(rt: &Runtime, args: RemoveArgs) -> anyhow::Result<ExitCode> {
    let mut failed = false;
    for reference in &args.references {
        match rt.images().remove(reference, args.force) {
            Ok(()) => crate::out::outln!("{reference}"),
            Err(e) => {
                crate::report(&e.into());
                failed = true;
            }
        }
    }
    Ok(if failed { ExitCode::from(crate::EXIT_BOXLITE_ERROR) } else { ExitCode::SUCCESS })
}

fn inspect(rt: &Runtime, args: InspectArgs) -> anyhow::Result<ExitCode> {
    let info = rt
        .images()
        .inspect(&args.reference)?
        .ok_or_else(|| anyhow::anyhow!("no such image: {}", args.reference))?;
    crate::out::outln!("{}", serde_json::to_string_pretty(&info)?);
    Ok(ExitCode::SUCCESS)
}

fn prune(rt: &Runtime) -> anyhow::Result<ExitCode> {
    let report = rt.images().prune()?;
    crate::out::outln!(
        "removed {} blobs and {} unpacked images, {} freed",
        report.blobs_removed,
        report.rootfs_removed,
        human_bytes(report.bytes_freed)
    );
    Ok(ExitCode::SUCCESS)
}
