//! A box's egress allow-list (`allow_net`): exact host names, `*.suffix` wildcards, IPv4
//! addresses and CIDRs. Parsed here, once, for the core (which refuses a bad entry at create)
//! and the shim (which enforces the list: shim/src/netstack/policy.rs).

use std::net::Ipv4Addr;

/// One entry of the list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AllowEntry {
    /// A name, lowercase, without a trailing dot: it alone (not its subdomains).
    Name(String),
    /// `*.example.com`: every name that ends in `.example.com` (not `example.com` itself).
    Suffix(String),
    /// An address or a CIDR: the addresses of `net/prefix_len`.
    Net { net: Ipv4Addr, prefix_len: u8 },
}

/// Longest name DNS carries.
const MAX_NAME_LEN: usize = 253;

impl AllowEntry {
    /// Parses one entry; the error says what is wrong with it.
    pub fn parse(entry: &str) -> Result<Self, String> {
        let text = entry.trim().trim_end_matches('.').to_ascii_lowercase();
        if let Some((addr, len)) = text.split_once('/') {
            let net: Ipv4Addr = addr.parse().map_err(|_| "not an IPv4 CIDR".to_string())?;
            let prefix_len: u8 = match len.parse() {
                Ok(n) if n <= 32 => n,
                _ => return Err("a CIDR's prefix length is 0 to 32".to_string()),
            };
            return Ok(AllowEntry::Net { net: mask(net, prefix_len), prefix_len });
        }
        if let Ok(addr) = text.parse::<Ipv4Addr>() {
            return Ok(AllowEntry::Net { net: addr, prefix_len: 32 });
        }
        if text.contains(':') {
            return Err("IPv6 and ports are not supported (names, IPv4 addresses and CIDRs are)"
                .to_string());
        }
        let (name, wildcard) = match text.strip_prefix("*.") {
            Some(rest) => (rest, true),
            None => (text.as_str(), false),
        };
        check_name(name)?;
        Ok(match wildcard {
            true => AllowEntry::Suffix(name.to_string()),
            false => AllowEntry::Name(name.to_string()),
        })
    }

    /// Whether this entry lets `name` (lowercase, no trailing dot) resolve.
    pub fn allows_name(&self, name: &str) -> bool {
        match self {
            AllowEntry::Name(allowed) => name == allowed,
            AllowEntry::Suffix(suffix) => {
                name.len() > suffix.len() + 1
                    && name.ends_with(suffix.as_str())
                    && name.as_bytes()[name.len() - suffix.len() - 1] == b'.'
            }
            AllowEntry::Net { .. } => false,
        }
    }

    /// Whether this entry names `addr` itself (an address or a CIDR holding it).
    pub fn allows_addr(&self, addr: Ipv4Addr) -> bool {
        match self {
            AllowEntry::Net { net, prefix_len } => mask(addr, *prefix_len) == *net,
            _ => false,
        }
    }
}

fn mask(addr: Ipv4Addr, prefix_len: u8) -> Ipv4Addr {
    let bits = u32::from(addr);
    let mask = if prefix_len == 0 { 0 } else { u32::MAX << (32 - u32::from(prefix_len)) };
    Ipv4Addr::from(bits & mask)
}

fn check_name(name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > MAX_NAME_LEN {
        return Err(format!("a name is 1 to {MAX_NAME_LEN} characters"));
    }
    for label in name.split('.') {
        let ok = !label.is_empty()
            && label.len() <= 63
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !ok {
            return Err(format!(
                "{label:?} is not a DNS label (letters, digits, '-', '_'; a wildcard is only \
                 a leading \"*.\")"
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_parse_to_names_suffixes_and_nets() {
        assert_eq!(
            AllowEntry::parse("API.Example.com."),
            Ok(AllowEntry::Name("api.example.com".into()))
        );
        assert_eq!(
            AllowEntry::parse("*.example.com"),
            Ok(AllowEntry::Suffix("example.com".into()))
        );
        let net = |a: [u8; 4], prefix_len| AllowEntry::Net { net: Ipv4Addr::from(a), prefix_len };
        assert_eq!(AllowEntry::parse("10.1.2.3"), Ok(net([10, 1, 2, 3], 32)));
        assert_eq!(AllowEntry::parse("10.1.2.3/8"), Ok(net([10, 0, 0, 0], 8)));
        for bad in [
            "",
            "*",
            "*.",
            "a..b",
            "-a.com",
            "a*.com",
            "x.*.com",
            "10.0.0.0/33",
            "::1",
            "example.com:443",
            "1.2.3.4/x",
            "a b",
        ] {
            assert!(AllowEntry::parse(bad).is_err(), "{bad:?} parsed");
        }
    }

    #[test]
    fn names_match_exactly_or_below_a_wildcard() {
        let exact = AllowEntry::parse("allowed.test").unwrap();
        assert!(exact.allows_name("allowed.test"));
        assert!(!exact.allows_name("sub.allowed.test") && !exact.allows_name("notallowed.test"));
        let wild = AllowEntry::parse("*.allowed.test").unwrap();
        assert!(wild.allows_name("a.allowed.test") && wild.allows_name("a.b.allowed.test"));
        assert!(!wild.allows_name("allowed.test") && !wild.allows_name("xallowed.test"));
        let cidr = AllowEntry::parse("192.0.2.0/24").unwrap();
        assert!(cidr.allows_addr("192.0.2.77".parse().unwrap()));
        assert!(!cidr.allows_addr("192.0.3.1".parse().unwrap()));
        assert!(!cidr.allows_name("192.0.2.1"));
    }
}
