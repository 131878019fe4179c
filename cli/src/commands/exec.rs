use std::process::ExitCode;

use boxlite_core::{BoxStatus, Command, ErrorKind, Runtime};

use super::args::ProcessArgs;

use crate::stream::{follow, Attach, Ended};
use crate::terminal::RawMode;

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
    /// Run the command on a terminal in the box (with -i and a terminal here: raw mode)
    #[arg(short = 't', long)]
    tty: bool,
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
    let host_tty = args.tty.then(crate::terminal::host).flatten();
    let cmd = Command {
        env: args.process.env_pairs()?,
        working_dir: args.process.working_dir,
        user: args.process.user,
        stdin: args.interactive,
        tty: args.tty,
        tty_size: host_tty.and_then(crate::terminal::window_size),
        ..Command::new(args.argv)
    };
    let exec = match b.exec(cmd).await {
        Ok(exec) => exec,
        Err(e) => return not_started(e),
    };
    let attach = Attach { stdin: args.interactive, resize_from: host_tty };
    // Dropped on every way out of this function, restoring the terminal.
    let _raw = raw_mode(args.tty, args.interactive)?;
    match follow(exec, attach).await? {
        Ended::Finished(result) => Ok(super::exit_code(result.code())),
        Ended::Interrupted(signal) => Ok(super::exit_code(128 + signal)),
    }
}

/// A command that could not start: reported, with the status shells use when the command
/// itself is the problem; any other failure is boxlite's own.
pub(crate) fn not_started(e: boxlite_core::Error) -> anyhow::Result<ExitCode> {
    let code = match e.kind() {
        ErrorKind::CommandNotFound => EXIT_NOT_FOUND,
        ErrorKind::NotExecutable | ErrorKind::BadWorkingDir => EXIT_CANNOT_RUN,
        _ => return Err(e.into()),
    };
    crate::report(&anyhow::Error::from(e));
    Ok(ExitCode::from(code))
}

/// Raw mode for `-it` on a terminal: keystrokes, Ctrl-C included, are the box terminal's to
/// interpret. Not for `-t` alone: nothing is forwarded then, so Ctrl-C must still reach us.
pub(crate) fn raw_mode(tty: bool, interactive: bool) -> anyhow::Result<Option<RawMode>> {
    if tty && interactive && crate::terminal::stdin_is_terminal() {
        Ok(Some(RawMode::enable()?))
    } else {
        Ok(None)
    }
}
