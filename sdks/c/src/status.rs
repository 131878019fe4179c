//! Status names from core's [`BoxStatus::ALL`] and [`BoxStatus::as_str`]; the binding never
//! spells a status itself.

use std::ffi::{c_char, CStr, CString};
use std::ptr;
use std::sync::OnceLock;

use boxlite_core::BoxStatus;

use crate::ffi::cstring_lossy;

/// NUL-terminated copies of the names, in `BoxStatus::ALL` order, made once and kept for the
/// life of the process so C can hold them as static strings.
fn names() -> &'static [CString] {
    static NAMES: OnceLock<Vec<CString>> = OnceLock::new();
    NAMES.get_or_init(|| BoxStatus::ALL.iter().map(|s| cstring_lossy(s.as_str())).collect())
}

/// The static name of `status`, or `None` if core's `ALL` misses it (a core bug).
pub(crate) fn name_of(status: BoxStatus) -> Option<&'static CStr> {
    let index = BoxStatus::ALL.iter().position(|s| *s == status)?;
    names().get(index).map(CString::as_c_str)
}

/// The number of box statuses.
#[no_mangle]
pub extern "C" fn boxlite_status_count() -> usize {
    names().len()
}

/// The canonical name of the status at `index` (0-based, in lifecycle order: "configured",
/// "starting", …), or NULL when `index >= boxlite_status_count()`. The string is static: never
/// free it. `boxlite_box_info_status()` returns these same pointers.
#[no_mangle]
pub extern "C" fn boxlite_status_name(index: usize) -> *const c_char {
    names().get(index).map_or(ptr::null(), |name| name.as_ptr())
}
