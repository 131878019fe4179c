//! The pseudo-terminal of a tty exec. The agent opens the pair; the child gets the slave side
//! as stdin, stdout, stderr and controlling terminal (see [`crate::child`]); the agent keeps
//! the master side to read the output from, write the input to and set the window size on.

use std::ffi::CStr;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use tokio::io::unix::AsyncFd;

use crate::output::CHUNK;

/// Rows and columns of a terminal window.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WindowSize {
    pub rows: u16,
    pub cols: u16,
}

impl WindowSize {
    /// What a terminal of unknown size is taken to be.
    const DEFAULT: WindowSize = WindowSize { rows: 24, cols: 80 };

    /// The initial size an exec asks for: 0 picks the default for that dimension. `None` when
    /// either does not fit a terminal's 16 bits.
    pub fn initial(rows: u32, cols: u32) -> Option<Self> {
        let pick = |value: u32, default: u16| match value {
            0 => Some(default),
            value => u16::try_from(value).ok(),
        };
        Some(WindowSize {
            rows: pick(rows, Self::DEFAULT.rows)?,
            cols: pick(cols, Self::DEFAULT.cols)?,
        })
    }

    /// A resize: both positive and within 16 bits, else `None`.
    pub fn resize(rows: u32, cols: u32) -> Option<Self> {
        let rows = u16::try_from(rows).ok().filter(|&r| r > 0)?;
        let cols = u16::try_from(cols).ok().filter(|&c| c > 0)?;
        Some(WindowSize { rows, cols })
    }
}

/// Both sides of a new terminal, close-on-exec so no other spawn inherits them.
pub struct Pair {
    pub master: OwnedFd,
    pub slave: OwnedFd,
}

/// Opens a terminal of `size`. Neither side becomes the agent's controlling terminal.
pub fn open(size: WindowSize) -> io::Result<Pair> {
    // SAFETY: posix_openpt only takes flags.
    let fd = unsafe { libc::posix_openpt(libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC) };
    if fd < 0 {
        return Err(with_context("opening /dev/ptmx"));
    }
    // SAFETY: posix_openpt succeeded; the descriptor is ours.
    let master = unsafe { OwnedFd::from_raw_fd(fd) };
    // SAFETY: grantpt/unlockpt act on the descriptor only (glibc's grantpt runs no helper on
    // Linux: devpts sets the owner at open).
    if unsafe { libc::grantpt(fd) } != 0 {
        return Err(with_context("grantpt"));
    }
    // SAFETY: as above.
    if unsafe { libc::unlockpt(fd) } != 0 {
        return Err(with_context("unlockpt"));
    }
    let mut name = [0 as libc::c_char; 64];
    // SAFETY: the buffer and its length match; ptsname_r NUL-terminates on success.
    let rc = unsafe { libc::ptsname_r(fd, name.as_mut_ptr(), name.len()) };
    if rc != 0 {
        return Err(context(io::Error::from_raw_os_error(rc), "ptsname"));
    }
    // SAFETY: NUL-terminated by ptsname_r, within the buffer.
    let path = unsafe { CStr::from_ptr(name.as_ptr()) };
    // SAFETY: a valid path; flags only.
    let slave_fd =
        unsafe { libc::open(path.as_ptr(), libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC) };
    if slave_fd < 0 {
        let err = io::Error::last_os_error();
        return Err(context(err, &format!("opening {}", path.to_string_lossy())));
    }
    // SAFETY: open succeeded; the descriptor is ours.
    let slave = unsafe { OwnedFd::from_raw_fd(slave_fd) };
    set_size(master.as_raw_fd(), size).map_err(|e| context(e, "setting the window size"))?;
    Ok(Pair { master, slave })
}

/// Makes `uid` the owner of the terminal `slave`, as a login does: the process then owns the
/// device it runs on (its mode, `mesg`, programs that check the owner).
pub fn give_to(slave: &OwnedFd, uid: libc::uid_t) -> io::Result<()> {
    // SAFETY: fchown on a descriptor we own; gid -1 leaves the group.
    if unsafe { libc::fchown(slave.as_raw_fd(), uid, libc::gid_t::MAX) } != 0 {
        let err = io::Error::last_os_error();
        return Err(context(err, &format!("giving the terminal to uid {uid}")));
    }
    Ok(())
}

/// TIOCSWINSZ: the kernel sends SIGWINCH to the terminal's foreground group when it changes.
fn set_size(fd: RawFd, size: WindowSize) -> io::Result<()> {
    let ws = libc::winsize { ws_row: size.rows, ws_col: size.cols, ws_xpixel: 0, ws_ypixel: 0 };
    // SAFETY: TIOCSWINSZ reads one winsize from the pointer, which lives on this frame.
    if unsafe { libc::ioctl(fd, libc::TIOCSWINSZ, &ws as *const libc::winsize) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// The agent's side of a terminal, shared by the output pump, WriteStdin and ResizeTty.
pub struct Master {
    fd: AsyncFd<OwnedFd>,
}

impl Master {
    /// Registers `fd` with the runtime (non-blocking from here on). Needs the runtime's context.
    pub fn new(fd: OwnedFd) -> io::Result<Self> {
        // SAFETY: fcntl on a descriptor we own; O_NONBLOCK is per open file, so the child's
        // slave side is unaffected.
        let flags = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GETFL) };
        if flags < 0
            || unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETFL, flags | libc::O_NONBLOCK) } < 0
        {
            return Err(with_context("making the terminal non-blocking"));
        }
        // SAFETY: the OwnedFd is moved in, so the descriptor stays open and the same until the
        // AsyncFd is dropped.
        let fd = unsafe { AsyncFd::register(fd) }.map_err(io::Error::from)?;
        Ok(Master { fd })
    }

    /// The next chunk of output, allocated once data is ready; `None` at EOF. Linux answers
    /// EIO on the master once every descriptor of the slave side is closed, after the data
    /// written before that has been read: that is this terminal's end of file.
    pub async fn read(&self) -> io::Result<Option<Vec<u8>>> {
        loop {
            let mut guard = self.fd.readable().await?;
            let mut buf = vec![0u8; CHUNK];
            // SAFETY: reads at most `buf.len()` bytes into `buf`.
            let read = guard.try_io(|fd| {
                let n = unsafe { libc::read(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
                if n < 0 {
                    Err(io::Error::last_os_error())
                } else {
                    Ok(n as usize)
                }
            });
            match read {
                Ok(Ok(0)) => return Ok(None),
                Ok(Ok(n)) => {
                    buf.truncate(n);
                    buf.shrink_to_fit();
                    return Ok(Some(buf));
                }
                Ok(Err(err)) if err.raw_os_error() == Some(libc::EIO) => return Ok(None),
                Ok(Err(err)) if err.kind() == io::ErrorKind::Interrupted => {}
                Ok(Err(err)) => return Err(err),
                // Not ready after all: the guard cleared the readiness, wait again.
                Err(_would_block) => {}
            }
        }
    }

    /// Writes all of `data` as typed input; waits while the terminal's input queue is full.
    pub async fn write_all(&self, mut data: &[u8]) -> io::Result<()> {
        while !data.is_empty() {
            let mut guard = self.fd.writable().await?;
            // SAFETY: writes at most `data.len()` bytes from `data`.
            let written = guard.try_io(|fd| {
                let n = unsafe { libc::write(fd.as_raw_fd(), data.as_ptr().cast(), data.len()) };
                if n < 0 {
                    Err(io::Error::last_os_error())
                } else {
                    Ok(n as usize)
                }
            });
            match written {
                Ok(Ok(n)) => data = &data[n..],
                Ok(Err(err)) if err.kind() == io::ErrorKind::Interrupted => {}
                Ok(Err(err)) => return Err(err),
                Err(_would_block) => {}
            }
        }
        Ok(())
    }

    /// Sets the window size (the process gets SIGWINCH).
    pub fn resize(&self, size: WindowSize) -> io::Result<()> {
        set_size(self.fd.get_ref().as_raw_fd(), size)
    }

    /// What typing end-of-file is on this terminal now: its VEOF character, twice when a
    /// partial line is pending in canonical mode (the first only completes that line). Empty
    /// when the terminal has no EOF character.
    pub fn end_of_file(&self, line_pending: bool) -> io::Result<Vec<u8>> {
        // SAFETY: an all-zero termios is a valid out value for tcgetattr.
        let mut termios: libc::termios = unsafe { std::mem::zeroed() };
        // SAFETY: the master shares the slave's settings; `termios` is a valid out pointer.
        if unsafe { libc::tcgetattr(self.fd.get_ref().as_raw_fd(), &mut termios) } != 0 {
            return Err(io::Error::last_os_error());
        }
        let eof = termios.c_cc[libc::VEOF];
        // _POSIX_VDISABLE is 0 on Linux.
        if eof == 0 {
            return Ok(Vec::new());
        }
        let canonical = termios.c_lflag & libc::ICANON != 0;
        Ok(if canonical && line_pending { vec![eof, eof] } else { vec![eof] })
    }
}

/// The calling thread's last error, prefixed with `what`.
fn with_context(what: &'static str) -> io::Error {
    context(io::Error::last_os_error(), what)
}

fn context(err: io::Error, what: &str) -> io::Error {
    io::Error::new(err.kind(), format!("{what}: {err}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_picks_the_default_and_oversized_is_refused() {
        assert_eq!(WindowSize::initial(0, 0), Some(WindowSize { rows: 24, cols: 80 }));
        assert_eq!(WindowSize::initial(40, 0), Some(WindowSize { rows: 40, cols: 80 }));
        assert_eq!(WindowSize::initial(0, 70_000), None);
        assert_eq!(WindowSize::resize(40, 100), Some(WindowSize { rows: 40, cols: 100 }));
        assert_eq!(WindowSize::resize(0, 100), None);
        assert_eq!(WindowSize::resize(40, 65_536), None);
    }
}
