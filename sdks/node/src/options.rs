//! Options objects, converted field by field into the core's; core validates them.

use std::path::PathBuf;
use std::time::Duration;

use boxlite_core::{
    BoxOptions, Command, Error, ImageRegistry, NetworkMode, PortProtocol, PortSpec, RuntimeOptions,
    SeccompMode, UsernsMode, VolumeSpec,
};
use napi_derive::napi;

use crate::error::invalid_argument;
use crate::images::JsImageRegistry;

/// How to open a runtime.
#[napi(object, js_name = "RuntimeOptions", object_to_js = false)]
pub struct JsRuntimeOptions {
    /// Home directory; unset means `$BOXLITE_HOME`, else `~/.boxlite`.
    pub home_dir: Option<String>,
    /// Registries (transport, credentials, mirrors, search order); before those of
    /// `$BOXLITE_IMAGE_REGISTRIES` and the home's `config.json`.
    pub image_registries: Option<Vec<JsImageRegistry>>,
}

impl TryFrom<JsRuntimeOptions> for RuntimeOptions {
    type Error = Error;

    fn try_from(opts: JsRuntimeOptions) -> Result<Self, Error> {
        let image_registries = opts
            .image_registries
            .unwrap_or_default()
            .into_iter()
            .map(ImageRegistry::try_from)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(RuntimeOptions {
            home_dir: opts.home_dir.map(PathBuf::from),
            image_registries,
            ..Default::default()
        })
    }
}

/// The configuration of a box (camelCase of the core's `BoxOptions`).
#[napi(object, js_name = "BoxOptions", object_to_js = false)]
pub struct JsBoxOptions {
    /// Image reference (`alpine:3.20`, `oci:/path/to/layout:tag`, …).
    pub image: String,
    /// Environment as `[name, value]` pairs, in order; a later pair wins. Pairs rather than an
    /// object so the order core keeps is the caller's.
    pub env: Option<Vec<(String, String)>>,
    /// Absolute working directory.
    pub working_dir: Option<String>,
    /// Command; unset takes the image's `Cmd`.
    pub cmd: Option<Vec<String>>,
    /// Entrypoint; unset takes the image's `Entrypoint`.
    pub entrypoint: Option<Vec<String>>,
    /// `uid[:gid]` or `name[:group]`.
    pub user: Option<String>,
    /// CPU limit in cores (fractions allowed).
    pub cpus: Option<f64>,
    /// Memory limit in MiB (a whole number); unset: 1024.
    pub memory_mib: Option<f64>,
    /// Most processes and threads at once; unset: 4096.
    pub pids_max: Option<f64>,
    /// `RLIMIT_NOFILE` soft limit of the box's processes; unset: 1024 (or the hard limit when
    /// that is lower).
    pub nofile_soft: Option<f64>,
    /// `RLIMIT_NOFILE` hard limit; unset: 4096 (or the soft limit when that is higher).
    pub nofile_hard: Option<f64>,
    /// Size of the `/tmp` tmpfs in MiB (when the image has no `/tmp`); unset: half the memory
    /// limit.
    pub tmp_size_mib: Option<f64>,
    /// Size of one box log file in MiB; unset: 16.
    pub log_max_size_mib: Option<f64>,
    /// Box log files kept, the live one included; unset: 2.
    pub log_max_files: Option<f64>,
    /// Size of the box's disk, which bounds its writable layer, in GiB (default 10).
    pub disk_size_gb: Option<f64>,
    /// Capabilities the box's root processes get beyond the default set (`'CAP_SYS_PTRACE'`,
    /// `'sys_ptrace'`, or `'ALL'`).
    pub cap_add: Option<Vec<String>>,
    /// Capabilities taken from the default set (`'ALL'`: keep only `capAdd`'s).
    pub cap_drop: Option<Vec<String>>,
    /// `'private'` (default: box root is an unprivileged host uid) or `'host'` (box root is
    /// host root, reported in `BoxInfo.warnings`).
    pub userns: Option<String>,
    /// `'default'` (the seccomp deny-list), `'unconfined'` (no filter) or an OCI seccomp
    /// profile's JSON text (in place of the default filter); the last two are reported in
    /// `BoxInfo.warnings`.
    pub seccomp: Option<String>,
    /// `'enabled'` (the default, as upstream's: egress through the host, never to the host
    /// itself or to link-local addresses) or `'disabled'` (loopback only).
    pub network: Option<String>,
    /// Resolvers (IP addresses) for the box's DNS queries; empty: the host's.
    pub dns: Option<Vec<String>>,
    /// With a network, the only destinations: host names, `'*.domain'` wildcards, IPv4
    /// addresses and CIDRs.
    pub allow_net: Option<Vec<String>>,
    /// Box TCP ports published on the host; needs a network.
    #[napi(ts_type = "PortSpec[]")]
    pub ports: Option<Vec<JsPortSpec>>,
    /// Host files and directories bind-mounted into the box.
    #[napi(ts_type = "VolumeSpec[]")]
    pub volumes: Option<Vec<JsVolumeSpec>>,
    /// Remove the box when it stops (core's default: false; the JS layer defaults to true).
    pub auto_remove: Option<bool>,
    /// Keep the box running after the process that started it exits.
    pub detach: Option<bool>,
}

impl TryFrom<JsBoxOptions> for BoxOptions {
    type Error = Error;

    fn try_from(opts: JsBoxOptions) -> Result<Self, Error> {
        Ok(BoxOptions {
            image: opts.image,
            env: opts.env.unwrap_or_default(),
            working_dir: opts.working_dir,
            cmd: opts.cmd,
            entrypoint: opts.entrypoint,
            user: opts.user,
            cpus: opts.cpus,
            memory_mib: whole("memoryMib", opts.memory_mib)?,
            pids_max: whole("pidsMax", opts.pids_max)?,
            nofile_soft: whole("nofileSoft", opts.nofile_soft)?,
            nofile_hard: whole("nofileHard", opts.nofile_hard)?,
            tmp_size_mib: whole("tmpSizeMib", opts.tmp_size_mib)?,
            log_max_size_mib: whole("logMaxSizeMib", opts.log_max_size_mib)?,
            // Saturates, and core's range check refuses the saturated value.
            log_max_files: whole("logMaxFiles", opts.log_max_files)?
                .map(|n| u32::try_from(n).unwrap_or(u32::MAX)),
            disk_size_gb: whole("diskSizeGb", opts.disk_size_gb)?,
            cap_add: opts.cap_add.unwrap_or_default(),
            cap_drop: opts.cap_drop.unwrap_or_default(),
            userns: opts.userns.as_deref().map(UsernsMode::parse).transpose()?.unwrap_or_default(),
            seccomp: opts
                .seccomp
                .as_deref()
                .map(SeccompMode::parse)
                .transpose()?
                .unwrap_or_default(),
            network: opts
                .network
                .as_deref()
                .map(NetworkMode::parse)
                .transpose()?
                .unwrap_or_default(),
            dns: opts.dns.unwrap_or_default(),
            allow_net: opts.allow_net.unwrap_or_default(),
            ports: opts
                .ports
                .unwrap_or_default()
                .into_iter()
                .map(PortSpec::try_from)
                .collect::<Result<_, _>>()?,
            volumes: opts.volumes.unwrap_or_default().into_iter().map(VolumeSpec::from).collect(),
            auto_remove: opts.auto_remove.unwrap_or_default(),
            detach: opts.detach.unwrap_or_default(),
            ..BoxOptions::default()
        })
    }
}

/// A host file or directory seen inside the box (`BoxOptions.volumes`, `BoxInfo.volumes`).
#[napi(object, js_name = "VolumeSpec")]
pub struct JsVolumeSpec {
    /// An existing host file or directory: absolute, no symbolic link in the path.
    pub host_path: String,
    /// Where the box sees it (absolute; not `/`, `/proc`, `/sys`, `/dev`).
    pub guest_path: String,
    /// Read-only for every process of the box, root included; unset: false.
    pub read_only: Option<bool>,
}

impl From<JsVolumeSpec> for VolumeSpec {
    fn from(v: JsVolumeSpec) -> Self {
        VolumeSpec {
            host_path: v.host_path,
            guest_path: v.guest_path,
            read_only: v.read_only.unwrap_or(false),
        }
    }
}

impl From<&VolumeSpec> for JsVolumeSpec {
    fn from(v: &VolumeSpec) -> Self {
        JsVolumeSpec {
            host_path: v.host_path.clone(),
            guest_path: v.guest_path.clone(),
            read_only: Some(v.read_only),
        }
    }
}

/// A box TCP port published on the host (`BoxOptions.ports`).
#[napi(object, js_name = "PortSpec", object_to_js = false)]
pub struct JsPortSpec {
    /// The host port; unset: a free one, picked at each start (`BoxInfo.ports` tells which).
    pub host_port: Option<u32>,
    /// The box's port.
    pub guest_port: u32,
    /// `'tcp'` (the default; the only one so far).
    pub protocol: Option<String>,
    /// The host address listened on; default `'127.0.0.1'`.
    pub host_ip: Option<String>,
}

impl TryFrom<JsPortSpec> for PortSpec {
    type Error = Error;

    fn try_from(port: JsPortSpec) -> Result<Self, Error> {
        let number = |field: &str, n: u32| {
            u16::try_from(n).map_err(|_| {
                invalid_argument(format!("invalid port {field} {n}: must be at most 65535"))
            })
        };
        Ok(PortSpec {
            host_port: port.host_port.map(|n| number("hostPort", n)).transpose()?,
            guest_port: number("guestPort", port.guest_port)?,
            protocol: port
                .protocol
                .as_deref()
                .map(PortProtocol::parse)
                .transpose()?
                .unwrap_or_default(),
            host_ip: port.host_ip,
        })
    }
}

/// How to run one command (`Box.exec`), camelCase of the core's `Command` without `argv`.
#[napi(object, js_name = "ExecOptions", object_to_js = false)]
#[derive(Default)]
pub struct JsExecOptions {
    /// Added to the box's environment as `[name, value]` pairs; a later pair wins.
    pub env: Option<Vec<(String, String)>>,
    /// Run on a pseudo-terminal: all output on stdout, stdin open, `resizeTty` allowed.
    pub tty: Option<bool>,
    /// `uid[:gid]` or `name[:group]`; unset uses the box's.
    pub user: Option<String>,
    /// Kill the command's process group after this many seconds (fractions allowed).
    pub timeout_secs: Option<f64>,
    /// Absolute working directory; unset uses the box's.
    pub working_dir: Option<String>,
    /// Open a stdin pipe (`Execution.stdin()`); otherwise stdin is `/dev/null`.
    pub stdin: Option<bool>,
}

impl JsExecOptions {
    /// The core command `command args...` with these options.
    pub fn into_command(self, command: String, args: Vec<String>) -> Result<Command, Error> {
        let mut argv = Vec::with_capacity(args.len() + 1);
        argv.push(command);
        argv.extend(args);
        Ok(Command {
            argv,
            env: self.env.unwrap_or_default(),
            working_dir: self.working_dir,
            user: self.user,
            stdin: self.stdin.unwrap_or(false),
            timeout: self.timeout_secs.map(|s| seconds("timeoutSecs", s)).transpose()?,
            tty: self.tty.unwrap_or(false),
            tty_size: None,
        })
    }
}

/// A JS number of seconds as a positive `Duration`; zero, negative, NaN and values too large
/// for a `Duration` are refused rather than clamped.
pub fn seconds(field: &str, secs: f64) -> Result<Duration, Error> {
    match Duration::try_from_secs_f64(secs) {
        Ok(d) if !d.is_zero() => Ok(d),
        _ => Err(invalid_argument(format!(
            "invalid {field} {secs}: must be a positive number of seconds"
        ))),
    }
}

/// An optional JS number (the option `field`) as the core's `u64`. JS has no integer type, so
/// a fraction or a negative value is refused here instead of being truncated; core checks the
/// range.
fn whole(field: &str, value: Option<f64>) -> Result<Option<u64>, Error> {
    match value {
        None => Ok(None),
        // Saturates above u64::MAX, which core's range check then refuses.
        Some(v) if v.is_finite() && v >= 0.0 && v.fract() == 0.0 => Ok(Some(v as u64)),
        Some(v) => Err(invalid_argument(format!(
            "invalid {field} {v}: must be a whole non-negative number"
        ))),
    }
}
