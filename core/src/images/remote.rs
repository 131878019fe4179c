//! The registry side of a pull: one `oci-client` per registry host (its transport, TLS and
//! credentials from [`Registries`]), manifests fetched with the full Accept list, blobs streamed
//! into the blob store. Errors are classified from the client's typed errors, never from text.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use futures_util::StreamExt;
use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::errors::{DigestError, OciDistributionError, OciErrorCode};
use oci_client::manifest::OciDescriptor;
use oci_client::secrets::RegistryAuth as ClientAuth;
use oci_client::{Client, Reference};

use super::blobs::BlobStore;
use super::digest::Digest;
use super::layout::{Blob, MAX_MANIFEST_BYTES};
use super::media;
use super::reference::{RegistryRef, DOCKER_HUB};
use crate::error::{Error, ErrorKind, Result};
use crate::registries::{kind_for_status, ImageRegistry, Registries, RegistryAuth};

/// A registry that accepts a connection and then says nothing must not hold a pull forever.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);
const READ_TIMEOUT: Duration = Duration::from_secs(60);
/// Manifests, indexes, both schema-2 flavours: without the OCI types distribution answers
/// 404 for OCI manifests, and without any it downgrades Docker images to schema 1.
const ACCEPT: &[&str] =
    &[media::OCI_INDEX, media::OCI_MANIFEST, media::DOCKER_LIST, media::DOCKER_MANIFEST];

/// Clients by registry host, shared by the pulls of one runtime (tokens are cached in them).
/// The registry configuration is read on first use, not at open: a broken `config.json` or
/// environment variable fails image operations with a clear error, never `ls` or `rm`.
pub(crate) struct Remote {
    options: Vec<ImageRegistry>,
    home: PathBuf,
    registries: OnceLock<Registries>,
    clients: Mutex<HashMap<String, Arc<Client>>>,
}

impl std::fmt::Debug for Remote {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Remote").field("registries", &self.registries).finish_non_exhaustive()
    }
}

/// A manifest or index as fetched, with the descriptor that names it.
pub(crate) struct Fetched {
    pub(crate) blob: Blob,
    pub(crate) bytes: Vec<u8>,
}

impl Remote {
    /// `options` are the runtime's own entries (checked here), `home` holds `config.json`.
    pub(crate) fn new(options: Vec<ImageRegistry>, home: &Path) -> Result<Self> {
        for entry in &options {
            entry.validate("RuntimeOptions.image_registries")?;
        }
        Ok(Remote {
            options,
            home: home.to_owned(),
            registries: OnceLock::new(),
            clients: Mutex::default(),
        })
    }

    /// The merged configuration, loaded once.
    pub(crate) fn registries(&self) -> Result<&Registries> {
        if let Some(r) = self.registries.get() {
            return Ok(r);
        }
        let loaded = Registries::load(&self.options, &self.home)?;
        Ok(self.registries.get_or_init(|| loaded))
    }

    fn client(&self, host: &str) -> Result<Arc<Client>> {
        let settings = self.registries()?.settings(host);
        let mut clients = self.clients.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(client) = clients.get(host) {
            return Ok(client.clone());
        }
        install_crypto_provider();
        let protocol = if settings.plain_http() {
            // oci-client matches the host as written in references, port included.
            ClientProtocol::HttpsExcept(vec![host.to_owned()])
        } else {
            ClientProtocol::Https
        };
        let config = ClientConfig {
            protocol,
            // With rustls this accepts any certificate for any name: skip_verify's meaning.
            accept_invalid_certificates: settings.skip_verify,
            connect_timeout: Some(CONNECT_TIMEOUT),
            read_timeout: Some(READ_TIMEOUT),
            user_agent: concat!("boxlite/", env!("CARGO_PKG_VERSION")),
            // We choose the platform ourselves (layout.rs), for every source alike.
            platform_resolver: None,
            ..Default::default()
        };
        let client = Arc::new(Client::new(config));
        clients.insert(host.to_owned(), client.clone());
        Ok(client)
    }

    fn auth(&self, host: &str) -> Result<ClientAuth> {
        Ok(match self.registries()?.settings(host).auth {
            RegistryAuth::Anonymous => ClientAuth::Anonymous,
            RegistryAuth::Basic { username, password } => ClientAuth::Basic(username, password),
            RegistryAuth::Bearer { token } => ClientAuth::Bearer(token),
        })
    }

    /// Fetches the manifest or index `reference` (a tag or a digest) of `image` from `host`.
    /// The bytes are verified against `reference` when it is a digest; their own digest is
    /// computed here, never taken from the registry's headers.
    pub(crate) async fn fetch_manifest(
        &self,
        host: &str,
        image: &RegistryRef,
        reference: &str,
    ) -> Result<Fetched> {
        let target = client_reference(host, image, reference);
        let what = format!("{}/{}:{reference}", host, image.repository);
        let (bytes, _) = self
            .client(host)?
            .pull_manifest_raw(&target, &self.auth(host)?, ACCEPT)
            .await
            .map_err(|e| classify(e, &what, host))?;
        if bytes.len() as u64 > MAX_MANIFEST_BYTES {
            return Err(Error::new(
                ErrorKind::Image,
                format!(
                    "{what}: manifest is {} bytes, more than {MAX_MANIFEST_BYTES}",
                    bytes.len()
                ),
            ));
        }
        let digest = Digest::of(&bytes);
        if let Ok(wanted) = Digest::parse(reference) {
            if wanted != digest {
                return Err(Error::new(
                    ErrorKind::Image,
                    format!("{what}: the registry's manifest hashes to {digest}"),
                ));
            }
        }
        Ok(Fetched {
            blob: Blob { digest, size: bytes.len() as u64, media_type: String::new() },
            bytes: bytes.to_vec(),
        })
    }

    /// Streams `blob` of `image` from `host` into the blob store; `progress` gets the bytes
    /// received so far. The writer runs off the async executor and refuses more bytes than the
    /// descriptor announces; nothing is stored unless size and digest match.
    pub(crate) async fn fetch_blob(
        &self,
        host: &str,
        image: &RegistryRef,
        blob: &Blob,
        blobs: &BlobStore,
        what: &str,
        progress: &(dyn Fn(u64) + Send + Sync),
    ) -> Result<()> {
        let target = client_reference(host, image, &image.tag_or_digest());
        let client = self.client(host)?;
        client.store_auth_if_needed(target.resolve_registry(), &self.auth(host)?).await;
        let descriptor = OciDescriptor {
            media_type: blob.media_type.clone(),
            digest: blob.digest.to_string(),
            size: blob.size as i64,
            ..Default::default()
        };
        let mut stream = client
            .pull_blob_stream(&target, &descriptor)
            .await
            .map_err(|e| classify(e, what, host))?;
        let mut writer = blobs.writer(blob, what)?;
        let (tx, mut rx) = tokio::sync::mpsc::channel::<bytes::Bytes>(16);
        let write = tokio::task::spawn_blocking(move || -> Result<_> {
            while let Some(chunk) = rx.blocking_recv() {
                writer.write_chunk(&chunk)?;
            }
            Ok(writer)
        });
        let mut received = 0u64;
        let mut read_error = None;
        while let Some(chunk) = stream.next().await {
            match chunk {
                Ok(chunk) => {
                    received += chunk.len() as u64;
                    progress(received);
                    // A closed channel means the writer failed: its error is reported below.
                    if tx.send(chunk).await.is_err() {
                        break;
                    }
                }
                Err(e) => {
                    read_error = Some(e);
                    break;
                }
            }
        }
        drop(tx);
        let writer = write
            .await
            .map_err(|e| Error::new(ErrorKind::Internal, format!("{what}: writer task: {e}")))??;
        if let Some(e) = read_error {
            // oci-client verifies the digest itself and reports a mismatch as the stream's last
            // error: bad content, not a broken connection (and no reason to try elsewhere).
            if let Some(mismatch) =
                e.get_ref().and_then(|inner| inner.downcast_ref::<DigestError>())
            {
                return Err(Error::new(
                    ErrorKind::Image,
                    format!("{what}: what {host} served does not match its digest ({mismatch})"),
                ));
            }
            return Err(Error::new(
                ErrorKind::Unavailable,
                format!("{what}: download from {host} broke off after {received} bytes: {e}"),
            ));
        }
        tokio::task::spawn_blocking(move || writer.finish())
            .await
            .map_err(|e| Error::new(ErrorKind::Internal, format!("{what}: writer task: {e}")))?
    }
}

/// The reference the registry client is asked for: `image`'s repository on `host`, by tag or
/// digest (`reference`).
pub(crate) fn client_reference(host: &str, image: &RegistryRef, reference: &str) -> Reference {
    // oci-client rewrites `docker.io` to Docker Hub's API host itself.
    let registry = if host == DOCKER_HUB { DOCKER_HUB } else { host };
    match Digest::parse(reference) {
        Ok(digest) => Reference::with_digest(
            registry.to_owned(),
            image.repository.clone(),
            digest.to_string(),
        ),
        Err(_) => {
            Reference::with_tag(registry.to_owned(), image.repository.clone(), reference.to_owned())
        }
    }
}

/// rustls needs a process-wide crypto provider; ring is the one built in. An embedding program
/// that installed its own keeps it.
fn install_crypto_provider() {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
}

/// Maps a client error to a kind and one message naming what was fetched and from where.
fn classify(e: OciDistributionError, what: &str, host: &str) -> Error {
    use OciDistributionError as E;
    match &e {
        E::UnauthorizedError { .. } | E::AuthenticationFailure(_) => Error::new(
            ErrorKind::Unauthorized,
            format!("{what}: {host} refused the credentials (or wants some): unauthorized"),
        ),
        E::ImageManifestNotFoundError(_) => {
            Error::not_found(format!("{what}: not found on {host}"))
        }
        E::RegistryError { envelope, .. } => {
            let codes: Vec<&OciErrorCode> = envelope.errors.iter().map(|e| &e.code).collect();
            let messages: Vec<String> =
                envelope.errors.iter().map(|e| format!("{:?}: {}", e.code, e.message)).collect();
            let kind = if codes.iter().any(|c| {
                matches!(
                    c,
                    OciErrorCode::ManifestUnknown
                        | OciErrorCode::NameUnknown
                        | OciErrorCode::BlobUnknown
                )
            }) {
                ErrorKind::NotFound
            } else if codes
                .iter()
                .any(|c| matches!(c, OciErrorCode::Unauthorized | OciErrorCode::Denied))
            {
                ErrorKind::Unauthorized
            } else {
                ErrorKind::Image
            };
            let summary = match kind {
                ErrorKind::NotFound => "not found",
                ErrorKind::Unauthorized => "unauthorized",
                _ => "refused",
            };
            Error::new(kind, format!("{what}: {summary} on {host} ({})", messages.join("; ")))
        }
        E::ServerError { code, message, .. } => {
            let kind = kind_for_status(*code);
            let detail = message.chars().take(200).collect::<String>();
            Error::new(kind, format!("{what}: {host} answered HTTP {code} {}", detail.trim()))
        }
        E::RequestError(inner) => {
            let kind = if inner.status().is_some_and(|s| s.as_u16() == 401 || s.as_u16() == 403) {
                ErrorKind::Unauthorized
            } else {
                ErrorKind::Unavailable
            };
            Error::new(kind, format!("{what}: cannot reach {host}: {}", chain(inner)))
        }
        E::DigestError(_) => Error::new(ErrorKind::Image, format!("{what}: {}", chain(&e))),
        _ => Error::new(ErrorKind::Image, format!("{what}: from {host}: {}", chain(&e))),
    }
}

/// An error and its causes, each stated once (reqwest's top-level message names only the URL).
fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut current = Some(e);
    while let Some(err) = current {
        let text = err.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        current = err.source();
    }
    parts.join(": ")
}
