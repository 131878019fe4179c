//! `BoxMetrics`: core's counters of a box, as read when `Box.metrics()` was awaited.

use boxlite_core::BoxMetrics;
use pyo3::prelude::*;

/// A snapshot of one box's counters; every field is `None` while the box does not run, and
/// the network's when it has no network.
#[pyclass(name = "BoxMetrics", module = "boxlite._boxlite", frozen, get_all)]
pub(crate) struct PyBoxMetrics {
    /// Bytes the box sent out of its `eth0`.
    network_bytes_sent: Option<u64>,
    /// Bytes the box received on its `eth0`.
    network_bytes_received: Option<u64>,
    /// Packets the box sent.
    network_packets_sent: Option<u64>,
    /// Packets the box received.
    network_packets_received: Option<u64>,
}

impl From<BoxMetrics> for PyBoxMetrics {
    fn from(m: BoxMetrics) -> Self {
        PyBoxMetrics {
            network_bytes_sent: m.network_bytes_sent,
            network_bytes_received: m.network_bytes_received,
            network_packets_sent: m.network_packets_sent,
            network_packets_received: m.network_packets_received,
        }
    }
}

#[pymethods]
impl PyBoxMetrics {
    fn __repr__(&self) -> String {
        let shown = |v: Option<u64>| v.map_or("None".to_string(), |v| v.to_string());
        format!(
            "BoxMetrics(network_bytes_sent={}, network_bytes_received={}, \
             network_packets_sent={}, network_packets_received={})",
            shown(self.network_bytes_sent),
            shown(self.network_bytes_received),
            shown(self.network_packets_sent),
            shown(self.network_packets_received)
        )
    }
}
