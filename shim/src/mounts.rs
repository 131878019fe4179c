//! The box's root filesystem, built in the child's private mount namespace: overlay, `/proc`,
//! `/sys`, `/tmp`, `pivot_root`, and the masks over `/proc` afterwards.
//!
//! Nothing here touches the host's mounts: the first step makes every mount in the new
//! namespace private, so neither mounts nor the final detach of the old root propagate back.

use std::fs::{self, DirBuilder};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::unistd::{chdir, pivot_root};

use crate::error::{Step, StepError};

/// Where the box's rootfs comes from and where it is assembled (host paths).
#[derive(Debug)]
pub struct RootfsPlan {
    /// The image's unpacked rootfs, read-only.
    pub lower: PathBuf,
    /// The box's own changes, kept across runs.
    pub upper: PathBuf,
    /// Overlay's scratch directory (same filesystem as `upper`).
    pub work: PathBuf,
    /// Where the overlay is mounted and pivoted into.
    pub merged: PathBuf,
    /// Size of the `/tmp` tmpfs, when the image has no `/tmp`.
    pub tmp_size_mib: u64,
    /// Overlay keeps its metadata in `user.overlay.*` xattrs rather than `trusted.*`: a
    /// rootless box mounts it inside its user namespace, where `trusted.*` is not writable.
    pub userxattr: bool,
    /// The box's disk, holding `upper` and `work`; `None`: they are host directories.
    pub disk: Option<DiskPlan>,
}

/// The box's disk, attached by the shim, for the child to mount.
#[derive(Debug)]
pub struct DiskPlan {
    /// The loop device holding the box's disk image.
    pub device: PathBuf,
    /// Where it is mounted.
    pub spec: boxlite_protocol::launch::DiskSpec,
}

/// `mount(2)` without a source or data, for flag changes.
const NONE: Option<&str> = None;

/// Stops mount events from propagating between the box's namespace and the host's.
pub fn make_private() -> Result<(), StepError> {
    mount(NONE, "/", NONE, MsFlags::MS_REC | MsFlags::MS_PRIVATE, NONE)
        .step(|| "make mounts private".to_string())
}

/// Mounts the overlay of lower, upper and work at merged, `nosuid,nodev`: every process the
/// agent starts runs with `no_new_privs`, so a setuid bit could grant nothing anyway, and the
/// flag keeps it so should that ever change; device nodes work only in the box's own `/dev`
/// (a layer or a workload cannot bring in a usable host disk node).
pub fn mount_overlay(plan: &RootfsPlan) -> Result<(), StepError> {
    let mut data = b"lowerdir=".to_vec();
    push_escaped(&mut data, &plan.lower);
    data.extend_from_slice(b",upperdir=");
    push_escaped(&mut data, &plan.upper);
    data.extend_from_slice(b",workdir=");
    push_escaped(&mut data, &plan.work);
    if plan.userxattr {
        data.extend_from_slice(b",userxattr");
    }
    let flags = MsFlags::MS_NOSUID | MsFlags::MS_NODEV;
    mount(Some("overlay"), &plan.merged, Some("overlay"), flags, Some(data.as_slice()))
        .step(|| format!("mount overlay on {}", plan.merged.display()))
}

/// Overlay splits its options at `,` and lower layers at `:`; it unescapes a backslash before
/// either (and before itself), so any path can be passed.
fn push_escaped(data: &mut Vec<u8>, path: &Path) {
    for &byte in path.as_os_str().as_bytes() {
        if matches!(byte, b',' | b':' | b'\\') {
            data.push(b'\\');
        }
        data.push(byte);
    }
}

/// Returns `merged/<name>` as a directory to mount on, creating it when the image lacks it (it
/// then lands in the box's upper dir). The image is not trusted: a symlink there would make the
/// mount (and the files created under it) land on the host's filesystem, so anything but a real
/// directory is refused. Errors name the path as the box sees it (`merged` is the working
/// directory by then).
pub fn mount_point(merged: &Path, name: &str) -> Result<PathBuf, StepError> {
    let path = merged.join(name);
    let in_box = format!("/{name}");
    match fs::symlink_metadata(&path) {
        Ok(meta) if meta.is_dir() => Ok(path),
        Ok(_) => Err(StepError::new(
            format!("mount point {in_box}"),
            "exists in the image and is not a directory",
        )),
        Err(err) if err.kind() == io::ErrorKind::NotFound => {
            DirBuilder::new()
                .mode(0o755)
                .create(&path)
                .step(|| format!("create mount point {in_box}"))?;
            Ok(path)
        }
        Err(err) => Err(err).step(|| format!("inspect mount point {in_box}")),
    }
}

/// `/proc` of the box's own pid namespace (the child is its PID 1, so it sees only the box).
pub fn mount_proc(merged: &Path) -> Result<(), StepError> {
    let target = mount_point(merged, "proc")?;
    let flags = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
    mount(Some("proc"), &target, Some("proc"), flags, NONE)
        .step(|| format!("mount proc on {}", target.display()))
}

/// `/sys` read-only: a fresh sysfs, which shows the box's own network namespace. Where the
/// kernel refuses one the start fails: binding the host's `/sys` instead would show the box
/// the host's devices, interfaces and cgroup tree.
pub fn mount_sys(merged: &Path) -> Result<(), StepError> {
    let target = mount_point(merged, "sys")?;
    let flags = MsFlags::MS_RDONLY | MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
    mount(Some("sysfs"), &target, Some("sysfs"), flags, NONE).step(|| {
        format!(
            "mount a fresh sysfs on {} (the host's /sys is never bound instead)",
            target.display()
        )
    })
}

/// Remounts an existing bind mount read-only (keeping nosuid, nodev, noexec).
fn remount_read_only(target: &Path) -> Result<(), StepError> {
    let flags = MsFlags::MS_BIND
        | MsFlags::MS_REMOUNT
        | MsFlags::MS_RDONLY
        | MsFlags::MS_NOSUID
        | MsFlags::MS_NODEV
        | MsFlags::MS_NOEXEC;
    mount(NONE, target, NONE, flags, NONE)
        .step(|| format!("remount {} read-only", target.display()))
}

/// Whether the image has a `/tmp` of its own (it then stays what it is: a directory of the
/// overlay, on the box's writable layer; otherwise the box gets a tmpfs, [`mount_tmp`]). The
/// image (the lower dir) is asked, not the merged view: a `/tmp` the box created in its upper
/// dir on an earlier run must not change what later runs get.
pub fn image_has_tmp(plan: &RootfsPlan) -> Result<bool, StepError> {
    let in_image = plan.lower.join("tmp");
    match fs::symlink_metadata(&in_image) {
        Ok(_) => Ok(true),
        Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(err) => Err(err).step(|| format!("inspect {}", in_image.display())),
    }
}

/// A tmpfs `/tmp` of `size_mib` under `merged`. The size is always given: without one the
/// kernel sizes a tmpfs at half of the host's RAM, and `size=0` would mean no bound at all, so
/// 0 is refused.
pub fn mount_tmp(merged: &Path, size_mib: u64) -> Result<(), StepError> {
    let data = tmp_options(size_mib)?;
    let target = mount_point(merged, "tmp")?;
    mount(
        Some("tmpfs"),
        &target,
        Some("tmpfs"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
        Some(data.as_str()),
    )
    .step(|| format!("mount tmpfs on {}", target.display()))
}

/// The directory holding the upper and work dirs, which the user namespace's idmapped copy
/// covers (overlay wants both on one mount): the disk's root, or a legacy box's directory.
pub fn writable_root(plan: &RootfsPlan) -> Result<&Path, StepError> {
    match (plan.upper.parent(), plan.work.parent()) {
        (Some(upper), Some(work)) if upper == work => Ok(upper),
        _ => Err(StepError::new(
            "idmap the box's writable layer",
            format!(
                "{} and {} are not in one directory",
                plan.upper.display(),
                plan.work.display()
            ),
        )),
    }
}

fn tmp_options(size_mib: u64) -> Result<String, StepError> {
    if size_mib == 0 {
        return Err(StepError::new("mount tmpfs on /tmp", "a size of 0 MiB would be unbounded"));
    }
    Ok(format!("mode=1777,size={size_mib}m"))
}

/// In a mount namespace of the box's user namespace, the mounts copied from the one before
/// are locked, and `pivot_root` refuses a locked new root. This replaces the tree at the
/// working directory (the rootfs, with `/proc`, `/dev`, … under it) by a copy of its own,
/// whose root is not locked (the mounts under it stay locked), and enters it.
pub fn own_root_tree() -> Result<(), StepError> {
    let here = Path::new(".");
    let tree = crate::mount_api::clone_tree(here, true)?;
    crate::mount_api::attach(&tree, here)?;
    nix::unistd::fchdir(&tree).step(|| "enter the box's root tree".to_string())
}

/// Makes `merged` the root: `pivot_root(".", ".")` stacks the old root on top of the new one,
/// and detaching it leaves only the box's tree (no mount point for the old root is needed in
/// the image).
pub fn pivot_into(merged: &Path) -> Result<(), StepError> {
    chdir(merged).step(|| format!("chdir {}", merged.display()))?;
    pivot_root(".", ".").step(|| format!("pivot_root into {}", merged.display()))?;
    umount2(".", MntFlags::MNT_DETACH).step(|| "detach the old root".to_string())?;
    chdir("/").step(|| "chdir / in the box".to_string())
}

// The masked and read-only sets are Docker's defaults, so a box is
// walled at least as a container is.

/// Files in `/proc` that leak host information or kernel memory: hidden behind `/dev/null`.
const MASKED_FILES: [&str; 6] = [
    "/proc/kcore",
    "/proc/keys",
    "/proc/timer_list",
    "/proc/sched_debug",
    "/proc/latency_stats",
    "/proc/timer_stats",
];
/// Directories hidden behind an empty read-only tmpfs.
const MASKED_DIRS: [&str; 5] =
    ["/proc/acpi", "/proc/asound", "/proc/scsi", "/sys/firmware", "/sys/devices/virtual/powercap"];
/// Kernel knobs visible but not writable.
const READ_ONLY: [&str; 5] =
    ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"];

/// Masks and write-protects parts of the box's `/proc` and `/sys`; runs after
/// `pivot_root`, so every path resolves inside the box. Paths this kernel lacks are skipped.
pub fn mask_kernel_paths() -> Result<(), StepError> {
    for path in MASKED_FILES {
        skip_missing(mount(Some("/dev/null"), path, NONE, MsFlags::MS_BIND, NONE))
            .step(|| format!("mask {path}"))?;
    }
    for path in MASKED_DIRS {
        skip_missing(mount(Some("tmpfs"), path, Some("tmpfs"), MsFlags::MS_RDONLY, NONE))
            .step(|| format!("mask {path}"))?;
    }
    for path in READ_ONLY {
        let bound =
            skip_missing(mount(Some(path), path, NONE, MsFlags::MS_BIND | MsFlags::MS_REC, NONE))
                .step(|| format!("bind {path}"))?;
        if bound {
            remount_read_only(Path::new(path))?;
        }
    }
    Ok(())
}

/// Ok(true) when done, Ok(false) when the path does not exist on this kernel.
fn skip_missing(result: nix::Result<()>) -> nix::Result<bool> {
    match result {
        Ok(()) => Ok(true),
        Err(nix::errno::Errno::ENOENT) => Ok(false),
        Err(errno) => Err(errno),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlay_paths_are_escaped() {
        let mut data = Vec::new();
        push_escaped(&mut data, Path::new("/a,b:c\\d"));
        assert_eq!(data, b"/a\\,b\\:c\\\\d");
    }

    #[test]
    fn tmp_is_always_sized() {
        assert_eq!(tmp_options(512).expect("options"), "mode=1777,size=512m");
        assert!(tmp_options(0).is_err());
    }
}
