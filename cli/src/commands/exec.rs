use std::process::ExitCode;

use boxlite_core::{BoxStatus, Command, ErrorKind, Runtime};

use super::args::ProcessArgs;

use crate::stream::{follow, Ended};

/// Exit statuses of a command that could not run, as shells and `docker exec` use them.
const EXIT_NOT_FOUND: u8 = 127;
const EXIT_CANNOT_RUN: u8 = 126;

#[derive(clap::Args)]
pub(crate) struct Args {
    #[command(flatten)]
    process: ProcessArgs,
    /// Forward this command's stdin
    #[arg(short = 'i', long)]
    interactive: bool,
    /// Box id, name or unique id prefix
    #[arg(value_name = "BOX")]
    key: String,
    /// Command and arguments
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, required = true)]
    argv: Vec<String>,
}

pub(crate) async fn run(rt: &Runtime, args: Args) -> anyhow::Result<ExitCode> {
    let b = super::find(rt, &args.key)?;
    if matches!(b.info()?.status, BoxStatus::Configured | BoxStatus::Stopped) {
        // A CLI command is short-lived; the box it starts must outlive it.
        b.start_detached().await?;
    }
    let cmd = Command {
        env: args.process.env_pairs()?,
        working_dir: args.process.working_dir,
        user: args.process.user,
        stdin: args.interactive,
        ..Command::new(args.argv)
    };
    let exec = match b.exec(cmd).await {
        Ok(exec) => exec,
        Err(e) if matches!(e.kind(), ErrorKind::CommandNotFound) => {
            crate::report(&anyhow::Error::from(e));
            return Ok(ExitCode::from(EXIT_NOT_FOUND));
        }
        Err(e) if matches!(e.kind(), ErrorKind::NotExecutable | ErrorKind::BadWorkingDir) => {
            crate::report(&anyhow::Error::from(e));
            return Ok(ExitCode::from(EXIT_CANNOT_RUN));
        }
        Err(e) => return Err(e.into()),
    };
    match follow(exec, args.interactive).await? {
        Ended::Finished(result) => Ok(super::exit_code(result.code())),
        Ended::Interrupted(signal) => Ok(super::exit_code(128 + signal)),
    }
}
