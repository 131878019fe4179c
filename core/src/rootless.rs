//! Boxes of a non-root user ("rootless"): the same API, with the walls that need host root
//! replaced or named as missing.
//!
//! A non-root user has no cgroup subtree to divide (none is delegated here), no loop device
//! and no host uids but its own. Its boxes therefore run in a user namespace that maps box
//! root to that user alone (shim/src/userns.rs, "Rootless"), with their writable layer a plain
//! directory of the home, and their pids limit as box root's `RLIMIT_NPROC` (counted per uid
//! of the box's user namespace, which only this box uses). The memory and cpu limits and the
//! disk size are not enforced: every such box says so in `BoxInfo.warnings`, and the CLI on
//! create and run. A box there cannot make or use device nodes (its mounts are `nodev` by the
//! kernel's rule for user namespaces), so it needs no device filter.

use crate::error::{Error, Result};
use crate::limits::BoxLimits;
use crate::options::{BoxOptions, UsernsMode};

/// Whether this process runs boxes rootless.
pub(crate) fn active() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() != 0 }
}

/// Refuses the options a rootless box cannot have.
pub(crate) fn check(opts: &BoxOptions) -> Result<()> {
    if active() && opts.userns == UsernsMode::Host {
        return Err(Error::invalid_argument(
            "userns \"host\" needs root: the boxes of a non-root user always run in a user \
             namespace of their own",
        ));
    }
    // A rootless box's mounts are its own root's, not locked by a more privileged user
    // namespace: with CAP_SYS_ADMIN it could remount a read-only volume read-write.
    let sys_admin = opts.capabilities().is_ok_and(|caps| caps & (1 << CAP_SYS_ADMIN) != 0);
    if active() && sys_admin && opts.volumes.iter().any(|v| v.read_only) {
        return Err(Error::invalid_argument(
            "read-only volumes cannot be kept read-only in a non-root user's box that has \
             CAP_SYS_ADMIN (its root could remount them); drop SYS_ADMIN from cap_add or make \
             the volumes read-write",
        ));
    }
    if active() && !opts.network.is_disabled() && !tun_usable() {
        return Err(Error::invalid_argument(format!(
            "network \"enabled\" (the default) needs {TUN} for a non-root user's box, and this \
             user cannot open it (its mode here: {}); create the box with network \
             \"disabled\", or let users open {TUN} (mode 0666, as most distributions ship it)",
            tun_mode()
        )));
    }
    Ok(())
}

const TUN: &str = "/dev/net/tun";
/// linux/capability.h.
const CAP_SYS_ADMIN: u32 = 21;

/// Whether this user can open the TUN device the box's `eth0` is made from (opening it makes
/// no device; that takes an ioctl).
fn tun_usable() -> bool {
    std::fs::OpenOptions::new().read(true).write(true).open(TUN).is_ok()
}

fn tun_mode() -> String {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(TUN)
        .map_or_else(|e| e.to_string(), |m| format!("{:04o}", m.permissions().mode() & 0o7777))
}

/// The fields of `limits` a box started by this process asks for but runs without.
pub(crate) fn not_enforced(limits: &BoxLimits) -> Vec<&'static str> {
    if !active() {
        return Vec::new();
    }
    let cpus = limits.cpus.is_some().then_some("cpus");
    ["memory_mib"].into_iter().chain(cpus).chain(["disk_size_gb"]).collect()
}

/// What a rootless box runs without, for its warnings.
pub(crate) fn warning(opts: &BoxOptions) -> String {
    let limits = BoxLimits::of(opts);
    let cpus = limits.cpus.map_or(String::new(), |cpus| format!(", the cpu limit ({cpus})"));
    format!(
        "rootless: not enforced for a non-root user here: the memory limit ({} MiB){cpus} and \
         the disk size ({} GiB), which need a delegated cgroup and a loop device; the pids \
         limit ({}) holds as box root's RLIMIT_NPROC; only box root is mapped, so box users \
         other than root cannot run",
        limits.memory_mib, limits.disk_size_gb, limits.pids_max
    )
}
