use std::process::ExitCode;
use std::time::Duration;

use boxlite_core::Runtime;

#[derive(clap::Args)]
pub(crate) struct Args {
    /// Seconds between SIGTERM and SIGKILL
    #[arg(short = 't', long = "time", default_value_t = 10)]
    timeout_secs: u64,
    /// Box id, name or unique id prefix
    #[arg(value_name = "BOX")]
    key: String,
}

pub(crate) async fn run(rt: &Runtime, args: Args) -> anyhow::Result<ExitCode> {
    super::find(rt, &args.key)?.stop(Duration::from_secs(args.timeout_secs)).await?;
    crate::out::outln!("{}", args.key);
    Ok(ExitCode::SUCCESS)
}
