use std::io::Write;
use std::process::ExitCode;

use boxlite_core::{LogOptions, Runtime};

#[derive(clap::Args)]
pub(crate) struct Args {
    /// Print only the last N lines
    #[arg(short = 'n', long = "tail", value_name = "N")]
    tail: Option<usize>,
    /// Keep printing what the box writes until it stops
    #[arg(short = 'f', long)]
    follow: bool,
    /// Box id, name or unique id prefix
    #[arg(value_name = "BOX")]
    key: String,
}

/// Streams the log chunk by chunk: it is never loaded whole, however large its bound.
pub(crate) async fn run(rt: &Runtime, args: Args) -> anyhow::Result<ExitCode> {
    let id = super::find(rt, &args.key)?.id().to_string();
    let mut log = rt.logs(&id, LogOptions { tail_lines: args.tail, follow: args.follow })?;
    let mut stdout = std::io::stdout().lock();
    let written = async {
        while let Some(chunk) = log.next_chunk().await? {
            stdout.write_all(&chunk)?;
            // A follower sees each line as the box writes it, not when a buffer fills.
            if args.follow {
                stdout.flush()?;
            }
        }
        stdout.flush()?;
        anyhow::Ok(())
    };
    match written.await {
        // The reader is gone (`logs BOX | head`): as for any filter, that is the end.
        Err(e)
            if e.downcast_ref::<std::io::Error>().map(std::io::Error::kind)
                == Some(std::io::ErrorKind::BrokenPipe) =>
        {
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => Err(e),
        Ok(()) => Ok(ExitCode::SUCCESS),
    }
}
