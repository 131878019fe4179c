//! Host-side cleanup of a box's cgroups (`boxlite/<id>` in each hierarchy; the shim creates
//! them and removes them when it exits normally). A shim killed with SIGKILL (forced remove,
//! failed start, orphan of a dead host) leaves them behind; removing the box must not.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::shim::ProcessRef;

/// How long, in all, to wait for the processes left in a box's cgroups to die after SIGKILL.
const KILL_WAIT: Duration = Duration::from_secs(5);
/// Read-kill-wait rounds per cgroup: a process forked between reading `cgroup.procs` and the
/// kill shows up in the next round (and the box's pid namespace dies with its PID 1 anyway).
const KILL_ROUNDS: usize = 16;

/// A cgroup hierarchy mounted here (a line of /proc/self/mountinfo).
pub(crate) struct Hierarchy {
    pub point: PathBuf,
    /// `cgroup2` is the unified hierarchy.
    pub v2: bool,
    /// The mount's super options: v1 names its controllers there.
    pub options: Vec<String>,
}

/// Every cgroup hierarchy this process sees mounted.
pub(crate) fn hierarchies() -> Vec<Hierarchy> {
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    mountinfo
        .lines()
        .filter_map(|line| {
            // Fields: ... mount_point(5th) ... " - " fstype source options
            let (before, after) = line.split_once(" - ")?;
            let mut after = after.split_whitespace();
            let fstype = after.next()?;
            if fstype != "cgroup" && fstype != "cgroup2" {
                return None;
            }
            let options = after.nth(1).unwrap_or_default().split(',').map(str::to_owned).collect();
            let mount_point = before.split_whitespace().nth(4)?;
            Some(Hierarchy {
                point: PathBuf::from(mount_point.replace("\\040", " ")),
                v2: fstype == "cgroup2",
                options,
            })
        })
        .collect()
}

/// The box's cgroup directories that exist now.
pub(crate) fn box_dirs(id: &str) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = hierarchies()
        .into_iter()
        .map(|h| h.point.join("boxlite").join(id))
        .filter(|dir| dir.is_dir())
        .collect();
    dirs.sort();
    dirs.dedup();
    dirs
}

/// SIGKILLs every process in the box's cgroups (everything in them belongs to the box) and
/// waits, bounded, for them to die. On v2 `cgroup.kill` takes the whole cgroup at once, forks
/// in flight included; on v1 members are read, killed and waited for in rounds. Each member is
/// signalled through a pidfd opened before its membership is confirmed, so a pid reused
/// outside the box is never hit. True when the cgroups are empty.
pub(crate) fn kill_box_processes(id: &str) -> bool {
    let deadline = Instant::now() + KILL_WAIT;
    box_dirs(id).iter().all(|dir| kill_members(dir, deadline))
}

fn kill_members(dir: &Path, deadline: Instant) -> bool {
    let kill_file = dir.join("cgroup.kill");
    for _ in 0..KILL_ROUNDS {
        let members = procs(dir);
        if members.is_empty() {
            return true;
        }
        if kill_file.exists() {
            // A failed write leaves the per-process kills below to do the work.
            let _ = std::fs::write(&kill_file, "1");
        }
        let processes = ProcessRef::verified_batch(members, || procs(dir));
        for process in &processes {
            process.signal(libc::SIGKILL);
        }
        for process in &processes {
            process.wait_exit_blocking(deadline.saturating_duration_since(Instant::now()));
        }
        if Instant::now() >= deadline {
            break;
        }
    }
    procs(dir).is_empty()
}

/// The pids in a cgroup's `cgroup.procs` (kernel-generated, bounded by the box's pids limit).
fn procs(dir: &Path) -> Vec<u32> {
    std::fs::read_to_string(dir.join("cgroup.procs"))
        .unwrap_or_default()
        .lines()
        .filter_map(|p| p.trim().parse::<u32>().ok())
        .collect()
}

/// Kills whatever is left in the box's cgroups, waits for it to die, and removes the
/// directories.
pub(crate) fn remove_box_cgroups(id: &str) -> Result<()> {
    kill_box_processes(id);
    for dir in box_dirs(id) {
        match std::fs::remove_dir(&dir) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(Error::io(format!("remove box {id}: cgroup {}", dir.display()), e))
            }
            _ => {}
        }
    }
    Ok(())
}
