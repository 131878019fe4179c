//! [`BoxliteRuntime`]: an open home directory. Mirrors core's `runtime/`: opening here, and one
//! file per verb (create, lookup, remove, shutdown) for the runtime's operations.

mod create;
mod lookup;
mod remove;
mod shutdown;

pub use create::{boxlite_box_create, boxlite_box_create_json, boxlite_box_get_or_create};
pub use lookup::{boxlite_box_get, boxlite_box_get_info, boxlite_box_list};
pub use remove::boxlite_box_remove;
pub use shutdown::boxlite_runtime_shutdown;

use std::ffi::{c_char, CStr, OsStr};
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

use boxlite_core::{Runtime, RuntimeOptions};

use crate::error::{BoxliteError, BoxliteErrorCode};
use crate::ffi::{guard, invalid_argument, out_arg, str_arg};
use crate::options;

/// An open boxlite home directory (state database, images, boxes). Several runtimes, in this
/// or other processes, may open the same home at once.
#[derive(Debug)]
pub struct BoxliteRuntime {
    pub(crate) inner: Runtime,
}

// The header promises that one runtime may be used from several threads at once.
const _: fn() = || {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<BoxliteRuntime>();
};

/// Opens the home directory `home_dir`, creating it if missing. NULL means the default home:
/// `$BOXLITE_HOME`, else `~/.boxlite`. `home_dir` is a path, so any bytes are accepted.
///
/// On success `*out` receives a runtime owned by the caller, to be freed with
/// `boxlite_runtime_free()`.
///
/// # Safety
/// `home_dir` is NULL or a NUL-terminated string; `out` is valid for writing a pointer;
/// `err_out` is NULL or valid for writing a pointer.
#[no_mangle]
pub unsafe extern "C" fn boxlite_runtime_open(
    home_dir: *const c_char,
    out: *mut *mut BoxliteRuntime,
    err_out: *mut *mut BoxliteError,
) -> BoxliteErrorCode {
    // SAFETY: err_out per the caller contract.
    unsafe {
        guard("boxlite_runtime_open", err_out, || {
            let out = out_arg(out, "out")?;
            // Paths are bytes on Unix: a non-UTF-8 home is legal, so no UTF-8 check here.
            let home_dir = (!home_dir.is_null())
                .then(|| PathBuf::from(OsStr::from_bytes(CStr::from_ptr(home_dir).to_bytes())));
            if home_dir.as_ref().is_some_and(|dir| dir.as_os_str().is_empty()) {
                return Err(invalid_argument(
                    "home_dir",
                    "is empty (pass NULL for the default home)",
                ));
            }
            let inner = Runtime::open(RuntimeOptions { home_dir, ..Default::default() })?;
            out.write(Box::into_raw(Box::new(BoxliteRuntime { inner })));
            Ok(())
        })
    }
}

/// Opens a home directory with options given as JSON: an object with `home_dir` (a string;
/// null or absent for the default home) and `image_registries`, a list of registry entries
/// (unknown fields are refused):
/// `{"host": "127.0.0.1:5000", "transport": "http" | "https", "skip_verify": false,
///   "search": true, "auth": {"type": "basic", "username": "u", "password": "p"} |
///   {"type": "bearer", "token": "t"}, "mirrors": ["mirror.example.com"]}`.
/// Entries here come before those of `$BOXLITE_IMAGE_REGISTRIES` and of the home's
/// `config.json`; the first entry naming a host decides its settings. A home whose path is
/// not UTF-8 needs `boxlite_runtime_open()`.
///
/// On success `*out` receives a runtime owned by the caller, to be freed with
/// `boxlite_runtime_free()`. Errors: BOXLITE_ERROR_INVALID_ARGUMENT for JSON that does not
/// parse, an unknown field, or an invalid registry entry (naming it).
///
/// # Safety
/// `options_json` is a NUL-terminated string; `out` is valid for writing a pointer;
/// `err_out` is NULL or valid for writing a pointer.
#[no_mangle]
pub unsafe extern "C" fn boxlite_runtime_open_json(
    options_json: *const c_char,
    out: *mut *mut BoxliteRuntime,
    err_out: *mut *mut BoxliteError,
) -> BoxliteErrorCode {
    // SAFETY: arguments per the caller contract.
    unsafe {
        guard("boxlite_runtime_open_json", err_out, || {
            let json = str_arg(options_json, "options_json")?;
            let options = options::runtime_from_json(json, "options_json")?;
            let out = out_arg(out, "out")?;
            let inner = Runtime::open(options)?;
            out.write(Box::into_raw(Box::new(BoxliteRuntime { inner })));
            Ok(())
        })
    }
}

/// Frees a runtime from `boxlite_runtime_open()` or `boxlite_runtime_open_json()`. Boxes and their records stay in the home.
/// NULL does nothing. Info, list and error objects, box handles and executions obtained through
/// the runtime stay valid (they share the runtime's state). The non-detached boxes it started
/// stop when this process exits at the latest; `boxlite_runtime_shutdown()` stops them now.
///
/// # Safety
/// `rt` is NULL or a runtime from `boxlite_runtime_open*`, freed only once and not in use by
/// another thread.
#[no_mangle]
pub unsafe extern "C" fn boxlite_runtime_free(rt: *mut BoxliteRuntime) {
    if !rt.is_null() {
        // SAFETY: made with Box::into_raw in boxlite_runtime_open and freed once.
        drop(unsafe { Box::from_raw(rt) });
    }
}
