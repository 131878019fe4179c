//! `Box`: a handle to one box; everything but the id and name is read from the database.

use boxlite_core::LiteBox;
use napi_derive::napi;

use crate::error::{blocking, Settled};
use crate::info::JsBoxInfo;

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
}
