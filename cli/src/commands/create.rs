use std::process::ExitCode;

use boxlite_core::{
    BoxOptions, Error, ErrorKind, NetworkMode, PortSpec, Runtime, SeccompMode, UsernsMode,
    VolumeSpec,
};

use super::args::ProcessArgs;

/// The box options shared by `create` and `run`.
#[derive(clap::Args)]
pub(crate) struct BoxArgs {
    /// Unique name (also the box's hostname)
    #[arg(long)]
    name: Option<String>,
    #[command(flatten)]
    process: ProcessArgs,
    /// CPU limit in cores
    #[arg(long)]
    cpus: Option<f64>,
    /// Memory limit in MiB [default: 1024]
    #[arg(long = "memory", value_name = "MIB")]
    memory_mib: Option<u64>,
    /// Most processes and threads at once [default: 4096]
    #[arg(long = "pids-limit", value_name = "N")]
    pids_max: Option<u64>,
    /// Resource limit of the box's processes: nofile=SOFT[:HARD] (open files) is the one
    /// supported [default: nofile=1024:4096]
    #[arg(long = "ulimit", value_name = "nofile=SOFT[:HARD]")]
    ulimits: Vec<String>,
    /// Size of the /tmp tmpfs in MiB, when the image has no /tmp [default: half the memory]
    #[arg(long = "tmp-size", value_name = "MIB")]
    tmp_size_mib: Option<u64>,
    /// Size of one box log file in MiB [default: 16]
    #[arg(long = "log-max-size", value_name = "MIB")]
    log_max_size_mib: Option<u64>,
    /// Box log files kept, the live one included [default: 2]
    #[arg(long = "log-max-files", value_name = "N")]
    log_max_files: Option<u32>,
    /// Size of the box's disk, which bounds its writable layer, in GiB [default: 10]
    #[arg(long = "disk-size", value_name = "GIB")]
    disk_size_gb: Option<u64>,
    /// Give the box's root processes a capability beyond the default set (CAP_SYS_PTRACE,
    /// sys_ptrace; repeatable)
    #[arg(long = "cap-add", value_name = "CAP")]
    cap_add: Vec<String>,
    /// Take a capability from the default set (repeatable; ALL: keep only --cap-add's)
    #[arg(long = "cap-drop", value_name = "CAP")]
    cap_drop: Vec<String>,
    /// User namespace: private (box root is an unprivileged host uid) or host (box root is
    /// host root, for images that need it) [default: private]
    #[arg(long = "userns", value_name = "MODE")]
    userns: Option<String>,
    /// Network: enabled (egress through the host, never to the host itself or link-local
    /// addresses) or disabled (loopback only) [default: enabled]
    #[arg(long = "network", value_name = "MODE")]
    network: Option<String>,
    /// A resolver for the box's DNS queries, in place of the host's (repeatable, up to 3)
    #[arg(long = "dns", value_name = "IP")]
    dns: Vec<String>,
    /// With --network enabled, the only destinations: a host name, *.domain, an IPv4
    /// address or CIDR (repeatable, or comma-separated)
    #[arg(long = "allow-net", value_name = "HOST|*.DOMAIN|IP|CIDR", value_delimiter = ',')]
    allow_net: Vec<String>,
    /// Publish a box TCP port on the host: [HOST_IP:][HOST_PORT:]BOX_PORT; HOST_IP defaults
    /// to 127.0.0.1, no HOST_PORT picks a free one (see `boxlite inspect`) (repeatable)
    #[arg(short = 'p', long = "publish", value_name = "[IP:][PORT:]BOX_PORT")]
    publish: Vec<String>,
    /// Bind-mount a host file or directory (absolute, existing, no symbolic link in the path)
    /// into the box: HOST_PATH:BOX_PATH, read-only with :ro (repeatable)
    #[arg(short = 'v', long = "volume", value_name = "HOST:BOX[:ro|:rw]")]
    volumes: Vec<String>,
    /// Security option, as Docker spells it: seccomp=unconfined (no seccomp filter),
    /// seccomp=default, or seccomp=PROFILE.json (an OCI seccomp profile file in place of the
    /// default filter) (repeatable; a later value wins)
    #[arg(long = "security-opt", value_name = "seccomp=MODE|PROFILE.json")]
    security_opts: Vec<String>,
    /// Override the image's entrypoint
    #[arg(long)]
    entrypoint: Option<String>,
    /// Remove the box when it stops
    #[arg(long = "rm")]
    auto_remove: bool,
    /// Image reference (oci:PATH[:TAG] for a local OCI layout)
    image: String,
    /// The box's main command (the box stops when it exits); none: the box stays up for exec
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    cmd: Vec<String>,
}

impl BoxArgs {
    pub(crate) fn into_options(self, detach: bool) -> anyhow::Result<(BoxOptions, Option<String>)> {
        // As Docker's --ulimit, a later value for the same limit wins.
        let nofile = self.ulimits.iter().map(|u| parse_ulimit(u)).collect::<Result<Vec<_>, _>>()?;
        let (nofile_soft, nofile_hard) = match nofile.last() {
            Some(&(soft, hard)) => (Some(soft), Some(hard)),
            None => (None, None),
        };
        let mut seccomp = SeccompMode::default();
        for opt in &self.security_opts {
            seccomp = parse_security_opt(opt)?;
        }
        let options = BoxOptions {
            env: self.process.env_pairs()?,
            working_dir: self.process.working_dir,
            user: self.process.user,
            cpus: self.cpus,
            memory_mib: self.memory_mib,
            pids_max: self.pids_max,
            nofile_soft,
            nofile_hard,
            tmp_size_mib: self.tmp_size_mib,
            log_max_size_mib: self.log_max_size_mib,
            log_max_files: self.log_max_files,
            disk_size_gb: self.disk_size_gb,
            cap_add: self.cap_add,
            cap_drop: self.cap_drop,
            userns: self.userns.as_deref().map(UsernsMode::parse).transpose()?.unwrap_or_default(),
            seccomp,
            network: self
                .network
                .as_deref()
                .map(NetworkMode::parse)
                .transpose()?
                .unwrap_or_default(),
            dns: self.dns,
            allow_net: self.allow_net,
            ports: self.publish.iter().map(|p| PortSpec::parse(p)).collect::<Result<_, _>>()?,
            volumes: self.volumes.iter().map(|v| VolumeSpec::parse(v)).collect::<Result<_, _>>()?,
            entrypoint: self.entrypoint.map(|e| vec![e]),
            cmd: (!self.cmd.is_empty()).then_some(self.cmd),
            auto_remove: self.auto_remove,
            detach,
            ..BoxOptions::new(self.image)
        };
        Ok((options, self.name))
    }
}

/// `seccomp=unconfined|default|PROFILE.json`, the one `--security-opt` supported (a path, as
/// Docker takes it: the file's JSON is the box's profile); others (apparmor,
/// no-new-privileges, label) are refused by name rather than ignored.
fn parse_security_opt(opt: &str) -> Result<SeccompMode, Error> {
    match opt.split_once(['=', ':']) {
        Some(("seccomp", mode @ ("unconfined" | "default"))) => SeccompMode::parse(mode),
        Some(("seccomp", path)) => SeccompMode::parse(&read_profile(path)?),
        _ => Err(Error::new(
            ErrorKind::InvalidArgument,
            format!(
                "invalid --security-opt {opt:?}: only seccomp=unconfined|default|PROFILE.json \
                 is supported"
            ),
        )),
    }
}

/// A profile file's text, bounded by what core accepts (a profile is tens of KiB).
fn read_profile(path: &str) -> Result<String, Error> {
    use std::io::Read;
    const MAX_BYTES: u64 = SeccompMode::MAX_PROFILE_BYTES as u64;
    let what = |e: std::io::Error| {
        Error::new(ErrorKind::InvalidArgument, format!("seccomp profile {path}: {e}"))
    };
    let file = std::fs::File::open(path).map_err(what)?;
    let mut text = String::new();
    file.take(MAX_BYTES + 1).read_to_string(&mut text).map_err(what)?;
    if text.len() as u64 > MAX_BYTES {
        return Err(Error::new(
            ErrorKind::InvalidArgument,
            format!("seccomp profile {path}: larger than {MAX_BYTES} bytes"),
        ));
    }
    Ok(text)
}

/// `nofile=SOFT[:HARD]`, as Docker spells it (one number sets both) → (soft, hard). Other
/// resources are refused by name: a box's other bounds have their own flags.
fn parse_ulimit(spec: &str) -> Result<(u64, u64), Error> {
    let invalid = |why: &str| {
        Error::new(ErrorKind::InvalidArgument, format!("invalid --ulimit {spec:?}: {why}"))
    };
    let Some((name, value)) = spec.split_once('=') else {
        return Err(invalid("expected nofile=SOFT[:HARD]"));
    };
    if name != "nofile" {
        return Err(invalid("only nofile (open files) is supported"));
    }
    let number = |text: &str| text.parse::<u64>().map_err(|_| invalid("SOFT and HARD are numbers"));
    match value.split_once(':') {
        Some((soft, hard)) => Ok((number(soft)?, number(hard)?)),
        None => number(value).map(|n| (n, n)),
    }
}

#[derive(clap::Args)]
pub(crate) struct Args {
    #[command(flatten)]
    spec: BoxArgs,
}

pub(crate) fn run(rt: &Runtime, args: Args) -> anyhow::Result<ExitCode> {
    let (options, name) = args.spec.into_options(false)?;
    let warnings = options.warnings();
    let created = rt.create(options, name.as_deref())?;
    warn(&warnings);
    crate::out::outln!("{}", created.id());
    Ok(ExitCode::SUCCESS)
}

/// Says on stderr which walls the box's options take down ([`BoxOptions::warnings`]), once
/// the box exists (a refused create warns of nothing).
pub(crate) fn warn(warnings: &[String]) {
    for warning in warnings {
        eprintln!("warning: {warning}");
    }
}

#[cfg(test)]
mod tests {
    use super::parse_ulimit;

    #[test]
    fn ulimit_is_nofile_as_docker_spells_it() {
        assert_eq!(parse_ulimit("nofile=1024:4096").unwrap(), (1024, 4096));
        assert_eq!(parse_ulimit("nofile=512").unwrap(), (512, 512));
        for (bad, needle) in [
            ("nproc=10", "only nofile"),
            ("nofile", "nofile=SOFT[:HARD]"),
            ("nofile=a:1", "numbers"),
            ("nofile=1:", "numbers"),
            ("nofile=-1", "numbers"),
        ] {
            let err = parse_ulimit(bad).unwrap_err();
            assert!(err.to_string().contains(needle), "{bad}: {err}");
        }
    }
}
