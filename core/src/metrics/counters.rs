//! The runtime's own counters: what went through this [`Runtime`](crate::Runtime) since it
//! was opened. In memory only (shared by the runtime's clones, gone with it): they count
//! calls of this process, which no other process's database row could tell apart.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Per-runtime totals and per-box records.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    boxes_created: AtomicU64,
    boxes_failed: AtomicU64,
    execs: AtomicU64,
    exec_errors: AtomicU64,
    boxes: Mutex<HashMap<String, BoxCounters>>,
}

/// What this runtime knows of one box.
#[derive(Clone, Debug, Default)]
pub(crate) struct BoxCounters {
    pub(crate) execs: u64,
    pub(crate) exec_errors: u64,
    /// The stage times of the last start this runtime ran to `running`.
    pub(crate) start: Option<StartTimes>,
    /// The CPU time read by the previous `metrics()` call and when: the next call's
    /// `cpu_percent` covers the interval since.
    pub(crate) cpu_sample: Option<CpuSample>,
}

/// One CPU reading of a box.
#[derive(Clone, Copy, Debug)]
pub(crate) struct CpuSample {
    pub(crate) at: Instant,
    pub(crate) cpu_time_usec: u64,
    /// The shim's start time, so a sample of a previous run is never compared with this one.
    pub(crate) shim_start_ticks: Option<u64>,
}

/// The stages of one start, measured on the host.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub(crate) struct StartTimes {
    pub(crate) total: Duration,
    pub(crate) image_prepare: Duration,
    pub(crate) box_spawn: Duration,
    pub(crate) guest_ready: Duration,
}

impl Counters {
    pub(crate) fn box_created(&self) {
        self.boxes_created.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn box_failed(&self) {
        self.boxes_failed.fetch_add(1, Ordering::Relaxed);
    }

    /// An exec was asked for in box `id`; `failed`: it did not start.
    pub(crate) fn exec(&self, id: &str, failed: bool) {
        self.execs.fetch_add(1, Ordering::Relaxed);
        if failed {
            self.exec_errors.fetch_add(1, Ordering::Relaxed);
        }
        self.update(id, |b| {
            b.execs += 1;
            b.exec_errors += u64::from(failed);
        });
    }

    pub(crate) fn started(&self, id: &str, times: StartTimes) {
        self.update(id, |b| b.start = Some(times));
    }

    /// `(boxes created, boxes failed, execs, exec errors)` so far.
    pub(crate) fn totals(&self) -> (u64, u64, u64, u64) {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        (
            get(&self.boxes_created),
            get(&self.boxes_failed),
            get(&self.execs),
            get(&self.exec_errors),
        )
    }

    /// A copy of what is known of box `id`, and its CPU sample replaced by `sample` (when
    /// given) in the same step, so two concurrent callers each get an interval.
    pub(crate) fn take_box(&self, id: &str, sample: Option<CpuSample>) -> BoxCounters {
        let mut boxes = self.boxes.lock().unwrap_or_else(|p| p.into_inner());
        let entry = boxes.entry(id.to_string()).or_default();
        let before = entry.clone();
        if sample.is_some() {
            entry.cpu_sample = sample;
        }
        before
    }

    /// Forgets box `id` (removed).
    pub(crate) fn forget(&self, id: &str) {
        self.boxes.lock().unwrap_or_else(|p| p.into_inner()).remove(id);
    }

    fn update(&self, id: &str, f: impl FnOnce(&mut BoxCounters)) {
        let mut boxes = self.boxes.lock().unwrap_or_else(|p| p.into_inner());
        f(boxes.entry(id.to_string()).or_default());
    }
}
