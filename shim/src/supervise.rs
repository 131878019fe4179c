//! The shim's event loop while the box runs: one `poll()` over a signalfd, the host's liveness
//! pipe, the box's console, the report pipe and (until written) the config pipe. No sleeps, no
//! threads.

use std::os::fd::{AsFd, OwnedFd};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{kill, SigHandler, SigSet, SigmaskHow, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::{read, write, Pid};

use crate::error::{Step, StepError};
use crate::exit_record::AgentEnd;
use crate::{console, log};

/// A report larger than this is not a report; the rest is dropped.
const MAX_REPORT: usize = 64 * 1024;
/// Console bytes copied per wakeup before the loop looks at its other descriptors again.
const CONSOLE_BYTES_PER_WAKEUP: usize = 256 * 1024;
/// Console bytes copied once the agent is reaped. Its pid namespace is gone, so no writer is
/// left and this only empties the pipe, whose capacity an unprivileged box can raise to 1 MiB
/// (`pipe-max-size`).
const CONSOLE_DRAIN_BYTES: usize = 4 * 1024 * 1024;
/// After the stop grace period the agent gets this much longer before SIGKILL: its own grace
/// (SIGTERM to the box's processes, wait, SIGKILL) runs first and takes the full grace.
const KILL_MARGIN: Duration = Duration::from_millis(1000);
/// Stands in for a grace period beyond what `Instant` can represent.
const FOREVER: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

/// The signals the loop handles; blocked for the whole life of the shim, from its first line.
pub fn handled_signals() -> SigSet {
    let mut set = SigSet::empty();
    for signal in [Signal::SIGCHLD, Signal::SIGTERM, Signal::SIGINT] {
        set.add(signal);
    }
    set
}

/// Blocks the handled signals so they queue for the signalfd instead of killing the shim (a
/// SIGTERM during setup must still lead to a clean stop and an exit record).
///
/// Their dispositions are reset first: an ignored disposition survives exec, and the host (or
/// a shell that started it in the background) may have ignored them. An ignored signal is
/// discarded before it can queue, and an ignored SIGCHLD even makes the kernel reap the agent
/// itself, so the shim would never learn how it ended.
pub fn block_signals(set: &SigSet) -> Result<(), StepError> {
    for signal in set.iter() {
        // SAFETY: installs the default disposition; no handler function runs in this process.
        unsafe { nix::sys::signal::signal(signal, SigHandler::SigDfl) }
            .step(|| format!("reset the disposition of {signal}"))?;
    }
    nix::sys::signal::sigprocmask(SigmaskHow::SIG_BLOCK, Some(set), None)
        .step(|| "block signals".to_string())
}

/// Opens the signalfd for the blocked signals.
pub fn signal_fd(set: &SigSet) -> Result<SignalFd, StepError> {
    SignalFd::with_flags(set, SfdFlags::SFD_CLOEXEC | SfdFlags::SFD_NONBLOCK)
        .step(|| "create signalfd".to_string())
}

/// What the loop watches.
pub struct Supervisor<'a> {
    /// For log lines.
    pub box_id: &'a str,
    /// The agent (PID 1 of the box).
    pub agent: Pid,
    /// SIGCHLD, SIGTERM, SIGINT.
    pub signals: SignalFd,
    /// The host's liveness pipe, watched only for a box that is not detached.
    pub liveness: Option<OwnedFd>,
    /// The console pipe's read end (non-blocking), copied into the box log; `None` at EOF.
    pub console: Option<OwnedFd>,
    /// The report pipe's read end (non-blocking).
    pub report: OwnedFd,
    /// The config pipe's write end (non-blocking) and the bytes still to write.
    pub config: Option<(OwnedFd, Vec<u8>)>,
    /// The box's stop grace period.
    pub stop_grace: Duration,
}

/// How the agent ended, and what it said.
#[derive(Debug)]
pub struct Ended {
    /// From `waitpid`.
    pub end: AgentEnd,
    /// Everything read from the report pipe.
    pub report: Vec<u8>,
    /// Set when the agent ignored SIGTERM and was killed: how long the shim waited.
    pub forced_kill: Option<Duration>,
}

/// A graceful stop in progress: when the agent gets SIGKILL, and whether it did.
struct Stopping {
    kill_at: Instant,
    waited: Duration,
    killed: bool,
}

impl Supervisor<'_> {
    /// Runs until the agent is reaped.
    pub fn run(mut self) -> Ended {
        self.write_config();
        let mut report = Vec::new();
        let mut report_open = true;
        let mut stopping: Option<Stopping> = None;
        loop {
            let timeout = match &stopping {
                Some(stop) if !stop.killed => millis_until(stop.kill_at),
                _ => PollTimeout::NONE,
            };
            let polled = {
                let mut fds = vec![PollFd::new(self.signals.as_fd(), PollFlags::POLLIN)];
                let liveness_at = self.liveness.as_ref().map(|fd| {
                    fds.push(PollFd::new(fd.as_fd(), PollFlags::POLLIN));
                    fds.len() - 1
                });
                let console_at = self.console.as_ref().map(|fd| {
                    fds.push(PollFd::new(fd.as_fd(), PollFlags::POLLIN));
                    fds.len() - 1
                });
                let report_at = report_open.then(|| {
                    fds.push(PollFd::new(self.report.as_fd(), PollFlags::POLLIN));
                    fds.len() - 1
                });
                let config_at = self.config.as_ref().map(|(fd, _)| {
                    fds.push(PollFd::new(fd.as_fd(), PollFlags::POLLOUT));
                    fds.len() - 1
                });
                match poll(&mut fds, timeout) {
                    Ok(_) | Err(Errno::EINTR) => {
                        let fired = |at: Option<usize>| {
                            at.and_then(|i| fds[i].revents()).is_some_and(|r| !r.is_empty())
                        };
                        Ok([
                            fired(Some(0)),
                            fired(liveness_at),
                            fired(console_at),
                            fired(report_at),
                            fired(config_at),
                        ])
                    }
                    Err(errno) => Err(errno),
                }
            };
            let [signals_ready, liveness_ready, console_ready, report_ready, config_ready] =
                match polled {
                    Ok(fired) => fired,
                    Err(errno) => return self.abandon(&format!("poll: {}", errno.desc())),
                };

            if signals_ready {
                while let Ok(Some(info)) = self.signals.read_signal() {
                    let signo = info.ssi_signo as i32;
                    if signo == libc::SIGTERM || signo == libc::SIGINT {
                        let name = if signo == libc::SIGTERM { "SIGTERM" } else { "SIGINT" };
                        self.begin_stop(&mut stopping, &format!("received {name}"));
                    }
                    // SIGCHLD: the waitpid below runs on every wakeup anyway.
                }
            }
            if liveness_ready && self.host_gone() {
                self.liveness = None;
                self.begin_stop(&mut stopping, "the host process is gone (liveness pipe closed)");
            }
            if console_ready {
                self.copy_console(CONSOLE_BYTES_PER_WAKEUP);
            }
            if report_ready {
                report_open = drain(&self.report, &mut report);
            }
            if config_ready {
                self.write_config();
            }
            if let Some(end) = self.try_reap() {
                self.copy_console(CONSOLE_DRAIN_BYTES);
                if report_open {
                    drain(&self.report, &mut report);
                }
                let forced_kill = stopping.filter(|s| s.killed).map(|s| s.waited);
                return Ended { end, report, forced_kill };
            }
            if let Some(stop) = stopping.as_mut().filter(|s| !s.killed) {
                if Instant::now() >= stop.kill_at {
                    log::line(
                        self.box_id,
                        format!(
                            "guest agent still running {} ms after SIGTERM; sending SIGKILL",
                            stop.waited.as_millis()
                        ),
                    );
                    let _ = kill(self.agent, Signal::SIGKILL);
                    stop.killed = true;
                }
            }
        }
    }

    /// SIGTERM to the agent (which stops the box's processes itself), SIGKILL later if needed.
    fn begin_stop(&self, stopping: &mut Option<Stopping>, reason: &str) {
        if stopping.is_some() {
            return;
        }
        log::line(self.box_id, format!("stopping the box: {reason}"));
        // The agent may already be a zombie; kill() still succeeds on it until it is reaped.
        let _ = kill(self.agent, Signal::SIGTERM);
        let waited = self.stop_grace.saturating_add(KILL_MARGIN);
        // A grace period too long to represent as an Instant means "wait for the agent".
        let now = Instant::now();
        let kill_at = now.checked_add(waited).unwrap_or_else(|| now + FOREVER);
        *stopping = Some(Stopping { kill_at, waited, killed: false });
    }

    /// Copies up to `max_bytes` of the box's console into its log; forgets the pipe at EOF.
    fn copy_console(&mut self, max_bytes: usize) {
        if let Some(fd) = &self.console {
            if !console::copy(fd, max_bytes) {
                self.console = None;
            }
        }
    }

    /// Reads what the host wrote (nothing is expected); true once the pipe is at EOF or broken.
    fn host_gone(&self) -> bool {
        let Some(fd) = self.liveness.as_ref() else { return false };
        let mut buf = [0u8; 64];
        match read(fd.as_fd(), &mut buf) {
            Ok(0) => true,
            Ok(_) | Err(Errno::EAGAIN) | Err(Errno::EINTR) => false,
            Err(_) => true,
        }
    }

    /// Writes as much of the config as the pipe takes; drops the write end when done (the
    /// agent reads to EOF) or when the agent is gone (EPIPE).
    fn write_config(&mut self) {
        let Some((fd, pending)) = self.config.as_mut() else { return };
        while !pending.is_empty() {
            match write(fd.as_fd(), pending) {
                Ok(n) => {
                    pending.drain(..n);
                }
                Err(Errno::EINTR) => continue,
                Err(Errno::EAGAIN) => return,
                Err(errno) => {
                    // EPIPE: the agent died before reading; the reap explains why.
                    if errno != Errno::EPIPE {
                        log::line(self.box_id, format!("write config: {}", errno.desc()));
                    }
                    break;
                }
            }
        }
        self.config = None;
    }

    fn try_reap(&self) -> Option<AgentEnd> {
        match waitpid(self.agent, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::Exited(_, code)) => Some(AgentEnd::Exited(code)),
            Ok(WaitStatus::Signaled(_, signal, _)) => Some(AgentEnd::Signaled(signal as i32)),
            Ok(_) => None,
            Err(Errno::EINTR) => None,
            Err(errno) => Some(AgentEnd::Lost(format!("waitpid: {}", errno.desc()))),
        }
    }

    /// The loop cannot go on: kill the box and collect the agent.
    fn abandon(mut self, why: &str) -> Ended {
        log::line(self.box_id, format!("supervision failed ({why}); killing the box"));
        let _ = kill(self.agent, Signal::SIGKILL);
        let end = loop {
            match waitpid(self.agent, None) {
                Ok(WaitStatus::Exited(_, code)) => break AgentEnd::Exited(code),
                Ok(WaitStatus::Signaled(_, signal, _)) => break AgentEnd::Signaled(signal as i32),
                Ok(_) | Err(Errno::EINTR) => continue,
                Err(errno) => break AgentEnd::Lost(format!("waitpid: {}", errno.desc())),
            }
        };
        self.copy_console(CONSOLE_DRAIN_BYTES);
        let mut report = Vec::new();
        drain(&self.report, &mut report);
        Ended { end, report, forced_kill: None }
    }
}

/// Reads what is available from the non-blocking report pipe; false once it is at EOF.
fn drain(fd: &OwnedFd, into: &mut Vec<u8>) -> bool {
    let mut buf = [0u8; 4096];
    loop {
        match read(fd.as_fd(), &mut buf) {
            Ok(0) => return false,
            Ok(n) => {
                let room = MAX_REPORT.saturating_sub(into.len());
                into.extend_from_slice(&buf[..n.min(room)]);
            }
            Err(Errno::EINTR) => continue,
            Err(Errno::EAGAIN) => return true,
            Err(_) => return false,
        }
    }
}

/// A poll timeout that ends no earlier than `deadline` (rounded up to whole milliseconds).
fn millis_until(deadline: Instant) -> PollTimeout {
    let left = deadline.saturating_duration_since(Instant::now());
    let ms = left.as_micros().div_ceil(1000);
    PollTimeout::try_from(ms).unwrap_or(PollTimeout::MAX)
}
