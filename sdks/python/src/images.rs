//! `ImageHandle`, `ImageInfo`, `ImagePruneReport` and `ImageRegistry` ↔ core's
//! [`ImageHandle`], [`ImageInfo`], [`PruneReport`] and [`ImageRegistry`]. The async wrappers
//! and the sync twins live in `python/boxlite/images.py`.

use boxlite_core::{
    Error, ErrorKind, ImageHandle, ImageInfo, ImageRegistry, PruneReport, RegistryAuth,
    RegistryTransport,
};
use pyo3::prelude::*;
use pyo3::IntoPyObjectExt;

use crate::bridge::{awaitable, Guarded};
use crate::error::to_py_err;
use crate::runtime::blocking;

fn invalid(message: String) -> PyErr {
    to_py_err(Error::new(ErrorKind::InvalidArgument, message))
}

/// How to reach one registry, with upstream BoxLite's constructor names. Credentials are
/// either `username` + `password` (HTTP basic, also used for a registry's token flow) or
/// `bearer_token`; never shown by `repr`.
#[pyclass(name = "ImageRegistry", module = "boxlite._boxlite", frozen)]
pub(crate) struct PyImageRegistry {
    #[pyo3(get)]
    host: String,
    #[pyo3(get)]
    transport: Option<String>,
    #[pyo3(get)]
    skip_verify: bool,
    #[pyo3(get)]
    search: bool,
    #[pyo3(get)]
    username: Option<String>,
    password: Option<String>,
    bearer_token: Option<String>,
    #[pyo3(get)]
    mirrors: Vec<String>,
}

impl PyImageRegistry {
    /// The core entry; core's `validate` (at open) checks host, mirrors and the rest.
    pub(crate) fn to_core(&self) -> PyResult<ImageRegistry> {
        let transport = match self.transport.as_deref() {
            None => None,
            Some("https") => Some(RegistryTransport::Https),
            Some("http") => Some(RegistryTransport::Http),
            Some(other) => {
                return Err(invalid(format!(
                    "ImageRegistry {:?}: transport {other:?} is not \"https\", \"http\" or None",
                    self.host
                )))
            }
        };
        let auth = match (&self.username, &self.password, &self.bearer_token) {
            (None, None, None) => RegistryAuth::Anonymous,
            (Some(username), Some(password), None) => {
                RegistryAuth::Basic { username: username.clone(), password: password.clone() }
            }
            (None, None, Some(token)) => RegistryAuth::Bearer { token: token.clone() },
            (_, _, Some(_)) => {
                return Err(invalid(format!(
                    "ImageRegistry {:?}: give username and password, or bearer_token, not both",
                    self.host
                )))
            }
            (Some(_), None, None) | (None, Some(_), None) => {
                return Err(invalid(format!(
                    "ImageRegistry {:?}: basic credentials need both username and password",
                    self.host
                )))
            }
        };
        Ok(ImageRegistry {
            host: self.host.clone(),
            transport,
            skip_verify: self.skip_verify,
            search: self.search,
            auth,
            mirrors: self.mirrors.clone(),
        })
    }
}

#[pymethods]
impl PyImageRegistry {
    #[new]
    #[pyo3(signature = (host, transport=None, skip_verify=false, search=false, username=None,
                        password=None, bearer_token=None, mirrors=Vec::new()))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        host: String,
        transport: Option<String>,
        skip_verify: bool,
        search: bool,
        username: Option<String>,
        password: Option<String>,
        bearer_token: Option<String>,
        mirrors: Vec<String>,
    ) -> PyResult<Self> {
        let registry = PyImageRegistry {
            host,
            transport,
            skip_verify,
            search,
            username,
            password,
            bearer_token,
            mirrors,
        };
        // Refused where the mistake is made; core checks the entry again when a runtime opens.
        registry.to_core()?.validate("ImageRegistry()").map_err(to_py_err)?;
        Ok(registry)
    }

    fn __repr__(&self) -> String {
        let auth = match (&self.username, &self.bearer_token) {
            (Some(user), _) => format!("basic({user:?})"),
            (None, Some(_)) => "bearer".to_string(),
            (None, None) => "anonymous".to_string(),
        };
        format!(
            "ImageRegistry(host={:?}, transport={:?}, search={}, auth={auth}, mirrors={:?})",
            self.host, self.transport, self.search, self.mirrors
        )
    }
}

/// A cached image, read from the home's image table.
#[pyclass(name = "ImageInfo", module = "boxlite._boxlite", frozen, get_all)]
pub(crate) struct PyImageInfo {
    /// Canonical reference: `docker.io/library/alpine:latest`, `oci:/abs/dir:tag`.
    reference: String,
    repository: String,
    /// Empty for a reference by digest only.
    tag: String,
    /// The image id: the digest of the platform manifest.
    id: String,
    config_digest: String,
    layers: Vec<String>,
    /// Bytes of the config and layer blobs as stored.
    size: Option<u64>,
    /// When this reference was last pulled or loaded, RFC 3339 UTC (as `BoxInfo.created_at`).
    cached_at: String,
    /// The registry host that served it (a mirror, possibly), or `local`.
    source: String,
}

impl From<ImageInfo> for PyImageInfo {
    fn from(i: ImageInfo) -> Self {
        PyImageInfo {
            reference: i.reference,
            repository: i.repository,
            tag: i.tag,
            id: i.id,
            config_digest: i.config_digest,
            layers: i.layers,
            size: i.size,
            cached_at: i.cached_at,
            source: i.source,
        }
    }
}

#[pymethods]
impl PyImageInfo {
    fn __repr__(&self) -> String {
        format!("ImageInfo(reference={:?}, id={:?})", self.reference, self.id)
    }
}

/// What `prune()` removed.
#[pyclass(name = "ImagePruneReport", module = "boxlite._boxlite", frozen, get_all)]
pub(crate) struct PyPruneReport {
    blobs_removed: u64,
    rootfs_removed: u64,
    bytes_freed: u64,
}

#[pymethods]
impl PyPruneReport {
    fn __repr__(&self) -> String {
        format!(
            "ImagePruneReport(blobs_removed={}, rootfs_removed={}, bytes_freed={})",
            self.blobs_removed, self.rootfs_removed, self.bytes_freed
        )
    }
}

/// The images of a runtime's home (`Runtime.images()`). Methods return awaitables; the sync
/// ones of core (list, inspect, remove, prune take file locks) run on tokio's blocking pool.
#[pyclass(name = "ImageHandle", module = "boxlite._boxlite", frozen)]
pub(crate) struct PyImageHandle {
    inner: Guarded<ImageHandle>,
}

impl PyImageHandle {
    pub(crate) fn new(inner: ImageHandle) -> Self {
        PyImageHandle { inner: Guarded::new(inner) }
    }

    fn handle(&self) -> PyResult<ImageHandle> {
        self.inner.get(|| "this image handle".to_string()).cloned()
    }
}

#[pymethods]
impl PyImageHandle {
    /// Pulls `reference` from its registry (or loads an `oci:` / `oci-archive:` /
    /// `docker-archive:` source) and unpacks it; a tag is always looked up anew.
    fn pull<'py>(&self, py: Python<'py>, reference: String) -> PyResult<Bound<'py, PyAny>> {
        let images = self.handle()?;
        awaitable(py, async move {
            images.pull(&reference).await.map(PyImageInfo::from).map_err(to_py_err)
        })
    }

    /// Every cached image, newest first.
    fn list<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let images = self.handle()?;
        blocking(
            py,
            move || images.list(),
            |py, all| all.into_iter().map(PyImageInfo::from).collect::<Vec<_>>().into_py_any(py),
        )
    }

    /// The cached image named by a reference or an image id (prefix of >= 12 hex digits), or
    /// `None` when it is not cached.
    fn inspect<'py>(&self, py: Python<'py>, reference: String) -> PyResult<Bound<'py, PyAny>> {
        let images = self.handle()?;
        blocking(
            py,
            move || images.inspect(&reference),
            |py, found| found.map(PyImageInfo::from).into_py_any(py),
        )
    }

    /// Removes a cached image; refused while a box uses it unless `force`.
    #[pyo3(signature = (reference, force=false))]
    fn remove<'py>(
        &self,
        py: Python<'py>,
        reference: String,
        force: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        let images = self.handle()?;
        blocking(py, move || images.remove(&reference, force), |py, ()| Ok(py.None()))
    }

    /// Removes every blob and unpacked root no image or box uses.
    fn prune<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let images = self.handle()?;
        blocking(
            py,
            move || images.prune(),
            |py, r: PruneReport| {
                PyPruneReport {
                    blobs_removed: r.blobs_removed,
                    rootfs_removed: r.rootfs_removed,
                    bytes_freed: r.bytes_freed,
                }
                .into_py_any(py)
            },
        )
    }
}
