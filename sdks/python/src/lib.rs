//! `boxlite._boxlite`: the native module under the `boxlite` Python package. Thin: one file
//! per core module with type, ownership and error conversion only; ergonomics (line decoding,
//! SimpleBox, the sync API) live in `python/boxlite/`. `bridge` holds the asyncio bridge and
//! the fork guard every class shares.

mod bridge;
mod error;
mod exec;
mod files;
mod images;
mod info;
mod litebox;
mod metrics;
mod options;
mod runtime;
mod status;

use pyo3::prelude::*;

#[pymodule]
fn _boxlite(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<runtime::PyRuntime>()?;
    m.add_class::<litebox::PyBox>()?;
    m.add_class::<exec::PyExecution>()?;
    m.add_class::<exec::PyExecStream>()?;
    m.add_class::<exec::PyExecStdin>()?;
    m.add_class::<exec::PyExecResult>()?;
    m.add_class::<options::PyBoxOptions>()?;
    m.add_class::<info::PyBoxInfo>()?;
    m.add_class::<info::PyBoxStateInfo>()?;
    m.add_class::<info::PyBoxLimits>()?;
    m.add_class::<info::PyBoxPort>()?;
    m.add_class::<metrics::PyBoxMetrics>()?;
    m.add_class::<metrics::PyRuntimeMetrics>()?;
    m.add_class::<files::PyCopyOptions>()?;
    m.add_class::<files::PyCopyStats>()?;
    m.add_class::<files::PyFileEntry>()?;
    m.add_class::<images::PyImageHandle>()?;
    m.add_class::<images::PyImageInfo>()?;
    m.add_class::<images::PyPruneReport>()?;
    m.add_class::<images::PyImageRegistry>()?;
    m.add_function(wrap_pyfunction!(status::status_names, m)?)?;
    m.add_function(wrap_pyfunction!(error::error_codes, m)?)?;
    m.add_function(wrap_pyfunction!(bridge::_at_exit, m)?)?;
    Ok(())
}
