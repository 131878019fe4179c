use std::io::Write;
use std::process::ExitCode;

use anyhow::Context;
use boxlite_core::Runtime;

#[derive(clap::Args)]
pub(crate) struct Args {
    /// Box id, name or unique id prefix
    #[arg(value_name = "BOX")]
    key: String,
}

pub(crate) fn run(rt: &Runtime, args: Args) -> anyhow::Result<ExitCode> {
    let path = super::find(rt, &args.key)?.log_path();
    let log = match std::fs::read(&path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(), // never started
        Err(e) => return Err(e).with_context(|| format!("read log {}", path.display())),
    };
    std::io::stdout().write_all(&log)?;
    Ok(ExitCode::SUCCESS)
}
