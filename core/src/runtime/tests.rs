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
