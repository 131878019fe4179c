//! Host-side cleanup of a box's cgroups (`boxlite/<id>` in each hierarchy; the shim creates
//! them and removes them when it exits normally). A shim killed with SIGKILL (forced remove,
//! failed start, orphan of a dead host) leaves them behind; removing the box must not.

use std::path::PathBuf;
use std::time::Duration;

use crate::error::{Error, Result};

/// How long to wait for one leftover process to die after SIGKILL.
const KILL_WAIT: Duration = Duration::from_secs(5);

/// The box's cgroup directories that exist now.
fn box_dirs(id: &str) -> Vec<PathBuf> {
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let mut dirs: Vec<PathBuf> = mountinfo
        .lines()
        .filter_map(|line| {
            // Fields: ... mount_point(5th) ... " - " fstype source options
            let (before, after) = line.split_once(" - ")?;
            let fstype = after.split_whitespace().next()?;
            if fstype != "cgroup" && fstype != "cgroup2" {
                return None;
            }
            let mount_point = before.split_whitespace().nth(4)?;
            Some(PathBuf::from(mount_point.replace("\\040", " ")).join("boxlite").join(id))
        })
        .filter(|dir| dir.is_dir())
        .collect();
    dirs.sort();
    dirs.dedup();
    dirs
}

/// Kills whatever is left in the box's cgroups (everything in them belongs to the box), waits
/// for it to die, and removes the directories.
pub(crate) fn remove_box_cgroups(id: &str) -> Result<()> {
    for dir in box_dirs(id) {
        let procs = std::fs::read_to_string(dir.join("cgroup.procs")).unwrap_or_default();
        for pid in procs.lines().filter_map(|p| p.trim().parse::<u32>().ok()) {
            // A member of this box's own cgroup: everything in it belongs to the box.
            crate::shim::kill_and_wait_blocking(pid, KILL_WAIT);
        }
        match std::fs::remove_dir(&dir) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(Error::io(format!("remove box {id}: cgroup {}", dir.display()), e))
            }
            _ => {}
        }
    }
    Ok(())
}
