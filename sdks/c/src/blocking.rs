//! The library's tokio runtime: C calls are blocking, core's box operations are async, so every
//! exported function that waits runs its future here with [`block_on`]. One runtime for the
//! process, made on first use and never dropped: handles may outlive the `BoxliteRuntime` they
//! came from, and a runtime dropped from one of its own threads would panic.
//!
//! SIGPIPE: a Rust program ignores it, but a C program that loads this library usually keeps
//! the default action, which kills the process when a write meets a closed socket (an agent
//! that went away mid-call). The signal a write raises goes to the writing thread, so the
//! library blocks it on its own threads and, while a call runs, on the caller's; the write
//! then fails with EPIPE, which core reports as an error. The program's own disposition is
//! never changed.

use std::future::Future;
use std::sync::OnceLock;
use std::time::Duration;

use boxlite_core::{Error, ErrorKind};

/// Worker threads of the runtime. Core's work is I/O waits (gRPC to the agents, pidfds), not
/// computation, so two serve any number of boxes.
const WORKER_THREADS: usize = 2;

fn runtime() -> Result<&'static tokio::runtime::Runtime, Error> {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    if let Some(rt) = RUNTIME.get() {
        return Ok(rt);
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(WORKER_THREADS)
        .thread_name("boxlite-io")
        .on_thread_start(|| {
            block_sigpipe();
        })
        .enable_all()
        .build()
        .map_err(|e| Error::new(ErrorKind::Io, format!("start the boxlite I/O runtime: {e}")))?;
    // A concurrent first call may have won; its runtime is as good as ours.
    Ok(RUNTIME.get_or_init(|| rt))
}

/// A handle to the runtime, for spawning tasks that outlive the call.
pub(crate) fn handle() -> Result<tokio::runtime::Handle, Error> {
    runtime().map(|rt| rt.handle().clone())
}

/// Runs `fut` to completion on the library's runtime, blocking the calling thread.
pub(crate) fn block_on<F: Future>(fut: F) -> Result<F::Output, Error> {
    let rt = runtime()?;
    let _sigpipe = SigpipeBlocked::new();
    Ok(rt.block_on(fut))
}

/// Blocks SIGPIPE for the calling thread for good (the library's own threads), returning the
/// previous mask.
pub(crate) fn block_sigpipe() -> libc::sigset_t {
    // SAFETY: sigset_t is plain data, initialised by sigemptyset before use; pthread_sigmask
    // only changes this thread's mask.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        let mut old: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGPIPE);
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, &mut old);
        old
    }
}

/// SIGPIPE blocked on the caller's thread for the duration of one call; on drop a SIGPIPE
/// raised meanwhile is discarded (it was a write of ours failing) and the caller's mask put
/// back.
struct SigpipeBlocked {
    old: libc::sigset_t,
}

impl SigpipeBlocked {
    fn new() -> Self {
        SigpipeBlocked { old: block_sigpipe() }
    }
}

impl Drop for SigpipeBlocked {
    fn drop(&mut self) {
        // SAFETY: as in block_sigpipe; sigtimedwait with a zero timeout only takes a pending
        // SIGPIPE, never waits.
        unsafe {
            if libc::sigismember(&self.old, libc::SIGPIPE) == 1 {
                return; // The caller blocks it itself: leave its pending signals alone.
            }
            let mut pending: libc::sigset_t = std::mem::zeroed();
            libc::sigpending(&mut pending);
            if libc::sigismember(&pending, libc::SIGPIPE) == 1 {
                let mut set: libc::sigset_t = std::mem::zeroed();
                libc::sigemptyset(&mut set);
                libc::sigaddset(&mut set, libc::SIGPIPE);
                let zero = libc::timespec { tv_sec: 0, tv_nsec: 0 };
                libc::sigtimedwait(&set, std::ptr::null_mut(), &zero);
            }
            libc::pthread_sigmask(libc::SIG_SETMASK, &self.old, std::ptr::null_mut());
        }
    }
}

/// A deadline given from C in milliseconds; [`crate::BOXLITE_WAIT_FOREVER`] means none.
pub(crate) fn deadline(timeout_ms: u64) -> Option<Duration> {
    (timeout_ms != crate::BOXLITE_WAIT_FOREVER).then(|| Duration::from_millis(timeout_ms))
}

/// Runs `fut` for at most `limit` (`None`: until it ends); past the limit, a `Timeout` error
/// that says what was being waited for.
pub(crate) async fn within<F: Future>(
    limit: Option<Duration>,
    what: impl FnOnce() -> String,
    fut: F,
) -> Result<F::Output, Error> {
    match limit {
        None => Ok(fut.await),
        Some(limit) => tokio::time::timeout(limit, fut).await.map_err(|_| {
            Error::new(ErrorKind::Timeout, format!("{} after {} ms", what(), limit.as_millis()))
        }),
    }
}
