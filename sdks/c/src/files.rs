//! Files in and out of a running box (core's `files` module, docs/files.md):
//! `boxlite_box_copy_in` / `boxlite_box_copy_out` with [`BoxliteCopyOptions`], and the
//! small-file calls `boxlite_box_read_file`, `boxlite_box_write_file`, `boxlite_box_list_dir`
//! (whose [`BoxliteDirList`] lends out its entries' fields by index).

use std::ffi::{c_char, CStr, CString, OsStr};
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;
use std::ptr;

use boxlite_core::{CopyOptions, CopyStats, Error, FileEntry};

use crate::blocking::block_on;
use crate::error::{BoxliteError, BoxliteErrorCode};
use crate::ffi::{cstring_lossy, guard, invalid_argument, out_arg, ref_arg, str_arg};
use crate::litebox::BoxliteBox;

/// How `boxlite_box_copy_in()` and `boxlite_box_copy_out()` copy; start from
/// `boxlite_copy_options_default()` and change what differs.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BoxliteCopyOptions {
    /// Copy directory trees; otherwise a directory source is refused. Default true.
    pub recursive: bool,
    /// Replace files and symlinks in the way; otherwise one fails the copy. Default true.
    pub overwrite: bool,
    /// Copy what symlinks in the source point to rather than the links. Default false.
    pub follow_symlinks: bool,
    /// A directory copied into an existing directory lands as `dst/<name>`; otherwise its
    /// contents go in `dst`. Default true.
    pub include_parent: bool,
    /// Keep the numeric owners of the source. Default false.
    pub preserve_owners: bool,
}

impl From<CopyOptions> for BoxliteCopyOptions {
    fn from(o: CopyOptions) -> Self {
        BoxliteCopyOptions {
            recursive: o.recursive,
            overwrite: o.overwrite,
            follow_symlinks: o.follow_symlinks,
            include_parent: o.include_parent,
            preserve_owners: o.preserve_owners,
        }
    }
}

impl From<BoxliteCopyOptions> for CopyOptions {
    fn from(o: BoxliteCopyOptions) -> Self {
        CopyOptions {
            recursive: o.recursive,
            overwrite: o.overwrite,
            follow_symlinks: o.follow_symlinks,
            include_parent: o.include_parent,
            preserve_owners: o.preserve_owners,
            ..CopyOptions::default()
        }
    }
}

/// What a copy moved, written by the copy calls when the caller asks for it.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BoxliteCopyStats {
    /// Files, directories and links.
    pub entries: u64,
    /// Bytes of file data.
    pub bytes: u64,
}

impl From<CopyStats> for BoxliteCopyStats {
    fn from(s: CopyStats) -> Self {
        BoxliteCopyStats { entries: s.entries, bytes: s.bytes }
    }
}

/// The default copy options (the same in every boxlite SDK): recursive, overwrite and
/// include_parent on, follow_symlinks and preserve_owners off.
#[no_mangle]
pub extern "C" fn boxlite_copy_options_default() -> BoxliteCopyOptions {
    BoxliteCopyOptions::from(CopyOptions::default())
}

/// A host path argument: any bytes but NUL, as the OS takes them.
///
/// # Safety
/// `ptr` is NULL or a NUL-terminated string that outlives the call.
unsafe fn host_path_arg(ptr: *const c_char, param: &str) -> Result<PathBuf, Error> {
    if ptr.is_null() {
        return Err(invalid_argument(param, "is NULL"));
    }
    // SAFETY: non-NULL and NUL-terminated per the caller contract.
    let bytes = unsafe { CStr::from_ptr(ptr) }.to_bytes();
    Ok(PathBuf::from(OsStr::from_bytes(bytes)))
}

/// The options behind a nullable pointer: NULL is the defaults.
///
/// # Safety
/// `opts` is NULL or valid for reading a `BoxliteCopyOptions`.
unsafe fn options_arg(opts: *const BoxliteCopyOptions) -> CopyOptions {
    // SAFETY: forwarded caller contract.
    unsafe { opts.as_ref() }.map_or_else(CopyOptions::default, |o| CopyOptions::from(*o))
}

/// Writes the stats when the caller asked for them.
///
/// # Safety
/// `stats_out` is NULL or valid for writing a `BoxliteCopyStats`.
unsafe fn write_stats(stats_out: *mut BoxliteCopyStats, stats: CopyStats) {
    if !stats_out.is_null() {
        // SAFETY: non-NULL and writable per the caller contract.
        unsafe { stats_out.write(BoxliteCopyStats::from(stats)) };
    }
}

/// Copies the host file or directory tree `host_path` into the running box at `box_path`
/// (an absolute path in the box), with `docker cp`'s rules for where it lands
/// (docs/files.md). `opts` NULL means `boxlite_copy_options_default()`. When `stats_out` is
/// not NULL it receives what was copied.
///
/// Errors: BOXLITE_ERROR_INVALID_STATE when the box is not running, BOXLITE_ERROR_NOT_FOUND
/// for a missing source, BOXLITE_ERROR_ALREADY_EXISTS for a file in the way without
/// `overwrite`, BOXLITE_ERROR_INVALID_ARGUMENT for a path that is not absolute, a source that
/// cannot be copied (a FIFO, a device) or a copy over its bounds.
///
/// # Safety
/// `box` is a live box handle; `host_path` and `box_path` are NUL-terminated strings; `opts`
/// is NULL or valid for reading; `stats_out` is NULL or valid for writing; `err_out` is NULL
/// or valid for writing a pointer.
#[no_mangle]
pub unsafe extern "C" fn boxlite_box_copy_in(
    r#box: *const BoxliteBox,
    host_path: *const c_char,
    box_path: *const c_char,
    opts: *const BoxliteCopyOptions,
    stats_out: *mut BoxliteCopyStats,
    err_out: *mut *mut BoxliteError,
) -> BoxliteErrorCode {
    // SAFETY: arguments per the caller contract.
    unsafe {
        guard("boxlite_box_copy_in", err_out, || {
            let b = ref_arg(r#box, "box")?;
            let src = host_path_arg(host_path, "host_path")?;
            let dst = str_arg(box_path, "box_path")?;
            let stats = block_on(b.inner.copy_in(src, dst, options_arg(opts)))??;
            write_stats(stats_out, stats);
            Ok(())
        })
    }
}

/// Copies the running box's file or directory tree `box_path` to the host at `host_path`,
/// with the same rules as `boxlite_box_copy_in()`. What arrives belongs to the calling user
/// (unless `preserve_owners`), with setuid and setgid bits cleared.
///
/// Errors: as `boxlite_box_copy_in()`; a FIFO, device node or socket in the box fails the
/// copy with BOXLITE_ERROR_INVALID_ARGUMENT naming it.
///
/// # Safety
/// As `boxlite_box_copy_in()`.
#[no_mangle]
pub unsafe extern "C" fn boxlite_box_copy_out(
    r#box: *const BoxliteBox,
    box_path: *const c_char,
    host_path: *const c_char,
    opts: *const BoxliteCopyOptions,
    stats_out: *mut BoxliteCopyStats,
    err_out: *mut *mut BoxliteError,
) -> BoxliteErrorCode {
    // SAFETY: arguments per the caller contract.
    unsafe {
        guard("boxlite_box_copy_out", err_out, || {
            let b = ref_arg(r#box, "box")?;
            let src = str_arg(box_path, "box_path")?;
            let dst = host_path_arg(host_path, "host_path")?;
            let stats = block_on(b.inner.copy_out(src, dst, options_arg(opts)))??;
            write_stats(stats_out, stats);
            Ok(())
        })
    }
}

/// Reads the whole box file `path` (symlinks followed; at most 64 MiB, else
/// BOXLITE_ERROR_INVALID_ARGUMENT: use `boxlite_box_copy_out()` for more).
///
/// On success `*data_out` and `*len_out` receive the bytes, owned by the caller and freed with
/// `boxlite_bytes_free(data, len)`; the pointer may be non-NULL for an empty file and must be
/// freed all the same. Errors: BOXLITE_ERROR_NOT_FOUND for a missing file,
/// BOXLITE_ERROR_INVALID_ARGUMENT for a directory or a FIFO, BOXLITE_ERROR_INVALID_STATE when
/// the box is not running.
///
/// # Safety
/// `box` is a live box handle; `path` a NUL-terminated string; `data_out` and `len_out` are
/// valid for writing; `err_out` is NULL or valid for writing a pointer.
#[no_mangle]
pub unsafe extern "C" fn boxlite_box_read_file(
    r#box: *const BoxliteBox,
    path: *const c_char,
    data_out: *mut *mut u8,
    len_out: *mut usize,
    err_out: *mut *mut BoxliteError,
) -> BoxliteErrorCode {
    // SAFETY: arguments per the caller contract.
    unsafe {
        guard("boxlite_box_read_file", err_out, || {
            let b = ref_arg(r#box, "box")?;
            let path = str_arg(path, "path")?;
            let data_out = out_arg(data_out, "data_out")?;
            let len_out = out_arg(len_out, "len_out")?;
            let data = block_on(b.inner.read_file(path))??.into_boxed_slice();
            len_out.write(data.len());
            data_out.write(Box::into_raw(data).cast::<u8>());
            Ok(())
        })
    }
}

/// Frees bytes returned by `boxlite_box_read_file()`, given with the length it returned.
/// NULL does nothing.
///
/// # Safety
/// `data` is NULL or a pointer from `boxlite_box_read_file()` with its `len`, freed once.
#[no_mangle]
pub unsafe extern "C" fn boxlite_bytes_free(data: *mut u8, len: usize) {
    if !data.is_null() {
        // SAFETY: made with Box::into_raw of a boxed slice of `len` bytes, freed once.
        drop(unsafe { Box::from_raw(ptr::slice_from_raw_parts_mut(data, len)) });
    }
}

/// Replaces the box file `path` with the `len` bytes at `data` (NULL is allowed when `len` is
/// 0), with permission bits `mode` (0644 is what the other SDKs default to); missing parent
/// directories are made. The file belongs to box root. Errors as `boxlite_box_read_file()`.
///
/// # Safety
/// `box` is a live box handle; `path` a NUL-terminated string; `data` is valid for reading
/// `len` bytes (or NULL with `len` 0); `err_out` is NULL or valid for writing a pointer.
#[no_mangle]
pub unsafe extern "C" fn boxlite_box_write_file(
    r#box: *const BoxliteBox,
    path: *const c_char,
    data: *const u8,
    len: usize,
    mode: u32,
    err_out: *mut *mut BoxliteError,
) -> BoxliteErrorCode {
    // SAFETY: arguments per the caller contract.
    unsafe {
        guard("boxlite_box_write_file", err_out, || {
            let b = ref_arg(r#box, "box")?;
            let path = str_arg(path, "path")?;
            let bytes = match (data.is_null(), len) {
                (true, 0) => Vec::new(),
                (true, _) => return Err(invalid_argument("data", "is NULL but len is not 0")),
                // SAFETY: readable for len bytes per the caller contract.
                (false, _) => std::slice::from_raw_parts(data, len).to_vec(),
            };
            block_on(b.inner.write_file(path, bytes, Some(mode)))?
        })
    }
}

/// One entry of a [`BoxliteDirList`], converted once into the C strings its accessors lend.
#[derive(Debug)]
struct DirEntry {
    name: CString,
    path: CString,
    kind: CString,
    size: u64,
    mode: u32,
    mtime_ms: i64,
    uid: u32,
    gid: u32,
    link_target: Option<CString>,
}

impl From<FileEntry> for DirEntry {
    fn from(e: FileEntry) -> Self {
        DirEntry {
            name: cstring_lossy(&e.name),
            path: cstring_lossy(&e.path),
            kind: cstring_lossy(e.kind.as_str()),
            size: e.size,
            mode: e.mode,
            mtime_ms: e.mtime_ms,
            uid: e.uid,
            gid: e.gid,
            link_target: e.link_target.as_deref().map(cstring_lossy),
        }
    }
}

/// The entries of a box directory, sorted by name, as read by `boxlite_box_list_dir()`.
#[derive(Debug)]
pub struct BoxliteDirList {
    entries: Vec<DirEntry>,
}

/// Lists the box directory `path` (at most 100 000 entries; symlinks are listed, never
/// followed). On success `*out` receives a list owned by the caller, freed with
/// `boxlite_dir_list_free()`. Errors: BOXLITE_ERROR_NOT_FOUND for a missing directory,
/// BOXLITE_ERROR_INVALID_STATE when the box is not running.
///
/// # Safety
/// `box` is a live box handle; `path` a NUL-terminated string; `out` is valid for writing a
/// pointer; `err_out` is NULL or valid for writing a pointer.
#[no_mangle]
pub unsafe extern "C" fn boxlite_box_list_dir(
    r#box: *const BoxliteBox,
    path: *const c_char,
    out: *mut *mut BoxliteDirList,
    err_out: *mut *mut BoxliteError,
) -> BoxliteErrorCode {
    // SAFETY: arguments per the caller contract.
    unsafe {
        guard("boxlite_box_list_dir", err_out, || {
            let b = ref_arg(r#box, "box")?;
            let path = str_arg(path, "path")?;
            let out = out_arg(out, "out")?;
            let entries = block_on(b.inner.list_dir(path))??;
            let list =
                BoxliteDirList { entries: entries.into_iter().map(DirEntry::from).collect() };
            out.write(Box::into_raw(Box::new(list)));
            Ok(())
        })
    }
}

/// The entry `index` of `list`, if both are there.
///
/// # Safety
/// `list` is NULL or a live list from `boxlite_box_list_dir`.
unsafe fn entry<'a>(list: *const BoxliteDirList, index: usize) -> Option<&'a DirEntry> {
    // SAFETY: forwarded caller contract.
    unsafe { list.as_ref() }.and_then(|l| l.entries.get(index))
}

/// The number of entries in `list`; 0 when `list` is NULL.
///
/// # Safety
/// `list` is NULL or a live list from `boxlite_box_list_dir`.
#[no_mangle]
pub unsafe extern "C" fn boxlite_dir_list_count(list: *const BoxliteDirList) -> usize {
    // SAFETY: forwarded caller contract.
    unsafe { list.as_ref() }.map_or(0, |l| l.entries.len())
}

/// The name of entry `index` (from 0) in its directory, or NULL when `list` is NULL or
/// `index` out of range. Borrowed from `list`: valid until `list` is freed.
///
/// # Safety
/// `list` is NULL or a live list from `boxlite_box_list_dir`.
#[no_mangle]
pub unsafe extern "C" fn boxlite_dir_list_name(
    list: *const BoxliteDirList,
    index: usize,
) -> *const c_char {
    // SAFETY: forwarded caller contract.
    unsafe { entry(list, index) }.map_or(ptr::null(), |e| e.name.as_ptr())
}

/// The path in the box of entry `index`, or NULL as `boxlite_dir_list_name()`. Borrowed.
///
/// # Safety
/// `list` is NULL or a live list from `boxlite_box_list_dir`.
#[no_mangle]
pub unsafe extern "C" fn boxlite_dir_list_path(
    list: *const BoxliteDirList,
    index: usize,
) -> *const c_char {
    // SAFETY: forwarded caller contract.
    unsafe { entry(list, index) }.map_or(ptr::null(), |e| e.path.as_ptr())
}

/// What entry `index` is: "file", "dir", "symlink" or "other" (a device node, FIFO or
/// socket); NULL as `boxlite_dir_list_name()`. Borrowed.
///
/// # Safety
/// `list` is NULL or a live list from `boxlite_box_list_dir`.
#[no_mangle]
pub unsafe extern "C" fn boxlite_dir_list_kind(
    list: *const BoxliteDirList,
    index: usize,
) -> *const c_char {
    // SAFETY: forwarded caller contract.
    unsafe { entry(list, index) }.map_or(ptr::null(), |e| e.kind.as_ptr())
}

/// Where symlink `index` points, or NULL when the entry is no symlink (or as
/// `boxlite_dir_list_name()`). Borrowed.
///
/// # Safety
/// `list` is NULL or a live list from `boxlite_box_list_dir`.
#[no_mangle]
pub unsafe extern "C" fn boxlite_dir_list_link_target(
    list: *const BoxliteDirList,
    index: usize,
) -> *const c_char {
    // SAFETY: forwarded caller contract.
    unsafe { entry(list, index) }
        .and_then(|e| e.link_target.as_deref())
        .map_or(ptr::null(), CStr::as_ptr)
}

/// The size in bytes of entry `index` (of the link itself for a symlink); 0 when `list` is
/// NULL or `index` out of range.
///
/// # Safety
/// `list` is NULL or a live list from `boxlite_box_list_dir`.
#[no_mangle]
pub unsafe extern "C" fn boxlite_dir_list_size(list: *const BoxliteDirList, index: usize) -> u64 {
    // SAFETY: forwarded caller contract.
    unsafe { entry(list, index) }.map_or(0, |e| e.size)
}

/// The permission bits of entry `index` (0755, ...); 0 as `boxlite_dir_list_size()`.
///
/// # Safety
/// `list` is NULL or a live list from `boxlite_box_list_dir`.
#[no_mangle]
pub unsafe extern "C" fn boxlite_dir_list_mode(list: *const BoxliteDirList, index: usize) -> u32 {
    // SAFETY: forwarded caller contract.
    unsafe { entry(list, index) }.map_or(0, |e| e.mode)
}

/// The last modification of entry `index`, milliseconds since the epoch; 0 as
/// `boxlite_dir_list_size()`.
///
/// # Safety
/// `list` is NULL or a live list from `boxlite_box_list_dir`.
#[no_mangle]
pub unsafe extern "C" fn boxlite_dir_list_mtime_ms(
    list: *const BoxliteDirList,
    index: usize,
) -> i64 {
    // SAFETY: forwarded caller contract.
    unsafe { entry(list, index) }.map_or(0, |e| e.mtime_ms)
}

/// The owner of entry `index`, as the box numbers users; 0 as `boxlite_dir_list_size()`.
///
/// # Safety
/// `list` is NULL or a live list from `boxlite_box_list_dir`.
#[no_mangle]
pub unsafe extern "C" fn boxlite_dir_list_uid(list: *const BoxliteDirList, index: usize) -> u32 {
    // SAFETY: forwarded caller contract.
    unsafe { entry(list, index) }.map_or(0, |e| e.uid)
}

/// The group of entry `index`, as the box numbers groups; 0 as `boxlite_dir_list_size()`.
///
/// # Safety
/// `list` is NULL or a live list from `boxlite_box_list_dir`.
#[no_mangle]
pub unsafe extern "C" fn boxlite_dir_list_gid(list: *const BoxliteDirList, index: usize) -> u32 {
    // SAFETY: forwarded caller contract.
    unsafe { entry(list, index) }.map_or(0, |e| e.gid)
}

/// Frees a list returned by `boxlite_box_list_dir()`. NULL does nothing.
///
/// # Safety
/// `list` is NULL or a list returned by `boxlite_box_list_dir`, freed only once.
#[no_mangle]
pub unsafe extern "C" fn boxlite_dir_list_free(list: *mut BoxliteDirList) {
    if !list.is_null() {
        // SAFETY: made with Box::into_raw in boxlite_box_list_dir and freed once.
        drop(unsafe { Box::from_raw(list) });
    }
}
