//! Hooks for the cross-language test suites. Not part of the stable API.

use crate::error::Result;
use crate::runtime::Runtime;

/// Persists `failed` with `reason` through the same path the init pipeline's cleanup uses, so
/// the SDK suites can check how each binding reads a failed record back.
pub fn persist_failed(runtime: &Runtime, id_or_name: &str, reason: &str) -> Result<()> {
    runtime.persist_failed(id_or_name, reason)
}
