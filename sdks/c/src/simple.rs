//! The blocking one-call API for the common case: [`BoxliteSimple`] is a started box that
//! belongs to its handle (removed when freed), and `boxlite_simple_run` runs a command to the
//! end and returns its exit code with its whole output. Built only from core calls; for
//! anything more (env, stdin, timeouts, streaming) use `boxlite_box_exec`.

use std::ffi::{c_char, CString};
use std::ptr;

use boxlite_core::{BoxOptions, Command, Error, LiteBox, Runtime, DEFAULT_STOP_TIMEOUT};
use tokio::sync::mpsc;

use crate::blocking::block_on;
use crate::error::{BoxliteError, BoxliteErrorCode};
use crate::exec::command::argv_arg;
use crate::ffi::{cstring_lossy, guard, out_arg, ref_arg, str_arg};
use crate::runtime::BoxliteRuntime;

/// The most bytes of each stream (stdout, stderr) that `boxlite_simple_run()` keeps: 16 MiB.
/// Output past it is read and discarded, so the command never blocks on it, and
/// `boxlite_simple_result_truncated()` says so.
pub const BOXLITE_SIMPLE_OUTPUT_LIMIT_BYTES: usize = 16 * 1024 * 1024;

/// A running box owned by this handle, made by `boxlite_simple_new()`; `boxlite_simple_free()`
/// stops and removes it. Several threads may run commands in it at once.
#[derive(Debug)]
pub struct BoxliteSimple {
    runtime: Runtime,
    inner: LiteBox,
    id: CString,
}

/// Creates a box from `image` in the home of `rt` (NULL: the default home, `$BOXLITE_HOME`
/// else `~/.boxlite`, opened for this handle), with every option at its default, and starts
/// it. The box is unnamed and removed by `boxlite_simple_free()`; a box that fails to start is
/// removed before the call returns.
///
/// On success `*out` receives the handle, owned by the caller and freed with
/// `boxlite_simple_free()`. Errors: those of `boxlite_runtime_open()`, `boxlite_box_create()`
/// and `boxlite_box_start()`.
///
/// # Safety
/// `rt` is NULL or a live runtime; `image` is a NUL-terminated string; `out` is valid for
/// writing a pointer; `err_out` is NULL or valid for writing a pointer.
#[no_mangle]
pub unsafe extern "C" fn boxlite_simple_new(
    rt: *const BoxliteRuntime,
    image: *const c_char,
    out: *mut *mut BoxliteSimple,
    err_out: *mut *mut BoxliteError,
) -> BoxliteErrorCode {
    // SAFETY: arguments per the caller contract.
    unsafe {
        guard("boxlite_simple_new", err_out, || {
            let image = str_arg(image, "image")?;
            let out = out_arg(out, "out")?;
            let runtime = match rt.as_ref() {
                Some(rt) => rt.inner.clone(),
                None => Runtime::default()?,
            };
            let created = runtime.create(BoxOptions::new(image), None)?;
            if let Err(e) = block_on(created.start())? {
                // The handle never reached the caller, so nobody else would remove the box.
                let _ = runtime.remove(created.id(), true);
                return Err(e);
            }
            let id = cstring_lossy(created.id());
            out.write(Box::into_raw(Box::new(BoxliteSimple { runtime, inner: created, id })));
            Ok(())
        })
    }
}

/// The id of the box. Borrowed from `sb`: valid until `sb` is freed. NULL if `sb` is NULL.
///
/// # Safety
/// `sb` is NULL or a live handle from `boxlite_simple_new`.
#[no_mangle]
pub unsafe extern "C" fn boxlite_simple_id(sb: *const BoxliteSimple) -> *const c_char {
    // SAFETY: forwarded caller contract.
    unsafe { sb.as_ref() }.map_or(ptr::null(), |s| s.id.as_ptr())
}

/// The outcome of `boxlite_simple_run()`: exit code and captured output.
#[derive(Debug)]
pub struct BoxliteSimpleResult {
    exit_code: i32,
    stdout: Captured,
    stderr: Captured,
}

/// One stream's bytes, NUL-terminated for C (the NUL is not counted in the length).
#[derive(Debug, Default)]
struct Captured {
    bytes: Vec<u8>,
    truncated: bool,
}

impl Captured {
    async fn collect(mut chunks: Option<mpsc::Receiver<Vec<u8>>>) -> Self {
        let mut captured = Captured::default();
        let Some(chunks) = chunks.as_mut() else { return captured };
        while let Some(chunk) = chunks.recv().await {
            let room = BOXLITE_SIMPLE_OUTPUT_LIMIT_BYTES - captured.bytes.len();
            captured.truncated |= chunk.len() > room;
            captured.bytes.extend_from_slice(&chunk[..chunk.len().min(room)]);
        }
        captured.bytes.push(0);
        captured
    }

    fn text(&self, len_out: *mut usize) -> *const c_char {
        if !len_out.is_null() {
            // SAFETY: non-NULL and writable per the caller contract of the accessors.
            unsafe { len_out.write(self.bytes.len().saturating_sub(1)) };
        }
        self.bytes.as_ptr().cast()
    }
}

/// Runs `argv` (a NULL-terminated array as for execv(3), see `boxlite_command_new()`) in the
/// box with the box's environment, working directory and user, stdin at /dev/null, and waits
/// until it ends, however long that takes (use `boxlite_box_exec()` with
/// `boxlite_command_set_timeout_ms()` for a deadline). Both streams are read at once, so a
/// command writing a lot to both never blocks; each keeps at most
/// BOXLITE_SIMPLE_OUTPUT_LIMIT_BYTES.
///
/// On success `*out` receives the result, owned by the caller and freed with
/// `boxlite_simple_result_free()`; a non-zero exit code is a result, not an error. Errors: as
/// `boxlite_box_exec()` (BOXLITE_ERROR_COMMAND_NOT_FOUND, ...), and BOXLITE_ERROR_ENGINE when
/// the box went away before the command ended.
///
/// # Safety
/// `sb` is a live handle; `argv` is a NULL-terminated array of NUL-terminated strings; `out`
/// is valid for writing a pointer; `err_out` is NULL or valid for writing a pointer.
#[no_mangle]
pub unsafe extern "C" fn boxlite_simple_run(
    sb: *const BoxliteSimple,
    argv: *const *const c_char,
    out: *mut *mut BoxliteSimpleResult,
    err_out: *mut *mut BoxliteError,
) -> BoxliteErrorCode {
    // SAFETY: arguments per the caller contract.
    unsafe {
        guard("boxlite_simple_run", err_out, || {
            let sb = ref_arg(sb, "sb")?;
            let argv = argv_arg(argv)?;
            let out = out_arg(out, "out")?;
            let result = block_on(async {
                let mut execution = sb.inner.exec(Command::new(argv)).await?;
                let (stdout, stderr) = tokio::join!(
                    Captured::collect(execution.stdout()),
                    Captured::collect(execution.stderr())
                );
                let exit_code = execution.wait().await?.code();
                Ok::<_, Error>(BoxliteSimpleResult { exit_code, stdout, stderr })
            })??;
            out.write(Box::into_raw(Box::new(result)));
            Ok(())
        })
    }
}

/// The command's exit code: its exit status, or 128 + the signal number when a signal killed
/// it (as a shell reports it). -1 if `result` is NULL.
///
/// # Safety
/// `result` is NULL or a live result.
#[no_mangle]
pub unsafe extern "C" fn boxlite_simple_result_exit_code(
    result: *const BoxliteSimpleResult,
) -> i32 {
    // SAFETY: forwarded caller contract.
    unsafe { result.as_ref() }.map_or(-1, |r| r.exit_code)
}

/// The command's stdout: a NUL-terminated buffer (the output may itself hold NUL bytes; when
/// `len_out` is not NULL, `*len_out` receives its length, without the final NUL). Borrowed
/// from `result`: valid until `result` is freed. NULL if `result` is NULL.
///
/// # Safety
/// `result` is NULL or a live result; `len_out` is NULL or valid for writing a `size_t`.
#[no_mangle]
pub unsafe extern "C" fn boxlite_simple_result_stdout(
    result: *const BoxliteSimpleResult,
    len_out: *mut usize,
) -> *const c_char {
    // SAFETY: forwarded caller contract.
    unsafe { result.as_ref() }.map_or(ptr::null(), |r| r.stdout.text(len_out))
}

/// The command's stderr, as `boxlite_simple_result_stdout()`.
///
/// # Safety
/// As `boxlite_simple_result_stdout`.
#[no_mangle]
pub unsafe extern "C" fn boxlite_simple_result_stderr(
    result: *const BoxliteSimpleResult,
    len_out: *mut usize,
) -> *const c_char {
    // SAFETY: forwarded caller contract.
    unsafe { result.as_ref() }.map_or(ptr::null(), |r| r.stderr.text(len_out))
}

/// Whether stdout or stderr was longer than BOXLITE_SIMPLE_OUTPUT_LIMIT_BYTES and was cut
/// there. false if `result` is NULL.
///
/// # Safety
/// `result` is NULL or a live result.
#[no_mangle]
pub unsafe extern "C" fn boxlite_simple_result_truncated(
    result: *const BoxliteSimpleResult,
) -> bool {
    // SAFETY: forwarded caller contract.
    unsafe { result.as_ref() }.is_some_and(|r| r.stdout.truncated || r.stderr.truncated)
}

/// Frees a result from `boxlite_simple_run()`. NULL does nothing.
///
/// # Safety
/// `result` is NULL or a result from `boxlite_simple_run`, freed only once.
#[no_mangle]
pub unsafe extern "C" fn boxlite_simple_result_free(result: *mut BoxliteSimpleResult) {
    if !result.is_null() {
        // SAFETY: made with Box::into_raw in boxlite_simple_run and freed once.
        drop(unsafe { Box::from_raw(result) });
    }
}

/// Stops the box (core's default grace, BOXLITE_DEFAULT_STOP_TIMEOUT_MS, then SIGKILL) and
/// removes it with its files, then frees `sb`. Commands still running in it are killed.
/// Best effort: this call cannot report a failure (after `boxlite_runtime_shutdown()` of the
/// runtime given to `boxlite_simple_new()`, for instance, the box is left in the home, stopped,
/// for `boxlite_box_remove()`). NULL does nothing.
///
/// # Safety
/// `sb` is NULL or a handle from `boxlite_simple_new`, freed only once and not in use by
/// another thread.
#[no_mangle]
pub unsafe extern "C" fn boxlite_simple_free(sb: *mut BoxliteSimple) {
    if sb.is_null() {
        return;
    }
    // SAFETY: made with Box::into_raw in boxlite_simple_new and freed once.
    let sb = unsafe { Box::from_raw(sb) };
    // A panic must not unwind into C; there is nobody to tell, so it only skips the cleanup.
    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let _ = block_on(sb.inner.stop(DEFAULT_STOP_TIMEOUT));
        let _ = sb.runtime.remove(sb.inner.id(), true);
    }));
}
