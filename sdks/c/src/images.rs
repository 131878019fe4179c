//! `boxlite_image_*`: core's `ImageHandle` (pull, list, inspect, remove, prune).
//! [`BoxliteImageInfo`] is converted once from core's `ImageInfo` into the C strings its
//! accessors lend out; [`BoxliteImageList`] holds several, newest first;
//! [`BoxliteImagePruneReport`] is a plain struct the caller owns.

use std::ffi::{c_char, CStr, CString};
use std::ptr;

use boxlite_core::{ImageInfo, PruneReport};

use crate::blocking::block_on;
use crate::error::{BoxliteError, BoxliteErrorCode};
use crate::ffi::{cstring_lossy, guard, out_arg, ref_arg, str_arg};
use crate::runtime::BoxliteRuntime;

/// A snapshot of one cached image as stored when it was read.
#[derive(Debug)]
pub struct BoxliteImageInfo {
    reference: CString,
    repository: CString,
    tag: CString,
    id: CString,
    config_digest: CString,
    layers: Vec<CString>,
    size: Option<u64>,
    cached_at: CString,
    source: CString,
}

impl From<ImageInfo> for BoxliteImageInfo {
    fn from(i: ImageInfo) -> Self {
        BoxliteImageInfo {
            reference: cstring_lossy(&i.reference),
            repository: cstring_lossy(&i.repository),
            tag: cstring_lossy(&i.tag),
            id: cstring_lossy(&i.id),
            config_digest: cstring_lossy(&i.config_digest),
            layers: i.layers.iter().map(|l| cstring_lossy(l)).collect(),
            size: i.size,
            cached_at: cstring_lossy(&i.cached_at),
            source: cstring_lossy(&i.source),
        }
    }
}

/// What `boxlite_image_prune()` removed.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BoxliteImagePruneReport {
    /// Blobs deleted (no image named them).
    pub blobs_removed: u64,
    /// Unpacked root filesystems deleted (no image or box used them).
    pub rootfs_removed: u64,
    /// Bytes of blobs freed.
    pub bytes_freed: u64,
}

impl From<PruneReport> for BoxliteImagePruneReport {
    fn from(r: PruneReport) -> Self {
        BoxliteImagePruneReport {
            blobs_removed: r.blobs_removed,
            rootfs_removed: r.rootfs_removed,
            bytes_freed: r.bytes_freed,
        }
    }
}

fn into_raw(info: ImageInfo) -> *mut BoxliteImageInfo {
    Box::into_raw(Box::new(BoxliteImageInfo::from(info)))
}

/// Pulls `reference` from its registry ("alpine:3.20", "127.0.0.1:5000/app@sha256:…"; the
/// runtime's registry options apply, see `boxlite_runtime_open_json()`) or loads a local
/// "oci:DIR[:TAG]", "oci-archive:FILE[:TAG]" or "docker-archive:FILE[:REF]", and unpacks it.
/// A tag is always looked up anew. Blocks until the image is stored; bounded by the
/// registry's answers (each request has core's network timeouts).
///
/// On success `*out` receives the image's info, owned by the caller and freed with
/// `boxlite_image_info_free()`. Errors: BOXLITE_ERROR_INVALID_ARGUMENT for a malformed
/// reference, BOXLITE_ERROR_NOT_FOUND when the registry has no such image,
/// BOXLITE_ERROR_UNAUTHORIZED when it refuses the credentials (or wants some),
/// BOXLITE_ERROR_UNAVAILABLE when it cannot be reached, BOXLITE_ERROR_IMAGE for a digest
/// mismatch or no image for this platform.
///
/// # Safety
/// `rt` is a live runtime; `reference` is a NUL-terminated string; `out` is valid for writing
/// a pointer; `err_out` is NULL or valid for writing a pointer.
#[no_mangle]
pub unsafe extern "C" fn boxlite_image_pull(
    rt: *const BoxliteRuntime,
    reference: *const c_char,
    out: *mut *mut BoxliteImageInfo,
    err_out: *mut *mut BoxliteError,
) -> BoxliteErrorCode {
    // SAFETY: arguments per the caller contract.
    unsafe {
        guard("boxlite_image_pull", err_out, || {
            let rt = ref_arg(rt, "rt")?;
            let reference = str_arg(reference, "reference")?;
            let out = out_arg(out, "out")?;
            let images = rt.inner.images();
            let info = block_on(images.pull(reference))??;
            out.write(into_raw(info));
            Ok(())
        })
    }
}

/// Reads every cached image, newest first.
///
/// On success `*out` receives a list owned by the caller, to be freed with
/// `boxlite_image_list_free()`; the infos in it are borrowed from it.
///
/// # Safety
/// `rt` is a live runtime; `out` is valid for writing a pointer; `err_out` is NULL or valid
/// for writing a pointer.
#[no_mangle]
pub unsafe extern "C" fn boxlite_image_list(
    rt: *const BoxliteRuntime,
    out: *mut *mut BoxliteImageList,
    err_out: *mut *mut BoxliteError,
) -> BoxliteErrorCode {
    // SAFETY: arguments per the caller contract.
    unsafe {
        guard("boxlite_image_list", err_out, || {
            let rt = ref_arg(rt, "rt")?;
            let out = out_arg(out, "out")?;
            let items = rt.inner.images().list()?.into_iter().map(BoxliteImageInfo::from);
            out.write(Box::into_raw(Box::new(BoxliteImageList { items: items.collect() })));
            Ok(())
        })
    }
}

/// Reads the cached image named by `reference`: a reference, or an image id or a unique
/// prefix of it of at least 12 hex digits.
///
/// An image that is not cached is not an error: the call returns BOXLITE_OK and writes NULL to
/// `*out`. Otherwise `*out` receives an info owned by the caller, to be freed with
/// `boxlite_image_info_free()`. Errors: BOXLITE_ERROR_INVALID_ARGUMENT for a malformed
/// reference or an ambiguous id prefix.
///
/// # Safety
/// `rt` is a live runtime; `reference` is a NUL-terminated string; `out` is valid for writing
/// a pointer; `err_out` is NULL or valid for writing a pointer.
#[no_mangle]
pub unsafe extern "C" fn boxlite_image_inspect(
    rt: *const BoxliteRuntime,
    reference: *const c_char,
    out: *mut *mut BoxliteImageInfo,
    err_out: *mut *mut BoxliteError,
) -> BoxliteErrorCode {
    // SAFETY: arguments per the caller contract.
    unsafe {
        guard("boxlite_image_inspect", err_out, || {
            let rt = ref_arg(rt, "rt")?;
            let reference = str_arg(reference, "reference")?;
            let out = out_arg(out, "out")?;
            let found = rt.inner.images().inspect(reference)?;
            out.write(found.map_or(ptr::null_mut(), into_raw));
            Ok(())
        })
    }
}

/// Removes the cached image `reference` (as for `boxlite_image_inspect()`) and the blobs only
/// it used. Boxes that run from it keep running.
///
/// Errors: BOXLITE_ERROR_NOT_FOUND when it is not cached, BOXLITE_ERROR_INVALID_STATE while
/// a box uses it and `force` is false.
///
/// # Safety
/// `rt` is a live runtime; `reference` is a NUL-terminated string; `err_out` is NULL or valid
/// for writing a pointer.
#[no_mangle]
pub unsafe extern "C" fn boxlite_image_remove(
    rt: *const BoxliteRuntime,
    reference: *const c_char,
    force: bool,
    err_out: *mut *mut BoxliteError,
) -> BoxliteErrorCode {
    // SAFETY: arguments per the caller contract.
    unsafe {
        guard("boxlite_image_remove", err_out, || {
            let rt = ref_arg(rt, "rt")?;
            let reference = str_arg(reference, "reference")?;
            rt.inner.images().remove(reference, force)
        })
    }
}

/// Removes every blob and unpacked root filesystem that no cached image and no box uses, and
/// what interrupted pulls left behind. Waits for pulls under way to finish first.
///
/// On success `*out` (a struct the caller owns) says what was removed.
///
/// # Safety
/// `rt` is a live runtime; `out` is valid for writing a `BoxliteImagePruneReport`; `err_out`
/// is NULL or valid for writing a pointer.
#[no_mangle]
pub unsafe extern "C" fn boxlite_image_prune(
    rt: *const BoxliteRuntime,
    out: *mut BoxliteImagePruneReport,
    err_out: *mut *mut BoxliteError,
) -> BoxliteErrorCode {
    // SAFETY: arguments per the caller contract.
    unsafe {
        guard("boxlite_image_prune", err_out, || {
            let rt = ref_arg(rt, "rt")?;
            let out = out_arg(out, "out")?;
            out.write(rt.inner.images().prune()?.into());
            Ok(())
        })
    }
}

/// Borrows a string field of `info`, or NULL when `info` is NULL.
///
/// # Safety
/// `info` is NULL or a live image info.
unsafe fn field(
    info: *const BoxliteImageInfo,
    get: impl FnOnce(&BoxliteImageInfo) -> &CStr,
) -> *const c_char {
    // SAFETY: forwarded caller contract.
    unsafe { info.as_ref() }.map_or(ptr::null(), |i| get(i).as_ptr())
}

/// The canonical reference ("docker.io/library/alpine:latest", "oci:/abs/dir:tag").
/// Borrowed from `info`: valid until `info` is freed. NULL if `info` is NULL.
///
/// # Safety
/// `info` is NULL or a live image info (from `boxlite_image_pull`, `boxlite_image_inspect`
/// or `boxlite_image_list_get`).
#[no_mangle]
pub unsafe extern "C" fn boxlite_image_info_reference(
    info: *const BoxliteImageInfo,
) -> *const c_char {
    // SAFETY: forwarded caller contract.
    unsafe { field(info, |i| &i.reference) }
}

/// The repository ("docker.io/library/alpine"), or the local source. Borrowed from `info`.
///
/// # Safety
/// As `boxlite_image_info_reference`.
#[no_mangle]
pub unsafe extern "C" fn boxlite_image_info_repository(
    info: *const BoxliteImageInfo,
) -> *const c_char {
    // SAFETY: forwarded caller contract.
    unsafe { field(info, |i| &i.repository) }
}

/// The tag; "" for a reference by digest only. Borrowed from `info`.
///
/// # Safety
/// As `boxlite_image_info_reference`.
#[no_mangle]
pub unsafe extern "C" fn boxlite_image_info_tag(info: *const BoxliteImageInfo) -> *const c_char {
    // SAFETY: forwarded caller contract.
    unsafe { field(info, |i| &i.tag) }
}

/// The image id: the digest of the platform manifest ("sha256:…"). Borrowed from `info`.
///
/// # Safety
/// As `boxlite_image_info_reference`.
#[no_mangle]
pub unsafe extern "C" fn boxlite_image_info_id(info: *const BoxliteImageInfo) -> *const c_char {
    // SAFETY: forwarded caller contract.
    unsafe { field(info, |i| &i.id) }
}

/// The digest of the image config. Borrowed from `info`.
///
/// # Safety
/// As `boxlite_image_info_reference`.
#[no_mangle]
pub unsafe extern "C" fn boxlite_image_info_config_digest(
    info: *const BoxliteImageInfo,
) -> *const c_char {
    // SAFETY: forwarded caller contract.
    unsafe { field(info, |i| &i.config_digest) }
}

/// When this reference was last pulled or loaded, RFC 3339 UTC with milliseconds. Borrowed
/// from `info`.
///
/// # Safety
/// As `boxlite_image_info_reference`.
#[no_mangle]
pub unsafe extern "C" fn boxlite_image_info_cached_at(
    info: *const BoxliteImageInfo,
) -> *const c_char {
    // SAFETY: forwarded caller contract.
    unsafe { field(info, |i| &i.cached_at) }
}

/// The registry host that served the image (a mirror, possibly), or "local". Borrowed from
/// `info`.
///
/// # Safety
/// As `boxlite_image_info_reference`.
#[no_mangle]
pub unsafe extern "C" fn boxlite_image_info_source(info: *const BoxliteImageInfo) -> *const c_char {
    // SAFETY: forwarded caller contract.
    unsafe { field(info, |i| &i.source) }
}

/// Whether the stored size (bytes of the config and layer blobs) is known; if so, and `out`
/// is not NULL, writes it to `*out`.
///
/// # Safety
/// `info` is NULL or a live image info; `out` is NULL or valid for writing a `uint64_t`.
#[no_mangle]
pub unsafe extern "C" fn boxlite_image_info_size(
    info: *const BoxliteImageInfo,
    out: *mut u64,
) -> bool {
    // SAFETY: forwarded caller contract.
    match unsafe { info.as_ref() }.and_then(|i| i.size) {
        Some(size) => {
            if !out.is_null() {
                // SAFETY: non-NULL and writable per the caller contract.
                unsafe { out.write(size) };
            }
            true
        }
        None => false,
    }
}

/// The number of layers; 0 when `info` is NULL.
///
/// # Safety
/// `info` is NULL or a live image info.
#[no_mangle]
pub unsafe extern "C" fn boxlite_image_info_layer_count(info: *const BoxliteImageInfo) -> usize {
    // SAFETY: forwarded caller contract.
    unsafe { info.as_ref() }.map_or(0, |i| i.layers.len())
}

/// The digest of layer `index` (0 is the bottom layer), or NULL when `index` is out of range
/// or `info` is NULL. Borrowed from `info`.
///
/// # Safety
/// `info` is NULL or a live image info.
#[no_mangle]
pub unsafe extern "C" fn boxlite_image_info_layer(
    info: *const BoxliteImageInfo,
    index: usize,
) -> *const c_char {
    // SAFETY: forwarded caller contract.
    unsafe { info.as_ref() }.and_then(|i| i.layers.get(index)).map_or(ptr::null(), |l| l.as_ptr())
}

/// Frees an info returned by `boxlite_image_pull` or `boxlite_image_inspect`. NULL does
/// nothing. Never pass an info borrowed from a list.
///
/// # Safety
/// `info` is NULL or an info returned by `boxlite_image_pull` or `boxlite_image_inspect`,
/// freed only once.
#[no_mangle]
pub unsafe extern "C" fn boxlite_image_info_free(info: *mut BoxliteImageInfo) {
    if !info.is_null() {
        // SAFETY: made with Box::into_raw in into_raw and freed once.
        drop(unsafe { Box::from_raw(info) });
    }
}

/// Infos of several cached images, newest first.
#[derive(Debug)]
pub struct BoxliteImageList {
    items: Vec<BoxliteImageInfo>,
}

/// The number of images in `list`; 0 when `list` is NULL.
///
/// # Safety
/// `list` is NULL or a live list from `boxlite_image_list`.
#[no_mangle]
pub unsafe extern "C" fn boxlite_image_list_len(list: *const BoxliteImageList) -> usize {
    // SAFETY: forwarded caller contract.
    unsafe { list.as_ref() }.map_or(0, |l| l.items.len())
}

/// The info at `index` (0 is the newest), or NULL when `index` is out of range or `list` is
/// NULL. Borrowed from `list`: valid until `list` is freed; never free it on its own.
///
/// # Safety
/// `list` is NULL or a live list from `boxlite_image_list`.
#[no_mangle]
pub unsafe extern "C" fn boxlite_image_list_get(
    list: *const BoxliteImageList,
    index: usize,
) -> *const BoxliteImageInfo {
    // SAFETY: forwarded caller contract.
    unsafe { list.as_ref() }
        .and_then(|l| l.items.get(index))
        .map_or(ptr::null(), |info| info as *const BoxliteImageInfo)
}

/// Frees a list returned by `boxlite_image_list`, with every info in it. NULL does nothing.
///
/// # Safety
/// `list` is NULL or a list returned by `boxlite_image_list`, freed only once.
#[no_mangle]
pub unsafe extern "C" fn boxlite_image_list_free(list: *mut BoxliteImageList) {
    if !list.is_null() {
        // SAFETY: made with Box::into_raw in boxlite_image_list and freed once.
        drop(unsafe { Box::from_raw(list) });
    }
}
