//! Thin wrappers over the few raw system calls the agent needs and std does not offer.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

/// A pipe whose both ends are close-on-exec, so no concurrently spawned process inherits them.
pub fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0 as RawFd; 2];
    // SAFETY: `fds` has room for the two descriptors pipe2 writes.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: pipe2 succeeded, so both descriptors are fresh and owned by nobody else.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// Opens `/dev/null` for reading, close-on-exec (see [`open_char_device`]).
pub fn open_dev_null() -> io::Result<OwnedFd> {
    open_char_device(c"/dev/null")
}

/// Opens the character device at `path` for reading, close-on-exec. The box owns its `/dev`:
/// where the host has no node to bind there, a root workload may create the file itself, as a
/// FIFO (a plain open would wait for a writer forever) or anything else. So the open never
/// blocks, and anything but a character device is refused (ENODEV).
fn open_char_device(path: &std::ffi::CStr) -> io::Result<OwnedFd> {
    let flags = libc::O_RDONLY | libc::O_NONBLOCK | libc::O_NOCTTY | libc::O_CLOEXEC;
    // SAFETY: the path is a valid NUL-terminated string.
    let fd = unsafe { libc::open(path.as_ptr(), flags) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: open succeeded; the descriptor is ours.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    // SAFETY: fstat writes into a stat buffer we own.
    let mut stat: libc::stat = unsafe { std::mem::zeroed() };
    if unsafe { libc::fstat(fd.as_raw_fd(), &mut stat) } != 0 {
        return Err(io::Error::last_os_error());
    }
    if stat.st_mode & libc::S_IFMT != libc::S_IFCHR {
        return Err(io::Error::from_raw_os_error(libc::ENODEV));
    }
    // The process reads its stdin as usual, blocking: no status flag at all clears O_NONBLOCK.
    // SAFETY: fcntl on a descriptor we own.
    if unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETFL, 0) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(fd)
}

/// Marks a descriptor close-on-exec.
pub fn set_cloexec(fd: RawFd) -> io::Result<()> {
    // SAFETY: fcntl on an integer descriptor has no memory-safety preconditions.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFD) };
    if flags < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: as above.
    if unsafe { libc::fcntl(fd, libc::F_SETFD, flags | libc::FD_CLOEXEC) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Whether `fd` is an open descriptor.
pub fn is_open(fd: RawFd) -> bool {
    // SAFETY: F_GETFD only queries the descriptor table.
    unsafe { libc::fcntl(fd, libc::F_GETFD) >= 0 }
}

/// Sends `signal` to the process group `pgid`. A group that is already gone is not an error:
/// every caller races the group's natural end.
pub fn kill_group(pgid: libc::pid_t, signal: i32) -> io::Result<()> {
    if pgid <= 1 {
        // kill(-1) or kill(0) would hit far more than one group.
        return Err(io::Error::from_raw_os_error(libc::EINVAL));
    }
    // SAFETY: kill has no memory-safety preconditions.
    if unsafe { libc::kill(-pgid, signal) } != 0 {
        let err = io::Error::last_os_error();
        if err.raw_os_error() != Some(libc::ESRCH) {
            return Err(err);
        }
    }
    Ok(())
}

/// Whether any process is still in the group `pgid`.
pub fn group_alive(pgid: libc::pid_t) -> bool {
    // SAFETY: signal 0 only checks for existence and permission.
    let rc = unsafe { libc::kill(-pgid, 0) };
    rc == 0 || io::Error::last_os_error().raw_os_error() != Some(libc::ESRCH)
}

/// The calling thread's errno.
pub fn errno() -> i32 {
    io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fifo_in_place_of_a_device_is_refused_at_once() {
        let dir = tempfile::tempdir().expect("tempdir");
        let fifo = std::ffi::CString::new(format!("{}/null", dir.path().display())).expect("path");
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o644) }, 0, "mkfifo");
        // On a thread, bounded: the bug this guards against is an open that never returns.
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || tx.send(open_char_device(&fifo).map(drop)));
        let result = rx.recv_timeout(std::time::Duration::from_secs(10)).expect("no answer");
        assert_eq!(result.map_err(|e| e.raw_os_error()), Err(Some(libc::ENODEV)));
    }

    #[test]
    fn dev_null_opens_blocking_and_reads_eof() {
        let fd = open_dev_null().expect("/dev/null");
        // SAFETY: fcntl and read on a descriptor we own, into a buffer we own.
        let flags = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GETFL) };
        assert_eq!(flags & libc::O_NONBLOCK, 0, "the process must get a plain descriptor");
        let mut byte = 0u8;
        let n = unsafe { libc::read(fd.as_raw_fd(), (&mut byte as *mut u8).cast(), 1) };
        assert_eq!(n, 0);
    }
}
