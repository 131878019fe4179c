//! A registry pull: manifest (through an index, for this host's platform), config and layers
//! into the blob store — layers concurrently, each streamed and verified — then the unpack.
//! Mirrors of the registry are tried first, in order; the registry itself last.

use std::sync::Arc;

use futures_util::stream::{self, TryStreamExt};

use super::layout::{Blob, MAX_CONFIG_BYTES, MAX_INDEX_DEPTH};
use super::media::ManifestKind;
use super::reference::RegistryRef;
use super::remote::Remote;
use super::store::{ImageStore, PreparedImage};
use crate::error::{Error, ErrorKind, Result};

/// Layers downloaded at once: enough to fill a link, few enough not to trip rate limits.
const CONCURRENT_LAYERS: usize = 3;

/// What a pull reports as it goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PullProgress {
    /// The reference being pulled, as resolved (`docker.io/library/alpine:latest`).
    pub reference: String,
    /// Layer digest (`sha256:…`).
    pub layer: String,
    /// 1-based position of the layer in the image.
    pub index: usize,
    /// Number of layers of the image.
    pub layers: usize,
    /// Bytes of this layer received so far.
    pub downloaded_bytes: u64,
    /// Size of this layer's blob.
    pub total_bytes: u64,
    /// The layer was already in the store: nothing to download.
    pub cached: bool,
}

/// Receives [`PullProgress`] events; called from the pull's tasks, so it must be cheap.
pub type ProgressFn = Arc<dyn Fn(&PullProgress) + Send + Sync>;

/// Pulls `image` (a qualified reference) and unpacks it; returns the prepared image and the
/// host that served it.
pub(crate) async fn pull(
    store: &ImageStore,
    remote: &Remote,
    image: &RegistryRef,
    progress: Option<ProgressFn>,
) -> Result<(PreparedImage, String)> {
    let endpoints = remote.registries()?.endpoints(&image.registry);
    let mut failures: Vec<Error> = Vec::new();
    for (i, host) in endpoints.iter().enumerate() {
        let last = i + 1 == endpoints.len();
        match pull_from(store, remote, host, image, progress.clone()).await {
            Ok(prepared) => return Ok((prepared, host.clone())),
            // A mirror that lacks the image or is down: on to the next, as Docker does. An
            // image the mirror serves but that fails verification is not retried elsewhere.
            Err(e) if !last && is_retryable(&e) => failures.push(e),
            Err(e) => {
                if failures.is_empty() {
                    return Err(e);
                }
                let tried: Vec<String> = failures.iter().map(|f| f.to_string()).collect();
                return Err(Error::new(
                    e.kind(),
                    format!("{e} (mirrors tried first: {})", tried.join("; ")),
                ));
            }
        }
    }
    Err(Error::new(ErrorKind::Internal, format!("pull {image}: no endpoint to try")))
}

pub(crate) fn is_retryable(e: &Error) -> bool {
    matches!(e.kind(), ErrorKind::NotFound | ErrorKind::Unavailable | ErrorKind::Unauthorized)
}

async fn pull_from(
    store: &ImageStore,
    remote: &Remote,
    host: &str,
    image: &RegistryRef,
    progress: Option<ProgressFn>,
) -> Result<PreparedImage> {
    let name = image.to_string();
    let reader = store.blobs().reader(&name);
    let top = remote.fetch_manifest(host, image, &image.tag_or_digest()).await?;
    let mut fetched = vec![];
    let mut current = top;
    let manifest_fetched = loop {
        match reader.kind_of(&current.blob, &current.bytes)? {
            ManifestKind::Image => break current,
            ManifestKind::Index if fetched.len() >= MAX_INDEX_DEPTH => {
                return Err(Error::new(
                    ErrorKind::Image,
                    format!("image {name}: indexes nested deeper than {MAX_INDEX_DEPTH}"),
                ))
            }
            ManifestKind::Index => {
                let chosen = reader.choose_from_index(&current.blob, &current.bytes)?;
                let next = remote.fetch_manifest(host, image, &chosen.digest.to_string()).await?;
                fetched.push(current);
                current = next;
            }
        }
    };
    let manifest = reader.parse_manifest(&manifest_fetched.blob, &manifest_fetched.bytes)?;
    manifest.check_layer_types(&name)?;
    if manifest.config.size > MAX_CONFIG_BYTES {
        return Err(Error::new(
            ErrorKind::Image,
            format!(
                "image {name}: config {} is {} bytes, more than the {MAX_CONFIG_BYTES} allowed",
                manifest.config.digest, manifest.config.size
            ),
        ));
    }
    let blobs = store.blobs().clone();
    let blob_what = |b: &Blob| format!("image {name}: blob {}", b.digest);
    if !blobs.has(&manifest.config) {
        remote
            .fetch_blob(
                host,
                image,
                &manifest.config,
                &blobs,
                &blob_what(&manifest.config),
                &|_| {},
            )
            .await?;
    }
    let total = manifest.layers.len();
    stream::iter(manifest.layers.iter().enumerate().map(Ok::<_, Error>))
        .try_for_each_concurrent(CONCURRENT_LAYERS, |(i, layer)| {
            let (blobs, progress, name, what) =
                (blobs.clone(), progress.clone(), name.clone(), blob_what(layer));
            async move {
                let event = |downloaded_bytes: u64, cached: bool| PullProgress {
                    reference: name.clone(),
                    layer: layer.digest.to_string(),
                    index: i + 1,
                    layers: total,
                    downloaded_bytes,
                    total_bytes: layer.size,
                    cached,
                };
                if blobs.has(layer) {
                    if let Some(p) = &progress {
                        p(&event(layer.size, true));
                    }
                    return Ok(());
                }
                let report = |n: u64| {
                    if let Some(p) = &progress {
                        p(&event(n, false));
                    }
                };
                remote.fetch_blob(host, image, layer, &blobs, &what, &report).await
            }
        })
        .await?;
    // Manifests are stored last: a manifest in the store means its blobs were fetched too.
    for f in fetched.iter().chain(std::iter::once(&manifest_fetched)) {
        let what = format!("image {name}: manifest {}", f.blob.digest);
        blobs.put(&f.blob, &f.bytes, &what)?;
    }
    let store = store.clone();
    let blob = manifest_fetched.blob.clone();
    tokio::task::spawn_blocking(move || store.unpack_stored(&blob, &name))
        .await
        .map_err(|e| Error::new(ErrorKind::Internal, format!("unpack task: {e}")))?
}
