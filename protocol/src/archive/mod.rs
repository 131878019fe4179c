//! The tar streams of `copy_in` and `copy_out`, packed and unpacked the same way at both ends:
//! by the host (the user's files in, the box's files out) and by the agent (inside the box).
//!
//! Whoever unpacks treats the stream as hostile — the box's agent is code we sandbox, and a
//! stream given to `boxlite cp -` is anyone's:
//! - names are plain relative paths: an absolute name, a `..` component, a NUL or a name
//!   longer than `PATH_MAX` refuses the entry ([`walk::components`]);
//! - every entry is created through descriptors: its parent is reached from the destination
//!   directory one component at a time with `O_NOFOLLOW | O_DIRECTORY`, so a symlink (in the
//!   destination already, or made by an earlier entry) is never followed, and the entry itself
//!   only by `*at` calls that do not follow it; nothing is ever written outside the directory;
//! - regular files, directories, symlinks (stored as given, never resolved) and hard links to
//!   an entry beneath the directory are unpacked; device nodes, FIFOs and sparse entries are
//!   refused, as are extension headers above [`MAX_EXTENSION_BYTES`];
//! - entry counts and file bytes are bounded ([`Limits`]).
//!
//! Whoever packs refuses what cannot be copied rather than skip it: a device node, FIFO or
//! socket fails the copy with an error naming it; a file is opened `O_NONBLOCK` and checked
//! after opening, so a FIFO swapped in never blocks the packer; a file that changes size
//! while being read still yields exactly the size in its header.

mod pack;
mod pipe;
mod unpack;
mod walk;

use std::fmt;
use std::io;

pub use pack::{pack, pack_bytes, PackOptions};
pub use pipe::{ChunkReader, ChunkWriter, CHUNK_BYTES};
pub use unpack::{read_single_file, unpack, UnpackOptions};
pub use walk::components;

/// Largest PAX or GNU long-name extension header read into memory.
pub const MAX_EXTENSION_BYTES: u64 = 64 << 10;

/// Bounds of one copy; 0 means no bound.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Limits {
    pub max_entries: u64,
    pub max_bytes: u64,
}

/// What one copy moved.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Totals {
    /// Entries: files, directories, links.
    pub entries: u64,
    /// Bytes of file data.
    pub bytes: u64,
}

impl Totals {
    fn add(&mut self, limits: &Limits, bytes: u64, what: &str) -> Result<()> {
        self.entries += 1;
        self.bytes = self.bytes.saturating_add(bytes);
        if limits.max_entries != 0 && self.entries > limits.max_entries {
            return Err(Error::new(
                Kind::Limit,
                format!("{what}: more than {} entries", limits.max_entries),
            ));
        }
        if limits.max_bytes != 0 && self.bytes > limits.max_bytes {
            return Err(Error::new(
                Kind::Limit,
                format!("{what}: more than {} bytes of file data", limits.max_bytes),
            ));
        }
        Ok(())
    }
}

/// Why a copy failed, as data: each end maps it to its own errors once ([`Error::code`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// An entry or a source file refused by the rules above.
    Refused,
    /// A path does not exist.
    NotFound,
    /// Something is in the way and overwriting is off.
    Exists,
    /// A directory was expected (or a non-directory), and it is not.
    WrongType,
    /// A bound of [`Limits`] was passed.
    Limit,
    /// The destination's filesystem is full.
    NoSpace,
    /// Any other I/O failure (of the stream included).
    Io,
}

/// A failed copy: its kind and a message that names the entry.
#[derive(Debug)]
pub struct Error {
    pub kind: Kind,
    pub message: String,
}

/// The result of archive operations.
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    pub fn new(kind: Kind, message: impl Into<String>) -> Self {
        Error { kind, message: message.into() }
    }

    /// `what` failed with `err`; the kind follows the errno.
    pub fn io(what: impl fmt::Display, err: io::Error) -> Self {
        let kind = match err.raw_os_error() {
            Some(libc_errno::ENOENT) => Kind::NotFound,
            Some(libc_errno::EEXIST) => Kind::Exists,
            Some(libc_errno::ENOTDIR | libc_errno::EISDIR) => Kind::WrongType,
            Some(libc_errno::ENOSPC | libc_errno::EDQUOT) => Kind::NoSpace,
            _ => Kind::Io,
        };
        Error { kind, message: format!("{what}: {err}") }
    }

    /// The gRPC status code that carries this kind between the agent and the host.
    pub fn code(&self) -> tonic::Code {
        match self.kind {
            Kind::Refused => tonic::Code::InvalidArgument,
            Kind::NotFound => tonic::Code::NotFound,
            Kind::Exists => tonic::Code::AlreadyExists,
            Kind::WrongType => tonic::Code::FailedPrecondition,
            Kind::Limit | Kind::NoSpace => tonic::Code::ResourceExhausted,
            Kind::Io => tonic::Code::Internal,
        }
    }

    /// The kind a status of [`Error::code`] carried.
    pub fn kind_of(code: tonic::Code) -> Option<Kind> {
        Some(match code {
            tonic::Code::InvalidArgument => Kind::Refused,
            tonic::Code::NotFound => Kind::NotFound,
            tonic::Code::AlreadyExists => Kind::Exists,
            tonic::Code::FailedPrecondition => Kind::WrongType,
            tonic::Code::ResourceExhausted => Kind::Limit,
            _ => return None,
        })
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

impl From<Error> for tonic::Status {
    fn from(e: Error) -> Self {
        tonic::Status::new(e.code(), e.message)
    }
}

/// The errnos [`Error::io`] tells apart (rustix's, so no libc dependency is needed here).
mod libc_errno {
    use rustix::io::Errno;
    pub const ENOENT: i32 = Errno::NOENT.raw_os_error();
    pub const EEXIST: i32 = Errno::EXIST.raw_os_error();
    pub const ENOTDIR: i32 = Errno::NOTDIR.raw_os_error();
    pub const EISDIR: i32 = Errno::ISDIR.raw_os_error();
    pub const ENOSPC: i32 = Errno::NOSPC.raw_os_error();
    pub const EDQUOT: i32 = Errno::DQUOT.raw_os_error();
}

#[cfg(test)]
mod tests;
