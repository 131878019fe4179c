//! `BoxInfo`: a plain JS object snapshot of a box, read from the database by core.

use boxlite_core::{BoxInfo, BoxLimits, BoxStatus};
use napi_derive::napi;

/// One box as stored. `status` and `state.status` are the same canonical string.
#[napi(object, js_name = "BoxInfo", object_from_js = false, use_nullable = true)]
pub struct JsBoxInfo {
    /// Unique id.
    pub id: String,
    /// Unique name, when one was given.
    pub name: Option<String>,
    /// One of `statusNames()`.
    pub status: String,
    /// Image reference as given.
    pub image: String,
    /// Creation time, RFC 3339 UTC.
    pub created_at: String,
    /// Shim PID while the box is active.
    pub pid: Option<u32>,
    /// Exit code of the main command, once it exited.
    pub exit_code: Option<i32>,
    /// Why the box failed.
    pub error_reason: Option<String>,
    /// CPU limit in cores, when one was set.
    pub cpus: Option<f64>,
    /// Memory limit in MiB, when one was set.
    pub memory_mib: Option<u32>,
    /// The same facts grouped as upstream BoxLite code reads them (`info.state.status`).
    // napi-derive would print the Rust type name here, which the .d.ts does not declare.
    #[napi(ts_type = "BoxState")]
    pub state: JsBoxState,
    /// The bounds the box runs under, defaults filled in.
    #[napi(ts_type = "BoxLimits")]
    pub limits: JsBoxLimits,
    /// `'private'` or `'host'` (box root is host root).
    pub userns: String,
    /// `'default'`, `'unconfined'` (no seccomp filter) or `'profile'` (the box's own; the
    /// profile is in `options.seccomp`).
    pub seccomp: String,
    /// `'disabled'` (loopback only) or `'enabled'`.
    pub network: String,
    /// Published ports; while the box runs, with the host port bound.
    #[napi(ts_type = "BoxPort[]")]
    pub ports: Vec<JsBoxPort>,
    /// Its volumes, as given.
    #[napi(ts_type = "VolumeSpec[]")]
    pub volumes: Vec<crate::options::JsVolumeSpec>,
    /// The walls the box's options take down, one sentence each.
    pub warnings: Vec<String>,
}

/// A published port of a box: `hostPort` is the one bound while the box runs, else the one
/// asked for (null: a free one at each start).
#[napi(object, js_name = "BoxPort", object_from_js = false, use_nullable = true)]
pub struct JsBoxPort {
    /// The host address listened on.
    pub host_ip: String,
    /// The host port.
    pub host_port: Option<u32>,
    /// The box's port.
    pub guest_port: u32,
    /// `'tcp'`.
    pub protocol: String,
}

/// The bounds a box runs under: what its options asked for, else the defaults.
#[napi(object, js_name = "BoxLimits", object_from_js = false, use_nullable = true)]
pub struct JsBoxLimits {
    /// Memory limit in MiB.
    pub memory_mib: u32,
    /// CPU limit in cores; null: no quota.
    pub cpus: Option<f64>,
    /// Most processes and threads at once.
    pub pids_max: u32,
    /// `RLIMIT_NOFILE` soft limit of the box's processes.
    pub nofile_soft: u32,
    /// `RLIMIT_NOFILE` hard limit of the box's processes.
    pub nofile_hard: u32,
    /// Size of the `/tmp` tmpfs in MiB (when the image has no `/tmp`).
    pub tmp_size_mib: u32,
    /// Size of one box log file in MiB.
    pub log_max_size_mib: u32,
    /// Box log files kept, the live one included.
    pub log_max_files: u32,
    /// Size of the box's disk (its writable layer's bound) in GiB.
    pub disk_size_gb: u32,
    /// The fields above this host does not enforce, by core's names (a rootless box:
    /// `memory_mib`, `cpus`, `disk_size_gb`); empty when every limit holds.
    pub not_enforced: Vec<String>,
}

/// Core's bounds all fit a u32 (its largest, 16 TiB in MiB, is 2^24); saturate rather than
/// wrap if one ever grows.
fn js_u32(value: u64) -> u32 {
    u32::try_from(value).unwrap_or(u32::MAX)
}

impl From<BoxLimits> for JsBoxLimits {
    fn from(l: BoxLimits) -> Self {
        JsBoxLimits {
            memory_mib: js_u32(l.memory_mib),
            cpus: l.cpus,
            pids_max: js_u32(l.pids_max),
            nofile_soft: js_u32(l.nofile_soft),
            nofile_hard: js_u32(l.nofile_hard),
            tmp_size_mib: js_u32(l.tmp_size_mib),
            log_max_size_mib: js_u32(l.log_max_size_mib),
            log_max_files: l.log_max_files,
            disk_size_gb: js_u32(l.disk_size_gb),
            not_enforced: l.not_enforced.into_iter().map(str::to_owned).collect(),
        }
    }
}

/// The lifecycle part of a `BoxInfo`.
#[napi(object, js_name = "BoxState", object_from_js = false, use_nullable = true)]
pub struct JsBoxState {
    /// One of `statusNames()`.
    pub status: String,
    /// `status === "running"`.
    pub running: bool,
    /// Shim PID while the box is active.
    pub pid: Option<u32>,
    /// Exit code of the main command, once it exited.
    pub exit_code: Option<i32>,
    /// Why the box failed.
    pub error_reason: Option<String>,
}

impl From<BoxInfo> for JsBoxInfo {
    fn from(info: BoxInfo) -> Self {
        let status = info.status.as_str().to_owned();
        JsBoxInfo {
            state: JsBoxState {
                status: status.clone(),
                running: info.status == BoxStatus::Running,
                pid: info.pid,
                exit_code: info.exit_code,
                error_reason: info.error_reason.clone(),
            },
            id: info.id,
            name: info.name,
            status,
            image: info.image,
            created_at: info.created_at,
            pid: info.pid,
            exit_code: info.exit_code,
            error_reason: info.error_reason,
            cpus: info.options.cpus,
            memory_mib: info.options.memory_mib.map(js_u32),
            limits: info.limits.into(),
            network: info.network.as_str().to_owned(),
            ports: info
                .ports
                .iter()
                .map(|p| JsBoxPort {
                    host_ip: p.host_ip().to_owned(),
                    host_port: p.host_port.map(u32::from),
                    guest_port: u32::from(p.guest_port),
                    protocol: p.protocol.as_str().to_owned(),
                })
                .collect(),
            userns: info.userns.as_str().to_owned(),
            seccomp: info.seccomp.as_str().to_owned(),
            volumes: info.options.volumes.iter().map(Into::into).collect(),
            warnings: info.warnings,
        }
    }
}
