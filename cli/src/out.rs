//! The CLI's standard output. A reader that goes away early (`boxlite ls | head`) ends the
//! command quietly, as it ends other Unix tools, instead of a panic (Rust ignores SIGPIPE, so
//! `println!` would panic on the broken pipe).

use std::fmt;
use std::io::{self, Write};

/// Standard output was closed by its reader; `main` exits quietly with 141 (128 + SIGPIPE),
/// the status a shell shows for a tool that SIGPIPE ended.
#[derive(Debug)]
pub(crate) struct StdoutClosed;

impl fmt::Display for StdoutClosed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("standard output closed")
    }
}

impl std::error::Error for StdoutClosed {}

/// Writes one line to standard output.
pub(crate) fn line(args: fmt::Arguments<'_>) -> anyhow::Result<()> {
    let mut out = io::stdout().lock();
    match writeln!(out, "{args}") {
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Err(StdoutClosed.into()),
        other => Ok(other?),
    }
}

/// Writes `text` to standard output as it is, and flushes it (a terminal control sequence).
pub(crate) fn raw(text: &str) -> anyhow::Result<()> {
    let mut out = io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Err(StdoutClosed.into()),
        other => Ok(other?),
    }
}

/// `println!` for commands: `?`-propagates a write failure ([`StdoutClosed`] for a reader
/// that went away).
macro_rules! outln {
    ($($arg:tt)*) => {
        $crate::out::line(format_args!($($arg)*))?
    };
}
pub(crate) use outln;
