//! `BoxInfo`: a plain JS object snapshot of a box, read from the database by core.

use boxlite_core::{BoxInfo, BoxStatus};
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
            // Core caps memory at 16 TiB in MiB, which fits; saturate rather than wrap if
            // that bound ever grows.
            memory_mib: info.options.memory_mib.map(|m| u32::try_from(m).unwrap_or(u32::MAX)),
        }
    }
}
