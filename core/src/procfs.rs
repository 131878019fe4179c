//! Facts about host processes read from `/proc`, so a recorded PID is never trusted alone:
//! PIDs are reused, start times are not.

/// Fields 3 onwards of `/proc/PID/stat` (the state letter first), or `None` when there is no
/// such process.
fn stat_fields(pid: u32) -> Option<Vec<String>> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may contain spaces and parentheses: fields after it are
    // counted from the last ')'.
    Some(stat[stat.rfind(')')? + 1..].split_whitespace().map(str::to_owned).collect())
}

/// The state letter (field 3) and start time in clock ticks since boot (field 22) of
/// `/proc/PID/stat`, or `None` when there is no such process.
fn stat(pid: u32) -> Option<(char, u64)> {
    let fields = stat_fields(pid)?;
    let state = fields.first()?.chars().next()?;
    // Field 22 is the 20th from field 3.
    let ticks = fields.get(19)?.parse().ok()?;
    Some((state, ticks))
}

/// Every pid in `/proc`.
fn pids() -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else { return Vec::new() };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str().and_then(|n| n.parse::<u32>().ok()))
        .collect()
}

/// Start time of `pid` in clock ticks since boot, or `None` when there is no such process.
pub(crate) fn start_ticks(pid: u32) -> Option<u64> {
    stat(pid).map(|(_, ticks)| ticks)
}

/// Seconds from a process start time in clock ticks since boot (`/proc/PID/stat` field 22)
/// until now, or `None` when the clock cannot be read.
pub(crate) fn seconds_since(ticks: u64) -> Option<f64> {
    let uptime = std::fs::read_to_string("/proc/uptime").ok()?;
    let uptime: f64 = uptime.split_whitespace().next()?.parse().ok()?;
    // SAFETY: sysconf reads a constant of the system; it has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    (hz > 0).then(|| (uptime - ticks as f64 / hz as f64).max(0.0))
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
    pids().into_iter().filter(|&pid| has_arg(pid, arg)).collect()
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
/// How much of `/proc/PID/net/dev` [`net_dev`] reads: a line per interface of the box's
/// namespace, and the box decides how many it has.
const MAX_NET_DEV_BYTES: u64 = 64 * 1024;

/// The children of `pid`: from `/proc/PID/task/PID/children` (the processes its main thread
/// forked), else, on a kernel without that file, from every process's parent pid.
pub(crate) fn children(pid: u32) -> Vec<u32> {
    if let Ok(text) = std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")) {
        return text.split_whitespace().filter_map(|p| p.parse().ok()).collect();
    }
    pids().into_iter().filter(|&child| parent(child) == Some(pid)).collect()
}

/// The parent pid (field 4 of `/proc/PID/stat`).
fn parent(pid: u32) -> Option<u32> {
    stat_fields(pid)?.get(1)?.parse().ok()
}

/// The kernel's counters of one interface, from the receiver's and the sender's side.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct NetCounters {
    pub(crate) rx_bytes: u64,
    pub(crate) rx_packets: u64,
    pub(crate) tx_bytes: u64,
    pub(crate) tx_packets: u64,
}

/// The counters of interface `ifname` in the network namespace of `pid`, or `None` when the
/// process or the interface is gone.
pub(crate) fn net_dev(pid: u32, ifname: &str) -> Option<NetCounters> {
    use std::io::Read;
    let file = std::fs::File::open(format!("/proc/{pid}/net/dev")).ok()?;
    let mut text = String::new();
    file.take(MAX_NET_DEV_BYTES).read_to_string(&mut text).ok()?;
    parse_net_dev(&text, ifname)
}

/// `/proc/net/dev`: two header lines, then `NAME: rx_bytes rx_packets errs drop fifo frame
/// compressed multicast tx_bytes tx_packets …` per interface.
fn parse_net_dev(text: &str, ifname: &str) -> Option<NetCounters> {
    text.lines().skip(2).find_map(|line| {
        let (name, fields) = line.split_once(':')?;
        if name.trim() != ifname {
            return None;
        }
        let n: Vec<u64> =
            fields.split_whitespace().map(|f| f.parse().ok()).collect::<Option<_>>()?;
        Some(NetCounters {
            rx_bytes: *n.first()?,
            rx_packets: *n.get(1)?,
            tx_bytes: *n.get(8)?,
            tx_packets: *n.get(9)?,
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn net_dev_lines_give_the_interface_s_counters() {
        let text =
            "Inter-|   Receive                                                |  Transmit\n \
                    face |bytes    packets errs drop fifo frame compressed multicast|bytes    \
                    packets errs drop fifo colls carrier compressed\n    \
                    lo:       0       0    0    0    0     0          0         0        0 \
                    0    0    0    0     0       0          0\n  \
                    eth0: 3001234    2100    0    0    0     0          0         0    51234 \
                    700    0    0    0     0       0          0\n";
        let want =
            NetCounters { rx_bytes: 3001234, rx_packets: 2100, tx_bytes: 51234, tx_packets: 700 };
        assert_eq!(parse_net_dev(text, "eth0"), Some(want));
        assert_eq!(parse_net_dev(text, "eth1"), None);
        assert_eq!(parse_net_dev("h\nh\neth0: 1 2 x\n", "eth0"), None, "a field is not a number");
    }

    #[test]
    fn a_child_names_its_parent() {
        let mut child = std::process::Command::new("sleep").arg("5").spawn().unwrap();
        let parent_of_child = parent(child.id());
        child.kill().unwrap();
        child.wait().unwrap();
        assert_eq!(parent_of_child, Some(std::process::id()));
    }

    #[test]
    fn own_process_is_alive_with_its_ticks() {
        let me = std::process::id();
        let ticks = start_ticks(me).expect("own stat");
        assert!(is_alive(me, Some(ticks)));
        assert!(!is_alive(me, Some(ticks + 1)), "another start time is another process");
        assert!(!is_alive(me, None), "no start time, no trust");
        assert!(!is_alive(u32::MAX - 1, Some(ticks)));
        let age = seconds_since(ticks).expect("uptime readable");
        assert!((0.0..86_400.0 * 365.0).contains(&age), "this test process is {age} s old");
    }
}
