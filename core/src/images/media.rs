//! Media types of OCI and Docker (v2 schema 2) images, and what each one means here.

pub(crate) const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub(crate) const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub(crate) const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
pub(crate) const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
pub(crate) const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub(crate) const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";

/// What an index entry points at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ManifestKind {
    /// An image manifest (OCI or Docker).
    Image,
    /// An index / manifest list: pick a platform.
    Index,
}

pub(crate) fn manifest_kind(media_type: &str) -> Option<ManifestKind> {
    match media_type {
        OCI_MANIFEST | DOCKER_MANIFEST => Some(ManifestKind::Image),
        OCI_INDEX | DOCKER_LIST => Some(ManifestKind::Index),
        _ => None,
    }
}

pub(crate) fn is_config(media_type: &str) -> bool {
    matches!(media_type, OCI_CONFIG | DOCKER_CONFIG)
}

/// How a layer blob is compressed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Compression {
    None,
    Gzip,
    Zstd,
}

/// The declared compression of a layer media type; `None` for a type that is not a filesystem
/// layer. The applier trusts the stream's magic bytes over this, as Docker does: the digest
/// already binds the bytes, and mislabelled gzip/plain layers exist in the wild.
pub(crate) fn layer_compression(media_type: &str) -> Option<Compression> {
    let oci = media_type.strip_prefix("application/vnd.oci.image.layer.v1.").or_else(|| {
        media_type.strip_prefix("application/vnd.oci.image.layer.nondistributable.v1.")
    });
    match oci {
        Some("tar") => return Some(Compression::None),
        Some("tar+gzip") => return Some(Compression::Gzip),
        Some("tar+zstd") => return Some(Compression::Zstd),
        _ => {}
    }
    match media_type {
        "application/vnd.docker.image.rootfs.diff.tar.gzip"
        | "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip" => Some(Compression::Gzip),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layer_types() {
        assert_eq!(
            layer_compression("application/vnd.oci.image.layer.v1.tar+gzip"),
            Some(Compression::Gzip)
        );
        assert_eq!(
            layer_compression("application/vnd.oci.image.layer.nondistributable.v1.tar+zstd"),
            Some(Compression::Zstd)
        );
        assert_eq!(
            layer_compression("application/vnd.oci.image.layer.v1.tar"),
            Some(Compression::None)
        );
        assert_eq!(
            layer_compression("application/vnd.docker.image.rootfs.diff.tar.gzip"),
            Some(Compression::Gzip)
        );
        assert_eq!(layer_compression("application/vnd.oci.image.layer.v1.tar+bzip2"), None);
        assert_eq!(layer_compression("application/json"), None);
    }
}
