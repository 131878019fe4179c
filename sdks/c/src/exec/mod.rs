//! Running commands in a box (core's `exec`): [`command`] builds what to run,
//! `boxlite_box_exec` starts it as a [`BoxliteExecution`] whose output [`output`] hands to C
//! callbacks, and the `boxlite_execution_*` functions feed stdin, signal, resize and wait.

pub mod command;
mod output;

use std::ffi::{c_char, CString};
use std::ptr;
use std::sync::Mutex;

use boxlite_core::{Error, ErrorKind, ExecControl, ExecResult, ExecStdin};
use tokio::sync::watch;

use crate::blocking::{self, block_on, deadline, within};
use crate::error::{BoxliteError, BoxliteErrorCode};
use crate::ffi::{cstring_lossy, guard, invalid_argument, out_arg, ref_arg};
use crate::litebox::BoxliteBox;
use command::BoxliteCommand;
use output::Delivery;

/// How an execution ended, written by `boxlite_execution_wait()`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BoxliteExecResult {
    /// The exit status when the command exited by itself, else -1.
    pub exit_code: i32,
    /// The number of the signal that killed the command, else 0.
    pub signal: i32,
    /// The command's timeout (`boxlite_command_set_timeout_ms()`) expired and its process
    /// group was killed.
    pub timed_out: bool,
    /// The kernel's OOM killer killed the command (the box hit its memory limit): `signal` is
    /// 9 and the box's memory cgroup counted an OOM kill while it ran. Always false for a box
    /// without a memory cgroup.
    pub oom_killed: bool,
}

impl From<ExecResult> for BoxliteExecResult {
    fn from(r: ExecResult) -> Self {
        BoxliteExecResult {
            exit_code: r.exit_code.unwrap_or(-1),
            signal: r.signal.unwrap_or(0),
            timed_out: r.timed_out,
            oom_killed: r.oom_killed,
        }
    }
}

/// The outcome of core's wait; errors are kept as data so every waiter can rebuild one.
type Outcome = Result<ExecResult, (ErrorKind, String)>;

#[derive(Debug)]
enum Stdin {
    NotRequested,
    Open(Box<ExecStdin>),
    Closed,
}

/// A command running (or run) in a box. Several threads may use one execution at once (wait on
/// one, write stdin or kill from another).
#[derive(Debug)]
pub struct BoxliteExecution {
    id: CString,
    pid: u32,
    box_id: String,
    control: ExecControl,
    stdin: Mutex<Stdin>,
    result: watch::Receiver<Option<Outcome>>,
    delivery: Mutex<Delivery>,
}

// The header promises that one execution may be used from several threads at once.
const _: fn() = || {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<BoxliteExecution>();
};

impl BoxliteExecution {
    /// `InvalidState` when called from one of this execution's own output callbacks, where
    /// waiting for the output (or for anything the callback holds up) could never end.
    fn check_not_in_callback(&self, what: &str) -> Result<(), Error> {
        let delivery = self.delivery.lock().unwrap_or_else(|p| p.into_inner());
        if delivery.is_current_thread() {
            return Err(Error::new(
                ErrorKind::InvalidState,
                format!(
                    "{what} of exec {} in box {}: called from its own output callback",
                    self.id.to_string_lossy(),
                    self.box_id
                ),
            ));
        }
        Ok(())
    }

    fn subject(&self) -> String {
        format!("exec {} in box {}", self.id.to_string_lossy(), self.box_id)
    }
}

/// A required execution argument that is not being used from its own callback.
///
/// # Safety
/// `exec` is NULL or a live execution.
unsafe fn exec_arg<'a>(
    exec: *const BoxliteExecution,
    what: &str,
) -> Result<&'a BoxliteExecution, Error> {
    // SAFETY: forwarded caller contract.
    let exec = unsafe { ref_arg(exec, "exec") }?;
    exec.check_not_in_callback(what)?;
    Ok(exec)
}

/// Runs `cmd` in `box`, starting the box first when it is "configured" or "stopped", and
/// returns once the command has started. `cmd` is only read: it may be freed or reused after
/// the call.
///
/// On success `*out` receives the execution, owned by the caller and freed with
/// `boxlite_execution_free()`. Errors, each its own code carried from the box: the program
/// does not exist (BOXLITE_ERROR_COMMAND_NOT_FOUND), cannot be executed
/// (BOXLITE_ERROR_NOT_EXECUTABLE), the working directory cannot be entered
/// (BOXLITE_ERROR_BAD_WORKING_DIR); BOXLITE_ERROR_INVALID_ARGUMENT for a user the box does not
/// know; BOXLITE_ERROR_EXEC for other start failures; BOXLITE_ERROR_INVALID_STATE when the box cannot run commands (stopping,
/// failed, or the runtime shut down); the errors of `boxlite_box_start()`. A command that
/// starts and then fails is not an error here: its exit code is in the result of
/// `boxlite_execution_wait()`.
///
/// Output callbacks (`boxlite_command_set_output()`) run on a thread the library starts for
/// this execution, one call at a time (stdout and stderr callbacks never overlap), from the
/// start of the command until its output ends. `boxlite_execution_wait()` returns only after
/// the last callback returned, and once `boxlite_execution_free()` returned none runs. A
/// callback must not call back into its own execution: every `boxlite_execution_*` function
/// called from there fails with BOXLITE_ERROR_INVALID_STATE (hand the work to another thread
/// instead). It may use other boxlite objects. While a callback runs, that execution's output
/// queues up (64 chunks), then the command blocks writing.
///
/// # Safety
/// `box` is a live box handle; `cmd` is a live command; `out` is valid for writing a pointer;
/// `err_out` is NULL or valid for writing a pointer.
#[no_mangle]
pub unsafe extern "C" fn boxlite_box_exec(
    r#box: *const BoxliteBox,
    cmd: *const BoxliteCommand,
    out: *mut *mut BoxliteExecution,
    err_out: *mut *mut BoxliteError,
) -> BoxliteErrorCode {
    // SAFETY: arguments per the caller contract.
    unsafe {
        guard("boxlite_box_exec", err_out, || {
            let b = ref_arg(r#box, "box")?;
            let cmd = ref_arg(cmd, "cmd")?;
            let out = out_arg(out, "out")?;
            let runtime = blocking::handle()?;
            let mut execution = block_on(b.inner.exec(cmd.cmd.clone()))??;
            let (stdout, stderr) = (execution.stdout(), execution.stderr());
            let stdin = execution.stdin().map_or(Stdin::NotRequested, |w| Stdin::Open(Box::new(w)));
            let control = execution.control();
            let id = cstring_lossy(execution.id());
            let pid = execution.pid();
            let delivery = match Delivery::start(runtime.clone(), cmd.output, stdout, stderr) {
                Ok(delivery) => delivery,
                Err(e) => {
                    // Nobody could ever read its output or wait for it.
                    let _ = block_on(control.kill());
                    return Err(e);
                }
            };
            let (result_tx, result) = watch::channel(None);
            // Core's wait consumes the execution; a task owns it so that waits can time out
            // and be repeated, and signals go through `control` meanwhile.
            runtime.spawn(async move {
                let outcome = execution.wait().await.map_err(|e| (e.kind(), e.to_string()));
                result_tx.send_replace(Some(outcome));
            });
            out.write(Box::into_raw(Box::new(BoxliteExecution {
                id,
                pid,
                box_id: b.inner.id().to_string(),
                control,
                stdin: Mutex::new(stdin),
                result,
                delivery: Mutex::new(delivery),
            })));
            Ok(())
        })
    }
}

/// The execution's id, assigned by the box's agent. Borrowed from `exec`: valid until `exec`
/// is freed. NULL if `exec` is NULL.
///
/// # Safety
/// `exec` is NULL or a live execution.
#[no_mangle]
pub unsafe extern "C" fn boxlite_execution_id(exec: *const BoxliteExecution) -> *const c_char {
    // SAFETY: forwarded caller contract.
    unsafe { exec.as_ref() }.map_or(ptr::null(), |e| e.id.as_ptr())
}

/// The command's process id inside the box; 0 if `exec` is NULL.
///
/// # Safety
/// `exec` is NULL or a live execution.
#[no_mangle]
pub unsafe extern "C" fn boxlite_execution_pid(exec: *const BoxliteExecution) -> u32 {
    // SAFETY: forwarded caller contract.
    unsafe { exec.as_ref() }.map_or(0, |e| e.pid)
}

/// Waits until the command has ended and all its output was handed to the callbacks, for at
/// most `timeout_ms` milliseconds (BOXLITE_WAIT_FOREVER: until it ends; 0: only check). May
/// be called again, also after it succeeded (the same result), and from several threads.
///
/// On success `*out` receives how the command ended. A non-zero exit, a signal or an expired
/// command timeout are results, not errors. Errors: BOXLITE_ERROR_TIMEOUT when `timeout_ms`
/// passed first (the command keeps running); BOXLITE_ERROR_ENGINE when the box went away
/// before the command ended (stopped, killed); BOXLITE_ERROR_INVALID_STATE from an output
/// callback of this execution.
///
/// # Safety
/// `exec` is a live execution; `out` is valid for writing a `BoxliteExecResult`; `err_out` is
/// NULL or valid for writing a pointer.
#[no_mangle]
pub unsafe extern "C" fn boxlite_execution_wait(
    exec: *const BoxliteExecution,
    timeout_ms: u64,
    out: *mut BoxliteExecResult,
    err_out: *mut *mut BoxliteError,
) -> BoxliteErrorCode {
    // SAFETY: arguments per the caller contract.
    unsafe {
        guard("boxlite_execution_wait", err_out, || {
            let exec = exec_arg(exec, "wait")?;
            let out = out_arg(out, "out")?;
            let mut result = exec.result.clone();
            let what = || format!("wait for {}: still running", exec.subject());
            let outcome = block_on(within(deadline(timeout_ms), what, async {
                let outcome = match result.wait_for(Option::is_some).await {
                    Ok(outcome) => outcome.clone(),
                    Err(_) => None,
                };
                // The delivery lock is not held across the wait: another thread's kill or
                // write only needs it for the callback check.
                let delivered = {
                    let delivery = exec.delivery.lock().unwrap_or_else(|p| p.into_inner());
                    delivery.delivered_signal()
                };
                delivered.await;
                outcome
            }))??;
            exec.delivery.lock().unwrap_or_else(|p| p.into_inner()).join();
            match outcome {
                Some(Ok(result)) => {
                    out.write(result.into());
                    Ok(())
                }
                Some(Err((kind, message))) => Err(Error::new(kind, message)),
                None => Err(Error::new(
                    ErrorKind::Internal,
                    format!("{}: the task waiting for it vanished", exec.subject()),
                )),
            }
        })
    }
}

/// Writes `len` bytes at `data` to the command's stdin; returns once the box accepted them.
///
/// Errors: BOXLITE_ERROR_INVALID_STATE when the command was started without stdin
/// (`boxlite_command_set_stdin()`, `boxlite_command_set_tty()`) or stdin was closed;
/// BOXLITE_ERROR_EXEC or BOXLITE_ERROR_ENGINE when the command or the box is gone.
///
/// # Safety
/// `exec` is a live execution; `data` is valid for reading `len` bytes (may be NULL when `len`
/// is 0); `err_out` is NULL or valid for writing a pointer.
#[no_mangle]
pub unsafe extern "C" fn boxlite_execution_write_stdin(
    exec: *const BoxliteExecution,
    data: *const u8,
    len: usize,
    err_out: *mut *mut BoxliteError,
) -> BoxliteErrorCode {
    // SAFETY: arguments per the caller contract.
    unsafe {
        guard("boxlite_execution_write_stdin", err_out, || {
            let exec = exec_arg(exec, "write stdin")?;
            if data.is_null() && len != 0 {
                return Err(invalid_argument("data", "is NULL"));
            }
            let bytes = if len == 0 { &[][..] } else { std::slice::from_raw_parts(data, len) };
            let mut stdin = exec.stdin.lock().unwrap_or_else(|p| p.into_inner());
            match &mut *stdin {
                Stdin::Open(writer) => block_on(writer.write(bytes))?,
                Stdin::NotRequested => Err(no_stdin(exec)),
                Stdin::Closed => Err(Error::new(
                    ErrorKind::InvalidState,
                    format!("write stdin of {}: stdin was closed", exec.subject()),
                )),
            }
        })
    }
}

fn no_stdin(exec: &BoxliteExecution) -> Error {
    Error::new(
        ErrorKind::InvalidState,
        format!(
            "{} has no stdin: start it with boxlite_command_set_stdin(cmd, true, ...)",
            exec.subject()
        ),
    )
}

/// Closes the command's stdin: it reads end-of-file. Closing a closed stdin, or the stdin of a
/// command that already ended, does nothing.
///
/// Errors: BOXLITE_ERROR_INVALID_STATE when the command was started without stdin;
/// BOXLITE_ERROR_ENGINE when the box is gone.
///
/// # Safety
/// `exec` is a live execution; `err_out` is NULL or valid for writing a pointer.
#[no_mangle]
pub unsafe extern "C" fn boxlite_execution_close_stdin(
    exec: *const BoxliteExecution,
    err_out: *mut *mut BoxliteError,
) -> BoxliteErrorCode {
    // SAFETY: arguments per the caller contract.
    unsafe {
        guard("boxlite_execution_close_stdin", err_out, || {
            let exec = exec_arg(exec, "close stdin")?;
            let mut stdin = exec.stdin.lock().unwrap_or_else(|p| p.into_inner());
            match std::mem::replace(&mut *stdin, Stdin::Closed) {
                Stdin::Open(writer) => block_on(writer.close())?,
                Stdin::Closed => Ok(()),
                Stdin::NotRequested => {
                    *stdin = Stdin::NotRequested;
                    Err(no_stdin(exec))
                }
            }
        })
    }
}

/// Sends signal number `signal` (SIGTERM, SIGINT, ...) to the command's process group.
///
/// Errors: BOXLITE_ERROR_INVALID_ARGUMENT for a number that is not a signal,
/// BOXLITE_ERROR_EXEC when the command already ended, BOXLITE_ERROR_ENGINE when the box is
/// gone.
///
/// # Safety
/// `exec` is a live execution; `err_out` is NULL or valid for writing a pointer.
#[no_mangle]
pub unsafe extern "C" fn boxlite_execution_signal(
    exec: *const BoxliteExecution,
    signal: i32,
    err_out: *mut *mut BoxliteError,
) -> BoxliteErrorCode {
    // SAFETY: arguments per the caller contract.
    unsafe {
        guard("boxlite_execution_signal", err_out, || {
            let exec = exec_arg(exec, "signal")?;
            block_on(exec.control.signal(signal))?
        })
    }
}

/// Sends SIGKILL to the command's process group; `boxlite_execution_wait()` then reports
/// signal 9.
///
/// Errors: as `boxlite_execution_signal()`.
///
/// # Safety
/// `exec` is a live execution; `err_out` is NULL or valid for writing a pointer.
#[no_mangle]
pub unsafe extern "C" fn boxlite_execution_kill(
    exec: *const BoxliteExecution,
    err_out: *mut *mut BoxliteError,
) -> BoxliteErrorCode {
    // SAFETY: arguments per the caller contract.
    unsafe {
        guard("boxlite_execution_kill", err_out, || {
            let exec = exec_arg(exec, "kill")?;
            block_on(exec.control.kill())?
        })
    }
}

/// Sets the terminal size of a TTY execution (`boxlite_command_set_tty()`) to `rows` x `cols`;
/// the command gets SIGWINCH.
///
/// Errors: BOXLITE_ERROR_INVALID_ARGUMENT when `rows` or `cols` is 0,
/// BOXLITE_ERROR_INVALID_STATE for an execution without a terminal.
///
/// # Safety
/// `exec` is a live execution; `err_out` is NULL or valid for writing a pointer.
#[no_mangle]
pub unsafe extern "C" fn boxlite_execution_resize_tty(
    exec: *const BoxliteExecution,
    rows: u16,
    cols: u16,
    err_out: *mut *mut BoxliteError,
) -> BoxliteErrorCode {
    // SAFETY: arguments per the caller contract.
    unsafe {
        guard("boxlite_execution_resize_tty", err_out, || {
            let exec = exec_arg(exec, "resize tty")?;
            block_on(exec.control.resize_tty(rows, cols))?
        })
    }
}

/// Frees an execution from `boxlite_box_exec()`. After it returns no output callback of the
/// execution runs. It does not stop the command: one still running goes on, its output
/// discarded (`boxlite_execution_kill()` first to end it). NULL does nothing.
///
/// # Safety
/// `exec` is NULL or an execution from `boxlite_box_exec`, freed only once and not in use by
/// another thread.
#[no_mangle]
pub unsafe extern "C" fn boxlite_execution_free(exec: *mut BoxliteExecution) {
    if !exec.is_null() {
        // SAFETY: made with Box::into_raw in boxlite_box_exec and freed once. Dropping the
        // delivery stops it and joins its thread (see Delivery's Drop).
        drop(unsafe { Box::from_raw(exec) });
    }
}
