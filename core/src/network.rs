//! A box's network beyond loopback ([`BoxOptions::network`]): what the shim's stack is given
//! (docs/networking.md).

use std::net::{IpAddr, SocketAddr};
use std::path::Path;

use boxlite_protocol::allow::AllowEntry;
use boxlite_protocol::launch::NetworkSpec;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::options::BoxOptions;

/// Whether a box reaches beyond its loopback ([`BoxOptions::network`]).
// Deserialized through `parse`, so that a bad value's error names the option.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase", try_from = "String")]
pub enum NetworkMode {
    /// Loopback only.
    Disabled,
    /// An `eth0` with a default route and a resolver: connections go out through the host,
    /// except to the host itself and to link-local addresses. The default, as upstream's.
    #[default]
    Enabled,
}

impl NetworkMode {
    /// The name in options, the CLI, the bindings and `BoxInfo::network`.
    pub fn as_str(self) -> &'static str {
        match self {
            NetworkMode::Disabled => "disabled",
            NetworkMode::Enabled => "enabled",
        }
    }

    /// Parses [`NetworkMode::as_str`]'s names.
    pub fn parse(name: &str) -> Result<Self> {
        [NetworkMode::Disabled, NetworkMode::Enabled]
            .into_iter()
            .find(|mode| mode.as_str() == name)
            .ok_or_else(|| {
                Error::invalid_argument(format!(
                    "invalid network {name:?}: expected \"enabled\" or \"disabled\""
                ))
            })
    }

    pub(crate) fn is_disabled(&self) -> bool {
        *self == NetworkMode::Disabled
    }
}

impl TryFrom<String> for NetworkMode {
    type Error = String;

    fn try_from(name: String) -> std::result::Result<Self, String> {
        NetworkMode::parse(&name).map_err(|e| e.to_string())
    }
}

/// At most this many resolvers in [`BoxOptions::dns`], as in a resolv.conf.
const MAX_DNS: usize = 3;
/// At most this many [`BoxOptions::allow_net`] entries: each connection and query is checked
/// against every one.
const MAX_ALLOW_NET: usize = 256;
/// The host's resolv.conf is read up to this size.
const RESOLV_CONF_MAX_BYTES: u64 = 64 * 1024;

/// Checks [`BoxOptions::dns`] (IP addresses, at most [`MAX_DNS`]) and
/// [`BoxOptions::allow_net`] (entries [`AllowEntry`] parses), both only with a network.
pub(crate) fn validate(opts: &BoxOptions) -> Result<()> {
    if opts.dns.len() > MAX_DNS {
        return Err(Error::invalid_argument(format!(
            "invalid dns: {} resolvers, at most {MAX_DNS}",
            opts.dns.len()
        )));
    }
    for server in &opts.dns {
        if server.parse::<IpAddr>().is_err() {
            return Err(Error::invalid_argument(format!(
                "invalid dns {server:?}: expected an IP address"
            )));
        }
    }
    for (option, set) in [("dns", !opts.dns.is_empty()), ("allow_net", !opts.allow_net.is_empty())]
    {
        if set && opts.network.is_disabled() {
            return Err(Error::invalid_argument(format!(
                "invalid {option}: the box has no network (network is \"disabled\"); set \
                 network to \"enabled\" or drop {option}"
            )));
        }
    }
    if opts.allow_net.len() > MAX_ALLOW_NET {
        return Err(Error::invalid_argument(format!(
            "invalid allow_net: {} entries, at most {MAX_ALLOW_NET}",
            opts.allow_net.len()
        )));
    }
    for entry in &opts.allow_net {
        AllowEntry::parse(entry).map_err(|why| {
            Error::invalid_argument(format!("invalid allow_net entry {entry:?}: {why}"))
        })?;
    }
    Ok(())
}

/// What the shim's stack needs, or `None` for a loopback-only box.
/// `ports_path` is where the shim writes the ports it bound.
pub(crate) fn spec(opts: &BoxOptions, ports_path: &Path) -> Option<NetworkSpec> {
    if opts.network.is_disabled() {
        return None;
    }
    let servers: Vec<IpAddr> = match opts.dns.is_empty() {
        true => host_resolvers(),
        false => opts.dns.iter().filter_map(|s| s.parse().ok()).collect(),
    };
    let dns_upstreams = servers.into_iter().map(|ip| SocketAddr::new(ip, 53).to_string()).collect();
    let ports = crate::ports::forwards(opts);
    let ports_path = (!ports.is_empty()).then(|| ports_path.to_path_buf());
    Some(NetworkSpec { dns_upstreams, allow_net: opts.allow_net.clone(), ports, ports_path })
}

/// The host's resolvers, from /etc/resolv.conf (none when it is missing or names none: the
/// box's queries then fail at once).
fn host_resolvers() -> Vec<IpAddr> {
    use std::io::Read;
    let mut text = String::new();
    let read = std::fs::File::open("/etc/resolv.conf")
        .and_then(|f| f.take(RESOLV_CONF_MAX_BYTES).read_to_string(&mut text));
    if read.is_err() {
        return Vec::new();
    }
    parse_resolv_conf(&text)
}

fn parse_resolv_conf(text: &str) -> Vec<IpAddr> {
    text.lines()
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            (words.next() == Some("nameserver")).then(|| words.next()).flatten()
        })
        // A scoped IPv6 address (fe80::1%eth0) names an interface of the host's.
        .filter_map(|addr| addr.parse().ok())
        .take(MAX_DNS)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolv_conf_gives_its_nameservers_in_order() {
        let text = "# comment\nsearch example\nnameserver 10.0.0.53\nnameserver ::1\n\
                    nameserver fe80::1%eth0\nnameserver bogus\noptions ndots:2\n";
        let found: Vec<String> = parse_resolv_conf(text).iter().map(|a| a.to_string()).collect();
        assert_eq!(found, ["10.0.0.53", "::1"]);
    }
}
