//! Where a box may connect. Even with full egress a box reaches neither the host itself (its
//! loopback, its own addresses: the shim connects from the host, so those would be the
//! host's services) nor link-local addresses (cloud metadata services at 169.254.169.254)
//! nor the shim's own addresses on the box's network.

use std::net::Ipv4Addr;

use boxlite_protocol::launch::net;

pub struct Policy {
    /// The host's own IPv4 addresses, read when the stack starts.
    host_addrs: Vec<Ipv4Addr>,
}

impl Policy {
    pub fn new() -> Self {
        Policy { host_addrs: host_addrs() }
    }

    /// Why the box may not connect to `dst`, or `None` when it may.
    pub fn refuses(&self, dst: Ipv4Addr) -> Option<&'static str> {
        if dst.is_loopback() {
            return Some("loopback");
        }
        if dst.is_link_local() {
            return Some("link-local (metadata services)");
        }
        if dst.is_unspecified() || dst.is_broadcast() || dst.is_multicast() {
            return Some("not a unicast address");
        }
        if [net::GATEWAY, net::DNS, net::BOX_ADDR].contains(&dst.octets()) {
            return Some("the box network's own address");
        }
        if self.host_addrs.contains(&dst) {
            return Some("the host's own address");
        }
        None
    }
}

fn host_addrs() -> Vec<Ipv4Addr> {
    let mut found = Vec::new();
    let Ok(addrs) = nix::ifaddrs::getifaddrs() else {
        return found;
    };
    for ifaddr in addrs {
        if let Some(sin) = ifaddr.address.as_ref().and_then(|a| a.as_sockaddr_in()) {
            found.push(sin.ip());
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_the_host_and_metadata_and_allows_the_rest() {
        let policy = Policy { host_addrs: vec![Ipv4Addr::new(192, 0, 2, 7)] };
        for refused in [
            "127.0.0.1",
            "127.5.5.5",
            "169.254.169.254",
            "10.0.2.2",
            "10.0.2.3",
            "192.0.2.7",
            "0.0.0.0",
            "255.255.255.255",
            "224.0.0.1",
        ] {
            assert!(policy.refuses(refused.parse().unwrap()).is_some(), "{refused}");
        }
        for allowed in ["10.250.0.2", "192.0.2.8", "8.8.8.8"] {
            assert_eq!(policy.refuses(allowed.parse().unwrap()), None, "{allowed}");
        }
    }
}
