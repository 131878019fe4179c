//! [`BoxliteBox`]: a handle to one box, core's `LiteBox`. It holds the id only; status and
//! everything else are read from the database on each call, so the handle never disagrees
//! with it. `boxlite_box_exec` lives in [`crate::exec`].

use std::ffi::{c_char, CString};
use std::ptr;
use std::time::Duration;

use boxlite_core::LiteBox;

use crate::blocking::block_on;
use crate::error::{BoxliteError, BoxliteErrorCode};
use crate::ffi::{cstring_lossy, guard, out_arg, ref_arg};
use crate::info::BoxliteBoxInfo;

/// A box of an open runtime. Several threads may use one handle at once; it stays usable after
/// the runtime handle it came from is freed (it shares the runtime), and it does not stop the
/// box when freed.
#[derive(Debug)]
pub struct BoxliteBox {
    pub(crate) inner: LiteBox,
    id: CString,
    name: Option<CString>,
}

impl From<LiteBox> for BoxliteBox {
    fn from(inner: LiteBox) -> Self {
        let id = cstring_lossy(inner.id());
        let name = inner.name().map(cstring_lossy);
        BoxliteBox { inner, id, name }
    }
}

impl BoxliteBox {
    /// Hands the box to C as an owned pointer, freed with `boxlite_box_free`.
    pub(crate) fn into_raw(inner: LiteBox) -> *mut BoxliteBox {
        Box::into_raw(Box::new(BoxliteBox::from(inner)))
    }
}

/// The box's id (12 characters). Borrowed from `box`: valid until `box` is freed. NULL if
/// `box` is NULL.
///
/// # Safety
/// `box` is NULL or a live box handle.
#[no_mangle]
pub unsafe extern "C" fn boxlite_box_id(r#box: *const BoxliteBox) -> *const c_char {
    // SAFETY: forwarded caller contract.
    unsafe { r#box.as_ref() }.map_or(ptr::null(), |b| b.id.as_ptr())
}

/// The box's name, or NULL when it has none (or `box` is NULL). Borrowed from `box`: valid
/// until `box` is freed.
///
/// # Safety
/// `box` is NULL or a live box handle.
#[no_mangle]
pub unsafe extern "C" fn boxlite_box_name(r#box: *const BoxliteBox) -> *const c_char {
    // SAFETY: forwarded caller contract.
    unsafe { r#box.as_ref() }.and_then(|b| b.name.as_deref()).map_or(ptr::null(), |n| n.as_ptr())
}

/// Reads the box's current info from the database.
///
/// On success `*out` receives a snapshot owned by the caller, to be freed with
/// `boxlite_box_info_free()`. Errors: BOXLITE_ERROR_NOT_FOUND once the box was removed.
///
/// # Safety
/// `box` is a live box handle; `out` is valid for writing a pointer; `err_out` is NULL or
/// valid for writing a pointer.
#[no_mangle]
pub unsafe extern "C" fn boxlite_box_info(
    r#box: *const BoxliteBox,
    out: *mut *mut BoxliteBoxInfo,
    err_out: *mut *mut BoxliteError,
) -> BoxliteErrorCode {
    // SAFETY: arguments per the caller contract.
    unsafe {
        guard("boxlite_box_info", err_out, || {
            let b = ref_arg(r#box, "box")?;
            let out = out_arg(out, "out")?;
            let info = BoxliteBoxInfo::try_from(b.inner.info()?)?;
            out.write(Box::into_raw(Box::new(info)));
            Ok(())
        })
    }
}

/// Starts the box and returns once it is "running": builds its rootfs from the image, starts
/// its processes and waits for the guest agent (at most `$BOXLITE_GUEST_READY_TIMEOUT_SECS`,
/// default 30 s). Does nothing for a running box; retries a "failed" one. Unless the box was
/// created with `"detach": true`, it stops when this process exits.
///
/// On failure the box is "failed" with the reason in `boxlite_box_info_error_reason()`, its
/// files kept, nothing of it left running. Errors: BOXLITE_ERROR_NOT_FOUND (among others for
/// a missing image), BOXLITE_ERROR_IMAGE, BOXLITE_ERROR_ENGINE, BOXLITE_ERROR_TIMEOUT (agent
/// never ready), BOXLITE_ERROR_INVALID_STATE (the box is stopping, or the runtime shut down).
///
/// # Safety
/// `box` is a live box handle; `err_out` is NULL or valid for writing a pointer.
#[no_mangle]
pub unsafe extern "C" fn boxlite_box_start(
    r#box: *const BoxliteBox,
    err_out: *mut *mut BoxliteError,
) -> BoxliteErrorCode {
    // SAFETY: arguments per the caller contract.
    unsafe {
        guard("boxlite_box_start", err_out, || {
            let b = ref_arg(r#box, "box")?;
            block_on(b.inner.start())?
        })
    }
}

/// Stops the box: SIGTERM to its processes, SIGKILL to what is left after `timeout_ms`
/// milliseconds (0: at once; BOXLITE_DEFAULT_STOP_TIMEOUT_MS is core's default), then waits
/// for it to be gone and returns once it is "stopped" (a few seconds past `timeout_ms` at
/// most). Idempotent for a stopped box. Its files are kept for the next start.
///
/// Errors: BOXLITE_ERROR_INVALID_STATE for a box that is configured, starting or failed,
/// BOXLITE_ERROR_TIMEOUT when its processes survive SIGKILL.
///
/// # Safety
/// `box` is a live box handle; `err_out` is NULL or valid for writing a pointer.
#[no_mangle]
pub unsafe extern "C" fn boxlite_box_stop(
    r#box: *const BoxliteBox,
    timeout_ms: u64,
    err_out: *mut *mut BoxliteError,
) -> BoxliteErrorCode {
    // SAFETY: arguments per the caller contract.
    unsafe {
        guard("boxlite_box_stop", err_out, || {
            let b = ref_arg(r#box, "box")?;
            block_on(b.inner.stop(Duration::from_millis(timeout_ms)))?
        })
    }
}

/// Frees a box handle from `boxlite_box_create()`, `boxlite_box_create_json()` or
/// `boxlite_box_get()`. The box itself is untouched (use `boxlite_box_stop()` and
/// `boxlite_box_remove()` for that). NULL does nothing.
///
/// # Safety
/// `box` is NULL or a box handle, freed only once and not in use by another thread.
#[no_mangle]
pub unsafe extern "C" fn boxlite_box_free(r#box: *mut BoxliteBox) {
    if !r#box.is_null() {
        // SAFETY: made with Box::into_raw in BoxliteBox::into_raw and freed once.
        drop(unsafe { Box::from_raw(r#box) });
    }
}
