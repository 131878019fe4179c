mod create;
mod inspect;
mod ls;
mod rm;

use std::process::ExitCode;

use boxlite_core::Runtime;
use clap::Subcommand;

#[derive(Subcommand)]
pub(crate) enum Command {
    /// Create a box (status "configured") and print its id
    Create(create::Args),
    /// List boxes
    #[command(alias = "list", alias = "ps")]
    Ls(ls::Args),
    /// Show one box as JSON
    Inspect(inspect::Args),
    /// Remove boxes and their files
    Rm(rm::Args),
}

impl Command {
    pub(crate) fn run(self, rt: &Runtime) -> anyhow::Result<ExitCode> {
        match self {
            Command::Create(args) => create::run(rt, args),
            Command::Ls(args) => ls::run(rt, args),
            Command::Inspect(args) => inspect::run(rt, args),
            Command::Rm(args) => rm::run(rt, args),
        }
    }
}
