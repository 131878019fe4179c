//! Where a box may connect. Even with full egress a box reaches neither the host itself (its
//! loopback, its own addresses: the shim connects from the host, so those would be the
//! host's services) nor link-local addresses (cloud metadata services at 169.254.169.254)
//! nor the shim's own addresses on the box's network, unless its `allow_net` names such an
//! address or CIDR itself. With an `allow_net`, a box reaches only the addresses and CIDRs it
//! names and the addresses its allowed names resolved to; other names do not resolve. A name
//! that resolves to a walled address does not open the wall (DNS rebinding).

use std::collections::HashSet;
use std::net::Ipv4Addr;

use boxlite_protocol::allow::AllowEntry;
use boxlite_protocol::launch::net;

/// Addresses learnt from DNS answers, per box; past this, new ones are not learnt (and so
/// not reachable), which a box can only do to itself.
const MAX_RESOLVED: usize = 4096;

pub struct Policy {
    /// The host's own IPv4 addresses, read when the stack starts.
    host_addrs: Vec<Ipv4Addr>,
    /// `None`: full egress.
    allow: Option<Vec<AllowEntry>>,
    /// What allowed names resolved to.
    resolved: HashSet<Ipv4Addr>,
}

impl Policy {
    /// `allow_net` entries are checked at create; one that no longer parses allows nothing.
    pub fn new(allow_net: &[String]) -> Self {
        let allow = (!allow_net.is_empty())
            .then(|| allow_net.iter().filter_map(|e| AllowEntry::parse(e).ok()).collect());
        Policy { host_addrs: host_addrs(), allow, resolved: HashSet::new() }
    }

    /// Why the box may not connect to `dst`, or `None` when it may.
    pub fn refuses(&self, dst: Ipv4Addr) -> Option<&'static str> {
        if let Some(allow) = &self.allow {
            if allow.iter().any(|entry| entry.allows_addr(dst)) {
                return None; // named outright: also a walled address
            }
        }
        if let Some(wall) = self.wall(dst) {
            return Some(wall);
        }
        match &self.allow {
            Some(_) if !self.resolved.contains(&dst) => Some("not in allow_net"),
            _ => None,
        }
    }

    fn wall(&self, dst: Ipv4Addr) -> Option<&'static str> {
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

    /// Whether `name` may resolve.
    pub fn allows_name(&self, name: &str) -> bool {
        match &self.allow {
            None => true,
            Some(allow) => allow.iter().any(|entry| entry.allows_name(name)),
        }
    }

    /// Notes what an allowed name resolved to.
    pub fn learn(&mut self, addrs: impl IntoIterator<Item = Ipv4Addr>) {
        if self.allow.is_none() {
            return;
        }
        for addr in addrs {
            if self.resolved.len() >= MAX_RESOLVED {
                return;
            }
            self.resolved.insert(addr);
        }
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

    fn policy(allow: &[&str]) -> Policy {
        let allow_net: Vec<String> = allow.iter().map(|s| s.to_string()).collect();
        Policy { host_addrs: vec![Ipv4Addr::new(192, 0, 2, 7)], ..Policy::new(&allow_net) }
    }

    fn ip(text: &str) -> Ipv4Addr {
        text.parse().unwrap()
    }

    #[test]
    fn refuses_the_host_and_metadata_and_allows_the_rest() {
        let policy = policy(&[]);
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
            assert!(policy.refuses(ip(refused)).is_some(), "{refused}");
        }
        for allowed in ["10.250.0.2", "192.0.2.8", "8.8.8.8"] {
            assert_eq!(policy.refuses(ip(allowed)), None, "{allowed}");
            assert!(policy.allows_name("anything.example"));
        }
    }

    #[test]
    fn an_allow_list_lets_through_its_nets_and_what_its_names_resolved_to() {
        let mut policy =
            policy(&["allowed.test", "*.wild.test", "198.51.100.0/24", "169.254.169.254"]);
        assert!(policy.allows_name("allowed.test") && policy.allows_name("a.wild.test"));
        assert!(!policy.allows_name("blocked.test") && !policy.allows_name("wild.test"));
        assert_eq!(policy.refuses(ip("198.51.100.20")), None);
        assert_eq!(policy.refuses(ip("169.254.169.254")), None, "named outright");
        assert_eq!(policy.refuses(ip("203.0.113.5")), Some("not in allow_net"));
        policy.learn([ip("203.0.113.5"), ip("127.0.0.1")]);
        assert_eq!(policy.refuses(ip("203.0.113.5")), None, "resolved from an allowed name");
        assert_eq!(policy.refuses(ip("127.0.0.1")), Some("loopback"), "no rebinding");
        assert_eq!(policy.refuses(ip("169.254.1.1")), Some("link-local (metadata services)"));
    }
}
