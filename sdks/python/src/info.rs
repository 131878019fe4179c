use std::sync::Mutex;

use boxlite_core::{BoxInfo, BoxLimits, BoxStatus};
use pyo3::exceptions::PyStopIteration;
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
    /// CPU limit in cores, when one was set.
    cpus: Option<f64>,
    /// Memory limit in MiB, when one was set.
    memory_mib: Option<u64>,
    pid: Option<u32>,
    exit_code: Option<i32>,
    error_reason: Option<String>,
    state: Py<PyBoxStateInfo>,
    /// The bounds the box runs under, defaults filled in.
    limits: Py<PyBoxLimits>,
    /// `"private"` or `"host"` (box root is host root).
    userns: &'static str,
    /// `"default"`, `"unconfined"` (no seccomp filter) or `"profile"` (the box's own).
    seccomp: &'static str,
    /// `"disabled"` (loopback only) or `"enabled"`.
    network: &'static str,
    /// Published ports; while the box runs, with the host port bound.
    ports: Vec<Py<PyBoxPort>>,
    /// Its volumes, as `(host_path, guest_path, read_only)` tuples.
    volumes: Vec<(String, String, bool)>,
    /// The walls the box's options take down, one sentence each.
    warnings: Vec<String>,
}

/// A published port of a box: `host_port` is the one bound while the box runs, else the one
/// asked for (`None`: a free one at each start).
#[pyclass(name = "BoxPort", module = "boxlite._boxlite", frozen, get_all)]
pub(crate) struct PyBoxPort {
    host_ip: String,
    host_port: Option<u16>,
    guest_port: u16,
    protocol: &'static str,
}

#[pymethods]
impl PyBoxPort {
    fn __repr__(&self) -> String {
        let host_port = self.host_port.map_or("None".to_string(), |p| p.to_string());
        format!(
            "BoxPort(host_ip={:?}, host_port={host_port}, guest_port={}, protocol={:?})",
            self.host_ip, self.guest_port, self.protocol
        )
    }
}

/// The bounds a box runs under: what its options asked for, else the defaults.
#[pyclass(name = "BoxLimits", module = "boxlite._boxlite", frozen, get_all)]
pub(crate) struct PyBoxLimits {
    memory_mib: u64,
    /// CPU limit in cores; `None`: no quota.
    cpus: Option<f64>,
    pids_max: u64,
    nofile_soft: u64,
    nofile_hard: u64,
    tmp_size_mib: u64,
    log_max_size_mib: u64,
    log_max_files: u32,
    disk_size_gb: u64,
    /// The fields above this host does not enforce (a rootless box: memory_mib, cpus,
    /// disk_size_gb); empty when every limit holds.
    not_enforced: Vec<&'static str>,
}

impl From<BoxLimits> for PyBoxLimits {
    fn from(l: BoxLimits) -> Self {
        PyBoxLimits {
            memory_mib: l.memory_mib,
            cpus: l.cpus,
            pids_max: l.pids_max,
            nofile_soft: l.nofile_soft,
            nofile_hard: l.nofile_hard,
            tmp_size_mib: l.tmp_size_mib,
            log_max_size_mib: l.log_max_size_mib,
            log_max_files: l.log_max_files,
            disk_size_gb: l.disk_size_gb,
            not_enforced: l.not_enforced,
        }
    }
}

#[pymethods]
impl PyBoxLimits {
    fn __repr__(&self) -> String {
        let cpus = self.cpus.map_or("None".to_string(), |c| c.to_string());
        format!(
            "BoxLimits(memory_mib={}, cpus={cpus}, pids_max={}, nofile_soft={}, nofile_hard={}, \
             tmp_size_mib={}, log_max_size_mib={}, log_max_files={}, disk_size_gb={}, \
             not_enforced={:?})",
            self.memory_mib,
            self.pids_max,
            self.nofile_soft,
            self.nofile_hard,
            self.tmp_size_mib,
            self.log_max_size_mib,
            self.log_max_files,
            self.disk_size_gb,
            self.not_enforced
        )
    }
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
    /// `await box.info()` and `box.info()` both work: upstream's `info()` is sync, code written
    /// for an async one awaits it. Awaiting gives the info itself, without suspending.
    fn __await__(slf: Py<Self>) -> Ready {
        Ready { value: Mutex::new(Some(slf.into_any())) }
    }

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
        let limits = Py::new(py, PyBoxLimits::from(info.limits))?;
        let ports = info
            .ports
            .iter()
            .map(|p| {
                let port = PyBoxPort {
                    host_ip: p.host_ip().to_string(),
                    host_port: p.host_port,
                    guest_port: p.guest_port,
                    protocol: p.protocol.as_str(),
                };
                Py::new(py, port)
            })
            .collect::<PyResult<Vec<_>>>()?;
        Ok(PyBoxInfo {
            status: info.status.as_str(),
            id: info.id,
            name: info.name,
            image: info.image,
            created_at: info.created_at,
            cpus: info.options.cpus,
            memory_mib: info.options.memory_mib,
            pid: info.pid,
            exit_code: info.exit_code,
            error_reason: info.error_reason,
            state,
            limits,
            userns: info.userns.as_str(),
            seccomp: info.seccomp.as_str(),
            network: info.network.as_str(),
            ports,
            volumes: info
                .options
                .volumes
                .iter()
                .map(|v| (v.host_path.clone(), v.guest_path.clone(), v.read_only))
                .collect(),
            warnings: info.warnings,
        })
    }
}

/// The iterator behind [`PyBoxInfo::__await__`]: finishes at once with its value.
#[pyclass(module = "boxlite._boxlite", frozen)]
pub(crate) struct Ready {
    value: Mutex<Option<Py<PyAny>>>,
}

#[pymethods]
impl Ready {
    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __next__(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let value = self.value.lock().unwrap_or_else(|p| p.into_inner()).take();
        Err(match value {
            Some(v) => PyStopIteration::new_err((v,)),
            None => PyStopIteration::new_err(py.None()),
        })
    }
}
