//! `boxlite_box_metrics` and `boxlite_runtime_metrics`: core's snapshots, written into structs
//! the caller owns.

use boxlite_core::{BoxMetrics, RuntimeMetrics};

use crate::blocking::block_on;
use crate::error::{BoxliteError, BoxliteErrorCode};
use crate::ffi::{guard, out_arg, ref_arg};
use crate::litebox::BoxliteBox;
use crate::runtime::BoxliteRuntime;

/// A box's metrics, written by `boxlite_box_metrics()`. A value whose `has_` flag is false is
/// 0; so is a cgroup value whose file is missing (a `memory_peak_bytes` on kernels before 5.19
/// with cgroup v2).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct BoxliteBoxMetrics {
    /// Whether the network counters below were read: the box runs with a network.
    pub has_network: bool,
    /// Bytes the box sent out of its `eth0` (IP packets, headers included).
    pub network_bytes_sent: u64,
    /// Bytes the box received on its `eth0`.
    pub network_bytes_received: u64,
    /// Packets the box sent.
    pub network_packets_sent: u64,
    /// Packets the box received.
    pub network_packets_received: u64,
    /// Whether the box's cgroup was read: it runs and is not rootless (CPU, memory, pids and
    /// block io below).
    pub has_cgroup: bool,
    /// CPU time the box used since it started.
    pub cpu_time_usec: u64,
    /// Whether `cpu_percent` is set.
    pub has_cpu_percent: bool,
    /// CPU use in percent of one CPU over the interval since this runtime's previous call on
    /// the box, or since the box started.
    pub cpu_percent: f64,
    /// Memory charged to the box's cgroup now.
    pub memory_bytes: u64,
    /// The most it was charged since the box started.
    pub memory_peak_bytes: u64,
    /// The box's memory limit; 0: none.
    pub memory_limit_bytes: u64,
    /// Processes in the box now.
    pub pids_current: u64,
    /// The box's process limit; 0: none.
    pub pids_limit: u64,
    /// Bytes the box's processes read from storage.
    pub block_read_bytes: u64,
    /// Bytes the box's processes wrote towards storage.
    pub block_write_bytes: u64,
    /// Execs asked for through this runtime.
    pub commands_executed_total: u64,
    /// Of those, execs that failed to start (a non-zero exit is not one).
    pub exec_errors_total: u64,
    /// Whether this runtime started the box and the times below are its last start's.
    pub has_start_times: bool,
    /// From the start call until the box was running.
    pub total_create_duration_ms: f64,
    /// Of it: resolving the image's rootfs on the host.
    pub stage_image_prepare_ms: f64,
    /// Of it: spawning the shim until it was registered.
    pub stage_box_spawn_ms: f64,
    /// Of it: from the registered shim until the guest agent was ready.
    pub stage_guest_ready_ms: f64,
    /// `stage_box_spawn_ms` plus `stage_guest_ready_ms`.
    pub guest_boot_duration_ms: f64,
}

impl From<BoxMetrics> for BoxliteBoxMetrics {
    fn from(m: BoxMetrics) -> Self {
        let zero = |v: Option<u64>| v.unwrap_or(0);
        let ms = |v: Option<f64>| v.unwrap_or(0.0);
        BoxliteBoxMetrics {
            has_network: m.network_bytes_sent.is_some(),
            network_bytes_sent: zero(m.network_bytes_sent),
            network_bytes_received: zero(m.network_bytes_received),
            network_packets_sent: zero(m.network_packets_sent),
            network_packets_received: zero(m.network_packets_received),
            has_cgroup: m.cpu_time_usec.is_some()
                || m.memory_bytes.is_some()
                || m.pids_current.is_some(),
            cpu_time_usec: zero(m.cpu_time_usec),
            has_cpu_percent: m.cpu_percent.is_some(),
            cpu_percent: ms(m.cpu_percent),
            memory_bytes: zero(m.memory_bytes),
            memory_peak_bytes: zero(m.memory_peak_bytes),
            memory_limit_bytes: zero(m.memory_limit_bytes),
            pids_current: zero(m.pids_current),
            pids_limit: zero(m.pids_limit),
            block_read_bytes: zero(m.block_read_bytes),
            block_write_bytes: zero(m.block_write_bytes),
            commands_executed_total: m.commands_executed_total,
            exec_errors_total: m.exec_errors_total,
            has_start_times: m.total_create_duration_ms.is_some(),
            total_create_duration_ms: ms(m.total_create_duration_ms),
            stage_image_prepare_ms: ms(m.stage_image_prepare_ms),
            stage_box_spawn_ms: ms(m.stage_box_spawn_ms),
            stage_guest_ready_ms: ms(m.stage_guest_ready_ms),
            guest_boot_duration_ms: ms(m.guest_boot_duration_ms),
        }
    }
}

/// Reads the box's metrics now into `*out`: its usage, read on the host (cgroup, `/proc`, the
/// kernel's counters of its `eth0`) while it runs, and this runtime's exec counts and last
/// start times. Each call also starts the interval of the next call's `cpu_percent`.
/// Errors: BOXLITE_ERROR_NOT_FOUND once the box was removed.
///
/// # Safety
/// `box` is a live box handle; `out` is valid for writing a `BoxliteBoxMetrics`; `err_out` is
/// NULL or valid for writing a pointer.
#[no_mangle]
pub unsafe extern "C" fn boxlite_box_metrics(
    r#box: *const BoxliteBox,
    out: *mut BoxliteBoxMetrics,
    err_out: *mut *mut BoxliteError,
) -> BoxliteErrorCode {
    // SAFETY: arguments per the caller contract.
    unsafe {
        guard("boxlite_box_metrics", err_out, || {
            let b = ref_arg(r#box, "box")?;
            let out = out_arg(out, "out")?;
            let metrics = block_on(b.inner.metrics())??;
            out.write(BoxliteBoxMetrics::from(metrics));
            Ok(())
        })
    }
}

/// A runtime's counters since it was opened, written by `boxlite_runtime_metrics()`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BoxliteRuntimeMetrics {
    /// Boxes created through this runtime.
    pub boxes_created_total: u64,
    /// Starts through this runtime that failed (the box was left "failed").
    pub boxes_failed_total: u64,
    /// Boxes of the home running now, whichever process started them.
    pub num_running_boxes: u64,
    /// Execs asked for through this runtime.
    pub total_commands_executed: u64,
    /// Of those, execs that failed to start.
    pub total_exec_errors: u64,
}

impl From<RuntimeMetrics> for BoxliteRuntimeMetrics {
    fn from(m: RuntimeMetrics) -> Self {
        BoxliteRuntimeMetrics {
            boxes_created_total: m.boxes_created_total,
            boxes_failed_total: m.boxes_failed_total,
            num_running_boxes: m.num_running_boxes,
            total_commands_executed: m.total_commands_executed,
            total_exec_errors: m.total_exec_errors,
        }
    }
}

/// Reads the runtime's counters now into `*out`.
///
/// # Safety
/// `rt` is a live runtime handle; `out` is valid for writing a `BoxliteRuntimeMetrics`;
/// `err_out` is NULL or valid for writing a pointer.
#[no_mangle]
pub unsafe extern "C" fn boxlite_runtime_metrics(
    rt: *const BoxliteRuntime,
    out: *mut BoxliteRuntimeMetrics,
    err_out: *mut *mut BoxliteError,
) -> BoxliteErrorCode {
    // SAFETY: arguments per the caller contract.
    unsafe {
        guard("boxlite_runtime_metrics", err_out, || {
            let rt = ref_arg(rt, "rt")?;
            let out = out_arg(out, "out")?;
            out.write(BoxliteRuntimeMetrics::from(rt.inner.metrics()?));
            Ok(())
        })
    }
}
