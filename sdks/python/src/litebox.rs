//! `Box` ↔ core's [`LiteBox`]: a handle to one box.

use std::path::PathBuf;
use std::time::Duration;

use boxlite_core::{Command, Error, ErrorKind, LiteBox, DEFAULT_STOP_TIMEOUT};
use pyo3::prelude::*;

use crate::bridge::{awaitable, Guarded};
use crate::error::to_py_err;
use crate::exec::PyExecution;
use crate::files::{self, PyCopyOptions};
use crate::info::PyBoxInfo;
use crate::metrics::PyBoxMetrics;

/// A handle to one box; it holds only the id, so every read goes to the database.
#[pyclass(name = "Box", module = "boxlite._boxlite", frozen)]
pub(crate) struct PyBox {
    id: String,
    name: Option<String>,
    inner: Guarded<LiteBox>,
}

impl PyBox {
    pub(crate) fn new(inner: LiteBox) -> Self {
        PyBox {
            id: inner.id().to_string(),
            name: inner.name().map(str::to_owned),
            inner: Guarded::new(inner),
        }
    }

    fn handle(&self) -> PyResult<LiteBox> {
        self.inner.get(|| format!("box {}", self.id)).cloned()
    }
}

/// Seconds as given by Python, checked: positive and finite.
fn seconds(what: &str, box_id: &str, secs: f64) -> PyResult<Duration> {
    match Duration::try_from_secs_f64(secs) {
        Ok(d) if !d.is_zero() => Ok(d),
        _ => Err(to_py_err(Error::new(
            ErrorKind::InvalidArgument,
            format!("box {box_id}: invalid {what} {secs}: expected a positive number of seconds"),
        ))),
    }
}

#[pymethods]
impl PyBox {
    #[getter]
    fn id(&self) -> &str {
        &self.id
    }

    #[getter]
    fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// The box's info, read from the database now (GIL released while reading).
    fn info(&self, py: Python<'_>) -> PyResult<PyBoxInfo> {
        let b = self.handle()?;
        let info = py.detach(move || b.info()).map_err(to_py_err)?;
        PyBoxInfo::new(py, info)
    }

    /// The box's counters now (`BoxMetrics`): its network's, read on the host.
    fn metrics<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let b = self.handle()?;
        awaitable(py, async move { b.metrics().await.map(PyBoxMetrics::from).map_err(to_py_err) })
    }

    /// Starts the box (idempotent when it runs; retries a failed box).
    fn start<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let b = self.handle()?;
        awaitable(py, async move { b.start().await.map_err(to_py_err) })
    }

    /// Stops the box: SIGTERM to its processes, SIGKILL after `timeout_secs` (default 10).
    #[pyo3(signature = (timeout_secs=None))]
    fn stop<'py>(&self, py: Python<'py>, timeout_secs: Option<f64>) -> PyResult<Bound<'py, PyAny>> {
        let b = self.handle()?;
        let grace = match timeout_secs {
            Some(t) => seconds("stop timeout", &self.id, t)?,
            None => DEFAULT_STOP_TIMEOUT,
        };
        awaitable(py, async move { b.stop(grace).await.map_err(to_py_err) })
    }

    /// Runs `command args…` in the box (starting it when configured or stopped). `stdin=False`
    /// gives the command /dev/null instead of a pipe.
    #[pyo3(signature = (command, args=None, env=None, tty=false, user=None, timeout_secs=None,
                        cwd=None, *, stdin=true))]
    #[allow(clippy::too_many_arguments)]
    fn exec<'py>(
        &self,
        py: Python<'py>,
        command: String,
        args: Option<Vec<String>>,
        env: Option<Vec<(String, String)>>,
        tty: bool,
        user: Option<String>,
        timeout_secs: Option<f64>,
        cwd: Option<String>,
        stdin: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        let b = self.handle()?;
        let timeout = timeout_secs.map(|t| seconds("exec timeout", &self.id, t)).transpose()?;
        let mut argv = vec![command];
        argv.extend(args.unwrap_or_default());
        let cmd = Command {
            argv,
            env: env.unwrap_or_default(),
            working_dir: cwd,
            user,
            stdin,
            timeout,
            tty,
            tty_size: None,
        };
        awaitable(py, async move {
            let execution = b.exec(cmd).await.map_err(to_py_err)?;
            Ok(PyExecution::new(b.id(), execution))
        })
    }

    /// Copies the host file or tree `host_path` into the running box at `container_dest`
    /// (docs/files.md); resolves to `CopyStats`.
    #[pyo3(signature = (host_path, container_dest, copy_options=None))]
    fn copy_in<'py>(
        &self,
        py: Python<'py>,
        host_path: PathBuf,
        container_dest: &Bound<'py, PyAny>,
        copy_options: Option<PyRef<'py, PyCopyOptions>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let dest = files::box_path("copy_in container_dest", container_dest)?;
        files::copy_in(py, self.handle()?, host_path, dest, copy_options)
    }

    /// Copies the running box's file or tree `container_src` to the host at `host_dest`.
    #[pyo3(signature = (container_src, host_dest, copy_options=None))]
    fn copy_out<'py>(
        &self,
        py: Python<'py>,
        container_src: &Bound<'py, PyAny>,
        host_dest: PathBuf,
        copy_options: Option<PyRef<'py, PyCopyOptions>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let src = files::box_path("copy_out container_src", container_src)?;
        files::copy_out(py, self.handle()?, src, host_dest, copy_options)
    }

    /// The bytes of the box file `path` (at most 64 MiB).
    fn read_file<'py>(
        &self,
        py: Python<'py>,
        path: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let path = files::box_path("read_file path", path)?;
        files::read_file(py, self.handle()?, path)
    }

    /// Replaces the box file `path` with `data`, mode `mode` (default 0o644).
    #[pyo3(signature = (path, data, mode=None))]
    fn write_file<'py>(
        &self,
        py: Python<'py>,
        path: &Bound<'py, PyAny>,
        data: &[u8],
        mode: Option<u32>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let path = files::box_path("write_file path", path)?;
        files::write_file(py, self.handle()?, path, data.to_vec(), mode)
    }

    /// The entries of the box directory `path` (`FileEntry`s, sorted by name).
    fn list_dir<'py>(
        &self,
        py: Python<'py>,
        path: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let path = files::box_path("list_dir path", path)?;
        files::list_dir(py, self.handle()?, path)
    }

    fn __repr__(&self) -> String {
        let name = self.name.as_deref().map_or("None".to_string(), |n| format!("{n:?}"));
        format!("Box(id={:?}, name={name})", self.id)
    }
}
