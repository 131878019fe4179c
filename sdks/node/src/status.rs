//! Box statuses: always the core's canonical strings, never re-spelled here.

use boxlite_core::BoxStatus;
use napi_derive::napi;

/// Every status name, in lifecycle order (`BoxStatus::ALL`).
#[napi]
pub fn status_names() -> Vec<&'static str> {
    BoxStatus::ALL.iter().map(|s| s.as_str()).collect()
}
