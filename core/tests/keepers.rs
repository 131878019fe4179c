//! The box's keepers survive the box: a workload that fills its memory limit with many small
//! processes gets them OOM-killed, never the shim (it is not in the box's cgroups), so the box
//! runs on, or at worst (an agent the host lets nobody protect) ends `failed` because it ran
//! out of memory, as the shim's record says. And the `/tmp` tmpfs is bounded: half the box's memory by default, `tmp_size_mib`
//! when asked, ENOSPC inside beyond it. Real boxes; the host side read from /proc and the
//! cgroup files.

mod common;

use std::time::Duration;

use boxlite_core::{BoxOptions, BoxStatus, Command, ExecResult, LiteBox};
use common::{agent_of, find_named, oom_kills, sh, TestHome};

/// Bound on every exec of these tests (a hog workload: up to 96 allocations and OOM kills).
const EXEC_TIMEOUT: Duration = Duration::from_secs(120);

/// `COUNT` processes holding `BYTES` each (a shell variable), started one at a time, so that
/// together they need far more than the box's limit and the OOM killer must act many times.
/// Each hog holds its memory until released; the parent learns a hog is done allocating from
/// EOF on its command substitution (the hog closes its stdout, or dies), so every step waits
/// on an event. The workload first does what the issue's attacker did: lower its own
/// `oom_score_adj` (500 from the agent) to 0.
const HOGS: &str = r#"
echo 0 > /proc/self/oom_score_adj 2>/dev/null
echo "oom_score_adj=$(cat /proc/self/oom_score_adj)"
gate=/tmp/gate.$$
mkfifo "$gate" || exit 90
# Held open read-write by the parent only: closing it is the hogs' EOF, their release.
exec 3<>"$gate"
hog() {
    exec 3>&-
    x=$(head -c BYTES /dev/zero | tr '\0' a)
    # Open the gate before saying so: once the parent has its answer, no hog is left to
    # block in open(2) after the release.
    exec 5<"$gate"
    echo "held ${#x}"
    exec >&-
    read -r _ <&5
}
held=0
died=0
i=0
while [ $i -lt COUNT ]; do
    r=$(hog &)
    if [ "$r" = "held BYTES" ]; then held=$((held + 1)); else died=$((died + 1)); fi
    i=$((i + 1))
done
exec 3>&-
rm -f "$gate"
echo "held=$held died=$died"
"#;

/// The hog workload: `count` processes of `mib` MiB each.
fn hogs(count: u32, mib: u32, user: Option<&str>) -> Command {
    let script =
        HOGS.replace("COUNT", &count.to_string()).replace("BYTES", &(mib << 20).to_string());
    Command { user: user.map(str::to_string), ..sh(&script) }
}

/// The shim process as the host sees it: (start time in ticks, its cgroup lines).
fn shim_process(pid: u32) -> Option<(u64, String)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let comm_end = stat.rfind(')')?;
    if &stat[stat.find('(')? + 1..comm_end] != "boxlite-shim" {
        return None;
    }
    let start = stat[comm_end + 2..].split_whitespace().nth(19)?.parse().ok()?;
    let cgroups = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).ok()?;
    Some((start, cgroups))
}

/// Runs `cmd` with a timeout and collects its output. An exec that breaks (the agent died) is
/// an `Err` with the reason, for the test to report along with what became of the box.
async fn try_run(b: &LiteBox, mut cmd: Command) -> Result<(String, String, ExecResult), String> {
    cmd.timeout = Some(EXEC_TIMEOUT);
    let collect = async {
        let mut exec = b.exec(cmd).await.map_err(|e| e.to_string())?;
        let drain = |rx: Option<tokio::sync::mpsc::Receiver<Vec<u8>>>| async move {
            let mut all = Vec::new();
            if let Some(mut rx) = rx {
                while let Some(chunk) = rx.recv().await {
                    all.extend(chunk);
                }
            }
            String::from_utf8_lossy(&all).into_owned()
        };
        let (out, err) = tokio::join!(drain(exec.stdout()), drain(exec.stderr()));
        let res = exec.wait().await.map_err(|e| e.to_string())?;
        Ok((out, err, res))
    };
    tokio::time::timeout(EXEC_TIMEOUT + Duration::from_secs(10), collect)
        .await
        .unwrap_or_else(|_| Err(format!("exec did not end within {EXEC_TIMEOUT:?}")))
}

async fn run(b: &LiteBox, cmd: Command) -> (String, String, ExecResult) {
    try_run(b, cmd).await.unwrap_or_else(|err| panic!("exec failed: {err}"))
}

/// A running box with a 64 MiB memory limit, its shim's pid, start time and cgroup lines.
async fn start_64_mib_box(t: &TestHome) -> (LiteBox, u32, u64, String) {
    let b = t.rt.create(BoxOptions { memory_mib: Some(64), ..t.options() }, None).unwrap();
    b.start().await.unwrap();
    let shim_pid = b.info().unwrap().pid.expect("shim pid of a running box");
    let (shim_start, shim_cgroups) = shim_process(shim_pid).expect("shim process");
    (b, shim_pid, shim_start, shim_cgroups)
}

/// 64 hogs of 4 MiB in a 64 MiB box, as `nobody` and as root: the OOM killer takes hogs, the
/// box runs on, and its shim is the same process, never in the box's cgroups.
#[tokio::test]
async fn a_workload_filling_its_memory_kills_only_its_own_processes() {
    let t = TestHome::new();
    let (b, shim_pid, shim_start, shim_cgroups) = start_64_mib_box(&t).await;
    // The shim is in none of the box's cgroups: the box's OOM killer cannot choose it.
    let box_cgroup = format!("/boxlite/{}", b.id());
    assert!(!shim_cgroups.contains(&box_cgroup), "shim is in the box's cgroups:\n{shim_cgroups}");

    for user in [Some("nobody"), None] {
        let kills_before = oom_kills(b.id());
        let ran = try_run(&b, hogs(64, 4, user)).await;
        let info = b.info().unwrap();
        let shim = shim_process(shim_pid);
        let state = format!(
            "box {:?} ({:?}), shim alive: {}",
            info.status,
            info.error_reason,
            shim.is_some()
        );
        let (hog_out, err, res) = ran.unwrap_or_else(|e| panic!("{user:?}: {e}; {state}"));
        let kills = oom_kills(b.id()) - kills_before;
        assert_eq!(info.status, BoxStatus::Running, "{user:?}: {state}");
        assert_eq!(res.exit_code, Some(0), "{user:?}: {res:?}\n{hog_out}{err}");
        assert!(hog_out.contains("held="), "{user:?}: {hog_out}{err}");
        assert!(kills >= 1, "{user:?}: the OOM killer never acted: {hog_out}{err}");
        // The same shim process, still outside the box's cgroups.
        let (start, cgroups) = shim.expect("the shim died");
        assert_eq!(start, shim_start, "{user:?}: shim pid {shim_pid} was reused");
        assert!(!cgroups.contains(&box_cgroup), "{cgroups}");
        assert_eq!(info.pid, Some(shim_pid));
        let (out, _, res) = run(&b, sh("echo alive")).await;
        assert_eq!((out.as_str(), res.exit_code), ("alive\n", Some(0)), "{user:?}");
        eprintln!("{user:?}: {kills} OOM kills; {}", hog_out.trim().replace('\n', "; "));
    }
    tokio::time::timeout(Duration::from_secs(30), b.stop(Duration::from_secs(5)))
        .await
        .expect("stop timed out")
        .unwrap();
}

/// The issue's attack: 96 hogs of 1 MiB, each smaller than the shim (about 2.8 MiB resident)
/// and the agent, at the same `oom_score_adj` 0, so the OOM killer prefers any keeper it can
/// reach to a hog. The shim is out of its reach and survives. The agent is in the box's
/// cgroup: where the host lets it take `oom_score_adj` -1000 (CAP_SYS_RESOURCE) the box runs
/// on. Where not (these CI hosts give root no CAP_SYS_RESOURCE) the agent is the largest
/// process at the workload's lowest score, so it is the OOM killer's first victim, and the
/// surviving shim ends the box as `failed` because it ran out of memory, with the limit.
#[tokio::test]
async fn hogs_smaller_than_the_keepers_never_take_the_shim() {
    let t = TestHome::new();
    let (b, shim_pid, shim_start, _) = start_64_mib_box(&t).await;
    let agent_adj = std::fs::read_to_string(format!("/proc/{}/oom_score_adj", agent_of(shim_pid)))
        .expect("agent's oom_score_adj");
    let agent_adj = agent_adj.trim();

    let ran = try_run(&b, hogs(96, 1, Some("nobody"))).await;
    let shim = shim_process(shim_pid);
    assert_eq!(shim.map(|(start, _)| start), Some(shim_start), "the shim died: {ran:?}");
    if agent_adj == "-1000" {
        let (out, err, res) = ran.unwrap_or_else(|e| panic!("a protected agent died: {e}"));
        assert_eq!(res.exit_code, Some(0), "{res:?}\n{out}{err}");
        assert_eq!(b.info().unwrap().status, BoxStatus::Running);
        let (out, _, res) = run(&b, sh("echo alive")).await;
        assert_eq!((out.as_str(), res.exit_code), ("alive\n", Some(0)));
        eprintln!("agent survived (oom_score_adj {agent_adj})");
        b.stop(Duration::from_secs(5)).await.unwrap();
        return;
    }
    let broken = match ran {
        Err(broken) => broken,
        Ok(ran) => panic!("the agent (oom_score_adj {agent_adj}) outlived the hogs: {ran:?}"),
    };
    let info = tokio::time::timeout(Duration::from_secs(30), b.wait())
        .await
        .expect("the box did not end after its agent died")
        .unwrap();
    let reason = info.error_reason.unwrap_or_default();
    assert_eq!(info.status, BoxStatus::Failed, "{reason}");
    // The shim's record names the cause, read from the box's memory cgroup, not just the
    // signal; a shim that died would have left no record at all.
    assert!(reason.starts_with("the box ran out of memory: "), "{broken}: {reason}");
    assert!(reason.contains("(memory limit 64 MiB; "), "{reason}");
    assert!(reason.contains(" in the box)"), "{reason}");
    eprintln!("agent (oom_score_adj {agent_adj}) was the victim: {reason}");
}

/// The workload's OOM kills are not the box's failure: a box whose hogs were OOM-killed and
/// whose main command then exits 0 on its own ends `stopped` with exit code 0 and no error.
/// The main command waits on a FIFO the test opens once the hogs are done; it first lowers
/// its `oom_score_adj` to the hogs' 0, so that a larger hog, not it, is each OOM kill's victim.
#[tokio::test]
async fn a_box_whose_workload_was_oom_killed_ends_cleanly() {
    let t = TestHome::new();
    let gate = "mkfifo /tmp/main-gate 2>/dev/null; ";
    let main = format!("echo 0 > /proc/self/oom_score_adj; {gate}exec cat /tmp/main-gate");
    let opts = BoxOptions {
        memory_mib: Some(64),
        cmd: Some(["sh", "-c", &main].map(str::to_string).to_vec()),
        ..t.options()
    };
    let b = t.rt.create(opts, None).unwrap();
    b.start().await.unwrap();
    let (out, err, res) = run(&b, hogs(64, 4, Some("nobody"))).await;
    assert_eq!(res.exit_code, Some(0), "{res:?}\n{out}{err}");
    let kills = oom_kills(b.id());
    assert!(kills >= 1, "the OOM killer never acted: {out}{err}");
    // Release the main command: it reads to EOF and exits 0.
    let release = run(&b, sh(&format!("{gate}echo done > /tmp/main-gate"))).await;
    assert_eq!(release.2.exit_code, Some(0), "{release:?}");
    let info = tokio::time::timeout(Duration::from_secs(30), b.wait())
        .await
        .expect("the box did not end after its main command was released")
        .unwrap();
    assert_eq!(info.status, BoxStatus::Stopped, "{:?}", info.error_reason);
    assert_eq!((info.exit_code, info.error_reason), (Some(0), None), "after {kills} OOM kills");
}

/// `df -m` on one mount point: (1M-blocks, used).
fn df_mib(out: &str) -> (u64, u64) {
    let fields: Vec<u64> = out
        .lines()
        .nth(1)
        .map(|line| {
            line.split_whitespace().skip(1).take(2).filter_map(|f| f.parse().ok()).collect()
        })
        .unwrap_or_default();
    match fields[..] {
        [size, used] => (size, used),
        _ => panic!("df: {out}"),
    }
}

#[tokio::test]
async fn tmp_is_half_the_memory_limit_by_default() {
    let t = TestHome::new();
    let b = t.rt.create(t.options(), None).unwrap();
    b.start().await.unwrap();
    let limits = b.info().unwrap().limits;
    assert_eq!((limits.memory_mib, limits.tmp_size_mib), (1024, 512));
    let (out, err, res) = run(&b, sh("df -m /tmp; stat -f -c %T /tmp")).await;
    assert_eq!(res.exit_code, Some(0), "{out}{err}");
    assert_eq!(df_mib(&out).0, 512, "{out}");
    assert_eq!(out.lines().last(), Some("tmpfs"), "{out}");
    b.stop(Duration::from_secs(5)).await.unwrap();
}

#[tokio::test]
async fn a_full_tmp_is_enospc_inside_and_touches_no_host_disk() {
    let t = TestHome::new();
    let b = t.rt.create(BoxOptions { tmp_size_mib: Some(8), ..t.options() }, None).unwrap();
    b.start().await.unwrap();
    assert_eq!(b.info().unwrap().limits.tmp_size_mib, 8);
    let fill = "dd if=/dev/zero of=/tmp/filler.bin bs=1048576 count=16; echo rc=$?; df -m /tmp";
    let (out, err, res) = run(&b, sh(fill)).await;
    assert_eq!(res.exit_code, Some(0), "{out}{err}");
    assert!(err.contains("No space left on device"), "stderr: {err}");
    assert!(out.starts_with("rc=1\n"), "{out}");
    let (size_mib, used_mib) = df_mib(out.strip_prefix("rc=1\n").unwrap_or(&out));
    assert_eq!((size_mib, used_mib), (8, 8), "{out}");
    // The 8 MiB written live in the box's tmpfs (memory), not on the host's disk.
    let mut found = Vec::new();
    find_named(t.path(), "filler.bin", &mut found);
    assert!(found.is_empty(), "written to the host's disk: {found:?}");
    b.stop(Duration::from_secs(5)).await.unwrap();
}
