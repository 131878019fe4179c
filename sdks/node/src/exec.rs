//! `Execution`: a running command (core's `Execution`), its output streams and its stdin.
//!
//! Output crosses as byte chunks (`ExecOutput.read()`); decoding them into lines is the JS
//! layer's job, so a chunk boundary inside a UTF-8 sequence or a line costs nothing here.

use std::sync::Mutex as SyncMutex;

use boxlite_core::{Error, ErrorKind, ExecControl, ExecResult, ExecStdin, Execution};
use napi::bindgen_prelude::Buffer;
use napi_derive::napi;
use tokio::sync::{mpsc, Mutex};

use crate::error::{settle, to_napi, Result, Settled};

type Chunks = mpsc::Receiver<Vec<u8>>;

/// A running command, from `Box.exec`.
#[napi(js_name = "Execution")]
pub struct JsExecution {
    id: String,
    control: ExecControl,
    stdout: SyncMutex<Option<Chunks>>,
    stderr: SyncMutex<Option<Chunks>>,
    stdin: SyncMutex<Option<ExecStdin>>,
    waited: Mutex<Waited>,
}

/// Where `wait` stands. The outcome is kept so that every `wait()` call, including ones made
/// after the command ended, answers the same.
enum Waited {
    Running(Box<Execution>),
    /// Only while the first `wait` runs (it holds the lock).
    Waiting,
    Done(ExecResult),
    Failed(ErrorKind, String),
}

/// How a command ended.
#[napi(object, js_name = "ExecResult", object_from_js = false, use_nullable = true)]
pub struct JsExecResult {
    /// The exit status, or 128 + the signal number when a signal ended it.
    pub exit_code: i32,
    /// The signal that ended it, if one did.
    pub signal: Option<i32>,
    /// The command ran past its `timeoutSecs` and its process group was killed.
    pub timed_out: bool,
    /// The kernel's OOM killer killed the command (the box hit its memory limit).
    pub oom_killed: bool,
}

impl From<ExecResult> for JsExecResult {
    fn from(r: ExecResult) -> Self {
        JsExecResult {
            exit_code: r.code(),
            signal: r.signal,
            timed_out: r.timed_out,
            oom_killed: r.oom_killed,
        }
    }
}

impl From<Execution> for JsExecution {
    fn from(mut exec: Execution) -> Self {
        JsExecution {
            id: exec.id().to_owned(),
            control: exec.control(),
            stdout: SyncMutex::new(exec.stdout()),
            stderr: SyncMutex::new(exec.stderr()),
            stdin: SyncMutex::new(exec.stdin()),
            waited: Mutex::new(Waited::Running(Box::new(exec))),
        }
    }
}

/// Takes what `slot` holds, or says why it is gone.
fn take<T>(slot: &SyncMutex<Option<T>>, what: &str, exec_id: &str) -> Result<T> {
    let mut guard = slot.lock().unwrap_or_else(|p| p.into_inner());
    guard.take().ok_or_else(|| {
        to_napi(Error::new(
            ErrorKind::InvalidState,
            format!(
                "{what} of exec {exec_id} is not available: already taken, discarded by \
                 wait(), or not opened (stdin needs a pipe or a TTY)"
            ),
        ))
    })
}

#[napi]
impl JsExecution {
    /// The agent's id of this execution.
    #[napi(getter)]
    pub fn id(&self) -> String {
        self.id.clone()
    }

    /// Takes the stdout stream; once only. With a TTY all output arrives here.
    #[napi(ts_return_type = "ExecOutput")]
    pub fn stdout(&self) -> Result<JsExecOutput> {
        take(&self.stdout, "stdout", &self.id).map(JsExecOutput::new)
    }

    /// Takes the stderr stream; once only.
    #[napi(ts_return_type = "ExecOutput")]
    pub fn stderr(&self) -> Result<JsExecOutput> {
        take(&self.stderr, "stderr", &self.id).map(JsExecOutput::new)
    }

    /// Takes the stdin writer; once only, and only for a command with a stdin pipe or a TTY.
    #[napi(ts_return_type = "ExecStdin")]
    pub fn stdin(&self) -> Result<JsExecStdin> {
        let inner = take(&self.stdin, "stdin", &self.id)?;
        Ok(JsExecStdin { exec_id: self.id.clone(), inner: Mutex::new(Some(inner)) })
    }

    /// Waits for the command to end. Streams not taken by then are discarded, so a wait
    /// never stalls on output nobody reads.
    #[napi(ts_return_type = "Promise<ExecResult>")]
    pub async fn wait(&self) -> Settled<JsExecResult> {
        let mut waited = self.waited.lock().await;
        *waited = match std::mem::replace(&mut *waited, Waited::Waiting) {
            Waited::Running(exec) => {
                drop(self.stdout.lock().unwrap_or_else(|p| p.into_inner()).take());
                drop(self.stderr.lock().unwrap_or_else(|p| p.into_inner()).take());
                match exec.wait().await {
                    Ok(result) => Waited::Done(result),
                    Err(err) => Waited::Failed(err.kind(), err.to_string()),
                }
            }
            settled => settled,
        };
        Settled::from(match &*waited {
            Waited::Done(result) => Ok(JsExecResult::from(*result)),
            Waited::Failed(kind, message) => Err(Error::new(*kind, message.clone())),
            Waited::Running(_) | Waited::Waiting => Err(Error::new(
                ErrorKind::Internal,
                format!("exec {}: wait left no outcome", self.id),
            )),
        })
    }

    /// SIGKILL to the command's process group.
    #[napi(ts_return_type = "Promise<void>")]
    pub async fn kill(&self) -> Settled<()> {
        settle(self.control.kill()).await
    }

    /// Sends signal number `signal` to the command's process group.
    #[napi(ts_return_type = "Promise<void>")]
    pub async fn signal(&self, signal: i32) -> Settled<()> {
        settle(self.control.signal(signal)).await
    }

    /// Sets the terminal size of a TTY exec; `invalid_state` for one without a terminal.
    #[napi(ts_return_type = "Promise<void>")]
    pub async fn resize_tty(&self, rows: u32, cols: u32) -> Settled<()> {
        settle(async {
            let size = |n: u32| {
                u16::try_from(n).map_err(|_| {
                    Error::new(
                        ErrorKind::InvalidArgument,
                        format!("resize tty of exec {}: {n} is larger than 65535", self.id),
                    )
                })
            };
            self.control.resize_tty(size(rows)?, size(cols)?).await
        })
        .await
    }
}

/// One output stream of an execution, read as byte chunks in order.
#[napi(js_name = "ExecOutput")]
pub struct JsExecOutput {
    chunks: Mutex<Option<Chunks>>,
}

impl JsExecOutput {
    fn new(chunks: Chunks) -> Self {
        JsExecOutput { chunks: Mutex::new(Some(chunks)) }
    }
}

#[napi]
impl JsExecOutput {
    /// The next chunk, or null once the command closed the stream (or `close()` was called).
    #[napi(ts_return_type = "Promise<Buffer | null>")]
    pub async fn read(&self) -> Option<Buffer> {
        let mut chunks = self.chunks.lock().await;
        chunks.as_mut()?.recv().await.map(Buffer::from)
    }

    /// Stops reading: later output of this stream is discarded instead of held back.
    #[napi(ts_return_type = "Promise<void>")]
    pub async fn close(&self) {
        self.chunks.lock().await.take();
    }
}

/// The stdin of an execution.
#[napi(js_name = "ExecStdin")]
pub struct JsExecStdin {
    exec_id: String,
    inner: Mutex<Option<ExecStdin>>,
}

#[napi]
impl JsExecStdin {
    /// Writes `data` to the command's stdin.
    #[napi(ts_return_type = "Promise<void>")]
    pub async fn write(&self, data: Buffer) -> Settled<()> {
        let data: Vec<u8> = data.into();
        let mut inner = self.inner.lock().await;
        settle(async {
            match inner.as_mut() {
                Some(stdin) => stdin.write(&data).await,
                None => Err(Error::new(
                    ErrorKind::InvalidState,
                    format!("write to stdin of exec {}: stdin was closed", self.exec_id),
                )),
            }
        })
        .await
    }

    /// Closes stdin: the command reads end of file. Idempotent.
    #[napi(ts_return_type = "Promise<void>")]
    pub async fn close(&self) -> Settled<()> {
        let stdin = self.inner.lock().await.take();
        settle(async {
            match stdin {
                Some(stdin) => stdin.close().await,
                None => Ok(()),
            }
        })
        .await
    }
}
