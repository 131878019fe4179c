//! `BoxMetrics`: core's counters of a box as a plain JS object.

use boxlite_core::BoxMetrics;
use napi_derive::napi;

/// A snapshot of one box's counters; each is null while the box does not run, and the
/// network's when it has no network. Numbers: exact up to 2^53.
#[napi(object, js_name = "BoxMetrics", object_from_js = false, use_nullable = true)]
pub struct JsBoxMetrics {
    /// Bytes the box sent out of its `eth0`.
    pub network_bytes_sent: Option<f64>,
    /// Bytes the box received on its `eth0`.
    pub network_bytes_received: Option<f64>,
    /// Packets the box sent.
    pub network_packets_sent: Option<f64>,
    /// Packets the box received.
    pub network_packets_received: Option<f64>,
}

impl From<BoxMetrics> for JsBoxMetrics {
    fn from(m: BoxMetrics) -> Self {
        let js = |v: Option<u64>| v.map(|v| v as f64);
        JsBoxMetrics {
            network_bytes_sent: js(m.network_bytes_sent),
            network_bytes_received: js(m.network_bytes_received),
            network_packets_sent: js(m.network_packets_sent),
            network_packets_received: js(m.network_packets_received),
        }
    }
}
