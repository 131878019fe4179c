//! `wait_for_guest_ready`: returns when the agent writes its ready line, as soon as the shim
//! dies, or at the timeout — and when it fails, says why in terms a user can act on.

use std::os::fd::{AsRawFd, OwnedFd};
use std::path::PathBuf;
use std::process::ChildStdout;
use std::time::{Duration, Instant};

use boxlite_protocol::launch::READY_LINE;
use tokio::io::AsyncReadExt;
use tokio::net::unix::pipe;

use crate::shim::ShimHandle;

/// What the diagnosis may look at.
pub(crate) struct ReadyContext {
    pub(crate) box_id: String,
    pub(crate) log_path: PathBuf,
    pub(crate) socket_path: PathBuf,
}

/// How many bytes of the box log a readiness error quotes (read from the end of the live
/// file: a log may be as large as its bound, and only its last lines name the cause).
const LOG_TAIL_BYTES: u64 = 2048;

enum Outcome {
    Ready,
    /// The pipe closed (or said something else) before the ready line.
    PipeClosed(String),
    ShimExited,
    TimedOut,
}

/// Waits for the ready line on `ready`. Errors are full sentences for `error_reason`.
pub(crate) async fn wait_for_guest_ready(
    ready: ChildStdout,
    shim: &ShimHandle,
    timeout: Duration,
    ctx: &ReadyContext,
) -> Result<(), String> {
    let started = Instant::now();
    let outcome = match into_async(ready) {
        Ok(mut pipe) => {
            tokio::select! {
                read = read_ready_line(&mut pipe) => match read {
                    Ok(line) if line == READY_LINE => Outcome::Ready,
                    Ok(line) => Outcome::PipeClosed(line),
                    Err(e) => Outcome::PipeClosed(format!("read error: {e}")),
                },
                _ = shim.wait() => Outcome::ShimExited,
                _ = tokio::time::sleep(timeout) => Outcome::TimedOut,
            }
        }
        Err(e) => return Err(format!("box {}: readiness pipe unusable: {e}", ctx.box_id)),
    };
    if let Outcome::Ready = outcome {
        return Ok(());
    }
    // The agent's pipe closing usually means the shim is about to exit with the reason in the
    // log: give it a moment (bounded) so the diagnosis sees the final state.
    if let Outcome::PipeClosed(_) = outcome {
        let _ = tokio::time::timeout(Duration::from_secs(2), shim.wait()).await;
    }
    Err(diagnose(&outcome, shim, timeout, started.elapsed(), ctx))
}

fn into_async(ready: ChildStdout) -> std::io::Result<pipe::Receiver> {
    let fd = OwnedFd::from(ready);
    // SAFETY: fcntl on an fd we own.
    unsafe {
        let flags = libc::fcntl(fd.as_raw_fd(), libc::F_GETFL);
        if flags < 0 || libc::fcntl(fd.as_raw_fd(), libc::F_SETFL, flags | libc::O_NONBLOCK) < 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    pipe::Receiver::from_owned_fd(fd)
}

/// Reads until a newline or EOF (at most a few bytes: the protocol's line is short).
async fn read_ready_line(pipe: &mut pipe::Receiver) -> std::io::Result<String> {
    let mut line = Vec::new();
    let mut byte = [0u8; 1];
    while line.len() < 64 {
        if pipe.read(&mut byte).await? == 0 {
            break;
        }
        line.push(byte[0]);
        if byte[0] == b'\n' {
            break;
        }
    }
    Ok(String::from_utf8_lossy(&line).into_owned())
}

fn diagnose(
    outcome: &Outcome,
    shim: &ShimHandle,
    timeout: Duration,
    waited: Duration,
    ctx: &ReadyContext,
) -> String {
    let (log_bytes, tail) =
        crate::logs::tail_bytes(&ctx.log_path, LOG_TAIL_BYTES).unwrap_or_default();
    let socket_present = ctx.socket_path.exists();
    let shim_state = match shim.status() {
        Some(status) => format!("shim (pid {}) exited ({status})", shim.pid()),
        None => format!("shim (pid {}) is alive", shim.pid()),
    };
    let (what, cause) = match outcome {
        Outcome::TimedOut => (
            format!("did not become ready within {:.1}s", timeout.as_secs_f64()),
            if socket_present {
                "the guest agent started but never served; is BOXLITE_GUEST a boxlite-guest \
                 binary of this version?"
            } else {
                "the shim never got as far as binding the agent socket"
            },
        ),
        Outcome::ShimExited | Outcome::PipeClosed(_) if shim.status().is_some() => (
            format!("failed to start: the shim exited after {:.0} ms", waited.as_secs_f64() * 1e3),
            "box setup failed; the log tail below names the step",
        ),
        _ => (
            "failed to start: the guest agent exited before it was ready".to_string(),
            "the guest agent crashed or could not run in this image (it must be static)",
        ),
    };
    let said = match outcome {
        Outcome::PipeClosed(line) if !line.is_empty() => format!("; agent wrote {line:?}"),
        _ => String::new(),
    };
    let tail = String::from_utf8_lossy(&tail).trim().replace('\n', " | ");
    format!(
        "box {} {what}: {shim_state}; log: {} bytes; agent socket {}{said}; likely cause: \
         {cause}; log tail: {}",
        ctx.box_id,
        log_bytes,
        if socket_present { "present" } else { "absent" },
        if tail.is_empty() { "(empty)".to_string() } else { tail },
    )
}
