//! Whether the kernel's OOM killer took a process: the box's OOM-kill counter
//! ([`boxlite_protocol::oom_counter`]), read when the process starts and when it ends. Taken
//! when the process ended by SIGKILL and the count rose in between.
//!
//! The shim hands the counter's file on [`fds::OOM_COUNTER`]. It is read with `pread` at
//! offset 0 into a bounded buffer: a cgroup file produces its text afresh on every such read,
//! and whatever else a launcher left there cannot make the read wait (a pipe, socket or
//! terminal refuses `pread` with ESPIPE). The reads cost a few microseconds on the runtime's
//! thread.

use std::fs::File;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::fs::FileExt;

use boxlite_protocol::launch::fds;
use boxlite_protocol::oom_counter;

use crate::reaper::ExitStatus;

/// The box's OOM-kill counter, or nothing to read (then no process is ever reported as taken).
#[derive(Debug, Default)]
pub struct OomCounter {
    file: Option<File>,
}

impl OomCounter {
    /// Takes [`fds::OOM_COUNTER`], close-on-exec so no process in the box inherits it. Not
    /// open (a launcher without it, such as the agent's own tests): no counter. Called before
    /// the agent opens anything that could land on that number.
    pub fn take() -> Self {
        if !crate::sys::is_open(fds::OOM_COUNTER) {
            return OomCounter::default();
        }
        // SAFETY: the launch contract hands us this descriptor and nothing else owns it.
        let file = File::from(unsafe { OwnedFd::from_raw_fd(fds::OOM_COUNTER) });
        if let Err(err) = crate::sys::set_cloexec(file.as_raw_fd()) {
            // Handing the box's processes a descriptor of a host file is worse than not
            // knowing: drop it.
            eprintln!("boxlite-guest: OOM counter: FD_CLOEXEC: {err}; OOM kills go unreported");
            return OomCounter::default();
        }
        OomCounter { file: Some(file) }
    }

    /// The count now; `None` when there is no counter or it cannot be read.
    pub fn read(&self) -> Option<u64> {
        let file = self.file.as_ref()?;
        let mut buf = [0u8; oom_counter::MAX_BYTES];
        let mut len = 0;
        while len < buf.len() {
            match file.read_at(&mut buf[len..], len as u64) {
                Ok(0) => break,
                Ok(n) => len += n,
                Err(err) if err.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => return None,
            }
        }
        oom_counter::parse(std::str::from_utf8(&buf[..len]).ok()?)
    }
}

/// Whether a process that ended with `status` was OOM-killed, given the count when it started
/// (`before`) and when its end was reaped (`after`). The OOM killer only ever sends SIGKILL,
/// and the kernel counts the kill before sending it.
pub fn killed(status: Option<ExitStatus>, before: Option<u64>, after: Option<u64>) -> bool {
    let by_sigkill = matches!(status, Some(ExitStatus::Signal(libc::SIGKILL)));
    by_sigkill && matches!((before, after), (Some(before), Some(after)) if after > before)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_sigkill_while_the_count_rose_is_an_oom_kill() {
        let kill = Some(ExitStatus::Signal(libc::SIGKILL));
        assert!(killed(kill, Some(0), Some(1)));
        assert!(killed(kill, Some(3), Some(5)));
        // A plain SIGKILL: the count did not move.
        assert!(!killed(kill, Some(2), Some(2)));
        // The count rose, but the process ended some other way (a shell exiting 137 for its
        // child, a SIGTERM, a normal exit).
        assert!(!killed(Some(ExitStatus::Code(137)), Some(0), Some(1)));
        assert!(!killed(Some(ExitStatus::Signal(libc::SIGTERM)), Some(0), Some(1)));
        assert!(!killed(Some(ExitStatus::Code(0)), Some(0), Some(1)));
        // No counter, or a read that failed at either end, or no status: nothing is known.
        assert!(!killed(kill, None, None));
        assert!(!killed(kill, None, Some(1)));
        assert!(!killed(kill, Some(0), None));
        assert!(!killed(None, Some(0), Some(1)));
    }

    #[test]
    fn the_count_is_read_afresh_from_offset_zero() {
        let mut file = tempfile::tempfile().expect("tempfile");
        std::io::Write::write_all(&mut file, b"oom_kill_disable 0\nunder_oom 0\noom_kill 4\n")
            .expect("write");
        let counter = OomCounter { file: Some(file.try_clone().expect("clone")) };
        assert_eq!(counter.read(), Some(4));
        // The file position moved past the end with the write; pread does not care.
        file.set_len(0).expect("truncate");
        file.write_all_at(b"oom_kill 9\n", 0).expect("rewrite");
        assert_eq!(counter.read(), Some(9));
        assert_eq!(OomCounter::default().read(), None);
    }
}
