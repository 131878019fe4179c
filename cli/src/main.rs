//! `boxlite`: the command-line face of boxlite-core. Each verb lives in `commands/<verb>.rs`
//! and only turns arguments into core calls.

mod commands;
mod out;
mod stream;
mod terminal;

use std::path::PathBuf;
use std::process::ExitCode;

use boxlite_core::{ImageRegistry, Runtime, RuntimeOptions};
use clap::Parser;

/// Exit status for a failure of boxlite itself (as `docker run` uses 125), so it cannot be
/// mistaken for a boxed command's own exit code.
const EXIT_BOXLITE_ERROR: u8 = 125;

#[derive(Parser)]
#[command(name = "boxlite", version, about = "Embeddable sandbox runtime", max_term_width = 100)]
struct Cli {
    /// Home directory holding the database, images and boxes [default: ~/.boxlite]
    #[arg(long, global = true, env = "BOXLITE_HOME", value_name = "DIR")]
    home: Option<PathBuf>,

    /// Registry to search for unqualified image names, before the configured ones
    /// (repeatable; loopback hosts use plain http). Settings per registry: the home's
    /// config.json or BOXLITE_IMAGE_REGISTRIES
    #[arg(long = "registry", global = true, value_name = "HOST[:PORT]")]
    registries: Vec<String>,

    #[command(subcommand)]
    command: commands::Command,
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let image_registries = cli
        .registries
        .iter()
        .map(|host| ImageRegistry { host: host.clone(), search: true, ..Default::default() })
        .collect();
    let result = Runtime::open(RuntimeOptions {
        home_dir: cli.home,
        image_registries,
        ..Default::default()
    })
    .map_err(anyhow::Error::from);
    let result = match result {
        Ok(rt) => cli.command.run(&rt).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(code) => code,
        Err(e) if e.downcast_ref::<out::StdoutClosed>().is_some() => ExitCode::from(141),
        Err(e) => {
            report(&e);
            ExitCode::from(EXIT_BOXLITE_ERROR)
        }
    }
}

/// One line on stderr, whatever the error's chain holds. Core errors already show their cause
/// in their message: a cause whose text is there already is not repeated.
pub(crate) fn report(e: &anyhow::Error) {
    let mut text = String::new();
    for cause in e.chain() {
        let part = cause.to_string();
        if !text.contains(&part) {
            if !text.is_empty() {
                text.push_str(": ");
            }
            text.push_str(&part);
        }
    }
    eprintln!("boxlite: {}", text.replace('\n', " "));
}
