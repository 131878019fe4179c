//! [`BoxliteBoxInfo`]: a snapshot of one box, converted once from core's `BoxInfo` into the
//! C strings its accessors lend out; [`BoxliteBoxList`] holds several, newest first.

use std::ffi::{c_char, CStr, CString};
use std::ptr;

use boxlite_core::{BoxInfo, BoxLimits, Error, ErrorKind};

use crate::ffi::cstring_lossy;
use crate::status;

/// A snapshot of one box as stored when it was read. It does not change afterwards: read the
/// info again for the current state.
#[derive(Debug)]
pub struct BoxliteBoxInfo {
    id: CString,
    name: Option<CString>,
    image: CString,
    status: &'static CStr,
    created_at: CString,
    error_reason: Option<CString>,
    exit_code: Option<i32>,
    pid: Option<u32>,
    limits: BoxLimits,
    userns: CString,
    seccomp: CString,
    network: CString,
    ports: Vec<Port>,
    volumes: Vec<Volume>,
    warnings: Vec<CString>,
    not_enforced: Vec<CString>,
}

/// A published port: `host_port` bound while the box runs, else as asked (`None`: free).
#[derive(Debug)]
struct Port {
    host_ip: CString,
    host_port: Option<u16>,
    guest_port: u16,
}

/// A volume, as its options gave it.
#[derive(Debug)]
struct Volume {
    host_path: CString,
    guest_path: CString,
    read_only: bool,
}

impl TryFrom<BoxInfo> for BoxliteBoxInfo {
    type Error = Error;

    fn try_from(info: BoxInfo) -> Result<Self, Error> {
        let status = status::name_of(info.status).ok_or_else(|| {
            Error::new(
                ErrorKind::Internal,
                format!("status {} missing from BoxStatus::ALL", info.status),
            )
        })?;
        let not_enforced = info.limits.not_enforced.iter().map(|n| cstring_lossy(n)).collect();
        Ok(BoxliteBoxInfo {
            id: cstring_lossy(&info.id),
            name: info.name.as_deref().map(cstring_lossy),
            image: cstring_lossy(&info.image),
            status,
            created_at: cstring_lossy(&info.created_at),
            error_reason: info.error_reason.as_deref().map(cstring_lossy),
            exit_code: info.exit_code,
            pid: info.pid,
            limits: info.limits,
            userns: cstring_lossy(info.userns.as_str()),
            seccomp: cstring_lossy(info.seccomp.as_str()),
            network: cstring_lossy(info.network.as_str()),
            ports: info
                .ports
                .iter()
                .map(|p| Port {
                    host_ip: cstring_lossy(p.host_ip()),
                    host_port: p.host_port,
                    guest_port: p.guest_port,
                })
                .collect(),
            volumes: info
                .options
                .volumes
                .iter()
                .map(|v| Volume {
                    host_path: cstring_lossy(&v.host_path),
                    guest_path: cstring_lossy(&v.guest_path),
                    read_only: v.read_only,
                })
                .collect(),
            warnings: info.warnings.iter().map(|w| cstring_lossy(w)).collect(),
            not_enforced,
        })
    }
}

/// Borrows a field of the info behind `info`, or NULL when `info` is NULL or the field absent.
///
/// # Safety
/// `info` is NULL or a live info object.
unsafe fn field(
    info: *const BoxliteBoxInfo,
    get: impl FnOnce(&BoxliteBoxInfo) -> Option<&CStr>,
) -> *const c_char {
    // SAFETY: forwarded caller contract.
    unsafe { info.as_ref() }.and_then(get).map_or(ptr::null(), CStr::as_ptr)
}

/// The box's id. Borrowed from `info`: valid until `info` is freed. NULL if `info` is NULL.
///
/// # Safety
/// `info` is NULL or a live info object (from `boxlite_box_info` or `boxlite_box_list_get`).
#[no_mangle]
pub unsafe extern "C" fn boxlite_box_info_id(info: *const BoxliteBoxInfo) -> *const c_char {
    // SAFETY: forwarded caller contract.
    unsafe { field(info, |i| Some(&i.id)) }
}

/// The box's name, or NULL when it has none. Borrowed from `info`: valid until `info` is
/// freed.
///
/// # Safety
/// `info` is NULL or a live info object.
#[no_mangle]
pub unsafe extern "C" fn boxlite_box_info_name(info: *const BoxliteBoxInfo) -> *const c_char {
    // SAFETY: forwarded caller contract.
    unsafe { field(info, |i| i.name.as_deref()) }
}

/// The image reference as given at create. Borrowed from `info`: valid until `info` is freed.
///
/// # Safety
/// `info` is NULL or a live info object.
#[no_mangle]
pub unsafe extern "C" fn boxlite_box_info_image(info: *const BoxliteBoxInfo) -> *const c_char {
    // SAFETY: forwarded caller contract.
    unsafe { field(info, |i| Some(&i.image)) }
}

/// The box's status name ("configured", "running", "failed", …): one of the static strings of
/// `boxlite_status_name()`, so it may be compared by pointer as well as with strcmp, and stays
/// valid after `info` is freed. Never free it.
///
/// # Safety
/// `info` is NULL or a live info object.
#[no_mangle]
pub unsafe extern "C" fn boxlite_box_info_status(info: *const BoxliteBoxInfo) -> *const c_char {
    // SAFETY: forwarded caller contract.
    unsafe { field(info, |i| Some(i.status)) }
}

/// The creation time, RFC 3339 UTC with milliseconds ("2024-05-01T12:00:00.000Z"). Borrowed
/// from `info`: valid until `info` is freed.
///
/// # Safety
/// `info` is NULL or a live info object.
#[no_mangle]
pub unsafe extern "C" fn boxlite_box_info_created_at(info: *const BoxliteBoxInfo) -> *const c_char {
    // SAFETY: forwarded caller contract.
    unsafe { field(info, |i| Some(&i.created_at)) }
}

/// Why the box failed, or NULL when it has no recorded failure. Borrowed from `info`: valid
/// until `info` is freed.
///
/// # Safety
/// `info` is NULL or a live info object.
#[no_mangle]
pub unsafe extern "C" fn boxlite_box_info_error_reason(
    info: *const BoxliteBoxInfo,
) -> *const c_char {
    // SAFETY: forwarded caller contract.
    unsafe { field(info, |i| i.error_reason.as_deref()) }
}

/// Whose user namespace the box runs in: "private" (box root is an unprivileged host uid) or
/// "host" (box root is host root). Borrowed from `info`: valid until `info` is freed. NULL if
/// `info` is NULL.
///
/// # Safety
/// `info` is NULL or a live info object.
#[no_mangle]
pub unsafe extern "C" fn boxlite_box_info_userns(info: *const BoxliteBoxInfo) -> *const c_char {
    // SAFETY: forwarded caller contract.
    unsafe { field(info, |i| Some(&i.userns)) }
}

/// The seccomp filter of the box's processes: "default", "unconfined" (none) or "profile" (the
/// box's own, given as the options JSON's `seccomp` object). Borrowed from
/// `info`: valid until `info` is freed. NULL if `info` is NULL.
///
/// # Safety
/// `info` is NULL or a live info object.
#[no_mangle]
pub unsafe extern "C" fn boxlite_box_info_seccomp(info: *const BoxliteBoxInfo) -> *const c_char {
    // SAFETY: forwarded caller contract.
    unsafe { field(info, |i| Some(&i.seccomp)) }
}

/// The box's network: "disabled" (loopback only) or "enabled" (egress through the box's
/// shim, given as the options JSON's `network`). Borrowed from `info`: valid until `info` is
/// freed. NULL if `info` is NULL.
///
/// # Safety
/// `info` is NULL or a live info object.
#[no_mangle]
pub unsafe extern "C" fn boxlite_box_info_network(info: *const BoxliteBoxInfo) -> *const c_char {
    // SAFETY: forwarded caller contract.
    unsafe { field(info, |i| Some(&i.network)) }
}

/// How many published ports the box has (its `ports` option); 0 if `info` is NULL.
///
/// # Safety
/// `info` is NULL or a live info object.
#[no_mangle]
pub unsafe extern "C" fn boxlite_box_info_port_count(info: *const BoxliteBoxInfo) -> usize {
    // SAFETY: forwarded caller contract.
    unsafe { info.as_ref() }.map_or(0, |i| i.ports.len())
}

/// The box port of published port `index` (from 0), or 0 when `info` is NULL or `index` is
/// out of range.
///
/// # Safety
/// `info` is NULL or a live info object.
#[no_mangle]
pub unsafe extern "C" fn boxlite_box_info_port_guest_port(
    info: *const BoxliteBoxInfo,
    index: usize,
) -> u16 {
    // SAFETY: forwarded caller contract.
    unsafe { info.as_ref() }.and_then(|i| i.ports.get(index)).map_or(0, |p| p.guest_port)
}

/// Whether published port `index` has a host port: the one bound while the box runs, else the
/// one asked for (false: a free one at each start, or `index` out of range); if so, and `out`
/// is not NULL, writes it to `*out`.
///
/// # Safety
/// `info` is NULL or a live info object; `out` is NULL or valid for writing a `uint16_t`.
#[no_mangle]
pub unsafe extern "C" fn boxlite_box_info_port_host_port(
    info: *const BoxliteBoxInfo,
    index: usize,
    out: *mut u16,
) -> bool {
    // SAFETY: forwarded caller contract.
    unsafe { optional(info.as_ref().and_then(|i| i.ports.get(index)?.host_port), out) }
}

/// The host address published port `index` listens on (`"127.0.0.1"` unless the options said
/// otherwise), or NULL when `info` is NULL or `index` is out of range. Borrowed from `info`:
/// valid until `info` is freed.
///
/// # Safety
/// `info` is NULL or a live info object.
#[no_mangle]
pub unsafe extern "C" fn boxlite_box_info_port_host_ip(
    info: *const BoxliteBoxInfo,
    index: usize,
) -> *const c_char {
    // SAFETY: forwarded caller contract.
    unsafe { field(info, |i| i.ports.get(index).map(|p| p.host_ip.as_c_str())) }
}

/// How many volumes the box has (its `volumes` option); 0 if `info` is NULL.
///
/// # Safety
/// `info` is NULL or a live info object.
#[no_mangle]
pub unsafe extern "C" fn boxlite_box_info_volume_count(info: *const BoxliteBoxInfo) -> usize {
    // SAFETY: forwarded caller contract.
    unsafe { info.as_ref() }.map_or(0, |i| i.volumes.len())
}

/// The host path of volume `index` (from 0), or NULL when `info` is NULL or `index` is out of
/// range. Borrowed from `info`: valid until `info` is freed.
///
/// # Safety
/// `info` is NULL or a live info object.
#[no_mangle]
pub unsafe extern "C" fn boxlite_box_info_volume_host_path(
    info: *const BoxliteBoxInfo,
    index: usize,
) -> *const c_char {
    // SAFETY: forwarded caller contract.
    unsafe { field(info, |i| i.volumes.get(index).map(|v| v.host_path.as_c_str())) }
}

/// The path inside the box of volume `index` (from 0), or NULL when `info` is NULL or `index`
/// is out of range. Borrowed from `info`: valid until `info` is freed.
///
/// # Safety
/// `info` is NULL or a live info object.
#[no_mangle]
pub unsafe extern "C" fn boxlite_box_info_volume_guest_path(
    info: *const BoxliteBoxInfo,
    index: usize,
) -> *const c_char {
    // SAFETY: forwarded caller contract.
    unsafe { field(info, |i| i.volumes.get(index).map(|v| v.guest_path.as_c_str())) }
}

/// Whether volume `index` is read-only; false when `info` is NULL or `index` is out of range.
///
/// # Safety
/// `info` is NULL or a live info object.
#[no_mangle]
pub unsafe extern "C" fn boxlite_box_info_volume_read_only(
    info: *const BoxliteBoxInfo,
    index: usize,
) -> bool {
    // SAFETY: forwarded caller contract.
    unsafe { info.as_ref() }.and_then(|i| i.volumes.get(index)).is_some_and(|v| v.read_only)
}

/// How many warnings the info holds: one sentence per wall the box's options take down
/// (`userns` "host", say). 0 if `info` is NULL.
///
/// # Safety
/// `info` is NULL or a live info object.
#[no_mangle]
pub unsafe extern "C" fn boxlite_box_info_warning_count(info: *const BoxliteBoxInfo) -> usize {
    // SAFETY: forwarded caller contract.
    unsafe { info.as_ref() }.map_or(0, |i| i.warnings.len())
}

/// Warning `index` (from 0), or NULL when `info` is NULL or `index` is out of range. Borrowed
/// from `info`: valid until `info` is freed.
///
/// # Safety
/// `info` is NULL or a live info object.
#[no_mangle]
pub unsafe extern "C" fn boxlite_box_info_warning(
    info: *const BoxliteBoxInfo,
    index: usize,
) -> *const c_char {
    // SAFETY: forwarded caller contract.
    unsafe { field(info, |i| i.warnings.get(index).map(CString::as_c_str)) }
}

/// How many of the info's limits this host does not enforce (a rootless box: its memory
/// limit, cpu limit when set, and disk size); 0 when every limit holds, or `info` is NULL.
///
/// # Safety
/// `info` is NULL or a live info object.
#[no_mangle]
pub unsafe extern "C" fn boxlite_box_info_not_enforced_count(info: *const BoxliteBoxInfo) -> usize {
    // SAFETY: forwarded caller contract.
    unsafe { info.as_ref() }.map_or(0, |i| i.not_enforced.len())
}

/// The name of not-enforced limit `index` (from 0), as the options JSON spells it
/// (`"memory_mib"`, `"cpus"`, `"disk_size_gb"`), or NULL when `info` is NULL or `index` is out
/// of range. Borrowed from `info`: valid until `info` is freed.
///
/// # Safety
/// `info` is NULL or a live info object.
#[no_mangle]
pub unsafe extern "C" fn boxlite_box_info_not_enforced(
    info: *const BoxliteBoxInfo,
    index: usize,
) -> *const c_char {
    // SAFETY: forwarded caller contract.
    unsafe { field(info, |i| i.not_enforced.get(index).map(CString::as_c_str)) }
}

/// Whether the box's main command has exited with a code; if so, and `out` is not NULL,
/// writes the code to `*out`.
///
/// # Safety
/// `info` is NULL or a live info object; `out` is NULL or valid for writing an `int32_t`.
#[no_mangle]
pub unsafe extern "C" fn boxlite_box_info_exit_code(
    info: *const BoxliteBoxInfo,
    out: *mut i32,
) -> bool {
    // SAFETY: forwarded caller contract.
    unsafe { optional(info.as_ref().and_then(|i| i.exit_code), out) }
}

/// Whether the box has a live process (its shim, while starting, running or stopping); if so,
/// and `out` is not NULL, writes its PID to `*out`.
///
/// # Safety
/// `info` is NULL or a live info object; `out` is NULL or valid for writing a `uint32_t`.
#[no_mangle]
pub unsafe extern "C" fn boxlite_box_info_pid(info: *const BoxliteBoxInfo, out: *mut u32) -> bool {
    // SAFETY: forwarded caller contract.
    unsafe { optional(info.as_ref().and_then(|i| i.pid), out) }
}

/// A bound of the info behind `info`, or 0 when `info` is NULL (no bound is ever 0).
///
/// # Safety
/// `info` is NULL or a live info object.
unsafe fn limit(info: *const BoxliteBoxInfo, get: impl FnOnce(&BoxLimits) -> u64) -> u64 {
    // SAFETY: forwarded caller contract.
    unsafe { info.as_ref() }.map_or(0, |i| get(&i.limits))
}

/// The box's memory limit in MiB in force: its `memory_mib` option, else the default (1024).
/// 0 if `info` is NULL.
///
/// # Safety
/// `info` is NULL or a live info object.
#[no_mangle]
pub unsafe extern "C" fn boxlite_box_info_memory_mib(info: *const BoxliteBoxInfo) -> u64 {
    // SAFETY: forwarded caller contract.
    unsafe { limit(info, |l| l.memory_mib) }
}

/// Whether the box has a CPU limit (its `cpus` option); if so, and `out` is not NULL, writes
/// it, in cores, to `*out`.
///
/// # Safety
/// `info` is NULL or a live info object; `out` is NULL or valid for writing a `double`.
#[no_mangle]
pub unsafe extern "C" fn boxlite_box_info_cpus(info: *const BoxliteBoxInfo, out: *mut f64) -> bool {
    // SAFETY: forwarded caller contract.
    unsafe { optional(info.as_ref().and_then(|i| i.limits.cpus), out) }
}

/// The most processes and threads the box may have at once: its `pids_max` option, else the
/// default (4096). 0 if `info` is NULL.
///
/// # Safety
/// `info` is NULL or a live info object.
#[no_mangle]
pub unsafe extern "C" fn boxlite_box_info_pids_max(info: *const BoxliteBoxInfo) -> u64 {
    // SAFETY: forwarded caller contract.
    unsafe { limit(info, |l| l.pids_max) }
}

/// The `RLIMIT_NOFILE` soft limit of the box's processes: its `nofile_soft` option, else the
/// default (1024, or the hard limit when that is lower). 0 if `info` is NULL.
///
/// # Safety
/// `info` is NULL or a live info object.
#[no_mangle]
pub unsafe extern "C" fn boxlite_box_info_nofile_soft(info: *const BoxliteBoxInfo) -> u64 {
    // SAFETY: forwarded caller contract.
    unsafe { limit(info, |l| l.nofile_soft) }
}

/// The `RLIMIT_NOFILE` hard limit of the box's processes: its `nofile_hard` option, else the
/// default (4096, or the soft limit when that is higher). 0 if `info` is NULL.
///
/// # Safety
/// `info` is NULL or a live info object.
#[no_mangle]
pub unsafe extern "C" fn boxlite_box_info_nofile_hard(info: *const BoxliteBoxInfo) -> u64 {
    // SAFETY: forwarded caller contract.
    unsafe { limit(info, |l| l.nofile_hard) }
}

/// The size in MiB of the `/tmp` tmpfs the box gets when its image has no `/tmp`: its
/// `tmp_size_mib` option, else half the memory limit. 0 if `info` is NULL.
///
/// # Safety
/// `info` is NULL or a live info object.
#[no_mangle]
pub unsafe extern "C" fn boxlite_box_info_tmp_size_mib(info: *const BoxliteBoxInfo) -> u64 {
    // SAFETY: forwarded caller contract.
    unsafe { limit(info, |l| l.tmp_size_mib) }
}

/// The size in MiB of one box log file: its `log_max_size_mib` option, else the default (16).
/// 0 if `info` is NULL.
///
/// # Safety
/// `info` is NULL or a live info object.
#[no_mangle]
pub unsafe extern "C" fn boxlite_box_info_log_max_size_mib(info: *const BoxliteBoxInfo) -> u64 {
    // SAFETY: forwarded caller contract.
    unsafe { limit(info, |l| l.log_max_size_mib) }
}

/// How many box log files are kept, the live one included: its `log_max_files` option, else
/// the default (2). 0 if `info` is NULL.
///
/// # Safety
/// `info` is NULL or a live info object.
#[no_mangle]
pub unsafe extern "C" fn boxlite_box_info_log_max_files(info: *const BoxliteBoxInfo) -> u32 {
    // SAFETY: forwarded caller contract.
    unsafe { info.as_ref() }.map_or(0, |i| i.limits.log_max_files)
}

/// The size in GiB of the box's disk, which bounds its writable layer: its `disk_size_gb`
/// option, else the default (10). 0 if `info` is NULL.
///
/// # Safety
/// `info` is NULL or a live info object.
#[no_mangle]
pub unsafe extern "C" fn boxlite_box_info_disk_size_gb(info: *const BoxliteBoxInfo) -> u64 {
    // SAFETY: forwarded caller contract.
    unsafe { limit(info, |l| l.disk_size_gb) }
}

/// Writes a present value to a nullable out-pointer and says whether it was present.
///
/// # Safety
/// `out` is NULL or valid for writing a `T`.
unsafe fn optional<T>(value: Option<T>, out: *mut T) -> bool {
    match value {
        Some(v) => {
            if !out.is_null() {
                // SAFETY: non-NULL and writable per the caller contract.
                unsafe { out.write(v) };
            }
            true
        }
        None => false,
    }
}

/// Frees an info returned by `boxlite_box_info`. NULL does nothing. Never pass an info
/// borrowed from a list.
///
/// # Safety
/// `info` is NULL or an info returned by `boxlite_box_info`, freed only once.
#[no_mangle]
pub unsafe extern "C" fn boxlite_box_info_free(info: *mut BoxliteBoxInfo) {
    if !info.is_null() {
        // SAFETY: made with Box::into_raw in boxlite_box_info and freed once.
        drop(unsafe { Box::from_raw(info) });
    }
}

/// Infos of several boxes, newest first.
#[derive(Debug)]
pub struct BoxliteBoxList {
    items: Vec<BoxliteBoxInfo>,
}

impl TryFrom<Vec<BoxInfo>> for BoxliteBoxList {
    type Error = Error;

    fn try_from(infos: Vec<BoxInfo>) -> Result<Self, Error> {
        let items = infos.into_iter().map(BoxliteBoxInfo::try_from).collect::<Result<_, _>>()?;
        Ok(BoxliteBoxList { items })
    }
}

/// The number of boxes in `list`; 0 when `list` is NULL.
///
/// # Safety
/// `list` is NULL or a live list from `boxlite_box_list`.
#[no_mangle]
pub unsafe extern "C" fn boxlite_box_list_len(list: *const BoxliteBoxList) -> usize {
    // SAFETY: forwarded caller contract.
    unsafe { list.as_ref() }.map_or(0, |l| l.items.len())
}

/// The info at `index` (0 is the newest box), or NULL when `index` is out of range or `list`
/// is NULL. Borrowed from `list`: valid until `list` is freed; never free it on its own.
///
/// # Safety
/// `list` is NULL or a live list from `boxlite_box_list`.
#[no_mangle]
pub unsafe extern "C" fn boxlite_box_list_get(
    list: *const BoxliteBoxList,
    index: usize,
) -> *const BoxliteBoxInfo {
    // SAFETY: forwarded caller contract.
    unsafe { list.as_ref() }
        .and_then(|l| l.items.get(index))
        .map_or(ptr::null(), |info| info as *const BoxliteBoxInfo)
}

/// Frees a list returned by `boxlite_box_list`, with every info in it. NULL does nothing.
///
/// # Safety
/// `list` is NULL or a list returned by `boxlite_box_list`, freed only once.
#[no_mangle]
pub unsafe extern "C" fn boxlite_box_list_free(list: *mut BoxliteBoxList) {
    if !list.is_null() {
        // SAFETY: made with Box::into_raw in boxlite_box_list and freed once.
        drop(unsafe { Box::from_raw(list) });
    }
}
