//! `boxlite_box_info` and `boxlite_box_list`: core's `Runtime::get_info` and `list_info`.

use std::ffi::c_char;

use boxlite_core::{Error, ErrorKind};

use super::BoxliteRuntime;
use crate::error::{BoxliteError, BoxliteErrorCode};
use crate::ffi::{guard, out_arg, ref_arg, str_arg};
use crate::info::{BoxliteBoxInfo, BoxliteBoxList};

/// Reads the box with id, name or unique id prefix `id_or_name`.
///
/// On success `*out` receives a snapshot owned by the caller, to be freed with
/// `boxlite_box_info_free()`. Errors: BOXLITE_ERROR_NOT_FOUND when there is no such box,
/// BOXLITE_ERROR_INVALID_ARGUMENT for an empty key or an ambiguous id prefix.
///
/// # Safety
/// `rt` is a live runtime; `id_or_name` is a NUL-terminated string; `out` is valid for writing
/// a pointer; `err_out` is NULL or valid for writing a pointer.
#[no_mangle]
pub unsafe extern "C" fn boxlite_box_info(
    rt: *const BoxliteRuntime,
    id_or_name: *const c_char,
    out: *mut *mut BoxliteBoxInfo,
    err_out: *mut *mut BoxliteError,
) -> BoxliteErrorCode {
    // SAFETY: arguments per the caller contract.
    unsafe {
        guard("boxlite_box_info", err_out, || {
            let rt = ref_arg(rt, "rt")?;
            let key = str_arg(id_or_name, "id_or_name")?;
            let out = out_arg(out, "out")?;
            // Core answers "absent" with None; C has one channel for that, the code.
            let info = rt
                .inner
                .get_info(key)?
                .ok_or_else(|| Error::new(ErrorKind::NotFound, format!("no such box: {key}")))?;
            out.write(Box::into_raw(Box::new(BoxliteBoxInfo::try_from(info)?)));
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
