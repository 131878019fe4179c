use boxlite_core::BoxStatus;
use pyo3::prelude::*;

/// The canonical status names, in lifecycle order.
#[pyfunction]
pub(crate) fn status_names() -> Vec<&'static str> {
    BoxStatus::ALL.iter().map(|s| s.as_str()).collect()
}
