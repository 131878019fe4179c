//! Stopping the box: SIGTERM to every process, SIGKILL after the grace, then the report.
//!
//! Three things start it — the main command exiting, the Shutdown call, SIGTERM to the agent —
//! and all go through one [`StopRequest`] channel, so the sequence runs once.

use std::time::Duration;

use boxlite_protocol::launch::GuestReport;
use tokio::sync::mpsc;

use crate::main_cmd::MainCommand;
use crate::reaper::Reaper;

/// How long to wait for processes to die after SIGKILL, and for streams to drain, before the
/// agent exits regardless.
pub const DRAIN_LIMIT: Duration = Duration::from_secs(1);

/// A request to stop the box.
#[derive(Debug)]
pub struct StopRequest {
    /// Between SIGTERM and SIGKILL.
    pub grace: Duration,
    /// For the console log.
    pub why: &'static str,
}

pub type StopTx = mpsc::UnboundedSender<StopRequest>;

/// Ends every process of the box and returns what to report. New spawns are refused from
/// here on.
pub async fn stop_box(reaper: &Reaper, main: Option<&MainCommand>, grace: Duration) -> GuestReport {
    reaper.close();
    signal_all(reaper, libc::SIGTERM);
    if !reaper.wait_no_children(grace).await {
        signal_all(reaper, libc::SIGKILL);
        reaper.wait_no_children(DRAIN_LIMIT).await;
    }
    let main_exit_code = match main {
        Some(main) => {
            let code = main.wait_exit(DRAIN_LIMIT).await.map(|status| status.code());
            // Attached clients get the whole output and the Exited event before we go.
            main.wait_finished(DRAIN_LIMIT).await;
            code
        }
        None => None,
    };
    GuestReport { main_exit_code, error: None }
}

/// As PID 1, `kill(-1)` reaches every process in the box but the agent. Otherwise (tests,
/// nested setups) only the process groups the agent created are ours to signal.
fn signal_all(reaper: &Reaper, signal: i32) {
    // SAFETY: getpid and kill have no memory-safety preconditions.
    if unsafe { libc::getpid() } == 1 {
        unsafe { libc::kill(-1, signal) };
        return;
    }
    for group in reaper.groups() {
        let _ = crate::sys::kill_group(group, signal);
    }
}
