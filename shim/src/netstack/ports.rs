//! Published ports: the shim's listening sockets on the host. Bound before the box starts,
//! so a port already taken fails the start with the reason; held until the shim exits, so
//! they are released with the box and outlive the host process of a detached box.

use std::net::{IpAddr, SocketAddr, TcpListener};
use std::path::Path;

use boxlite_protocol::launch::{NetworkSpec, PortForward};

use crate::error::{Step, StepError};

/// A bound port and the box port its connections go to.
pub struct Published {
    pub listener: TcpListener,
    pub guest_port: u16,
}

/// Binds every port of `spec` and writes what was bound to its `ports_path` (the host reads
/// it once the box is ready).
pub fn bind(spec: &NetworkSpec) -> Result<Vec<Published>, StepError> {
    if spec.ports.is_empty() {
        return Ok(Vec::new());
    }
    let mut published = Vec::with_capacity(spec.ports.len());
    let mut bound = Vec::with_capacity(spec.ports.len());
    for port in &spec.ports {
        let ip: IpAddr = port.host_ip.parse().map_err(|_| {
            StepError::new(format!("publish box port {}", port.guest_port), "bad host address")
        })?;
        let shown = match port.host_port {
            0 => format!("{ip} (a free port)"),
            n => SocketAddr::new(ip, n).to_string(),
        };
        let step = || format!("publish box port {} on {shown}", port.guest_port);
        let listener = TcpListener::bind((ip, port.host_port)).step(step)?;
        listener.set_nonblocking(true).step(step)?;
        let at = listener.local_addr().step(step)?;
        bound.push(PortForward {
            host_ip: port.host_ip.clone(),
            host_port: at.port(),
            guest_port: port.guest_port,
        });
        published.push(Published { listener, guest_port: port.guest_port });
    }
    let path = spec
        .ports_path
        .as_deref()
        .ok_or_else(|| StepError::new("publish ports", "the spec names no ports file"))?;
    write(path, &bound)?;
    Ok(published)
}

/// Written whole under another name and renamed: the host never reads half a list. No
/// fsync: the host reads it while the shim runs, and stores it in its database.
fn write(path: &Path, bound: &[PortForward]) -> Result<(), StepError> {
    let step = || format!("write the bound ports to {}", path.display());
    let text = serde_json::to_vec(bound).map_err(|e| StepError::new(step(), e.to_string()))?;
    let tmp = path.with_extension("json.tmp");
    std::fs::write(&tmp, text).step(step)?;
    std::fs::rename(&tmp, path).step(step)
}
