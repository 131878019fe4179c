//! The glue every native class shares: a tokio runtime per process, Rust futures as asyncio
//! awaitables (pyo3_async_runtimes' generic bridge on that runtime), and the fork guard.
//!
//! Exit: tokio threads take the GIL to hand results to asyncio. A thread that asks for it
//! once the interpreter is finalizing is ended by CPython from inside that request, and the
//! unwinding through pyo3's guard aborts the process ("PyGILState_Release: thread state … must
//! be current"), seen about once in 30 runs of a script that ends right after its last await.
//! So every task polled on our runtime, and every blocking closure pyo3_async_runtimes runs to
//! deliver a result, is counted while it runs, and the package's `atexit` hook ([`_at_exit`])
//! — which runs before finalization starts — freezes them: none starts afterwards, and the
//! hook waits (GIL released) for those under way to end.
//!
//! Fork: a child process inherits the parent's memory but none of its threads, so the parent's
//! tokio workers, the core's reaper thread and any lock another thread held are unusable
//! there. The child therefore gets a fresh tokio runtime on first use, and every handle made by
//! another process ([`Guarded`]) refuses to work (with `invalid_state`) and is leaked instead of
//! dropped, because its destructor could wait on a thread or lock that does not exist here.

use std::cell::OnceCell;
use std::future::Future;
use std::mem::ManuallyDrop;
use std::pin::Pin;
use std::ptr;
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use boxlite_core::{Error, ErrorKind};
use pyo3::prelude::*;
use pyo3_async_runtimes::generic::{self, ContextExt, Runtime as GenericRuntime};
use pyo3_async_runtimes::TaskLocals;

use crate::error::to_py_err;

struct ProcessRuntime {
    pid: u32,
    tokio: tokio::runtime::Runtime,
    /// Set by [`_at_exit`]: no task is polled, no delivery runs any more.
    frozen: AtomicBool,
    /// Polls and deliveries under way (each may take the GIL).
    polling: AtomicUsize,
}

/// How long the exit hook waits for polls under way; they are short unless one is stuck in
/// core, and exiting late beats hanging.
const EXIT_DRAIN: Duration = Duration::from_secs(5);

/// The runtime of the current process. Lock-free: a lock held by another thread at fork time
/// would stay locked forever in the child.
static CURRENT: AtomicPtr<ProcessRuntime> = AtomicPtr::new(ptr::null_mut());

/// This process's tokio runtime, built on first use (and again in a forked child).
pub(crate) fn tokio() -> &'static tokio::runtime::Runtime {
    &current().tokio
}

fn current() -> &'static ProcessRuntime {
    let pid = std::process::id();
    loop {
        let current = CURRENT.load(Ordering::Acquire);
        // SAFETY: runtimes stored in CURRENT are never freed (see below).
        if let Some(rt) = unsafe { current.as_ref() } {
            if rt.pid == pid {
                return rt;
            }
        }
        let tokio = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .thread_name("boxlite-py")
            .build()
            .unwrap_or_else(|e| panic!("boxlite: cannot start a tokio runtime: {e}"));
        let fresh = Box::into_raw(Box::new(ProcessRuntime {
            pid,
            tokio,
            frozen: AtomicBool::new(false),
            polling: AtomicUsize::new(0),
        }));
        match CURRENT.compare_exchange(current, fresh, Ordering::AcqRel, Ordering::Acquire) {
            // The replaced runtime (the parent's, after fork) is leaked: dropping it would join
            // worker threads that do not exist in this process.
            Ok(_) => return unsafe { &*fresh },
            // Another thread installed one first; ours has never run anything.
            Err(_) => unsafe { Box::from_raw(fresh) }.tokio.shutdown_background(),
        }
    }
}

/// pyo3_async_runtimes' generic bridge, spawning on [`tokio`].
pub(crate) struct Tokio;

tokio::task_local! {
    static TASK_LOCALS: OnceCell<TaskLocals>;
}

impl GenericRuntime for Tokio {
    type JoinError = tokio::task::JoinError;
    type JoinHandle = tokio::task::JoinHandle<()>;

    fn spawn<F>(fut: F) -> Self::JoinHandle
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let rt = current();
        rt.tokio.spawn(Counted { rt, inner: Box::pin(fut) })
    }

    /// pyo3_async_runtimes hands every result to asyncio from here, with the GIL.
    fn spawn_blocking<F>(f: F) -> Self::JoinHandle
    where
        F: FnOnce() + Send + 'static,
    {
        let rt = current();
        rt.tokio.spawn_blocking(move || {
            rt.polling.fetch_add(1, Ordering::SeqCst);
            let _guard = PollGuard(rt);
            if !rt.frozen.load(Ordering::SeqCst) {
                f();
            }
        })
    }
}

impl ContextExt for Tokio {
    fn scope<F, R>(locals: TaskLocals, fut: F) -> Pin<Box<dyn Future<Output = R> + Send>>
    where
        F: Future<Output = R> + Send + 'static,
    {
        let cell = OnceCell::new();
        let _ = cell.set(locals);
        Box::pin(TASK_LOCALS.scope(cell, fut))
    }

    fn get_task_locals() -> Option<TaskLocals> {
        TASK_LOCALS.try_with(|c| c.get().cloned()).unwrap_or_default()
    }
}

/// A task whose polls [`_at_exit`] can wait for and stop.
struct Counted<F> {
    rt: &'static ProcessRuntime,
    inner: Pin<Box<F>>,
}

/// Ends one counted poll, also when the poll panics.
struct PollGuard(&'static ProcessRuntime);

impl Drop for PollGuard {
    fn drop(&mut self) {
        self.0.polling.fetch_sub(1, Ordering::SeqCst);
    }
}

impl<F: Future<Output = ()>> Future for Counted<F> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let rt = self.rt;
        // Count first, then look at the flag (SeqCst on both sides): either this poll sees the
        // freeze, or the exit hook sees this poll and waits for it.
        rt.polling.fetch_add(1, Ordering::SeqCst);
        let _guard = PollGuard(rt);
        if rt.frozen.load(Ordering::SeqCst) {
            // Never woken again: the process is exiting.
            return Poll::Pending;
        }
        self.inner.as_mut().poll(cx)
    }
}

/// The package's `atexit` hook: no task of ours takes the GIL once the interpreter finalizes.
#[pyfunction]
pub(crate) fn _at_exit(py: Python<'_>) {
    let current = CURRENT.load(Ordering::Acquire);
    // SAFETY: runtimes stored in CURRENT are never freed.
    let Some(rt) = (unsafe { current.as_ref() }) else { return };
    if rt.pid != std::process::id() {
        return; // a fork child that never used boxlite: nothing of ours runs here
    }
    rt.frozen.store(true, Ordering::SeqCst);
    // The polls under way may be waiting for the GIL this thread holds.
    py.detach(|| {
        let deadline = Instant::now() + EXIT_DRAIN;
        while rt.polling.load(Ordering::SeqCst) != 0 && Instant::now() < deadline {
            std::thread::yield_now();
        }
    });
}

/// `fut` as an asyncio awaitable of the running loop; cancelling the awaitable drops `fut`.
pub(crate) fn awaitable<'py, F, T>(py: Python<'py>, fut: F) -> PyResult<Bound<'py, PyAny>>
where
    F: Future<Output = PyResult<T>> + Send + 'static,
    T: for<'a> IntoPyObject<'a> + Send + 'static,
{
    generic::future_into_py::<Tokio, F, T>(py, fut)
}

/// Runs `fut` to completion on this thread with the GIL released (for the few sync methods
/// whose core call is async).
pub(crate) fn block_on<T: Send>(py: Python<'_>, fut: impl Future<Output = T> + Send) -> T {
    py.detach(|| tokio().block_on(fut))
}

/// A core object owned by the process that made it. In any other process (a fork child) it
/// refuses to be used and is leaked when dropped.
pub(crate) struct Guarded<T> {
    pid: u32,
    value: ManuallyDrop<T>,
}

impl<T> Guarded<T> {
    pub(crate) fn new(value: T) -> Self {
        Guarded { pid: std::process::id(), value: ManuallyDrop::new(value) }
    }

    /// The value, or `invalid_state` naming `what` when this process is a fork of its owner.
    pub(crate) fn get(&self, what: impl FnOnce() -> String) -> PyResult<&T> {
        let here = std::process::id();
        if here == self.pid {
            return Ok(&self.value);
        }
        Err(to_py_err(Error::new(
            ErrorKind::InvalidState,
            format!(
                "{} belongs to process {}, and this process ({here}) is a fork of it: boxlite \
                 handles do not survive fork(); open a new Boxlite in this process",
                what(),
                self.pid
            ),
        )))
    }
}

impl<T> Drop for Guarded<T> {
    fn drop(&mut self) {
        if std::process::id() == self.pid {
            // SAFETY: dropped exactly once, here, and never used afterwards.
            unsafe { ManuallyDrop::drop(&mut self.value) }
        }
    }
}

/// Core's errors from a task that could not be joined (a panic in boxlite).
pub(crate) fn join_error(e: tokio::task::JoinError) -> PyErr {
    to_py_err(Error::new(ErrorKind::Internal, format!("boxlite task failed: {e}")))
}
