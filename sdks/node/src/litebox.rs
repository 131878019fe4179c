//! `Box`: a handle to one box; everything but the id and name is read from the database.

use std::path::PathBuf;

use boxlite_core::{CopyOptions, LiteBox, DEFAULT_STOP_TIMEOUT};
use napi::bindgen_prelude::Buffer;
use napi_derive::napi;

use crate::error::{blocking, settle, Settled};
use crate::exec::JsExecution;
use crate::files::{JsCopyOptions, JsCopyStats, JsFileEntry};
use crate::info::JsBoxInfo;
use crate::metrics::JsBoxMetrics;
use crate::options::{seconds, JsExecOptions};

/// A handle to a box, as returned by `Boxlite.create` and `Boxlite.get`.
#[napi(js_name = "Box")]
pub struct JsBox {
    inner: LiteBox,
}

impl From<LiteBox> for JsBox {
    fn from(inner: LiteBox) -> Self {
        JsBox { inner }
    }
}

#[napi]
impl JsBox {
    /// The box's id.
    #[napi(getter)]
    pub fn id(&self) -> String {
        self.inner.id().to_owned()
    }

    /// The box's name, or null.
    #[napi(getter, ts_return_type = "string | null")]
    pub fn name(&self) -> Option<String> {
        self.inner.name().map(str::to_owned)
    }

    /// Current info; rejects with code `not_found` once the box was removed.
    #[napi(ts_return_type = "Promise<BoxInfo>")]
    pub async fn info(&self) -> Settled<JsBoxInfo> {
        let inner = self.inner.clone();
        blocking(move || inner.info().map(JsBoxInfo::from)).await
    }

    /// The box's counters now: its network's bytes and packets, read on the host.
    #[napi(ts_return_type = "Promise<BoxMetrics>")]
    pub async fn metrics(&self) -> Settled<JsBoxMetrics> {
        let inner = self.inner.clone();
        settle(async move { inner.metrics().await.map(JsBoxMetrics::from) }).await
    }

    /// Starts the box (idempotent when running, retries a failed box).
    #[napi(ts_return_type = "Promise<void>")]
    pub async fn start(&self) -> Settled<()> {
        settle(self.inner.start()).await
    }

    /// Stops the box: SIGTERM to its processes, SIGKILL after `timeoutSecs` (default 10).
    /// Idempotent.
    #[napi(ts_return_type = "Promise<void>")]
    pub async fn stop(&self, timeout_secs: Option<f64>) -> Settled<()> {
        settle(async {
            let grace = timeout_secs.map(|s| seconds("timeoutSecs", s)).transpose()?;
            self.inner.stop(grace.unwrap_or(DEFAULT_STOP_TIMEOUT)).await
        })
        .await
    }

    /// Runs `command args...`, starting the box first when it is configured or stopped.
    /// Resolves once the command runs; a command that cannot start rejects with
    /// `command_not_found`, `not_executable` or `bad_working_dir`.
    #[napi(ts_return_type = "Promise<Execution>")]
    pub async fn exec(
        &self,
        command: String,
        args: Option<Vec<String>>,
        #[napi(ts_arg_type = "ExecOptions | undefined | null")] options: Option<JsExecOptions>,
    ) -> Settled<JsExecution> {
        settle(async {
            let options = options.unwrap_or_default();
            let cmd = options.into_command(command, args.unwrap_or_default())?;
            self.inner.exec(cmd).await.map(JsExecution::from)
        })
        .await
    }

    /// Copies the host file or tree `hostPath` into the running box at `containerDest`
    /// (docs/files.md).
    #[napi(ts_return_type = "Promise<CopyStats>")]
    pub async fn copy_in(
        &self,
        host_path: String,
        container_dest: String,
        #[napi(ts_arg_type = "CopyOptions | undefined | null")] options: Option<JsCopyOptions>,
    ) -> Settled<JsCopyStats> {
        let options = CopyOptions::from(options.unwrap_or_default());
        let b = self.inner.clone();
        settle(async move {
            b.copy_in(PathBuf::from(host_path), &container_dest, options)
                .await
                .map(JsCopyStats::from)
        })
        .await
    }

    /// Copies the running box's file or tree `containerSrc` to the host at `hostDest`.
    #[napi(ts_return_type = "Promise<CopyStats>")]
    pub async fn copy_out(
        &self,
        container_src: String,
        host_dest: String,
        #[napi(ts_arg_type = "CopyOptions | undefined | null")] options: Option<JsCopyOptions>,
    ) -> Settled<JsCopyStats> {
        let options = CopyOptions::from(options.unwrap_or_default());
        let b = self.inner.clone();
        settle(async move {
            b.copy_out(&container_src, PathBuf::from(host_dest), options)
                .await
                .map(JsCopyStats::from)
        })
        .await
    }

    /// The bytes of the box file `path` (at most 64 MiB).
    #[napi(ts_return_type = "Promise<Buffer>")]
    pub async fn read_file(&self, path: String) -> Settled<Buffer> {
        let b = self.inner.clone();
        settle(async move { b.read_file(&path).await.map(Buffer::from) }).await
    }

    /// Replaces the box file `path` with `data`, mode `mode` (default 0o644).
    #[napi(ts_return_type = "Promise<void>")]
    pub async fn write_file(&self, path: String, data: Buffer, mode: Option<u32>) -> Settled<()> {
        let data: Vec<u8> = data.into();
        let b = self.inner.clone();
        settle(async move { b.write_file(&path, data, mode).await }).await
    }

    /// The entries of the box directory `path`, sorted by name.
    #[napi(ts_return_type = "Promise<FileEntry[]>")]
    pub async fn list_dir(&self, path: String) -> Settled<Vec<JsFileEntry>> {
        let b = self.inner.clone();
        settle(async move {
            b.list_dir(&path).await.map(|v| v.into_iter().map(JsFileEntry::from).collect())
        })
        .await
    }
}
