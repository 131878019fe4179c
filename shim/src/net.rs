//! The box's network namespace starts with `lo` down; programs expect 127.0.0.1 to work.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use crate::error::{io_cause, StepError};

/// Sets `IFF_UP` on `lo` with the classic ioctl pair on a throwaway datagram socket.
pub fn loopback_up() -> Result<(), StepError> {
    let fail = |what: &str| StepError::new(what, io_cause(&std::io::Error::last_os_error()));
    // SAFETY: plain socket(2) call; the result is checked before use.
    let raw = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if raw < 0 {
        return Err(fail("bring up lo: socket"));
    }
    // SAFETY: `raw` is a descriptor we just opened and own exclusively.
    let sock = unsafe { OwnedFd::from_raw_fd(raw) };

    // SAFETY: `ifreq` is plain old data; all-zero is a valid value.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, src) in req.ifr_name.iter_mut().zip(b"lo\0") {
        *dst = *src as libc::c_char;
    }
    // SAFETY: SIOCGIFFLAGS reads the name from and writes the flags into `req`, which is a
    // valid, writable `ifreq` for the duration of the call.
    if unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCGIFFLAGS, &mut req) } < 0 {
        return Err(fail("bring up lo: get flags"));
    }
    // SAFETY: SIOCGIFFLAGS filled the `ifru_flags` member of the union.
    unsafe { req.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short };
    // SAFETY: as above; SIOCSIFFLAGS only reads `req`.
    if unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCSIFFLAGS, &req) } < 0 {
        return Err(fail("bring up lo: set flags"));
    }
    Ok(())
}
