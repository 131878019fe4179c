//! Image references. For now only local OCI image layouts: `oci:PATH` and `oci:PATH:TAG`.

use std::fmt;
use std::path::PathBuf;

use crate::error::{Error, ErrorKind, Result};

/// A parsed image reference.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum ImageRef {
    /// An OCI image layout directory and an optional tag (`org.opencontainers.image.ref.name`).
    OciLayout { path: PathBuf, tag: Option<String> },
}

impl ImageRef {
    /// Parses `reference`. The tag of `oci:PATH:TAG` is what follows the last ':' when it has
    /// no '/', so `oci:/a/b:tag` is `/a/b` tagged `tag` and `oci:/x:y/z` is the path `/x:y/z`.
    pub(crate) fn parse(reference: &str) -> Result<Self> {
        let Some(rest) = reference.strip_prefix("oci:") else {
            return Err(Error::new(
                ErrorKind::Image,
                format!(
                    "cannot resolve image {reference:?}: registry pulls are not supported yet; \
                     use oci:PATH[:TAG]"
                ),
            ));
        };
        let (path, tag) = match rest.rsplit_once(':') {
            Some((path, tag)) if !tag.contains('/') => (path, Some(tag)),
            _ => (rest, None),
        };
        if path.is_empty() {
            return Err(Error::invalid_argument(format!(
                "image reference {reference:?} has no layout path (expected oci:PATH[:TAG])"
            )));
        }
        if tag == Some("") {
            return Err(Error::invalid_argument(format!(
                "image reference {reference:?} has an empty tag (expected oci:PATH[:TAG])"
            )));
        }
        Ok(ImageRef::OciLayout { path: PathBuf::from(path), tag: tag.map(str::to_owned) })
    }
}

impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ImageRef::OciLayout { path, tag: None } => write!(f, "oci:{}", path.display()),
            ImageRef::OciLayout { path, tag: Some(tag) } => {
                write!(f, "oci:{}:{tag}", path.display())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn oci(path: &str, tag: Option<&str>) -> ImageRef {
        ImageRef::OciLayout { path: path.into(), tag: tag.map(str::to_owned) }
    }

    #[test]
    fn splits_the_tag_at_the_last_colon_without_slash() {
        assert_eq!(ImageRef::parse("oci:/a/b").unwrap(), oci("/a/b", None));
        assert_eq!(ImageRef::parse("oci:/a/b:tag").unwrap(), oci("/a/b", Some("tag")));
        assert_eq!(ImageRef::parse("oci:rel/dir:v1.2").unwrap(), oci("rel/dir", Some("v1.2")));
        assert_eq!(ImageRef::parse("oci:/x:y/z").unwrap(), oci("/x:y/z", None));
        assert_eq!(ImageRef::parse("oci:/x:y/z:t").unwrap(), oci("/x:y/z", Some("t")));
        assert_eq!(ImageRef::parse("oci:/a/b:tag").unwrap().to_string(), "oci:/a/b:tag");
    }

    #[test]
    fn refuses_registry_references_and_empty_parts() {
        for reference in
            ["alpine", "alpine:3.20", "docker.io/library/alpine", "ghcr.io/o/i@sha256:0"]
        {
            let err = ImageRef::parse(reference).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Image, "{reference}");
            assert!(err.to_string().contains("registry pulls are not supported yet"), "{err}");
        }
        for reference in ["oci:", "oci::tag", "oci:/a:"] {
            let err = ImageRef::parse(reference).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{reference}");
        }
    }
}
