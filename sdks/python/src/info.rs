use boxlite_core::{BoxInfo, BoxStatus};
use pyo3::prelude::*;

/// A snapshot of a box, read from the database.
#[pyclass(name = "BoxInfo", module = "boxlite._boxlite", frozen, get_all)]
pub(crate) struct PyBoxInfo {
    id: String,
    name: Option<String>,
    /// Canonical status name (`BoxStatus::as_str`).
    status: &'static str,
    image: String,
    created_at: String,
    pid: Option<u32>,
    exit_code: Option<i32>,
    error_reason: Option<String>,
    state: Py<PyBoxStateInfo>,
}

/// The state part of a box, shaped as upstream code reads it (`info.state.status`).
#[pyclass(name = "BoxStateInfo", module = "boxlite._boxlite", frozen, get_all)]
pub(crate) struct PyBoxStateInfo {
    status: &'static str,
    running: bool,
    pid: Option<u32>,
    exit_code: Option<i32>,
    error_reason: Option<String>,
}

#[pymethods]
impl PyBoxInfo {
    fn __repr__(&self) -> String {
        let name = self.name.as_deref().map_or("None".to_string(), |n| format!("{n:?}"));
        format!("BoxInfo(id={:?}, name={name}, status={:?})", self.id, self.status)
    }
}

#[pymethods]
impl PyBoxStateInfo {
    fn __repr__(&self) -> String {
        let running = if self.running { "True" } else { "False" };
        format!("BoxStateInfo(status={:?}, running={running})", self.status)
    }
}

impl PyBoxInfo {
    pub(crate) fn new(py: Python<'_>, info: BoxInfo) -> PyResult<Self> {
        let state = Py::new(
            py,
            PyBoxStateInfo {
                status: info.status.as_str(),
                running: info.status == BoxStatus::Running,
                pid: info.pid,
                exit_code: info.exit_code,
                error_reason: info.error_reason.clone(),
            },
        )?;
        Ok(PyBoxInfo {
            status: info.status.as_str(),
            id: info.id,
            name: info.name,
            image: info.image,
            created_at: info.created_at,
            pid: info.pid,
            exit_code: info.exit_code,
            error_reason: info.error_reason,
            state,
        })
    }
}
