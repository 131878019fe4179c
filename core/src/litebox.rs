//! [`LiteBox`]: a handle to one box.

use crate::error::{Error, Result};
use crate::info::BoxInfo;
use crate::runtime::Runtime;

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
}
