//! `BoxOptions` ↔ core's [`BoxOptions`]. Upstream BoxLite's field names and defaults, so its
//! users' code constructs options unchanged; the fields this version does not implement are
//! accepted as names but refused when set, never silently ignored.

use boxlite_core::{
    BoxOptions, Error, ErrorKind, NetworkMode, PortProtocol, PortSpec, SeccompMode, UsernsMode,
    VolumeSpec,
};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyTuple};

use crate::error::to_py_err;

/// Options of a box. Every field is readable and writable; they are checked when the options
/// are made and again when a box is created from them (by core, which names the field).
#[pyclass(name = "BoxOptions", module = "boxlite._boxlite")]
pub(crate) struct PyBoxOptions {
    #[pyo3(get, set)]
    image: Option<String>,
    /// A local OCI image layout directory; the same as `image="oci:PATH"`.
    #[pyo3(get, set)]
    rootfs_path: Option<String>,
    #[pyo3(get, set)]
    cpus: Option<f64>,
    #[pyo3(get, set)]
    memory_mib: Option<u64>,
    /// Size of the box's disk, which bounds its writable layer, in GiB (default 10).
    #[pyo3(get, set)]
    disk_size_gb: Option<u64>,
    #[pyo3(get, set)]
    working_dir: Option<String>,
    #[pyo3(get, set)]
    env: Vec<(String, String)>,
    /// Host files and directories bind-mounted into the box: `(host_path, guest_path)` or
    /// `(host_path, guest_path, read_only)` tuples (`read_only` a bool, or `"ro"` / `"rw"`),
    /// or dicts with `host_path`, `guest_path` and optional `read_only`.
    #[pyo3(get, set)]
    volumes: Option<Py<PyAny>>,
    /// `"enabled"` (the default, as upstream's: egress through the host, never to the host
    /// itself or to link-local addresses) or `"disabled"` (loopback only).
    #[pyo3(get, set)]
    network: Option<String>,
    /// Box TCP ports published on the host: `(host_port, guest_port)` tuples (host_port
    /// `None`: a free one) or dicts with `guest_port` and optional `host_port`, `protocol`
    /// (`"tcp"`), `host_ip` (default `"127.0.0.1"`). Needs a network.
    #[pyo3(get, set)]
    ports: Option<Py<PyAny>>,
    /// Resolvers (IP addresses) for the box's DNS queries; empty: the host's. Needs a network.
    #[pyo3(get, set)]
    dns: Vec<String>,
    /// With a network, the only destinations: host names, `"*.domain"` wildcards, IPv4
    /// addresses and CIDRs; other names do not resolve and other addresses are refused.
    #[pyo3(get, set)]
    allow_net: Vec<String>,
    /// `None` means upstream's default, true: the box is removed when it stops.
    #[pyo3(get, set)]
    auto_remove: Option<bool>,
    /// `None` means false: the box stops when this process exits.
    #[pyo3(get, set)]
    detach: Option<bool>,
    #[pyo3(get, set)]
    entrypoint: Option<Vec<String>>,
    #[pyo3(get, set)]
    cmd: Option<Vec<String>>,
    #[pyo3(get, set)]
    user: Option<String>,
    #[pyo3(get, set)]
    advanced: Option<Py<PyAny>>,
    #[pyo3(get, set)]
    secrets: Option<Py<PyAny>>,
    /// Most processes and threads at once.
    #[pyo3(get, set)]
    pids_max: Option<u64>,
    /// `RLIMIT_NOFILE` soft limit of the box's processes.
    #[pyo3(get, set)]
    nofile_soft: Option<u64>,
    /// `RLIMIT_NOFILE` hard limit of the box's processes.
    #[pyo3(get, set)]
    nofile_hard: Option<u64>,
    /// Size of the `/tmp` tmpfs in MiB (when the image has no `/tmp`).
    #[pyo3(get, set)]
    tmp_size_mib: Option<u64>,
    /// Size of one box log file in MiB.
    #[pyo3(get, set)]
    log_max_size_mib: Option<u64>,
    /// Box log files kept, the live one included.
    #[pyo3(get, set)]
    log_max_files: Option<u32>,
    /// Capabilities the box's root processes get beyond the default set (`"CAP_SYS_PTRACE"`,
    /// `"sys_ptrace"`, or `"ALL"`).
    #[pyo3(get, set)]
    cap_add: Vec<String>,
    /// Capabilities taken from the default set (`"ALL"`: keep only `cap_add`'s).
    #[pyo3(get, set)]
    cap_drop: Vec<String>,
    /// `"private"` (default: box root is an unprivileged host uid) or `"host"` (box root is
    /// host root, reported in `BoxInfo.warnings`).
    #[pyo3(get, set)]
    userns: Option<String>,
    /// `"default"` (the seccomp deny-list), `"unconfined"` (no filter) or an OCI seccomp
    /// profile's JSON text (`json.dumps(profile)`, in place of the default filter); the last
    /// two are reported in `BoxInfo.warnings`.
    #[pyo3(get, set)]
    seccomp: Option<String>,
}

/// Upstream fields without an implementation here yet, and what they would have needed.
const NOT_IMPLEMENTED: &[(&str, &str)] = &[
    ("advanced", "security, health-check and mount options are fixed in this version"),
    ("secrets", "there is no outbound proxy to inject secrets"),
];

fn invalid(message: String) -> PyErr {
    to_py_err(Error::new(ErrorKind::InvalidArgument, message))
}

impl PyBoxOptions {
    fn unimplemented_field(&self, py: Python<'_>, name: &str) -> Option<&Py<PyAny>> {
        let value = match name {
            "advanced" => &self.advanced,
            "secrets" => &self.secrets,
            _ => &None,
        };
        // An empty list is how upstream spells "none" for the list fields.
        value.as_ref().filter(|v| v.bind(py).is_truthy().unwrap_or(true))
    }

    /// `invalid_argument` naming the first field this version refuses, or a contradiction.
    fn check_supported(&self, py: Python<'_>) -> PyResult<()> {
        for (name, why) in NOT_IMPLEMENTED {
            if self.unimplemented_field(py, name).is_some() {
                return Err(invalid(format!(
                    "BoxOptions.{name} is not implemented in this version of boxlite ({why}); \
                     leave it unset"
                )));
            }
        }
        if self.image.is_some() && self.rootfs_path.is_some() {
            return Err(invalid(
                "BoxOptions: give image or rootfs_path, not both (rootfs_path is an OCI layout \
                 directory, the same as image=\"oci:PATH\")"
                    .to_string(),
            ));
        }
        Ok(())
    }

    /// The core options; core's `validate` (at create) checks the values.
    pub(crate) fn to_core(&self, py: Python<'_>) -> PyResult<BoxOptions> {
        self.check_supported(py)?;
        let image =
            match (&self.image, &self.rootfs_path) {
                (Some(image), _) => image.clone(),
                (None, Some(path)) => layout_reference(path)?,
                (None, None) => return Err(invalid(
                    "BoxOptions: an image is needed: image=\"oci:PATH[:TAG]\" or rootfs_path=PATH \
                     (an OCI image layout directory)"
                        .to_string(),
                )),
            };
        Ok(BoxOptions {
            image,
            env: self.env.clone(),
            working_dir: self.working_dir.clone(),
            cmd: self.cmd.clone(),
            entrypoint: self.entrypoint.clone(),
            user: self.user.clone(),
            cpus: self.cpus,
            memory_mib: self.memory_mib,
            pids_max: self.pids_max,
            nofile_soft: self.nofile_soft,
            nofile_hard: self.nofile_hard,
            tmp_size_mib: self.tmp_size_mib,
            log_max_size_mib: self.log_max_size_mib,
            log_max_files: self.log_max_files,
            disk_size_gb: self.disk_size_gb,
            cap_add: self.cap_add.clone(),
            cap_drop: self.cap_drop.clone(),
            userns: match &self.userns {
                Some(name) => UsernsMode::parse(name).map_err(to_py_err)?,
                None => UsernsMode::default(),
            },
            seccomp: match &self.seccomp {
                Some(name) => SeccompMode::parse(name).map_err(to_py_err)?,
                None => SeccompMode::default(),
            },
            network: match &self.network {
                Some(name) => NetworkMode::parse(name).map_err(to_py_err)?,
                None => NetworkMode::default(),
            },
            dns: self.dns.clone(),
            allow_net: self.allow_net.clone(),
            ports: match &self.ports {
                Some(ports) => ports_to_core(ports.bind(py))?,
                None => Vec::new(),
            },
            volumes: match &self.volumes {
                Some(volumes) => volumes_to_core(volumes.bind(py))?,
                None => Vec::new(),
            },
            auto_remove: self.auto_remove.unwrap_or(true),
            detach: self.detach.unwrap_or(false),
            ..BoxOptions::default()
        })
    }
}

/// `ports` as core's: a list (or tuple) of `(host_port, guest_port[, protocol])` tuples or of
/// dicts naming the fields. Values are checked by core at create.
fn ports_to_core(ports: &Bound<'_, PyAny>) -> PyResult<Vec<PortSpec>> {
    let bad = |why: &str| invalid(format!("BoxOptions.ports: {why}"));
    if !(ports.is_instance_of::<PyList>() || ports.is_instance_of::<PyTuple>()) {
        return Err(bad("expected a list of (host_port, guest_port) tuples or of dicts"));
    }
    let mut out = Vec::new();
    for item in ports.try_iter()? {
        let item = item?;
        let spec = if let Ok(dict) = item.cast::<PyDict>() {
            let mut spec = PortSpec::default();
            let mut guest = None;
            for (key, value) in dict.iter() {
                match key.extract::<String>()?.as_str() {
                    "host_port" => spec.host_port = value.extract()?,
                    "guest_port" => guest = Some(value.extract::<u16>()?),
                    "protocol" => {
                        spec.protocol =
                            PortProtocol::parse(&value.extract::<String>()?).map_err(to_py_err)?
                    }
                    "host_ip" => spec.host_ip = value.extract()?,
                    other => {
                        return Err(bad(&format!(
                            "unknown key {other:?} (known: host_port, guest_port, protocol, \
                             host_ip)"
                        )))
                    }
                }
            }
            spec.guest_port = guest.ok_or_else(|| bad("a port dict has no guest_port"))?;
            spec
        } else if let Ok(tuple) = item.cast::<PyTuple>() {
            let protocol = match tuple.len() {
                2 => PortProtocol::Tcp,
                3 => PortProtocol::parse(&tuple.get_item(2)?.extract::<String>()?)
                    .map_err(to_py_err)?,
                _ => return Err(bad("a port tuple is (host_port, guest_port[, protocol])")),
            };
            PortSpec {
                host_port: tuple.get_item(0)?.extract()?,
                guest_port: tuple.get_item(1)?.extract()?,
                protocol,
                host_ip: None,
            }
        } else {
            return Err(bad("each port is a (host_port, guest_port) tuple or a dict"));
        };
        out.push(spec);
    }
    Ok(out)
}

/// `volumes` as core's: a list (or tuple) of `(host, guest[, read_only])` tuples or of dicts
/// (upstream's keys, with its short aliases `host`, `guest` and `ro`). Paths are checked by
/// core at create.
fn volumes_to_core(volumes: &Bound<'_, PyAny>) -> PyResult<Vec<VolumeSpec>> {
    let bad = |why: &str| invalid(format!("BoxOptions.volumes: {why}"));
    if !(volumes.is_instance_of::<PyList>() || volumes.is_instance_of::<PyTuple>()) {
        return Err(bad("expected a list of (host_path, guest_path[, read_only]) tuples or dicts"));
    }
    let mode = |value: &Bound<'_, PyAny>| -> PyResult<bool> {
        if let Ok(flag) = value.extract::<bool>() {
            return Ok(flag);
        }
        match value.extract::<String>().ok().as_deref() {
            Some("ro") => Ok(true),
            Some("rw") => Ok(false),
            _ => Err(bad("read_only must be a bool, \"ro\" or \"rw\"")),
        }
    };
    let mut out = Vec::new();
    for item in volumes.try_iter()? {
        let item = item?;
        let spec = if let Ok(dict) = item.cast::<PyDict>() {
            let mut spec = VolumeSpec::default();
            let (mut host, mut guest) = (None, None);
            for (key, value) in dict.iter() {
                match key.extract::<String>()?.as_str() {
                    "host_path" | "host" => host = Some(value.extract::<String>()?),
                    "guest_path" | "guest" => guest = Some(value.extract::<String>()?),
                    "read_only" | "ro" => spec.read_only = mode(&value)?,
                    other => {
                        return Err(bad(&format!(
                            "unknown key {other:?} (known: host_path, guest_path, read_only)"
                        )))
                    }
                }
            }
            spec.host_path = host.ok_or_else(|| bad("a volume dict has no host_path"))?;
            spec.guest_path = guest.ok_or_else(|| bad("a volume dict has no guest_path"))?;
            spec
        } else if let Ok(tuple) = item.cast::<PyTuple>() {
            let read_only = match tuple.len() {
                2 => false,
                3 => mode(&tuple.get_item(2)?)?,
                _ => return Err(bad("a volume tuple is (host_path, guest_path[, read_only])")),
            };
            VolumeSpec {
                host_path: tuple.get_item(0)?.extract()?,
                guest_path: tuple.get_item(1)?.extract()?,
                read_only,
            }
        } else {
            return Err(bad("each volume is a (host_path, guest_path) tuple or a dict"));
        };
        out.push(spec);
    }
    Ok(out)
}

/// `oci:ABSOLUTE_PATH` for a layout directory. A colon in its last component would read as a
/// tag separator, so such a path is refused rather than misread.
fn layout_reference(path: &str) -> PyResult<String> {
    if path.is_empty() {
        return Err(invalid("BoxOptions.rootfs_path is empty".to_string()));
    }
    let absolute = std::path::absolute(path).map_err(|e| {
        invalid(format!("BoxOptions.rootfs_path {path:?}: cannot make it absolute: {e}"))
    })?;
    let Some(text) = absolute.to_str() else {
        return Err(invalid(format!("BoxOptions.rootfs_path {path:?} is not valid UTF-8")));
    };
    if text.rsplit('/').next().is_some_and(|last| last.contains(':')) {
        return Err(invalid(format!(
            "BoxOptions.rootfs_path {path:?}: a ':' in the last path component is read as a tag; \
             rename the directory"
        )));
    }
    Ok(format!("oci:{text}"))
}

#[pymethods]
impl PyBoxOptions {
    #[new]
    #[pyo3(signature = (image=None, rootfs_path=None, cpus=None, memory_mib=None,
                        disk_size_gb=None, working_dir=None, env=Vec::new(), volumes=None,
                        network=None, ports=None, auto_remove=None, detach=None,
                        entrypoint=None, cmd=None, user=None, advanced=None, secrets=None,
                        pids_max=None, nofile_soft=None, nofile_hard=None, tmp_size_mib=None,
                        log_max_size_mib=None, log_max_files=None, cap_add=Vec::new(),
                        cap_drop=Vec::new(), userns=None, seccomp=None, dns=Vec::new(),
                        allow_net=Vec::new()))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        image: Option<String>,
        rootfs_path: Option<String>,
        cpus: Option<f64>,
        memory_mib: Option<u64>,
        disk_size_gb: Option<u64>,
        working_dir: Option<String>,
        env: Vec<(String, String)>,
        volumes: Option<Py<PyAny>>,
        network: Option<String>,
        ports: Option<Py<PyAny>>,
        auto_remove: Option<bool>,
        detach: Option<bool>,
        entrypoint: Option<Vec<String>>,
        cmd: Option<Vec<String>>,
        user: Option<String>,
        advanced: Option<Py<PyAny>>,
        secrets: Option<Py<PyAny>>,
        pids_max: Option<u64>,
        nofile_soft: Option<u64>,
        nofile_hard: Option<u64>,
        tmp_size_mib: Option<u64>,
        log_max_size_mib: Option<u64>,
        log_max_files: Option<u32>,
        cap_add: Vec<String>,
        cap_drop: Vec<String>,
        userns: Option<String>,
        seccomp: Option<String>,
        dns: Vec<String>,
        allow_net: Vec<String>,
    ) -> PyResult<Self> {
        let opts = PyBoxOptions {
            image,
            rootfs_path,
            cpus,
            memory_mib,
            disk_size_gb,
            working_dir,
            env,
            volumes,
            network,
            ports,
            auto_remove,
            detach,
            entrypoint,
            cmd,
            user,
            advanced,
            secrets,
            pids_max,
            nofile_soft,
            nofile_hard,
            tmp_size_mib,
            log_max_size_mib,
            log_max_files,
            cap_add,
            cap_drop,
            userns,
            seccomp,
            dns,
            allow_net,
        };
        // Refuse now, where the mistake is made; the values are checked at create, so fields may
        // still be assigned one by one.
        opts.check_supported(py)?;
        Ok(opts)
    }

    fn __repr__(&self) -> String {
        format!(
            "BoxOptions(image={:?}, rootfs_path={:?}, cpus={:?}, memory_mib={:?})",
            self.image, self.rootfs_path, self.cpus, self.memory_mib
        )
    }
}
