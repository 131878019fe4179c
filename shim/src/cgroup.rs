//! Resource limits: one cgroup per box, `boxlite/<box_id>` at the root of each hierarchy.
//!
//! Both cgroup layouts are handled, detected at run time: pure v2 (`/sys/fs/cgroup` is the
//! unified hierarchy, most machines) and v1 (one hierarchy per controller, found in
//! /proc/self/mountinfo; also the "hybrid" layout, whose v2 part carries none of our
//! controllers and is ignored). A [`Cgroup`] is the box's directory in each hierarchy that
//! carries one of the memory, pids, cpu and (v1) devices and cpuacct controllers: one directory
//! on v2, up to five on v1. The device filter (device_filter.rs) is part of it.
//!
//! Placement: the shim creates the directories but never joins them, so a workload at the
//! box's memory or pids limit cannot take the shim down with it (the OOM killer only picks
//! among a cgroup's members). The box's PID 1 enters them itself ([`enter`], run by the child
//! before it execs the agent or forks anything), then unshares its cgroup namespace, which is
//! thereby rooted at the box's cgroups (the box sees `/` in /proc/self/cgroup). Everything in
//! them is therefore the box's; after the agent is reaped the shim removes them.
//!
//! A shim killed by SIGKILL leaves the directories behind (its box dies with it, so they are
//! empty); the next start of the same box removes and recreates them, or reuses one that
//! cannot be removed, rewriting every limit either way.

use std::fs::{self, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use boxlite_protocol::launch::Limits;
use boxlite_protocol::oom_counter;
use nix::sched::{unshare, CloneFlags};

use crate::device_filter::{self, Rule};
use crate::error::{io_cause, Step, StepError};
use crate::log;

/// Where v2 is mounted when it is the only hierarchy, and where v1 hierarchies conventionally
/// live when /proc/self/mountinfo does not name them.
const CGROUP_ROOT: &str = "/sys/fs/cgroup";
/// The directory, at the root of each hierarchy, holding one cgroup per box.
const PARENT: &str = "boxlite";
/// CFS period: quota = cpus × period.
const CPU_PERIOD_US: u64 = 100_000;
/// The kernel's smallest CFS quota (1 ms).
const CPU_MIN_QUOTA_US: u64 = 1_000;

/// The controllers a box's limits use, v1's `devices` (device_filter.rs), which v2 replaces
/// with an eBPF program, and v1's `cpuacct`, which counts the box's CPU time for its metrics
/// (core/src/metrics/cgroup.rs) where it is not mounted with `cpu` (v2's `cpu.stat` always
/// counts it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Controller {
    Memory,
    Pids,
    Cpu,
    Devices,
    Cpuacct,
}

impl Controller {
    /// The controllers of limits, on either layout.
    const ALL: [Controller; 3] = [Controller::Memory, Controller::Pids, Controller::Cpu];
    /// The v1 hierarchies a box gets a cgroup in.
    const V1: [Controller; 5] = [
        Controller::Memory,
        Controller::Pids,
        Controller::Cpu,
        Controller::Devices,
        Controller::Cpuacct,
    ];

    fn name(self) -> &'static str {
        match self {
            Controller::Memory => "memory",
            Controller::Pids => "pids",
            Controller::Cpu => "cpu",
            Controller::Devices => "devices",
            Controller::Cpuacct => "cpuacct",
        }
    }

    fn from_name(name: &str) -> Option<Self> {
        Self::V1.into_iter().find(|c| c.name() == name)
    }
}

/// The cgroup layout of this machine.
#[derive(Debug, PartialEq)]
enum Layout {
    /// One unified hierarchy; `controllers` are those of ours it offers.
    V2(Hierarchy),
    /// One hierarchy per mount; each carries one or more of our controllers.
    V1(Vec<Hierarchy>),
}

/// A hierarchy the box gets a cgroup in.
#[derive(Debug, PartialEq)]
struct Hierarchy {
    /// Where it is mounted.
    mount: PathBuf,
    /// Which of our controllers it carries.
    controllers: Vec<Controller>,
}

/// The limits as the values written to the cgroup files; `None` is unlimited.
#[derive(Debug, PartialEq)]
struct Values {
    memory_bytes: Option<u64>,
    cpu_quota_us: Option<u64>,
    pids_max: Option<u64>,
    /// The device filter, applied wherever it can be.
    devices: Vec<Rule>,
    /// Whether a box the filter cannot be applied to must not start: when box root is host
    /// root. In a user namespace of its own the box cannot make or use device nodes anyway
    /// (`CAP_MKNOD` counts in the host's namespace only, and its mounts are `nodev`).
    devices_required: bool,
}

impl Values {
    fn new(limits: &Limits, devices: Vec<Rule>, devices_required: bool) -> Result<Self, StepError> {
        let memory_bytes = match limits.memory_mib {
            None => None,
            Some(mib) => {
                Some(mib.checked_mul(1 << 20).filter(|&bytes| bytes > 0).ok_or_else(|| {
                    StepError::new("cgroup: memory limit", format!("{mib} MiB is out of range"))
                })?)
            }
        };
        let cpu_quota_us = match limits.cpus {
            None => None,
            Some(cpus) => {
                // `as` saturates: an absurdly large value reaches the kernel, which rejects it.
                let quota = (cpus * CPU_PERIOD_US as f64).round();
                if !quota.is_finite() || quota < CPU_MIN_QUOTA_US as f64 {
                    return Err(StepError::new(
                        "cgroup: cpu limit",
                        format!("{cpus} CPUs is out of range (at least 0.01)"),
                    ));
                }
                Some(quota as u64)
            }
        };
        Ok(Self {
            memory_bytes,
            cpu_quota_us,
            pids_max: limits.pids_max,
            devices,
            devices_required,
        })
    }

    /// The device filter cannot be applied: an error when it is required, else logged.
    fn filter_missing(&self, box_id: &str, err: StepError) -> Result<(), StepError> {
        if self.devices_required {
            return Err(err);
        }
        log::line(box_id, format!("{err}; the box's user namespace keeps it from device nodes"));
        Ok(())
    }

    /// Whether this controller's limit was asked for.
    fn limits(&self, controller: Controller) -> bool {
        match controller {
            Controller::Memory => self.memory_bytes.is_some(),
            Controller::Pids => self.pids_max.is_some(),
            Controller::Cpu => self.cpu_quota_us.is_some(),
            Controller::Devices => self.devices_required,
            // Nothing to limit: counting only, never a reason to refuse a box.
            Controller::Cpuacct => false,
        }
    }
}

/// The box's cgroup directories, one per hierarchy.
#[derive(Debug)]
pub struct Cgroup {
    dirs: Vec<PathBuf>,
    /// The memory controller's file holding the `oom_kill` counter (v2 `memory.events`, v1
    /// `memory.oom_control`), when a hierarchy carries that controller.
    oom_counter: Option<PathBuf>,
}

impl Cgroup {
    /// Creates the box's cgroups with `limits` and the device filter applied; `disk` is the
    /// block device of the box's disk, which the filter lets the box's PID 1 mount, and
    /// `user_namespace` whether the box gets one (see [`Values::devices_required`]).
    ///
    /// `Ok(None)` means the box runs without a cgroup: cgroups cannot be used here (none
    /// mounted, no permission) and the spec asked for no limit at all; that is logged. A
    /// limit that cannot be applied, the pids limit the host always sets included, is an
    /// error: the box must not run without it (a fork bomb would have the host's pid table).
    pub fn create(
        box_id: &str,
        limits: &Limits,
        disk: Option<&Path>,
        user_namespace: bool,
    ) -> Result<Option<Cgroup>, StepError> {
        if box_id.is_empty() || box_id.contains('/') || box_id == "." || box_id == ".." {
            return Err(StepError::new("cgroup", format!("box id {box_id:?} is not a file name")));
        }
        let values = Values::new(limits, device_filter::rules(disk)?, !user_namespace)?;
        let mut cgroup = Cgroup { dirs: Vec::new(), oom_counter: None };
        match detect().and_then(|layout| cgroup.build(&layout, box_id, &values)) {
            Ok(()) => Ok(Some(cgroup)),
            Err(err) => {
                cgroup.remove(box_id);
                if Controller::V1.into_iter().any(|c| values.limits(c)) {
                    return Err(err);
                }
                log::line(box_id, format!("{err}; the box runs without a cgroup"));
                Ok(None)
            }
        }
    }

    /// Creates a directory per hierarchy and writes the limits, recording each directory as
    /// soon as it exists so that a failure part-way removes what was made.
    fn build(&mut self, layout: &Layout, box_id: &str, values: &Values) -> Result<(), StepError> {
        let hierarchies = match layout {
            Layout::V2(hierarchy) => std::slice::from_ref(hierarchy),
            Layout::V1(hierarchies) => hierarchies.as_slice(),
        };
        for controller in Controller::ALL.into_iter().filter(|&c| values.limits(c)) {
            if !hierarchies.iter().any(|h| h.controllers.contains(&controller)) {
                return Err(StepError::new(
                    format!("cgroup: {} limit", controller.name()),
                    format!("no cgroup hierarchy offers the {} controller", controller.name()),
                ));
            }
        }
        if let Layout::V1(hierarchies) = layout {
            if !hierarchies.iter().any(|h| h.controllers.contains(&Controller::Devices)) {
                values.filter_missing(
                    box_id,
                    StepError::new("cgroup: device filter", "no v1 devices hierarchy is mounted"),
                )?;
            }
        }
        for hierarchy in hierarchies {
            let parent = hierarchy.mount.join(PARENT);
            if let Layout::V2(_) = layout {
                // v2 only lets a cgroup use the controllers its parent enables for its children.
                enable_controllers(&hierarchy.mount, &hierarchy.controllers)?;
                create_dir(&parent)?;
                enable_controllers(&parent, &hierarchy.controllers)?;
            } else {
                create_dir(&parent)?;
            }
            let dir = parent.join(box_id);
            create_box_dir(&dir, box_id)?;
            self.dirs.push(dir.clone());
            if hierarchy.controllers.contains(&Controller::Memory) {
                let file = match layout {
                    Layout::V2(_) => "memory.events",
                    Layout::V1(_) => "memory.oom_control",
                };
                self.oom_counter = Some(dir.join(file));
            }
            for &controller in &hierarchy.controllers {
                match layout {
                    Layout::V2(_) => write_v2(&dir, controller, values)?,
                    Layout::V1(_) => write_v1(&dir, controller, values)?,
                }
            }
            if let Layout::V2(_) = layout {
                if let Err(err) = device_filter::attach_v2(&dir, &values.devices) {
                    values.filter_missing(box_id, err)?;
                }
            }
        }
        Ok(())
    }

    /// The box's directories, for [`enter`].
    pub fn dirs(&self) -> &[PathBuf] {
        &self.dirs
    }

    /// How many processes the kernel's OOM killer has killed in the box since its cgroup was
    /// created. `None` when that cannot be known (no memory controller, a v1 kernel older
    /// than 4.13 without the counter, a read failure; the last is logged). Read before
    /// [`Cgroup::remove`]: the counter goes with the directory.
    pub fn oom_kills(&self, box_id: &str) -> Option<u64> {
        let file = self.oom_counter.as_ref()?;
        let mut text = String::new();
        // Kernel-generated and a few lines long, but read bounded all the same.
        let read = fs::File::open(file)
            .and_then(|f| f.take(oom_counter::MAX_BYTES as u64).read_to_string(&mut text));
        if let Err(err) = read {
            let cause = io_cause(&err);
            log::line(box_id, format!("cgroup: read {}: {cause}", file.display()));
            return None;
        }
        oom_counter::parse(&text)
    }

    /// The file with the `oom_kill` counter, opened read-only (close-on-exec), for the agent
    /// to tell which of its execs the OOM killer took. `None` without a memory controller or
    /// when the open fails (logged): the agent then reports no exec as OOM-killed.
    pub fn open_oom_counter(&self, box_id: &str) -> Option<fs::File> {
        let file = self.oom_counter.as_ref()?;
        fs::File::open(file)
            .map_err(|err| {
                let cause = io_cause(&err);
                log::line(box_id, format!("cgroup: open {}: {cause}", file.display()));
            })
            .ok()
    }

    /// Removes the box's cgroups. Called once the agent is reaped: when PID 1 of a pid
    /// namespace exits, the kernel kills and waits for the rest of it, so nothing of the box
    /// is left inside. Failures (a process that escaped the box's pid namespace keeps its
    /// cgroup busy) are logged, never fatal.
    pub fn remove(self, box_id: &str) {
        for dir in &self.dirs {
            if let Err(err) = fs::remove_dir(dir) {
                let cause = io_cause(&err);
                log::line(box_id, format!("cgroup: remove {}: {cause}", dir.display()));
            }
        }
    }
}

/// Moves the calling process into the box's cgroups (`dirs`, from [`Cgroup::dirs`]), then gives it a cgroup namespace rooted there. Run by the box's
/// PID 1 while it still sees the host's cgroupfs (before `pivot_root`) and before it forks or
/// execs: everything of the box is born inside, under the box's pids limit from its first
/// fork. `0` names the writer itself, whatever pid namespace it is in (its own pid, 1, would
/// name nothing in the host's).
///
/// On v1 hierarchies it writes `tasks`, which moves the writing thread only: the kernel then
/// skips the write lock of every thread group on the host, whose wait for an RCU grace
/// period was 12–16 ms of each start here (docs/architecture.md, "Processes"). The
/// writer is a fresh `clone` child with one thread, so the thread is the whole process.
pub fn enter(dirs: &[PathBuf]) -> Result<(), StepError> {
    for dir in dirs {
        let v1 = dir.join("tasks").exists();
        write(dir, if v1 { "tasks" } else { "cgroup.procs" }, "0")?;
    }
    unshare(CloneFlags::CLONE_NEWCGROUP).step(|| "unshare the cgroup namespace".to_string())
}

/// v1 files. Unset limits are written as unlimited too: a reused leftover may hold old ones.
fn write_v1(dir: &Path, controller: Controller, values: &Values) -> Result<(), StepError> {
    match controller {
        Controller::Memory => {
            let limit = values.memory_bytes.map_or("-1".to_string(), |b| b.to_string());
            // memory+swap gets the same limit, so the box cannot escape into swap. The kernel
            // keeps memsw >= memory at every write: lift memsw first, lower it last.
            let memsw = dir.join("memory.memsw.limit_in_bytes").exists();
            if memsw {
                write(dir, "memory.memsw.limit_in_bytes", "-1")?;
            }
            write(dir, "memory.limit_in_bytes", &limit)?;
            if memsw {
                write(dir, "memory.memsw.limit_in_bytes", &limit)?;
            }
        }
        Controller::Cpu => {
            let quota = values.cpu_quota_us.map_or("-1".to_string(), |q| q.to_string());
            set(dir, "cpu.cfs_period_us", &CPU_PERIOD_US.to_string(), values.cpu_quota_us)?;
            set(dir, "cpu.cfs_quota_us", &quota, values.cpu_quota_us)?;
        }
        Controller::Pids => write(dir, "pids.max", &max_or(values.pids_max))?,
        Controller::Devices => device_filter::write_v1(dir, &values.devices)?,
        Controller::Cpuacct => {}
    }
    Ok(())
}

/// v2 files. Unset limits are written as unlimited too: a reused leftover may hold old ones.
fn write_v2(dir: &Path, controller: Controller, values: &Values) -> Result<(), StepError> {
    match controller {
        Controller::Memory => {
            write(dir, "memory.max", &max_or(values.memory_bytes))?;
            // No swap for a limited box; the file is missing when swap accounting is off.
            let swap = if values.memory_bytes.is_some() { "0" } else { "max" };
            set(dir, "memory.swap.max", swap, None)?;
        }
        Controller::Cpu => {
            let quota = max_or(values.cpu_quota_us);
            set(dir, "cpu.max", &format!("{quota} {CPU_PERIOD_US}"), values.cpu_quota_us)?;
        }
        Controller::Pids => write(dir, "pids.max", &max_or(values.pids_max))?,
        // No such controller on v2: the eBPF filter, attached by the caller; CPU time is in
        // every v2 cgroup's `cpu.stat`.
        Controller::Devices | Controller::Cpuacct => {}
    }
    Ok(())
}

fn max_or(value: Option<u64>) -> String {
    value.map_or("max".to_string(), |v| v.to_string())
}

/// Writes a file that only matters when `asked` is set: a kernel without it (no CFS bandwidth
/// control, no swap accounting) is then fine.
fn set(dir: &Path, file: &str, value: &str, asked: Option<u64>) -> Result<(), StepError> {
    if asked.is_none() && !dir.join(file).exists() {
        return Ok(());
    }
    write(dir, file, value)
}

/// One `write` of `value` to an existing cgroup file (never created: cgroupfs has no such
/// thing, and a missing file must read as "not supported" rather than as EACCES).
fn write(dir: &Path, file: &str, value: &str) -> Result<(), StepError> {
    OpenOptions::new()
        .write(true)
        .open(dir.join(file))
        .and_then(|mut f| f.write_all(value.as_bytes()))
        .step(|| format!("cgroup: write {file} in {}", dir.display()))
}

fn create_dir(dir: &Path) -> Result<(), StepError> {
    match fs::create_dir(dir) {
        Err(err) if err.kind() != io::ErrorKind::AlreadyExists => {
            Err(err).step(|| format!("cgroup: create {}", dir.display()))
        }
        _ => Ok(()),
    }
}

/// Creates the box's directory. A leftover from a crashed run is removed first when empty (a
/// fresh cgroup carries no stale memory charges or counters); one still in use is reused.
fn create_box_dir(dir: &Path, box_id: &str) -> Result<(), StepError> {
    let create = || fs::create_dir(dir).step(|| format!("cgroup: create {}", dir.display()));
    match fs::create_dir(dir) {
        Ok(()) => Ok(()),
        Err(err) if err.kind() == io::ErrorKind::AlreadyExists => match fs::remove_dir(dir) {
            Ok(()) => create(),
            Err(err) => {
                let cause = io_cause(&err);
                log::line(
                    box_id,
                    format!("cgroup: reusing {} (cannot remove: {cause})", dir.display()),
                );
                Ok(())
            }
        },
        Err(err) => Err(err).step(|| format!("cgroup: create {}", dir.display())),
    }
}

/// Adds `controllers` to what `dir` enables for its children (v2).
fn enable_controllers(dir: &Path, controllers: &[Controller]) -> Result<(), StepError> {
    let file = dir.join("cgroup.subtree_control");
    let enabled = fs::read_to_string(&file).step(|| format!("cgroup: read {}", file.display()))?;
    for controller in controllers {
        if !enabled.split_whitespace().any(|name| name == controller.name()) {
            write(dir, "cgroup.subtree_control", &format!("+{}", controller.name()))?;
        }
    }
    Ok(())
}

/// Finds the hierarchies carrying our controllers and the shim's place in each.
fn detect() -> Result<Layout, StepError> {
    let mountinfo = fs::read_to_string("/proc/self/mountinfo")
        .step(|| "cgroup: read /proc/self/mountinfo".to_string())?;
    let mounts = parse_mountinfo(&mountinfo);
    let root = Path::new(CGROUP_ROOT);
    let layout = if root.join("cgroup.controllers").exists() {
        let available = fs::read_to_string(root.join("cgroup.controllers"))
            .step(|| format!("cgroup: read {CGROUP_ROOT}/cgroup.controllers"))?;
        v2_layout(root, &available)
    } else {
        let mut hierarchies = v1_hierarchies(&mounts);
        if hierarchies.is_empty() {
            hierarchies = v1_conventional(root);
        }
        Layout::V1(hierarchies)
    };
    match &layout {
        Layout::V1(hierarchies) if hierarchies.is_empty() => Err(StepError::new(
            "cgroup",
            "no memory, pids, cpu or devices cgroup hierarchy is mounted",
        )),
        _ => Ok(layout),
    }
}

/// A line of /proc/self/mountinfo, the fields used here.
#[derive(Debug)]
struct Mount {
    point: PathBuf,
    fstype: String,
    options: String,
}

fn parse_mountinfo(text: &str) -> Vec<Mount> {
    text.lines()
        .filter_map(|line| {
            // "<id> <parent> <dev> <root> <point> <opts> [optional...] - <type> <source> <super>"
            let (left, right) = line.split_once(" - ")?;
            let point = PathBuf::from(unescape(left.split(' ').nth(4)?));
            let mut right = right.split(' ');
            let fstype = right.next()?.to_string();
            let options = right.nth(1).unwrap_or("").to_string();
            Some(Mount { point, fstype, options })
        })
        .collect()
}

/// Undoes mountinfo's octal escapes (`\040` for a space, …).
fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes.get(i + 1..i + 4).filter(|d| d.iter().all(|b| (b'0'..=b'7').contains(b)));
        match octal {
            Some(digits) if bytes[i] == b'\\' => {
                out.push(digits.iter().fold(0u8, |n, d| n.wrapping_mul(8).wrapping_add(d - b'0')));
                i += 4;
            }
            _ => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn v2_layout(root: &Path, available: &str) -> Layout {
    let controllers = Controller::ALL
        .into_iter()
        .filter(|c| available.split_whitespace().any(|name| name == c.name()))
        .collect();
    Layout::V2(Hierarchy { mount: root.to_path_buf(), controllers })
}

/// v1 hierarchies from the mount table: each `cgroup` mount whose options name one of our
/// controllers (the first mount of each, when a hierarchy is mounted twice).
fn v1_hierarchies(mounts: &[Mount]) -> Vec<Hierarchy> {
    let mut found: Vec<Hierarchy> = Vec::new();
    for mount in mounts.iter().filter(|m| m.fstype == "cgroup") {
        let names: Vec<&str> = mount.options.split(',').collect();
        let controllers: Vec<Controller> = names
            .iter()
            .filter_map(|name| Controller::from_name(name))
            .filter(|c| !found.iter().any(|h| h.controllers.contains(c)))
            .collect();
        if controllers.is_empty() {
            continue;
        }
        found.push(Hierarchy { mount: mount.point.clone(), controllers });
    }
    found
}

/// v1 hierarchies at their conventional places, for a mount table that does not show them.
fn v1_conventional(root: &Path) -> Vec<Hierarchy> {
    let mut found: Vec<Hierarchy> = Vec::new();
    for (dir, controller) in [
        ("memory", Controller::Memory),
        ("pids", Controller::Pids),
        ("cpu", Controller::Cpu),
        ("cpu,cpuacct", Controller::Cpu),
        ("devices", Controller::Devices),
        ("cpuacct", Controller::Cpuacct),
    ] {
        let mount = root.join(dir);
        if found.iter().any(|h| h.controllers.contains(&controller))
            || !mount.join("cgroup.procs").exists()
        {
            continue;
        }
        found.push(Hierarchy { mount, controllers: vec![controller] });
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    const HYBRID: &str = "\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime shared:9 - cgroup cgroup rw,cpu,cpuacct
34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
37 31 0:34 / /sys/fs/cgroup/devices rw,relatime - cgroup cgroup rw,devices
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
90 35 0:32 / /mnt/memory\\040again rw,relatime - cgroup cgroup rw,memory
";

    #[test]
    fn v1_hierarchies_come_from_the_mount_table() {
        let found = v1_hierarchies(&parse_mountinfo(HYBRID));
        let expected: [(&str, &[Controller]); 4] = [
            ("/sys/fs/cgroup/cpu,cpuacct", &[Controller::Cpu, Controller::Cpuacct]),
            ("/sys/fs/cgroup/memory", &[Controller::Memory]),
            ("/sys/fs/cgroup/devices", &[Controller::Devices]),
            ("/sys/fs/cgroup/pids", &[Controller::Pids]),
        ];
        assert_eq!(found.len(), expected.len(), "{found:?}");
        for (hierarchy, (mount, controllers)) in found.iter().zip(expected) {
            assert_eq!(hierarchy.mount, Path::new(mount));
            assert_eq!(hierarchy.controllers, controllers);
        }
    }

    #[test]
    fn a_separate_cpuacct_hierarchy_is_found() {
        let mounts = parse_mountinfo(
            "32 31 0:29 / /sys/fs/cgroup/cpu rw - cgroup cgroup rw,cpu\n\
             33 31 0:30 / /sys/fs/cgroup/cpuacct rw - cgroup cgroup rw,cpuacct\n",
        );
        let found = v1_hierarchies(&mounts);
        assert_eq!(found.len(), 2, "{found:?}");
        assert_eq!(found[1].mount, Path::new("/sys/fs/cgroup/cpuacct"));
        assert_eq!(found[1].controllers, [Controller::Cpuacct]);
    }

    #[test]
    fn one_v1_mount_may_carry_several_controllers() {
        let mounts = parse_mountinfo(
            "50 40 0:32 /docker/x /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory,pids\n",
        );
        let found = v1_hierarchies(&mounts);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].mount, Path::new("/sys/fs/cgroup/memory"));
        assert_eq!(found[0].controllers, [Controller::Memory, Controller::Pids]);
    }

    #[test]
    fn v2_offers_the_available_controllers() {
        let layout = v2_layout(Path::new("/sys/fs/cgroup"), "cpuset cpu io memory pids\n");
        assert_eq!(
            layout,
            Layout::V2(Hierarchy {
                mount: PathBuf::from("/sys/fs/cgroup"),
                controllers: Controller::ALL.to_vec(),
            })
        );
    }

    #[test]
    fn mountinfo_escapes_are_undone() {
        assert_eq!(unescape("/mnt/a\\040b\\134c"), "/mnt/a b\\c");
        assert_eq!(unescape("/trailing\\04"), "/trailing\\04");
    }

    #[test]
    fn limits_become_file_values() {
        let limits = Limits { memory_mib: Some(32), cpus: Some(0.5), pids_max: Some(16) };
        let values = Values::new(&limits, Vec::new(), true).expect("values");
        assert_eq!(
            values,
            Values {
                memory_bytes: Some(32 << 20),
                cpu_quota_us: Some(50_000),
                pids_max: Some(16),
                devices: Vec::new(),
                devices_required: true,
            }
        );
        for cpus in [0.0, -1.0, 0.001, f64::NAN, f64::INFINITY] {
            let limits = Limits { cpus: Some(cpus), ..Limits::default() };
            assert!(Values::new(&limits, Vec::new(), true).is_err(), "{cpus} accepted");
        }
        for mib in [0, u64::MAX] {
            let limits = Limits { memory_mib: Some(mib), ..Limits::default() };
            assert!(Values::new(&limits, Vec::new(), true).is_err(), "{mib} MiB accepted");
        }
    }
}
