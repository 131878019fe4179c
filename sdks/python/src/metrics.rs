//! `BoxMetrics` and `RuntimeMetrics`: core's snapshots, as read when `Box.metrics()` or
//! `Runtime.metrics()` was awaited.

use boxlite_core::{BoxMetrics, RuntimeMetrics};
use pyo3::prelude::*;

/// A snapshot of one box (core `BoxMetrics`); usage fields are `None` while the box does not
/// run or when their source is missing.
#[pyclass(name = "BoxMetrics", module = "boxlite._boxlite", frozen, get_all)]
pub(crate) struct PyBoxMetrics {
    cpu_time_usec: Option<u64>,
    cpu_percent: Option<f64>,
    memory_bytes: Option<u64>,
    memory_peak_bytes: Option<u64>,
    memory_limit_bytes: Option<u64>,
    pids_current: Option<u64>,
    pids_limit: Option<u64>,
    block_read_bytes: Option<u64>,
    block_write_bytes: Option<u64>,
    network_bytes_sent: Option<u64>,
    network_bytes_received: Option<u64>,
    network_packets_sent: Option<u64>,
    network_packets_received: Option<u64>,
    commands_executed_total: u64,
    exec_errors_total: u64,
    total_create_duration_ms: Option<f64>,
    stage_image_prepare_ms: Option<f64>,
    stage_box_spawn_ms: Option<f64>,
    stage_guest_ready_ms: Option<f64>,
    guest_boot_duration_ms: Option<f64>,
}

impl From<BoxMetrics> for PyBoxMetrics {
    fn from(m: BoxMetrics) -> Self {
        PyBoxMetrics {
            cpu_time_usec: m.cpu_time_usec,
            cpu_percent: m.cpu_percent,
            memory_bytes: m.memory_bytes,
            memory_peak_bytes: m.memory_peak_bytes,
            memory_limit_bytes: m.memory_limit_bytes,
            pids_current: m.pids_current,
            pids_limit: m.pids_limit,
            block_read_bytes: m.block_read_bytes,
            block_write_bytes: m.block_write_bytes,
            network_bytes_sent: m.network_bytes_sent,
            network_bytes_received: m.network_bytes_received,
            network_packets_sent: m.network_packets_sent,
            network_packets_received: m.network_packets_received,
            commands_executed_total: m.commands_executed_total,
            exec_errors_total: m.exec_errors_total,
            total_create_duration_ms: m.total_create_duration_ms,
            stage_image_prepare_ms: m.stage_image_prepare_ms,
            stage_box_spawn_ms: m.stage_box_spawn_ms,
            stage_guest_ready_ms: m.stage_guest_ready_ms,
            guest_boot_duration_ms: m.guest_boot_duration_ms,
        }
    }
}

#[pymethods]
impl PyBoxMetrics {
    fn __repr__(&self) -> String {
        let shown = |v: Option<u64>| v.map_or("None".to_string(), |v| v.to_string());
        format!(
            "BoxMetrics(cpu_time_usec={}, memory_bytes={}, pids_current={}, \
             network_bytes_sent={}, network_bytes_received={}, commands_executed_total={}, \
             exec_errors_total={})",
            shown(self.cpu_time_usec),
            shown(self.memory_bytes),
            shown(self.pids_current),
            shown(self.network_bytes_sent),
            shown(self.network_bytes_received),
            self.commands_executed_total,
            self.exec_errors_total
        )
    }
}

/// A runtime's counters since it was opened (core `RuntimeMetrics`).
#[pyclass(name = "RuntimeMetrics", module = "boxlite._boxlite", frozen, get_all)]
pub(crate) struct PyRuntimeMetrics {
    boxes_created_total: u64,
    boxes_failed_total: u64,
    num_running_boxes: u64,
    total_commands_executed: u64,
    total_exec_errors: u64,
}

impl From<RuntimeMetrics> for PyRuntimeMetrics {
    fn from(m: RuntimeMetrics) -> Self {
        PyRuntimeMetrics {
            boxes_created_total: m.boxes_created_total,
            boxes_failed_total: m.boxes_failed_total,
            num_running_boxes: m.num_running_boxes,
            total_commands_executed: m.total_commands_executed,
            total_exec_errors: m.total_exec_errors,
        }
    }
}

#[pymethods]
impl PyRuntimeMetrics {
    fn __repr__(&self) -> String {
        format!(
            "RuntimeMetrics(boxes_created_total={}, boxes_failed_total={}, \
             num_running_boxes={}, total_commands_executed={}, total_exec_errors={})",
            self.boxes_created_total,
            self.boxes_failed_total,
            self.num_running_boxes,
            self.total_commands_executed,
            self.total_exec_errors
        )
    }
}
