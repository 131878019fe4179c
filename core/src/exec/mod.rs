//! Running commands in a box: [`Command`] in, [`Execution`] out (streams, stdin, signals,
//! and the final [`ExecResult`]).

use std::time::Duration;

use boxlite_protocol::pb::{self, exec_event::Event};
use tokio::sync::{mpsc, oneshot};
use tonic::Streaming;

use crate::agent::{status_error, Agent};
use crate::error::{Error, ErrorKind, Result};

/// A command to run in a box.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Command {
    /// Program and arguments; the program is looked up in the box's `PATH`.
    pub argv: Vec<String>,
    /// Added to the box's environment (later entries win).
    pub env: Vec<(String, String)>,
    /// Working directory; `None` uses the box's.
    pub working_dir: Option<String>,
    /// `uid[:gid]` or `name[:group]`; `None` uses the box's.
    pub user: Option<String>,
    /// Open a stdin pipe ([`Execution::stdin`]); otherwise stdin is `/dev/null`.
    pub stdin: bool,
    /// Kill the command's whole process group after this long.
    pub timeout: Option<Duration>,
    /// Run on a pseudo-terminal in the box: output arrives on stdout only, stdin is always
    /// open, and [`Execution::resize_tty`] sets the window size.
    pub tty: bool,
    /// Initial terminal size `(rows, cols)` of a TTY exec; `None`: 24×80.
    pub tty_size: Option<(u16, u16)>,
}

impl Command {
    /// `argv[0]` with arguments `argv[1..]`.
    pub fn new<I, S>(argv: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Command { argv: argv.into_iter().map(Into::into).collect(), ..Default::default() }
    }
}

/// How an exec ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExecResult {
    /// Exit status when the process exited normally.
    pub exit_code: Option<i32>,
    /// Signal number when it was killed.
    pub signal: Option<i32>,
    /// The command's timeout expired and its process group was killed.
    pub timed_out: bool,
}

impl ExecResult {
    /// A shell-style status: the exit code, or 128 + signal.
    pub fn code(&self) -> i32 {
        self.exit_code.or(self.signal.map(|s| 128 + s)).unwrap_or(-1)
    }
}

/// Grace between SIGTERM and SIGKILL when a timeout expires.
const KILL_GRACE: Duration = Duration::from_secs(1);
/// Chunks buffered per stream before the agent is back-pressured.
const STREAM_CHUNKS: usize = 64;

/// A running command. Take `stdout`/`stderr` to read them; untaken streams are discarded, so
/// [`Execution::wait`] alone never deadlocks on output.
#[derive(Debug)]
pub struct Execution {
    /// The box, the agent's exec id and the connection: all the agent calls need.
    control: ExecControl,
    pid: u32,
    stdout: Option<mpsc::Receiver<Vec<u8>>>,
    stderr: Option<mpsc::Receiver<Vec<u8>>>,
    stdin: Option<ExecStdin>,
    done: oneshot::Receiver<Result<ExecResult>>,
}

/// The stdin of an execution started with `stdin: true` or `tty: true`.
#[derive(Debug)]
pub struct ExecStdin {
    target: ExecControl,
}

impl ExecStdin {
    /// Writes `data` to the process's stdin.
    pub async fn write(&mut self, data: &[u8]) -> Result<()> {
        self.send(data.to_vec(), false)
            .await
            .map_err(|s| status_error(&self.target.box_id, "write stdin", s))
    }

    /// Closes stdin (the process sees EOF). On a TTY this types the terminal's end-of-file
    /// character, which a process reading lines takes as EOF; the terminal stays open.
    ///
    /// Closing the stdin of a command that already ended succeeds (the agent no longer knows
    /// the exec: its stdin went with it), so a caller racing a short command gets no error for
    /// a close that, in effect, happened.
    pub async fn close(mut self) -> Result<()> {
        match self.send(Vec::new(), true).await {
            Err(status) if status.code() == tonic::Code::NotFound => Ok(()),
            other => other.map_err(|s| status_error(&self.target.box_id, "close stdin", s)),
        }
    }

    async fn send(&mut self, data: Vec<u8>, close: bool) -> std::result::Result<(), tonic::Status> {
        let req = pb::WriteStdinRequest { exec_id: self.target.exec_id.clone(), data, close };
        self.target.agent.write_stdin(req).await.map(|_| ())
    }
}

impl Execution {
    /// Starts `cmd` through `agent`. A command that cannot start (not found, not executable,
    /// bad working directory or user) is an `Exec` error here, distinct from a non-zero exit.
    pub(crate) async fn start(box_id: &str, mut agent: Agent, cmd: Command) -> Result<Self> {
        if cmd.argv.first().is_none_or(|a| a.is_empty()) {
            return Err(Error::invalid_argument(format!("exec in box {box_id}: empty command")));
        }
        let req = pb::ExecRequest {
            argv: cmd.argv.clone(),
            env: cmd
                .env
                .iter()
                .map(|(n, v)| pb::EnvVar { name: n.clone(), value: v.clone() })
                .collect(),
            working_dir: cmd.working_dir.clone().unwrap_or_default(),
            user: cmd.user.clone().unwrap_or_default(),
            stdin: cmd.stdin,
            tty: cmd.tty,
            tty_rows: cmd.tty_size.map_or(0, |(rows, _)| u32::from(rows)),
            tty_cols: cmd.tty_size.map_or(0, |(_, cols)| u32::from(cols)),
            timeout_ms: cmd.timeout.map_or(0, |t| t.as_millis().max(1) as u64),
            kill_grace_ms: KILL_GRACE.as_millis() as u64,
        };
        let what = format!("exec {:?}", cmd.argv[0]);
        let mut stream =
            agent.exec(req).await.map_err(|s| status_error(box_id, &what, s))?.into_inner();
        let started = match stream.message().await.map_err(|s| status_error(box_id, &what, s))? {
            Some(pb::ExecEvent { event: Some(Event::Started(s)) }) => s,
            other => {
                return Err(Error::new(
                    ErrorKind::Engine,
                    format!("box {box_id}: {what}: agent sent {other:?} before Started"),
                ))
            }
        };
        let stdin = (cmd.stdin || cmd.tty).then(|| ExecStdin {
            target: ExecControl {
                box_id: box_id.to_string(),
                exec_id: started.exec_id.clone(),
                agent: agent.clone(),
            },
        });
        Ok(Self::follow(box_id, started.exec_id, started.pid, agent, stream, stdin))
    }

    /// Follows an already-open event stream (an exec after Started, or the main command).
    pub(crate) fn follow(
        box_id: &str,
        exec_id: String,
        pid: u32,
        agent: Agent,
        stream: Streaming<pb::ExecEvent>,
        stdin: Option<ExecStdin>,
    ) -> Self {
        let (out_tx, out_rx) = mpsc::channel(STREAM_CHUNKS);
        let (err_tx, err_rx) = mpsc::channel(STREAM_CHUNKS);
        let (done_tx, done_rx) = oneshot::channel();
        tokio::spawn(pump(box_id.to_string(), stream, out_tx, err_tx, done_tx));
        Execution {
            control: ExecControl { box_id: box_id.to_string(), exec_id, agent },
            pid,
            stdout: Some(out_rx),
            stderr: Some(err_rx),
            stdin,
            done: done_rx,
        }
    }

    /// The agent's id of this execution.
    pub fn id(&self) -> &str {
        &self.control.exec_id
    }

    /// The process id inside the box (0 for the main command when attached).
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Takes the stdout stream (chunks in order; ends when the process closes it).
    pub fn stdout(&mut self) -> Option<mpsc::Receiver<Vec<u8>>> {
        self.stdout.take()
    }

    /// Takes the stderr stream.
    pub fn stderr(&mut self) -> Option<mpsc::Receiver<Vec<u8>>> {
        self.stderr.take()
    }

    /// Takes the stdin writer (only for commands started with `stdin: true` or `tty: true`).
    pub fn stdin(&mut self) -> Option<ExecStdin> {
        self.stdin.take()
    }

    /// A handle that signals or resizes this execution while another task owns it (for
    /// instance one that is waiting for it).
    pub fn control(&self) -> ExecControl {
        self.control.clone()
    }

    /// Sends `signal` to the command's process group.
    pub async fn signal(&self, signal: i32) -> Result<()> {
        self.control.signal(signal).await
    }

    /// Sets the terminal size of a TTY exec; `InvalidState` for an exec without a terminal.
    pub async fn resize_tty(&self, rows: u16, cols: u16) -> Result<()> {
        self.control.resize_tty(rows, cols).await
    }

    /// SIGKILL to the command's process group.
    pub async fn kill(&self) -> Result<()> {
        self.control.kill().await
    }

    /// Waits for the command to end; untaken output streams are discarded.
    pub async fn wait(self) -> Result<ExecResult> {
        let Execution { done, control, stdout, stderr, .. } = self;
        drop((stdout, stderr));
        done.await.unwrap_or_else(|_| {
            Err(Error::new(
                ErrorKind::Internal,
                format!("box {}: exec follower vanished", control.box_id),
            ))
        })
    }
}

/// Signals and terminal resizes for one execution, usable while the [`Execution`] itself is
/// moved into [`Execution::wait`]. Cheap to clone.
#[derive(Clone, Debug)]
pub struct ExecControl {
    box_id: String,
    exec_id: String,
    agent: Agent,
}

impl ExecControl {
    /// Sends `signal` to the command's process group.
    pub async fn signal(&self, signal: i32) -> Result<()> {
        let req = pb::SignalRequest { exec_id: self.exec_id.clone(), signal };
        self.agent
            .clone()
            .signal(req)
            .await
            .map(|_| ())
            .map_err(|s| status_error(&self.box_id, "signal exec", s))
    }

    /// SIGKILL to the command's process group.
    pub async fn kill(&self) -> Result<()> {
        self.signal(libc::SIGKILL).await
    }

    /// Sets the terminal size of a TTY exec; `InvalidState` for an exec without a terminal.
    pub async fn resize_tty(&self, rows: u16, cols: u16) -> Result<()> {
        if rows == 0 || cols == 0 {
            return Err(Error::invalid_argument(format!(
                "resize tty of exec {} in box {}: rows and cols must be positive",
                self.exec_id, self.box_id
            )));
        }
        let req = pb::ResizeTtyRequest {
            exec_id: self.exec_id.clone(),
            rows: u32::from(rows),
            cols: u32::from(cols),
        };
        self.agent.clone().resize_tty(req).await.map(|_| ()).map_err(|s| {
            let err = status_error(&self.box_id, "resize tty", s);
            match err.kind() {
                ErrorKind::Exec => Error::new(ErrorKind::InvalidState, err.to_string()),
                _ => err,
            }
        })
    }
}

/// Copies stream events to the output channels until Exited. A dropped receiver turns that
/// stream's data into a no-op instead of stalling the other stream.
async fn pump(
    box_id: String,
    mut stream: Streaming<pb::ExecEvent>,
    out: mpsc::Sender<Vec<u8>>,
    err: mpsc::Sender<Vec<u8>>,
    done: oneshot::Sender<Result<ExecResult>>,
) {
    let mut out = Some(out);
    let mut err = Some(err);
    let result = loop {
        match stream.message().await {
            Ok(Some(pb::ExecEvent { event: Some(event) })) => match event {
                Event::Stdout(data) => forward(&mut out, data).await,
                Event::Stderr(data) => forward(&mut err, data).await,
                Event::Exited(e) => {
                    break Ok(ExecResult {
                        exit_code: e.exit_code,
                        signal: e.signal,
                        timed_out: e.timed_out,
                    })
                }
                Event::Started(_) => {}
            },
            Ok(Some(pb::ExecEvent { event: None })) => {}
            Ok(None) => {
                break Err(Error::new(
                    ErrorKind::Engine,
                    format!(
                        "box {box_id}: exec stream ended without an exit status (box stopped?)"
                    ),
                ))
            }
            Err(status) => break Err(status_error(&box_id, "exec stream", status)),
        }
    };
    // Close the output channels before reporting, so readers see EOF first.
    drop((out, err));
    let _ = done.send(result);
}

async fn forward(tx: &mut Option<mpsc::Sender<Vec<u8>>>, data: Vec<u8>) {
    if let Some(sender) = tx {
        if sender.send(data).await.is_err() {
            *tx = None;
        }
    }
}
