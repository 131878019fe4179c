use std::process::ExitCode;

use boxlite_core::Runtime;

#[derive(clap::Args)]
pub(crate) struct Args {
    /// Remove boxes even when they are active
    #[arg(short, long)]
    force: bool,
    /// Box ids, names or unique id prefixes
    #[arg(value_name = "BOX", required = true)]
    keys: Vec<String>,
}

/// Removes each box in turn; one failure does not stop the others, but makes the exit status
/// non-zero.
pub(crate) fn run(rt: &Runtime, args: Args) -> anyhow::Result<ExitCode> {
    let mut failed = false;
    for key in &args.keys {
        match rt.remove(key, args.force) {
            Ok(()) => crate::out::outln!("{key}"),
            Err(e) => {
                crate::report(&e.into());
                failed = true;
            }
        }
    }
    Ok(if failed { ExitCode::from(crate::EXIT_BOXLITE_ERROR) } else { ExitCode::SUCCESS })
}
