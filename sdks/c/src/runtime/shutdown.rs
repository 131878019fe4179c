//! `boxlite_runtime_shutdown`: core's `Runtime::shutdown`.

use std::time::Duration;

use super::BoxliteRuntime;
use crate::blocking::block_on;
use crate::error::{BoxliteError, BoxliteErrorCode};
use crate::ffi::{guard, ref_arg};

/// Stops every box this runtime started that is not detached, concurrently, each with
/// `timeout_ms` milliseconds between SIGTERM and SIGKILL (BOXLITE_DEFAULT_STOP_TIMEOUT_MS is
/// core's default), and returns when all are stopped. Detached boxes keep running.
///
/// Idempotent: a second call returns BOXLITE_OK. Afterwards every other call on this runtime,
/// and on the box handles and executions obtained through it, fails with
/// BOXLITE_ERROR_INVALID_STATE; `boxlite_runtime_free()` is still needed. Errors: the first
/// error of the stops, after all of them finished.
///
/// # Safety
/// `rt` is a live runtime; `err_out` is NULL or valid for writing a pointer.
#[no_mangle]
pub unsafe extern "C" fn boxlite_runtime_shutdown(
    rt: *mut BoxliteRuntime,
    timeout_ms: u64,
    err_out: *mut *mut BoxliteError,
) -> BoxliteErrorCode {
    // SAFETY: arguments per the caller contract.
    unsafe {
        guard("boxlite_runtime_shutdown", err_out, || {
            let rt = ref_arg(rt, "rt")?;
            block_on(rt.inner.shutdown(Duration::from_millis(timeout_ms)))?
        })
    }
}
