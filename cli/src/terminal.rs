//! The host side of a `-t` command: which of our descriptors is a terminal, its window size,
//! and raw mode while keystrokes go to the box.

use std::io::IsTerminal;
use std::os::fd::{AsRawFd, RawFd};

/// The host terminal of this process: stdin when it is one, else stdout (`-t` with piped
/// input still shows the output on a terminal). `None` when neither is.
pub(crate) fn host() -> Option<RawFd> {
    if std::io::stdin().is_terminal() {
        Some(std::io::stdin().as_raw_fd())
    } else if std::io::stdout().is_terminal() {
        Some(std::io::stdout().as_raw_fd())
    } else {
        None
    }
}

/// Whether stdin is a terminal (raw mode applies to it only).
pub(crate) fn stdin_is_terminal() -> bool {
    std::io::stdin().is_terminal()
}

/// `(rows, cols)` of the terminal `fd`, or `None` when it reports no size.
pub(crate) fn window_size(fd: RawFd) -> Option<(u16, u16)> {
    // SAFETY: an all-zero winsize is a valid out value.
    let mut ws: libc::winsize = unsafe { std::mem::zeroed() };
    // SAFETY: TIOCGWINSZ writes one winsize through the pointer, which lives on this frame.
    if unsafe { libc::ioctl(fd, libc::TIOCGWINSZ, &mut ws as *mut libc::winsize) } != 0 {
        return None;
    }
    (ws.ws_row > 0 && ws.ws_col > 0).then_some((ws.ws_row, ws.ws_col))
}

/// Stdin in raw mode: every byte, Ctrl-C included, goes to the box's terminal, which does the
/// echoing and line editing. The saved settings are restored when this is dropped, so every
/// way out of a command (its end, an error, an interrupting signal, a panic) restores them.
pub(crate) struct RawMode {
    fd: RawFd,
    saved: libc::termios,
}

impl RawMode {
    /// Puts the terminal on stdin in raw mode.
    pub(crate) fn enable() -> anyhow::Result<Self> {
        let fd = std::io::stdin().as_raw_fd();
        // SAFETY: an all-zero termios is a valid out value for tcgetattr.
        let mut saved: libc::termios = unsafe { std::mem::zeroed() };
        // SAFETY: `saved` is a valid out pointer.
        if unsafe { libc::tcgetattr(fd, &mut saved) } != 0 {
            anyhow::bail!("reading the terminal settings: {}", std::io::Error::last_os_error());
        }
        let mut raw = saved;
        // SAFETY: cfmakeraw only edits the struct it is given.
        unsafe { libc::cfmakeraw(&mut raw) };
        // SAFETY: `raw` is a valid termios.
        if unsafe { libc::tcsetattr(fd, libc::TCSANOW, &raw) } != 0 {
            anyhow::bail!("putting the terminal in raw mode: {}", std::io::Error::last_os_error());
        }
        Ok(RawMode { fd, saved })
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        // SAFETY: restores the settings read in `enable` on the same descriptor. Nothing to do
        // on failure: the terminal is gone.
        unsafe { libc::tcsetattr(self.fd, libc::TCSANOW, &self.saved) };
    }
}
