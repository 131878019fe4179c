//! The box lifecycle: [`BoxStatus`] and the persisted [`BoxState`].
//!
//! `BoxStatus::as_str()` is the only place status names are spelled; the DB, the CLI and every
//! binding go through it.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::{Error, ErrorKind, Result};
use crate::ports::PortSpec;

/// Where a box is in its lifecycle (docs/architecture.md, "Box lifecycle").
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BoxStatus {
    /// Record persisted, never started.
    Configured,
    /// The init pipeline is running.
    Starting,
    /// The guest answered ready.
    Running,
    /// A graceful stop is under way.
    Stopping,
    /// Not running; files kept.
    Stopped,
    /// Init or runtime failure; record, files and `error_reason` kept.
    Failed,
    /// The state could not be determined (recovery).
    Unknown,
}

use BoxStatus::*;

impl BoxStatus {
    /// Every status, in lifecycle order.
    pub const ALL: &'static [BoxStatus] =
        &[Configured, Starting, Running, Stopping, Stopped, Failed, Unknown];

    /// The canonical lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            Configured => "configured",
            Starting => "starting",
            Running => "running",
            Stopping => "stopping",
            Stopped => "stopped",
            Failed => "failed",
            Unknown => "unknown",
        }
    }

    /// `start` is allowed (idempotent when running; a retry when failed).
    pub fn can_start(self) -> bool {
        matches!(self, Configured | Running | Stopped | Failed)
    }

    /// `stop` is allowed (idempotent when stopped; a `stopping` box whose stopper died is
    /// finished).
    pub fn can_stop(self) -> bool {
        matches!(self, Running | Stopping | Stopped)
    }

    /// `exec` is allowed (configured and stopped boxes are started first).
    pub fn can_exec(self) -> bool {
        matches!(self, Configured | Running | Stopped)
    }

    /// `remove` without force is allowed.
    pub fn can_remove(self) -> bool {
        matches!(self, Configured | Stopped | Failed | Unknown)
    }

    /// A process (shim or guest) may be alive in this status.
    pub fn is_active(self) -> bool {
        matches!(self, Starting | Running | Stopping)
    }

    /// Whether a persisted status may change from `self` to `to`.
    ///
    /// Failure is reachable from every active status because a crash can happen at any point;
    /// `unknown` is what recovery uses when it cannot tell, so it may resolve to anything.
    pub fn can_transition_to(self, to: BoxStatus) -> bool {
        match self {
            Configured => matches!(to, Starting),
            Starting => matches!(to, Running | Stopped | Failed | Unknown),
            Running => matches!(to, Stopping | Stopped | Failed | Unknown),
            Stopping => matches!(to, Stopped | Failed | Unknown),
            Stopped => matches!(to, Starting),
            Failed => matches!(to, Starting),
            Unknown => true,
        }
    }
}

impl fmt::Display for BoxStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for BoxStatus {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        BoxStatus::ALL
            .iter()
            .copied()
            .find(|st| st.as_str() == s)
            .ok_or_else(|| Error::invalid_argument(format!("unknown box status {s:?}")))
    }
}

impl Serialize for BoxStatus {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for BoxStatus {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// The mutable, persisted part of a box. Every status change goes through
/// [`BoxState::transition`] or [`BoxState::mark_failed`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BoxState {
    status: BoxStatus,
    pid: Option<u32>,
    shim_start_ticks: Option<u64>,
    owner_pid: Option<u32>,
    error_reason: Option<String>,
    exit_code: Option<i32>,
    /// The published ports the shim bound, while the box is active.
    ports: Vec<PortSpec>,
    updated_at_ms: i64,
}

impl Default for BoxState {
    fn default() -> Self {
        Self::new()
    }
}

impl BoxState {
    /// The state of a freshly created box.
    pub fn new() -> Self {
        BoxState {
            status: Configured,
            pid: None,
            shim_start_ticks: None,
            owner_pid: None,
            error_reason: None,
            exit_code: None,
            ports: Vec::new(),
            updated_at_ms: now_ms(),
        }
    }

    /// Rebuilds a state read from storage; not a transition.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn from_parts(
        status: BoxStatus,
        pid: Option<u32>,
        shim_start_ticks: Option<u64>,
        owner_pid: Option<u32>,
        error_reason: Option<String>,
        exit_code: Option<i32>,
        ports: Vec<PortSpec>,
        updated_at_ms: i64,
    ) -> Self {
        BoxState {
            status,
            pid,
            shim_start_ticks,
            owner_pid,
            error_reason,
            exit_code,
            ports,
            updated_at_ms,
        }
    }

    /// Current status.
    pub fn status(&self) -> BoxStatus {
        self.status
    }
    /// PID of the box's shim while it is active.
    pub fn pid(&self) -> Option<u32> {
        self.pid
    }
    /// Start time of the shim in clock ticks since boot (`/proc/PID/stat` field 22), so a reused
    /// PID is not mistaken for the shim.
    pub fn shim_start_ticks(&self) -> Option<u64> {
        self.shim_start_ticks
    }
    /// PID of the host process running the init pipeline while `starting`.
    pub fn owner_pid(&self) -> Option<u32> {
        self.owner_pid
    }
    /// Why the box failed, kept until the next start attempt.
    pub fn error_reason(&self) -> Option<&str> {
        self.error_reason.as_deref()
    }
    /// Exit code of the box's main command, when it had one and it exited.
    pub fn exit_code(&self) -> Option<i32> {
        self.exit_code
    }
    /// The published ports the shim bound (host port filled in), while the box is active.
    pub fn ports(&self) -> &[PortSpec] {
        &self.ports
    }
    /// Last change, in milliseconds since the Unix epoch.
    pub fn updated_at_ms(&self) -> i64 {
        self.updated_at_ms
    }

    /// Moves to `to` if the lifecycle allows it. Entering `starting` begins a new attempt, so
    /// the previous attempt's failure reason and exit code are cleared.
    pub fn transition(&mut self, to: BoxStatus) -> Result<()> {
        if !self.status.can_transition_to(to) {
            return Err(Error::new(
                ErrorKind::InvalidState,
                format!("cannot change box status from {} to {}", self.status, to),
            ));
        }
        if to == Starting {
            self.error_reason = None;
            self.exit_code = None;
            self.pid = None;
            self.shim_start_ticks = None;
            self.ports.clear();
        }
        if !to.is_active() {
            self.pid = None;
            self.shim_start_ticks = None;
            self.owner_pid = None;
            self.ports.clear();
        }
        self.status = to;
        self.updated_at_ms = now_ms();
        Ok(())
    }

    /// Records the owner of a start attempt (the process running the init pipeline).
    pub fn set_owner_pid(&mut self, pid: u32) {
        self.owner_pid = Some(pid);
        self.updated_at_ms = now_ms();
    }

    /// Records the shim of the current attempt, so reconcile and PID-reuse checks can find it.
    pub(crate) fn set_shim(&mut self, pid: u32, start_ticks: Option<u64>) {
        self.pid = Some(pid);
        self.shim_start_ticks = start_ticks;
        self.updated_at_ms = now_ms();
    }

    /// Records the ports the shim bound.
    pub(crate) fn set_ports(&mut self, ports: Vec<PortSpec>) {
        self.ports = ports;
        self.updated_at_ms = now_ms();
    }

    /// Records the main command's exit code.
    pub(crate) fn set_exit_code(&mut self, code: Option<i32>) {
        self.exit_code = code;
        self.updated_at_ms = now_ms();
    }

    /// Records a failure from any status. Runs inside `Drop` of cleanup guards, so it never
    /// panics and never fails; everything but the status, reason and live-process fields is kept.
    pub fn mark_failed(&mut self, reason: impl Into<String>) {
        self.status = Failed;
        self.error_reason = Some(reason.into());
        self.pid = None;
        self.shim_start_ticks = None;
        self.owner_pid = None;
        self.ports.clear();
        self.updated_at_ms = now_ms();
    }
}

/// Milliseconds since the Unix epoch; 0 if the clock is before it (never panics).
pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The table of docs/architecture.md, "Box lifecycle", one row per status: start, stop,
    /// exec, remove.
    const TABLE: &[(BoxStatus, [bool; 4])] = &[
        (Configured, [true, false, true, true]),
        (Starting, [false, false, false, false]),
        (Running, [true, true, true, false]),
        (Stopping, [false, true, false, false]),
        (Stopped, [true, true, true, true]),
        (Failed, [true, false, false, true]),
        (Unknown, [false, false, false, true]),
    ];

    /// Allowed transitions, written from the lifecycle rules, every other pair is refused.
    const EDGES: &[(BoxStatus, BoxStatus)] = &[
        (Configured, Starting),
        (Starting, Running),
        (Starting, Stopped),
        (Starting, Failed),
        (Starting, Unknown),
        (Running, Stopping),
        (Running, Stopped),
        (Running, Failed),
        (Running, Unknown),
        (Stopping, Stopped),
        (Stopping, Failed),
        (Stopping, Unknown),
        (Stopped, Starting),
        (Failed, Starting),
    ];

    #[test]
    fn operation_matrix_matches_design_table() {
        assert_eq!(TABLE.len(), BoxStatus::ALL.len());
        for (status, [start, stop, exec, remove]) in TABLE {
            assert_eq!(status.can_start(), *start, "{status} can_start");
            assert_eq!(status.can_stop(), *stop, "{status} can_stop");
            assert_eq!(status.can_exec(), *exec, "{status} can_exec");
            assert_eq!(status.can_remove(), *remove, "{status} can_remove");
        }
    }

    #[test]
    fn transition_matrix_every_pair() {
        for &from in BoxStatus::ALL {
            for &to in BoxStatus::ALL {
                let expected = from == Unknown || EDGES.contains(&(from, to));
                assert_eq!(from.can_transition_to(to), expected, "{from} -> {to}");
                let mut state =
                    BoxState::from_parts(from, Some(7), Some(9), None, None, None, vec![], 0);
                let result = state.transition(to);
                assert_eq!(result.is_ok(), expected, "{from} -> {to} via transition()");
                if expected {
                    assert_eq!(state.status(), to);
                } else {
                    assert_eq!(result.unwrap_err().kind(), ErrorKind::InvalidState);
                    assert_eq!(state.status(), from, "a refused transition changes nothing");
                }
            }
        }
    }

    #[test]
    fn names_round_trip_and_are_lowercase_unique() {
        let mut seen = std::collections::HashSet::new();
        for &st in BoxStatus::ALL {
            let name = st.as_str();
            assert!(name.chars().all(|c| c.is_ascii_lowercase()));
            assert!(seen.insert(name));
            assert_eq!(name.parse::<BoxStatus>().unwrap(), st);
            assert_eq!(serde_json::to_string(&st).unwrap(), format!("\"{name}\""));
            assert_eq!(serde_json::from_str::<BoxStatus>(&format!("\"{name}\"")).unwrap(), st);
        }
        assert_eq!("Running".parse::<BoxStatus>().unwrap_err().kind(), ErrorKind::InvalidArgument);
    }

    #[test]
    fn mark_failed_from_every_status_keeps_the_rest() {
        for &from in BoxStatus::ALL {
            let mut state =
                BoxState::from_parts(from, Some(42), Some(5), Some(3), None, Some(2), vec![], 1);
            state.mark_failed("shim exited");
            assert_eq!(state.status(), Failed);
            assert_eq!(state.error_reason(), Some("shim exited"));
            assert_eq!(state.exit_code(), Some(2), "exit code is kept");
            assert_eq!(state.pid(), None, "no live process is claimed for a failed box");
        }
    }

    #[test]
    fn starting_clears_previous_attempt() {
        let mut state = BoxState::new();
        state.mark_failed("boom");
        state.transition(Starting).unwrap();
        assert_eq!(state.error_reason(), None);
        assert_eq!(state.status(), Starting);
    }
}
