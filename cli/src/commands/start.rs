use std::process::ExitCode;

use boxlite_core::Runtime;

#[derive(clap::Args)]
pub(crate) struct Args {
    /// Box id, name or unique id prefix
    #[arg(value_name = "BOX")]
    key: String,
}

/// The box is started detached: a CLI command ends at once, the box must not end with it.
pub(crate) async fn run(rt: &Runtime, args: Args) -> anyhow::Result<ExitCode> {
    super::find(rt, &args.key)?.start_detached().await?;
    crate::out::outln!("{}", args.key);
    Ok(ExitCode::SUCCESS)
}
