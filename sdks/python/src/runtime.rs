use std::path::PathBuf;

use boxlite_core::{Error, ErrorKind, LiteBox, Runtime, RuntimeOptions};
use pyo3::prelude::*;
use pyo3::IntoPyObjectExt;

use crate::error::to_py_err;
use crate::info::PyBoxInfo;
use crate::options::PyBoxOptions;

/// An open boxlite home. Methods return awaitables; core's blocking work runs on tokio's
/// blocking pool so the event loop never waits on SQLite.
#[pyclass(name = "Runtime", module = "boxlite._boxlite", frozen)]
pub(crate) struct PyRuntime {
    inner: Runtime,
}

/// A handle to one box.
#[pyclass(name = "Box", module = "boxlite._boxlite", frozen)]
pub(crate) struct PyBox {
    inner: LiteBox,
}

/// Runs `work` off the event loop and converts its value with the GIL held.
fn blocking<'py, T: Send + 'static>(
    py: Python<'py>,
    work: impl FnOnce() -> boxlite_core::Result<T> + Send + 'static,
    convert: impl FnOnce(Python<'_>, T) -> PyResult<Py<PyAny>> + Send + 'static,
) -> PyResult<Bound<'py, PyAny>> {
    pyo3_async_runtimes::tokio::future_into_py(py, async move {
        let value = tokio::task::spawn_blocking(work)
            .await
            .map_err(|e| to_py_err(Error::new(ErrorKind::Internal, format!("boxlite task: {e}"))))?
            .map_err(to_py_err)?;
        Python::attach(|py| convert(py, value))
    })
}

fn box_obj(py: Python<'_>, b: Option<LiteBox>) -> PyResult<Py<PyAny>> {
    b.map(|inner| PyBox { inner }).into_py_any(py)
}

fn info_obj(py: Python<'_>, info: Option<boxlite_core::BoxInfo>) -> PyResult<Py<PyAny>> {
    info.map(|i| PyBoxInfo::new(py, i)).transpose()?.into_py_any(py)
}

#[pymethods]
impl PyRuntime {
    /// Opens `home_dir` (created if missing); `None` means `$BOXLITE_HOME`, else `~/.boxlite`.
    #[staticmethod]
    #[pyo3(signature = (home_dir=None))]
    fn open(py: Python<'_>, home_dir: Option<PathBuf>) -> PyResult<Self> {
        let inner = py
            .detach(|| Runtime::open(RuntimeOptions { home_dir, ..Default::default() }))
            .map_err(to_py_err)?;
        Ok(PyRuntime { inner })
    }

    #[getter]
    fn home_dir(&self) -> PathBuf {
        self.inner.home_dir().to_path_buf()
    }

    #[pyo3(signature = (options, name=None))]
    fn create<'py>(
        &self,
        py: Python<'py>,
        options: PyBoxOptions,
        name: Option<String>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let rt = self.inner.clone();
        blocking(py, move || rt.create(options.into(), name.as_deref()).map(Some), box_obj)
    }

    fn get<'py>(&self, py: Python<'py>, id_or_name: String) -> PyResult<Bound<'py, PyAny>> {
        let rt = self.inner.clone();
        blocking(py, move || rt.get(&id_or_name), box_obj)
    }

    fn get_info<'py>(&self, py: Python<'py>, id_or_name: String) -> PyResult<Bound<'py, PyAny>> {
        let rt = self.inner.clone();
        blocking(py, move || rt.get_info(&id_or_name), info_obj)
    }

    fn list_info<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let rt = self.inner.clone();
        blocking(
            py,
            move || rt.list_info(),
            |py, infos| {
                infos
                    .into_iter()
                    .map(|i| PyBoxInfo::new(py, i))
                    .collect::<PyResult<Vec<_>>>()?
                    .into_py_any(py)
            },
        )
    }

    fn get_or_create<'py>(
        &self,
        py: Python<'py>,
        options: PyBoxOptions,
        name: String,
    ) -> PyResult<Bound<'py, PyAny>> {
        let rt = self.inner.clone();
        blocking(
            py,
            move || rt.get_or_create(options.into(), &name),
            |py, (b, created)| (PyBox { inner: b }, created).into_py_any(py),
        )
    }

    #[pyo3(signature = (id_or_name, force=false))]
    fn remove<'py>(
        &self,
        py: Python<'py>,
        id_or_name: String,
        force: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        let rt = self.inner.clone();
        blocking(py, move || rt.remove(&id_or_name, force), |py, ()| Ok(py.None()))
    }
}

#[pymethods]
impl PyBox {
    #[getter]
    fn id(&self) -> &str {
        self.inner.id()
    }

    #[getter]
    fn name(&self) -> Option<&str> {
        self.inner.name()
    }

    fn info<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let b = self.inner.clone();
        blocking(py, move || b.info().map(Some), info_obj)
    }

    fn __repr__(&self) -> String {
        let name = self.inner.name().map_or("None".to_string(), |n| format!("{n:?}"));
        format!("Box(id={:?}, name={name})", self.inner.id())
    }
}
