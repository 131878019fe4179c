//! The image store (docs/architecture.md, "Images" and "Home directory"): resolves an image
//! reference, fetches and verifies its blobs into `images/blobs/sha256/`, and applies its
//! layers once into `images/rootfs/<manifest digest hex>/`, the read-only lower directory of
//! every box made from it. The images table (db/images.rs) maps references to manifests; the
//! public handle is [`crate::ImageHandle`].
//!
//! The pieces, one verb per file:
//! - [`mod@reference`]: parses registry references (Docker's normalisation) and the local
//!   `oci:`, `oci-archive:` and `docker-archive:` forms;
//! - [`remote`]: the registry client (oci-client) and its error classification;
//! - [`pull`]: a registry pull — mirrors, index, concurrent verified layer downloads;
//! - [`blobs`]: the content-addressed blob store;
//! - [`archive`]: `oci-archive` and `docker save` tars, turned into a layout;
//! - [`layout`]: reads an OCI image layout — `index.json`, tag and platform selection, manifests;
//! - [`digest`]: sha256 digests and a hashing reader for layer streams;
//! - [`decompress`]: gzip / zstd / plain, by the stream's magic bytes;
//! - [`config`]: the image config defaults (Entrypoint, Cmd, Env, WorkingDir, User);
//! - [`apply`]: reads one layer's tar stream and applies its entries in order;
//! - [`entry`]: one tar entry's metadata, extension headers applied;
//! - [`rootfs`]: the filesystem operations, every path resolved inside the root;
//! - [`whiteout`]: `.wh.NAME` and `.wh..wh..opq` markers;
//! - [`store`]: local imports, unpacking, caching, the per-digest lock and atomic publication.

mod apply;
mod archive;
mod blobs;
mod config;
mod decompress;
mod digest;
mod entry;
mod layout;
mod media;
mod pull;
mod reference;
mod remote;
mod rootfs;
mod store;
mod whiteout;

pub(crate) use apply::{apply_layer, Totals};
pub(crate) use blobs::remove_stale_downloads;
pub(crate) use config::ImageConfig;
pub(crate) use digest::Digest;
pub(crate) use pull::{is_retryable, pull};
pub use pull::{ProgressFn, PullProgress};
pub(crate) use reference::{ImageRef, RegistryRef, DOCKER_HUB};
pub(crate) use remote::{client_reference, Remote};
pub(crate) use rootfs::Root;
pub(crate) use store::{ImageStore, PreparedImage};

#[cfg(test)]
mod tests;

/// Bounds on what one image may unpack to; the defaults are [`MAX_ENTRIES`] and [`MAX_BYTES`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Limits {
    /// Tar entries over all layers of an image, extension headers included.
    pub(crate) max_entries: u64,
    /// Decompressed bytes over all layers of an image (tar headers and file contents).
    pub(crate) max_bytes: u64,
}

/// Default bound on the number of tar entries of one image.
pub(crate) const MAX_ENTRIES: u64 = 1_000_000;
/// Default bound on the decompressed size of one image: 64 GiB.
pub(crate) const MAX_BYTES: u64 = 64 << 30;

impl Default for Limits {
    fn default() -> Self {
        Limits { max_entries: MAX_ENTRIES, max_bytes: MAX_BYTES }
    }
}
