//! The namespaces engine: `boxlite-shim` builds mount, pid, uts, ipc, net and cgroup
//! namespaces, an overlay rootfs and starts the agent as PID 1.

use std::fs::OpenOptions;
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use super::{Engine, LaunchRequest, Launched};
use crate::error::{Error, ErrorKind, Result};

#[derive(Debug)]
pub(crate) struct NamespacesEngine {
    shim_path: PathBuf,
}

impl NamespacesEngine {
    pub(crate) fn new(shim_path: PathBuf) -> Self {
        NamespacesEngine { shim_path }
    }
}

impl Engine for NamespacesEngine {
    fn launch(&self, req: &LaunchRequest) -> Result<Launched> {
        let id = &req.spec.box_id;
        let spec_json = serde_json::to_vec_pretty(&req.spec).map_err(|e| {
            Error::new(ErrorKind::Internal, format!("serialize shim spec of box {id}"))
                .with_source(e)
        })?;
        std::fs::write(&req.spec_path, spec_json)
            .map_err(|e| Error::io(format!("write shim spec {}", req.spec_path.display()), e))?;
        // Only what the shim says before it has read the spec lands here directly (a spec it
        // cannot parse); from then on it appends to the same file through its bounded writer.
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .open(&req.log_path)
            .map_err(|e| Error::io(format!("open box log {}", req.log_path.display()), e))?;
        // No pre_exec, uid or groups: std keeps this on its posix_spawn path, so a large host
        // process is not forked. setsid and everything else happen in the shim.
        let mut child = Command::new(&self.shim_path)
            .arg(&req.spec_path)
            .env_clear()
            .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
            .stdin(if req.spec.detach { Stdio::null() } else { Stdio::piped() })
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log))
            .spawn()
            .map_err(|e| {
                Error::new(
                    ErrorKind::Engine,
                    format!("start box {id}: spawn shim {}", self.shim_path.display()),
                )
                .with_source(e)
            })?;
        let ready = child.stdout.take().ok_or_else(|| {
            Error::new(ErrorKind::Internal, format!("start box {id}: shim stdout not piped"))
        })?;
        let liveness = child.stdin.take();
        Ok(Launched { child, ready, liveness })
    }
}
