//! Files in and out of a box: [`CopyOptions`] for `copy_in` / `copy_out` (tar streams over the
//! agent protocol, packed and unpacked by `boxlite_protocol::archive`), and the small-file
//! helpers `read_file`, `write_file`, `list_dir` (docs/files.md).
//!
//! The host side of a copy out treats the stream as hostile (the agent is code we sandbox):
//! it unpacks beneath the destination only, never through a symlink, clears setuid bits,
//! refuses device nodes and FIFOs, and stops at [`CopyOptions::max_entries`] and
//! [`CopyOptions::max_bytes`] whatever the agent says.

mod copy;
mod small;

pub use small::{MAX_LIST_ENTRIES, MAX_READ_FILE_BYTES};

use serde::Serialize;

use boxlite_protocol::archive;
use boxlite_protocol::pb::{FileKind, StatResponse};

use crate::agent::status_error;
use crate::error::{Error, ErrorKind, Result};

/// How `copy_in` and `copy_out` copy. The first four are upstream BoxLite's, with its
/// defaults.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CopyOptions {
    /// Copy directory trees; otherwise a directory source is refused. Default: true.
    pub recursive: bool,
    /// Replace files and symlinks at the destination; otherwise one in the way fails the copy
    /// (what was copied before it stays). A directory is never replaced. Default: true.
    pub overwrite: bool,
    /// Copy what symlinks in the source point to rather than the links. Default: false.
    pub follow_symlinks: bool,
    /// Copying a directory into an existing directory, put the source directory itself there
    /// (`dst/src/…`, as `docker cp`); otherwise its contents (`dst/…`). Default: true.
    pub include_parent: bool,
    /// Keep the numeric owners of the source (`boxlite cp -a`); otherwise copies belong to box
    /// root (copy in) or to the calling host user (copy out). Default: false.
    pub preserve_owners: bool,
    /// Most entries one copy moves. Default: [`DEFAULT_MAX_COPY_ENTRIES`].
    pub max_entries: u64,
    /// Most bytes of file data one copy moves. Default: [`DEFAULT_MAX_COPY_BYTES`].
    pub max_bytes: u64,
}

/// Default of [`CopyOptions::max_entries`].
pub const DEFAULT_MAX_COPY_ENTRIES: u64 = 1_000_000;
/// Default of [`CopyOptions::max_bytes`]: 16 GiB.
pub const DEFAULT_MAX_COPY_BYTES: u64 = 16 << 30;

impl Default for CopyOptions {
    fn default() -> Self {
        CopyOptions {
            recursive: true,
            overwrite: true,
            follow_symlinks: false,
            include_parent: true,
            preserve_owners: false,
            max_entries: DEFAULT_MAX_COPY_ENTRIES,
            max_bytes: DEFAULT_MAX_COPY_BYTES,
        }
    }
}

impl CopyOptions {
    fn limits(&self) -> archive::Limits {
        archive::Limits { max_entries: self.max_entries, max_bytes: self.max_bytes }
    }
}

/// What a copy moved.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct CopyStats {
    /// Files, directories and links.
    pub entries: u64,
    /// Bytes of file data.
    pub bytes: u64,
}

impl From<archive::Totals> for CopyStats {
    fn from(t: archive::Totals) -> Self {
        CopyStats { entries: t.entries, bytes: t.bytes }
    }
}

/// What an entry of a box directory is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum EntryKind {
    /// A regular file.
    File,
    /// A directory.
    Dir,
    /// A symbolic link (never followed by `list_dir`).
    Symlink,
    /// A device node, FIFO or socket.
    Other,
}

impl EntryKind {
    /// The name every binding uses.
    pub fn as_str(self) -> &'static str {
        match self {
            EntryKind::File => "file",
            EntryKind::Dir => "dir",
            EntryKind::Symlink => "symlink",
            EntryKind::Other => "other",
        }
    }

    fn of(kind: i32) -> Self {
        match FileKind::try_from(kind) {
            Ok(FileKind::File) => EntryKind::File,
            Ok(FileKind::Dir) => EntryKind::Dir,
            Ok(FileKind::Symlink) => EntryKind::Symlink,
            _ => EntryKind::Other,
        }
    }
}

/// One entry of [`crate::LiteBox::list_dir`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FileEntry {
    /// The entry's name in its directory.
    pub name: String,
    /// The entry's path in the box.
    pub path: String,
    /// What it is.
    pub kind: EntryKind,
    /// Size in bytes (of the link itself for a symlink).
    pub size: u64,
    /// Permission bits (`0o755`).
    pub mode: u32,
    /// Last modification, milliseconds since the epoch.
    pub mtime_ms: i64,
    /// Owner, as the box numbers users.
    pub uid: u32,
    /// Group, as the box numbers groups.
    pub gid: u32,
    /// Where a symlink points.
    pub link_target: Option<String>,
}

impl FileEntry {
    fn new(dir: &str, name: String, stat: StatResponse) -> Self {
        let kind = EntryKind::of(stat.kind);
        FileEntry {
            path: join(dir, &name),
            name,
            kind,
            size: stat.size,
            mode: stat.mode & 0o7777,
            mtime_ms: stat.mtime_ms,
            uid: stat.uid,
            gid: stat.gid,
            link_target: (kind == EntryKind::Symlink).then_some(stat.link_target),
        }
    }
}

/// `dir/name` for box paths.
fn join(dir: &str, name: &str) -> String {
    match dir.ends_with('/') {
        true => format!("{dir}{name}"),
        false => format!("{dir}/{name}"),
    }
}

/// The parent and last component of an absolute box path (`/` is its own parent, named "").
fn split(path: &str) -> (&str, &str) {
    let trimmed = path.trim_end_matches('/');
    match trimmed.rfind('/') {
        Some(0) => ("/", &trimmed[1..]),
        Some(i) => (&trimmed[..i], &trimmed[i + 1..]),
        None => ("/", trimmed),
    }
}

/// A box path given to a files call: absolute, no NUL.
fn box_path<'a>(box_id: &str, what: &str, path: &'a str) -> Result<&'a str> {
    if !path.starts_with('/') || path.contains('\0') {
        return Err(Error::invalid_argument(format!(
            "box {box_id}: {what}: {path:?} is not an absolute path"
        )));
    }
    Ok(path)
}

/// The kind of a failed copy, decided once from the archive's typed kind.
fn kind_of(kind: archive::Kind) -> ErrorKind {
    match kind {
        archive::Kind::Refused | archive::Kind::WrongType | archive::Kind::Limit => {
            ErrorKind::InvalidArgument
        }
        archive::Kind::NotFound => ErrorKind::NotFound,
        archive::Kind::Exists => ErrorKind::AlreadyExists,
        archive::Kind::NoSpace | archive::Kind::Io => ErrorKind::Io,
    }
}

/// A failure of the host's own half of a copy.
fn local_error(box_id: &str, what: &str, e: archive::Error) -> Error {
    Error::new(kind_of(e.kind), format!("box {box_id}: {what}: {e}"))
}

/// A failure the agent reported.
fn agent_error(box_id: &str, what: &str, status: tonic::Status) -> Error {
    match archive::Error::kind_of(status.code()) {
        Some(kind) => {
            Error::new(kind_of(kind), format!("box {box_id}: {what}: {}", status.message()))
        }
        None => status_error(box_id, what, status),
    }
}
