//! Launch-time contracts. All JSON; every struct rejects unknown fields so a host and a shim
//! of different builds fail loudly instead of silently dropping settings.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// Descriptors the shim hands the guest agent, which starts as PID 1 with exactly these open
/// (besides 0-2: 0 is `/dev/null`, 1 and 2 the console, a pipe the shim copies into the box's
/// log).
pub mod fds {
    /// The listening unix socket the agent serves gRPC on. Bound by the shim on the host side
    /// before the box is sealed; the path is not reachable from inside the box.
    pub const LISTENER: i32 = 3;
    /// Write end of the readiness pipe: the agent writes [`super::READY_LINE`] once it serves,
    /// then closes it. EOF without that line means the agent died before becoming ready.
    pub const READY: i32 = 4;
    /// Read end of a pipe holding the [`super::GuestConfig`] JSON; the agent reads it to EOF.
    pub const CONFIG: i32 = 5;
    /// Write end of the report pipe to the shim: the agent writes one [`super::GuestReport`]
    /// JSON line just before it exits.
    pub const REPORT: i32 = 6;
    /// The box's memory-cgroup file holding the `oom_kill` counter, opened read-only, or
    /// `/dev/null` when the box has no memory cgroup (see [`crate::oom_counter`]).
    pub const OOM_COUNTER: i32 = 7;
}

/// What the agent writes on [`fds::READY`] when it serves.
pub const READY_LINE: &str = "ready\n";

/// What the host gives `boxlite-shim` (as a JSON file named by its only argument).
///
/// The shim's stdio carries the rest: stdin is the host's liveness pipe (EOF = the host died,
/// stop the box) unless `detach`; stdout is the readiness pipe, passed to the agent as
/// [`fds::READY`]; stderr is the box's log file, used until the shim has read this spec (from
/// then on it writes through the bounded log of [`ShimSpec::log`]).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShimSpec {
    /// The box's id, for logs.
    pub box_id: String,
    /// Hostname inside the box (name or id).
    pub hostname: String,
    /// Read-only lower directory of the overlay: the image's unpacked rootfs.
    pub rootfs_lower: PathBuf,
    /// The box's own upper and work directories, kept across restarts. With a [`DiskSpec`]
    /// both lie under its `mount_dir` and exist only once the box's disk is mounted.
    pub upper_dir: PathBuf,
    /// Overlay work directory (same filesystem as `upper_dir`).
    pub work_dir: PathBuf,
    /// Empty directory where the overlay is mounted in the box's mount namespace.
    pub merged_dir: PathBuf,
    /// Unix socket path the shim binds for the agent. Must be shorter than 108 bytes.
    pub socket_path: PathBuf,
    /// The static guest agent binary; every box executes it through a read-only bind mount.
    pub guest_path: PathBuf,
    /// Where the shim writes the [`ExitRecord`] (atomically, via a temporary file).
    pub exit_record_path: PathBuf,
    /// When false, the shim stops the box once its stdin reaches EOF (the host died).
    pub detach: bool,
    /// How long a stop waits between SIGTERM and SIGKILL.
    pub stop_grace_ms: u64,
    /// Resource limits, applied through a cgroup per box (v1 or v2, detected at run time).
    pub limits: Limits,
    /// Size of the tmpfs mounted on `/tmp` when the image has no `/tmp` of its own, in MiB
    /// (its pages are also charged to the box's memory limit).
    pub tmp_size_mib: u64,
    /// How much of the box's console output (the agent's and the main command's) the shim
    /// keeps on disk.
    pub log: LogLimits,
    /// The filesystem of the box's own, which bounds its writable layer; `None`: the upper
    /// dir is a plain directory of the host (boxes made before disk bounds existed).
    pub disk: Option<DiskSpec>,
    /// Whether box root is an unprivileged host uid: the shim gives the box a user namespace
    /// mapping its uids 0..65536 to a host range of its own. False: the host's user namespace
    /// (box root is host root).
    #[serde(default)]
    pub user_namespace: bool,
    /// Whether the shim runs as a non-root user (core runs as one): the box's user namespace
    /// then maps box root to that user alone, the shim joins it before it clones the box, and
    /// nothing needing host root is done (no cgroup, no disk, no idmapped mount). Requires
    /// `user_namespace`, no `disk` and no `limits`.
    #[serde(default)]
    pub rootless: bool,
    /// The box's network beyond loopback; `None`: loopback only.
    #[serde(default)]
    pub network: Option<NetworkSpec>,
    /// Host paths bind-mounted into the box, in the order they are mounted (a guest path
    /// below another volume's comes after it).
    #[serde(default)]
    pub volumes: Vec<VolumeMount>,
    /// Handed to the agent on [`fds::CONFIG`].
    pub guest: GuestConfig,
}

/// One host path seen inside the box. The shim opens `host_path` once, refusing a symbolic
/// link in any of its components, and mounts what it opened: a link swapped in later changes
/// nothing. `guest_path` is resolved inside the box's root, as the box would resolve it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VolumeMount {
    /// An existing file or directory of the host (absolute).
    pub host_path: PathBuf,
    /// Where the box sees it (absolute, never `/`, `/proc`, `/sys`, `/dev` or below them).
    pub guest_path: PathBuf,
    /// Read-only for every process of the box, root included.
    pub read_only: bool,
}

/// A box with egress: an `eth0` whose packets the shim's own TCP/IP stack terminates, making
/// each connection itself from the host (docs/networking.md).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkSpec {
    /// Resolvers the shim forwards the box's DNS queries to (`ip:port`), in order.
    pub dns_upstreams: Vec<String>,
    /// The box's `allow_net` ([`crate::allow::AllowEntry`] each); empty: full egress.
    #[serde(default)]
    pub allow_net: Vec<String>,
    /// Box ports published on the host. The shim binds them all before the box starts (a
    /// port it cannot bind fails the start) and holds them until it exits.
    #[serde(default)]
    pub ports: Vec<PortForward>,
    /// Where the shim writes the ports it bound (a JSON array of [`PortForward`], every
    /// `host_port` set), before the box starts; required with `ports`.
    #[serde(default)]
    pub ports_path: Option<PathBuf>,
}

/// One published TCP port: connections to `host_ip:host_port` on the host reach the box's
/// `guest_port`, coming from the gateway address.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PortForward {
    /// The host address listened on (an IP address).
    pub host_ip: String,
    /// The host port; 0 asks the kernel for a free one.
    pub host_port: u16,
    /// The box's port (1..=65535).
    pub guest_port: u16,
}

/// Addresses of the box's network: the box, the shim's side of it (its gateway), the
/// resolver the box's `/etc/resolv.conf` names. The shim answers for the last two itself.
pub mod net {
    pub const PREFIX_LEN: u8 = 24;
    pub const BOX_ADDR: [u8; 4] = [10, 0, 2, 100];
    pub const GATEWAY: [u8; 4] = [10, 0, 2, 2];
    pub const DNS: [u8; 4] = [10, 0, 2, 3];
    /// The box's interface.
    pub const IFNAME: &str = "eth0";
    /// Its MTU: the wire is a TUN device, not Ethernet, so the largest IP packet the shim's
    /// buffers take (as slirp4netns and pasta do). Each packet costs the stack a read or a
    /// write; 1500-byte packets would pace a connection at tens of MB/s.
    pub const MTU: u16 = 65520;
}

/// Resource limits of a box; `None` means unlimited.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    /// Memory limit in MiB (the OOM killer acts inside the box beyond it; swap not allowed).
    pub memory_mib: Option<u64>,
    /// CPU limit in cores (CFS quota over a 100 ms period).
    pub cpus: Option<f64>,
    /// Most processes (threads included) the box may have at once.
    pub pids_max: Option<u64>,
}

/// The box log and its bound: the shim writes the console to `path` (`…/box.log`) and, before
/// it would pass `max_bytes`, rotates it to `box.log.1` (the previous `.1` to `.2`, …),
/// keeping `files` files in all, so a box never holds more than `files × max_bytes` of log on
/// the host.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogLimits {
    /// The live log file; rotated files sit beside it as `<name>.1`, `<name>.2`, ….
    pub path: PathBuf,
    /// Largest size of one log file, in bytes (at least 1).
    pub max_bytes: u64,
    /// Files kept, the live one included (at least 1).
    pub files: u32,
}

/// A box's disk: an ext4 filesystem in a sparse image file, made on the box's first start
/// and mounted through a loop device in the box's mount namespace only, so it goes away with
/// the box's last process. Its size bounds what the box can write (ENOSPC inside); on the
/// host it takes only the blocks in use.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DiskSpec {
    /// The image file, inside the box's directory.
    pub image: PathBuf,
    /// Size of the filesystem, in bytes (set when the image is made; a later spec with
    /// another size does not resize it).
    pub size_bytes: u64,
    /// Empty directory the filesystem is mounted on, in the box's mount namespace.
    pub mount_dir: PathBuf,
    /// A formatted empty image of the same size, shared by the home's boxes: new images are
    /// copies of it (made first if missing).
    pub template: PathBuf,
}

/// What the agent needs to know about its box.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GuestConfig {
    /// The box's id, reported by `Ping`.
    pub box_id: String,
    /// Environment every process starts with (image env, then box env), before per-exec env.
    pub env: Vec<(String, String)>,
    /// Default working directory (absolute).
    pub working_dir: String,
    /// Default user, `uid[:gid]` or `name[:group]`; empty means root.
    pub user: String,
    /// The box's main command; when it exits the box stops with its exit code.
    pub main: Option<Vec<String>>,
    /// Grace between SIGTERM and SIGKILL when the main command exits or on shutdown.
    pub stop_grace_ms: u64,
    /// `RLIMIT_NOFILE` (soft, hard) of every process the agent starts; `None` keeps the
    /// agent's own.
    pub nofile: Option<[u64; 2]>,
    /// The capabilities (bit n: capability n) a root process the agent starts keeps, from
    /// the box's `cap_add` / `cap_drop` ([`crate::capabilities::resolve`]); `None` means
    /// [`crate::capabilities::DEFAULT_MASK`].
    #[serde(default)]
    pub capabilities: Option<u64>,
    /// True: no seccomp filter on the agent and its processes (the box's `seccomp`
    /// "unconfined"). Absent means false, so a config without it is filtered.
    #[serde(default)]
    pub seccomp_unconfined: bool,
    /// The box's own seccomp profile, compiled ([`crate::seccomp::compile`]): installed on
    /// every process the agent starts, right before its `execve`, in place of the default
    /// filter; the agent itself then runs without one, so that a profile which denies what
    /// the agent needs breaks the box's commands, never the agent that reports on them.
    #[serde(default)]
    pub seccomp_profile: Option<Vec<crate::seccomp::Insn>>,
    /// `RLIMIT_NPROC` (soft and hard) the agent sets on itself, so that every process of the
    /// box inherits it: the box's pids limit where it has no pids cgroup (a rootless box).
    /// Counted per uid of the box's user namespace; `None` keeps the agent's own.
    #[serde(default)]
    pub nproc_max: Option<u64>,
}

/// The agent's last words to the shim, on [`fds::REPORT`].
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GuestReport {
    /// The main command's exit code (128 + signal when it was killed), when it exited.
    pub main_exit_code: Option<i32>,
    /// Set when the agent exits because of its own failure.
    pub error: Option<String>,
}

/// Written by the shim when the box is over, read by whichever host process reconciles it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExitRecord {
    /// The main command's exit code, when there was one and it exited.
    pub exit_code: Option<i32>,
    /// Why the box ended abnormally (agent crash, setup failure); `None` for a clean stop.
    pub error: Option<String>,
    /// How the agent process ended, e.g. "exited with status 0", "killed by signal 9".
    pub agent_status: String,
    /// Milliseconds since the Unix epoch.
    pub finished_at_ms: i64,
}
