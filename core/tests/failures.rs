//! Every way a start can fail leaves a `failed` record with a reason, the box's files, and no
//! stray process. Real shim, real namespaces; the guest is swapped for small static programs
//! that misbehave the way a broken agent would.

mod common;

use std::time::{Duration, Instant};

use boxlite_core::{BoxStatus, ErrorKind};
use common::{fake_guest, own_zombies, processes_mentioning, TestHome};

/// The tests here run one at a time: some count the zombies among this process's children,
/// and one makes such a zombie on purpose, which another test running meanwhile would see.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

#[tokio::test]
async fn guest_never_ready_times_out_with_a_diagnosis() {
    let _serial = SERIAL.lock().await;
    let t = TestHome::with_options(&fake_guest("never_ready"), Some(Duration::from_secs(2)));
    let b = t.rt.create(t.options(), Some("hung")).unwrap();
    let err = b.start().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Timeout, "{err}");
    let info = b.info().unwrap();
    assert_eq!(info.status, BoxStatus::Failed);
    let reason = info.error_reason.unwrap();
    for needle in [
        "did not become ready within 2.0s",
        "is alive",
        "agent socket present",
        "likely cause",
        "never_ready: started, not serving",
    ] {
        assert!(reason.contains(needle), "{needle:?} missing from: {reason}");
    }
    assert!(t.path().join("boxes").join(b.id()).is_dir(), "files kept");
    assert!(processes_mentioning(&t.path().display().to_string()).is_empty());
    assert!(own_zombies().is_empty());
}

#[tokio::test]
async fn agent_dying_at_once_fails_fast_not_at_the_timeout() {
    let _serial = SERIAL.lock().await;
    let t = TestHome::with_options(&fake_guest("exit_at_once"), Some(Duration::from_secs(60)));
    let b = t.rt.create(t.options(), None).unwrap();
    let started = Instant::now();
    let err = b.start().await.unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(20), "waited {:?}", started.elapsed());
    let reason = b.info().unwrap().error_reason.unwrap();
    assert!(reason.contains("exit_at_once: giving up"), "{reason}");
    assert_eq!(err.kind(), ErrorKind::Engine, "{err}");
}

#[tokio::test]
async fn eight_init_failures_leave_eight_failed_records_and_no_process() {
    let _serial = SERIAL.lock().await;
    let t = TestHome::with_options(&fake_guest("exit_at_once"), Some(Duration::from_secs(30)));
    let mut ids = Vec::new();
    for i in 0..8 {
        let b = t.rt.create(t.options(), Some(&format!("bad-{i}"))).unwrap();
        assert!(b.start().await.is_err());
        ids.push(b.id().to_string());
    }
    let infos = t.rt.list_info().unwrap();
    assert_eq!(infos.len(), 8);
    for info in infos {
        assert_eq!(info.status, BoxStatus::Failed);
        assert!(info.error_reason.as_deref().is_some_and(|r| !r.is_empty()));
        assert_eq!(info.pid, None);
    }
    assert!(own_zombies().is_empty(), "zombies: {:?}", own_zombies());
    let leftovers = processes_mentioning(&t.path().display().to_string());
    assert!(leftovers.is_empty(), "orphans: {leftovers:?}");
    for id in &ids {
        assert!(common::leftover_cgroups(id).is_empty(), "cgroups of {id} left behind");
    }
    // A failed box can be retried (and fails again the same way, cleanly).
    let again = t.rt.get(&ids[0]).unwrap().unwrap();
    assert!(again.start().await.is_err());
    assert_eq!(again.info().unwrap().status, BoxStatus::Failed);
}

#[tokio::test]
async fn missing_image_fails_the_start_and_keeps_the_record() {
    let _serial = SERIAL.lock().await;
    let t = TestHome::new();
    let b =
        t.rt.create(boxlite_core::BoxOptions::new("oci:/nonexistent/layout:latest"), None).unwrap();
    let err = b.start().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
    let info = b.info().unwrap();
    assert_eq!(info.status, BoxStatus::Failed);
    assert!(info.error_reason.unwrap().contains("/nonexistent/layout"));
}

#[tokio::test]
async fn unregistered_child_keeps_its_exit_code_while_boxes_start() {
    let _serial = SERIAL.lock().await;
    let t = TestHome::new();
    let b = t.rt.create(t.options(), None).unwrap();
    b.start().await.unwrap();
    // A child of the embedding program that boxlite knows nothing about, already exited (a
    // zombie, waited for with WNOWAIT so it stays unreaped) when the reaper reaps the shim.
    let mut own = std::process::Command::new("sh").args(["-c", "exit 42"]).spawn().unwrap();
    // SAFETY: waitid on our own child with WNOWAIT leaves it for own.wait() below.
    let waited = unsafe {
        let mut info: libc::siginfo_t = std::mem::zeroed();
        libc::waitid(libc::P_PID, own.id(), &mut info, libc::WEXITED | libc::WNOWAIT)
    };
    assert_eq!(waited, 0);
    b.stop(Duration::from_secs(5)).await.unwrap(); // the reaper reaps the shim now
    let status = own.wait().expect("the child's status was not stolen");
    assert_eq!(status.code(), Some(42));
}

#[tokio::test]
async fn main_command_that_does_not_exist_fails_the_start() {
    let _serial = SERIAL.lock().await;
    let t = TestHome::new();
    let opts = boxlite_core::BoxOptions { cmd: Some(vec!["no-such-main".into()]), ..t.options() };
    let b = t.rt.create(opts, None).unwrap();
    let err = b.start().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::CommandNotFound, "{err}");
    let info = b.info().unwrap();
    assert_eq!(info.status, BoxStatus::Failed);
    assert!(info.error_reason.unwrap().contains("command not found: no-such-main"));
    assert!(processes_mentioning(&t.path().display().to_string()).is_empty());
}

/// Whether another open of `path` holds its flock right now.
fn lock_is_held(path: &std::path::Path) -> bool {
    use std::os::fd::AsRawFd;
    let Ok(file) = std::fs::OpenOptions::new().write(true).open(path) else { return false };
    // SAFETY: flock on a descriptor we own; dropping the file releases a lock we got.
    unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) != 0 }
}

/// The exit monitor of a box runs on the caller's tokio runtime. When the box's main command
/// ends, the monitor takes the box lock to record the exit. A sync `remove` called on the
/// executor thread of a current-thread runtime at that moment must not wait for a lock that
/// only the (then unpolled) monitor task could release: it used to hang forever.
#[test]
fn sync_remove_while_the_exit_monitor_settles_does_not_deadlock() {
    let _serial = SERIAL.blocking_lock();
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let tokio_rt =
            tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        let caught = tokio_rt.block_on(async {
            let t = TestHome::new();
            let mut raced = 0;
            for _ in 0..5 {
                let opts = boxlite_core::BoxOptions {
                    cmd: Some(vec!["sh".into(), "-c".into(), "read line".into()]),
                    ..t.options()
                };
                let b = t.rt.create(opts, None).unwrap();
                b.start().await.unwrap();
                let lock = t.path().join("locks").join(format!("{}.lock", b.id()));
                // The main command waits on stdin, which is /dev/null: it ends at once, and the
                // monitor wakes. Catch the moment its lock is held: yield so it can run, then
                // watch the lock without yielding (1 ms at a time, 10 s in all), so that a task
                // holding it cannot be polled in between.
                let deadline = Instant::now() + Duration::from_secs(10);
                let held = loop {
                    tokio::task::yield_now().await;
                    let spin_until = Instant::now() + Duration::from_millis(1);
                    let mut seen = false;
                    while Instant::now() < spin_until && !seen {
                        seen = lock_is_held(&lock);
                    }
                    if seen || b.info().unwrap().status == BoxStatus::Stopped {
                        break seen;
                    }
                    assert!(Instant::now() < deadline, "the box's main command never ended");
                };
                raced += usize::from(held);
                t.rt.remove(b.id(), true).unwrap();
            }
            raced
        });
        let _ = done_tx.send(caught);
    });
    let raced = done_rx
        .recv_timeout(Duration::from_secs(60))
        .expect("a sync remove deadlocked against the exit monitor's lock");
    assert!(raced > 0, "the monitor's lock was never caught held: the test proved nothing");
}
