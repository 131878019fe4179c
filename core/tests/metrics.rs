//! Box and runtime metrics through real boxes: usage read from the box's cgroups and `/proc`
//! after the box burned CPU, filled memory and wrote a file; the runtime's exec counts and
//! start times. Fixtures from scripts/fixtures.sh (BOXLITE_SHIM, BOXLITE_GUEST,
//! BOXLITE_TEST_IMAGE).

mod common;

use std::time::Duration;

use boxlite_core::{BoxMetrics, BoxOptions, Command, ErrorKind, DEFAULT_PIDS_MAX};
use common::{run_script, TestHome};

const MIB: u64 = 1 << 20;
/// What the box puts in its memory-backed `/tmp` and then deletes: its cgroup's peak must
/// have held it.
const FILLED_BYTES: u64 = 48 * MIB;
/// What the box writes to its disk.
const WRITTEN_BYTES: u64 = 8 * MIB;
const SCRIPT_TIMEOUT: Duration = Duration::from_secs(60);

fn assert_no_usage(m: &BoxMetrics) {
    let usage = [
        m.cpu_time_usec,
        m.memory_bytes,
        m.memory_peak_bytes,
        m.memory_limit_bytes,
        m.pids_current,
        m.pids_limit,
        m.block_read_bytes,
        m.block_write_bytes,
        m.network_bytes_sent,
    ];
    assert!(usage.iter().all(Option::is_none), "a box that does not run has no usage: {m:?}");
    assert_eq!(m.cpu_percent, None, "{m:?}");
}

#[tokio::test]
async fn box_metrics_report_usage() {
    let t = TestHome::new();
    let b = t.rt.create(BoxOptions { memory_mib: Some(256), ..t.options() }, None).unwrap();
    assert_no_usage(&b.metrics().await.unwrap());
    b.start().await.unwrap();

    let (_, err, code) = run_script(
        &b,
        // A bounded burn, a fill of the tmpfs /tmp (charged to the box's memory), and a file
        // written through to the box's disk.
        &format!(
            "i=0; while [ $i -lt 300000 ]; do i=$((i+1)); done; \
             head -c {FILLED_BYTES} /dev/zero > /tmp/fill && rm /tmp/fill; \
             dd if=/dev/zero of=/root/blob bs=1M count={} conv=fsync 2>/dev/null",
            WRITTEN_BYTES / MIB
        ),
        SCRIPT_TIMEOUT,
    )
    .await;
    assert_eq!(code, Some(0), "{err}");
    let err = b.exec(Command::new(["no-such-command"])).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::CommandNotFound, "{err}");

    let m = b.metrics().await.unwrap();
    let cpu = m.cpu_time_usec.expect("cpu time from the box's cgroup");
    assert!(cpu >= 50_000, "a 300000-round shell loop used {cpu} us of CPU");
    let percent = m.cpu_percent.expect("cpu percent since start");
    assert!(percent > 0.0 && percent <= 100.0 * 64.0, "{percent}%");
    let peak = m.memory_peak_bytes.expect("memory peak");
    assert!(peak >= FILLED_BYTES, "peak {peak} B after filling {FILLED_BYTES} B of /tmp");
    let now = m.memory_bytes.expect("memory now");
    assert!(now > 0 && now <= peak, "now {now} B, peak {peak} B");
    assert_eq!(m.memory_limit_bytes, Some(256 * MIB));
    assert!(m.pids_current.expect("pids") >= 1, "the agent at least: {m:?}");
    assert_eq!(m.pids_limit, Some(DEFAULT_PIDS_MAX));
    let written = m.block_write_bytes.expect("block writes");
    assert!(written >= WRITTEN_BYTES, "wrote {written} B after a {WRITTEN_BYTES} B dd");
    assert!(m.block_read_bytes.is_some(), "{m:?}");
    assert_eq!((m.commands_executed_total, m.exec_errors_total), (2, 1), "{m:?}");

    let total = m.total_create_duration_ms.expect("start time");
    let stages = [m.stage_image_prepare_ms, m.stage_box_spawn_ms, m.stage_guest_ready_ms];
    let stages: Vec<f64> = stages.iter().map(|s| s.expect("every stage timed")).collect();
    assert!(stages.iter().all(|&s| s >= 0.0) && stages.iter().sum::<f64>() <= total, "{m:?}");
    assert!(stages[2] > 0.0, "waiting for the guest takes time: {m:?}");
    let boot = m.guest_boot_duration_ms.unwrap();
    assert!((boot - stages[1] - stages[2]).abs() < 1e-6, "{m:?}");

    // The next call's percent covers the interval since this one: an idle box uses little.
    let (_, err, code) =
        run_script(&b, "i=0; while [ $i -lt 100000 ]; do i=$((i+1)); done", SCRIPT_TIMEOUT).await;
    assert_eq!(code, Some(0), "{err}");
    let next = b.metrics().await.unwrap();
    assert!(next.cpu_time_usec.unwrap() > cpu, "{next:?}");
    assert!(next.cpu_percent.unwrap() > 0.0, "{next:?}");
    assert_eq!(next.commands_executed_total, 3);

    b.stop(Duration::from_secs(5)).await.unwrap();
    let stopped = b.metrics().await.unwrap();
    assert_no_usage(&stopped);
    assert_eq!((stopped.commands_executed_total, stopped.exec_errors_total), (3, 1));
    assert_eq!(stopped.total_create_duration_ms, m.total_create_duration_ms, "the last start's");
    t.rt.remove(b.id(), false).unwrap();
    assert!(common::processes_mentioning(&t.path().display().to_string()).is_empty());
}

#[tokio::test]
async fn runtime_metrics_count_boxes() {
    let t = TestHome::new();
    let before = t.rt.metrics().unwrap();
    assert_eq!(before, Default::default(), "a fresh runtime has counted nothing");

    let running = t.rt.create(t.options(), Some("running")).unwrap();
    running.start().await.unwrap();
    let (_, err, code) = run_script(&running, "true", SCRIPT_TIMEOUT).await;
    assert_eq!(code, Some(0), "{err}");
    running.exec(Command::new(["no-such-command"])).await.unwrap_err();
    t.rt.create(t.options(), Some("idle")).unwrap();
    let broken = BoxOptions::new(format!("oci:{}/no-such-layout:latest", t.path().display()));
    let failed = t.rt.create(broken, Some("broken")).unwrap();
    failed.start().await.unwrap_err();
    assert_eq!(failed.info().unwrap().status.as_str(), "failed");

    let m = t.rt.metrics().unwrap();
    assert_eq!(m.boxes_created_total, 3, "{m:?}");
    assert_eq!(m.boxes_failed_total, 1, "{m:?}");
    assert_eq!(m.num_running_boxes, 1, "{m:?}");
    assert_eq!((m.total_commands_executed, m.total_exec_errors), (2, 1), "{m:?}");

    // Another runtime on the same home sees the running box, not this one's counts.
    let other = common::open(t.path(), &common::fixture().guest, None);
    let seen = other.metrics().unwrap();
    assert_eq!((seen.num_running_boxes, seen.boxes_created_total), (1, 0), "{seen:?}");

    running.stop(Duration::from_secs(5)).await.unwrap();
    assert_eq!(t.rt.metrics().unwrap().num_running_boxes, 0);
    for name in ["running", "idle", "broken"] {
        t.rt.remove(name, false).unwrap();
    }
    assert!(common::processes_mentioning(&t.path().display().to_string()).is_empty());
}
