//! `BoxMetrics` and `RuntimeMetrics`: core's snapshots as plain JS objects.

use boxlite_core::{BoxMetrics, RuntimeMetrics};
use napi_derive::napi;

/// A snapshot of one box (core `BoxMetrics`); usage fields are null while the box does not
/// run or when their source is missing. Numbers: exact up to 2^53.
#[napi(object, js_name = "BoxMetrics", object_from_js = false, use_nullable = true)]
pub struct JsBoxMetrics {
    /// CPU time the box used since it started.
    pub cpu_time_usec: Option<f64>,
    /// CPU use in percent of one CPU since this runtime's previous call, or since start.
    pub cpu_percent: Option<f64>,
    /// Memory charged to the box now.
    pub memory_bytes: Option<f64>,
    /// The most memory charged since it started.
    pub memory_peak_bytes: Option<f64>,
    /// Its memory limit (null also when it has none).
    pub memory_limit_bytes: Option<f64>,
    /// Processes in the box now.
    pub pids_current: Option<f64>,
    /// Its process limit (null also when it has none).
    pub pids_limit: Option<f64>,
    /// Bytes its processes read from storage.
    pub block_read_bytes: Option<f64>,
    /// Bytes its processes wrote towards storage.
    pub block_write_bytes: Option<f64>,
    /// Bytes the box sent out of its `eth0`.
    pub network_bytes_sent: Option<f64>,
    /// Bytes the box received on its `eth0`.
    pub network_bytes_received: Option<f64>,
    /// Packets the box sent.
    pub network_packets_sent: Option<f64>,
    /// Packets the box received.
    pub network_packets_received: Option<f64>,
    /// Execs asked for through this runtime.
    pub commands_executed_total: f64,
    /// Of those, execs that failed to start.
    pub exec_errors_total: f64,
    /// The last start through this runtime, from the call until running.
    pub total_create_duration_ms: Option<f64>,
    /// Of it: resolving the image's rootfs.
    pub stage_image_prepare_ms: Option<f64>,
    /// Of it: spawning the shim until registered.
    pub stage_box_spawn_ms: Option<f64>,
    /// Of it: from the registered shim until the guest was ready.
    pub stage_guest_ready_ms: Option<f64>,
    /// Spawn plus guest ready.
    pub guest_boot_duration_ms: Option<f64>,
}

fn js(v: Option<u64>) -> Option<f64> {
    v.map(|v| v as f64)
}

impl From<BoxMetrics> for JsBoxMetrics {
    fn from(m: BoxMetrics) -> Self {
        JsBoxMetrics {
            cpu_time_usec: js(m.cpu_time_usec),
            cpu_percent: m.cpu_percent,
            memory_bytes: js(m.memory_bytes),
            memory_peak_bytes: js(m.memory_peak_bytes),
            memory_limit_bytes: js(m.memory_limit_bytes),
            pids_current: js(m.pids_current),
            pids_limit: js(m.pids_limit),
            block_read_bytes: js(m.block_read_bytes),
            block_write_bytes: js(m.block_write_bytes),
            network_bytes_sent: js(m.network_bytes_sent),
            network_bytes_received: js(m.network_bytes_received),
            network_packets_sent: js(m.network_packets_sent),
            network_packets_received: js(m.network_packets_received),
            commands_executed_total: m.commands_executed_total as f64,
            exec_errors_total: m.exec_errors_total as f64,
            total_create_duration_ms: m.total_create_duration_ms,
            stage_image_prepare_ms: m.stage_image_prepare_ms,
            stage_box_spawn_ms: m.stage_box_spawn_ms,
            stage_guest_ready_ms: m.stage_guest_ready_ms,
            guest_boot_duration_ms: m.guest_boot_duration_ms,
        }
    }
}

/// A runtime's counters since it was opened (core `RuntimeMetrics`).
#[napi(object, js_name = "RuntimeMetrics", object_from_js = false)]
pub struct JsRuntimeMetrics {
    /// Boxes created through this runtime.
    pub boxes_created_total: f64,
    /// Starts through this runtime that failed.
    pub boxes_failed_total: f64,
    /// Boxes of the home running now.
    pub num_running_boxes: f64,
    /// Execs asked for through this runtime.
    pub total_commands_executed: f64,
    /// Of those, execs that failed to start.
    pub total_exec_errors: f64,
}

impl From<RuntimeMetrics> for JsRuntimeMetrics {
    fn from(m: RuntimeMetrics) -> Self {
        JsRuntimeMetrics {
            boxes_created_total: m.boxes_created_total as f64,
            boxes_failed_total: m.boxes_failed_total as f64,
            num_running_boxes: m.num_running_boxes as f64,
            total_commands_executed: m.total_commands_executed as f64,
            total_exec_errors: m.total_exec_errors as f64,
        }
    }
}
