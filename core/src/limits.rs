//! The bounds every box runs under: what the options ask for, else the defaults below. One
//! function computes them, for the shim's spec and for [`crate::BoxInfo`], so what `inspect`
//! reports is what the box got.

use serde::Serialize;

use crate::error::{Error, Result};
use crate::options::BoxOptions;

/// Memory limit of a box that asks for none (upstream BoxLite's default).
pub const DEFAULT_MEMORY_MIB: u64 = 1024;
/// Most processes and threads of a box that asks for no other bound.
pub const DEFAULT_PIDS_MAX: u64 = 4096;
/// `RLIMIT_NOFILE` of a box's processes: soft, hard.
pub const DEFAULT_NOFILE: (u64, u64) = (1024, 4096);
/// Size of one box log file, and how many are kept (the live one included).
pub const DEFAULT_LOG_MAX_SIZE_MIB: u64 = 16;
/// Files of box log kept.
pub const DEFAULT_LOG_MAX_FILES: u32 = 2;
/// Size of a box's disk, its writable layer, in GiB (upstream BoxLite's default). The image
/// is sparse: the host gives it only the blocks in use.
pub const DEFAULT_DISK_SIZE_GB: u64 = 10;

/// Largest `pids_max` accepted (the kernel's own ceiling, `PID_MAX_LIMIT`).
pub const MAX_PIDS: u64 = 4 * 1024 * 1024;
/// Largest `nofile_hard` accepted (the kernel's default `fs.nr_open`).
pub const MAX_NOFILE: u64 = 1024 * 1024;
/// Largest `log_max_size_mib` accepted.
pub const MAX_LOG_SIZE_MIB: u64 = 4096;
/// Largest `log_max_files` accepted.
pub const MAX_LOG_FILES: u32 = 100;
/// Largest `disk_size_gb` accepted (16 TiB).
pub const MAX_DISK_SIZE_GB: u64 = 16 * 1024;

/// The limits in force for a box (reported in [`crate::BoxInfo::limits`]).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct BoxLimits {
    /// Memory limit in MiB (swap not allowed).
    pub memory_mib: u64,
    /// CPU limit in cores; `None`: no quota.
    pub cpus: Option<f64>,
    /// Most processes and threads at once.
    pub pids_max: u64,
    /// `RLIMIT_NOFILE` soft limit of the box's processes.
    pub nofile_soft: u64,
    /// `RLIMIT_NOFILE` hard limit of the box's processes.
    pub nofile_hard: u64,
    /// Size of the `/tmp` tmpfs the box gets when its image has no `/tmp`, in MiB.
    pub tmp_size_mib: u64,
    /// Size of one box log file, in MiB.
    pub log_max_size_mib: u64,
    /// Box log files kept, the live one included.
    pub log_max_files: u32,
    /// Size of the box's disk, which holds its writable layer, in GiB (2^30 bytes): what the
    /// box can write beyond its image; past it, writes fail with ENOSPC inside the box.
    pub disk_size_gb: u64,
    /// The fields above that say what the box asked for but that this host does not enforce,
    /// by name: for a rootless box `memory_mib`, `cpus` (when set) and `disk_size_gb`
    /// (docs/threat-model.md, "Rootless"). Empty when every limit holds.
    pub not_enforced: Vec<&'static str>,
}

impl BoxLimits {
    /// The limits in force for a box of `opts` started by this process: what it asks for,
    /// defaults filled in, and which of them this host does not enforce.
    pub(crate) fn in_force(opts: &BoxOptions) -> Self {
        let mut limits = BoxLimits::of(opts);
        limits.not_enforced = crate::rootless::not_enforced(&limits);
        limits
    }

    /// The limits `opts` asks for, defaults filled in. Checked by [`validate`].
    pub(crate) fn of(opts: &BoxOptions) -> Self {
        let memory_mib = opts.memory_mib.unwrap_or(DEFAULT_MEMORY_MIB);
        let nofile_hard =
            opts.nofile_hard.unwrap_or(DEFAULT_NOFILE.1.max(opts.nofile_soft.unwrap_or(0)));
        BoxLimits {
            memory_mib,
            cpus: opts.cpus,
            pids_max: opts.pids_max.unwrap_or(DEFAULT_PIDS_MAX),
            nofile_soft: opts.nofile_soft.unwrap_or(DEFAULT_NOFILE.0.min(nofile_hard)),
            nofile_hard,
            // As the kernel sizes a tmpfs at half of RAM, but of the box's RAM.
            tmp_size_mib: opts.tmp_size_mib.unwrap_or((memory_mib / 2).max(1)),
            log_max_size_mib: opts.log_max_size_mib.unwrap_or(DEFAULT_LOG_MAX_SIZE_MIB),
            log_max_files: opts.log_max_files.unwrap_or(DEFAULT_LOG_MAX_FILES),
            disk_size_gb: opts.disk_size_gb.unwrap_or(DEFAULT_DISK_SIZE_GB),
            not_enforced: Vec::new(),
        }
    }
}

/// Checks the limit fields of `opts`; the error names the field and its rule.
pub(crate) fn validate(opts: &BoxOptions) -> Result<()> {
    let range = |field: &str, value: Option<u64>, min: u64, max: u64| match value {
        Some(v) if !(min..=max).contains(&v) => Err(Error::invalid_argument(format!(
            "invalid {field} {v}: must be between {min} and {max}"
        ))),
        _ => Ok(()),
    };
    range("pids_max", opts.pids_max, 1, MAX_PIDS)?;
    range("nofile_soft", opts.nofile_soft, 1, MAX_NOFILE)?;
    range("nofile_hard", opts.nofile_hard, 1, MAX_NOFILE)?;
    if let (Some(soft), Some(hard)) = (opts.nofile_soft, opts.nofile_hard) {
        if soft > hard {
            return Err(Error::invalid_argument(format!(
                "invalid nofile_soft {soft}: above nofile_hard {hard}"
            )));
        }
    }
    range("tmp_size_mib", opts.tmp_size_mib, 1, crate::options::MAX_MEMORY_MIB)?;
    range("log_max_size_mib", opts.log_max_size_mib, 1, MAX_LOG_SIZE_MIB)?;
    range("log_max_files", opts.log_max_files.map(u64::from), 1, u64::from(MAX_LOG_FILES))?;
    range("disk_size_gb", opts.disk_size_gb, 1, MAX_DISK_SIZE_GB)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_apply_when_nothing_is_asked() {
        let limits = BoxLimits::of(&BoxOptions::new("alpine"));
        assert_eq!(limits.memory_mib, DEFAULT_MEMORY_MIB);
        assert_eq!(limits.pids_max, DEFAULT_PIDS_MAX);
        assert_eq!((limits.nofile_soft, limits.nofile_hard), DEFAULT_NOFILE);
        assert_eq!(limits.tmp_size_mib, DEFAULT_MEMORY_MIB / 2);
        assert_eq!((limits.log_max_size_mib, limits.log_max_files), (16, 2));
        assert_eq!(limits.disk_size_gb, DEFAULT_DISK_SIZE_GB);
    }

    #[test]
    fn one_nofile_bound_moves_the_other_only_as_far_as_needed() {
        let soft_only = BoxOptions { nofile_soft: Some(8192), ..BoxOptions::new("a") };
        let limits = BoxLimits::of(&soft_only);
        assert_eq!((limits.nofile_soft, limits.nofile_hard), (8192, 8192));
        let hard_only = BoxOptions { nofile_hard: Some(512), ..BoxOptions::new("a") };
        let limits = BoxLimits::of(&hard_only);
        assert_eq!((limits.nofile_soft, limits.nofile_hard), (512, 512));
    }

    #[test]
    fn out_of_range_values_are_refused_by_name() {
        let base = || BoxOptions::new("alpine");
        for (opts, field) in [
            (BoxOptions { pids_max: Some(0), ..base() }, "pids_max"),
            (BoxOptions { nofile_hard: Some(MAX_NOFILE + 1), ..base() }, "nofile_hard"),
            (BoxOptions { nofile_soft: Some(10), nofile_hard: Some(5), ..base() }, "nofile_soft"),
            (BoxOptions { tmp_size_mib: Some(0), ..base() }, "tmp_size_mib"),
            (BoxOptions { log_max_files: Some(0), ..base() }, "log_max_files"),
            (BoxOptions { disk_size_gb: Some(0), ..base() }, "disk_size_gb"),
            (BoxOptions { disk_size_gb: Some(MAX_DISK_SIZE_GB + 1), ..base() }, "disk_size_gb"),
        ] {
            let err = validate(&opts).expect_err(field);
            assert!(err.to_string().contains(field), "{err}");
        }
    }
}
