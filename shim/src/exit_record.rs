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

/// The box's memory when its agent ended, from its memory cgroup.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Memory {
    /// The box's memory limit; `None` is unlimited.
    pub limit_mib: Option<u64>,
    /// Processes the kernel's OOM killer killed in the box; `None` when unknown.
    pub oom_kills: Option<u64>,
}

impl Memory {
    /// Why an agent SIGKILLed by no one the shim knows of died, when the OOM killer acted in
    /// the box: nothing inside can SIGKILL the box's PID 1 (its own pid namespace cannot
    /// signal it) and the host stops a box through its shim (which reports `forced_kill`), so
    /// the kernel is the sender.
    fn oom_reason(&self) -> Option<String> {
        let kills = self.oom_kills.filter(|&n| n > 0)?;
        let kills = if kills == 1 {
            "1 OOM kill in the box".to_string()
        } else {
            format!("{kills} OOM kills in the box")
        };
        Some(match self.limit_mib {
            Some(mib) => format!(
                "the box ran out of memory: the kernel's OOM killer killed its agent \
                 (memory limit {mib} MiB; {kills})"
            ),
            None => format!(
                "the host ran out of memory: the kernel's OOM killer killed the box's agent \
                 (the box has no memory limit; {kills})"
            ),
        })
    }
}

/// Builds the record for an agent that ran. `report` is everything read from the report pipe;
/// `forced_kill` is the wait after which the shim had to SIGKILL an agent that ignored SIGTERM;
/// `memory` tells an agent the OOM killer took from one killed otherwise. OOM kills of the
/// workload alone change nothing: only the agent's death is the box's failure.
pub fn decide(
    end: &AgentEnd,
    report: &[u8],
    forced_kill: Option<Duration>,
    memory: Memory,
) -> ExitRecord {
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
        (AgentEnd::Signaled(libc::SIGKILL), None) => Some(
            memory
                .oom_reason()
                .unwrap_or_else(|| format!("guest agent killed by signal {}", libc::SIGKILL)),
        ),
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
        decide_with(end, report, forced, Memory::default())
    }

    fn decide_with(
        end: AgentEnd,
        report: &str,
        forced: Option<Duration>,
        memory: Memory,
    ) -> ExitRecord {
        let mut record = decide(&end, report.as_bytes(), forced, memory);
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
    fn an_agent_killed_while_the_oom_killer_acted_ran_out_of_memory() {
        let memory = Memory { limit_mib: Some(64), oom_kills: Some(51) };
        let record = decide_with(AgentEnd::Signaled(9), "", None, memory);
        assert_eq!(
            record.error.as_deref(),
            Some(
                "the box ran out of memory: the kernel's OOM killer killed its agent \
                 (memory limit 64 MiB; 51 OOM kills in the box)"
            )
        );
        assert_eq!(record.agent_status, "killed by signal 9");
        let one = Memory { limit_mib: None, oom_kills: Some(1) };
        let record = decide_with(AgentEnd::Signaled(9), "", None, one);
        assert_eq!(
            record.error.as_deref(),
            Some(
                "the host ran out of memory: the kernel's OOM killer killed the box's agent \
                 (the box has no memory limit; 1 OOM kill in the box)"
            )
        );
    }

    #[test]
    fn oom_kills_alone_are_not_the_agent_s_death() {
        let memory = Memory { limit_mib: Some(64), oom_kills: Some(51) };
        // The box ended normally: its workload's OOM kills are not a failure.
        let clean = "{\"main_exit_code\":0,\"error\":null}\n";
        let record = decide_with(AgentEnd::Exited(0), clean, None, memory);
        assert_eq!((record.exit_code, record.error), (Some(0), None));
        // Another signal, or the shim's own SIGKILL after the stop grace, is not the OOM killer.
        let record = decide_with(AgentEnd::Signaled(11), "", None, memory);
        assert_eq!(record.error.as_deref(), Some("guest agent killed by signal 11"));
        let forced = Some(Duration::from_millis(1200));
        let record = decide_with(AgentEnd::Signaled(9), "", forced, memory);
        assert!(record.error.unwrap_or_default().contains("within 1200 ms of SIGTERM"));
        // No kill counted, or no counter: the plain signal.
        for oom_kills in [Some(0), None] {
            let memory = Memory { limit_mib: Some(64), oom_kills };
            let record = decide_with(AgentEnd::Signaled(9), "", None, memory);
            assert_eq!(record.error.as_deref(), Some("guest agent killed by signal 9"));
        }
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
