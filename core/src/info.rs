//! [`BoxInfo`]: a snapshot of one box as stored.

use serde::Serialize;

use crate::db::BoxRecord;
use crate::limits::BoxLimits;
use crate::network::NetworkMode;
use crate::options::{BoxOptions, SeccompMode, UsernsMode};
use crate::ports::PortSpec;
use crate::status::BoxStatus;

/// What `get_info`, `list_info` and `inspect` report. Always read from the database, so two
/// handles (or two processes) never disagree.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct BoxInfo {
    /// Unique id.
    pub id: String,
    /// Unique name, when one was given.
    pub name: Option<String>,
    /// Current status.
    pub status: BoxStatus,
    /// Image reference as given.
    pub image: String,
    /// Creation time, RFC 3339 UTC.
    pub created_at: String,
    /// Creation time in milliseconds since the Unix epoch.
    pub created_at_ms: i64,
    /// Last state change in milliseconds since the Unix epoch.
    pub updated_at_ms: i64,
    /// Shim PID while active.
    pub pid: Option<u32>,
    /// Main command's exit code, once it exited.
    pub exit_code: Option<i32>,
    /// Why the box failed.
    pub error_reason: Option<String>,
    /// The box's configuration.
    pub options: BoxOptions,
    /// The bounds the box runs under: its options, defaults filled in.
    pub limits: BoxLimits,
    /// Whose user namespace the box runs in (its own unless created with `userns` "host").
    pub userns: UsernsMode,
    /// The seccomp filter of the box's processes: "default", "unconfined" or "profile" (the
    /// profile itself is in `options.seccomp`).
    #[serde(serialize_with = "seccomp_name")]
    pub seccomp: SeccompMode,
    /// The box's network: "disabled" (loopback only) or "enabled" (docs/networking.md).
    pub network: NetworkMode,
    /// Its published ports: while it runs, with the host port actually bound; else as asked
    /// (`host_port` `None`: a free one at each start).
    pub ports: Vec<PortSpec>,
    /// The walls this box's options take down, one sentence each; empty for a box with every
    /// default wall (docs/threat-model.md).
    pub warnings: Vec<String>,
}

impl From<BoxRecord> for BoxInfo {
    fn from(rec: BoxRecord) -> Self {
        BoxInfo {
            status: rec.state.status(),
            image: rec.config.image.clone(),
            created_at: rfc3339_ms(rec.created_at_ms),
            created_at_ms: rec.created_at_ms,
            updated_at_ms: rec.state.updated_at_ms(),
            pid: rec.state.pid(),
            exit_code: rec.state.exit_code(),
            error_reason: rec.state.error_reason().map(str::to_owned),
            limits: BoxLimits::in_force(&rec.config),
            userns: rec.config.userns,
            seccomp: rec.config.seccomp.clone(),
            network: rec.config.network,
            ports: crate::ports::reported(&rec.config, rec.state.ports()),
            warnings: rec.config.warnings(),
            options: rec.config,
            id: rec.id,
            name: rec.name,
        }
    }
}

fn seccomp_name<S: serde::Serializer>(
    mode: &SeccompMode,
    out: S,
) -> std::result::Result<S::Ok, S::Error> {
    out.serialize_str(mode.as_str())
}

/// A stored time (milliseconds since the Unix epoch) as RFC 3339 UTC with milliseconds.
pub(crate) fn rfc3339_ms(ms: i64) -> String {
    let at = std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms.max(0) as u64);
    humantime::format_rfc3339_millis(at).to_string()
}
