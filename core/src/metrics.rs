//! [`BoxMetrics`] and [`RuntimeMetrics`]: what a box and a runtime have done, read on the host
//! from sources the box cannot write (its cgroups, the kernel's counters of its `eth0`, `/proc`)
//! and from the runtime's own counters (see docs/architecture.md, "Metrics").

mod cgroup;
mod counters;

use std::time::Instant;

use serde::Serialize;

pub(crate) use counters::{Counters, StartTimes};

use crate::error::Result;
use crate::runtime::Runtime;
use crate::status::BoxStatus;

/// A snapshot of one box. Usage fields are `None` while the box does not run, and when their
/// source is missing: a rootless box has no cgroup (CPU, memory, pids, block io), a box with
/// `network` "disabled" no network counters, a kernel before 5.19 on cgroup v2 no memory peak.
/// Usage counters start at 0 at each start. The exec counts and start times are this
/// runtime's (kept in memory since it was opened, shared by its clones): another process's
/// execs and starts are not in them.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct BoxMetrics {
    /// CPU time the box's processes used since it started (user and system).
    pub cpu_time_usec: Option<u64>,
    /// CPU use in percent of one CPU (200.0 is two CPUs busy) over the interval since this
    /// runtime's previous `metrics()` call on the box, or, on the first call of this run,
    /// since the box started.
    pub cpu_percent: Option<f64>,
    /// Memory the box's cgroup is charged now (its processes and its page cache).
    pub memory_bytes: Option<u64>,
    /// The most the box's cgroup was charged since the box started.
    pub memory_peak_bytes: Option<u64>,
    /// The box's memory limit; `None` also when it has none.
    pub memory_limit_bytes: Option<u64>,
    /// Processes (threads counted) in the box now.
    pub pids_current: Option<u64>,
    /// The box's process limit; `None` also when it has none.
    pub pids_limit: Option<u64>,
    /// Bytes the box's processes read from storage (page-cache hits not counted), reaped ones
    /// included.
    pub block_read_bytes: Option<u64>,
    /// Bytes the box's processes wrote towards storage (counted when the page is dirtied; a
    /// `tmpfs` write, as to the box's `/tmp`, counts nothing).
    pub block_write_bytes: Option<u64>,
    /// Bytes the box sent out of its `eth0` (IP packets, headers included).
    pub network_bytes_sent: Option<u64>,
    /// Bytes the box received on its `eth0`.
    pub network_bytes_received: Option<u64>,
    /// Packets the box sent.
    pub network_packets_sent: Option<u64>,
    /// Packets the box received.
    pub network_packets_received: Option<u64>,
    /// Execs asked for through this runtime, started or not.
    pub commands_executed_total: u64,
    /// Execs of [`BoxMetrics::commands_executed_total`] that failed to start (command not
    /// found, box not runnable, agent error); a command's non-zero exit is not one.
    pub exec_errors_total: u64,
    /// The last start this runtime ran to `running`: from the `start` call (or the exec that
    /// started the box) until the box was running. `None` until then.
    pub total_create_duration_ms: Option<f64>,
    /// Of that start: resolving the image's rootfs on the host (unpacked once per image).
    pub stage_image_prepare_ms: Option<f64>,
    /// Of that start: spawning the shim until the reaper registered it.
    pub stage_box_spawn_ms: Option<f64>,
    /// Of that start: from the registered shim until the guest agent said ready (the shim
    /// building the box and the agent starting; not split further, measured on the host).
    pub stage_guest_ready_ms: Option<f64>,
    /// [`BoxMetrics::stage_box_spawn_ms`] plus [`BoxMetrics::stage_guest_ready_ms`]: from
    /// spawning the shim until the guest was ready.
    pub guest_boot_duration_ms: Option<f64>,
}

/// A snapshot of one runtime's counters since it was opened.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct RuntimeMetrics {
    /// Boxes created through this runtime.
    pub boxes_created_total: u64,
    /// Starts through this runtime that failed (the box was left `failed`).
    pub boxes_failed_total: u64,
    /// Boxes of the home running now, whichever process started them (from their records,
    /// reconciled with their shims).
    pub num_running_boxes: u64,
    /// Execs asked for through this runtime.
    pub total_commands_executed: u64,
    /// Of those, execs that failed to start.
    pub total_exec_errors: u64,
}

impl Runtime {
    /// The runtime's counters ([`RuntimeMetrics`]).
    pub fn metrics(&self) -> Result<RuntimeMetrics> {
        let running = self.list_info()?.iter().filter(|b| b.status == BoxStatus::Running).count();
        let (created, failed, execs, errors) = self.counters().totals();
        Ok(RuntimeMetrics {
            boxes_created_total: created,
            boxes_failed_total: failed,
            num_running_boxes: running as u64,
            total_commands_executed: execs,
            total_exec_errors: errors,
        })
    }

    pub(crate) fn box_metrics(&self, id: &str) -> Result<BoxMetrics> {
        let rec = self.resolve_existing(id)?;
        // The shim is checked by its start time first, so a reused pid is never read.
        let shim = match rec.state.status() {
            BoxStatus::Running => self.shim_process(&rec),
            _ => None,
        };
        let usage = shim.as_ref().and_then(|_| cgroup::usage(&rec.id)).unwrap_or_default();
        let ticks = rec.state.shim_start_ticks();
        let sample = usage.cpu_time_usec.map(|cpu_time_usec| counters::CpuSample {
            at: Instant::now(),
            cpu_time_usec,
            shim_start_ticks: ticks,
        });
        let known = self.counters().take_box(&rec.id, sample);
        let cpu_percent = sample.and_then(|now| match known.cpu_sample {
            Some(before) if before.shim_start_ticks == ticks && ticks.is_some() => {
                let used = now.cpu_time_usec.saturating_sub(before.cpu_time_usec);
                percent(used, now.at.duration_since(before.at).as_secs_f64())
            }
            _ => percent(now.cpu_time_usec, crate::procfs::seconds_since(ticks?)?),
        });
        // The shim's one child is the box's PID 1, in the box's network namespace.
        let net = shim
            .filter(|_| !rec.config.network.is_disabled())
            .and_then(|shim| crate::procfs::children(shim.pid()).first().copied())
            .and_then(|init| crate::procfs::net_dev(init, boxlite_protocol::launch::net::IFNAME));
        let ms = |f: fn(&StartTimes) -> std::time::Duration| {
            known.start.as_ref().map(|t| f(t).as_secs_f64() * 1000.0)
        };
        Ok(BoxMetrics {
            cpu_time_usec: usage.cpu_time_usec,
            cpu_percent,
            memory_bytes: usage.memory_bytes,
            memory_peak_bytes: usage.memory_peak_bytes,
            memory_limit_bytes: usage.memory_limit_bytes,
            pids_current: usage.pids_current,
            pids_limit: usage.pids_limit,
            block_read_bytes: usage.block_read_bytes,
            block_write_bytes: usage.block_write_bytes,
            network_bytes_sent: net.map(|c| c.tx_bytes),
            network_bytes_received: net.map(|c| c.rx_bytes),
            network_packets_sent: net.map(|c| c.tx_packets),
            network_packets_received: net.map(|c| c.rx_packets),
            commands_executed_total: known.execs,
            exec_errors_total: known.exec_errors,
            total_create_duration_ms: ms(|t| t.total),
            stage_image_prepare_ms: ms(|t| t.image_prepare),
            stage_box_spawn_ms: ms(|t| t.box_spawn),
            stage_guest_ready_ms: ms(|t| t.guest_ready),
            guest_boot_duration_ms: ms(|t| t.box_spawn + t.guest_ready),
        })
    }
}

/// `used_usec` of CPU time over `seconds` of wall time, in percent of one CPU.
fn percent(used_usec: u64, seconds: f64) -> Option<f64> {
    (seconds > 0.0).then(|| used_usec as f64 / (seconds * 1e6) * 100.0)
}
