//! [`BoxliteCommand`]: what to run, built up with setters (core's `Command`), plus where its
//! output goes.

use std::ffi::{c_char, c_void};
use std::time::Duration;

use boxlite_core::{Command, Error};

use crate::error::{BoxliteError, BoxliteErrorCode};
use crate::ffi::{guard, invalid_argument, out_arg, str_arg};

/// Receives a chunk of an execution's output: `len` bytes at `data` (not NUL-terminated; valid
/// only during the call) and the `user_data` given to `boxlite_command_set_output()`.
pub type BoxliteOutputFn =
    Option<unsafe extern "C" fn(data: *const u8, len: usize, user_data: *mut c_void)>;

/// A command to run in a box with `boxlite_box_exec()`: its argv and, set with the
/// `boxlite_command_set_*` functions, its environment, working directory, user, timeout,
/// stdin, terminal and output callbacks. `boxlite_box_exec()` copies what it needs, so one
/// command may be run several times and freed right after. Not for concurrent use by several
/// threads while it is being changed.
#[derive(Debug)]
pub struct BoxliteCommand {
    pub(crate) cmd: Command,
    pub(crate) output: Output,
}

/// The output callbacks of a command.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Output {
    pub(crate) on_stdout: BoxliteOutputFn,
    pub(crate) on_stderr: BoxliteOutputFn,
    pub(crate) user_data: *mut c_void,
}

/// Reads a NULL-terminated array of strings.
///
/// # Safety
/// `argv` is NULL or a NULL-terminated array of NUL-terminated strings.
unsafe fn string_array(argv: *const *const c_char, param: &str) -> Result<Vec<String>, Error> {
    if argv.is_null() {
        return Err(invalid_argument(param, "is NULL"));
    }
    let mut items = Vec::new();
    for index in 0.. {
        // SAFETY: the array is NULL-terminated, so every index up to the NULL is in bounds.
        let item = unsafe { *argv.add(index) };
        if item.is_null() {
            break;
        }
        // SAFETY: each element is a NUL-terminated string per the caller contract.
        items.push(unsafe { str_arg(item, &format!("{param}[{index}]")) }?.to_string());
    }
    if items.first().is_none_or(|program| program.is_empty()) {
        return Err(invalid_argument(param, "holds no program (argv[0] is missing or empty)"));
    }
    Ok(items)
}

/// Reads the argv of a command.
///
/// # Safety
/// As [`string_array`].
pub(crate) unsafe fn argv_arg(argv: *const *const c_char) -> Result<Vec<String>, Error> {
    // SAFETY: forwarded caller contract.
    unsafe { string_array(argv, "argv") }
}

/// The command being changed by a setter.
///
/// # Safety
/// `cmd` is NULL or a live command not used by another thread during `'a`.
unsafe fn cmd_arg<'a>(cmd: *mut BoxliteCommand) -> Result<&'a mut BoxliteCommand, Error> {
    // SAFETY: forwarded caller contract.
    unsafe { cmd.as_mut() }.ok_or_else(|| invalid_argument("cmd", "is NULL"))
}

/// Makes a command from `argv`, a NULL-terminated array as for execv(3): `argv[0]` is the
/// program, looked up in the box's PATH unless it contains a '/'. By default the command gets
/// the box's environment, working directory and user, no timeout, /dev/null as stdin, no
/// terminal, and its output is discarded.
///
/// On success `*out` receives a command owned by the caller, to be freed with
/// `boxlite_command_free()`. Errors: BOXLITE_ERROR_INVALID_ARGUMENT when `argv` is NULL or
/// holds no program.
///
/// # Safety
/// `argv` is a NULL-terminated array of NUL-terminated strings; `out` is valid for writing a
/// pointer; `err_out` is NULL or valid for writing a pointer.
#[no_mangle]
pub unsafe extern "C" fn boxlite_command_new(
    argv: *const *const c_char,
    out: *mut *mut BoxliteCommand,
    err_out: *mut *mut BoxliteError,
) -> BoxliteErrorCode {
    // SAFETY: arguments per the caller contract.
    unsafe {
        guard("boxlite_command_new", err_out, || {
            let argv = argv_arg(argv)?;
            let out = out_arg(out, "out")?;
            let output =
                Output { on_stdout: None, on_stderr: None, user_data: std::ptr::null_mut() };
            out.write(Box::into_raw(Box::new(BoxliteCommand { cmd: Command::new(argv), output })));
            Ok(())
        })
    }
}

/// Adds `name=value` to the command's environment (on top of the box's; a later value for the
/// same name wins).
///
/// # Safety
/// `cmd` is a live command; `name` and `value` are NUL-terminated strings; `err_out` is NULL
/// or valid for writing a pointer.
#[no_mangle]
pub unsafe extern "C" fn boxlite_command_add_env(
    cmd: *mut BoxliteCommand,
    name: *const c_char,
    value: *const c_char,
    err_out: *mut *mut BoxliteError,
) -> BoxliteErrorCode {
    // SAFETY: arguments per the caller contract.
    unsafe {
        guard("boxlite_command_add_env", err_out, || {
            let cmd = cmd_arg(cmd)?;
            let name = str_arg(name, "name")?;
            let value = str_arg(value, "value")?;
            if name.is_empty() || name.contains('=') {
                return Err(invalid_argument(
                    "name",
                    format!("{name:?} is not an environment variable name (empty or has '=')"),
                ));
            }
            cmd.cmd.env.push((name.to_string(), value.to_string()));
            Ok(())
        })
    }
}

/// Sets the command's working directory, an absolute path in the box. A directory that does
/// not exist fails the exec with BOXLITE_ERROR_BAD_WORKING_DIR.
///
/// # Safety
/// `cmd` is a live command; `dir` is a NUL-terminated string; `err_out` is NULL or valid for
/// writing a pointer.
#[no_mangle]
pub unsafe extern "C" fn boxlite_command_set_working_dir(
    cmd: *mut BoxliteCommand,
    dir: *const c_char,
    err_out: *mut *mut BoxliteError,
) -> BoxliteErrorCode {
    // SAFETY: arguments per the caller contract.
    unsafe {
        guard("boxlite_command_set_working_dir", err_out, || {
            let cmd = cmd_arg(cmd)?;
            let dir = str_arg(dir, "dir")?;
            if !dir.starts_with('/') {
                return Err(invalid_argument("dir", format!("{dir:?} is not an absolute path")));
            }
            cmd.cmd.working_dir = Some(dir.to_string());
            Ok(())
        })
    }
}

/// Sets the user the command runs as: "uid[:gid]" or "name[:group]", resolved in the box's
/// /etc/passwd and /etc/group.
///
/// # Safety
/// `cmd` is a live command; `user` is a NUL-terminated string; `err_out` is NULL or valid for
/// writing a pointer.
#[no_mangle]
pub unsafe extern "C" fn boxlite_command_set_user(
    cmd: *mut BoxliteCommand,
    user: *const c_char,
    err_out: *mut *mut BoxliteError,
) -> BoxliteErrorCode {
    // SAFETY: arguments per the caller contract.
    unsafe {
        guard("boxlite_command_set_user", err_out, || {
            let cmd = cmd_arg(cmd)?;
            let user = str_arg(user, "user")?;
            if user.is_empty() {
                return Err(invalid_argument("user", "is empty"));
            }
            cmd.cmd.user = Some(user.to_string());
            Ok(())
        })
    }
}

/// Kills the command's whole process group `timeout_ms` milliseconds after it started
/// (SIGTERM, then SIGKILL one second later); its result then says `timed_out`. Must be
/// positive.
///
/// # Safety
/// `cmd` is a live command; `err_out` is NULL or valid for writing a pointer.
#[no_mangle]
pub unsafe extern "C" fn boxlite_command_set_timeout_ms(
    cmd: *mut BoxliteCommand,
    timeout_ms: u64,
    err_out: *mut *mut BoxliteError,
) -> BoxliteErrorCode {
    // SAFETY: arguments per the caller contract.
    unsafe {
        guard("boxlite_command_set_timeout_ms", err_out, || {
            let cmd = cmd_arg(cmd)?;
            if timeout_ms == 0 {
                return Err(invalid_argument("timeout_ms", "is 0 (a timeout must be positive)"));
            }
            cmd.cmd.timeout = Some(Duration::from_millis(timeout_ms));
            Ok(())
        })
    }
}

/// With `enabled`, the command's stdin is a pipe fed by `boxlite_execution_write_stdin()` and
/// closed by `boxlite_execution_close_stdin()`; otherwise it reads /dev/null.
///
/// # Safety
/// `cmd` is a live command; `err_out` is NULL or valid for writing a pointer.
#[no_mangle]
pub unsafe extern "C" fn boxlite_command_set_stdin(
    cmd: *mut BoxliteCommand,
    enabled: bool,
    err_out: *mut *mut BoxliteError,
) -> BoxliteErrorCode {
    // SAFETY: arguments per the caller contract.
    unsafe {
        guard("boxlite_command_set_stdin", err_out, || {
            cmd_arg(cmd)?.cmd.stdin = enabled;
            Ok(())
        })
    }
}

/// With `enabled`, runs the command on a pseudo-terminal of `rows` x `cols` (0 and 0: 24 x 80):
/// its stdin is always open (as with `boxlite_command_set_stdin()`), all its output arrives
/// through the stdout callback, and `boxlite_execution_resize_tty()` changes the size.
///
/// Errors: BOXLITE_ERROR_INVALID_ARGUMENT when only one of `rows` and `cols` is 0.
///
/// # Safety
/// `cmd` is a live command; `err_out` is NULL or valid for writing a pointer.
#[no_mangle]
pub unsafe extern "C" fn boxlite_command_set_tty(
    cmd: *mut BoxliteCommand,
    enabled: bool,
    rows: u16,
    cols: u16,
    err_out: *mut *mut BoxliteError,
) -> BoxliteErrorCode {
    // SAFETY: arguments per the caller contract.
    unsafe {
        guard("boxlite_command_set_tty", err_out, || {
            let cmd = cmd_arg(cmd)?;
            let size = match (rows, cols) {
                (0, 0) => None,
                (0, _) | (_, 0) => {
                    return Err(invalid_argument(
                        "rows/cols",
                        format!("{rows} x {cols}: both must be positive, or both 0 for 24 x 80"),
                    ))
                }
                size => Some(size),
            };
            cmd.cmd.tty = enabled;
            cmd.cmd.tty_size = size.filter(|_| enabled);
            Ok(())
        })
    }
}

/// Streams the command's output: each chunk of stdout goes to `on_stdout`, each chunk of
/// stderr to `on_stderr`, with `user_data`, in the order the box wrote them per stream. NULL
/// for a callback discards that stream. See `boxlite_box_exec()` for the thread the callbacks
/// run on and what they may call.
///
/// # Safety
/// `cmd` is a live command; the callbacks and `user_data` stay valid until every execution of
/// the command is waited for or freed; `err_out` is NULL or valid for writing a pointer.
#[no_mangle]
pub unsafe extern "C" fn boxlite_command_set_output(
    cmd: *mut BoxliteCommand,
    on_stdout: BoxliteOutputFn,
    on_stderr: BoxliteOutputFn,
    user_data: *mut c_void,
    err_out: *mut *mut BoxliteError,
) -> BoxliteErrorCode {
    // SAFETY: arguments per the caller contract.
    unsafe {
        guard("boxlite_command_set_output", err_out, || {
            cmd_arg(cmd)?.output = Output { on_stdout, on_stderr, user_data };
            Ok(())
        })
    }
}

/// Frees a command from `boxlite_command_new()`; executions started from it are unaffected.
/// NULL does nothing.
///
/// # Safety
/// `cmd` is NULL or a command from `boxlite_command_new`, freed only once.
#[no_mangle]
pub unsafe extern "C" fn boxlite_command_free(cmd: *mut BoxliteCommand) {
    if !cmd.is_null() {
        // SAFETY: made with Box::into_raw in boxlite_command_new and freed once.
        drop(unsafe { Box::from_raw(cmd) });
    }
}
