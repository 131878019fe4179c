use boxlite_core::ErrorKind;
use pyo3::prelude::*;

/// The stable error codes, in the order of core's `ErrorKind::ALL`.
#[pyfunction]
pub(crate) fn error_codes() -> Vec<&'static str> {
    ErrorKind::ALL.iter().map(|k| k.code()).collect()
}

/// The one mapping of core errors to Python: `boxlite.errors.from_code` picks the exception
/// class for the code, so the class hierarchy (with its builtin bases) is written in Python once.
pub(crate) fn to_py_err(err: boxlite_core::Error) -> PyErr {
    Python::attach(|py| {
        let built = py
            .import("boxlite.errors")
            .and_then(|m| m.getattr("from_code"))
            .and_then(|f| f.call1((err.code(), err.to_string())));
        match built {
            Ok(exc) => PyErr::from_value(exc),
            Err(import_failed) => import_failed,
        }
    })
}
