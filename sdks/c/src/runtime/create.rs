//! `boxlite_box_create*` and `boxlite_box_get_or_create`: core's `Runtime::create` and
//! `Runtime::get_or_create`.

use std::ffi::c_char;

use boxlite_core::{BoxOptions, Error};

use super::BoxliteRuntime;
use crate::error::{BoxliteError, BoxliteErrorCode};
use crate::ffi::{guard, opt_str_arg, out_arg, ref_arg, str_arg};
use crate::litebox::BoxliteBox;
use crate::options;

/// Creates a box from `image` (an image reference such as "alpine:3.20" or
/// "oci:/path/to/layout:tag", resolved when the box starts) with every other option at its
/// default, named `name` (NULL for no name). The box is stored as "configured"; nothing runs.
///
/// On success `*out` receives a handle to the new box, owned by the caller and freed with
/// `boxlite_box_free()`. Errors: BOXLITE_ERROR_INVALID_ARGUMENT for a malformed image or
/// name, BOXLITE_ERROR_ALREADY_EXISTS when the name is taken, BOXLITE_ERROR_INVALID_STATE
/// after `boxlite_runtime_shutdown()`.
///
/// # Safety
/// `rt` is a live runtime; `image` and `name` (if not NULL) are NUL-terminated strings;
/// `out` is valid for writing a pointer; `err_out` is NULL or valid for writing a pointer.
#[no_mangle]
pub unsafe extern "C" fn boxlite_box_create(
    rt: *mut BoxliteRuntime,
    image: *const c_char,
    name: *const c_char,
    out: *mut *mut BoxliteBox,
    err_out: *mut *mut BoxliteError,
) -> BoxliteErrorCode {
    // SAFETY: arguments per the caller contract.
    unsafe {
        guard("boxlite_box_create", err_out, || {
            let image = str_arg(image, "image")?;
            create(rt, BoxOptions::new(image), name, out)
        })
    }
}

/// Creates a box from options given as JSON: an object with the fields of boxlite's
/// `BoxOptions` (`{"image": "alpine:3.20", "env": [["K", "v"]], "memory_mib": 256, …}`;
/// unknown fields are refused), named `name` (NULL for no name).
///
/// `"detach": true` keeps the box running after this process exits (another process can get it
/// by name and exec in it); it cannot be combined with `"auto_remove": true`.
///
/// On success `*out` receives a handle to the new box, owned by the caller and freed with
/// `boxlite_box_free()`. Errors: BOXLITE_ERROR_INVALID_ARGUMENT for JSON that does not
/// parse or an invalid option or name, BOXLITE_ERROR_ALREADY_EXISTS when the name is taken.
///
/// # Safety
/// As `boxlite_box_create`, with `options_json` a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn boxlite_box_create_json(
    rt: *mut BoxliteRuntime,
    options_json: *const c_char,
    name: *const c_char,
    out: *mut *mut BoxliteBox,
    err_out: *mut *mut BoxliteError,
) -> BoxliteErrorCode {
    // SAFETY: arguments per the caller contract.
    unsafe {
        guard("boxlite_box_create_json", err_out, || {
            let json = str_arg(options_json, "options_json")?;
            create(rt, options::from_json(json, "options_json")?, name, out)
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
    out: *mut *mut BoxliteBox,
) -> Result<(), Error> {
    // SAFETY: forwarded caller contract.
    let rt = unsafe { ref_arg(rt, "rt") }?;
    // SAFETY: forwarded caller contract.
    let name = unsafe { opt_str_arg(name, "name") }?;
    let out = out_arg(out, "out")?;
    let created = rt.inner.create(options, name)?;
    // SAFETY: out is writable per the caller contract.
    unsafe { out.write(BoxliteBox::into_raw(created)) };
    Ok(())
}

/// The box named `name` if it exists, else a new one created from `options_json` (as
/// `boxlite_box_create_json()`) with that name. The options of an existing box are not
/// compared with `options_json`.
///
/// On success `*out` receives a box handle owned by the caller (freed with
/// `boxlite_box_free()`) and, when `out_created` is not NULL, `*out_created` says whether the
/// box was created by this call. Errors: as `boxlite_box_create_json()`.
///
/// # Safety
/// As `boxlite_box_create_json`, with `name` required and `out_created` NULL or valid for
/// writing a bool.
#[no_mangle]
pub unsafe extern "C" fn boxlite_box_get_or_create(
    rt: *mut BoxliteRuntime,
    options_json: *const c_char,
    name: *const c_char,
    out: *mut *mut BoxliteBox,
    out_created: *mut bool,
    err_out: *mut *mut BoxliteError,
) -> BoxliteErrorCode {
    // SAFETY: arguments per the caller contract.
    unsafe {
        guard("boxlite_box_get_or_create", err_out, || {
            let rt = ref_arg(rt, "rt")?;
            let options =
                options::from_json(str_arg(options_json, "options_json")?, "options_json")?;
            let name = str_arg(name, "name")?;
            let out = out_arg(out, "out")?;
            let (found, created) = rt.inner.get_or_create(options, name)?;
            if !out_created.is_null() {
                out_created.write(created);
            }
            out.write(BoxliteBox::into_raw(found));
            Ok(())
        })
    }
}
