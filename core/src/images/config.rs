//! The image config: the defaults a box takes from its image.

use serde::{Deserialize, Serialize};

use super::digest::Digest;
use crate::error::{Error, ErrorKind, Result};

/// The process defaults of an image (the `config` object of the OCI / Docker image config).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct ImageConfig {
    pub(crate) entrypoint: Option<Vec<String>>,
    pub(crate) cmd: Option<Vec<String>>,
    /// `Env` entries split at the first '='; an entry without '=' has an empty value.
    pub(crate) env: Vec<(String, String)>,
    /// `None` when the image leaves it empty.
    pub(crate) working_dir: Option<String>,
    /// `None` when the image leaves it empty.
    pub(crate) user: Option<String>,
}

#[derive(Deserialize)]
struct RawImage {
    #[serde(default)]
    os: Option<String>,
    #[serde(default)]
    architecture: Option<String>,
    #[serde(default)]
    config: Option<RawConfig>,
}

#[derive(Deserialize)]
struct RawRootfs {
    #[serde(default)]
    rootfs: Option<RawDiffIds>,
}

#[derive(Deserialize)]
struct RawDiffIds {
    #[serde(default)]
    diff_ids: Vec<String>,
}

/// The config's `rootfs.diff_ids`: the digest of each layer's uncompressed tar, in order. The
/// OCI spec requires them; checking them binds the bytes applied to what the image's author
/// built, whatever compression a registry chose to serve.
pub(crate) fn diff_ids(bytes: &[u8], layers: usize, what: &str) -> Result<Vec<Digest>> {
    let raw: RawRootfs = serde_json::from_slice(bytes).map_err(|e| {
        Error::new(ErrorKind::Image, format!("{what}: invalid image config")).with_source(e)
    })?;
    let ids = raw.rootfs.map(|r| r.diff_ids).unwrap_or_default();
    if ids.len() != layers {
        return Err(Error::new(
            ErrorKind::Image,
            format!(
                "{what}: the config lists {} layer diff_ids, the manifest {layers} layers",
                ids.len()
            ),
        ));
    }
    ids.iter()
        .map(|id| {
            Digest::parse(id).map_err(|e| {
                Error::new(ErrorKind::Image, format!("{what}: bad rootfs.diff_ids entry"))
                    .with_source(e)
            })
        })
        .collect()
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RawConfig {
    #[serde(default)]
    entrypoint: Option<Vec<String>>,
    #[serde(default)]
    cmd: Option<Vec<String>>,
    #[serde(default)]
    env: Option<Vec<String>>,
    #[serde(default)]
    working_dir: Option<String>,
    #[serde(default)]
    user: Option<String>,
}

/// The OCI name of this host's architecture.
pub(crate) fn host_architecture() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "powerpc64" => "ppc64le",
        other => other,
    }
}

impl ImageConfig {
    /// Parses a config blob; `what` names the image in errors. Refuses images built for
    /// another OS or architecture: they could only fail later with "exec format error".
    pub(crate) fn parse(bytes: &[u8], what: &str) -> Result<Self> {
        let raw: RawImage = serde_json::from_slice(bytes).map_err(|e| {
            Error::new(ErrorKind::Image, format!("{what}: invalid image config")).with_source(e)
        })?;
        let os = raw.os.as_deref().unwrap_or_default();
        if !os.is_empty() && os != "linux" {
            return Err(Error::new(
                ErrorKind::Image,
                format!("{what}: image is for os {os:?}, boxes run linux images"),
            ));
        }
        let arch = raw.architecture.as_deref().unwrap_or_default();
        if !arch.is_empty() && arch != host_architecture() {
            return Err(Error::new(
                ErrorKind::Image,
                format!(
                    "{what}: image is for architecture {arch:?}, this host is {:?}",
                    host_architecture()
                ),
            ));
        }
        let Some(config) = raw.config else { return Ok(ImageConfig::default()) };
        let env = config
            .env
            .unwrap_or_default()
            .into_iter()
            .filter(|entry| !entry.is_empty())
            .map(|entry| match entry.split_once('=') {
                Some((name, value)) => (name.to_owned(), value.to_owned()),
                None => (entry, String::new()),
            })
            .collect();
        Ok(ImageConfig {
            entrypoint: config.entrypoint,
            cmd: config.cmd,
            env,
            working_dir: config.working_dir.filter(|d| !d.is_empty()),
            user: config.user.filter(|u| !u.is_empty()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_defaults_and_splits_env_at_first_equals() {
        let json = format!(
            r#"{{"architecture":"{}","os":"linux","config":{{
                "Entrypoint":["/bin/tini","--"],"Cmd":null,
                "Env":["PATH=/bin:/usr/bin","EQ=a=b","BARE"],
                "WorkingDir":"/srv","User":"1000:1000"}},
                "rootfs":{{"type":"layers","diff_ids":[]}}}}"#,
            host_architecture()
        );
        let config = ImageConfig::parse(json.as_bytes(), "test").unwrap();
        assert_eq!(
            config,
            ImageConfig {
                entrypoint: Some(vec!["/bin/tini".into(), "--".into()]),
                cmd: None,
                env: vec![
                    ("PATH".into(), "/bin:/usr/bin".into()),
                    ("EQ".into(), "a=b".into()),
                    ("BARE".into(), String::new()),
                ],
                working_dir: Some("/srv".into()),
                user: Some("1000:1000".into()),
            }
        );
    }

    #[test]
    fn empty_fields_are_none_and_missing_config_is_default() {
        let config =
            ImageConfig::parse(br#"{"config":{"WorkingDir":"","User":"","Cmd":["sh"]}}"#, "t")
                .unwrap();
        assert_eq!(config.working_dir, None);
        assert_eq!(config.user, None);
        assert_eq!(config.cmd, Some(vec!["sh".to_owned()]));
        assert_eq!(ImageConfig::parse(b"{}", "t").unwrap(), ImageConfig::default());
    }

    #[test]
    fn refuses_foreign_platforms_and_garbage() {
        let err = ImageConfig::parse(br#"{"os":"windows"}"#, "img").unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Image);
        assert!(err.to_string().contains("windows"), "{err}");
        let err = ImageConfig::parse(br#"{"os":"linux","architecture":"s390x"}"#, "img");
        assert_eq!(err.unwrap_err().kind(), ErrorKind::Image);
        let err = ImageConfig::parse(b"not json", "img").unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Image);
        assert!(err.to_string().starts_with("img: invalid image config"), "{err}");
    }
}
