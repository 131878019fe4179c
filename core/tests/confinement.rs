//! What a process inside a box can and cannot do: resource limits through cgroups, a reduced
//! capability set and no_new_privs. Real boxes, asserted through what the box itself reports.

mod common;

use std::time::Duration;

use boxlite_core::{BoxOptions, BoxStatus};
use common::{oom_kills, output, sh, TestHome};

/// Docker's default capability set without CAP_MKNOD (boxes have no device cgroup).
const DEFAULT_CAPS: &str = "00000000a00425fb";

#[tokio::test]
async fn memory_limit_ooms_the_workload_not_the_box() {
    let t = TestHome::new();
    let b = t.rt.create(BoxOptions { memory_mib: Some(32), ..t.options() }, None).unwrap();
    b.start().await.unwrap();
    // Workloads are the OOM killer's first choice (500), the agent is not (0).
    let (out, _, _) =
        output(b.exec(sh("cat /proc/1/oom_score_adj /proc/self/oom_score_adj")).await.unwrap())
            .await;
    assert_eq!(String::from_utf8_lossy(&out), "0\n500\n");
    // 64 MiB held in a shell variable: beyond the limit. Several times: the victim must be the
    // workload every time, never the agent or the shim.
    for round in 0..5 {
        let hog = sh("x=$(head -c 67108864 /dev/zero | tr '\\0' a); echo ${#x}");
        let (_, _, res) = output(b.exec(hog).await.unwrap()).await;
        assert!(res.signal == Some(9) || res.exit_code == Some(137), "not OOM-killed: {res:?}");
        let info = b.info().unwrap();
        assert_eq!(info.status, BoxStatus::Running, "round {round}: {:?}", info.error_reason);
    }
    let (out, _, res) = output(b.exec(sh("echo alive")).await.unwrap()).await;
    assert_eq!((out.as_slice(), res.exit_code), (&b"alive\n"[..], Some(0)));
    b.stop(Duration::from_secs(5)).await.unwrap();
}

/// An exec the kernel's OOM killer took says so on its result; one that ended normally, or by
/// a SIGKILL of its own, does not, even in a box whose OOM-kill count is above 0 by then. The
/// host reads the same count from the box's memory cgroup, to know the kernel did act.
#[tokio::test]
async fn an_exec_the_oom_killer_took_is_oom_killed() {
    let t = TestHome::new();
    let b = t.rt.create(BoxOptions { memory_mib: Some(64), ..t.options() }, None).unwrap();
    b.start().await.unwrap();
    let kill_itself = "kill -9 $$";

    let (out, _, res) = output(b.exec(sh("echo fine")).await.unwrap()).await;
    assert_eq!((out.as_slice(), res.exit_code, res.oom_killed), (&b"fine\n"[..], Some(0), false));
    let (_, _, res) = output(b.exec(sh(kill_itself)).await.unwrap()).await;
    assert_eq!((res.signal, res.oom_killed), (Some(9), false), "{res:?}");
    assert_eq!(oom_kills(b.id()), 0, "nothing was OOM-killed yet");

    // 128 MiB in the shell's own variable, twice the limit: the exec's process itself is the
    // largest in the box (and at oom_score_adj 500), so it is the victim.
    let hog = sh("x=$(head -c 134217728 /dev/zero | tr '\\0' a); echo ${#x}");
    let (out, err, res) = output(b.exec(hog).await.unwrap()).await;
    let kills = oom_kills(b.id());
    assert!(kills >= 1, "the OOM killer never acted: {res:?} {out:?} {err:?}");
    assert_eq!((res.signal, res.code()), (Some(9), 137), "{res:?}");
    assert!(res.oom_killed, "{res:?} after {kills} OOM kills");

    // The count stays above 0 from now on; a later SIGKILL is still not the OOM killer's.
    let (_, _, res) = output(b.exec(sh(kill_itself)).await.unwrap()).await;
    assert_eq!((res.signal, res.oom_killed), (Some(9), false), "{res:?}");
    assert_eq!(oom_kills(b.id()), kills);
    let info = b.info().unwrap();
    assert_eq!(info.status, BoxStatus::Running, "{:?}", info.error_reason);
    b.stop(Duration::from_secs(5)).await.unwrap();
}

#[tokio::test]
async fn processes_run_with_default_capabilities_and_no_new_privs() {
    let t = TestHome::new();
    let b = t.rt.create(t.options(), None).unwrap();
    b.start().await.unwrap();
    let (out, _, _) = output(
        b.exec(sh("grep -E '^(CapEff|CapBnd|NoNewPrivs)' /proc/self/status")).await.unwrap(),
    )
    .await;
    let status = String::from_utf8_lossy(&out);
    assert!(status.contains(&format!("CapEff:\t{DEFAULT_CAPS}")), "{status}");
    assert!(status.contains(&format!("CapBnd:\t{DEFAULT_CAPS}")), "{status}");
    assert!(status.contains("NoNewPrivs:\t1"), "{status}");
    // A block device of the host's disk cannot be made (CAP_MKNOD dropped) ...
    let (_, _, res) = output(b.exec(sh("mknod /root/disk b 8 0")).await.unwrap()).await;
    assert_ne!(res.exit_code, Some(0), "mknod must fail");
    // ... nor filesystems mounted (CAP_SYS_ADMIN dropped), while chown still works.
    let (_, _, res) = output(b.exec(sh("mount -t tmpfs none /mnt")).await.unwrap()).await;
    assert_ne!(res.exit_code, Some(0), "mount must fail");
    let (_, _, res) =
        output(b.exec(sh("touch /root/f && chown 1000:1000 /root/f")).await.unwrap()).await;
    assert_eq!(res.exit_code, Some(0));
    b.stop(Duration::from_secs(5)).await.unwrap();
}

#[tokio::test]
async fn cap_add_and_cap_drop_change_the_set_a_box_runs_with() {
    let t = TestHome::new();
    let opts = BoxOptions {
        cap_add: vec!["sys_ptrace".into()],
        cap_drop: vec!["CAP_NET_RAW".into(), "chown".into()],
        ..t.options()
    };
    let b = t.rt.create(opts, None).unwrap();
    b.start().await.unwrap();
    let status = sh("grep -E '^Cap(Eff|Prm|Bnd)' /proc/self/status; chown 1:1 /; echo chown=$?");
    let (out, _, _) = output(b.exec(status).await.unwrap()).await;
    // The default 0xa00425fb, plus bit 19 (CAP_SYS_PTRACE), minus bits 13 and 0.
    let want = "00000000a00c05fa";
    let got = String::from_utf8_lossy(&out);
    for set in ["CapPrm", "CapEff", "CapBnd"] {
        assert!(got.contains(&format!("{set}:\t{want}")), "{got}");
    }
    assert!(got.contains("chown=1"), "CAP_CHOWN was dropped: {got}");
    b.stop(Duration::from_secs(5)).await.unwrap();

    let mut only = t.options();
    only.cap_drop = vec!["ALL".into()];
    let b = t.rt.create(only, None).unwrap();
    b.start().await.unwrap();
    let (out, _, _) =
        output(b.exec(sh("grep -E '^CapEff' /proc/self/status")).await.unwrap()).await;
    assert_eq!(String::from_utf8_lossy(&out), "CapEff:\t0000000000000000\n");
    b.stop(Duration::from_secs(5)).await.unwrap();

    let opts = BoxOptions { cap_add: vec!["CAP_NOPE".into()], ..t.options() };
    let Err(err) = t.rt.create(opts, None) else { panic!("cap_add CAP_NOPE was accepted") };
    assert_eq!(err.code(), "invalid_argument");
    assert!(err.to_string().contains("is not a Linux capability"), "{err}");
}

#[tokio::test]
async fn cpu_limit_and_pid_limit_are_in_the_box_cgroup() {
    let t = TestHome::new();
    let b = t.rt.create(BoxOptions { cpus: Some(0.5), ..t.options() }, None).unwrap();
    b.start().await.unwrap();
    // The box sees its own cgroup as the root of its cgroup namespace.
    let (out, _, _) = output(b.exec(sh("cat /proc/self/cgroup")).await.unwrap()).await;
    let cgroups = String::from_utf8_lossy(&out);
    assert!(cgroups.lines().all(|l| l.ends_with(":/")), "{cgroups}");
    // From the host: the limits are what was asked for (v1 on these machines, v2 elsewhere).
    let v2 = std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists();
    let (cpu, pids) = if v2 {
        let dir = format!("/sys/fs/cgroup/boxlite/{}", b.id());
        (
            std::fs::read_to_string(format!("{dir}/cpu.max")).unwrap(),
            std::fs::read_to_string(format!("{dir}/pids.max")).unwrap(),
        )
    } else {
        let cpu_dir = ["/sys/fs/cgroup/cpu", "/sys/fs/cgroup/cpu,cpuacct"]
            .into_iter()
            .find(|d| std::path::Path::new(d).exists())
            .unwrap();
        (
            std::fs::read_to_string(format!("{cpu_dir}/boxlite/{}/cpu.cfs_quota_us", b.id()))
                .unwrap(),
            std::fs::read_to_string(format!("/sys/fs/cgroup/pids/boxlite/{}/pids.max", b.id()))
                .unwrap(),
        )
    };
    assert!(cpu.starts_with("50000"), "cpu quota {cpu}");
    assert_eq!(pids.trim(), "4096");
    b.stop(Duration::from_secs(5)).await.unwrap();
    let pids_dir = if v2 { "/sys/fs/cgroup/boxlite" } else { "/sys/fs/cgroup/pids/boxlite" };
    assert!(!std::path::Path::new(&format!("{pids_dir}/{}", b.id())).exists(), "cgroup removed");
}

#[tokio::test]
async fn processes_run_under_a_seccomp_filter() {
    let t = TestHome::new();
    let b = t.rt.create(t.options(), None).unwrap();
    b.start().await.unwrap();
    let (out, _, _) = output(
        b.exec(sh("grep '^Seccomp:' /proc/self/status; grep '^Seccomp:' /proc/1/status"))
            .await
            .unwrap(),
    )
    .await;
    // The agent (PID 1) carries the filter too: it installs it once at boot and every process
    // inherits it.
    assert_eq!(String::from_utf8_lossy(&out), "Seccomp:\t2\nSeccomp:\t2\n");
    // Namespaces cannot be created from inside (busybox unshare: a user namespace).
    let (_, err, res) = output(b.exec(sh("unshare -U true")).await.unwrap()).await;
    assert_ne!(res.exit_code, Some(0));
    assert!(
        String::from_utf8_lossy(&err).contains("not permitted"),
        "{}",
        String::from_utf8_lossy(&err)
    );
    b.stop(Duration::from_secs(5)).await.unwrap();
}
