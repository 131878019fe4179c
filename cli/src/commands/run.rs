use std::process::ExitCode;

use boxlite_core::{Runtime, DEFAULT_STOP_TIMEOUT};

use super::create::BoxArgs;
use crate::stream::{follow, Ended};

#[derive(clap::Args)]
pub(crate) struct Args {
    /// Start the box in the background, print its id and return
    #[arg(short, long)]
    detach: bool,
    #[command(flatten)]
    spec: BoxArgs,
}

/// Foreground: the box lives as long as this command; its main command's output is streamed
/// and its exit code becomes ours. SIGINT/SIGTERM stop the box.
pub(crate) async fn run(rt: &Runtime, args: Args) -> anyhow::Result<ExitCode> {
    let (options, name) = args.spec.into_options(args.detach)?;
    let has_main = options.cmd.is_some() || options.entrypoint.is_some();
    let b = rt.create(options, name.as_deref())?;
    if args.detach {
        b.start_detached().await?;
        println!("{}", b.id());
        return Ok(ExitCode::SUCCESS);
    }
    b.start().await?;
    let ended = if has_main {
        follow(b.attach_main().await?, false).await?
    } else {
        // No main command: the box stays up until we are told to stop.
        wait_for_signal().await?
    };
    match ended {
        Ended::Finished(result) => {
            b.wait().await.ok();
            Ok(super::exit_code(result.code()))
        }
        Ended::Interrupted(signal) => {
            rt.shutdown(DEFAULT_STOP_TIMEOUT).await?;
            Ok(super::exit_code(128 + signal))
        }
    }
}

async fn wait_for_signal() -> anyhow::Result<Ended> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut sigint = signal(SignalKind::interrupt())?;
    let mut sigterm = signal(SignalKind::terminate())?;
    Ok(tokio::select! {
        _ = sigint.recv() => Ended::Interrupted(libc::SIGINT),
        _ = sigterm.recv() => Ended::Interrupted(libc::SIGTERM),
    })
}
