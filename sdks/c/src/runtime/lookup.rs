//! `boxlite_box_get`, `boxlite_box_get_info` and `boxlite_box_list`: core's `Runtime::get`,
//! `get_info` and `list_info`.

use std::ffi::c_char;
use std::ptr;

use super::BoxliteRuntime;
use crate::error::{BoxliteError, BoxliteErrorCode};
use crate::ffi::{guard, out_arg, ref_arg, str_arg};
use crate::info::{BoxliteBoxInfo, BoxliteBoxList};
use crate::litebox::BoxliteBox;

/// Gets a handle to the box with id, name or unique id prefix `id_or_name`.
///
/// A box that does not exist is not an error: the call returns BOXLITE_OK and writes NULL to
/// `*out` (the one exception to "outputs hold a value on success"). Otherwise `*out` receives
/// a handle owned by the caller, to be freed with `boxlite_box_free()`. Errors:
/// BOXLITE_ERROR_INVALID_ARGUMENT for an empty key or an ambiguous id prefix.
///
/// # Safety
/// `rt` is a live runtime; `id_or_name` is a NUL-terminated string; `out` is valid for writing
/// a pointer; `err_out` is NULL or valid for writing a pointer.
#[no_mangle]
pub unsafe extern "C" fn boxlite_box_get(
    rt: *const BoxliteRuntime,
    id_or_name: *const c_char,
    out: *mut *mut BoxliteBox,
    err_out: *mut *mut BoxliteError,
) -> BoxliteErrorCode {
    // SAFETY: arguments per the caller contract.
    unsafe {
        guard("boxlite_box_get", err_out, || {
            let rt = ref_arg(rt, "rt")?;
            let key = str_arg(id_or_name, "id_or_name")?;
            let out = out_arg(out, "out")?;
            let found = rt.inner.get(key)?;
            out.write(found.map_or(ptr::null_mut(), BoxliteBox::into_raw));
            Ok(())
        })
    }
}

/// Reads the box with id, name or unique id prefix `id_or_name`.
///
/// A box that does not exist is not an error: the call returns BOXLITE_OK and writes NULL to
/// `*out`. Otherwise `*out` receives a snapshot owned by the caller, to be freed with
/// `boxlite_box_info_free()`. Errors: BOXLITE_ERROR_INVALID_ARGUMENT for an empty key or an
/// ambiguous id prefix.
///
/// # Safety
/// `rt` is a live runtime; `id_or_name` is a NUL-terminated string; `out` is valid for writing
/// a pointer; `err_out` is NULL or valid for writing a pointer.
#[no_mangle]
pub unsafe extern "C" fn boxlite_box_get_info(
    rt: *const BoxliteRuntime,
    id_or_name: *const c_char,
    out: *mut *mut BoxliteBoxInfo,
    err_out: *mut *mut BoxliteError,
) -> BoxliteErrorCode {
    // SAFETY: arguments per the caller contract.
    unsafe {
        guard("boxlite_box_get_info", err_out, || {
            let rt = ref_arg(rt, "rt")?;
            let key = str_arg(id_or_name, "id_or_name")?;
            let out = out_arg(out, "out")?;
            let info = match rt.inner.get_info(key)? {
                Some(info) => Box::into_raw(Box::new(BoxliteBoxInfo::try_from(info)?)),
                None => ptr::null_mut(),
            };
            out.write(info);
            Ok(())
        })
    }
}

/// Reads every box, newest first.
///
/// On success `*out` receives a list owned by the caller, to be freed with
/// `boxlite_box_list_free()`; the infos in it are borrowed from it.
///
/// # Safety
/// `rt` is a live runtime; `out` is valid for writing a pointer; `err_out` is NULL or valid
/// for writing a pointer.
#[no_mangle]
pub unsafe extern "C" fn boxlite_box_list(
    rt: *const BoxliteRuntime,
    out: *mut *mut BoxliteBoxList,
    err_out: *mut *mut BoxliteError,
) -> BoxliteErrorCode {
    // SAFETY: arguments per the caller contract.
    unsafe {
        guard("boxlite_box_list", err_out, || {
            let rt = ref_arg(rt, "rt")?;
            let out = out_arg(out, "out")?;
            let list = BoxliteBoxList::try_from(rt.inner.list_info()?)?;
            out.write(Box::into_raw(Box::new(list)));
            Ok(())
        })
    }
}
