//! `ImageHandle`, `ImageInfo`, `ImagePruneReport` and the `imageRegistries` entries of the
//! runtime options ↔ core's `ImageHandle`, `ImageInfo`, `PruneReport` and `ImageRegistry`.

use boxlite_core::{
    Error, ImageInfo, ImageRegistry, PruneReport, RegistryAuth, RegistryTransport, Runtime,
};
use napi_derive::napi;

use crate::error::{blocking, invalid_argument, Settled};
use crate::runtime::LazyRuntime;

/// One registry of `imageRegistries` (upstream BoxLite's names, camelCase).
#[napi(object, js_name = "ImageRegistry", object_to_js = false)]
pub struct JsImageRegistry {
    /// `host[:port]` as written in references: `ghcr.io`, `127.0.0.1:5000`, `docker.io`.
    pub host: String,
    /// `"https"` or `"http"`; unset is http for loopback hosts, https for the others.
    #[napi(ts_type = "'https' | 'http'")]
    pub transport: Option<String>,
    /// Accept any TLS certificate (https only).
    pub skip_verify: Option<bool>,
    /// Search this registry for unqualified names, in list order.
    pub search: Option<bool>,
    /// `{username, password}` (basic) or `{token}` (bearer); unset is anonymous.
    // napi-derive would print the Rust type name here, which the .d.ts does not declare.
    #[napi(ts_type = "RegistryAuth")]
    pub auth: Option<JsRegistryAuth>,
    /// Registries serving the same repositories, tried before this one.
    pub mirrors: Option<Vec<String>>,
}

/// Registry credentials: `username` with `password`, or `token`.
#[napi(object, js_name = "RegistryAuth", object_to_js = false)]
pub struct JsRegistryAuth {
    /// Basic auth user (with `password`); also used for a registry's token flow.
    pub username: Option<String>,
    /// Basic auth password or access token (with `username`).
    pub password: Option<String>,
    /// A bearer token sent as is (alone).
    pub token: Option<String>,
}

impl TryFrom<JsImageRegistry> for ImageRegistry {
    type Error = Error;

    fn try_from(r: JsImageRegistry) -> Result<Self, Error> {
        let host = r.host;
        let bad = |why: &str| invalid_argument(format!("imageRegistries entry {host:?}: {why}"));
        let transport = match r.transport.as_deref() {
            None => None,
            Some("https") => Some(RegistryTransport::Https),
            Some("http") => Some(RegistryTransport::Http),
            Some(_) => return Err(bad("transport must be \"https\" or \"http\"")),
        };
        let auth = match r.auth {
            None => RegistryAuth::Anonymous,
            Some(JsRegistryAuth {
                username: Some(username),
                password: Some(password),
                token: None,
            }) => RegistryAuth::Basic { username, password },
            Some(JsRegistryAuth { username: None, password: None, token: Some(token) }) => {
                RegistryAuth::Bearer { token }
            }
            Some(_) => return Err(bad("auth must be {username, password} or {token}, not a mix")),
        };
        let registry = ImageRegistry {
            host: host.clone(),
            transport,
            skip_verify: r.skip_verify.unwrap_or(false),
            search: r.search.unwrap_or(false),
            auth,
            mirrors: r.mirrors.unwrap_or_default(),
        };
        // Refused where it is written; core checks it again when the home opens.
        registry.validate("imageRegistries")?;
        Ok(registry)
    }
}

/// A cached image, read from the home's image table.
#[napi(object, js_name = "ImageInfo", object_from_js = false, use_nullable = true)]
pub struct JsImageInfo {
    /// Canonical reference: `docker.io/library/alpine:latest`, `oci:/abs/dir:tag`.
    pub reference: String,
    /// `docker.io/library/alpine`, or the local source.
    pub repository: String,
    /// The tag; empty for a reference by digest only.
    pub tag: String,
    /// The image id: the digest of the platform manifest.
    pub id: String,
    /// Digest of the image config.
    pub config_digest: String,
    /// Layer digests, in order.
    pub layers: Vec<String>,
    /// Bytes of the config and layer blobs as stored (exact below 2^53).
    pub size: Option<f64>,
    /// When this reference was last pulled or loaded, RFC 3339 UTC (as `BoxInfo.createdAt`).
    pub cached_at: String,
    /// The registry host that served it (a mirror, possibly), or `local`.
    pub source: String,
}

impl From<ImageInfo> for JsImageInfo {
    fn from(i: ImageInfo) -> Self {
        JsImageInfo {
            reference: i.reference,
            repository: i.repository,
            tag: i.tag,
            id: i.id,
            config_digest: i.config_digest,
            layers: i.layers,
            size: i.size.map(|s| s as f64),
            cached_at: i.cached_at,
            source: i.source,
        }
    }
}

/// What `prune()` removed.
#[napi(object, js_name = "ImagePruneReport", object_from_js = false)]
pub struct JsPruneReport {
    /// Blobs deleted (no image named them).
    pub blobs_removed: f64,
    /// Unpacked root filesystems deleted (no image or box used them).
    pub rootfs_removed: f64,
    /// Bytes of blobs freed.
    pub bytes_freed: f64,
}

impl From<PruneReport> for JsPruneReport {
    fn from(r: PruneReport) -> Self {
        JsPruneReport {
            blobs_removed: r.blobs_removed as f64,
            rootfs_removed: r.rootfs_removed as f64,
            bytes_freed: r.bytes_freed as f64,
        }
    }
}

/// The images of a runtime's home (`Boxlite.images()`). Every method returns a Promise and
/// runs off the JS thread.
#[napi(js_name = "ImageHandle")]
pub struct JsImageHandle {
    runtime: LazyRuntime,
}

impl JsImageHandle {
    pub(crate) fn new(runtime: LazyRuntime) -> Self {
        JsImageHandle { runtime }
    }

    async fn with_images<T, F>(&self, call: F) -> Settled<T>
    where
        T: Send + 'static,
        F: FnOnce(Runtime) -> boxlite_core::Result<T> + Send + 'static,
    {
        match self.runtime.get().await {
            Ok(rt) => blocking(move || call(rt)).await,
            Err(err) => Settled::from(Err(err)),
        }
    }
}

#[napi]
impl JsImageHandle {
    /// Pulls `reference` from its registry (or loads `oci:`, `oci-archive:` or
    /// `docker-archive:`) and unpacks it; a tag is always looked up anew.
    #[napi(ts_return_type = "Promise<ImageInfo>")]
    pub async fn pull(&self, reference: String) -> Settled<JsImageInfo> {
        match self.runtime.get().await {
            Ok(rt) => Settled::from(rt.images().pull(&reference).await.map(JsImageInfo::from)),
            Err(err) => Settled::from(Err(err)),
        }
    }

    /// Every cached image, newest first.
    #[napi(ts_return_type = "Promise<Array<ImageInfo>>")]
    pub async fn list(&self) -> Settled<Vec<JsImageInfo>> {
        self.with_images(|rt| {
            rt.images().list().map(|all| all.into_iter().map(JsImageInfo::from).collect())
        })
        .await
    }

    /// The cached image named by a reference or an image id (a unique prefix of >= 12 hex
    /// digits), or null.
    #[napi(ts_return_type = "Promise<ImageInfo | null>")]
    pub async fn inspect(&self, reference: String) -> Settled<Option<JsImageInfo>> {
        self.with_images(move |rt| {
            rt.images().inspect(&reference).map(|i| i.map(JsImageInfo::from))
        })
        .await
    }

    /// Removes a cached image; refused with `invalid_state` while a box uses it, unless
    /// `force`.
    #[napi(ts_return_type = "Promise<void>")]
    pub async fn remove(&self, reference: String, force: Option<bool>) -> Settled<()> {
        self.with_images(move |rt| rt.images().remove(&reference, force.unwrap_or(false))).await
    }

    /// Removes every blob and unpacked root filesystem no image or box uses.
    #[napi(ts_return_type = "Promise<ImagePruneReport>")]
    pub async fn prune(&self) -> Settled<JsPruneReport> {
        self.with_images(|rt| rt.images().prune().map(JsPruneReport::from)).await
    }
}
