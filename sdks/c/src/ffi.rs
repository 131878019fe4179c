//! The boundary every exported function goes through: reading C arguments, writing outputs,
//! catching panics and filling `err_out`. Nothing here knows about boxes.

use std::any::Any;
use std::ffi::{c_char, CStr, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};

use boxlite_core::{Error, ErrorKind};

use crate::error::{BoxliteError, BoxliteErrorCode};

/// Runs the body of the exported function `func` and turns its outcome into the C convention:
/// `BOXLITE_OK`, or the error's code with an owned [`BoxliteError`] in `*err_out` (when
/// `err_out` is not NULL). A panic becomes `BOXLITE_ERROR_INTERNAL` instead of unwinding into
/// C, which would abort the host process.
///
/// # Safety
/// `err_out` is NULL or valid for writing one pointer.
pub(crate) unsafe fn guard(
    func: &str,
    err_out: *mut *mut BoxliteError,
    body: impl FnOnce() -> Result<(), Error>,
) -> BoxliteErrorCode {
    // AssertUnwindSafe: after a panic nothing the body touched is used again by this call,
    // and core's only shared state (the database connection) survives a poisoned lock.
    let outcome = catch_unwind(AssertUnwindSafe(body)).unwrap_or_else(|payload| {
        Err(Error::new(
            ErrorKind::Internal,
            format!("{func} panicked: {}", panic_message(payload.as_ref())),
        ))
    });
    match outcome {
        Ok(()) => BoxliteErrorCode::BOXLITE_OK,
        Err(err) => {
            let err = BoxliteError::from_core(&err);
            let code = err.code();
            if !err_out.is_null() {
                // SAFETY: err_out is valid for writes (caller contract); the caller owns the
                // error and frees it with boxlite_error_free.
                unsafe { err_out.write(Box::into_raw(Box::new(err))) };
            }
            code
        }
    }
}

fn panic_message(payload: &(dyn Any + Send)) -> &str {
    payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("non-string panic payload")
}

/// An `InvalidArgument` error naming the C parameter.
pub(crate) fn invalid_argument(param: &str, problem: impl std::fmt::Display) -> Error {
    Error::new(ErrorKind::InvalidArgument, format!("{param} {problem}"))
}

/// A required, NUL-terminated UTF-8 string argument.
///
/// # Safety
/// `ptr` is NULL or a NUL-terminated string that outlives `'a` and is not mutated meanwhile.
pub(crate) unsafe fn str_arg<'a>(ptr: *const c_char, param: &str) -> Result<&'a str, Error> {
    // SAFETY: forwarded caller contract.
    unsafe { opt_str_arg(ptr, param) }?.ok_or_else(|| invalid_argument(param, "is NULL"))
}

/// An optional string argument: NULL is `None`.
///
/// # Safety
/// As [`str_arg`].
pub(crate) unsafe fn opt_str_arg<'a>(
    ptr: *const c_char,
    param: &str,
) -> Result<Option<&'a str>, Error> {
    if ptr.is_null() {
        return Ok(None);
    }
    // SAFETY: non-NULL and NUL-terminated per the caller contract.
    let bytes = unsafe { CStr::from_ptr(ptr) };
    bytes.to_str().map(Some).map_err(|e| invalid_argument(param, format!("is not UTF-8 ({e})")))
}

/// A required handle argument, borrowed for the call.
///
/// # Safety
/// `ptr` is NULL or points to a live `T` not freed during `'a`.
pub(crate) unsafe fn ref_arg<'a, T>(ptr: *const T, param: &str) -> Result<&'a T, Error> {
    // SAFETY: forwarded caller contract.
    unsafe { ptr.as_ref() }.ok_or_else(|| invalid_argument(param, "is NULL"))
}

/// Checks an output parameter before any work is done, so a NULL one cannot cause a side
/// effect (a created box) whose result the caller never sees.
pub(crate) fn out_arg<T>(ptr: *mut T, param: &str) -> Result<OutPtr<T>, Error> {
    if ptr.is_null() {
        return Err(invalid_argument(param, "is NULL"));
    }
    Ok(OutPtr(ptr))
}

/// A checked, non-NULL output parameter, written once on success.
pub(crate) struct OutPtr<T>(*mut T);

impl<T> OutPtr<T> {
    /// Stores the result.
    ///
    /// # Safety
    /// The pointer given to [`out_arg`] is valid for writing one `T`.
    pub(crate) unsafe fn write(self, value: T) {
        // SAFETY: non-NULL (checked in out_arg) and writable (caller contract).
        unsafe { self.0.write(value) }
    }
}

/// A C string for text that may, in theory, hold NUL bytes (error messages quote user input):
/// each NUL becomes U+FFFD instead of truncating or failing.
pub(crate) fn cstring_lossy(text: &str) -> CString {
    CString::new(text.replace('\0', "\u{FFFD}")).unwrap_or_default()
}
