//! A box's resource usage read from its cgroups (`boxlite/<id>` in each hierarchy, see
//! core/src/cgroups.rs) and from `/proc` of their members. Both layouts are read without
//! detecting which one is mounted: v2 and v1 name their files differently, so each value is
//! taken from the first of the box's directories that has the file.

use std::io::Read;
use std::path::{Path, PathBuf};

/// How much of a cgroup value file is read: a number, or `cpu.stat`'s few lines.
const MAX_VALUE_BYTES: u64 = 4 * 1024;
/// How much of `cgroup.procs` is read: one short line per process, bounded by the box's pids
/// limit, which the host sets.
const MAX_PROCS_BYTES: u64 = 1 << 20;
/// How much of `/proc/PID/io` is read: seven short lines.
const MAX_PROC_IO_BYTES: u64 = 1024;
/// v1 reports "no limit" as the largest page-aligned counter (`PAGE_COUNTER_MAX` pages); any
/// value this high is no limit a box could reach.
const V1_UNLIMITED_BYTES: u64 = 1 << 62;

/// What the box's cgroups say now; each value `None` when its file is missing or unreadable.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct CgroupUsage {
    pub(crate) cpu_time_usec: Option<u64>,
    pub(crate) memory_bytes: Option<u64>,
    pub(crate) memory_peak_bytes: Option<u64>,
    pub(crate) memory_limit_bytes: Option<u64>,
    pub(crate) pids_current: Option<u64>,
    pub(crate) pids_limit: Option<u64>,
    pub(crate) block_read_bytes: Option<u64>,
    pub(crate) block_write_bytes: Option<u64>,
}

/// The usage of box `id`, or `None` when it has no cgroup (rootless, or no hierarchy usable).
pub(crate) fn usage(id: &str) -> Option<CgroupUsage> {
    let dirs = crate::cgroups::box_dirs(id);
    (!dirs.is_empty()).then(|| usage_in(&dirs))
}

/// The usage read from a box's cgroup directories, whichever layout they belong to.
fn usage_in(dirs: &[PathBuf]) -> CgroupUsage {
    // The first of the box's directories with a file that parses: only one has it.
    let read = |file: &str, parse: &dyn Fn(&str) -> Option<u64>| {
        dirs.iter().find_map(|dir| read_value(&dir.join(file)).and_then(|text| parse(&text)))
    };
    let number = |text: &str| text.trim().parse::<u64>().ok();
    // v1's cpu controller has a `cpu.stat` too, without `usage_usec`.
    let cpu_time_usec = read("cpu.stat", &|text| stat_field(text, "usage_usec"))
        .or_else(|| read("cpuacct.usage", &|text| number(text).map(|ns| ns / 1000)));
    let (block_read_bytes, block_write_bytes) = match block_io(dirs) {
        Some((read, write)) => (Some(read), Some(write)),
        None => (None, None),
    };
    CgroupUsage {
        cpu_time_usec,
        memory_bytes: read("memory.current", &number)
            .or_else(|| read("memory.usage_in_bytes", &number)),
        memory_peak_bytes: read("memory.peak", &number)
            .or_else(|| read("memory.max_usage_in_bytes", &number)),
        memory_limit_bytes: read("memory.max", &parse_limit)
            .or_else(|| read("memory.limit_in_bytes", &parse_limit)),
        pids_current: read("pids.current", &number),
        pids_limit: read("pids.max", &parse_limit),
        block_read_bytes,
        block_write_bytes,
    }
}

/// The storage-layer bytes (`read_bytes`, `write_bytes` of `/proc/PID/io`) of the box's
/// processes: each live member's count includes what its reaped children did, and the box's
/// PID 1 reaps every orphan, so the sum covers every process the box ran but a zombie not yet
/// reaped. Neither layout gives a box's own block-io counters here: the box's cgroups carry no
/// io controller, and v1's blkio would charge page-cache writeback to the host's root.
fn block_io(dirs: &[PathBuf]) -> Option<(u64, u64)> {
    let procs =
        dirs.iter().find_map(|dir| read_bounded(&dir.join("cgroup.procs"), MAX_PROCS_BYTES))?;
    let mut total = (0u64, 0u64);
    for pid in procs.lines().filter_map(|p| p.trim().parse::<u32>().ok()) {
        // A member that exited since the list was read counts in its reaper.
        if let Some((read, write)) =
            read_bounded(Path::new(&format!("/proc/{pid}/io")), MAX_PROC_IO_BYTES).and_then(
                |text| {
                    Some((stat_field(&text, "read_bytes:")?, stat_field(&text, "write_bytes:")?))
                },
            )
        {
            total = (total.0.saturating_add(read), total.1.saturating_add(write));
        }
    }
    Some(total)
}

fn read_value(path: &Path) -> Option<String> {
    read_bounded(path, MAX_VALUE_BYTES)
}

fn read_bounded(path: &Path, max: u64) -> Option<String> {
    let mut text = String::new();
    std::fs::File::open(path).ok()?.take(max).read_to_string(&mut text).ok()?;
    Some(text)
}

/// The value of `key` in `KEY VALUE` lines (`cpu.stat`, `/proc/PID/io`).
fn stat_field(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|line| {
        let mut words = line.split_whitespace();
        (words.next()? == key).then(|| words.next()?.parse().ok())?
    })
}

/// A limit file: `max` (v2) or v1's huge "unlimited" value is no limit.
fn parse_limit(text: &str) -> Option<u64> {
    let text = text.trim();
    if text == "max" {
        return None;
    }
    text.parse::<u64>().ok().filter(|&v| v < V1_UNLIMITED_BYTES)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_stat_and_proc_io_fields_are_found_by_key() {
        let cpu = "usage_usec 123456\nuser_usec 100000\nsystem_usec 23456\n";
        assert_eq!(stat_field(cpu, "usage_usec"), Some(123456));
        assert_eq!(stat_field(cpu, "nr_periods"), None);
        let io = "rchar: 10\nwchar: 20\nsyscr: 1\nsyscw: 2\nread_bytes: 4096\nwrite_bytes: 8192\n\
                  cancelled_write_bytes: 0\n";
        assert_eq!(stat_field(io, "read_bytes:"), Some(4096));
        assert_eq!(stat_field(io, "write_bytes:"), Some(8192));
        assert_eq!(stat_field("usage_usec x\n", "usage_usec"), None, "not a number");
    }

    fn cgroup_dir(files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for (name, text) in files {
            std::fs::write(dir.path().join(name), text).unwrap();
        }
        dir
    }

    #[test]
    fn v2_files_are_read_from_the_one_directory() {
        let me = std::process::id().to_string();
        let dir = cgroup_dir(&[
            ("cpu.stat", "usage_usec 2500\nuser_usec 2000\nsystem_usec 500\n"),
            ("memory.current", "1048576\n"),
            ("memory.peak", "4194304\n"),
            ("memory.max", "max\n"),
            ("pids.current", "3\n"),
            ("pids.max", "64\n"),
            ("cgroup.procs", &me),
        ]);
        let usage = usage_in(&[dir.path().to_path_buf()]);
        let own_io = read_bounded(Path::new("/proc/self/io"), MAX_PROC_IO_BYTES).unwrap();
        let CgroupUsage { block_read_bytes, block_write_bytes, .. } = usage;
        assert_eq!(
            usage,
            CgroupUsage {
                cpu_time_usec: Some(2500),
                memory_bytes: Some(1 << 20),
                memory_peak_bytes: Some(4 << 20),
                memory_limit_bytes: None,
                pids_current: Some(3),
                pids_limit: Some(64),
                block_read_bytes,
                block_write_bytes,
            }
        );
        // This process, read after: its count can only have grown since.
        let own_written = stat_field(&own_io, "write_bytes:").unwrap();
        assert!(block_write_bytes.expect("own io readable") <= own_written, "{usage:?}");
        assert!(block_read_bytes.is_some(), "{usage:?}");
    }

    #[test]
    fn v1_files_are_read_from_each_controller_s_directory() {
        let cpu = cgroup_dir(&[
            ("cpu.stat", "nr_periods 0\nnr_throttled 0\nthrottled_time 0\n"),
            ("cpuacct.usage", "7000000\n"),
            ("cgroup.procs", ""),
        ]);
        let memory = cgroup_dir(&[
            ("memory.usage_in_bytes", "2097152\n"),
            ("memory.max_usage_in_bytes", "8388608\n"),
            ("memory.limit_in_bytes", "268435456\n"),
        ]);
        let pids = cgroup_dir(&[("pids.current", "5\n"), ("pids.max", "max\n")]);
        let dirs: Vec<PathBuf> =
            [&cpu, &memory, &pids].iter().map(|d| d.path().to_path_buf()).collect();
        assert_eq!(
            usage_in(&dirs),
            CgroupUsage {
                cpu_time_usec: Some(7000),
                memory_bytes: Some(2 << 20),
                memory_peak_bytes: Some(8 << 20),
                memory_limit_bytes: Some(256 << 20),
                pids_current: Some(5),
                pids_limit: None,
                block_read_bytes: Some(0),
                block_write_bytes: Some(0),
            }
        );
    }

    #[test]
    fn no_limit_reads_as_none_on_both_layouts() {
        assert_eq!(parse_limit("max\n"), None);
        assert_eq!(parse_limit("9223372036854771712\n"), None);
        assert_eq!(parse_limit("67108864\n"), Some(64 << 20));
        assert_eq!(parse_limit("4096"), Some(4096));
        assert_eq!(parse_limit("garbage"), None);
    }
}
