//! [`BoxMetrics`]: what a running box has done, read on the host from sources the box cannot
//! write: the kernel's counters of its `eth0`.

use serde::Serialize;

use crate::error::Result;
use crate::runtime::Runtime;
use crate::status::BoxStatus;

/// A snapshot of one box's counters. Every field is `None` when the box does not run, and
/// the network's when it has none (`network` "disabled"). Counters start at 0 at each start.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct BoxMetrics {
    /// Bytes the box sent out of its `eth0` (IP packets, headers included).
    pub network_bytes_sent: Option<u64>,
    /// Bytes the box received on its `eth0`.
    pub network_bytes_received: Option<u64>,
    /// Packets the box sent.
    pub network_packets_sent: Option<u64>,
    /// Packets the box received.
    pub network_packets_received: Option<u64>,
}

impl Runtime {
    pub(crate) fn box_metrics(&self, id: &str) -> Result<BoxMetrics> {
        let rec = self.resolve_existing(id)?;
        if rec.state.status() != BoxStatus::Running || rec.config.network.is_disabled() {
            return Ok(BoxMetrics::default());
        }
        // The shim's one child is the box's PID 1, in the box's network namespace; the shim
        // is checked by its start time first, so a reused pid is never read.
        let Some(shim) = self.shim_process(&rec) else { return Ok(BoxMetrics::default()) };
        let counters = crate::procfs::children(shim.pid())
            .first()
            .and_then(|&init| crate::procfs::net_dev(init, boxlite_protocol::launch::net::IFNAME));
        Ok(match counters {
            Some(c) => BoxMetrics {
                network_bytes_sent: Some(c.tx_bytes),
                network_bytes_received: Some(c.rx_bytes),
                network_packets_sent: Some(c.tx_packets),
                network_packets_received: Some(c.rx_packets),
            },
            None => BoxMetrics::default(),
        })
    }
}
