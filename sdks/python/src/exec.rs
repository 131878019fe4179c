//! `Execution`, `ExecStream`, `ExecStdin`, `ExecResult` ↔ core's [`Execution`] and its parts.
//! Output is handed over as raw byte chunks; decoding and line splitting live in the Python
//! layer (`boxlite/_exec.py`).

use std::sync::{Arc, Mutex, MutexGuard};

use boxlite_core::{Error, ErrorKind, ExecControl, ExecResult, ExecStdin, Execution};
use pyo3::prelude::*;
use pyo3::types::PyBytes;
use tokio::sync::{mpsc, watch};

use crate::bridge::{awaitable, Guarded};
use crate::error::to_py_err;

/// How an execution ended, kept so every `wait()` (and every waiter) sees the same outcome.
/// Core errors are not `Clone`; their kind and message are all a binding maps anyway.
type Outcome = Result<ExecResult, (ErrorKind, String)>;

/// The part of an execution that `wait` consumes, and the outcome it leaves behind.
struct Waiter {
    execution: Mutex<Option<Execution>>,
    outcome: watch::Sender<Option<Outcome>>,
}

impl Waiter {
    fn execution(&self) -> MutexGuard<'_, Option<Execution>> {
        self.execution.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A command running in a box.
#[pyclass(name = "Execution", module = "boxlite._boxlite", frozen)]
pub(crate) struct PyExecution {
    id: String,
    box_id: String,
    control: Guarded<ExecControl>,
    waiter: Guarded<Arc<Waiter>>,
}

impl PyExecution {
    pub(crate) fn new(box_id: &str, execution: Execution) -> Self {
        PyExecution {
            id: execution.id().to_string(),
            box_id: box_id.to_string(),
            control: Guarded::new(execution.control()),
            waiter: Guarded::new(Arc::new(Waiter {
                execution: Mutex::new(Some(execution)),
                outcome: watch::channel(None).0,
            })),
        }
    }

    fn subject(&self) -> String {
        format!("exec {} in box {}", self.id, self.box_id)
    }

    fn control(&self) -> PyResult<ExecControl> {
        self.control.get(|| self.subject()).cloned()
    }

    /// Takes one part of the execution; `None` when it was taken before or the execution was
    /// waited for.
    fn take<T>(&self, part: impl FnOnce(&mut Execution) -> Option<T>) -> PyResult<Option<T>> {
        let waiter = self.waiter.get(|| self.subject())?;
        Ok(waiter.execution().as_mut().and_then(part))
    }

    fn taken(&self, what: &str) -> PyErr {
        to_py_err(Error::new(
            ErrorKind::InvalidState,
            format!(
                "{what} of {} is not available: it was taken already, the execution was waited \
                 for, or (stdin) the command was started with stdin=False",
                self.subject()
            ),
        ))
    }

    fn stream(&self, what: &'static str, rx: mpsc::Receiver<Vec<u8>>) -> PyExecStream {
        PyExecStream {
            what,
            subject: self.subject(),
            rx: Guarded::new(Arc::new(tokio::sync::Mutex::new(rx))),
        }
    }
}

#[pymethods]
impl PyExecution {
    #[getter]
    fn id(&self) -> &str {
        &self.id
    }

    /// The stdout stream; it can be taken once.
    fn stdout(&self) -> PyResult<PyExecStream> {
        let rx = self.take(Execution::stdout)?.ok_or_else(|| self.taken("stdout"))?;
        Ok(self.stream("stdout", rx))
    }

    /// The stderr stream; it can be taken once (a TTY exec writes everything to stdout).
    fn stderr(&self) -> PyResult<PyExecStream> {
        let rx = self.take(Execution::stderr)?.ok_or_else(|| self.taken("stderr"))?;
        Ok(self.stream("stderr", rx))
    }

    /// The stdin writer; it can be taken once.
    fn stdin(&self) -> PyResult<PyExecStdin> {
        let stdin = self.take(Execution::stdin)?.ok_or_else(|| self.taken("stdin"))?;
        Ok(PyExecStdin {
            subject: self.subject(),
            inner: Guarded::new(Arc::new(tokio::sync::Mutex::new(Some(stdin)))),
        })
    }

    /// Waits for the command to end. Output streams not taken by now are discarded and an
    /// untaken stdin is closed (no one can write to it any more). The wait itself runs in its
    /// own task, so cancelling this awaitable (a `wait_for` timeout) loses nothing: `kill()`
    /// and another `wait()` still work.
    fn wait<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let waiter = Arc::clone(self.waiter.get(|| self.subject())?);
        let subject = self.subject();
        awaitable(py, async move {
            let mut outcome = waiter.outcome.subscribe();
            let first = waiter.execution().take();
            if let Some(mut execution) = first {
                if let Some(stdin) = execution.stdin() {
                    // Best effort: the command may have exited and closed it already.
                    tokio::spawn(async move {
                        let _ = stdin.close().await;
                    });
                }
                let waiter = Arc::clone(&waiter);
                tokio::spawn(async move {
                    let result = execution.wait().await.map_err(|e| (e.kind(), e.to_string()));
                    waiter.outcome.send_replace(Some(result));
                });
            }
            let vanished = || {
                to_py_err(Error::new(
                    ErrorKind::Internal,
                    format!("{subject}: the wait task vanished"),
                ))
            };
            let done = outcome.wait_for(Option::is_some).await.map_err(|_| vanished())?.clone();
            match done.ok_or_else(vanished)? {
                Ok(result) => Ok(PyExecResult::from(result)),
                Err((kind, message)) => Err(to_py_err(Error::new(kind, message))),
            }
        })
    }

    /// SIGKILL to the command's process group.
    fn kill<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let control = self.control()?;
        awaitable(py, async move { control.kill().await.map_err(to_py_err) })
    }

    /// Sends `signal` to the command's process group.
    fn signal<'py>(&self, py: Python<'py>, signal: i32) -> PyResult<Bound<'py, PyAny>> {
        let control = self.control()?;
        awaitable(py, async move { control.signal(signal).await.map_err(to_py_err) })
    }

    /// Sets the terminal size of a TTY exec (`invalid_state` without a terminal).
    fn resize_tty<'py>(
        &self,
        py: Python<'py>,
        rows: u16,
        cols: u16,
    ) -> PyResult<Bound<'py, PyAny>> {
        let control = self.control()?;
        awaitable(py, async move { control.resize_tty(rows, cols).await.map_err(to_py_err) })
    }

    fn __repr__(&self) -> String {
        format!("Execution(id={:?}, box={:?})", self.id, self.box_id)
    }
}

/// Most bytes one `read()` hands over: a bound on the latency of the first line.
const READ_MAX_BYTES: usize = 256 * 1024;

/// One output stream of an execution, as raw chunks.
#[pyclass(name = "ExecStream", module = "boxlite._boxlite", frozen)]
pub(crate) struct PyExecStream {
    what: &'static str,
    subject: String,
    rx: Guarded<Arc<tokio::sync::Mutex<mpsc::Receiver<Vec<u8>>>>>,
}

#[pymethods]
impl PyExecStream {
    /// The next bytes (everything already received, up to 256 KiB), or `None` at the end.
    fn read<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let rx = Arc::clone(self.rx.get(|| format!("{} of {}", self.what, self.subject))?);
        awaitable(py, async move {
            let mut rx = rx.lock().await;
            let Some(mut data) = rx.recv().await else {
                return Ok(None);
            };
            // Fewer, larger hand-overs: each one costs a trip through the event loop.
            while data.len() < READ_MAX_BYTES {
                match rx.try_recv() {
                    Ok(more) => data.extend_from_slice(&more),
                    Err(_) => break,
                }
            }
            Ok(Some(Python::attach(|py| PyBytes::new(py, &data).unbind())))
        })
    }

    fn __repr__(&self) -> String {
        format!("ExecStream({} of {})", self.what, self.subject)
    }
}

/// The stdin of an execution.
#[pyclass(name = "ExecStdin", module = "boxlite._boxlite", frozen)]
pub(crate) struct PyExecStdin {
    subject: String,
    inner: Guarded<Arc<tokio::sync::Mutex<Option<ExecStdin>>>>,
}

#[pymethods]
impl PyExecStdin {
    /// Writes `data` to the command's stdin; `invalid_state` after `close()`.
    fn send_input<'py>(&self, py: Python<'py>, data: Vec<u8>) -> PyResult<Bound<'py, PyAny>> {
        let inner = Arc::clone(self.inner.get(|| format!("stdin of {}", self.subject))?);
        let subject = self.subject.clone();
        awaitable(py, async move {
            match inner.lock().await.as_mut() {
                Some(stdin) => stdin.write(&data).await.map_err(to_py_err),
                None => Err(to_py_err(Error::new(
                    ErrorKind::InvalidState,
                    format!("cannot write to stdin of {subject}: it was closed"),
                ))),
            }
        })
    }

    /// Closes stdin: the command reads end-of-file. Closing twice is fine.
    fn close<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let inner = Arc::clone(self.inner.get(|| format!("stdin of {}", self.subject))?);
        awaitable(py, async move {
            let stdin = inner.lock().await.take();
            match stdin {
                Some(stdin) => stdin.close().await.map_err(to_py_err),
                None => Ok(()),
            }
        })
    }

    fn __repr__(&self) -> String {
        format!("ExecStdin({})", self.subject)
    }
}

/// How a command ended.
#[pyclass(name = "ExecResult", module = "boxlite._boxlite", frozen, get_all)]
pub(crate) struct PyExecResult {
    /// The exit status, or minus the signal number when a signal ended the command.
    exit_code: i32,
    /// The signal that ended the command, if one did.
    signal: Option<i32>,
    /// The command's timeout expired and boxlite killed it.
    timed_out: bool,
    /// The kernel's OOM killer killed it (the box hit its memory limit).
    oom_killed: bool,
    /// Why there is no exit status, when there is none.
    error_message: Option<String>,
}

impl From<ExecResult> for PyExecResult {
    fn from(r: ExecResult) -> Self {
        let (exit_code, error_message) = match (r.exit_code, r.signal) {
            (Some(code), _) => (code, None),
            (None, Some(signal)) => (-signal, None),
            (None, None) => (-1, Some("the command ended without an exit status".to_string())),
        };
        PyExecResult {
            exit_code,
            signal: r.signal,
            timed_out: r.timed_out,
            oom_killed: r.oom_killed,
            error_message,
        }
    }
}

#[pymethods]
impl PyExecResult {
    fn __repr__(&self) -> String {
        let python_bool = |b: bool| if b { "True" } else { "False" };
        format!(
            "ExecResult(exit_code={}, timed_out={}, oom_killed={})",
            self.exit_code,
            python_bool(self.timed_out),
            python_bool(self.oom_killed)
        )
    }
}
