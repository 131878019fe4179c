mod args;
mod cp;
mod create;
mod exec;
mod images;
mod info;
mod inspect;
mod logs;
mod ls;
mod pull;
mod rm;
mod run;
mod start;
mod stats;
mod stop;
mod table;

use std::process::ExitCode;

use boxlite_core::{LiteBox, Runtime};
use clap::Subcommand;

#[derive(Subcommand)]
pub(crate) enum Command {
    /// Create a box (status "configured") and print its id
    Create(create::Args),
    /// Create and start a box; in the foreground, stream its command and exit with its code
    Run(run::Args),
    /// Start a box (it keeps running after this command exits)
    Start(start::Args),
    /// Stop a box: SIGTERM to its processes, SIGKILL after the timeout
    Stop(stop::Args),
    /// Run a command in a box (starting it if needed) and exit with its code
    Exec(exec::Args),
    /// Copy files between the host and a box: SRC and DST are BOX:PATH, a host path, or -
    /// (a tar stream)
    Cp(cp::Args),
    /// Print a box's log (its main command's output and setup diagnostics)
    Logs(logs::Args),
    /// List boxes
    #[command(alias = "list", alias = "ps")]
    Ls(ls::Args),
    /// Show running boxes' usage (CPU, memory, network, block io, pids), refreshed every
    /// second until Ctrl-C
    Stats(stats::Args),
    /// Show one box as JSON
    Inspect(inspect::Args),
    /// Say which walls this host gives boxes (user namespace, limits, filters) and how
    Info(info::Args),
    /// Remove boxes and their files
    Rm(rm::Args),
    /// Pull an image from a registry (or load a local oci:, oci-archive:, docker-archive:)
    Pull(pull::Args),
    /// List cached images
    Images(images::ListArgs),
    /// Remove cached images
    Rmi(images::RemoveArgs),
    /// Manage images: pull, ls, rm, inspect, prune
    #[command(subcommand)]
    Image(images::ImageCommand),
}

impl Command {
    pub(crate) async fn run(self, rt: &Runtime) -> anyhow::Result<ExitCode> {
        match self {
            Command::Create(args) => create::run(rt, args),
            Command::Run(args) => run::run(rt, args).await,
            Command::Start(args) => start::run(rt, args).await,
            Command::Stop(args) => stop::run(rt, args).await,
            Command::Exec(args) => exec::run(rt, args).await,
            Command::Cp(args) => cp::run(rt, args).await,
            Command::Logs(args) => logs::run(rt, args).await,
            Command::Ls(args) => ls::run(rt, args),
            Command::Stats(args) => stats::run(rt, args).await,
            Command::Inspect(args) => inspect::run(rt, args),
            Command::Info(args) => info::run(rt, args),
            Command::Rm(args) => rm::run(rt, args),
            Command::Pull(args) => pull::run(rt, args).await,
            Command::Images(args) => images::list(rt, args),
            Command::Rmi(args) => images::remove(rt, args),
            Command::Image(command) => images::image(rt, command).await,
        }
    }
}

/// The box named by `key`, or a "no such box" error.
pub(crate) fn find(rt: &Runtime, key: &str) -> anyhow::Result<LiteBox> {
    rt.get(key)?.ok_or_else(|| anyhow::anyhow!("no such box: {key}"))
}

/// A process exit status as the shell reports it, clamped to a byte.
pub(crate) fn exit_code(code: i32) -> ExitCode {
    ExitCode::from(u8::try_from(code).unwrap_or(if code < 0 { 1 } else { 255 }))
}
