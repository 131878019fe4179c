//! The agent's last words: one [`GuestReport`] JSON line on the report descriptor, then exit.
//!
//! Kept in a process-wide slot so that any place that hits a fatal error (the reaper thread,
//! the server, startup) can end the agent with a report, and so the report is written once.

use std::fs::File;
use std::io::Write;
use std::os::fd::{FromRawFd, OwnedFd};
use std::sync::{Mutex, OnceLock, PoisonError};

use boxlite_protocol::launch::{fds, GuestReport};

static REPORT: OnceLock<Mutex<Option<File>>> = OnceLock::new();

/// Takes the report descriptor. Without it (a broken launch) reports go to stderr only.
pub fn init() {
    let file = crate::sys::is_open(fds::REPORT).then(|| {
        // SAFETY: the launch contract hands us this descriptor and nothing else owns it.
        File::from(unsafe { OwnedFd::from_raw_fd(fds::REPORT) })
    });
    if let Some(file) = &file {
        // Processes the agent spawns must not hold the shim's report pipe open.
        let _ = crate::sys::set_cloexec(std::os::fd::AsRawFd::as_raw_fd(file));
    }
    let _ = REPORT.set(Mutex::new(file));
}

/// Writes `report` (once; later calls write nothing) and exits the process with `code`.
pub fn finish(report: &GuestReport, code: i32) -> ! {
    write(report);
    std::process::exit(code)
}

/// Reports a fatal error of the agent itself and exits 1.
pub fn fail(message: &str) -> ! {
    eprintln!("boxlite-guest: fatal: {message}");
    finish(&GuestReport { main_exit_code: None, error: Some(message.to_owned()) }, 1)
}

fn write(report: &GuestReport) {
    let Some(slot) = REPORT.get() else { return };
    let mut slot = slot.lock().unwrap_or_else(PoisonError::into_inner);
    let Some(mut file) = slot.take() else { return };
    match serde_json::to_string(report) {
        Ok(mut line) => {
            line.push('\n');
            if let Err(err) = file.write_all(line.as_bytes()) {
                eprintln!("boxlite-guest: writing the report: {err}");
            }
        }
        Err(err) => eprintln!("boxlite-guest: encoding the report: {err}"),
    }
}
