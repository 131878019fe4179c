//! `Boxlite`: the runtime, an open home directory (core's `Runtime`).
//!
//! Opening a home creates and migrates its database, which can take a while (and waits for
//! other processes opening it); the constructor therefore only keeps the options, and the first
//! call opens the home on tokio's blocking pool. A failed open is reported by that call and
//! retried by the next one.

use std::sync::Arc;
use std::time::Duration;

use boxlite_core::{BoxOptions, Error, ErrorKind, Runtime, RuntimeOptions, DEFAULT_STOP_TIMEOUT};
use napi_derive::napi;
use tokio::sync::OnceCell;

use crate::error::{blocking, to_napi, Result, Settled};
use crate::images::JsImageHandle;
use crate::info::JsBoxInfo;
use crate::litebox::JsBox;
use crate::metrics::JsRuntimeMetrics;
use crate::options::{seconds, JsBoxOptions, JsRuntimeOptions};

/// A home directory, opened on first use. Methods return Promises; failures reject with an
/// `Error` whose `code` is one of `errorCodes()`.
#[napi(js_name = "Boxlite")]
pub struct JsBoxlite {
    runtime: LazyRuntime,
}

/// The options and the runtime opened from them on first use; shared by a `Boxlite` and the
/// image handles it gives out, so they open the home once.
#[derive(Clone)]
pub(crate) struct LazyRuntime {
    options: RuntimeOptions,
    cell: Arc<OnceCell<Runtime>>,
}

impl LazyRuntime {
    /// The open runtime, opening the home first if no call did yet.
    pub(crate) async fn get(&self) -> boxlite_core::Result<Runtime> {
        let options = self.options.clone();
        self.cell
            .get_or_try_init(|| async move {
                tokio::task::spawn_blocking(move || Runtime::open(options)).await.unwrap_or_else(
                    |join_err| {
                        Err(Error::new(
                            ErrorKind::Internal,
                            format!("opening the boxlite home panicked: {join_err}"),
                        ))
                    },
                )
            })
            .await
            .cloned()
    }
}

/// What `getOrCreate` resolves to.
#[napi(object, js_name = "GetOrCreateResult", object_from_js = false)]
pub struct JsGetOrCreate {
    #[napi(js_name = "box")]
    pub lite_box: JsBox,
    /// Whether this call created the box.
    pub created: bool,
}

impl JsBoxlite {
    async fn runtime(&self) -> boxlite_core::Result<Runtime> {
        self.runtime.get().await
    }

    /// Runs `call` with the open runtime on the blocking pool (core's record calls are
    /// synchronous SQLite).
    async fn with_runtime<T, F>(&self, call: F) -> Settled<T>
    where
        T: Send + 'static,
        F: FnOnce(Runtime) -> boxlite_core::Result<T> + Send + 'static,
    {
        match self.runtime().await {
            Ok(rt) => blocking(move || call(rt)).await,
            Err(err) => Settled::from(Err(err)),
        }
    }
}

#[napi]
impl JsBoxlite {
    /// Keeps `options`; the home is opened (created if missing) by the first call. A
    /// malformed `imageRegistries` entry throws `invalid_argument` here.
    #[napi(constructor)]
    pub fn new(options: Option<JsRuntimeOptions>) -> Result<Self> {
        let options = match options {
            Some(options) => RuntimeOptions::try_from(options).map_err(to_napi)?,
            None => RuntimeOptions::default(),
        };
        Ok(JsBoxlite { runtime: LazyRuntime { options, cell: Arc::default() } })
    }

    /// The image store of this home.
    #[napi]
    pub fn images(&self) -> JsImageHandle {
        JsImageHandle::new(self.runtime.clone())
    }

    /// Creates a box in status `configured`; `name` must be unique.
    #[napi(ts_return_type = "Promise<Box>")]
    pub async fn create(&self, options: JsBoxOptions, name: Option<String>) -> Settled<JsBox> {
        self.with_runtime(move |rt| {
            let options = BoxOptions::try_from(options)?;
            rt.create(options, name.as_deref()).map(JsBox::from)
        })
        .await
    }

    /// Returns the box named `name`, creating it from `options` if there is none.
    #[napi(ts_return_type = "Promise<GetOrCreateResult>")]
    pub async fn get_or_create(
        &self,
        options: JsBoxOptions,
        name: String,
    ) -> Settled<JsGetOrCreate> {
        self.with_runtime(move |rt| {
            let options = BoxOptions::try_from(options)?;
            let (lite_box, created) = rt.get_or_create(options, &name)?;
            Ok(JsGetOrCreate { lite_box: lite_box.into(), created })
        })
        .await
    }

    /// The box with this id or name, or null.
    #[napi(ts_return_type = "Promise<Box | null>")]
    pub async fn get(&self, id_or_name: String) -> Settled<Option<JsBox>> {
        self.with_runtime(move |rt| rt.get(&id_or_name).map(|b| b.map(JsBox::from))).await
    }

    /// Info of the box with this id or name, or null.
    #[napi(ts_return_type = "Promise<BoxInfo | null>")]
    pub async fn get_info(&self, id_or_name: String) -> Settled<Option<JsBoxInfo>> {
        self.with_runtime(move |rt| rt.get_info(&id_or_name).map(|i| i.map(JsBoxInfo::from))).await
    }

    /// This runtime's counters since it was opened (`numRunningBoxes`: the whole home's).
    #[napi(ts_return_type = "Promise<RuntimeMetrics>")]
    pub async fn metrics(&self) -> Settled<JsRuntimeMetrics> {
        self.with_runtime(|rt| rt.metrics().map(JsRuntimeMetrics::from)).await
    }

    /// Info of every box, newest first.
    #[napi(ts_return_type = "Promise<Array<BoxInfo>>")]
    pub async fn list_info(&self) -> Settled<Vec<JsBoxInfo>> {
        self.with_runtime(|rt| {
            rt.list_info().map(|all| all.into_iter().map(JsBoxInfo::from).collect())
        })
        .await
    }

    /// Removes a box and its files; `force` also removes an active box.
    #[napi(ts_return_type = "Promise<void>")]
    pub async fn remove(&self, id_or_name: String, force: Option<bool>) -> Settled<()> {
        self.with_runtime(move |rt| rt.remove(&id_or_name, force.unwrap_or(false))).await
    }

    /// Stops every non-detached box this runtime started, each with `timeoutSecs` (default
    /// 10) of grace. Idempotent; afterwards every other call rejects with `invalid_state`.
    #[napi(ts_return_type = "Promise<void>")]
    pub async fn shutdown(&self, timeout_secs: Option<f64>) -> Settled<()> {
        let grace: Duration = match timeout_secs.map(|s| seconds("timeoutSecs", s)).transpose() {
            Ok(grace) => grace.unwrap_or(DEFAULT_STOP_TIMEOUT),
            Err(err) => return Settled::from(Err(err)),
        };
        match self.runtime().await {
            Ok(rt) => Settled::from(rt.shutdown(grace).await),
            Err(err) => Settled::from(Err(err)),
        }
    }
}
