use std::process::ExitCode;

use boxlite_core::{Command, LiteBox, Runtime, DEFAULT_STOP_TIMEOUT};

use super::create::BoxArgs;
use crate::stream::{follow, Attach, Ended};

#[derive(clap::Args)]
pub(crate) struct Args {
    /// Start the box in the background, print its id and return
    #[arg(short, long)]
    detach: bool,
    /// Forward this command's stdin to the box's command (needs -t)
    #[arg(short = 'i', long)]
    interactive: bool,
    /// Run the command on a terminal in the box (with -i and a terminal here: raw mode)
    #[arg(short = 't', long)]
    tty: bool,
    #[command(flatten)]
    spec: BoxArgs,
}

/// Foreground: the box lives as long as this command; its main command's output is streamed
/// and its exit code becomes ours. SIGINT/SIGTERM stop the box.
pub(crate) async fn run(rt: &Runtime, args: Args) -> anyhow::Result<ExitCode> {
    if args.tty && args.detach {
        anyhow::bail!(
            "run: -t attaches the command to this terminal, so it cannot be used with -d"
        );
    }
    if args.interactive && !args.tty {
        anyhow::bail!(
            "run: -i needs -t (a box's main command has no stdin; -it runs it on a terminal)"
        );
    }
    let (mut options, name) = args.spec.into_options(args.detach)?;
    let warnings = options.warnings();
    if args.tty {
        // The command becomes a terminal exec in a box without a main command, since a main
        // command runs on pipes; the box stops when it exits, as a foreground run does.
        let argv: Vec<String> = options
            .entrypoint
            .take()
            .into_iter()
            .flatten()
            .chain(options.cmd.take().into_iter().flatten())
            .collect();
        if argv.is_empty() {
            anyhow::bail!("run: -t needs a command (IMAGE CMD…)");
        }
        let b = rt.create(options, name.as_deref())?;
        super::create::warn(&warnings);
        b.start().await?;
        return run_on_terminal(rt, &b, argv, args.interactive).await;
    }
    let has_main = options.cmd.is_some() || options.entrypoint.is_some();
    let b = rt.create(options, name.as_deref())?;
    super::create::warn(&warnings);
    if args.detach {
        b.start_detached().await?;
        crate::out::outln!("{}", b.id());
        return Ok(ExitCode::SUCCESS);
    }
    b.start().await?;
    let ended = if has_main {
        follow(b.attach_main().await?, Attach::default()).await?
    } else {
        // No main command: the box stays up until we are told to stop.
        wait_for_signal().await?
    };
    match ended {
        Ended::Finished(result) => {
            // The command's code stands; what went wrong after it (recording the box's
            // exit, removing it with --rm) is said, not swallowed. A box --rm removed is
            // gone as asked.
            match b.wait().await {
                Err(e) if e.kind() != boxlite_core::ErrorKind::NotFound => crate::report(&e.into()),
                _ => {}
            }
            Ok(super::exit_code(result.code()))
        }
        Ended::Interrupted(signal) => {
            rt.shutdown(DEFAULT_STOP_TIMEOUT).await?;
            Ok(super::exit_code(128 + signal))
        }
    }
}

/// `run -t`: the command on a terminal in `b`, then the box stopped (and removed with --rm).
async fn run_on_terminal(
    rt: &Runtime,
    b: &LiteBox,
    argv: Vec<String>,
    interactive: bool,
) -> anyhow::Result<ExitCode> {
    let host_tty = crate::terminal::host();
    let cmd = Command {
        stdin: interactive,
        tty: true,
        tty_size: host_tty.and_then(crate::terminal::window_size),
        ..Command::new(argv)
    };
    let exec = match b.exec(cmd).await {
        Ok(exec) => exec,
        Err(e) => {
            b.stop(DEFAULT_STOP_TIMEOUT).await?;
            return super::exec::not_started(e);
        }
    };
    let ended = {
        let _raw = super::exec::raw_mode(true, interactive)?;
        follow(exec, Attach { stdin: interactive, resize_from: host_tty }).await?
    };
    match ended {
        Ended::Finished(result) => {
            b.stop(DEFAULT_STOP_TIMEOUT).await?;
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
