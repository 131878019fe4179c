//! [`LiteBox`]: a handle to one box.

use std::time::Duration;

use boxlite_protocol::pb::AttachMainRequest;

use crate::agent::{status_error, within, AGENT_CALL_TIMEOUT};
use crate::error::{Error, ErrorKind, Result};
use crate::exec::{Command, Execution};
use crate::info::BoxInfo;
use crate::runtime::Runtime;
use crate::status::BoxStatus;

/// Default grace period of [`LiteBox::stop`].
pub const DEFAULT_STOP_TIMEOUT: Duration = Duration::from_secs(10);

/// A handle to a box. It holds the id only; status and everything else are read from the
/// database on each call, so the handle never disagrees with it.
#[derive(Clone, Debug)]
pub struct LiteBox {
    runtime: Runtime,
    id: String,
    name: Option<String>,
}

impl LiteBox {
    pub(crate) fn new(runtime: Runtime, id: String, name: Option<String>) -> Self {
        LiteBox { runtime, id, name }
    }

    /// The box's id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The box's name, when it has one.
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// Current info; `NotFound` once the box was removed.
    pub fn info(&self) -> Result<BoxInfo> {
        self.runtime
            .store()
            .box_by_id(&self.id)?
            .map(BoxInfo::from)
            .ok_or_else(|| Error::not_found(format!("box {} was removed", self.id)))
    }

    /// The box's usage now, read on the host, and this runtime's counters of it
    /// ([`crate::BoxMetrics`]). Each call also starts the interval of the next call's
    /// `cpu_percent`.
    pub async fn metrics(&self) -> Result<crate::BoxMetrics> {
        self.runtime.box_metrics(&self.id)
    }

    /// The box's log: the shim's diagnostics and the main command's output.
    pub fn log_path(&self) -> std::path::PathBuf {
        self.runtime.home().box_paths(&self.id).log
    }

    /// Waits until the box is no longer active (its main command exited, or it was stopped)
    /// and returns its final info. Only boxes started by this runtime can be waited for.
    pub async fn wait(&self) -> Result<BoxInfo> {
        let shim = self.runtime.live().get(&self.id).and_then(|l| l.shim.clone());
        let Some(shim) = shim else {
            return self.info();
        };
        shim.wait().await;
        self.runtime.settle_after_exit(&self.id, shim.pid()).await?;
        self.info()
    }

    /// The box log: its last lines and, when asked, what it writes until it stops (see
    /// [`Runtime::logs`](crate::Runtime::logs)).
    pub fn logs(&self, options: crate::LogOptions) -> Result<crate::LogStream> {
        self.runtime.logs(&self.id, options)
    }

    /// Starts the box (idempotent when running; retries a failed box). On failure the box is
    /// `failed` with the reason, its files kept, and nothing of it left running.
    pub async fn start(&self) -> Result<()> {
        self.runtime.start_box(&self.id, None).await
    }

    /// Starts the box so that it outlives this process whatever its `detach` option says (the
    /// CLI's `start`).
    pub async fn start_detached(&self) -> Result<()> {
        self.runtime.start_box(&self.id, Some(true)).await
    }

    /// Stops the box: SIGTERM to its processes, SIGKILL after `timeout`. Idempotent.
    pub async fn stop(&self, timeout: Duration) -> Result<()> {
        self.runtime.stop_box(&self.id, timeout).await
    }

    /// Runs `cmd` in the box, starting the box first when it is configured or stopped.
    pub async fn exec(&self, cmd: Command) -> Result<Execution> {
        let started = match self.running_agent().await {
            Ok(agent) => Execution::start(&self.id, agent, cmd).await,
            Err(e) => Err(e),
        };
        self.runtime.counters().exec(&self.id, started.is_err());
        started
    }

    /// Follows the box's main command: its output from the start, then its exit.
    pub async fn attach_main(&self) -> Result<Execution> {
        let mut agent = self.running_agent().await?;
        let opened = self.runtime.live().get_mut(&self.id).and_then(|l| l.main_stream.take());
        let stream = match opened {
            Some(stream) => stream,
            None => {
                let what = "attach to main command";
                within(&self.id, what, AGENT_CALL_TIMEOUT, async {
                    agent
                        .attach_main(AttachMainRequest {})
                        .await
                        .map(tonic::Response::into_inner)
                        .map_err(|s| status_error(&self.id, what, s))
                })
                .await?
            }
        };
        Ok(Execution::follow_main(&self.id, agent, stream))
    }

    /// Copies the host file or directory `host_src` into the box at `box_dst`, as `docker cp`
    /// does: into `box_dst` when it is a directory, as `box_dst` otherwise (docs/files.md).
    pub async fn copy_in(
        &self,
        host_src: impl AsRef<std::path::Path>,
        box_dst: &str,
        options: crate::CopyOptions,
    ) -> Result<crate::CopyStats> {
        self.runtime.copy_in(&self.id, host_src.as_ref(), box_dst, &options).await
    }

    /// Copies the box's file or directory `box_src` to the host at `host_dst`.
    pub async fn copy_out(
        &self,
        box_src: &str,
        host_dst: impl AsRef<std::path::Path>,
        options: crate::CopyOptions,
    ) -> Result<crate::CopyStats> {
        self.runtime.copy_out(&self.id, box_src, host_dst.as_ref(), &options).await
    }

    /// Unpacks a tar stream into the box directory `box_dir` (made when missing).
    pub async fn copy_in_tar(
        &self,
        tar: impl std::io::Read + Send + 'static,
        box_dir: &str,
        options: crate::CopyOptions,
    ) -> Result<crate::CopyStats> {
        self.runtime.copy_in_tar(&self.id, tar, box_dir, &options).await
    }

    /// Writes `box_src` as a tar stream to `out`; the stats count its bytes.
    pub async fn copy_out_tar(
        &self,
        box_src: &str,
        out: impl std::io::Write + Send + 'static,
        options: crate::CopyOptions,
    ) -> Result<crate::CopyStats> {
        self.runtime.copy_out_tar(&self.id, box_src, out, &options).await
    }

    /// The contents of the box file `path` (symlinks followed), at most
    /// [`crate::MAX_READ_FILE_BYTES`].
    pub async fn read_file(&self, path: &str) -> Result<Vec<u8>> {
        self.runtime.read_file(&self.id, path).await
    }

    /// Writes `data` to the box file `path`, replacing it, with `mode` (default 0644); missing
    /// parent directories are made. The file belongs to box root.
    pub async fn write_file(&self, path: &str, data: Vec<u8>, mode: Option<u32>) -> Result<()> {
        self.runtime.write_file(&self.id, path, data, mode).await
    }

    /// The entries of the box directory `path`, sorted by name.
    pub async fn list_dir(&self, path: &str) -> Result<Vec<crate::FileEntry>> {
        self.runtime.list_dir(&self.id, path).await
    }

    async fn running_agent(&self) -> Result<crate::agent::Agent> {
        let status = self.info()?.status;
        if matches!(status, BoxStatus::Configured | BoxStatus::Stopped) {
            self.start().await?;
        } else if !status.can_exec() {
            return Err(Error::new(
                ErrorKind::InvalidState,
                format!("cannot exec in box {}: it is {status}", self.id),
            ));
        }
        let rec = self.runtime.resolve_existing(&self.id)?;
        self.runtime.agent_for(&rec).await
    }
}
