//! The glue every native class shares: a tokio runtime per process, Rust futures as asyncio
//! awaitables (pyo3_async_runtimes' generic bridge on that runtime), and the fork guard.
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
use std::sync::atomic::{AtomicPtr, Ordering};

use boxlite_core::{Error, ErrorKind};
use pyo3::prelude::*;
use pyo3_async_runtimes::generic::{self, ContextExt, Runtime as GenericRuntime};
use pyo3_async_runtimes::TaskLocals;

use crate::error::to_py_err;

struct ProcessRuntime {
    pid: u32,
    tokio: tokio::runtime::Runtime,
}

/// The runtime of the current process. Lock-free: a lock held by another thread at fork time
/// would stay locked forever in the child.
static CURRENT: AtomicPtr<ProcessRuntime> = AtomicPtr::new(ptr::null_mut());

/// This process's tokio runtime, built on first use (and again in a forked child).
pub(crate) fn tokio() -> &'static tokio::runtime::Runtime {
    let pid = std::process::id();
    loop {
        let current = CURRENT.load(Ordering::Acquire);
        // SAFETY: runtimes stored in CURRENT are never freed (see below).
        if let Some(rt) = unsafe { current.as_ref() } {
            if rt.pid == pid {
                return &rt.tokio;
            }
        }
        let tokio = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .thread_name("boxlite-py")
            .build()
            .unwrap_or_else(|e| panic!("boxlite: cannot start a tokio runtime: {e}"));
        let fresh = Box::into_raw(Box::new(ProcessRuntime { pid, tokio }));
        match CURRENT.compare_exchange(current, fresh, Ordering::AcqRel, Ordering::Acquire) {
            // The replaced runtime (the parent's, after fork) is leaked: dropping it would join
            // worker threads that do not exist in this process.
            Ok(_) => return unsafe { &(*fresh).tokio },
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
        tokio().spawn(fut)
    }

    fn spawn_blocking<F>(f: F) -> Self::JoinHandle
    where
        F: FnOnce() + Send + 'static,
    {
        tokio().spawn_blocking(f)
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
