//! The host never waits on a box without a deadline, and never signals a process it has not
//! verified. Real boxes: the agent is wedged from the host with SIGSTOP, and records are
//! pointed at live processes that are not theirs.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use boxlite_core::{BoxStatus, Command, ErrorKind};
use common::{agent_of, leftover_cgroups, proc_stat as stat, processes_mentioning, sh, TestHome};

/// The control-call deadline of core (`AGENT_CALL_TIMEOUT`), as the error messages state it.
const CALL_DEADLINE: Duration = Duration::from_secs(5);

/// Whether the process that started at `ticks` still runs (a zombie does not).
fn alive(pid: u32, ticks: u64) -> bool {
    stat(pid).is_some_and(|(state, now)| now == ticks && state != 'Z')
}

/// `await`s `fut`, failing the test if it takes longer than `bound`.
async fn within<T>(what: &str, bound: Duration, fut: impl std::future::Future<Output = T>) -> T {
    let started = Instant::now();
    let out = tokio::time::timeout(bound, fut)
        .await
        .unwrap_or_else(|_| panic!("{what} still waiting after {bound:?}: no deadline"));
    eprintln!("{what}: {:?}", started.elapsed());
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wedged_agent_fails_execs_with_timeout_and_stop_still_finishes() {
    let t = TestHome::new();
    let b = t.rt.create(t.options(), None).unwrap();
    b.start().await.unwrap();
    let shim = b.info().unwrap().pid.expect("running box records its shim");
    let agent = agent_of(shim);
    let (shim_ticks, agent_ticks) = (stat(shim).unwrap().1, stat(agent).unwrap().1);

    // Two execs under way when the agent wedges: one with a timeout, one without.
    let timed = b
        .exec(Command { timeout: Some(Duration::from_secs(2)), ..sh("sleep 1000") })
        .await
        .unwrap();
    let untimed = b.exec(sh("sleep 1000")).await.unwrap();
    // SAFETY: the agent was read as the shim's only child just above and runs still.
    assert_eq!(unsafe { libc::kill(agent as i32, libc::SIGSTOP) }, 0);
    let wedged_at = Instant::now();

    // A new exec: the agent never answers its start.
    let err = within("exec on a wedged agent", CALL_DEADLINE * 3, b.exec(Command::new(["true"])))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Timeout, "{err}");
    let msg = err.to_string();
    assert!(
        msg.contains(b.id()) && msg.contains("did not answer exec \"true\" within 5 s"),
        "{msg}"
    );

    // The timed exec's wait ends by its timeout + kill grace (1 s) + the control deadline.
    let err = within("wait of the timed exec", Duration::from_secs(2 + 1 + 5 + 3), timed.wait())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Timeout, "{err}");
    // The untimed one ends when a ping goes unanswered: a probe interval plus a deadline.
    let err =
        within("wait of the untimed exec", CALL_DEADLINE * 3, untimed.wait()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Timeout, "{err}");
    assert!(err.to_string().contains("did not answer ping within 5 s"), "{err}");
    assert!(wedged_at.elapsed() < CALL_DEADLINE * 4, "waits ran one after another");

    // stop: grace 1 s + the shutdown deadline (5 s) + the shim's SIGTERM slack (3 s), then
    // bounded kills (at most 5 s each); a bound, not the expected time (about 9 s).
    let grace = Duration::from_secs(1);
    within("stop of a wedged box", grace + Duration::from_secs(5 + 3 + 5 + 5), b.stop(grace))
        .await
        .unwrap();
    let info = b.info().unwrap();
    assert_eq!(info.status, BoxStatus::Failed, "{info:?}");
    let reason = info.error_reason.unwrap();
    assert!(reason.contains("did not answer shutdown within 6 s"), "{reason}");
    assert!(reason.contains("were killed"), "{reason}");

    // Nothing of the box is left: shim, agent, cgroups, any process naming its home.
    assert!(!alive(shim, shim_ticks), "the shim survived the stop");
    assert!(!alive(agent, agent_ticks), "the agent survived the stop");
    assert!(leftover_cgroups(b.id()).is_empty(), "{:?}", leftover_cgroups(b.id()));
    let home = t.path().display().to_string();
    assert!(processes_mentioning(&home).is_empty(), "{:?}", processes_mentioning(&home));

    t.rt.remove(b.id(), false).unwrap();
    assert!(t.rt.get(b.id()).unwrap().is_none());
}

/// Points the box's row at `pid` with `ticks` as the shim's start time, in `status`, as another
/// (buggy, or older) writer of the same database would.
fn forge_row(home: &Path, id: &str, status: &str, pid: Option<u32>, ticks: Option<u64>) {
    let db = rusqlite::Connection::open(home.join("db/boxlite.db")).unwrap();
    let owner = child_that_exited();
    let changed = db
        .execute(
            "UPDATE boxes SET status = ?1, pid = ?2, shim_start_ticks = ?3, owner_pid = ?4 \
             WHERE id = ?5",
            rusqlite::params![status, pid, ticks.map(|t| t as i64), owner, id],
        )
        .unwrap();
    assert_eq!(changed, 1);
}

/// Another runtime on the same home, as the next command would open it.
fn reopen(t: &TestHome) -> boxlite_core::Runtime {
    common::open(t.path(), &common::fixture().guest, None)
}

/// The pid of a process that is gone (a reaped child of ours): an owner that died.
fn child_that_exited() -> u32 {
    let mut child = std::process::Command::new("true").spawn().unwrap();
    child.wait().unwrap();
    child.id()
}

#[tokio::test]
async fn a_record_naming_another_process_never_gets_it_signalled() {
    let t = TestHome::new();
    // A live process that is not the box's: its pid goes into the rows with a wrong start time.
    let mut bystander = std::process::Command::new("sleep").arg("1000").spawn().unwrap();
    let pid = bystander.id();
    let wrong = stat(pid).unwrap().1 + 1;

    for status in ["running", "stopping", "starting"] {
        let b = t.rt.create(t.options(), None).unwrap();
        forge_row(t.path(), b.id(), status, Some(pid), Some(wrong));
        // Whatever stop answers for a box whose shim is not there, it must not touch the pid.
        if let Err(e) = b.stop(Duration::from_secs(1)).await {
            assert_eq!(e.kind(), ErrorKind::InvalidState, "{status}: {e}");
        }
        assert!(bystander.try_wait().unwrap().is_none(), "{status}: stop signalled pid {pid}");
        // Reconciling it (a fresh open, then a read) must not touch the pid either.
        let info = reopen(&t).get_info(b.id()).unwrap().unwrap();
        assert!(!info.status.is_active(), "{status}: left {:?}", info.status);
        assert!(bystander.try_wait().unwrap().is_none(), "{status}: reconcile signalled {pid}");

        let b = t.rt.create(t.options(), None).unwrap();
        forge_row(t.path(), b.id(), status, Some(pid), Some(wrong));
        t.rt.remove(b.id(), true).unwrap();
        assert!(bystander.try_wait().unwrap().is_none(), "{status}: remove signalled pid {pid}");
    }
    bystander.kill().unwrap();
    bystander.wait().unwrap();
}

#[tokio::test]
async fn a_record_without_a_pid_never_signals_anything() {
    let t = TestHome::new();
    // In this test's process group, as is the test itself: kill(0) would take both.
    let mut bystander = std::process::Command::new("sleep").arg("1000").spawn().unwrap();
    for status in ["running", "stopping", "starting"] {
        let b = t.rt.create(t.options(), None).unwrap();
        forge_row(t.path(), b.id(), status, None, None);
        if let Err(e) = b.stop(Duration::from_secs(1)).await {
            assert_eq!(e.kind(), ErrorKind::InvalidState, "{status}: {e}");
        }
        assert!(!reopen(&t).get_info(b.id()).unwrap().unwrap().status.is_active(), "{status}");
        let b = t.rt.create(t.options(), None).unwrap();
        forge_row(t.path(), b.id(), status, None, None);
        t.rt.remove(b.id(), true).unwrap();
        assert!(bystander.try_wait().unwrap().is_none(), "{status}: the process group was hit");
    }
    bystander.kill().unwrap();
    bystander.wait().unwrap();
}
