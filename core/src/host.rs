//! What this host lets boxes have (`boxlite info`): each wall, whether a box started by this
//! process gets it, and how. Read from the same facts the start uses (the user running it,
//! the cgroup hierarchies mounted, the kernel's files), so a wall reported missing here is
//! one a start would refuse over, or run without and warn about (rootless.rs).

use std::path::Path;

use serde::Serialize;

use crate::cgroups;

/// The report.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct HostReport {
    /// The effective uid boxes would be started by.
    pub uid: u32,
    /// Whether that uid is not root: boxes run rootless (docs/threat-model.md, "Rootless").
    pub rootless: bool,
    /// The cgroup layout: "v2", "v1", "hybrid" (v1 controllers beside an unused v2) or
    /// "none".
    pub cgroups: String,
    /// One entry per wall, in a fixed order.
    pub walls: Vec<HostWall>,
}

/// One wall of a box.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct HostWall {
    /// "user namespace", "memory limit", "cpu limit", "pids limit", "device filter", "disk
    /// size" or "seccomp filter".
    pub name: &'static str,
    /// Whether a box started here gets it.
    pub enforced: bool,
    /// How it is enforced, or why it is not.
    pub how: String,
}

/// What this host enforces for boxes this process starts.
pub fn host_report() -> HostReport {
    // SAFETY: geteuid has no preconditions and cannot fail.
    let uid = unsafe { libc::geteuid() };
    let rootless = crate::rootless::active();
    let layout = Layout::detect();
    let wall = |name, enforced, how: String| HostWall { name, enforced, how };
    let mut walls = vec![user_namespace(uid, rootless, &wall)];
    if rootless {
        let no_cgroup = "not for a non-root user: it needs a delegated cgroup".to_string();
        walls.push(wall("memory limit", false, no_cgroup.clone()));
        walls.push(wall("cpu limit", false, no_cgroup));
        walls.push(wall("pids limit", true, "box root's RLIMIT_NPROC".into()));
        let userns = "not needed: in its user namespace a box can neither make nor use a node";
        walls.push(wall("device filter", true, userns.into()));
        let no_loop = "not for a non-root user: it needs a loop device";
        walls.push(wall("disk size", false, no_loop.into()));
    } else {
        for (name, controller, how) in [
            ("memory limit", "memory", "memory cgroup, no swap"),
            ("cpu limit", "cpu", "CFS quota of the cpu cgroup"),
            ("pids limit", "pids", "pids cgroup"),
        ] {
            walls.push(match layout.offers(controller) {
                true => wall(name, true, format!("{how} ({})", layout.name)),
                false => wall(name, false, format!("no {controller} cgroup hierarchy is mounted")),
            });
        }
        walls.push(match (layout.offers("devices"), layout.name) {
            (true, _) => wall("device filter", true, "devices cgroup (v1)".into()),
            (false, "v2") => wall("device filter", true, "eBPF program on the box's cgroup".into()),
            _ => wall("device filter", false, "no devices cgroup hierarchy is mounted".into()),
        });
        walls.push(match Path::new("/dev/loop-control").exists() {
            true => wall("disk size", true, "an ext4 disk per box on a loop device".into()),
            false => wall("disk size", false, "no /dev/loop-control".into()),
        });
    }
    walls.push(seccomp(&wall));
    HostReport { uid, rootless, cgroups: layout.name.to_string(), walls }
}

fn user_namespace(
    uid: u32,
    rootless: bool,
    wall: &impl Fn(&'static str, bool, String) -> HostWall,
) -> HostWall {
    let max = std::fs::read_to_string("/proc/sys/user/max_user_namespaces").unwrap_or_default();
    if max.trim().parse::<u64>().unwrap_or(0) == 0 {
        let how = "the kernel allows none (/proc/sys/user/max_user_namespaces)";
        return wall("user namespace", false, how.into());
    }
    match rootless {
        true => wall("user namespace", true, format!("box root is uid {uid}, no other uid")),
        false => wall("user namespace", true, "65536 host uids of its own per box".into()),
    }
}

fn seccomp(wall: &impl Fn(&'static str, bool, String) -> HostWall) -> HostWall {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    match status.lines().any(|l| l.starts_with("Seccomp:")) {
        true => wall("seccomp filter", true, "Docker's deny-list plus io_uring (x86_64)".into()),
        false => wall("seccomp filter", false, "the kernel has no seccomp".into()),
    }
}

/// The cgroup controllers this host offers, and its layout's name.
struct Layout {
    name: &'static str,
    controllers: Vec<String>,
}

impl Layout {
    fn detect() -> Layout {
        let mounted = cgroups::hierarchies();
        let v1: Vec<String> =
            mounted.iter().filter(|h| !h.v2).flat_map(|h| h.options.clone()).collect();
        let unified = Path::new("/sys/fs/cgroup/cgroup.controllers");
        if let Ok(text) = std::fs::read_to_string(unified) {
            let controllers = text.split_whitespace().map(str::to_owned).collect();
            return Layout { name: "v2", controllers };
        }
        match (v1.is_empty(), mounted.iter().any(|h| h.v2)) {
            (true, _) => Layout { name: "none", controllers: Vec::new() },
            (false, true) => Layout { name: "hybrid", controllers: v1 },
            (false, false) => Layout { name: "v1", controllers: v1 },
        }
    }

    fn offers(&self, controller: &str) -> bool {
        self.controllers.iter().any(|c| c == controller)
    }
}

/// The running kernel's (major, minor), for the conditions of seccomp profiles.
pub(crate) fn kernel_version() -> crate::Result<(u32, u32)> {
    const RELEASE: &str = "/proc/sys/kernel/osrelease";
    let release = std::fs::read_to_string(RELEASE).map_err(|e| {
        crate::Error::new(crate::ErrorKind::Internal, format!("read {RELEASE}: {e}"))
    })?;
    boxlite_protocol::seccomp::kernel_version(release.trim()).ok_or_else(|| {
        crate::Error::new(
            crate::ErrorKind::Internal,
            format!("{RELEASE}: unexpected release {:?}", release.trim()),
        )
    })
}
