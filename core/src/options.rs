//! Options of the runtime and of a box, validated at the boundary.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::network::NetworkMode;
use crate::ports::PortSpec;
use crate::volumes::VolumeSpec;

/// How to open a [`crate::Runtime`]. Build it with `..Default::default()`: fields are added.
#[derive(Clone, Debug, Default)]
pub struct RuntimeOptions {
    /// Home directory; `None` means `$BOXLITE_HOME`, else `~/.boxlite`.
    pub home_dir: Option<PathBuf>,
    /// The `boxlite-shim` binary; `None`: `$BOXLITE_SHIM`, else next to the library (or
    /// program) that holds boxlite, its `../libexec/boxlite/`, then `PATH`
    /// (docs/architecture.md, "Helper discovery and install layout").
    pub shim_path: Option<PathBuf>,
    /// The statically linked `boxlite-guest` binary; `None`: `$BOXLITE_GUEST`, else searched
    /// as the shim is (and next to the shim); a dynamically linked one is refused.
    pub guest_path: Option<PathBuf>,
    /// How long `start` waits for the guest agent; `None`:
    /// `$BOXLITE_GUEST_READY_TIMEOUT_SECS`, else [`DEFAULT_GUEST_READY_TIMEOUT`].
    pub guest_ready_timeout: Option<Duration>,
    /// Registries: transport, credentials, mirrors, and which to search for unqualified
    /// names. Entries here come before those of `$BOXLITE_IMAGE_REGISTRIES` and of the home's
    /// `config.json` (see [`crate::ImageRegistry`]).
    pub image_registries: Vec<crate::ImageRegistry>,
}

/// Default of [`RuntimeOptions::guest_ready_timeout`].
pub const DEFAULT_GUEST_READY_TIMEOUT: Duration = Duration::from_secs(30);
/// Environment variable overriding the guest-ready timeout, in seconds.
pub const GUEST_READY_TIMEOUT_ENV: &str = "BOXLITE_GUEST_READY_TIMEOUT_SECS";

impl RuntimeOptions {
    /// The effective guest-ready timeout: option, then environment, then default. A malformed
    /// environment value is an error rather than silently the default.
    pub fn resolved_guest_ready_timeout(&self) -> Result<Duration> {
        if let Some(t) = self.guest_ready_timeout {
            return Ok(t);
        }
        match std::env::var(GUEST_READY_TIMEOUT_ENV) {
            Ok(v) => match v.trim().parse::<f64>() {
                Ok(secs) if secs.is_finite() && secs > 0.0 => Ok(Duration::from_secs_f64(secs)),
                _ => Err(Error::invalid_argument(format!(
                    "{GUEST_READY_TIMEOUT_ENV}={v:?}: expected a positive number of seconds"
                ))),
            },
            Err(_) => Ok(DEFAULT_GUEST_READY_TIMEOUT),
        }
    }
}

/// The immutable configuration of a box, stored as JSON with its record.
///
/// Stored options keep the fields this version does not know (written by a newer boxlite) in
/// [`BoxOptions::unknown`]: such a box can be listed, inspected, stopped and removed, but not
/// started, since an option it would ignore may be one that protects the host.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct BoxOptions {
    /// Image reference (`alpine:3.20`, `oci:/path/to/layout:tag`, …); resolved at start.
    pub image: String,
    /// Environment variables, in order; later entries win.
    pub env: Vec<(String, String)>,
    /// Working directory of the main command and the default for exec; absolute.
    pub working_dir: Option<String>,
    /// Command; `None` takes the image's `Cmd`.
    pub cmd: Option<Vec<String>>,
    /// Entrypoint; `None` takes the image's `Entrypoint`.
    pub entrypoint: Option<Vec<String>>,
    /// `uid[:gid]` or `name[:group]` resolved in the box's `/etc/passwd`.
    pub user: Option<String>,
    /// CPU limit in cores (fractions allowed).
    pub cpus: Option<f64>,
    /// Memory limit in MiB; `None`: [`crate::DEFAULT_MEMORY_MIB`].
    pub memory_mib: Option<u64>,
    /// Most processes and threads at once; `None`: [`crate::DEFAULT_PIDS_MAX`].
    pub pids_max: Option<u64>,
    /// `RLIMIT_NOFILE` soft limit of the box's processes; `None`: 1024 (or the hard limit
    /// when that is lower).
    pub nofile_soft: Option<u64>,
    /// `RLIMIT_NOFILE` hard limit; `None`: 4096 (or the soft limit when that is higher).
    pub nofile_hard: Option<u64>,
    /// Size of the `/tmp` tmpfs in MiB (when the image has no `/tmp`); `None`: half the
    /// memory limit.
    pub tmp_size_mib: Option<u64>,
    /// Size of one box log file in MiB; `None`: 16.
    pub log_max_size_mib: Option<u64>,
    /// Box log files kept, the live one included; `None`: 2.
    pub log_max_files: Option<u32>,
    /// Size of the box's disk, which bounds its writable layer, in GiB; `None`: 10.
    pub disk_size_gb: Option<u64>,
    /// Capabilities the box's root processes get on top of the default set (Docker's minus
    /// CAP_MKNOD), named as Docker takes them (`CAP_SYS_PTRACE`, `sys_ptrace`) or `ALL`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub cap_add: Vec<String>,
    /// Capabilities taken from the default set; `ALL` starts from none (then `cap_add`
    /// names what the box keeps). A capability in both lists is dropped.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub cap_drop: Vec<String>,
    /// Whose user namespace the box runs in: its own by default (box root is an unprivileged
    /// host uid); [`UsernsMode::Host`] makes box root host root, for images that need it.
    #[serde(skip_serializing_if = "UsernsMode::is_private")]
    pub userns: UsernsMode,
    /// The seccomp filter of the box's processes: the default deny-list, none at all
    /// ([`SeccompMode::Unconfined`]) or a profile of the box's own ([`SeccompMode::Profile`]);
    /// the last two are reported in `BoxInfo::warnings`.
    #[serde(skip_serializing_if = "SeccompMode::is_default")]
    pub seccomp: SeccompMode,
    /// Egress through the host's network ([`NetworkMode::Enabled`], the default), never to the
    /// host itself or to link-local addresses, or loopback only ([`NetworkMode::Disabled`])
    /// (docs/networking.md). Always stored: a stored box without it was made when the
    /// default was "disabled", and reads back so (db/boxes.rs).
    pub network: NetworkMode,
    /// The resolvers the box's DNS queries go to (IP addresses); empty: the host's, from its
    /// /etc/resolv.conf. Only with a network.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub dns: Vec<String>,
    /// With a network, the only destinations the box reaches: host names (`api.example.com`),
    /// `*.example.com` wildcards, IPv4 addresses and CIDRs. Other names do not resolve, and
    /// other addresses are refused, also when dialled directly. Empty: full egress.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub allow_net: Vec<String>,
    /// Host files and directories bind-mounted into the box ([`VolumeSpec`]), checked at
    /// create and at each start (docs/architecture.md, "Volumes").
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub volumes: Vec<VolumeSpec>,
    /// Box TCP ports published on the host ([`PortSpec`]); needs a network. A port already
    /// taken on the host fails the start, and the box is `failed` with that reason.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<PortSpec>,
    /// Remove the box when it stops. Cannot be combined with `detach`: a detached box may
    /// stop when no process of ours is there to remove it.
    pub auto_remove: bool,
    /// Keep the box running after the process that started it exits.
    pub detach: bool,
    /// Fields of a stored configuration that this version does not know, kept as they were.
    /// Always empty in options given to [`crate::Runtime::create`] (an unknown field there is
    /// refused).
    #[serde(flatten, skip_serializing_if = "serde_json::Map::is_empty")]
    pub unknown: serde_json::Map<String, serde_json::Value>,
}

/// Whose user namespace a box runs in ([`BoxOptions::userns`]).
// Deserialized through `parse`, so that a bad value's error names the option.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase", try_from = "String")]
pub enum UsernsMode {
    /// A user namespace of the box's own, mapping its uids 0..65536 to a host range no other
    /// box uses (docs/threat-model.md, "User namespace").
    #[default]
    Private,
    /// The host's: box root is host root. Reported in every `BoxInfo::warnings`.
    Host,
}

impl UsernsMode {
    /// The name in options, the CLI and the bindings.
    pub fn as_str(self) -> &'static str {
        match self {
            UsernsMode::Private => "private",
            UsernsMode::Host => "host",
        }
    }

    /// Parses [`UsernsMode::as_str`]'s names.
    pub fn parse(name: &str) -> Result<Self> {
        [UsernsMode::Private, UsernsMode::Host]
            .into_iter()
            .find(|mode| mode.as_str() == name)
            .ok_or_else(|| {
                Error::invalid_argument(format!(
                    "invalid userns {name:?}: expected \"private\" or \"host\""
                ))
            })
    }

    fn is_private(&self) -> bool {
        *self == UsernsMode::Private
    }
}

/// Which seccomp filter a box's processes run under ([`BoxOptions::seccomp`]). Stored and
/// serialized as its name, or as the profile's JSON object for [`SeccompMode::Profile`].
#[derive(Clone, Debug, Default, PartialEq)]
pub enum SeccompMode {
    /// Docker's dangerous set plus `io_uring_*`, new namespaces and the rest of
    /// guest/src/seccomp.rs.
    #[default]
    Default,
    /// No filter: what the capabilities and namespaces allow, the box may call.
    Unconfined,
    /// An OCI seccomp profile of the box's own (Docker's profile files load as they are), in
    /// place of the default filter; what it allows, the box may call
    /// (docs/threat-model.md, "Seccomp profiles of one's own").
    Profile(serde_json::Value),
}

/// What a seccomp value must be, for the errors that refuse another.
const SECCOMP_EXPECTED: &str =
    "expected \"default\", \"unconfined\" or an OCI seccomp profile (a JSON object)";

impl SeccompMode {
    /// The longest profile text accepted; Docker's default profile is about 20 KiB.
    pub const MAX_PROFILE_BYTES: usize = 1 << 20;

    /// The name in options, the CLI, the bindings and `BoxInfo::seccomp`.
    pub fn as_str(&self) -> &'static str {
        match self {
            SeccompMode::Default => "default",
            SeccompMode::Unconfined => "unconfined",
            SeccompMode::Profile(_) => "profile",
        }
    }

    /// Parses "default", "unconfined" or a profile's JSON text (an object). The profile is
    /// checked in full when the box is created ([`BoxOptions::validate`]), where the box's
    /// capabilities that Docker's conditions refer to are known.
    pub fn parse(text: &str) -> Result<Self> {
        match text {
            "default" => return Ok(SeccompMode::Default),
            "unconfined" => return Ok(SeccompMode::Unconfined),
            _ => {}
        }
        if !text.trim_start().starts_with('{') {
            let shown: String = text.chars().take(60).collect();
            return Err(Error::invalid_argument(format!(
                "invalid seccomp {shown:?}: {SECCOMP_EXPECTED}"
            )));
        }
        if text.len() > Self::MAX_PROFILE_BYTES {
            return Err(Error::invalid_argument(format!(
                "invalid seccomp profile: {} bytes, more than {}",
                text.len(),
                Self::MAX_PROFILE_BYTES
            )));
        }
        let profile = serde_json::from_str(text)
            .map_err(|e| Error::invalid_argument(format!("invalid seccomp profile: {e}")))?;
        Ok(SeccompMode::Profile(profile))
    }

    fn is_default(&self) -> bool {
        *self == SeccompMode::Default
    }
}

impl Serialize for SeccompMode {
    fn serialize<S: serde::Serializer>(&self, out: S) -> std::result::Result<S::Ok, S::Error> {
        match self {
            SeccompMode::Profile(profile) => profile.serialize(out),
            mode => out.serialize_str(mode.as_str()),
        }
    }
}

impl<'de> Deserialize<'de> for SeccompMode {
    fn deserialize<D: serde::Deserializer<'de>>(input: D) -> std::result::Result<Self, D::Error> {
        use serde::de::Error as _;
        match serde_json::Value::deserialize(input)? {
            serde_json::Value::String(name) => SeccompMode::parse(&name).map_err(D::Error::custom),
            profile @ serde_json::Value::Object(_) => Ok(SeccompMode::Profile(profile)),
            other => Err(D::Error::custom(format!("invalid seccomp {other}: {SECCOMP_EXPECTED}"))),
        }
    }
}

impl TryFrom<String> for UsernsMode {
    type Error = String;

    fn try_from(name: String) -> std::result::Result<Self, String> {
        UsernsMode::parse(&name).map_err(|e| e.to_string())
    }
}

/// Smallest memory limit accepted: below it the guest agent itself cannot run.
pub const MIN_MEMORY_MIB: u64 = 16;
/// Largest memory limit accepted (16 TiB), to catch unit mistakes.
pub const MAX_MEMORY_MIB: u64 = 16 * 1024 * 1024;
/// Largest CPU limit accepted.
pub const MAX_CPUS: f64 = 1024.0;
/// Longest box name.
pub const MAX_NAME_LEN: usize = 64;

impl BoxOptions {
    /// Options for `image` with every other field at its default.
    pub fn new(image: impl Into<String>) -> Self {
        BoxOptions { image: image.into(), ..Default::default() }
    }

    /// Checks every field; the error names the field and the rule it broke.
    pub fn validate(&self) -> Result<()> {
        if !self.unknown.is_empty() {
            return Err(Error::invalid_argument(format!(
                "unknown option(s): {}",
                self.unknown_names()
            )));
        }
        validate_image(&self.image)?;
        for (key, value) in &self.env {
            if key.is_empty() || key.contains('=') || key.contains('\0') {
                return Err(Error::invalid_argument(format!(
                    "invalid env name {key:?}: must be non-empty without '=' or NUL"
                )));
            }
            if value.contains('\0') {
                return Err(Error::invalid_argument(format!(
                    "invalid env value for {key}: contains NUL"
                )));
            }
        }
        if let Some(dir) = &self.working_dir {
            if !dir.starts_with('/') || dir.contains('\0') {
                return Err(Error::invalid_argument(format!(
                    "invalid working_dir {dir:?}: must be an absolute path without NUL"
                )));
            }
        }
        validate_argv("cmd", self.cmd.as_deref())?;
        validate_argv("entrypoint", self.entrypoint.as_deref())?;
        if let Some(user) = &self.user {
            validate_user(user)?;
        }
        if let Some(cpus) = self.cpus {
            if !(cpus.is_finite() && cpus > 0.0 && cpus <= MAX_CPUS) {
                return Err(Error::invalid_argument(format!(
                    "invalid cpus {cpus}: must be greater than 0 and at most {MAX_CPUS}"
                )));
            }
        }
        if self.detach && self.auto_remove {
            return Err(Error::invalid_argument(
                "invalid options: detach and auto_remove cannot be combined (a detached box \
                 outlives the process that would remove it); set auto_remove=false",
            ));
        }
        if let Some(mib) = self.memory_mib {
            if !(MIN_MEMORY_MIB..=MAX_MEMORY_MIB).contains(&mib) {
                return Err(Error::invalid_argument(format!(
                    "invalid memory_mib {mib}: must be between {MIN_MEMORY_MIB} and {MAX_MEMORY_MIB}"
                )));
            }
        }
        self.seccomp_program(self.capabilities()?)?;
        crate::network::validate(self)?;
        crate::ports::validate(self)?;
        crate::volumes::validate(self)?;
        crate::rootless::check(self)?;
        crate::limits::validate(self)
    }

    /// The capability set of the box's root processes (bit n: capability n), from
    /// [`BoxOptions::cap_add`] and [`BoxOptions::cap_drop`].
    pub fn capabilities(&self) -> Result<u64> {
        boxlite_protocol::capabilities::resolve(&self.cap_add, &self.cap_drop)
            .map_err(Error::invalid_argument)
    }

    /// The box's own seccomp profile compiled for the agent, when it has one; `capabilities`
    /// are the box's ([`BoxOptions::capabilities`]), which the profile's conditions may name.
    pub(crate) fn seccomp_program(
        &self,
        capabilities: u64,
    ) -> Result<Option<Vec<boxlite_protocol::seccomp::Insn>>> {
        let SeccompMode::Profile(profile) = &self.seccomp else { return Ok(None) };
        let context = boxlite_protocol::seccomp::Context {
            capabilities,
            kernel: crate::host::kernel_version()?,
        };
        boxlite_protocol::seccomp::compile(profile, &context)
            .map(Some)
            .map_err(Error::invalid_argument)
    }

    /// The walls these options take down, one sentence each ([`crate::BoxInfo::warnings`]).
    pub fn warnings(&self) -> Vec<String> {
        let mut said = Vec::new();
        if self.userns == UsernsMode::Host {
            said.push(
                "userns \"host\": box root is host root (uid 0); a process that gets past the \
                 box's other walls acts as root on the host"
                    .to_string(),
            );
        }
        if matches!(self.seccomp, SeccompMode::Profile(_)) {
            said.push(
                "seccomp profile of the box's own: it replaces the default filter, so the box's \
                 processes may make every system call it allows; the agent runs unfiltered"
                    .to_string(),
            );
        }
        if self.seccomp == SeccompMode::Unconfined {
            said.push(
                "seccomp \"unconfined\": the box's processes may make every system call their \
                 capabilities allow (keyrings, bpf, io_uring, new user namespaces, ...)"
                    .to_string(),
            );
        }
        // Not an option, but a wall this box runs without all the same.
        if crate::rootless::active() {
            said.push(crate::rootless::warning(self));
        }
        said
    }

    /// The names in [`BoxOptions::unknown`], comma-separated.
    pub(crate) fn unknown_names(&self) -> String {
        self.unknown.keys().map(String::as_str).collect::<Vec<_>>().join(", ")
    }
}

/// Parses `KEY=VALUE` as given on a command line.
pub fn parse_env_pair(pair: &str) -> Result<(String, String)> {
    match pair.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
        _ => Err(Error::invalid_argument(format!("invalid env {pair:?}: expected KEY=VALUE"))),
    }
}

/// A box name: 1–64 characters, `[A-Za-z0-9]` first, then `[A-Za-z0-9_.-]`. It becomes the
/// box's hostname and appears in paths, so nothing else is allowed.
pub fn validate_name(name: &str) -> Result<()> {
    let mut chars = name.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphanumeric());
    let rest_ok = chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if !first_ok || !rest_ok || name.len() > MAX_NAME_LEN {
        return Err(Error::invalid_argument(format!(
            "invalid box name {name:?}: use 1-{MAX_NAME_LEN} characters from [A-Za-z0-9_.-], \
             starting with a letter or digit"
        )));
    }
    Ok(())
}

fn validate_image(image: &str) -> Result<()> {
    if image.is_empty() {
        return Err(Error::invalid_argument("invalid image: the reference is empty"));
    }
    if image.len() > 4096 || image.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(Error::invalid_argument(format!(
            "invalid image {image:?}: whitespace or control characters, or longer than 4096 bytes"
        )));
    }
    Ok(())
}

fn validate_argv(field: &str, argv: Option<&[String]>) -> Result<()> {
    let Some(argv) = argv else { return Ok(()) };
    if argv.first().is_some_and(|arg0| arg0.is_empty()) {
        return Err(Error::invalid_argument(format!("invalid {field}: the program name is empty")));
    }
    if argv.iter().any(|a| a.contains('\0')) {
        return Err(Error::invalid_argument(format!("invalid {field}: an argument contains NUL")));
    }
    Ok(())
}

/// `uid[:gid]` with numbers, or POSIX-portable user and group names.
fn validate_user(user: &str) -> Result<()> {
    let part_ok = |p: &str| {
        !p.is_empty()
            && p.len() <= 32
            && (p.chars().all(|c| c.is_ascii_digit())
                || (p.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
                    && p.chars()
                        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))))
    };
    let ok = match user.split_once(':') {
        Some((u, g)) => part_ok(u) && part_ok(g),
        None => part_ok(user),
    };
    if !ok {
        return Err(Error::invalid_argument(format!(
            "invalid user {user:?}: expected uid[:gid] or name[:group]"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;

    fn rejected(opts: BoxOptions, needle: &str) {
        let err = opts.validate().expect_err(needle);
        assert_eq!(err.kind(), ErrorKind::InvalidArgument);
        assert!(err.to_string().contains(needle), "{err} should mention {needle}");
    }

    #[test]
    fn userns_is_private_unless_stored_or_asked_as_host() {
        // A record written before the option existed has no field: its box gets a user
        // namespace on its next start (its files keep their owners: shim/src/userns.rs).
        let old: BoxOptions = serde_json::from_str(r#"{"image": "alpine"}"#).unwrap();
        assert_eq!(old.userns, UsernsMode::Private);
        assert!(old.warnings().is_empty());
        assert!(!serde_json::to_string(&old).unwrap().contains("userns"));

        let host: BoxOptions =
            serde_json::from_str(r#"{"image": "alpine", "userns": "host"}"#).unwrap();
        assert_eq!(host.userns, UsernsMode::Host);
        assert!(serde_json::to_string(&host).unwrap().contains(r#""userns":"host""#));
        assert_eq!(host.warnings().len(), 1);
        assert!(host.warnings()[0].contains("box root is host root"));

        let err = serde_json::from_str::<BoxOptions>(r#"{"image": "a", "userns": "nobody"}"#)
            .unwrap_err();
        assert!(err.to_string().contains("invalid userns \"nobody\""), "{err}");
        assert_eq!(UsernsMode::parse("private").unwrap(), UsernsMode::Private);
        assert_eq!(UsernsMode::parse("Host").unwrap_err().kind(), ErrorKind::InvalidArgument);
    }

    #[test]
    fn seccomp_is_default_unless_asked_unconfined_or_given_a_profile() {
        let old: BoxOptions = serde_json::from_str(r#"{"image": "alpine"}"#).unwrap();
        assert_eq!(old.seccomp, SeccompMode::Default);
        assert!(!serde_json::to_string(&old).unwrap().contains("seccomp"));
        let off: BoxOptions =
            serde_json::from_str(r#"{"image": "alpine", "seccomp": "unconfined"}"#).unwrap();
        assert_eq!(off.seccomp, SeccompMode::Unconfined);
        assert_eq!(off.warnings().len(), 1);
        assert!(off.warnings()[0].starts_with("seccomp \"unconfined\""));

        let text = r#"{"defaultAction": "SCMP_ACT_ALLOW",
                       "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO"}]}"#;
        let own = BoxOptions { seccomp: SeccompMode::parse(text).unwrap(), ..BoxOptions::new("a") };
        assert_eq!(own.seccomp.as_str(), "profile");
        own.validate().unwrap();
        let program = own.seccomp_program(own.capabilities().unwrap()).unwrap();
        assert!(program.is_some_and(|p| !p.is_empty()));
        assert!(own.warnings()[0].starts_with("seccomp profile of the box's own"));
        // Stored as the profile's object, and read back as the same profile.
        let stored = serde_json::to_string(&own).unwrap();
        assert!(stored.contains(r#""seccomp":{"defaultAction""#), "{stored}");
        let back: BoxOptions = serde_json::from_str(&stored).unwrap();
        assert_eq!(back.seccomp, own.seccomp);

        let err = SeccompMode::parse("/etc/profile.json").unwrap_err();
        assert!(err.to_string().contains("or an OCI seccomp profile (a JSON object)"), "{err}");
        let err = SeccompMode::parse("{not json").unwrap_err();
        assert!(err.to_string().starts_with("invalid seccomp profile: "), "{err}");
        let bad = BoxOptions {
            seccomp: SeccompMode::parse(r#"{"defaultAction": "SCMP_ACT_NOTIFY"}"#).unwrap(),
            ..BoxOptions::new("a")
        };
        let err = bad.validate().unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidArgument);
        assert!(err.to_string().contains("SCMP_ACT_NOTIFY is not supported"), "{err}");
        let err =
            serde_json::from_str::<BoxOptions>(r#"{"image": "a", "seccomp": 3}"#).unwrap_err();
        assert!(err.to_string().contains("invalid seccomp 3"), "{err}");
    }

    #[test]
    fn valid_options_pass() {
        let opts = BoxOptions {
            env: vec![("A".into(), "b=c".into())],
            working_dir: Some("/srv".into()),
            cmd: Some(vec!["sh".into(), "-c".into(), "true".into()]),
            user: Some("1000:1000".into()),
            cpus: Some(0.5),
            memory_mib: Some(256),
            ..BoxOptions::new("oci:/tmp/busybox:latest")
        };
        opts.validate().unwrap();
        BoxOptions { user: Some("nobody".into()), ..BoxOptions::new("alpine") }.validate().unwrap();
    }

    #[test]
    fn each_field_rule_is_enforced() {
        rejected(BoxOptions::new(""), "image");
        rejected(BoxOptions::new("alp ine"), "image");
        let base = || BoxOptions::new("alpine");
        rejected(BoxOptions { env: vec![("A=B".into(), "c".into())], ..base() }, "env name");
        rejected(BoxOptions { env: vec![("".into(), "c".into())], ..base() }, "env name");
        rejected(BoxOptions { env: vec![("A".into(), "\0".into())], ..base() }, "env value");
        rejected(BoxOptions { working_dir: Some("rel".into()), ..base() }, "working_dir");
        rejected(BoxOptions { cmd: Some(vec!["".into()]), ..base() }, "cmd");
        rejected(BoxOptions { entrypoint: Some(vec!["a\0".into()]), ..base() }, "entrypoint");
        rejected(BoxOptions { user: Some("ro ot".into()), ..base() }, "user");
        rejected(BoxOptions { user: Some("1000:".into()), ..base() }, "user");
        rejected(BoxOptions { cpus: Some(0.0), ..base() }, "cpus");
        rejected(BoxOptions { cpus: Some(f64::NAN), ..base() }, "cpus");
        rejected(BoxOptions { memory_mib: Some(1), ..base() }, "memory_mib");
        rejected(BoxOptions { detach: true, auto_remove: true, ..base() }, "auto_remove");
    }

    #[test]
    fn names() {
        for ok in ["a", "web-1", "A.b_c", &"x".repeat(MAX_NAME_LEN)] {
            validate_name(ok).unwrap();
        }
        for bad in ["", "-a", ".a", "bad name!", "a/b", "é", &"x".repeat(MAX_NAME_LEN + 1)] {
            assert_eq!(validate_name(bad).unwrap_err().kind(), ErrorKind::InvalidArgument, "{bad}");
        }
    }

    #[test]
    fn env_pairs() {
        assert_eq!(parse_env_pair("A=b=c").unwrap(), ("A".into(), "b=c".into()));
        assert!(parse_env_pair("=x").is_err());
        assert!(parse_env_pair("novalue").is_err());
    }

    #[test]
    fn unknown_fields_are_kept_and_refused_by_validate() {
        let json = r#"{"image":"a","memroy_mib":1,"future":{"x":[1]}}"#;
        let opts: BoxOptions = serde_json::from_str(json).unwrap();
        assert_eq!(opts.unknown_names(), "future, memroy_mib");
        let err = opts.validate().unwrap_err();
        assert!(err.to_string().contains("unknown option(s): future, memroy_mib"), "{err}");
        let again: serde_json::Value =
            serde_json::from_str(&serde_json::to_string(&opts).unwrap()).unwrap();
        assert_eq!(again["future"]["x"][0], 1, "written back as it was read");
    }
}
