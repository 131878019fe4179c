//! The shim's diagnostics: one line each on stderr, which is the box's log file.
//!
//! Each line is formatted first and written with one `write` call: the agent appends to the same
//! file, and a line split over several writes could interleave with its output.

use std::fmt::Display;
use std::io::Write;

/// Logs `msg` for box `box_id`: `boxlite-shim: box <id>: <msg>`.
pub fn line(box_id: &str, msg: impl Display) {
    write_line(&format!("boxlite-shim: box {box_id}: {msg}\n"));
}

/// Logs `msg` before the box's id is known: `boxlite-shim: <msg>`.
pub fn bare(msg: impl Display) {
    write_line(&format!("boxlite-shim: {msg}\n"));
}

fn write_line(text: &str) {
    // A log that cannot be written (disk full, file removed) must not stop the box's supervision.
    let _ = std::io::stderr().write_all(text.as_bytes());
}
