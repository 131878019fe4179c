//! The box's log: the shim's diagnostics and the box's console output, written through one
//! bounded [`BoxLog`].
//!
//! Until the spec is read there is no bound to apply and lines go to stderr (the file the
//! host opened); from [`start`] on everything goes through the bounded log. The box's PID 1,
//! a copy of the shim until it executes the agent, must not write the shim's copy of the log
//! (two writers would each count only their own bytes): its lines go into the console pipe,
//! which the shim copies into the log like any other output of the box.
//!
//! Each line is formatted first and written with one call, so it never interleaves with other
//! output.

use std::fmt::Display;
use std::io::Write;
use std::os::fd::RawFd;
use std::sync::{Mutex, MutexGuard, TryLockError};

use crate::boxlog::BoxLog;

struct Sink {
    log: BoxLog,
    /// The shim's pid: any other process is a clone of it.
    owner: u32,
    /// Where clones write their lines: the console pipe's write end.
    clone_fd: Option<RawFd>,
}

static SINK: Mutex<Option<Sink>> = Mutex::new(None);

/// Logs `msg` for box `box_id`: `boxlite-shim: box <id>: <msg>`.
pub fn line(box_id: &str, msg: impl Display) {
    write_line(&format!("boxlite-shim: box {box_id}: {msg}\n"));
}

/// Logs `msg` before the box's id is known: `boxlite-shim: <msg>`.
pub fn bare(msg: impl Display) {
    write_line(&format!("boxlite-shim: {msg}\n"));
}

/// From now on, lines (and panics) go to `log`.
pub fn start(log: BoxLog) {
    if let Some(mut sink) = sink() {
        *sink = Some(Sink { log, owner: std::process::id(), clone_fd: None });
    }
    std::panic::set_hook(Box::new(|info| bare(info)));
}

/// Processes cloned from the shim from now on write their lines to `fd` (which stays open in
/// them until they execute).
pub fn route_clones_to(fd: RawFd) {
    if let Some(mut sink) = sink() {
        if let Some(sink) = sink.as_mut() {
            sink.clone_fd = Some(fd);
        }
    }
}

/// Appends what the box wrote on its console; dropped when there is no log to bound it.
pub fn console(bytes: &[u8]) {
    if let Some(mut sink) = sink() {
        if let Some(sink) = sink.as_mut() {
            // A log that cannot be written (disk full) must not stop the box's supervision;
            // the box's output is dropped rather than left to fill the pipe.
            let _ = sink.log.write(bytes);
        }
    }
}

fn write_line(text: &str) {
    if let Some(mut sink) = sink() {
        match sink.as_mut() {
            Some(sink) if sink.owner == std::process::id() => {
                let _ = sink.log.write(text.as_bytes());
                return;
            }
            Some(Sink { clone_fd: Some(fd), .. }) => {
                // SAFETY: writes a buffer we own to a descriptor number that is open in this
                // clone until it executes; a failure is not actionable.
                unsafe { libc::write(*fd, text.as_ptr().cast(), text.len()) };
                return;
            }
            _ => {}
        }
    }
    // A log that cannot be written (disk full, file removed) must not stop the box's supervision.
    let _ = std::io::stderr().write_all(text.as_bytes());
}

/// The sink, unless it is in use: the shim has one thread, so "in use" means a panic while
/// writing the log, which must still be able to say so (on stderr). A panic that left the
/// lock poisoned did not leave the writer inconsistent: its counts follow the file.
fn sink() -> Option<MutexGuard<'static, Option<Sink>>> {
    match SINK.try_lock() {
        Ok(guard) => Some(guard),
        Err(TryLockError::Poisoned(poisoned)) => Some(poisoned.into_inner()),
        Err(TryLockError::WouldBlock) => None,
    }
}
