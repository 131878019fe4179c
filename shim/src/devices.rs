//! The box's minimal `/dev`: a fresh tmpfs with the host's harmless character devices bound
//! in, its own devpts instance, `/dev/shm`, and the usual symlinks.

use std::fs::{DirBuilder, OpenOptions};
use std::os::unix::fs::{symlink, DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

use nix::mount::{mount, MsFlags};

use crate::error::{Step, StepError};

/// Character devices every program may expect. They are bound from the host rather than
/// created with mknod so the same code works inside a user namespace.
const NODES: [&str; 6] = ["null", "zero", "full", "random", "urandom", "tty"];

const SYMLINKS: [(&str, &str); 5] = [
    ("ptmx", "pts/ptmx"),
    ("fd", "/proc/self/fd"),
    ("stdin", "/proc/self/fd/0"),
    ("stdout", "/proc/self/fd/1"),
    ("stderr", "/proc/self/fd/2"),
];

const NONE: Option<&str> = None;

/// Builds `/dev` at `dev` (the box's mount point, still addressed by its host path).
pub fn populate(dev: &Path) -> Result<(), StepError> {
    let shown = dev.display();
    mount(
        Some("tmpfs"),
        dev,
        Some("tmpfs"),
        MsFlags::MS_NOSUID | MsFlags::MS_STRICTATIME,
        Some("mode=755,size=65536k"),
    )
    .step(|| format!("mount tmpfs on {shown}"))?;

    for name in NODES {
        let host = Path::new("/dev").join(name);
        // A host without the node (a minimal container host, say) gives a box without it.
        if !host.exists() {
            continue;
        }
        let target = dev.join(name);
        OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o644)
            .open(&target)
            .step(|| format!("create {}", target.display()))?;
        mount(Some(&host), &target, NONE, MsFlags::MS_BIND, NONE)
            .step(|| format!("bind {} on {}", host.display(), target.display()))?;
    }

    let pts = dev.join("pts");
    make_dir(&pts, 0o755)?;
    mount(
        Some("devpts"),
        &pts,
        Some("devpts"),
        MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC,
        Some("newinstance,ptmxmode=0666,mode=0620"),
    )
    .step(|| format!("mount devpts on {}", pts.display()))?;

    let shm = dev.join("shm");
    make_dir(&shm, 0o1777)?;
    mount(
        Some("shm"),
        &shm,
        Some("tmpfs"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
        Some("mode=1777,size=65536k"),
    )
    .step(|| format!("mount tmpfs on {}", shm.display()))?;

    for (name, target) in SYMLINKS {
        let link = dev.join(name);
        symlink(target, &link).step(|| format!("symlink {} -> {target}", link.display()))?;
    }
    Ok(())
}

fn make_dir(path: &Path, mode: u32) -> Result<(), StepError> {
    DirBuilder::new().mode(mode).create(path).step(|| format!("create {}", path.display()))?;
    // The umask narrows mkdir's mode; sticky and world-writable bits must be exact.
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .step(|| format!("chmod {}", path.display()))
}
