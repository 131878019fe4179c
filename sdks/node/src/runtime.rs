//! `Boxlite`: the runtime, an open home directory (core's `Runtime`).

use boxlite_core::{BoxOptions, Runtime, RuntimeOptions};
use napi_derive::napi;

use crate::error::{blocking, to_napi, Result, Settled};
use crate::info::JsBoxInfo;
use crate::litebox::JsBox;
use crate::options::{JsBoxOptions, JsRuntimeOptions};

/// An open home directory. Methods return Promises; failures reject with an `Error` whose
/// `code` is one of `errorCodes()`.
#[napi(js_name = "Boxlite")]
pub struct JsBoxlite {
    inner: Runtime,
}

/// What `getOrCreate` resolves to.
#[napi(object, js_name = "GetOrCreateResult", object_from_js = false)]
pub struct JsGetOrCreate {
    #[napi(js_name = "box")]
    pub lite_box: JsBox,
    /// Whether this call created the box.
    pub created: bool,
}

#[napi]
impl JsBoxlite {
    /// Opens the home in `options` (created if missing).
    #[napi(constructor)]
    pub fn new(options: Option<JsRuntimeOptions>) -> Result<Self> {
        let options = options.map(RuntimeOptions::from).unwrap_or_default();
        Runtime::open(options).map(|inner| JsBoxlite { inner }).map_err(to_napi)
    }

    /// Opens `homeDir`; null or unset means `$BOXLITE_HOME`, else `~/.boxlite`.
    #[napi(factory)]
    pub fn open(home_dir: Option<String>) -> Result<Self> {
        Self::new(Some(JsRuntimeOptions { home_dir }))
    }

    /// Opens `$BOXLITE_HOME`, else `~/.boxlite`.
    #[napi(factory, js_name = "default")]
    pub fn open_default() -> Result<Self> {
        Runtime::default().map(|inner| JsBoxlite { inner }).map_err(to_napi)
    }

    /// The home directory (lossy if the path is not UTF-8).
    #[napi(getter)]
    pub fn home_dir(&self) -> String {
        self.inner.home_dir().to_string_lossy().into_owned()
    }

    /// Creates a box in status `configured`; `name` must be unique.
    #[napi(ts_return_type = "Promise<Box>")]
    pub async fn create(&self, options: JsBoxOptions, name: Option<String>) -> Settled<JsBox> {
        let rt = self.inner.clone();
        blocking(move || {
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
        let rt = self.inner.clone();
        blocking(move || {
            let options = BoxOptions::try_from(options)?;
            let (lite_box, created) = rt.get_or_create(options, &name)?;
            Ok(JsGetOrCreate { lite_box: lite_box.into(), created })
        })
        .await
    }

    /// The box with this id or name, or null.
    #[napi(ts_return_type = "Promise<Box | null>")]
    pub async fn get(&self, id_or_name: String) -> Settled<Option<JsBox>> {
        let rt = self.inner.clone();
        blocking(move || rt.get(&id_or_name).map(|b| b.map(JsBox::from))).await
    }

    /// Info of the box with this id or name, or null.
    #[napi(ts_return_type = "Promise<BoxInfo | null>")]
    pub async fn get_info(&self, id_or_name: String) -> Settled<Option<JsBoxInfo>> {
        let rt = self.inner.clone();
        blocking(move || rt.get_info(&id_or_name).map(|i| i.map(JsBoxInfo::from))).await
    }

    /// Info of every box, newest first.
    #[napi(ts_return_type = "Promise<Array<BoxInfo>>")]
    pub async fn list_info(&self) -> Settled<Vec<JsBoxInfo>> {
        let rt = self.inner.clone();
        blocking(move || rt.list_info().map(|all| all.into_iter().map(JsBoxInfo::from).collect()))
            .await
    }

    /// Removes a box and its files; `force` also removes an active box.
    #[napi(ts_return_type = "Promise<void>")]
    pub async fn remove(&self, id_or_name: String, force: Option<bool>) -> Settled<()> {
        let rt = self.inner.clone();
        blocking(move || rt.remove(&id_or_name, force.unwrap_or(false))).await
    }
}
