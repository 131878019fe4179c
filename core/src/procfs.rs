//! Facts about host processes read from `/proc`, so a recorded PID is never trusted alone:
//! PIDs are reused, start times are not.

/// The state letter (field 3) and start time in clock ticks since boot (field 22) of
/// `/proc/PID/stat`, or `None` when there is no such process.
fn stat(pid: u32) -> Option<(char, u64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may contain spaces and parentheses: fields after it are
    // counted from the last ')'.
    let mut fields = stat[stat.rfind(')')? + 1..].split_whitespace();
    let state = fields.next()?.chars().next()?;
    // The state was field 3; field 22 is the 19th after it.
    let ticks = fields.nth(18)?.parse().ok()?;
    Some((state, ticks))
}

/// Start time of `pid` in clock ticks since boot, or `None` when there is no such process.
pub(crate) fn start_ticks(pid: u32) -> Option<u64> {
    stat(pid).map(|(_, ticks)| ticks)
}

/// Whether the process `pid` that started at `ticks` is still alive (and not a zombie). A pid
/// without its start time cannot be told from a reused one, so it never counts as alive (the
/// start pipeline always records both).
pub(crate) fn is_alive(pid: u32, ticks: Option<u64>) -> bool {
    let Some(ticks) = ticks else { return false };
    stat(pid).is_some_and(|(state, now)| now == ticks && state != 'Z')
}

/// Processes whose command line has `arg` as one of its arguments: how reconcile finds a shim
/// whose pid was never recorded (its host died between spawning it and persisting the pid).
/// Pids only: open each with [`crate::shim::ProcessRef::with_arg`] before acting on it.
pub(crate) fn pids_with_arg(arg: &std::path::Path) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else { return Vec::new() };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str().and_then(|n| n.parse::<u32>().ok()))
        .filter(|&pid| has_arg(pid, arg))
        .collect()
}

/// Whether the command line of `pid` has `arg` as one of its arguments (within its first
/// [`MAX_CMDLINE_BYTES`]: a box's process may have a huge one, and the shim's spec path is its
/// first argument).
pub(crate) fn has_arg(pid: u32, arg: &std::path::Path) -> bool {
    use std::io::Read;
    use std::os::unix::ffi::OsStrExt;
    let needle = arg.as_os_str().as_bytes();
    let Ok(file) = std::fs::File::open(format!("/proc/{pid}/cmdline")) else { return false };
    let mut cmdline = Vec::new();
    file.take(MAX_CMDLINE_BYTES).read_to_end(&mut cmdline).is_ok()
        && cmdline.split(|&b| b == 0).any(|a| a == needle)
}

/// How much of a command line [`has_arg`] reads.
const MAX_CMDLINE_BYTES: u64 = 64 * 1024;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_process_is_alive_with_its_ticks() {
        let me = std::process::id();
        let ticks = start_ticks(me).expect("own stat");
        assert!(is_alive(me, Some(ticks)));
        assert!(!is_alive(me, Some(ticks + 1)), "another start time is another process");
        assert!(!is_alive(me, None), "no start time, no trust");
        assert!(!is_alive(u32::MAX - 1, Some(ticks)));
    }
}
