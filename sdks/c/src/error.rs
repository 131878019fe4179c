//! Error codes and error objects. Core's [`ErrorKind`] is mapped to [`BoxliteErrorCode`] in
//! exactly one place, [`BoxliteErrorCode::from_kind`]; everything else derives from it.

use std::ffi::{c_char, CString};
use std::ptr;
use std::sync::OnceLock;

use boxlite_core::{Error, ErrorKind};

use crate::ffi::cstring_lossy;

/// The result of every fallible boxlite call. `BOXLITE_OK` is 0; the other values are the
/// core's error kinds, numbered from 1 in the core's order (`boxlite_error_code_count()` of
/// them). `boxlite_error_code_name()` returns each one's stable name.
#[allow(non_camel_case_types)]
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BoxliteErrorCode {
    /// Success.
    BOXLITE_OK = 0,
    /// "invalid_argument": a caller-supplied value is malformed (name, option, reference…).
    BOXLITE_ERROR_INVALID_ARGUMENT = 1,
    /// "not_found": the box, image or file named does not exist.
    BOXLITE_ERROR_NOT_FOUND = 2,
    /// "already_exists": a box with that name or id exists already.
    BOXLITE_ERROR_ALREADY_EXISTS = 3,
    /// "invalid_state": the box is in a status that does not allow the operation.
    BOXLITE_ERROR_INVALID_STATE = 4,
    /// "timeout": an operation ran past its deadline.
    BOXLITE_ERROR_TIMEOUT = 5,
    /// "image": an image could not be resolved, fetched or unpacked.
    BOXLITE_ERROR_IMAGE = 6,
    /// "engine": the isolation engine failed to build or run the box.
    BOXLITE_ERROR_ENGINE = 7,
    /// "exec": a command inside the box could not be started.
    BOXLITE_ERROR_EXEC = 8,
    /// "database": the state database failed.
    BOXLITE_ERROR_DATABASE = 9,
    /// "io": a host filesystem or OS call failed.
    BOXLITE_ERROR_IO = 10,
    /// "internal": a bug in boxlite, including a panic caught at the C boundary.
    BOXLITE_ERROR_INTERNAL = 11,
    /// "command_not_found": the command of an exec does not exist in the box.
    BOXLITE_ERROR_COMMAND_NOT_FOUND = 12,
    /// "not_executable": the command of an exec exists but cannot be executed.
    BOXLITE_ERROR_NOT_EXECUTABLE = 13,
    /// "bad_working_dir": the working directory of an exec does not exist or cannot be entered.
    BOXLITE_ERROR_BAD_WORKING_DIR = 14,
    /// "unauthorized": a registry refused the credentials given, or wants credentials.
    BOXLITE_ERROR_UNAUTHORIZED = 15,
    /// "unavailable": a registry (or another service) could not be reached or did not answer.
    BOXLITE_ERROR_UNAVAILABLE = 16,
}

use BoxliteErrorCode::*;

// A core kind added without a C code fails the build here rather than reaching C as
// "internal"; the spec suite (error_codes_match_core) checks the order name by name.
const _: () = assert!(BOXLITE_ERROR_UNAVAILABLE as usize == ErrorKind::ALL.len());

impl BoxliteErrorCode {
    /// The code of a core error kind: the only place the two enums are paired.
    pub fn from_kind(kind: ErrorKind) -> Self {
        match kind {
            ErrorKind::InvalidArgument => BOXLITE_ERROR_INVALID_ARGUMENT,
            ErrorKind::NotFound => BOXLITE_ERROR_NOT_FOUND,
            ErrorKind::AlreadyExists => BOXLITE_ERROR_ALREADY_EXISTS,
            ErrorKind::InvalidState => BOXLITE_ERROR_INVALID_STATE,
            ErrorKind::Timeout => BOXLITE_ERROR_TIMEOUT,
            ErrorKind::Image => BOXLITE_ERROR_IMAGE,
            ErrorKind::Engine => BOXLITE_ERROR_ENGINE,
            ErrorKind::Exec => BOXLITE_ERROR_EXEC,
            ErrorKind::Database => BOXLITE_ERROR_DATABASE,
            ErrorKind::Io => BOXLITE_ERROR_IO,
            ErrorKind::Internal => BOXLITE_ERROR_INTERNAL,
            ErrorKind::CommandNotFound => BOXLITE_ERROR_COMMAND_NOT_FOUND,
            ErrorKind::NotExecutable => BOXLITE_ERROR_NOT_EXECUTABLE,
            ErrorKind::BadWorkingDir => BOXLITE_ERROR_BAD_WORKING_DIR,
            ErrorKind::Unauthorized => BOXLITE_ERROR_UNAUTHORIZED,
            ErrorKind::Unavailable => BOXLITE_ERROR_UNAVAILABLE,
            // ErrorKind is #[non_exhaustive]; the const assertion above keeps this arm dead.
            _ => BOXLITE_ERROR_INTERNAL,
        }
    }
}

/// Names indexed by code value: "ok", then each kind's `code()`, found through `from_kind`
/// so the names can never disagree with the numbering. `None` marks a value no kind maps to
/// (impossible while the match pairs kinds and codes one to one).
fn code_names() -> &'static [Option<CString>] {
    static NAMES: OnceLock<Vec<Option<CString>>> = OnceLock::new();
    NAMES.get_or_init(|| {
        let kind_of = |value: usize| {
            ErrorKind::ALL.iter().find(|kind| BoxliteErrorCode::from_kind(**kind) as usize == value)
        };
        let mut names = vec![Some(cstring_lossy("ok"))];
        names.extend(
            (1..=ErrorKind::ALL.len()).map(|v| kind_of(v).map(|k| cstring_lossy(k.code()))),
        );
        names
    })
}

/// An error returned through `err_out`: a code and a message naming what failed and on which
/// subject.
#[derive(Debug)]
pub struct BoxliteError {
    code: BoxliteErrorCode,
    message: CString,
}

impl BoxliteError {
    /// The C-side copy of a core error.
    pub(crate) fn from_core(err: &Error) -> Self {
        BoxliteError {
            code: BoxliteErrorCode::from_kind(err.kind()),
            message: cstring_lossy(&err.to_string()),
        }
    }

    /// The code of this error.
    pub(crate) fn code(&self) -> BoxliteErrorCode {
        self.code
    }
}

/// The code of `err` (never BOXLITE_OK), or BOXLITE_ERROR_INTERNAL when `err` is NULL.
///
/// # Safety
/// `err` is NULL or an error object received through an `err_out` and not yet freed.
#[no_mangle]
pub unsafe extern "C" fn boxlite_error_code(err: *const BoxliteError) -> BoxliteErrorCode {
    // SAFETY: the caller passes NULL or a live error object.
    unsafe { err.as_ref() }.map_or(BOXLITE_ERROR_INTERNAL, BoxliteError::code)
}

/// The message of `err` (UTF-8, naming what failed and on which subject), or NULL when
/// `err` is NULL. The string is borrowed from `err` and valid until `boxlite_error_free(err)`.
///
/// # Safety
/// `err` is NULL or an error object received through an `err_out` and not yet freed.
#[no_mangle]
pub unsafe extern "C" fn boxlite_error_message(err: *const BoxliteError) -> *const c_char {
    // SAFETY: the caller passes NULL or a live error object.
    unsafe { err.as_ref() }.map_or(ptr::null(), |e| e.message.as_ptr())
}

/// Frees an error object received through an `err_out`. NULL does nothing.
///
/// # Safety
/// `err` is NULL or an error object received through an `err_out`, freed only once.
#[no_mangle]
pub unsafe extern "C" fn boxlite_error_free(err: *mut BoxliteError) {
    if !err.is_null() {
        // SAFETY: the object came from Box::into_raw in ffi::guard and is freed once.
        drop(unsafe { Box::from_raw(err) });
    }
}

/// The stable name of `code`: "ok" for BOXLITE_OK, else the core's error code
/// ("invalid_argument", "not_found", …), the same string every boxlite SDK exposes. Returns
/// NULL for a value that is not a code. The string is static: never free it.
// `code` is a plain u32 (shown in C as the BoxliteErrorCode typedef of the same type) so that
// any value a C caller passes is handled rather than undefined behaviour.
#[no_mangle]
pub extern "C" fn boxlite_error_code_name(code: RawErrorCode) -> *const c_char {
    usize::try_from(code)
        .ok()
        .and_then(|index| code_names().get(index))
        .and_then(Option::as_ref)
        .map_or(ptr::null(), |name| name.as_ptr())
}

/// The number of error codes besides BOXLITE_OK: the codes are 1..=boxlite_error_code_count().
#[no_mangle]
pub extern "C" fn boxlite_error_code_count() -> usize {
    ErrorKind::ALL.len()
}

/// The integer type of [`BoxliteErrorCode`], for arguments: receiving the Rust enum from C
/// would be undefined behaviour for a value outside it. cbindgen prints it as
/// `BoxliteErrorCode` (see `cbindgen.toml`), which C defines as this same `uint32_t`.
///
/// cbindgen:no-export
pub type RawErrorCode = u32;
