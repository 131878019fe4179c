//! Exec: one process per request, its output streamed as events, ended by exactly one Exited.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use boxlite_protocol::pb::{exec_event::Event, ExecEvent, ExecRequest, Exited, Started};
use tokio::io::AsyncWriteExt;
use tokio::net::unix::pipe;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_stream::wrappers::ReceiverStream;
use tonic::Status;

use crate::oom::OomCounter;
use crate::output::{pump, EventTx, Sink};
use crate::plan::{plan_off_thread, spawn_status, Request};
use crate::pty::{Master, WindowSize};
use crate::reaper::{ExitStatus, Reaper};
use crate::spawn::{spawn, Input, Process};

/// Events buffered per exec before the process is made to wait for the client.
const EVENT_BUFFER: usize = 8;
/// Grace between SIGTERM and SIGKILL when the request leaves it at 0.
const DEFAULT_KILL_GRACE: Duration = Duration::from_millis(1000);

/// The stream an Exec call returns.
pub type ExecStream = ReceiverStream<Result<ExecEvent, Status>>;

/// Running execs by id, for WriteStdin, Signal and ResizeTty.
#[derive(Default)]
pub struct ExecTable {
    next_id: AtomicU64,
    running: Mutex<HashMap<String, Arc<ExecHandle>>>,
}

/// What WriteStdin, Signal and ResizeTty need of a running exec.
pub struct ExecHandle {
    pub pgid: libc::pid_t,
    /// `None`: the exec has no stdin. Writes are serialised, so chunks arrive in order.
    stdin: Option<tokio::sync::Mutex<Stdin>>,
    /// The master side of a tty exec's terminal.
    terminal: Option<Arc<Master>>,
}

enum Stdin {
    Pipe(pipe::Sender),
    Terminal {
        master: Arc<Master>,
        /// The last byte written did not end a line (see [`Master::end_of_file`]).
        line_pending: bool,
    },
    Closed,
}

/// Why a call on a running exec (WriteStdin, ResizeTty) failed.
#[derive(Debug, thiserror::Error)]
pub enum HandleError {
    #[error("exec {0} was started without stdin")]
    NoStdin(String),
    #[error("stdin of exec {0} is closed")]
    Closed(String),
    #[error("writing stdin of exec {id}: {source}")]
    Write { id: String, source: std::io::Error },
    #[error("exec {0} has no terminal")]
    NoTerminal(String),
    #[error("resizing the terminal of exec {id}: {source}")]
    Resize { id: String, source: std::io::Error },
}

impl From<HandleError> for Status {
    fn from(err: HandleError) -> Self {
        match err {
            HandleError::Resize { .. } => Status::internal(err.to_string()),
            _ => Status::failed_precondition(err.to_string()),
        }
    }
}

impl ExecTable {
    /// The exec `id`, while it runs.
    pub fn get(&self, id: &str) -> Option<Arc<ExecHandle>> {
        self.lock().get(id).cloned()
    }

    fn insert(&self, handle: ExecHandle) -> String {
        let id = format!("exec-{}", self.next_id.fetch_add(1, Ordering::Relaxed) + 1);
        self.lock().insert(id.clone(), Arc::new(handle));
        id
    }

    fn remove(&self, id: &str) {
        self.lock().remove(id);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<ExecHandle>>> {
        self.running.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl ExecHandle {
    /// Writes `data`, then closes stdin when `close`. On a terminal, closing types
    /// end-of-file (the process reads EOF in canonical mode); the terminal itself stays open,
    /// as closing it would hang the process up.
    pub async fn write_stdin(&self, id: &str, data: &[u8], close: bool) -> Result<(), HandleError> {
        let slot = self.stdin.as_ref().ok_or_else(|| HandleError::NoStdin(id.to_owned()))?;
        let mut slot = slot.lock().await;
        let failed = |source| HandleError::Write { id: id.to_owned(), source };
        match &mut *slot {
            Stdin::Closed => return Err(HandleError::Closed(id.to_owned())),
            Stdin::Pipe(sender) => {
                if !data.is_empty() {
                    sender.write_all(data).await.map_err(failed)?;
                }
            }
            Stdin::Terminal { master, line_pending } => {
                if let Some(&last) = data.last() {
                    master.write_all(data).await.map_err(failed)?;
                    *line_pending = !matches!(last, b'\n' | b'\r');
                }
                if close {
                    let eof = master.end_of_file(*line_pending).map_err(failed)?;
                    master.write_all(&eof).await.map_err(failed)?;
                }
            }
        }
        if close {
            *slot = Stdin::Closed;
        }
        Ok(())
    }

    /// Sets the window size of a tty exec's terminal.
    pub fn resize_tty(&self, id: &str, size: WindowSize) -> Result<(), HandleError> {
        let master =
            self.terminal.as_ref().ok_or_else(|| HandleError::NoTerminal(id.to_owned()))?;
        master.resize(size).map_err(|source| HandleError::Resize { id: id.to_owned(), source })
    }
}

/// Starts `request` and returns its event stream. Fails without starting anything when the
/// request cannot become a process.
pub async fn start(
    config: &Arc<boxlite_protocol::launch::GuestConfig>,
    reaper: &Reaper,
    oom_counter: &Arc<OomCounter>,
    table: &Arc<ExecTable>,
    request: ExecRequest,
) -> Result<ExecStream, Status> {
    let tty = match request.tty {
        false => None,
        true => Some(WindowSize::initial(request.tty_rows, request.tty_cols).ok_or_else(|| {
            Status::invalid_argument(format!(
                "terminal size {}x{} is larger than 65535",
                request.tty_rows, request.tty_cols
            ))
        })?),
    };
    let argv0 = request.argv.first().cloned().unwrap_or_default();
    let plan = plan_off_thread(
        Arc::clone(config),
        Request {
            argv: request.argv,
            env: request.env.into_iter().map(|v| (v.name, v.value)).collect(),
            working_dir: request.working_dir,
            user: request.user,
            stdin: request.stdin,
            tty,
        },
    )
    .await?;
    // Read as late as possible before the process exists: only a kill after this may be its.
    let oom_before = oom_counter.read();
    let mut process = spawn(reaper, &plan).await.map_err(|e| spawn_status(e, &plan, &argv0))?;

    let (stdin, terminal) = match process.input.take() {
        Some(Input::Pipe(fd)) => {
            let sender =
                pipe::Sender::from_owned_fd(fd).map_err(|e| Status::internal(e.to_string()))?;
            (Some(Stdin::Pipe(sender)), None)
        }
        Some(Input::Terminal(master)) => {
            let stdin = Stdin::Terminal { master: Arc::clone(&master), line_pending: false };
            (Some(stdin), Some(master))
        }
        None => (None, None),
    };
    let id = table.insert(ExecHandle {
        pgid: process.pid,
        stdin: stdin.map(tokio::sync::Mutex::new),
        terminal,
    });
    let (tx, rx) = mpsc::channel(EVENT_BUFFER);
    let limits = Limits {
        timeout: (request.timeout_ms > 0).then(|| Duration::from_millis(request.timeout_ms)),
        grace: match request.kill_grace_ms {
            0 => DEFAULT_KILL_GRACE,
            ms => Duration::from_millis(ms),
        },
    };
    let table = Arc::clone(table);
    let oom = OomWatch { counter: Arc::clone(oom_counter), before: oom_before };
    tokio::spawn(async move {
        supervise(&id, process, tx, limits, oom).await;
        table.remove(&id);
    });
    Ok(ReceiverStream::new(rx))
}

struct Limits {
    timeout: Option<Duration>,
    grace: Duration,
}

/// The OOM-kill counter and its count just before the process was spawned.
struct OomWatch {
    counter: Arc<OomCounter>,
    before: Option<u64>,
}

/// Where a timed-out exec is in its escalation.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Phase {
    Running,
    /// SIGTERM sent; SIGKILL at the deadline.
    Terminating,
    /// SIGKILL sent; the deadline bounds waiting for pipes held by processes that left the
    /// group (they cannot be reached by the group kill).
    Killed,
}

/// Streams the process's output and ends with its Exited event, enforcing the timeout.
async fn supervise(id: &str, process: Process, tx: EventTx, limits: Limits, oom: OomWatch) {
    let Process { pid, mut exit, outputs, .. } = process;
    let started = Event::Started(Started { exec_id: id.to_owned(), pid: pid as u32 });
    // A client that is already gone changes nothing: the process runs to its end.
    let _ = tx.send(Ok(ExecEvent { event: Some(started) })).await;

    let pumps: Vec<_> = outputs
        .into_iter()
        .map(|(source, kind)| tokio::spawn(pump(source, kind, Sink::stream(tx.clone()))))
        .collect();
    let aborts: Vec<_> = pumps.iter().map(tokio::task::JoinHandle::abort_handle).collect();
    let drained = async move {
        for pump in pumps {
            let _ = pump.await;
        }
    };
    tokio::pin!(drained);

    let mut status: Option<Option<ExitStatus>> = None;
    let mut oom_after = None;
    let mut pipes_done = false;
    let mut phase = Phase::Running;
    let mut timed_out = false;
    let mut deadline = limits.timeout.map(|t| Instant::now() + t);
    while status.is_none() || !pipes_done {
        tokio::select! {
            result = &mut exit, if status.is_none() => {
                // Read at once: a count that rises later (while the pipes drain) is not its.
                oom_after = oom.counter.read();
                status = Some(result.ok());
            }
            () = &mut drained, if !pipes_done => pipes_done = true,
            () = sleep_until(deadline) => match phase {
                Phase::Running => {
                    timed_out = true;
                    let _ = crate::sys::kill_group(pid, libc::SIGTERM);
                    phase = Phase::Terminating;
                    deadline = Some(Instant::now() + limits.grace);
                }
                Phase::Terminating => {
                    let _ = crate::sys::kill_group(pid, libc::SIGKILL);
                    phase = Phase::Killed;
                    deadline = Some(Instant::now() + limits.grace);
                }
                Phase::Killed => {
                    aborts.iter().for_each(tokio::task::AbortHandle::abort);
                    pipes_done = true;
                    deadline = None;
                }
            },
        }
    }
    if timed_out && phase == Phase::Terminating {
        // Whatever in the group ignored SIGTERM without holding the pipes goes too: a timed-out
        // exec leaves nothing behind.
        let _ = crate::sys::kill_group(pid, libc::SIGKILL);
    }
    let status = status.flatten();
    let oom_killed = crate::oom::killed(status, oom.before, oom_after);
    let exited = exited_event(status, timed_out, oom_killed);
    let _ = tx.send(Ok(ExecEvent { event: Some(Event::Exited(exited)) })).await;
}

pub fn exited_event(status: Option<ExitStatus>, timed_out: bool, oom_killed: bool) -> Exited {
    let (exit_code, signal) = match status {
        Some(ExitStatus::Code(code)) => (Some(code), None),
        Some(ExitStatus::Signal(signal)) => (None, Some(signal)),
        // Only when the reaper dropped the registration, which it never does while running.
        None => (None, None),
    };
    Exited { exit_code, signal, timed_out, oom_killed }
}

/// Sleeps until `deadline`, or forever without one.
async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}
