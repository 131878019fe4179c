//! Running commands in a box: [`Command`] in, [`Execution`] out (streams, stdin, signals,
//! and the final [`ExecResult`]).

use std::time::Duration;

use boxlite_protocol::pb::{self, exec_event::Event};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;
use tonic::Streaming;

use crate::agent::{status_error, while_answering, within, Agent, AGENT_CALL_TIMEOUT};
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
    /// The kernel's OOM killer killed the command (the box hit its memory limit): it ended by
    /// SIGKILL while the box's memory cgroup counted an OOM kill. The count is the box's, so a
    /// command killed by another SIGKILL while the OOM killer took some other process of the
    /// box is reported too; a shell that exits 137 for an OOM-killed child is not. Always false
    /// for a box without a memory cgroup.
    pub oom_killed: bool,
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
        self.send(data.to_vec(), false, "write stdin").await
    }

    /// Closes stdin (the process sees EOF). On a TTY this types the terminal's end-of-file
    /// character, which a process reading lines takes as EOF; the terminal stays open.
    ///
    /// Closing the stdin of a command that already ended succeeds (the agent no longer knows
    /// the exec: its stdin went with it), so a caller racing a short command gets no error for
    /// a close that, in effect, happened.
    pub async fn close(mut self) -> Result<()> {
        self.send(Vec::new(), true, "close stdin").await
    }

    /// A write waits while the process does not read (a full pipe), for as long as the agent
    /// answers and the exec's own deadline allows.
    async fn send(&mut self, data: Vec<u8>, close: bool, what: &str) -> Result<()> {
        let target = &self.target;
        let req = pb::WriteStdinRequest { exec_id: target.exec_id.clone(), data, close };
        let mut agent = target.agent.clone();
        let call = async move {
            match agent.write_stdin(req).await {
                Ok(_) => Ok(()),
                Err(status) if close && status.code() == tonic::Code::NotFound => Ok(()),
                Err(status) => Err(status_error(&target.box_id, what, status)),
            }
        };
        while_answering(&target.box_id, what, &target.agent, target.deadline, call).await
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
        // Up to Started: the agent resolves the user and working directory and spawns; a
        // healthy one does that at once, whatever the command does afterwards.
        let (stream, started) = within(box_id, &what, AGENT_CALL_TIMEOUT, async {
            let mut stream =
                agent.exec(req).await.map_err(|s| status_error(box_id, &what, s))?.into_inner();
            match stream.message().await.map_err(|s| status_error(box_id, &what, s))? {
                Some(pb::ExecEvent { event: Some(Event::Started(s)) }) => Ok((stream, s)),
                other => Err(Error::new(
                    ErrorKind::Engine,
                    format!("box {box_id}: {what}: agent sent {other:?} before Started"),
                )),
            }
        })
        .await?;
        // The agent kills the command at its timeout and SIGKILLs it a grace later; its exit
        // status is due by then, plus a control deadline for the answer.
        let deadline = cmd.timeout.map(|timeout| {
            let budget = timeout.saturating_add(KILL_GRACE).saturating_add(AGENT_CALL_TIMEOUT);
            (Instant::now() + budget, budget)
        });
        let control =
            ExecControl { box_id: box_id.to_string(), exec_id: started.exec_id, agent, deadline };
        let stdin = (cmd.stdin || cmd.tty).then(|| ExecStdin { target: control.clone() });
        Ok(Self::follow(control, &format!("{what} (its exit status)"), started.pid, stream, stdin))
    }

    /// Follows the main command's already-open event stream. It has no timeout: its wait
    /// lasts as long as the agent answers.
    pub(crate) fn follow_main(
        box_id: &str,
        agent: Agent,
        stream: Streaming<pb::ExecEvent>,
    ) -> Self {
        let control = ExecControl {
            box_id: box_id.to_string(),
            exec_id: "main".into(),
            agent,
            deadline: None,
        };
        Self::follow(control, "the main command (its exit status)", 0, stream, None)
    }

    /// Follows an already-open event stream (an exec after Started, or the main command);
    /// `waiting_for` names the wait in a deadline error.
    fn follow(
        control: ExecControl,
        waiting_for: &str,
        pid: u32,
        stream: Streaming<pb::ExecEvent>,
        stdin: Option<ExecStdin>,
    ) -> Self {
        let (out_tx, out_rx) = mpsc::channel(STREAM_CHUNKS);
        let (err_tx, err_rx) = mpsc::channel(STREAM_CHUNKS);
        let (done_tx, done_rx) = oneshot::channel();
        let outputs = Outputs { out: Some(out_tx), err: Some(err_tx) };
        tokio::spawn(pump(control.clone(), waiting_for.to_string(), stream, outputs, done_tx));
        Execution { control, pid, stdout: Some(out_rx), stderr: Some(err_rx), stdin, done: done_rx }
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
    /// When the exec's exit status is due (its timeout, the kill grace and a control
    /// deadline), and that budget; `None` for a command without a timeout.
    deadline: Option<(Instant, Duration)>,
}

impl ExecControl {
    /// Sends `signal` to the command's process group.
    pub async fn signal(&self, signal: i32) -> Result<()> {
        let req = pb::SignalRequest { exec_id: self.exec_id.clone(), signal };
        let mut agent = self.agent.clone();
        within(&self.box_id, "signal exec", AGENT_CALL_TIMEOUT, async move {
            agent
                .signal(req)
                .await
                .map(|_| ())
                .map_err(|s| status_error(&self.box_id, "signal exec", s))
        })
        .await
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
        let mut agent = self.agent.clone();
        within(&self.box_id, "resize tty", AGENT_CALL_TIMEOUT, async move {
            agent.resize_tty(req).await.map(|_| ()).map_err(|s| {
                let err = status_error(&self.box_id, "resize tty", s);
                match err.kind() {
                    ErrorKind::Exec => Error::new(ErrorKind::InvalidState, err.to_string()),
                    _ => err,
                }
            })
        })
        .await
    }
}

/// The output channels of one execution; a dropped receiver closes its side.
struct Outputs {
    out: Option<mpsc::Sender<Vec<u8>>>,
    err: Option<mpsc::Sender<Vec<u8>>>,
}

/// Copies stream events to the output channels until Exited. A dropped receiver turns that
/// stream's data into a no-op instead of stalling the other stream. Each wait for the next
/// event is bounded by the agent's answers and the exec's deadline; the time a slow reader
/// keeps the pump waiting (back-pressure) is the reader's and moves the deadline on.
async fn pump(
    control: ExecControl,
    waiting_for: String,
    mut stream: Streaming<pb::ExecEvent>,
    mut outputs: Outputs,
    done: oneshot::Sender<Result<ExecResult>>,
) {
    let ExecControl { box_id, agent, mut deadline, .. } = control;
    let result = loop {
        let next =
            async { stream.message().await.map_err(|s| status_error(&box_id, "exec stream", s)) };
        let event = match while_answering(&box_id, &waiting_for, &agent, deadline, next).await {
            Ok(Some(pb::ExecEvent { event: Some(event) })) => event,
            Ok(Some(pb::ExecEvent { event: None })) => continue,
            Ok(None) => {
                break Err(Error::new(
                    ErrorKind::Engine,
                    format!(
                        "box {box_id}: exec stream ended without an exit status (box stopped?)"
                    ),
                ))
            }
            Err(e) => break Err(e),
        };
        let forwarding = Instant::now();
        match event {
            Event::Stdout(data) => forward(&mut outputs.out, data).await,
            Event::Stderr(data) => forward(&mut outputs.err, data).await,
            Event::Exited(e) => {
                break Ok(ExecResult {
                    exit_code: e.exit_code,
                    signal: e.signal,
                    timed_out: e.timed_out,
                    oom_killed: e.oom_killed,
                })
            }
            Event::Started(_) => {}
        }
        if let Some((at, _)) = deadline.as_mut() {
            *at += forwarding.elapsed();
        }
    };
    // Close the output channels before reporting, so readers see EOF first.
    drop(outputs);
    let _ = done.send(result);
}

async fn forward(tx: &mut Option<mpsc::Sender<Vec<u8>>>, data: Vec<u8>) {
    if let Some(sender) = tx {
        if sender.send(data).await.is_err() {
            *tx = None;
        }
    }
}
