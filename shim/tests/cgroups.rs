//! Resource limits through the box's cgroups (real ones: v1 or v2, whichever the machine has):
//! the limits reach the files and act inside the box, the box's PID 1 is in its cgroups and
//! the shim is not, and the cgroups are gone when the box is over, also after a leftover from a
//! crashed run.

mod harness;

use std::fs;
use std::io;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};

use boxlite_protocol::launch::{Limits, ShimSpec};
use harness::*;
use nix::sys::signal::Signal;

/// v1 memory.limit_in_bytes when unlimited (PAGE_COUNTER_MAX pages of 4 KiB).
const V1_UNLIMITED_BYTES: &str = "9223372036854771712";

/// A box with `limits`, running `main`, whose cgroups are removed when the test ends.
fn limited_spec(
    dir: &Path,
    main: Option<&[&str]>,
    limits: Limits,
) -> (ShimSpec, BoxCgroups, CgroupCleanup) {
    let rootfs = busybox_rootfs(dir, true);
    let mut spec = spec(dir, &rootfs, main);
    spec.limits = limits;
    let cgroups = BoxCgroups::of(&spec.box_id);
    let cleanup = CgroupCleanup(spec.box_id.clone());
    (spec, cgroups, cleanup)
}

fn procs(dir: &Path) -> Vec<i32> {
    BoxCgroups::read(dir, "cgroup.procs").lines().filter_map(|l| l.parse().ok()).collect()
}

/// The cgroup a process is in, per hierarchy, as the host sees it: `hierarchy -> path`, the
/// hierarchy named by its controller list (`memory`, `cpu,cpuacct`; empty for v2).
fn cgroups_of(pid: i32) -> Vec<(String, String)> {
    let path = format!("/proc/{pid}/cgroup");
    fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("read {path}: {e}"))
        .lines()
        .filter_map(|line| {
            let (_, rest) = line.split_once(':')?;
            let (controllers, path) = rest.split_once(':')?;
            Some((controllers.to_string(), path.to_string()))
        })
        .collect()
}

/// Stops a running box with SIGTERM and checks it ended cleanly with its cgroups removed.
fn stop_and_check_cleanup(shim: &mut Shim, spec: &ShimSpec, cgroups: &BoxCgroups) -> String {
    shim.signal(Signal::SIGTERM);
    let status = shim.wait_exit();
    let log = shim.log();
    assert!(status.success(), "shim failed: {status:?}; log:\n{log}");
    assert_eq!(exit_record(spec).error, None, "log:\n{log}");
    for dir in cgroups.dirs() {
        assert!(!dir.exists(), "{} left behind; log:\n{log}", dir.display());
    }
    log
}

#[test]
fn limits_are_written_and_only_the_box_is_in_its_cgroups() {
    let dir = tempfile::tempdir().expect("tempdir");
    let limits = Limits { memory_mib: Some(32), cpus: Some(0.5), pids_max: Some(16) };
    let (spec, cgroups, _cleanup) = limited_spec(dir.path(), Some(&["cgroup"]), limits);

    let mut shim = spawn(dir.path(), "run", &spec);
    shim.expect_ready();
    let agent = shim.agent();

    let mib32 = (32u64 << 20).to_string();
    if cgroups.v2 {
        assert_eq!(BoxCgroups::read(&cgroups.memory, "memory.max"), mib32);
        if cgroups.memory.join("memory.swap.max").exists() {
            assert_eq!(BoxCgroups::read(&cgroups.memory, "memory.swap.max"), "0");
        }
        assert_eq!(BoxCgroups::read(&cgroups.cpu, "cpu.max"), "50000 100000");
    } else {
        assert_eq!(BoxCgroups::read(&cgroups.memory, "memory.limit_in_bytes"), mib32);
        if cgroups.memory.join("memory.memsw.limit_in_bytes").exists() {
            assert_eq!(BoxCgroups::read(&cgroups.memory, "memory.memsw.limit_in_bytes"), mib32);
        }
        assert_eq!(BoxCgroups::read(&cgroups.cpu, "cpu.cfs_quota_us"), "50000");
        assert_eq!(BoxCgroups::read(&cgroups.cpu, "cpu.cfs_period_us"), "100000");
    }
    assert_eq!(BoxCgroups::read(&cgroups.pids, "pids.max"), "16");
    // v1's device filter, as the kernel lists it (v2's eBPF program has no such file; the
    // shim's unit test has the kernel judge opens through it).
    if let Some(devices) = &cgroups.devices {
        let listed = BoxCgroups::read(devices, "devices.list");
        let expected = [
            "c *:* m",
            "b *:* m",
            "c 1:3 rwm",
            "c 1:5 rwm",
            "c 1:7 rwm",
            "c 1:8 rwm",
            "c 1:9 rwm",
            "c 5:0 rwm",
            "c 5:2 rwm",
            "c 136:* rwm",
        ];
        assert_eq!(listed.lines().collect::<Vec<_>>(), expected);
    }

    // The agent (PID 1 of the box) is in every one of the box's cgroups, and the shim in
    // none: a box at its memory limit must not be able to get the shim OOM-killed.
    for dir in cgroups.dirs() {
        let members = procs(&dir);
        assert_eq!(members, [agent.pid], "members of {}", dir.display());
    }
    let box_cgroup = format!("/boxlite/{}", spec.box_id);
    let agent_cgroups = cgroups_of(agent.pid);
    for controller in ["memory", "pids", "cpu"] {
        let listed = |(names, _): &&(String, String)| {
            (names.is_empty() && cgroups.v2) || names.split(',').any(|n| n == controller)
        };
        let (_, path) = agent_cgroups.iter().find(listed).expect("agent's hierarchy");
        assert_eq!(path, &box_cgroup, "agent's {controller} cgroup");
    }
    for (names, path) in cgroups_of(shim.pid()) {
        assert!(!path.contains("/boxlite/"), "shim is in {names}:{path}");
    }
    // Inside, the cgroup namespace is rooted at the box's cgroups: every hierarchy shows `/`
    // (also those without a box cgroup, rooted where the box's PID 1 was when it unshared).
    // The guest's console reaches the log through the shim's copy, so the log is complete
    // only once the shim has exited (it drains the console before it does).
    let log = stop_and_check_cleanup(&mut shim, &spec, &cgroups);
    let facts = guest_facts(&log);
    let lines = facts.get("cgroup").unwrap_or_else(|| panic!("no cgroup fact; log:\n{log}"));
    for entry in lines.split(';') {
        assert!(entry.ends_with(":/"), "box sees {entry:?} in /proc/self/cgroup");
    }
}

#[test]
fn a_process_beyond_the_memory_limit_is_oom_killed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let limits = Limits { memory_mib: Some(32), cpus: None, pids_max: Some(64) };
    let (spec, cgroups, _cleanup) = limited_spec(dir.path(), Some(&["alloc", "128"]), limits);

    let mut shim = spawn(dir.path(), "run", &spec);
    let status = shim.wait_exit();
    let log = shim.log();
    assert!(status.success(), "shim failed: {status:?}; log:\n{log}");
    // The child touching 128 MiB got SIGKILL (128 + 9); the agent itself survived to say so.
    assert_eq!(exit_record(&spec).exit_code, Some(137), "log:\n{log}");
    // And read the kill on the counter the shim handed it (fd 7: the box's memory cgroup's).
    assert!(log.contains("guest: oom_kills_before=0\n"), "log:\n{log}");
    assert!(log.contains("guest: oom_kills_after=1\n"), "log:\n{log}");
    for dir in cgroups.dirs() {
        assert!(!dir.exists(), "{} left behind", dir.display());
    }
}

#[test]
fn forks_beyond_pids_max_fail() {
    let dir = tempfile::tempdir().expect("tempdir");
    let limits = Limits { pids_max: Some(16), ..Limits::default() };
    let (spec, _cgroups, _cleanup) = limited_spec(dir.path(), Some(&["forks", "64"]), limits);

    let mut shim = spawn(dir.path(), "run", &spec);
    let status = shim.wait_exit();
    let log = shim.log();
    assert!(status.success(), "shim failed: {status:?}; log:\n{log}");
    let facts = guest_facts(&log);
    let forked: i32 = facts.get("forked").and_then(|n| n.parse().ok()).expect("forked fact");
    // 16 pids for the agent and its children: the shim is not counted.
    assert_eq!(forked, 15, "forked {forked} children; log:\n{log}");
    assert_eq!(facts.get("fork_errno").map(String::as_str), Some("11"), "EAGAIN expected");
    assert_eq!(exit_record(&spec).exit_code, Some(0));
}

#[test]
fn only_a_pids_limit_leaves_the_rest_unlimited() {
    let dir = tempfile::tempdir().expect("tempdir");
    let limits = Limits { pids_max: Some(64), ..Limits::default() };
    let (spec, cgroups, _cleanup) = limited_spec(dir.path(), None, limits);

    let mut shim = spawn(dir.path(), "run", &spec);
    shim.expect_ready();
    assert_eq!(BoxCgroups::read(&cgroups.pids, "pids.max"), "64");
    if cgroups.v2 {
        assert_eq!(BoxCgroups::read(&cgroups.memory, "memory.max"), "max");
        assert_eq!(BoxCgroups::read(&cgroups.cpu, "cpu.max"), "max 100000");
    } else {
        let memory = BoxCgroups::read(&cgroups.memory, "memory.limit_in_bytes");
        assert_eq!(memory, V1_UNLIMITED_BYTES);
        assert_eq!(BoxCgroups::read(&cgroups.cpu, "cpu.cfs_quota_us"), "-1");
    }
    stop_and_check_cleanup(&mut shim, &spec, &cgroups);
}

/// Creates the box's cgroups by hand, as a crashed shim would have left them, with a stale
/// pids limit that would stop the box from starting.
fn leave_stale_cgroups(cgroups: &BoxCgroups) {
    for dir in cgroups.dirs() {
        fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("create {}: {e}", dir.display()));
    }
    fs::write(cgroups.pids.join("pids.max"), "1").expect("stale pids.max");
}

#[test]
fn an_empty_leftover_from_a_crashed_run_is_replaced() {
    let dir = tempfile::tempdir().expect("tempdir");
    let limits = Limits { pids_max: Some(64), ..Limits::default() };
    let (spec, cgroups, _cleanup) = limited_spec(dir.path(), None, limits);
    leave_stale_cgroups(&cgroups);

    let mut shim = spawn(dir.path(), "run", &spec);
    shim.expect_ready();
    assert_eq!(BoxCgroups::read(&cgroups.pids, "pids.max"), "64");
    let log = stop_and_check_cleanup(&mut shim, &spec, &cgroups);
    assert!(!log.contains("cgroup"), "log:\n{log}");
}

#[test]
fn a_busy_leftover_is_reused_and_its_removal_failure_is_not_fatal() {
    let dir = tempfile::tempdir().expect("tempdir");
    let limits = Limits { pids_max: Some(64), ..Limits::default() };
    let (spec, cgroups, _cleanup) = limited_spec(dir.path(), None, limits);
    leave_stale_cgroups(&cgroups);
    // A process that escaped a crashed box still sits in its cgroups (one pid: within the
    // stale limit of 1).
    let mut escaped = Command::new(BUSYBOX)
        .args(["sleep", "1000"])
        .stdin(Stdio::null())
        .spawn()
        .expect("spawn sleep");
    for dir in cgroups.dirs() {
        fs::write(dir.join("cgroup.procs"), escaped.id().to_string()).expect("move into cgroup");
    }

    let mut shim = spawn(dir.path(), "run", &spec);
    shim.expect_ready();
    // Reused, with the limit rewritten.
    assert_eq!(BoxCgroups::read(&cgroups.pids, "pids.max"), "64");
    shim.signal(Signal::SIGTERM);
    let status = shim.wait_exit();
    let log = shim.log();
    escaped.kill().expect("kill sleep");
    escaped.wait().expect("reap sleep");
    assert!(status.success(), "shim failed: {status:?}; log:\n{log}");
    assert_eq!(exit_record(&spec).error, None);
    assert!(log.contains("cgroup: reusing "), "log:\n{log}");
    let busy = format!("cgroup: remove {}: Device or resource busy", cgroups.pids.display());
    assert!(log.contains(&busy), "log:\n{log}");
}

/// Spawns the shim in a mount namespace of its own where no cgroup hierarchy is mounted, as in
/// an unprivileged container.
fn spawn_without_cgroups(dir: &Path, spec: &ShimSpec) -> Shim {
    let spec_path = write_spec(dir, "run", spec);
    spawn_with(dir, "run", &spec_path, |command| {
        // SAFETY: the hook only makes raw syscalls (unshare, mount, umount2) with static
        // strings, all async-signal-safe; it allocates nothing.
        unsafe {
            command.pre_exec(|| {
                let check = |rc: libc::c_int| {
                    if rc == 0 {
                        Ok(())
                    } else {
                        Err(io::Error::last_os_error())
                    }
                };
                check(libc::unshare(libc::CLONE_NEWNS))?;
                let flags = libc::MS_REC | libc::MS_PRIVATE;
                check(libc::mount(
                    std::ptr::null(),
                    c"/".as_ptr(),
                    std::ptr::null(),
                    flags,
                    std::ptr::null(),
                ))?;
                // Detaching /sys/fs/cgroup takes every hierarchy mounted below it along.
                check(libc::umount2(c"/sys/fs/cgroup".as_ptr(), libc::MNT_DETACH))
            });
        }
    })
}

/// Starts a box asking for `limits` where no cgroup hierarchy is mounted: it must not start,
/// the exit record must say why, and no cgroup may be left behind.
fn assert_refused_without_cgroups(limits: Limits) {
    assert_refused_without_cgroups_in(limits, true);
}

fn assert_refused_without_cgroups_in(limits: Limits, user_namespace: bool) {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut spec, cgroups, _cleanup) = limited_spec(dir.path(), Some(&["exit", "0"]), limits);
    spec.user_namespace = user_namespace;

    let mut shim = spawn_without_cgroups(dir.path(), &spec);
    assert_eq!(shim.wait_ready(), Readiness::Eof(String::new()));
    assert_eq!(shim.wait_exit().code(), Some(1));
    let record = exit_record(&spec);
    let expected =
        "box setup failed: cgroup: no memory, pids, cpu or devices cgroup hierarchy is mounted";
    assert_eq!(record.error.as_deref(), Some(expected), "log:\n{}", shim.log());
    assert_eq!(record.agent_status, "not started");
    for dir in cgroups.dirs() {
        assert!(!dir.exists(), "{} created", dir.display());
    }
}

#[test]
fn without_cgroups_a_pids_limit_stops_the_box_from_starting() {
    assert_refused_without_cgroups(Limits { pids_max: Some(64), ..Limits::default() });
}

#[test]
fn without_cgroups_a_box_asking_no_limit_runs_without_a_cgroup() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (spec, cgroups, _cleanup) = limited_spec(dir.path(), Some(&["report"]), Limits::default());

    let mut shim = spawn_without_cgroups(dir.path(), &spec);
    let status = shim.wait_exit();
    let log = shim.log();
    assert!(status.success(), "shim failed: {status:?}; log:\n{log}");
    assert_eq!(exit_record(&spec).exit_code, Some(0));
    // No memory cgroup, no OOM-kill counter: the agent gets /dev/null on its fd 7.
    assert!(log.contains("guest: oom_kills=none\n"), "log:\n{log}");
    let expected = format!(
        "boxlite-shim: box {}: cgroup: no memory, pids, cpu or devices cgroup hierarchy is mounted; \
         the box runs without a cgroup\n",
        spec.box_id
    );
    assert!(log.contains(&expected), "log:\n{log}");
    for dir in cgroups.dirs() {
        assert!(!dir.exists(), "{} created", dir.display());
    }
}

/// Box root is host root: without the device filter, `cap_add: ["MKNOD"]` would reach the
/// host's disks.
#[test]
fn without_cgroups_a_box_without_a_user_namespace_does_not_start_even_unlimited() {
    assert_refused_without_cgroups_in(Limits::default(), false);
}

#[test]
fn without_cgroups_a_memory_limit_stops_the_box_from_starting() {
    assert_refused_without_cgroups(Limits { memory_mib: Some(64), ..Limits::default() });
}

/// Where the kernel schedules real-time tasks per cgroup (v1 `cpu.rt_runtime_us`, present with
/// CONFIG_RT_GROUP_SCHED), a new cgroup gets no real-time budget, and the kernel refuses to
/// move a real-time task into it (EINVAL): a real reason for the box's PID 1 to fail to join.
#[test]
fn a_box_that_cannot_join_its_cgroups_fails_setup_with_the_reason() {
    let dir = tempfile::tempdir().expect("tempdir");
    let limits = Limits { pids_max: Some(64), ..Limits::default() };
    let (spec, cgroups, _cleanup) = limited_spec(dir.path(), Some(&["exit", "0"]), limits);
    let hierarchy = cgroups.cpu.ancestors().nth(2).expect("cpu hierarchy");
    if cgroups.v2 || !hierarchy.join("cpu.rt_runtime_us").exists() {
        eprintln!("skipped: no v1 real-time group scheduling on this kernel");
        return;
    }
    let spec_path = write_spec(dir.path(), "run", &spec);
    let mut shim = spawn_with(dir.path(), "run", &spec_path, |command| {
        // SAFETY: sched_setscheduler is a plain syscall on the child itself; nothing allocates.
        unsafe {
            command.pre_exec(|| {
                let param = libc::sched_param { sched_priority: 1 };
                if libc::sched_setscheduler(0, libc::SCHED_FIFO, &param) == 0 {
                    Ok(())
                } else {
                    Err(io::Error::last_os_error())
                }
            });
        }
    });
    assert_eq!(shim.wait_ready(), Readiness::Eof(String::new()));
    assert_eq!(shim.wait_exit().code(), Some(1));
    let log = shim.log();
    let record = exit_record(&spec);
    let expected = format!(
        // v1 (this test's only case): PID 1 joins through `tasks` (see `cgroup::enter`).
        "box setup failed: cgroup: write tasks in {}: Invalid argument",
        cgroups.cpu.display()
    );
    assert_eq!(record.error.as_deref(), Some(expected.as_str()), "log:\n{log}");
    // It failed in the box's PID 1, after the clone (the shim itself joins nothing).
    assert_eq!(record.agent_status, "exited with status 1", "log:\n{log}");
    for dir in cgroups.dirs() {
        assert!(!dir.exists(), "{} left behind; log:\n{log}", dir.display());
    }
}
