//! Fault injection into the start pipeline through the Engine seam, with the real shim.

use std::process::Child;
use std::sync::Arc;
use std::time::Duration;

use crate::engine::{Engine, LaunchRequest, Launched, NamespacesEngine};
use crate::{BoxOptions, BoxStatus, ErrorKind, Result, Runtime, RuntimeOptions};

/// Launches the real shim, then kills it at once: "the shim killed during start".
#[derive(Debug)]
struct KillShimAfterLaunch(NamespacesEngine);

impl Engine for KillShimAfterLaunch {
    fn launch(&self, request: &LaunchRequest) -> Result<Launched> {
        let launched = self.0.launch(request)?;
        kill(&launched.child);
        Ok(launched)
    }
}

fn kill(child: &Child) {
    // SAFETY: our own unreaped child.
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGKILL) };
}

fn env(var: &str) -> String {
    std::env::var(var).unwrap_or_else(|_| panic!("{var} unset: run through scripts/test.sh"))
}

#[tokio::test]
async fn shim_killed_during_start_leaves_a_failed_record_and_no_zombie() {
    let dir = tempfile::tempdir().unwrap();
    let rt = Runtime::open(RuntimeOptions {
        home_dir: Some(dir.path().into()),
        shim_path: Some(env("BOXLITE_SHIM").into()),
        guest_path: Some(env("BOXLITE_GUEST").into()),
        guest_ready_timeout: Some(Duration::from_secs(60)),
        ..Default::default()
    })
    .unwrap();
    rt.set_engine(Arc::new(KillShimAfterLaunch(NamespacesEngine::new(env("BOXLITE_SHIM").into()))));
    let b = rt.create(BoxOptions::new(env("BOXLITE_TEST_IMAGE")), None).unwrap();
    let started = std::time::Instant::now();
    let err = b.start().await.unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(20), "returned at once, not at the timeout");
    assert_eq!(err.kind(), ErrorKind::Engine, "{err}");
    let info = b.info().unwrap();
    assert_eq!(info.status, BoxStatus::Failed);
    let reason = info.error_reason.unwrap();
    assert!(reason.contains("signal: 9") || reason.contains("exited"), "{reason}");
    assert!(dir.path().join("boxes").join(b.id()).is_dir(), "files kept");
    // No zombie: the reaper reaped the killed shim.
    let me = std::process::id();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let stat = std::fs::read_to_string(entry.path().join("stat")).unwrap_or_default();
        if let Some(rest) = stat.rfind(')').map(|i| &stat[i + 2..]) {
            let f: Vec<&str> = rest.split_whitespace().take(2).collect();
            assert!(
                !(f.first() == Some(&"Z") && f.get(1) == Some(&me.to_string().as_str())),
                "zombie {stat}"
            );
        }
    }
}

/// A late exit notice of a previous run (its monitor scheduled after the box was started
/// again) must not settle the new run.
#[tokio::test]
async fn late_exit_notice_of_an_old_run_is_ignored() {
    let dir = tempfile::tempdir().unwrap();
    let rt = Runtime::open(RuntimeOptions {
        home_dir: Some(dir.path().into()),
        shim_path: Some(env("BOXLITE_SHIM").into()),
        guest_path: Some(env("BOXLITE_GUEST").into()),
        guest_ready_timeout: None,
        ..Default::default()
    })
    .unwrap();
    let b = rt.create(BoxOptions::new(env("BOXLITE_TEST_IMAGE")), None).unwrap();
    b.start().await.unwrap();
    let old_pid = b.info().unwrap().pid.unwrap();
    b.stop(Duration::from_secs(5)).await.unwrap();
    b.start().await.unwrap();
    rt.settle_after_exit(b.id(), old_pid).await.unwrap();
    let info = b.info().unwrap();
    assert_eq!(info.status, BoxStatus::Running, "{:?}", info.error_reason);
    let result = b.exec(crate::Command::new(["true"])).await.unwrap().wait().await.unwrap();
    assert_eq!(result.exit_code, Some(0), "the new run's liveness pipe is still held");
    b.stop(Duration::from_secs(5)).await.unwrap();
}
