//! Box ids: 12 characters of `[0-9a-z]` from the kernel's CSPRNG (about 62 bits), short enough
//! to type, URL-safe, and addressable by a unique prefix.

use crate::error::{Error, ErrorKind, Result};

pub(crate) const ID_LEN: usize = 12;
const ALPHABET: &[u8; 36] = b"0123456789abcdefghijklmnopqrstuvwxyz";

/// A fresh random id.
pub(crate) fn new_box_id() -> Result<String> {
    let mut id = String::with_capacity(ID_LEN);
    let mut buf = [0u8; 32];
    while id.len() < ID_LEN {
        fill_random(&mut buf)?;
        // 252 = 7 * 36: bytes above it are dropped so every character is equally likely.
        for &b in buf.iter().filter(|&&b| b < 252) {
            if id.len() == ID_LEN {
                break;
            }
            id.push(ALPHABET[(b % 36) as usize] as char);
        }
    }
    Ok(id)
}

/// Whether `s` could be an id or an id prefix (so lookups can skip the prefix scan otherwise).
pub(crate) fn is_id_like(s: &str) -> bool {
    !s.is_empty() && s.len() <= ID_LEN && s.bytes().all(|b| ALPHABET.contains(&b))
}

fn fill_random(buf: &mut [u8]) -> Result<()> {
    let mut filled = 0;
    while filled < buf.len() {
        // SAFETY: the pointer and length describe the unfilled tail of `buf`.
        let n =
            unsafe { libc::getrandom(buf[filled..].as_mut_ptr().cast(), buf.len() - filled, 0) };
        if n < 0 {
            let err = std::io::Error::last_os_error();
            if err.kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return Err(Error::new(ErrorKind::Io, "generate box id").with_source(err));
        }
        filled += n as usize;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_well_formed_and_distinct() {
        let ids: std::collections::HashSet<_> = (0..2000).map(|_| new_box_id().unwrap()).collect();
        assert_eq!(ids.len(), 2000);
        for id in &ids {
            assert_eq!(id.len(), ID_LEN);
            assert!(is_id_like(id));
        }
    }

    #[test]
    fn id_like() {
        assert!(is_id_like("ab12"));
        assert!(!is_id_like("AB"));
        assert!(!is_id_like("web-1"));
        assert!(!is_id_like(""));
    }
}
