//! The box's last word: how the agent ended and why, written atomically for the host.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use boxlite_protocol::launch::{ExitRecord, GuestReport};

use crate::error::{Step, StepError};

/// How the agent process ended, from `waitpid`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AgentEnd {
    /// It exited with this status.
    Exited(i32),
    /// A signal killed it.
    Signaled(i32),
    /// Its status could not be collected (should not happen: it is the shim's only child).
    Lost(String),
}

impl AgentEnd {
    /// The `agent_status` text.
    pub fn describe(&self) -> String {
        match self {
            AgentEnd::Exited(code) => format!("exited with status {code}"),
            AgentEnd::Signaled(sig) => format!("killed by signal {sig}"),
            AgentEnd::Lost(why) => format!("unknown ({why})"),
        }
    }
}

/// Builds the record for an agent that ran. `report` is everything read from the report pipe;
/// `forced_kill` is the wait after which the shim had to SIGKILL an agent that ignored SIGTERM.
pub fn decide(end: &AgentEnd, report: &[u8], forced_kill: Option<Duration>) -> ExitRecord {
    let (report, report_problem) = match parse_report(report) {
        Ok(report) => (report, None),
        Err(problem) => (None, Some(problem)),
    };
    let reported_error = report.as_ref().and_then(|r| r.error.clone());
    let error = reported_error.or_else(|| match (end, forced_kill) {
        (_, Some(waited)) => Some(format!(
            "guest agent did not exit within {} ms of SIGTERM; killed by signal {}",
            waited.as_millis(),
            libc::SIGKILL
        )),
        (AgentEnd::Signaled(sig), None) => Some(format!("guest agent killed by signal {sig}")),
        (AgentEnd::Lost(why), None) => Some(format!("guest agent status unknown: {why}")),
        (AgentEnd::Exited(_), None) if report_problem.is_some() => report_problem,
        (AgentEnd::Exited(code), None) if *code != 0 => {
            Some(format!("guest agent exited with status {code}"))
        }
        (AgentEnd::Exited(_), None) if report.is_none() => {
            Some("guest agent exited without a report".to_string())
        }
        (AgentEnd::Exited(_), None) => None,
    });
    ExitRecord {
        exit_code: report.and_then(|r| r.main_exit_code),
        error,
        agent_status: end.describe(),
        finished_at_ms: now_ms(),
    }
}

/// The record for a box whose agent never started (the shim failed while preparing it).
pub fn not_started(error: String) -> ExitRecord {
    ExitRecord {
        exit_code: None,
        error: Some(error),
        agent_status: "not started".to_string(),
        finished_at_ms: now_ms(),
    }
}

/// The agent writes one JSON line; the last non-empty line counts.
fn parse_report(bytes: &[u8]) -> Result<Option<GuestReport>, String> {
    let text = String::from_utf8_lossy(bytes);
    let Some(line) = text.lines().rev().find(|line| !line.trim().is_empty()) else {
        return Ok(None);
    };
    serde_json::from_str(line)
        .map(Some)
        .map_err(|err| format!("guest agent wrote an unreadable report {line:?}: {err}"))
}

fn now_ms() -> i64 {
    let since_epoch = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    i64::try_from(since_epoch.as_millis()).unwrap_or(i64::MAX)
}

fn tmp_path(path: &Path) -> PathBuf {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    PathBuf::from(tmp)
}

/// Removes a record (and a half-written one) left by an earlier run, so the host never
/// mistakes it for this run's.
pub fn remove_stale(path: &Path) -> Result<(), StepError> {
    for stale in [path.to_path_buf(), tmp_path(path)] {
        match fs::remove_file(&stale) {
            Err(err) if err.kind() != io::ErrorKind::NotFound => {
                return Err(err).step(|| format!("remove stale exit record {}", stale.display()))
            }
            _ => {}
        }
    }
    Ok(())
}

/// Writes `<path>.tmp`, syncs it, renames it over `path`, and syncs the directory: a reader
/// sees either no record or a complete one, also after a host crash.
pub fn write(path: &Path, record: &ExitRecord) -> Result<(), StepError> {
    let shown = path.display();
    let step = || format!("write exit record {shown}");
    let mut text =
        serde_json::to_vec(record).map_err(|err| StepError::new(step(), err.to_string()))?;
    text.push(b'\n');
    let tmp = tmp_path(path);
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o644)
        .open(&tmp)
        .step(step)?;
    file.write_all(&text).step(step)?;
    file.sync_all().step(step)?;
    fs::rename(&tmp, path).step(step)?;
    if let Some(dir) = path.parent().filter(|dir| !dir.as_os_str().is_empty()) {
        // Durability of the rename only; the record is already in place.
        let _ = File::open(dir).and_then(|dir| dir.sync_all());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decide_now(end: AgentEnd, report: &str, forced: Option<Duration>) -> ExitRecord {
        let mut record = decide(&end, report.as_bytes(), forced);
        record.finished_at_ms = 0;
        record
    }

    #[test]
    fn a_clean_report_gives_a_clean_record() {
        let record =
            decide_now(AgentEnd::Exited(0), "{\"main_exit_code\":3,\"error\":null}\n", None);
        assert_eq!(record.exit_code, Some(3));
        assert_eq!(record.error, None);
        assert_eq!(record.agent_status, "exited with status 0");
    }

    #[test]
    fn the_reported_error_wins() {
        let report = "{\"main_exit_code\":null,\"error\":\"box setup failed: x: y\"}\n";
        let record = decide_now(AgentEnd::Exited(1), report, None);
        assert_eq!(record.error.as_deref(), Some("box setup failed: x: y"));
        assert_eq!(record.agent_status, "exited with status 1");
    }

    #[test]
    fn a_killed_agent_is_an_error() {
        let record = decide_now(AgentEnd::Signaled(9), "", None);
        assert_eq!(record.error.as_deref(), Some("guest agent killed by signal 9"));
        assert_eq!(record.agent_status, "killed by signal 9");
    }

    #[test]
    fn a_forced_kill_says_how_long_the_shim_waited() {
        let record = decide_now(AgentEnd::Signaled(9), "", Some(Duration::from_millis(1200)));
        assert_eq!(
            record.error.as_deref(),
            Some("guest agent did not exit within 1200 ms of SIGTERM; killed by signal 9")
        );
    }

    #[test]
    fn missing_or_broken_reports_are_errors() {
        let silent = decide_now(AgentEnd::Exited(0), "", None);
        assert_eq!(silent.error.as_deref(), Some("guest agent exited without a report"));
        let failed = decide_now(AgentEnd::Exited(2), "", None);
        assert_eq!(failed.error.as_deref(), Some("guest agent exited with status 2"));
        let broken = decide_now(AgentEnd::Exited(0), "{oops\n", None);
        assert!(broken.error.unwrap_or_default().starts_with("guest agent wrote an unreadable"));
    }

    #[test]
    fn the_last_line_counts() {
        let report =
            "{\"main_exit_code\":1,\"error\":null}\n\n{\"main_exit_code\":2,\"error\":null}\n";
        assert_eq!(decide_now(AgentEnd::Exited(0), report, None).exit_code, Some(2));
    }

    #[test]
    fn write_replaces_atomically_and_remove_stale_cleans_up() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("exit");
        let record = not_started("box setup failed: a: b".to_string());
        write(&path, &record).expect("write");
        let read: ExitRecord =
            serde_json::from_slice(&fs::read(&path).expect("read")).expect("parse");
        assert_eq!(read, record);
        assert!(!tmp_path(&path).exists());
        fs::write(tmp_path(&path), b"half").expect("write tmp");
        remove_stale(&path).expect("remove");
        assert!(!path.exists() && !tmp_path(&path).exists());
    }
}
