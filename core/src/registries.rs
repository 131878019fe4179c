//! Registry configuration (docs/architecture.md, "Images"): per-registry transport, TLS
//! verification, credentials and mirrors, and the ordered list of registries searched for
//! unqualified names. Three sources, in this order of precedence: [`RuntimeOptions`]'s
//! `image_registries`, the `BOXLITE_IMAGE_REGISTRIES` environment variable (a JSON list of the
//! same entries) and `config.json` in the home (`{"image_registries": [...]}`). The first
//! entry naming a host decides that host's settings; the search order is the order of the
//! entries with `search: true` across all three.
//!
//! [`RuntimeOptions`]: crate::RuntimeOptions

use std::net::IpAddr;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Error, ErrorKind, Result};

/// Environment variable with extra registry entries: a JSON list of [`ImageRegistry`].
pub const IMAGE_REGISTRIES_ENV: &str = "BOXLITE_IMAGE_REGISTRIES";
/// The home's configuration file, relative to the home directory.
pub const CONFIG_FILE: &str = "config.json";
/// `config.json` is small; a bound keeps a hostile file from exhausting memory.
const MAX_CONFIG_BYTES: u64 = 1 << 20;

/// How to reach one registry (upstream BoxLite's `ImageRegistry`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ImageRegistry {
    /// `host[:port]` as written in references: `ghcr.io`, `127.0.0.1:5000`, `docker.io`.
    pub host: String,
    /// `None`: plain http for loopback hosts (`localhost`, `127.0.0.0/8`, `::1`), as Docker
    /// does, https for every other host.
    pub transport: Option<RegistryTransport>,
    /// Accept any TLS certificate and host name (https only).
    pub skip_verify: bool,
    /// Search this registry for unqualified names (`alpine`), in list order.
    pub search: bool,
    /// Credentials; anonymous (with the registry's token flow if it asks) by default.
    pub auth: RegistryAuth,
    /// Registries that serve the same repositories, tried before this one (Docker's
    /// `registry-mirrors`, for `docker.io` or any other host). Each mirror's own transport and
    /// credentials come from its own entry, if there is one.
    pub mirrors: Vec<String>,
}

/// Plain http or https.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RegistryTransport {
    /// TLS, verified unless `skip_verify`.
    Https,
    /// Plain http: only for registries on trusted networks.
    Http,
}

/// Registry credentials.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase", deny_unknown_fields)]
pub enum RegistryAuth {
    /// No credentials (the token flow still runs anonymously when the registry asks for it).
    #[default]
    Anonymous,
    /// HTTP basic credentials; also used to obtain tokens from a token server.
    Basic {
        /// User name.
        username: String,
        /// Password or access token.
        password: String,
    },
    /// A bearer token sent as is.
    Bearer {
        /// The token.
        token: String,
    },
}

impl std::fmt::Debug for RegistryAuth {
    // Credentials never reach logs or error messages.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RegistryAuth::Anonymous => f.write_str("Anonymous"),
            RegistryAuth::Basic { username, .. } => write!(f, "Basic({username:?}, ***)"),
            RegistryAuth::Bearer { .. } => f.write_str("Bearer(***)"),
        }
    }
}

impl ImageRegistry {
    /// Checks the entry; `source` names where it came from, for messages.
    pub fn validate(&self, source: &str) -> Result<()> {
        let bad = |why: String| {
            Error::invalid_argument(format!("registry {:?} in {source}: {why}", self.host))
        };
        if self.host.is_empty() {
            return Err(Error::invalid_argument(format!("a registry in {source} has no host")));
        }
        if self.host.contains('/') || self.host.contains("://") {
            return Err(bad("host must be host[:port], without a scheme or path".into()));
        }
        if self.host.bytes().any(|b| !(b.is_ascii_alphanumeric() || b"-.:[]".contains(&b))) {
            return Err(bad("host has characters a host name cannot have".into()));
        }
        if self.skip_verify && self.transport == Some(RegistryTransport::Http) {
            return Err(bad("skip_verify applies to https only, and transport is http".into()));
        }
        match &self.auth {
            RegistryAuth::Basic { username, .. } if username.is_empty() => {
                return Err(bad("basic auth needs a username".into()))
            }
            RegistryAuth::Bearer { token } if token.is_empty() => {
                return Err(bad("bearer auth needs a token".into()))
            }
            _ => {}
        }
        for mirror in &self.mirrors {
            if mirror.is_empty() || mirror.contains('/') || mirror == &self.host {
                return Err(bad(format!("mirror {mirror:?} must be another host[:port]")));
            }
        }
        Ok(())
    }
}

/// Whether `host` (`name[:port]`, `[v6]:port`) is this machine's loopback.
pub(crate) fn is_loopback(host: &str) -> bool {
    let name = match host.strip_prefix('[') {
        Some(rest) => rest.split(']').next().unwrap_or(rest),
        None => host.rsplit_once(':').map_or(host, |(name, port)| {
            if port.bytes().all(|b| b.is_ascii_digit()) && !name.contains(':') {
                name
            } else {
                host
            }
        }),
    };
    name.eq_ignore_ascii_case("localhost")
        || name.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// The effective configuration: every source merged.
#[derive(Clone, Debug, Default)]
pub(crate) struct Registries {
    entries: Vec<ImageRegistry>,
}

#[derive(Deserialize)]
struct ConfigFile {
    #[serde(default)]
    image_registries: Vec<ImageRegistry>,
}

impl Registries {
    /// Merges the options' entries, the environment's and the home's config file.
    pub(crate) fn load(options: &[ImageRegistry], home: &Path) -> Result<Self> {
        let mut entries = Vec::new();
        for entry in options {
            entry.validate("RuntimeOptions.image_registries")?;
            entries.push(entry.clone());
        }
        if let Ok(text) = std::env::var(IMAGE_REGISTRIES_ENV) {
            if !text.trim().is_empty() {
                let list: Vec<ImageRegistry> = serde_json::from_str(&text).map_err(|e| {
                    Error::invalid_argument(format!(
                        "{IMAGE_REGISTRIES_ENV}: not a JSON list of registries ({e})"
                    ))
                })?;
                for entry in list {
                    entry.validate(IMAGE_REGISTRIES_ENV)?;
                    entries.push(entry);
                }
            }
        }
        let path = home.join(CONFIG_FILE);
        match read_bounded(&path) {
            Ok(bytes) => {
                let file: ConfigFile = serde_json::from_slice(&bytes).map_err(|e| {
                    Error::invalid_argument(format!(
                        "{}: invalid configuration ({e})",
                        path.display()
                    ))
                })?;
                let source = path.display().to_string();
                for entry in file.image_registries {
                    entry.validate(&source)?;
                    entries.push(entry);
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io(format!("read {}", path.display()), e)),
        }
        Ok(Registries { entries })
    }

    /// The settings of `host`, field by field from its first entry that sets the field (so a
    /// search-only entry from the CLI keeps the credentials of the config file's entry).
    pub(crate) fn settings(&self, host: &str) -> ImageRegistry {
        let mut merged = ImageRegistry { host: host.to_owned(), ..Default::default() };
        let mut auth_set = false;
        for e in self.entries.iter().filter(|e| e.host.eq_ignore_ascii_case(host)) {
            merged.transport = merged.transport.or(e.transport);
            merged.skip_verify |= e.skip_verify;
            merged.search |= e.search;
            if !auth_set && e.auth != RegistryAuth::Anonymous {
                merged.auth = e.auth.clone();
                auth_set = true;
            }
            if merged.mirrors.is_empty() {
                merged.mirrors = e.mirrors.clone();
            }
        }
        merged
    }

    /// Hosts searched for unqualified names, in order; Docker Hub when none is configured.
    pub(crate) fn search(&self) -> Vec<String> {
        let mut hosts: Vec<String> = Vec::new();
        for entry in self.entries.iter().filter(|e| e.search) {
            if !hosts.iter().any(|h| h.eq_ignore_ascii_case(&entry.host)) {
                hosts.push(entry.host.clone());
            }
        }
        if hosts.is_empty() {
            hosts.push(crate::images::DOCKER_HUB.to_owned());
        }
        hosts
    }

    /// The mirrors of `host`, in order, then `host` itself.
    pub(crate) fn endpoints(&self, host: &str) -> Vec<String> {
        let mut hosts = self.settings(host).mirrors;
        hosts.push(host.to_owned());
        hosts
    }
}

impl ImageRegistry {
    /// Whether this registry is spoken to over plain http.
    pub(crate) fn plain_http(&self) -> bool {
        match self.transport {
            Some(t) => t == RegistryTransport::Http,
            None => is_loopback(&self.host),
        }
    }
}

fn read_bounded(path: &Path) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let mut bytes = Vec::new();
    std::fs::File::open(path)?.take(MAX_CONFIG_BYTES + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > MAX_CONFIG_BYTES {
        return Err(std::io::Error::other(format!("larger than {MAX_CONFIG_BYTES} bytes")));
    }
    Ok(bytes)
}

/// `ErrorKind` for a registry's HTTP status.
pub(crate) fn kind_for_status(status: u16) -> ErrorKind {
    match status {
        401 | 403 => ErrorKind::Unauthorized,
        404 => ErrorKind::NotFound,
        _ => ErrorKind::Unavailable,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_hosts_default_to_http() {
        for host in
            ["localhost", "localhost:5000", "127.0.0.1:5000", "127.9.9.9", "[::1]:5000", "::1"]
        {
            assert!(is_loopback(host), "{host}");
        }
        for host in ["example.com", "10.0.0.1:5000", "localhost.example.com", "[fe80::1]:80"] {
            assert!(!is_loopback(host), "{host}");
        }
        let r = Registries::default();
        assert!(r.settings("127.0.0.1:5000").plain_http());
        assert!(!r.settings("ghcr.io").plain_http());
    }

    #[test]
    fn entries_parse_with_upstream_field_names() {
        let list: Vec<ImageRegistry> = serde_json::from_str(
            r#"[{"host":"reg.local:5000","transport":"http","search":true},
                {"host":"r.example.com","skip_verify":true,
                 "auth":{"type":"basic","username":"u","password":"p"}},
                {"host":"docker.io","mirrors":["127.0.0.1:5000"]},
                {"host":"t.example.com","auth":{"type":"bearer","token":"tok"}}]"#,
        )
        .unwrap();
        assert_eq!(list[0].transport, Some(RegistryTransport::Http));
        assert!(list[0].search);
        assert_eq!(
            list[1].auth,
            RegistryAuth::Basic { username: "u".into(), password: "p".into() }
        );
        assert_eq!(format!("{:?}", list[1].auth), "Basic(\"u\", ***)");
        assert!(!format!("{:?}", list[3].auth).contains("tok"));
        for entry in &list {
            entry.validate("test").unwrap();
        }
        let r = Registries { entries: list };
        assert_eq!(r.search(), vec!["reg.local:5000".to_owned()]);
        assert_eq!(r.endpoints("docker.io"), vec!["127.0.0.1:5000".to_owned(), "docker.io".into()]);
        assert_eq!(r.endpoints("ghcr.io"), vec!["ghcr.io".to_owned()]);
        assert_eq!(Registries::default().search(), vec!["docker.io".to_owned()]);
    }

    #[test]
    fn bad_entries_are_refused_with_their_source() {
        for json in [
            r#"{"host":""}"#,
            r#"{"host":"https://x.io"}"#,
            r#"{"host":"x.io","transport":"http","skip_verify":true}"#,
            r#"{"host":"x.io","auth":{"type":"basic","username":"","password":"p"}}"#,
            r#"{"host":"x.io","mirrors":["x.io"]}"#,
        ] {
            let entry: ImageRegistry = serde_json::from_str(json).unwrap();
            let err = entry.validate("config.json").unwrap_err();
            assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{json}");
            assert!(err.to_string().contains("config.json"), "{err}");
        }
        assert!(serde_json::from_str::<ImageRegistry>(r#"{"host":"x","hots":1}"#).is_err());
        assert!(serde_json::from_str::<ImageRegistry>(r#"{"host":"x","transport":"ftp"}"#).is_err());
    }

    #[test]
    fn home_config_file_is_read_and_checked() {
        let home = tempfile::tempdir().unwrap();
        std::fs::write(
            home.path().join(CONFIG_FILE),
            r#"{"image_registries":[{"host":"127.0.0.1:5000","search":true}]}"#,
        )
        .unwrap();
        let first = ImageRegistry { host: "a.io".into(), search: true, ..Default::default() };
        let r = Registries::load(&[first], home.path()).unwrap();
        assert_eq!(r.search(), vec!["a.io".to_owned(), "127.0.0.1:5000".to_owned()]);
        // A search-only entry first (the CLI's --registry) keeps the file's credentials.
        std::fs::write(
            home.path().join(CONFIG_FILE),
            r#"{"image_registries":[{"host":"a.io","transport":"http",
                "auth":{"type":"basic","username":"u","password":"p"}}]}"#,
        )
        .unwrap();
        let first = ImageRegistry { host: "a.io".into(), search: true, ..Default::default() };
        let r = Registries::load(&[first], home.path()).unwrap();
        let a = r.settings("a.io");
        assert!(a.search && a.plain_http());
        assert_eq!(a.auth, RegistryAuth::Basic { username: "u".into(), password: "p".into() });
        std::fs::write(home.path().join(CONFIG_FILE), "{not json").unwrap();
        let err = Registries::load(&[], home.path()).unwrap_err();
        assert!(err.to_string().contains("config.json: invalid configuration"), "{err}");
    }
}
