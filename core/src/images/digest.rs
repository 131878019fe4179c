//! sha256 content digests: parsing descriptors' `digest` fields and hashing what is read.

use std::fmt;
use std::io::{self, Read};

use sha2::{Digest as _, Sha256};

use crate::error::{Error, ErrorKind, Result};

/// A `sha256:<64 lowercase hex>` digest. Parsing is strict because the hex becomes a file name
/// (`blobs/sha256/<hex>`, `images/rootfs/<hex>`): nothing else may reach a path.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Digest {
    hex: String,
}

impl Digest {
    pub(crate) fn parse(text: &str) -> Result<Self> {
        let Some((algorithm, hex)) = text.split_once(':') else {
            return Err(Error::new(ErrorKind::Image, format!("invalid digest {text:?}: no ':'")));
        };
        if algorithm != "sha256" {
            return Err(Error::new(
                ErrorKind::Image,
                format!("unsupported digest algorithm {algorithm:?} in {text:?} (only sha256)"),
            ));
        }
        if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            return Err(Error::new(
                ErrorKind::Image,
                format!("invalid digest {text:?}: expected 64 lowercase hex digits"),
            ));
        }
        Ok(Digest { hex: hex.to_owned() })
    }

    /// The digest of `bytes`.
    pub(crate) fn of(bytes: &[u8]) -> Self {
        Digest { hex: to_hex(&Sha256::digest(bytes)) }
    }

    /// The digest of everything fed to `hasher`.
    pub(crate) fn from_hasher(hasher: Sha256) -> Self {
        Digest { hex: to_hex(&hasher.finalize()) }
    }

    /// The digests that name entries of `dir` (`<hex>`, as blobs and rootfs trees are named);
    /// other names (`<hex>.json` records, strays) are left out.
    pub(crate) fn names_in(dir: &std::path::Path) -> Result<Vec<Self>> {
        let list = |e| Error::io(format!("list {}", dir.display()), e);
        let mut digests = Vec::new();
        for entry in std::fs::read_dir(dir).map_err(list)? {
            if let Some(name) = entry.map_err(list)?.file_name().to_str() {
                if let Ok(d) = Digest::parse(&format!("sha256:{name}")) {
                    digests.push(d);
                }
            }
        }
        Ok(digests)
    }

    /// The 64 hex digits, safe as a file name.
    pub(crate) fn hex(&self) -> &str {
        &self.hex
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sha256:{}", self.hex)
    }
}

fn to_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[usize::from(b >> 4)] as char);
        out.push(DIGITS[usize::from(b & 0xf)] as char);
    }
    out
}

/// Hashes and counts every byte read through it.
pub(crate) struct HashingReader<R> {
    inner: R,
    hasher: Sha256,
    bytes: u64,
}

impl<R: Read> HashingReader<R> {
    pub(crate) fn new(inner: R) -> Self {
        HashingReader { inner, hasher: Sha256::new(), bytes: 0 }
    }

    /// Reads what is left, then returns the digest and size of everything read.
    pub(crate) fn finish(mut self) -> io::Result<(Digest, u64)> {
        io::copy(&mut self, &mut io::sink())?;
        Ok((Digest { hex: to_hex(&self.hasher.finalize()) }, self.bytes))
    }
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_only_strict_sha256() {
        let hex = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        let d = Digest::parse(&format!("sha256:{hex}")).unwrap();
        assert_eq!(d, Digest::of(b""));
        assert_eq!(d.to_string(), format!("sha256:{hex}"));
        for bad in [
            "sha256:../../etc/passwd",
            &format!("sha256:{}", hex.to_uppercase()),
            &format!("sha512:{hex}"),
            &format!("sha256:{hex}0"),
            hex,
        ] {
            let err = Digest::parse(bad).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Image, "{bad}");
        }
    }

    #[test]
    fn hashing_reader_hashes_the_rest_on_finish() {
        let mut r = HashingReader::new(&b"hello world"[..]);
        let mut first = [0u8; 5];
        r.read_exact(&mut first).unwrap();
        let (digest, size) = r.finish().unwrap();
        assert_eq!(size, 11);
        assert_eq!(digest, Digest::of(b"hello world"));
    }
}
