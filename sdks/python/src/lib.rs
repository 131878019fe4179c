//! `boxlite._boxlite`: the native module under the `boxlite` Python package. Thin: type and
//! error conversion only; ergonomics live in `python/boxlite/`.

mod error;
mod info;
mod options;
mod runtime;
mod status;

use pyo3::prelude::*;

#[pymodule]
fn _boxlite(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<runtime::PyRuntime>()?;
    m.add_class::<runtime::PyBox>()?;
    m.add_class::<options::PyBoxOptions>()?;
    m.add_class::<info::PyBoxInfo>()?;
    m.add_class::<info::PyBoxStateInfo>()?;
    m.add_function(wrap_pyfunction!(status::status_names, m)?)?;
    m.add_function(wrap_pyfunction!(error::error_codes, m)?)?;
    Ok(())
}
