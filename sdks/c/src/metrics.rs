//! `boxlite_box_metrics`: core's counters of a box, written into a struct the caller owns.

use boxlite_core::BoxMetrics;

use crate::blocking::block_on;
use crate::error::{BoxliteError, BoxliteErrorCode};
use crate::ffi::{guard, out_arg, ref_arg};
use crate::litebox::BoxliteBox;

/// A box's counters, written by `boxlite_box_metrics()`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BoxliteBoxMetrics {
    /// Whether the network counters below were read: the box runs with a network. When false
    /// they are 0.
    pub has_network: bool,
    /// Bytes the box sent out of its `eth0` (IP packets, headers included).
    pub network_bytes_sent: u64,
    /// Bytes the box received on its `eth0`.
    pub network_bytes_received: u64,
    /// Packets the box sent.
    pub network_packets_sent: u64,
    /// Packets the box received.
    pub network_packets_received: u64,
}

impl From<BoxMetrics> for BoxliteBoxMetrics {
    fn from(m: BoxMetrics) -> Self {
        BoxliteBoxMetrics {
            has_network: m.network_bytes_sent.is_some(),
            network_bytes_sent: m.network_bytes_sent.unwrap_or(0),
            network_bytes_received: m.network_bytes_received.unwrap_or(0),
            network_packets_sent: m.network_packets_sent.unwrap_or(0),
            network_packets_received: m.network_packets_received.unwrap_or(0),
        }
    }
}

/// Reads the box's counters now, on the host (the kernel's counters of its `eth0` while it
/// runs with a network), into `*out`. Errors: BOXLITE_ERROR_NOT_FOUND once the box was
/// removed.
///
/// # Safety
/// `box` is a live box handle; `out` is valid for writing a `BoxliteBoxMetrics`; `err_out` is
/// NULL or valid for writing a pointer.
#[no_mangle]
pub unsafe extern "C" fn boxlite_box_metrics(
    r#box: *const BoxliteBox,
    out: *mut BoxliteBoxMetrics,
    err_out: *mut *mut BoxliteError,
) -> BoxliteErrorCode {
    // SAFETY: arguments per the caller contract.
    unsafe {
        guard("boxlite_box_metrics", err_out, || {
            let b = ref_arg(r#box, "box")?;
            let out = out_arg(out, "out")?;
            let metrics = block_on(b.inner.metrics())??;
            out.write(BoxliteBoxMetrics::from(metrics));
            Ok(())
        })
    }
}
