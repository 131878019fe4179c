//! `Runtime` ↔ core's [`Runtime`]: an open home directory.

use std::path::PathBuf;
use std::time::Duration;

use boxlite_core::{Error, LiteBox, Runtime, RuntimeOptions, DEFAULT_STOP_TIMEOUT};
use pyo3::prelude::*;
use pyo3::IntoPyObjectExt;

use crate::bridge::{awaitable, block_on, join_error, Guarded};
use crate::error::to_py_err;
use crate::images::{PyImageHandle, PyImageRegistry};
use crate::info::PyBoxInfo;
use crate::litebox::PyBox;
use crate::metrics::PyRuntimeMetrics;
use crate::options::PyBoxOptions;

/// An open boxlite home. Methods return awaitables; core's blocking work (SQLite, file
/// locks) runs on tokio's blocking pool, so neither the event loop nor the GIL waits on it.
#[pyclass(name = "Runtime", module = "boxlite._boxlite", frozen)]
pub(crate) struct PyRuntime {
    inner: Guarded<Runtime>,
}

/// Runs a sync core call on the blocking pool and converts its value with the GIL held.
pub(crate) fn blocking<'py, T: Send + 'static>(
    py: Python<'py>,
    work: impl FnOnce() -> boxlite_core::Result<T> + Send + 'static,
    convert: impl FnOnce(Python<'_>, T) -> PyResult<Py<PyAny>> + Send + 'static,
) -> PyResult<Bound<'py, PyAny>> {
    awaitable(py, async move {
        let value =
            tokio::task::spawn_blocking(work).await.map_err(join_error)?.map_err(to_py_err)?;
        Python::attach(|py| convert(py, value))
    })
}

fn box_obj(py: Python<'_>, b: Option<LiteBox>) -> PyResult<Py<PyAny>> {
    b.map(PyBox::new).into_py_any(py)
}

fn info_obj(py: Python<'_>, info: Option<boxlite_core::BoxInfo>) -> PyResult<Py<PyAny>> {
    info.map(|i| PyBoxInfo::new(py, i)).transpose()?.into_py_any(py)
}

/// Upstream's shutdown timeout: `None` is the default grace, `-1` waits without a bound.
fn stop_grace(timeout_secs: Option<f64>) -> PyResult<Duration> {
    match timeout_secs {
        None => Ok(DEFAULT_STOP_TIMEOUT),
        // A century: "no bound" without overflowing the deadline arithmetic downstream.
        Some(-1.0) => Ok(Duration::from_secs(100 * 365 * 24 * 3600)),
        Some(t) => Duration::try_from_secs_f64(t).map_err(|_| {
            to_py_err(Error::new(
                boxlite_core::ErrorKind::InvalidArgument,
                format!("invalid shutdown timeout {t}: expected seconds >= 0, or -1 for no limit"),
            ))
        }),
    }
}

impl PyRuntime {
    fn rt(&self) -> PyResult<Runtime> {
        self.inner.get(|| "this Boxlite runtime".to_string()).cloned()
    }
}

#[pymethods]
impl PyRuntime {
    /// Opens `home_dir` (created if missing); `None` means `$BOXLITE_HOME`, else `~/.boxlite`.
    /// Opening migrates the database, with the GIL released.
    /// `image_registries` come before those of `$BOXLITE_IMAGE_REGISTRIES` and the home's
    /// `config.json`.
    #[staticmethod]
    #[pyo3(signature = (home_dir=None, image_registries=Vec::new()))]
    fn open(
        py: Python<'_>,
        home_dir: Option<PathBuf>,
        image_registries: Vec<PyRef<'_, PyImageRegistry>>,
    ) -> PyResult<Self> {
        let image_registries =
            image_registries.iter().map(|r| r.to_core()).collect::<PyResult<Vec<_>>>()?;
        let options = RuntimeOptions { home_dir, image_registries, ..Default::default() };
        let inner = py.detach(|| Runtime::open(options)).map_err(to_py_err)?;
        Ok(PyRuntime { inner: Guarded::new(inner) })
    }

    #[getter]
    fn home_dir(&self) -> PyResult<PathBuf> {
        Ok(self.rt()?.home_dir().to_path_buf())
    }

    /// The image store of this home.
    fn images(&self) -> PyResult<PyImageHandle> {
        Ok(PyImageHandle::new(self.rt()?.images()))
    }

    #[pyo3(signature = (options, name=None))]
    fn create<'py>(
        &self,
        py: Python<'py>,
        options: PyRef<'py, PyBoxOptions>,
        name: Option<String>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let rt = self.rt()?;
        let opts = options.to_core(py)?;
        blocking(py, move || rt.create(opts, name.as_deref()).map(Some), box_obj)
    }

    fn get<'py>(&self, py: Python<'py>, id_or_name: String) -> PyResult<Bound<'py, PyAny>> {
        let rt = self.rt()?;
        blocking(py, move || rt.get(&id_or_name), box_obj)
    }

    fn get_info<'py>(&self, py: Python<'py>, id_or_name: String) -> PyResult<Bound<'py, PyAny>> {
        let rt = self.rt()?;
        blocking(py, move || rt.get_info(&id_or_name), info_obj)
    }

    /// The runtime's counters (core `Runtime::metrics`).
    fn metrics<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let rt = self.rt()?;
        blocking(py, move || rt.metrics(), |py, m| PyRuntimeMetrics::from(m).into_py_any(py))
    }

    fn list_info<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let rt = self.rt()?;
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

    /// The box named `name`, created from `options` when missing; without a name a new box.
    #[pyo3(signature = (options, name=None))]
    fn get_or_create<'py>(
        &self,
        py: Python<'py>,
        options: PyRef<'py, PyBoxOptions>,
        name: Option<String>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let rt = self.rt()?;
        let opts = options.to_core(py)?;
        blocking(
            py,
            move || match name {
                Some(name) => rt.get_or_create(opts, &name),
                None => rt.create(opts, None).map(|b| (b, true)),
            },
            |py, (b, created)| (PyBox::new(b), created).into_py_any(py),
        )
    }

    #[pyo3(signature = (id_or_name, force=false))]
    fn remove<'py>(
        &self,
        py: Python<'py>,
        id_or_name: String,
        force: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        let rt = self.rt()?;
        blocking(py, move || rt.remove(&id_or_name, force), |py, ()| Ok(py.None()))
    }

    /// Stops the boxes this runtime started (not detached ones), each with `timeout` seconds
    /// of grace; afterwards every other call fails with `invalid_state`.
    #[pyo3(signature = (timeout=None))]
    fn shutdown<'py>(&self, py: Python<'py>, timeout: Option<f64>) -> PyResult<Bound<'py, PyAny>> {
        let rt = self.rt()?;
        let grace = stop_grace(timeout)?;
        awaitable(py, async move { rt.shutdown(grace).await.map_err(to_py_err) })
    }

    /// [`PyRuntime::shutdown`] with the default grace, blocking this thread (GIL released).
    fn close(&self, py: Python<'_>) -> PyResult<()> {
        let rt = self.rt()?;
        block_on(py, async move { rt.shutdown(DEFAULT_STOP_TIMEOUT).await }).map_err(to_py_err)
    }

    fn __repr__(&self) -> String {
        match self.rt() {
            Ok(rt) => format!("Runtime(home_dir={:?})", rt.home_dir()),
            Err(_) => "Runtime(<from another process>)".to_string(),
        }
    }
}
