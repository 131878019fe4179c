//! Image references: registry names normalised as Docker does (`alpine` is
//! `docker.io/library/alpine:latest`), and the local sources `oci:DIR[:TAG]`,
//! `oci-archive:FILE[:TAG]` and `docker-archive:FILE[:REF]`.

use std::fmt;
use std::path::PathBuf;

use super::digest::Digest;
use crate::error::{Error, Result};

/// Docker Hub's canonical name; `index.docker.io` and `registry-1.docker.io` are aliases.
pub(crate) const DOCKER_HUB: &str = "docker.io";
const DEFAULT_TAG: &str = "latest";
/// Docker's bound on a normalised name (`registry/repository`).
const MAX_NAME_LEN: usize = 255;
const MAX_TAG_LEN: usize = 128;

/// A parsed image reference.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum ImageRef {
    Registry(RegistryRef),
    /// An OCI image layout directory and an optional tag (`org.opencontainers.image.ref.name`).
    OciLayout {
        path: PathBuf,
        tag: Option<String>,
    },
    /// A tar of an OCI image layout.
    OciArchive {
        path: PathBuf,
        tag: Option<String>,
    },
    /// A `docker save` tar; the reference picks one of its `RepoTags`.
    DockerArchive {
        path: PathBuf,
        reference: Option<String>,
    },
}

/// A reference to an image in a registry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct RegistryRef {
    /// `docker.io`, `ghcr.io`, `127.0.0.1:5000`, …
    pub(crate) registry: String,
    /// `library/alpine`, `org/tool`, …
    pub(crate) repository: String,
    /// `None` only when a digest is given without a tag.
    pub(crate) tag: Option<String>,
    pub(crate) digest: Option<Digest>,
    /// Whether the text named a registry; unqualified names are searched for.
    pub(crate) qualified: bool,
}

impl RegistryRef {
    /// The same repository path on another registry (a mirror).
    pub(crate) fn on(&self, registry: &str) -> RegistryRef {
        RegistryRef { registry: registry.to_owned(), qualified: true, ..self.clone() }
    }

    /// Where an unqualified name is looked for on search registry `host`: under `library/`
    /// first, as upstream BoxLite and Docker Hub's official images have it, then (for a
    /// single name off Docker Hub) at the top level, as Podman's search looks.
    pub(crate) fn search_candidates(&self, host: &str) -> Vec<RegistryRef> {
        let mut candidates = vec![self.on(host)];
        if let Some(bare) = self.repository.strip_prefix("library/") {
            if host != DOCKER_HUB && !self.qualified && !bare.contains('/') {
                candidates.push(RegistryRef { repository: bare.to_owned(), ..self.on(host) });
            }
        }
        candidates
    }

    /// `repository:tag` or `repository@digest` as the registry's API addresses it.
    pub(crate) fn tag_or_digest(&self) -> String {
        match (&self.digest, &self.tag) {
            (Some(d), _) => d.to_string(),
            (None, Some(t)) => t.clone(),
            (None, None) => DEFAULT_TAG.to_owned(),
        }
    }

    /// `registry/repository`, the name shown as an image's repository.
    pub(crate) fn name(&self) -> String {
        format!("{}/{}", self.registry, self.repository)
    }
}

impl fmt::Display for RegistryRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.repository)?;
        if let Some(tag) = &self.tag {
            write!(f, ":{tag}")?;
        }
        if let Some(digest) = &self.digest {
            write!(f, "@{digest}")?;
        }
        Ok(())
    }
}

impl ImageRef {
    /// Parses `reference`. The tag of `oci:PATH:TAG` is what follows the last ':' when it has
    /// no '/', so `oci:/a/b:tag` is `/a/b` tagged `tag` and `oci:/x:y/z` is the path `/x:y/z`;
    /// `oci-archive:` likewise. For `docker-archive:FILE:REF` the file is what precedes the
    /// first ':' that follows a path component ending in `.tar`, or else the first ':'; REF
    /// (`busybox:latest`) may contain ':' itself.
    pub(crate) fn parse(reference: &str) -> Result<Self> {
        if let Some(rest) = reference.strip_prefix("oci:") {
            let (path, tag) = split_local(reference, rest, "oci:PATH[:TAG]")?;
            return Ok(ImageRef::OciLayout { path, tag });
        }
        if let Some(rest) = reference.strip_prefix("oci-archive:") {
            let (path, tag) = split_local(reference, rest, "oci-archive:FILE[:TAG]")?;
            return Ok(ImageRef::OciArchive { path, tag });
        }
        if let Some(rest) = reference.strip_prefix("docker-archive:") {
            let (path, reference_in) = split_docker_archive(rest);
            if path.is_empty() {
                return Err(Error::invalid_argument(format!(
                    "image reference {reference:?} has no file (expected docker-archive:FILE[:REF])"
                )));
            }
            if reference_in == Some("") {
                return Err(Error::invalid_argument(format!(
                    "image reference {reference:?} has an empty REF \
                     (expected docker-archive:FILE[:REF])"
                )));
            }
            return Ok(ImageRef::DockerArchive {
                path: PathBuf::from(path),
                reference: reference_in.map(str::to_owned),
            });
        }
        parse_registry(reference).map(ImageRef::Registry)
    }

    /// Whether the image comes from a file or directory on this host.
    pub(crate) fn is_local(&self) -> bool {
        !matches!(self, ImageRef::Registry(_))
    }
}

fn split_local(reference: &str, rest: &str, form: &str) -> Result<(PathBuf, Option<String>)> {
    let (path, tag) = match rest.rsplit_once(':') {
        Some((path, tag)) if !tag.contains('/') => (path, Some(tag)),
        _ => (rest, None),
    };
    if path.is_empty() {
        return Err(Error::invalid_argument(format!(
            "image reference {reference:?} has no path (expected {form})"
        )));
    }
    if tag == Some("") {
        return Err(Error::invalid_argument(format!(
            "image reference {reference:?} has an empty tag (expected {form})"
        )));
    }
    Ok((PathBuf::from(path), tag.map(str::to_owned)))
}

fn split_docker_archive(rest: &str) -> (&str, Option<&str>) {
    if let Some(end) = rest.find(".tar:") {
        let split = end + ".tar".len();
        return (&rest[..split], Some(&rest[split + 1..]));
    }
    match rest.split_once(':') {
        Some((path, reference)) => (path, Some(reference)),
        None => (rest, None),
    }
}

/// Parses a registry reference with Docker's rules: the first component is a registry when it
/// contains '.' or ':' or is `localhost`; otherwise the name is on Docker Hub, under `library/`
/// when it has one component.
fn parse_registry(text: &str) -> Result<RegistryRef> {
    let bad =
        |why: &str| Error::invalid_argument(format!("invalid image reference {text:?}: {why}"));
    if text.is_empty() {
        return Err(bad("it is empty"));
    }
    if text.len() > MAX_NAME_LEN + MAX_TAG_LEN + 80 {
        return Err(bad("it is too long"));
    }
    let (rest, digest) = match text.split_once('@') {
        Some((rest, digest)) => {
            (rest, Some(Digest::parse(digest).map_err(|e| bad(&e.to_string()))?))
        }
        None => (text, None),
    };
    let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
    let (name, tag) = match rest[last_slash..].rfind(':') {
        Some(i) => (&rest[..last_slash + i], Some(&rest[last_slash + i + 1..])),
        None => (rest, None),
    };
    if let Some(tag) = tag {
        valid_tag(tag).map_err(|why| bad(&why))?;
    }
    let (registry, path, qualified) = match name.split_once('/') {
        Some((first, path))
            if first.contains('.') || first.contains(':') || first == "localhost" =>
        {
            (first.to_owned(), path.to_owned(), true)
        }
        _ => (DOCKER_HUB.to_owned(), name.to_owned(), false),
    };
    let registry = match registry.as_str() {
        "index.docker.io" | "registry-1.docker.io" => DOCKER_HUB.to_owned(),
        _ => registry,
    };
    if registry.bytes().any(|b| !(b.is_ascii_alphanumeric() || b"-.:[]".contains(&b))) {
        return Err(bad(&format!("registry host {registry:?} has characters a host cannot have")));
    }
    let repository = if registry == DOCKER_HUB && !path.contains('/') {
        format!("library/{path}")
    } else {
        path
    };
    // As Docker bounds it: the normalised name, registry included. A bound on what was typed
    // would let `alpine`-style names grow past it by normalisation, and the canonical form
    // (`images` shows it, the store records it) would then be refused.
    if registry.len() + 1 + repository.len() > MAX_NAME_LEN {
        return Err(bad(&format!(
            "the name {registry}/{repository} is longer than {MAX_NAME_LEN} characters"
        )));
    }
    for component in repository.split('/') {
        valid_component(component).map_err(|why| bad(&why))?;
    }
    let tag = match (tag, &digest) {
        (Some(tag), _) => Some(tag.to_owned()),
        (None, Some(_)) => None,
        (None, None) => Some(DEFAULT_TAG.to_owned()),
    };
    Ok(RegistryRef { registry, repository, tag, digest, qualified })
}

/// A repository path component: lowercase letters and digits, separated by '.', '_', "__" or
/// runs of '-'.
fn valid_component(c: &str) -> std::result::Result<(), String> {
    let bytes = c.as_bytes();
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    if bytes.is_empty() {
        return Err("a repository path component is empty".into());
    }
    if bytes.iter().any(|b| b.is_ascii_uppercase()) {
        return Err(format!("repository names must be lowercase ({c:?})"));
    }
    if !alnum(bytes[0]) || !alnum(bytes[bytes.len() - 1]) {
        return Err(format!("{c:?} must start and end with a letter or digit"));
    }
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if alnum(b) {
            i += 1;
            continue;
        }
        let run = bytes[i..].iter().take_while(|&&x| !alnum(x)).count();
        let sep = &c[i..i + run];
        let ok = matches!(sep, "." | "_" | "__") || sep.bytes().all(|x| x == b'-');
        if !ok {
            return Err(format!("{c:?} has an invalid separator {sep:?}"));
        }
        i += run;
    }
    Ok(())
}

fn valid_tag(tag: &str) -> std::result::Result<(), String> {
    let bytes = tag.as_bytes();
    let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    if bytes.is_empty() {
        return Err("the tag is empty".into());
    }
    if bytes.len() > MAX_TAG_LEN {
        return Err("the tag is longer than 128 characters".into());
    }
    if !word(bytes[0]) || !bytes.iter().all(|&b| word(b) || b == b'.' || b == b'-') {
        return Err(format!("tag {tag:?} may only have letters, digits, '_', '.' and '-'"));
    }
    Ok(())
}

impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let local =
            |f: &mut fmt::Formatter<'_>, scheme: &str, path: &PathBuf, tag: &Option<String>| {
                write!(f, "{scheme}:{}", path.display())?;
                match tag {
                    Some(tag) => write!(f, ":{tag}"),
                    None => Ok(()),
                }
            };
        match self {
            ImageRef::Registry(r) => r.fmt(f),
            ImageRef::OciLayout { path, tag } => local(f, "oci", path, tag),
            ImageRef::OciArchive { path, tag } => local(f, "oci-archive", path, tag),
            ImageRef::DockerArchive { path, reference } => {
                local(f, "docker-archive", path, reference)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;

    fn oci(path: &str, tag: Option<&str>) -> ImageRef {
        ImageRef::OciLayout { path: path.into(), tag: tag.map(str::to_owned) }
    }

    fn registry(text: &str) -> RegistryRef {
        match ImageRef::parse(text).unwrap() {
            ImageRef::Registry(r) => r,
            other => panic!("{text}: {other:?}"),
        }
    }

    #[test]
    fn splits_the_tag_at_the_last_colon_without_slash() {
        assert_eq!(ImageRef::parse("oci:/a/b").unwrap(), oci("/a/b", None));
        assert_eq!(ImageRef::parse("oci:/a/b:tag").unwrap(), oci("/a/b", Some("tag")));
        assert_eq!(ImageRef::parse("oci:rel/dir:v1.2").unwrap(), oci("rel/dir", Some("v1.2")));
        assert_eq!(ImageRef::parse("oci:/x:y/z").unwrap(), oci("/x:y/z", None));
        assert_eq!(ImageRef::parse("oci:/x:y/z:t").unwrap(), oci("/x:y/z", Some("t")));
        assert_eq!(ImageRef::parse("oci:/a/b:tag").unwrap().to_string(), "oci:/a/b:tag");
        assert_eq!(
            ImageRef::parse("oci-archive:/t/a.tar:v1").unwrap(),
            ImageRef::OciArchive { path: "/t/a.tar".into(), tag: Some("v1".into()) }
        );
    }

    #[test]
    fn docker_archive_refs_may_contain_colons() {
        let parse = |s: &str| match ImageRef::parse(s).unwrap() {
            ImageRef::DockerArchive { path, reference } => (path, reference),
            other => panic!("{other:?}"),
        };
        assert_eq!(parse("docker-archive:/t/a.tar"), ("/t/a.tar".into(), None));
        assert_eq!(
            parse("docker-archive:/t/a.tar:busybox:latest"),
            ("/t/a.tar".into(), Some("busybox:latest".into()))
        );
        assert_eq!(parse("docker-archive:/t/save:img:1"), ("/t/save".into(), Some("img:1".into())));
        for bad in ["docker-archive:", "docker-archive:/a.tar:"] {
            assert_eq!(ImageRef::parse(bad).unwrap_err().kind(), ErrorKind::InvalidArgument);
        }
    }

    #[test]
    fn normalises_registry_names_like_docker() {
        assert_eq!(registry("alpine").to_string(), "docker.io/library/alpine:latest");
        assert!(!registry("alpine").qualified);
        assert_eq!(registry("alpine:3.20").to_string(), "docker.io/library/alpine:3.20");
        assert_eq!(registry("org/tool").to_string(), "docker.io/org/tool:latest");
        assert_eq!(registry("docker.io/alpine").to_string(), "docker.io/library/alpine:latest");
        assert_eq!(
            registry("index.docker.io/library/alpine").to_string(),
            "docker.io/library/alpine:latest"
        );
        assert!(registry("docker.io/alpine").qualified);
        let r = registry("localhost:5000/a/b:v1");
        assert_eq!((r.registry.as_str(), r.repository.as_str()), ("localhost:5000", "a/b"));
        let r = registry("127.0.0.1:5000/busybox");
        assert_eq!((r.registry.as_str(), r.repository.as_str()), ("127.0.0.1:5000", "busybox"));
        let hex = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        let r = registry(&format!("ghcr.io/org/tool@sha256:{hex}"));
        assert_eq!(r.tag, None);
        assert_eq!(r.tag_or_digest(), format!("sha256:{hex}"));
        assert_eq!(r.to_string(), format!("ghcr.io/org/tool@sha256:{hex}"));
        let r = registry(&format!("ghcr.io/org/tool:v2@sha256:{hex}"));
        assert_eq!(r.tag.as_deref(), Some("v2"));
    }

    #[test]
    fn search_candidates_try_library_first() {
        let names = |r: &RegistryRef, host: &str| -> Vec<String> {
            r.search_candidates(host).iter().map(|c| c.to_string()).collect()
        };
        let r = registry("alpine");
        assert_eq!(
            names(&r, "127.0.0.1:5000"),
            ["127.0.0.1:5000/library/alpine:latest", "127.0.0.1:5000/alpine:latest"]
        );
        assert_eq!(names(&r, DOCKER_HUB), ["docker.io/library/alpine:latest"]);
        assert_eq!(names(&registry("org/tool"), "h:1"), ["h:1/org/tool:latest"]);
        // A mirror of Docker Hub serves the same paths.
        assert_eq!(registry("docker.io/library/alpine").on("m:5000").repository, "library/alpine");
    }

    /// Found by the image_reference fuzz target: a name short enough as typed but over
    /// Docker's bound once normalised was accepted, and its canonical form (what `images`
    /// shows) then refused.
    #[test]
    fn the_bound_is_on_the_normalised_name() {
        let hex = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        let tag = "t".repeat(MAX_TAG_LEN);
        // docker.io/library/ + 237 is 255 characters: the longest name, with the longest tag.
        let longest = format!("{}:{tag}@sha256:{hex}", "a".repeat(237));
        let shown = ImageRef::parse(&longest).unwrap().to_string();
        assert_eq!(ImageRef::parse(&shown).unwrap().to_string(), shown);
        for over in [
            format!("{}:{tag}@sha256:{hex}", "a".repeat(238)),
            format!("{}.io/{}", "h".repeat(240), "r".repeat(20)),
        ] {
            let err = ImageRef::parse(&over).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{err}");
            assert!(err.to_string().contains("longer than 255"), "{err}");
        }
    }

    #[test]
    fn refuses_invalid_names() {
        for bad in [
            "",
            "Alpine",
            "alpine:",
            "alpine:-x",
            "alpine@sha256:0",
            "a//b",
            "a/-b",
            "a/b..c",
            "reg.io/",
            "oci:",
            "oci::tag",
            "oci:/a:",
        ] {
            let err = ImageRef::parse(bad).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{bad}: {err}");
        }
        let err = ImageRef::parse("Alpine").unwrap_err();
        assert!(err.to_string().contains("lowercase"), "{err}");
    }
}
