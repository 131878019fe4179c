//! `Box`: a handle to one box; everything but the id and name is read from the database.

use boxlite_core::{LiteBox, DEFAULT_STOP_TIMEOUT};
use napi_derive::napi;

use crate::error::{blocking, settle, Settled};
use crate::exec::JsExecution;
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
}
