//! The box's OOM-kill counter: the `oom_kill <n>` line of its memory cgroup's v2
//! `memory.events` or v1 `memory.oom_control` (v1 has it from Linux 4.13). The shim reads it
//! when the box ends, to tell an agent the OOM killer took; the agent reads it through
//! [`crate::launch::fds::OOM_COUNTER`] when an exec starts and when it ends, to tell an exec
//! the OOM killer took. The kernel raises the count before it sends its victim SIGKILL, so once
//! the victim's death is reaped the count includes it.

/// Most bytes worth reading of the counter's file: it holds a handful of short lines.
pub const MAX_BYTES: usize = 4096;

/// The count in the text of the counter's file. `None` when there is none: a v1 kernel
/// before 4.13, `/dev/null` (no memory cgroup), or a value that is not a number.
pub fn parse(text: &str) -> Option<u64> {
    text.lines().find_map(|line| match line.split_once(' ') {
        Some(("oom_kill", count)) => count.trim().parse().ok(),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn the_oom_kill_counter_is_read_from_either_layout() {
        let v2 = "low 0\nhigh 0\nmax 212\noom 12\noom_kill 51\noom_group_kill 0\n";
        assert_eq!(parse(v2), Some(51));
        let v1 = "oom_kill_disable 0\nunder_oom 0\noom_kill 7\n";
        assert_eq!(parse(v1), Some(7));
        // A v1 kernel before 4.13, /dev/null, and a counter that is not a number tell nothing.
        assert_eq!(parse("oom_kill_disable 0\nunder_oom 0\n"), None);
        assert_eq!(parse(""), None);
        assert_eq!(parse("oom_kill x\n"), None);
    }
}
