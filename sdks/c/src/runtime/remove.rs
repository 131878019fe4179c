//! `boxlite_box_remove`: core's `Runtime::remove`.

use std::ffi::c_char;

use super::BoxliteRuntime;
use crate::error::{BoxliteError, BoxliteErrorCode};
use crate::ffi::{guard, ref_arg, str_arg};

/// Deletes the box with id, name or unique id prefix `id_or_name`: its record and its files.
/// A box that is starting, running or stopping needs `force`.
///
/// Errors: BOXLITE_ERROR_NOT_FOUND when there is no such box, BOXLITE_ERROR_INVALID_STATE
/// when the box is active and `force` is false.
///
/// # Safety
/// `rt` is a live runtime; `id_or_name` is a NUL-terminated string; `err_out` is NULL or valid
/// for writing a pointer.
#[no_mangle]
pub unsafe extern "C" fn boxlite_box_remove(
    rt: *mut BoxliteRuntime,
    id_or_name: *const c_char,
    force: bool,
    err_out: *mut *mut BoxliteError,
) -> BoxliteErrorCode {
    // SAFETY: arguments per the caller contract.
    unsafe {
        guard("boxlite_box_remove", err_out, || {
            let rt = ref_arg(rt, "rt")?;
            let key = str_arg(id_or_name, "id_or_name")?;
            rt.inner.remove(key, force)?;
            Ok(())
        })
    }
}
