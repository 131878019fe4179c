//! Just enough of the DNS message format (RFC 1035) for the allow-list: the name a query asks
//! for, an NXDOMAIN answer to it, and the IPv4 addresses an answer holds. Every message comes
//! from the box or from a resolver, so every read is bounds-checked and a compression pointer
//! chain is followed a bounded number of times.

use std::net::Ipv4Addr;

const HEADER_LEN: usize = 12;
/// Compression pointers followed for one name; a loop of them ends here.
const MAX_POINTERS: usize = 16;
const TYPE_A: u16 = 1;
const CLASS_IN: u16 = 1;

/// The name and end offset of the name at `at` (following compression pointers).
fn read_name(msg: &[u8], mut at: usize) -> Option<(String, usize)> {
    let mut labels: Vec<String> = Vec::new();
    let (mut end, mut jumps) = (None, 0);
    loop {
        let len = *msg.get(at)? as usize;
        match len & 0xC0 {
            0x00 if len == 0 => {
                let end = end.unwrap_or(at + 1);
                return Some((labels.join(".").to_ascii_lowercase(), end));
            }
            0x00 => {
                let label = msg.get(at + 1..at + 1 + len)?;
                labels.push(String::from_utf8_lossy(label).into_owned());
                at += 1 + len;
            }
            0xC0 => {
                jumps += 1;
                if jumps > MAX_POINTERS {
                    return None;
                }
                let target = ((len & 0x3F) << 8) | *msg.get(at + 1)? as usize;
                end.get_or_insert(at + 2);
                at = target;
            }
            _ => return None,
        }
    }
}

fn u16_at(msg: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*msg.get(at)?, *msg.get(at + 1)?]))
}

/// The name of a query's (first) question.
pub fn question_name(query: &[u8]) -> Option<String> {
    if u16_at(query, 4)? == 0 {
        return None;
    }
    read_name(query, HEADER_LEN).map(|(name, _)| name)
}

/// An answer to `query` saying its name does not exist (NXDOMAIN), with its question.
pub fn nxdomain(query: &[u8]) -> Option<Vec<u8>> {
    let (_, name_end) = read_name(query, HEADER_LEN)?;
    let question_end = name_end + 4;
    let mut reply = query.get(..question_end)?.to_vec();
    reply[2] = 0x80 | (query[2] & 0x01); // a response; keeps "recursion desired"
    reply[3] = 0x80 | 3; // recursion available; NXDOMAIN
    reply[4..6].copy_from_slice(&1u16.to_be_bytes());
    reply[6..12].fill(0);
    Some(reply)
}

/// The IPv4 addresses of an answer's A records (of any name: a CNAME chain ends in them).
pub fn a_records(answer: &[u8]) -> Vec<Ipv4Addr> {
    a_records_checked(answer).unwrap_or_default()
}

fn a_records_checked(msg: &[u8]) -> Option<Vec<Ipv4Addr>> {
    let questions = u16_at(msg, 4)?;
    let answers = u16_at(msg, 6)?;
    let mut at = HEADER_LEN;
    for _ in 0..questions {
        at = read_name(msg, at)?.1 + 4;
    }
    let mut found = Vec::new();
    for _ in 0..answers {
        at = read_name(msg, at)?.1;
        let (rtype, class) = (u16_at(msg, at)?, u16_at(msg, at + 2)?);
        let len = u16_at(msg, at + 8)? as usize;
        let data = msg.get(at + 10..at + 10 + len)?;
        if rtype == TYPE_A && class == CLASS_IN && len == 4 {
            found.push(Ipv4Addr::new(data[0], data[1], data[2], data[3]));
        }
        at += 10 + len;
    }
    Some(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A query for `name` (type A), as a resolver library sends it.
    fn query(name: &str) -> Vec<u8> {
        let mut msg = vec![0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
        for label in name.split('.') {
            msg.push(label.len() as u8);
            msg.extend_from_slice(label.as_bytes());
        }
        msg.extend_from_slice(&[0, 0, 1, 0, 1]);
        msg
    }

    #[test]
    fn reads_the_question_and_answers_nxdomain() {
        let q = query("Allowed.TEST");
        assert_eq!(question_name(&q).as_deref(), Some("allowed.test"));
        let reply = nxdomain(&q).unwrap();
        assert_eq!(&reply[..2], &q[..2], "same id");
        assert_eq!((reply[2] & 0x80, reply[3] & 0x0F), (0x80, 3));
        assert_eq!(&reply[12..], &q[12..], "same question");
    }

    #[test]
    fn finds_a_records_behind_compression_and_cnames() {
        let mut msg = query("www.allowed.test");
        msg[7] = 2; // two answers
                    // www.allowed.test CNAME edge.allowed.test, then edge... A 192.0.2.9.
        msg.extend_from_slice(&[
            0xC0, 12, 0, 5, 0, 1, 0, 0, 0, 60, 0, 7, 4, b'e', b'd', b'g', b'e', 0xC0, 16,
        ]);
        let cname_at = msg.len() - 7;
        msg.extend_from_slice(&[0xC0, cname_at as u8, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 192, 0, 2, 9]);
        assert_eq!(a_records(&msg), vec![Ipv4Addr::new(192, 0, 2, 9)]);
    }

    #[test]
    fn hostile_messages_yield_nothing() {
        // A pointer to itself, a truncated answer, a header alone.
        let mut looped = query("a.test");
        looped[7] = 1;
        let at = looped.len();
        looped.extend_from_slice(&[0xC0, at as u8]);
        assert!(a_records(&looped).is_empty());
        let mut cut = query("a.test");
        cut[7] = 1;
        cut.extend_from_slice(&[0xC0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 10]);
        assert!(a_records(&cut).is_empty());
        assert_eq!(question_name(&[0; 12]), None);
        assert_eq!(nxdomain(&[0; 5]), None);
    }
}
