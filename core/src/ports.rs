//! Published ports ([`BoxOptions::ports`]): a box's TCP port opened on a host address
//! (docs/networking.md, "Published ports"). The shim binds them before the box starts and
//! writes what it bound to a file of the box's, which the start reads into the box's state.

use std::collections::HashSet;
use std::io::Read;
use std::net::IpAddr;
use std::path::Path;

use boxlite_protocol::launch::PortForward;
use serde::{Deserialize, Serialize};

use crate::error::{Error, ErrorKind, Result};
use crate::options::BoxOptions;

/// The host address a port is published on when none is given: only this host reaches it.
pub const DEFAULT_PORT_HOST_IP: &str = "127.0.0.1";
/// At most this many published ports per box: each is a listening socket of the shim's.
const MAX_PORTS: usize = 64;
/// The shim's list of bound ports is read up to this size.
const BOUND_FILE_MAX_BYTES: u64 = 64 * 1024;

/// The transport of a published port ([`PortSpec::protocol`]).
// Deserialized through `parse`, so that a bad value's error names the option.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase", try_from = "String")]
pub enum PortProtocol {
    /// TCP, the only one carried so far.
    #[default]
    Tcp,
}

impl PortProtocol {
    /// The name in options, the CLI and the bindings.
    pub fn as_str(self) -> &'static str {
        match self {
            PortProtocol::Tcp => "tcp",
        }
    }

    /// Parses [`PortProtocol::as_str`]'s names; "udp" is refused as not carried yet.
    pub fn parse(name: &str) -> Result<Self> {
        match name {
            "tcp" => Ok(PortProtocol::Tcp),
            "udp" => Err(Error::invalid_argument(
                "invalid ports protocol \"udp\": only tcp ports can be published so far",
            )),
            other => Err(Error::invalid_argument(format!(
                "invalid ports protocol {other:?}: expected \"tcp\""
            ))),
        }
    }
}

impl TryFrom<String> for PortProtocol {
    type Error = String;

    fn try_from(name: String) -> std::result::Result<Self, String> {
        PortProtocol::parse(&name).map_err(|e| e.to_string())
    }
}

/// One published port, as asked in [`BoxOptions::ports`] and as reported in
/// `BoxInfo::ports` (there with `host_ip` filled in and, while the box runs, the
/// `host_port` actually bound).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PortSpec {
    /// The host port; `None`: a free one, picked at each start.
    #[serde(default)]
    pub host_port: Option<u16>,
    /// The box's port.
    pub guest_port: u16,
    /// `tcp`.
    #[serde(default)]
    pub protocol: PortProtocol,
    /// The host address listened on; `None`: [`DEFAULT_PORT_HOST_IP`].
    #[serde(default)]
    pub host_ip: Option<String>,
}

impl PortSpec {
    /// Parses the CLI's `[host_ip:][host_port:]guest_port[/tcp]`; an empty host port
    /// (`127.0.0.1::80`) means a free one.
    pub fn parse(text: &str) -> Result<Self> {
        let bad = |why: &str| {
            Error::invalid_argument(format!(
                "invalid port {text:?}: {why} (expected [host_ip:][host_port:]guest_port[/tcp])"
            ))
        };
        let (addr, protocol) = match text.split_once('/') {
            Some((addr, proto)) => (addr, PortProtocol::parse(proto)?),
            None => (text, PortProtocol::Tcp),
        };
        let number = |s: &str, what: &str| s.parse::<u16>().map_err(|_| bad(what));
        // An IPv6 host address is written in brackets: [::1]:8080:80.
        let (host_ip, rest) = match addr.strip_prefix('[') {
            Some(v6) => {
                let (ip, rest) = v6.split_once("]:").ok_or_else(|| bad("unclosed '['"))?;
                (Some(ip.to_string()), rest)
            }
            None => match addr.matches(':').count() {
                2 => {
                    let (ip, rest) = addr.split_once(':').ok_or_else(|| bad("no guest port"))?;
                    (Some(ip.to_string()), rest)
                }
                0 | 1 => (None, addr),
                _ => return Err(bad("too many ':'")),
            },
        };
        let (host_port, guest_port) = match rest.split_once(':') {
            Some(("", guest)) => (None, number(guest, "bad guest port")?),
            Some((host, guest)) => {
                (Some(number(host, "bad host port")?), number(guest, "bad guest port")?)
            }
            None => (None, number(rest, "bad guest port")?),
        };
        let spec = PortSpec { host_port, guest_port, protocol, host_ip };
        spec.validate()?;
        Ok(spec)
    }

    /// The host address, default filled in.
    pub fn host_ip(&self) -> &str {
        self.host_ip.as_deref().unwrap_or(DEFAULT_PORT_HOST_IP)
    }

    /// Checks the entry; returns its host address.
    fn validate(&self) -> Result<IpAddr> {
        let name = self.describe();
        if self.guest_port == 0 {
            return Err(Error::invalid_argument(format!(
                "invalid port {name}: the guest port must be 1..=65535"
            )));
        }
        if self.host_port == Some(0) {
            return Err(Error::invalid_argument(format!(
                "invalid port {name}: host port 0; leave host_port unset for a free port"
            )));
        }
        self.host_ip().parse::<IpAddr>().map_err(|_| {
            Error::invalid_argument(format!(
                "invalid port {name}: host_ip {:?} is not an IP address",
                self.host_ip()
            ))
        })
    }

    /// `host_ip:host_port->guest_port/tcp`, `?` for a free host port.
    fn describe(&self) -> String {
        let host_port = self.host_port.map_or_else(|| "?".to_string(), |p| p.to_string());
        format!("{}:{host_port}->{}/{}", self.host_ip(), self.guest_port, self.protocol.as_str())
    }
}

/// Checks [`BoxOptions::ports`]: each entry, their number, no host address and port twice,
/// and a network to publish from.
pub(crate) fn validate(opts: &BoxOptions) -> Result<()> {
    if opts.ports.is_empty() {
        return Ok(());
    }
    if opts.network.is_disabled() {
        return Err(Error::invalid_argument(
            "invalid ports: the box has no network (network is \"disabled\"); set network to \
             \"enabled\" or drop ports",
        ));
    }
    if opts.ports.len() > MAX_PORTS {
        return Err(Error::invalid_argument(format!(
            "invalid ports: {} entries, at most {MAX_PORTS}",
            opts.ports.len()
        )));
    }
    let mut seen = HashSet::new();
    for port in &opts.ports {
        let ip = port.validate()?;
        if let Some(host_port) = port.host_port {
            if !seen.insert((ip, host_port)) {
                return Err(Error::invalid_argument(format!(
                    "invalid ports: {} is published twice",
                    port.describe()
                )));
            }
        }
    }
    Ok(())
}

/// What the shim is asked to bind.
pub(crate) fn forwards(opts: &BoxOptions) -> Vec<PortForward> {
    opts.ports
        .iter()
        .map(|p| PortForward {
            host_ip: p.host_ip().to_string(),
            host_port: p.host_port.unwrap_or(0),
            guest_port: p.guest_port,
        })
        .collect()
}

/// The ports the shim bound for box `id`, read from `path` after the box became ready, in
/// the order they were asked. Any mismatch with what was asked is an error: the start must
/// not report a port nobody listens on.
pub(crate) fn read_bound(id: &str, path: &Path, asked: &[PortSpec]) -> Result<Vec<PortSpec>> {
    let what = || format!("box {id}: read the ports its shim bound ({})", path.display());
    let mut text = String::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(BOUND_FILE_MAX_BYTES).read_to_string(&mut text))
        .map_err(|e| Error::io(what(), e))?;
    let bound: Vec<PortForward> = serde_json::from_str(&text)
        .map_err(|e| Error::new(ErrorKind::Engine, what()).with_source(e))?;
    let matches = bound.len() == asked.len()
        && bound.iter().zip(asked).all(|(b, a)| {
            b.guest_port == a.guest_port
                && b.host_port != 0
                && a.host_port.is_none_or(|p| p == b.host_port)
                && b.host_ip == a.host_ip()
        });
    if !matches {
        return Err(Error::new(
            ErrorKind::Engine,
            format!("box {id}: its shim bound other ports than asked: {text}"),
        ));
    }
    Ok(bound
        .into_iter()
        .zip(asked)
        .map(|(b, a)| PortSpec {
            host_port: Some(b.host_port),
            guest_port: b.guest_port,
            protocol: a.protocol,
            host_ip: Some(b.host_ip),
        })
        .collect())
}

/// The ports `BoxInfo` reports: those bound while the box runs, else those asked (host
/// address filled in).
pub(crate) fn reported(opts: &BoxOptions, bound: &[PortSpec]) -> Vec<PortSpec> {
    if !bound.is_empty() {
        return bound.to_vec();
    }
    opts.ports
        .iter()
        .map(|p| PortSpec { host_ip: Some(p.host_ip().to_string()), ..p.clone() })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(text: &str) -> (Option<String>, Option<u16>, u16) {
        let p = PortSpec::parse(text).unwrap();
        (p.host_ip, p.host_port, p.guest_port)
    }

    #[test]
    fn cli_port_forms_parse() {
        assert_eq!(parsed("80"), (None, None, 80));
        assert_eq!(parsed("8080:80"), (None, Some(8080), 80));
        assert_eq!(parsed("0.0.0.0:8080:80/tcp"), (Some("0.0.0.0".into()), Some(8080), 80));
        assert_eq!(parsed("127.0.0.1::80"), (Some("127.0.0.1".into()), None, 80));
        assert_eq!(parsed("[::1]:8080:80"), (Some("::1".into()), Some(8080), 80));
    }

    #[test]
    fn bad_ports_are_refused_with_the_rule() {
        for (text, why) in [
            ("0", "guest port must be"),
            ("x", "bad guest port"),
            ("70000", "bad guest port"),
            ("0:80", "host port 0"),
            ("a.b:1:80", "not an IP address"),
            ("1:2:3:4", "too many"),
            ("80/sctp", "expected \"tcp\""),
        ] {
            let err = PortSpec::parse(text).unwrap_err().to_string();
            assert!(err.contains(why), "{text}: {err}");
        }
        let err = PortSpec::parse("53/udp").unwrap_err().to_string();
        assert!(err.contains("only tcp"), "{err}");
    }
}
