//! Is an ELF executable statically linked? The guest agent runs as PID 1 inside whatever image
//! a box uses (musl, glibc, distroless, scratch), so it must not ask for a program interpreter
//! (`PT_INTERP`, e.g. `/lib64/ld-linux-x86-64.so.2`) that the image may lack. A static-pie
//! binary is `ET_DYN` but has no interpreter, and is fine.
//!
//! Only the ELF header and the program header table are read, with bounded sizes: the file is
//! whatever a user or a PATH search pointed at.

use std::io::{self, Read, Seek, SeekFrom};
use std::path::Path;

/// How an ELF file would be started by the kernel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Linkage {
    /// No program interpreter: runs in any root filesystem.
    Static,
    /// Needs the named program interpreter (the dynamic loader) to be present.
    Dynamic { interpreter: String },
    /// Not an ELF executable at all; says what it is instead.
    NotElf(&'static str),
}

const PT_INTERP: u32 = 3;
const ET_EXEC: u16 = 2;
const ET_DYN: u16 = 3;
/// A real executable has a dozen program headers; this bounds what a hostile file makes us read.
const MAX_PROGRAM_HEADERS: u16 = 512;
/// Entries are 56 bytes (32 in ELF32); a larger size is allowed for extensions, within reason.
const MAX_PROGRAM_HEADER_BYTES: usize = 256;
/// The interpreter path is a short string; longer is only ever read up to this.
const MAX_INTERPRETER_BYTES: u64 = 4096;

/// The linkage of the file at `path`.
pub(crate) fn linkage(path: &Path) -> io::Result<Linkage> {
    linkage_of(&mut std::fs::File::open(path)?)
}

/// The linkage of an ELF image read from `r` (a file, or bytes in a test).
pub(crate) fn linkage_of<R: Read + Seek>(r: &mut R) -> io::Result<Linkage> {
    let mut ident = [0u8; 64];
    let got = read_up_to(r, &mut ident)?;
    if got < 16 || &ident[..4] != b"\x7fELF" {
        return Ok(Linkage::NotElf("not an ELF file"));
    }
    let wide = match ident[4] {
        1 => false,
        2 => true,
        _ => return Ok(Linkage::NotElf("an ELF file of unknown class")),
    };
    let order = match ident[5] {
        1 => Order::Little,
        2 => Order::Big,
        _ => return Ok(Linkage::NotElf("an ELF file of unknown byte order")),
    };
    let header_len = if wide { 64 } else { 52 };
    if got < header_len {
        return Ok(Linkage::NotElf("a truncated ELF file"));
    }
    let h = &ident[..header_len];
    match order.u16(&h[16..]) {
        ET_EXEC | ET_DYN => {}
        _ => return Ok(Linkage::NotElf("an ELF file that is not an executable")),
    }
    let (phoff, phentsize, phnum) = if wide {
        (order.u64(&h[32..]), order.u16(&h[54..]), order.u16(&h[56..]))
    } else {
        (u64::from(order.u32(&h[28..])), order.u16(&h[42..]), order.u16(&h[44..]))
    };
    let min_entry = if wide { 56 } else { 32 };
    // 0xffff (PN_XNUM) moves the count into a section header: no real executable needs it.
    let entry_ok = (min_entry..=MAX_PROGRAM_HEADER_BYTES).contains(&usize::from(phentsize));
    if !entry_ok || phnum == 0 || phnum > MAX_PROGRAM_HEADERS {
        return Ok(Linkage::NotElf("an ELF file with a malformed program header table"));
    }
    let mut table = vec![0u8; usize::from(phentsize) * usize::from(phnum)];
    r.seek(SeekFrom::Start(phoff))?;
    if read_up_to(r, &mut table)? < table.len() {
        return Ok(Linkage::NotElf("a truncated ELF file"));
    }
    for entry in table.chunks_exact(usize::from(phentsize)) {
        if order.u32(entry) != PT_INTERP {
            continue;
        }
        let (offset, size) = if wide {
            (order.u64(&entry[8..]), order.u64(&entry[32..]))
        } else {
            (u64::from(order.u32(&entry[4..])), u64::from(order.u32(&entry[16..])))
        };
        let mut name = vec![0u8; size.min(MAX_INTERPRETER_BYTES) as usize];
        r.seek(SeekFrom::Start(offset))?;
        let n = read_up_to(r, &mut name)?;
        name.truncate(n);
        let end = name.iter().position(|&b| b == 0).unwrap_or(name.len());
        let interpreter = String::from_utf8_lossy(&name[..end]).into_owned();
        return Ok(Linkage::Dynamic { interpreter });
    }
    Ok(Linkage::Static)
}

#[derive(Clone, Copy)]
enum Order {
    Little,
    Big,
}

impl Order {
    fn u16(self, b: &[u8]) -> u16 {
        let a = [b[0], b[1]];
        match self {
            Order::Little => u16::from_le_bytes(a),
            Order::Big => u16::from_be_bytes(a),
        }
    }
    fn u32(self, b: &[u8]) -> u32 {
        let a = [b[0], b[1], b[2], b[3]];
        match self {
            Order::Little => u32::from_le_bytes(a),
            Order::Big => u32::from_be_bytes(a),
        }
    }
    fn u64(self, b: &[u8]) -> u64 {
        let mut a = [0u8; 8];
        a.copy_from_slice(&b[..8]);
        match self {
            Order::Little => u64::from_le_bytes(a),
            Order::Big => u64::from_be_bytes(a),
        }
    }
}

/// Fills as much of `buf` as the reader has; a short file is not an I/O error here.
fn read_up_to<R: Read>(r: &mut R, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match r.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}
