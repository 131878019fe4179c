//! `boxlite_box_create*`: core's `Runtime::create`.

use std::ffi::c_char;

use boxlite_core::{BoxOptions, Error};

use super::BoxliteRuntime;
use crate::error::{BoxliteError, BoxliteErrorCode};
use crate::ffi::{cstring_lossy, guard, opt_str_arg, out_arg, ref_arg, str_arg};
use crate::options;

/// Creates a box from `image` (an image reference such as "alpine:3.20" or
/// "oci:/path/to/layout:tag", resolved when the box starts) with every other option at its
/// default, named `name` (NULL for no name). The box is stored as "configured"; nothing runs.
///
/// On success `*out_id` receives the new box's id, owned by the caller and freed with
/// `boxlite_string_free()`. Errors: BOXLITE_ERROR_INVALID_ARGUMENT for a malformed image or
/// name, BOXLITE_ERROR_ALREADY_EXISTS when the name is taken.
///
/// # Safety
/// `rt` is a live runtime; `image` and `name` (if not NULL) are NUL-terminated strings;
/// `out_id` is valid for writing a pointer; `err_out` is NULL or valid for writing a pointer.
#[no_mangle]
pub unsafe extern "C" fn boxlite_box_create(
    rt: *mut BoxliteRuntime,
    image: *const c_char,
    name: *const c_char,
    out_id: *mut *mut c_char,
    err_out: *mut *mut BoxliteError,
) -> BoxliteErrorCode {
    // SAFETY: arguments per the caller contract.
    unsafe {
        guard("boxlite_box_create", err_out, || {
            let image = str_arg(image, "image")?;
            create(rt, BoxOptions::new(image), name, out_id)
        })
    }
}

/// Creates a box from options given as JSON: an object with the fields of boxlite's
/// `BoxOptions` (`{"image": "alpine:3.20", "env": [["K", "v"]], "memory_mib": 256, …}`;
/// unknown fields are refused), named `name` (NULL for no name).
///
/// On success `*out_id` receives the new box's id, owned by the caller and freed with
/// `boxlite_string_free()`. Errors: BOXLITE_ERROR_INVALID_ARGUMENT for JSON that does not
/// parse or an invalid option or name, BOXLITE_ERROR_ALREADY_EXISTS when the name is taken.
///
/// # Safety
/// As `boxlite_box_create`, with `options_json` a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn boxlite_box_create_json(
    rt: *mut BoxliteRuntime,
    options_json: *const c_char,
    name: *const c_char,
    out_id: *mut *mut c_char,
    err_out: *mut *mut BoxliteError,
) -> BoxliteErrorCode {
    // SAFETY: arguments per the caller contract.
    unsafe {
        guard("boxlite_box_create_json", err_out, || {
            let json = str_arg(options_json, "options_json")?;
            create(rt, options::from_json(json, "options_json")?, name, out_id)
        })
    }
}

/// The part both entry points share, once the options are known.
///
/// # Safety
/// As `boxlite_box_create`.
unsafe fn create(
    rt: *mut BoxliteRuntime,
    options: BoxOptions,
    name: *const c_char,
    out_id: *mut *mut c_char,
) -> Result<(), Error> {
    // SAFETY: forwarded caller contract.
    let rt = unsafe { ref_arg(rt, "rt") }?;
    // SAFETY: forwarded caller contract.
    let name = unsafe { opt_str_arg(name, "name") }?;
    let out_id = out_arg(out_id, "out_id")?;
    let created = rt.inner.create(options, name)?;
    // SAFETY: out_id is writable per the caller contract.
    unsafe { out_id.write(cstring_lossy(created.id()).into_raw()) };
    Ok(())
}
