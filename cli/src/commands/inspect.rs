use std::process::ExitCode;

use anyhow::anyhow;
use boxlite_core::Runtime;

#[derive(clap::Args)]
pub(crate) struct Args {
    /// Box id, name or unique id prefix
    #[arg(value_name = "BOX")]
    key: String,
}

pub(crate) fn run(rt: &Runtime, args: Args) -> anyhow::Result<ExitCode> {
    let info = rt.get_info(&args.key)?.ok_or_else(|| anyhow!("no such box: {}", args.key))?;
    crate::out::outln!("{}", serde_json::to_string_pretty(&info)?);
    Ok(ExitCode::SUCCESS)
}
