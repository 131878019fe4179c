//! How a box ends: stops (host gone, SIGTERM, an agent that ignores it), failures before and
//! during setup, and agent crashes; each leaves an exit record and no process behind.

mod harness;

use std::fs;
use std::os::unix::process::CommandExt;
use std::time::{Duration, Instant};

use harness::*;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

#[test]
fn the_host_going_away_stops_a_box_that_is_not_detached() {
    let dir = tempfile::tempdir().expect("tempdir");
    let rootfs = busybox_rootfs(dir.path(), true);
    let spec = spec(dir.path(), &rootfs, None);

    let mut shim = spawn(dir.path(), "run", &spec);
    shim.expect_ready();
    let agent = shim.agent();
    shim.close_liveness();
    let status = shim.wait_exit();
    let log = shim.log();
    assert!(status.success(), "shim failed: {status:?}; log:\n{log}");
    let expected =
        format!("boxlite-shim: box {}: stopping the box: the host process is gone", spec.box_id);
    assert!(log.contains(&expected), "log:\n{log}");
    assert_gone(&[agent]);
    let record = exit_record(&spec);
    assert_eq!(record.error, None);
    assert_eq!(record.exit_code, None);
    assert_eq!(record.agent_status, "exited with status 0");
    assert!(!spec.socket_path.exists());
}

#[test]
fn sigterm_stops_a_detached_box_which_outlives_its_host() {
    let dir = tempfile::tempdir().expect("tempdir");
    let rootfs = busybox_rootfs(dir.path(), true);
    let mut spec = spec(dir.path(), &rootfs, None);
    spec.detach = true;
    // A record from an earlier run must be gone before the host could read it for this one.
    fs::write(&spec.exit_record_path, "{\"stale\":true}").expect("stale record");

    let mut shim = spawn(dir.path(), "run", &spec);
    shim.expect_ready();
    assert!(!spec.exit_record_path.exists(), "stale exit record kept");
    let agent = shim.agent();
    shim.close_liveness();
    // A negative check, bounded: the detached box must not stop when its host goes away.
    assert!(shim.wait_exit_within(Duration::from_millis(300)).is_none(), "detached box stopped");
    assert!(agent.exists());

    shim.signal(Signal::SIGTERM);
    let status = shim.wait_exit();
    assert!(status.success(), "shim failed: {status:?}; log:\n{}", shim.log());
    assert!(shim.log().contains("stopping the box: received SIGTERM"));
    assert_gone(&[agent]);
    let record = exit_record(&spec);
    assert_eq!(record.error, None);
    assert_eq!(record.agent_status, "exited with status 0");
}

#[test]
fn an_agent_ignoring_sigterm_is_killed_after_the_grace_period() {
    let dir = tempfile::tempdir().expect("tempdir");
    let rootfs = busybox_rootfs(dir.path(), true);
    let mut spec = spec(dir.path(), &rootfs, Some(&["ignore-term"]));
    spec.stop_grace_ms = 100;

    let mut shim = spawn(dir.path(), "run", &spec);
    shim.expect_ready();
    let agent = shim.agent();
    let asked = Instant::now();
    shim.signal(Signal::SIGINT);
    let status = shim.wait_exit();
    let took = asked.elapsed();
    println!("SIGINT -> shim exit with a SIGTERM-ignoring agent: {} ms", took.as_millis());
    assert_eq!(status.code(), Some(1), "log:\n{}", shim.log());
    assert!(took >= Duration::from_millis(1100), "killed before the grace period: {took:?}");
    assert_gone(&[agent]);
    let record = exit_record(&spec);
    assert_eq!(
        record.error.as_deref(),
        Some("guest agent did not exit within 1100 ms of SIGTERM; killed by signal 9")
    );
    assert_eq!(record.agent_status, "killed by signal 9");
}

#[test]
fn a_killed_agent_is_reported() {
    let dir = tempfile::tempdir().expect("tempdir");
    let rootfs = busybox_rootfs(dir.path(), true);
    let spec = spec(dir.path(), &rootfs, None);

    let mut shim = spawn(dir.path(), "run", &spec);
    shim.expect_ready();
    let agent = shim.agent();
    kill(Pid::from_raw(agent.pid), Signal::SIGKILL).expect("kill the agent");
    let status = shim.wait_exit();
    assert_eq!(status.code(), Some(1));
    assert_gone(&[agent]);
    let record = exit_record(&spec);
    assert_eq!(record.error.as_deref(), Some("guest agent killed by signal 9"));
    assert_eq!(record.agent_status, "killed by signal 9");
    assert!(!spec.socket_path.exists());
}

#[test]
fn a_setup_failure_names_the_step() {
    let dir = tempfile::tempdir().expect("tempdir");
    let rootfs = busybox_rootfs(dir.path(), true);
    let mut spec = spec(dir.path(), &rootfs, None);
    spec.rootfs_lower = dir.path().join("no-such-rootfs");

    let mut shim = spawn(dir.path(), "run", &spec);
    assert_eq!(shim.wait_ready(), Readiness::Eof(String::new()));
    assert_eq!(shim.wait_exit().code(), Some(1));
    // The first step that needs the image's rootfs: its idmapped copy for the user namespace.
    let lower = spec.rootfs_lower.display();
    let expected = format!("clone the mount of {lower}: No such file or directory");
    assert!(
        shim.log().contains(&format!("boxlite-shim: box {}: {expected}\n", spec.box_id)),
        "log:\n{}",
        shim.log()
    );
    let record = exit_record(&spec);
    assert_eq!(record.error, Some(format!("box setup failed: {expected}")));
    assert_eq!(record.agent_status, "exited with status 1");
    assert!(!spec.socket_path.exists());
}

#[test]
fn a_missing_guest_binary_fails_before_the_box_exists() {
    let dir = tempfile::tempdir().expect("tempdir");
    let rootfs = busybox_rootfs(dir.path(), true);
    let mut spec = spec(dir.path(), &rootfs, None);
    spec.guest_path = dir.path().join("no-such-guest");

    let mut shim = spawn(dir.path(), "run", &spec);
    assert_eq!(shim.wait_ready(), Readiness::Eof(String::new()));
    assert_eq!(shim.wait_exit().code(), Some(1));
    let record = exit_record(&spec);
    let expected = format!(
        "box setup failed: open guest agent {}: No such file or directory",
        spec.guest_path.display()
    );
    assert_eq!(record.error, Some(expected));
    assert_eq!(record.agent_status, "not started");
    assert!(!spec.socket_path.exists(), "socket file left behind");
}

#[test]
fn an_invalid_spec_still_leaves_an_exit_record() {
    let dir = tempfile::tempdir().expect("tempdir");
    let exit_path = dir.path().join("exit.json");
    let spec_path = dir.path().join("spec.json");
    let text = serde_json::json!({"exit_record_path": exit_path, "from_the_future": 1});
    fs::write(&spec_path, text.to_string()).expect("spec");

    let mut shim = spawn_with_spec_file(dir.path(), "run", &spec_path);
    assert_eq!(shim.wait_ready(), Readiness::Eof(String::new()));
    assert_eq!(shim.wait_exit().code(), Some(1));
    assert!(shim.log().starts_with("boxlite-shim: parse spec "), "log:\n{}", shim.log());
    let record: boxlite_protocol::launch::ExitRecord =
        serde_json::from_slice(&fs::read(&exit_path).expect("record")).expect("parse");
    assert!(record.error.unwrap_or_default().starts_with("box setup failed: parse spec "));
}

#[test]
fn agent_results_and_crashes_reach_the_exit_record() {
    let dir = tempfile::tempdir().expect("tempdir");
    let rootfs = busybox_rootfs(dir.path(), true);
    struct Case {
        main: &'static [&'static str],
        exit_code: Option<i32>,
        error: Option<&'static str>,
        agent_status: &'static str,
    }
    let cases = [
        Case {
            main: &["exit", "5"],
            exit_code: Some(5),
            error: None,
            agent_status: "exited with status 0",
        },
        Case {
            main: &["fail", "agent broke"],
            exit_code: None,
            error: Some("agent broke"),
            agent_status: "exited with status 1",
        },
        Case {
            main: &["crash", "3"],
            exit_code: None,
            error: Some("guest agent exited with status 3"),
            agent_status: "exited with status 3",
        },
    ];
    for Case { main, exit_code, error, agent_status } in cases {
        let spec = spec(dir.path(), &rootfs, Some(main));
        let mut shim = spawn(dir.path(), main[0], &spec);
        let status = shim.wait_exit();
        assert_eq!(status.success(), error.is_none(), "{main:?}; log:\n{}", shim.log());
        let record = exit_record(&spec);
        assert_eq!(record.exit_code, exit_code, "{main:?}");
        assert_eq!(record.error.as_deref(), error, "{main:?}");
        assert_eq!(record.agent_status, agent_status, "{main:?}");
    }
}

#[test]
fn signals_ignored_by_the_host_do_not_break_supervision() {
    let dir = tempfile::tempdir().expect("tempdir");
    let rootfs = busybox_rootfs(dir.path(), true);
    let spec = spec(dir.path(), &rootfs, None);
    let spec_path = write_spec(dir.path(), "run", &spec);

    // As a host (or a shell running it in the background) may do: ignored dispositions survive
    // exec. An ignored SIGCHLD would make the kernel reap the agent behind the shim's back.
    let mut shim = spawn_with(dir.path(), "run", &spec_path, |command| {
        // SAFETY: the hook only calls signal(2), which is async-signal-safe.
        unsafe {
            command.pre_exec(|| {
                for signal in [libc::SIGCHLD, libc::SIGTERM, libc::SIGINT] {
                    libc::signal(signal, libc::SIG_IGN);
                }
                Ok(())
            });
        }
    });
    shim.expect_ready();
    let agent = shim.agent();
    shim.signal(Signal::SIGTERM);
    let status = shim.wait_exit();
    assert!(status.success(), "shim failed: {status:?}; log:\n{}", shim.log());
    assert_gone(&[agent]);
    let record = exit_record(&spec);
    assert_eq!(record.error, None);
    assert_eq!(record.agent_status, "exited with status 0");
}
