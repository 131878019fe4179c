//! The box's files for the host: `Stat`, `ListDir`, `CopyIn` and `CopyOut`.
//!
//! The agent's root is the box's root, so every path resolves inside the box: a symlink in the
//! box, absolute or not, leads to the box's own files. Paths are resolved without magic links
//! (`/proc/<pid>/fd/…`, `/proc/<pid>/root`), the one way a name could reach a file outside the
//! box's tree, through a descriptor some process holds. The streams' own rules — nothing
//! unpacked through a symlink, special files refused — are `boxlite_protocol::archive`'s.
//! All of it runs on the blocking pool: a box can make its files slow, and that stalls only
//! the copy that touches them.

use std::ffi::{OsStr, OsString};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStringExt;

use boxlite_protocol::archive::{self, ChunkReader, ChunkWriter, Kind, Limits};
use boxlite_protocol::pb::{
    copy_in_chunk, CopyInChunk, CopyInResponse, CopyOutChunk, CopyOutRequest, DirEntry, FileKind,
    ListDirBatch, ListDirRequest, StatRequest, StatResponse,
};
use rustix::fs::{AtFlags, Dir, FileType, Mode, OFlags, ResolveFlags, Stat};
use rustix::io::Errno;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Status, Streaming};

/// Chunks queued between the gRPC stream and the blocking thread.
const QUEUED_CHUNKS: usize = 8;
/// Entries of one `ListDir` message.
const LIST_BATCH: usize = 512;
/// `ListDir`'s bound when the request names none.
const DEFAULT_MAX_LIST: u64 = 100_000;

pub type CopyOutStream = ReceiverStream<Result<CopyOutChunk, Status>>;
pub type ListDirStream = ReceiverStream<Result<ListDirBatch, Status>>;

const RESOLVE: ResolveFlags = ResolveFlags::NO_MAGICLINKS;

fn error(what: &str, e: Errno) -> archive::Error {
    archive::Error::io(what, e.into())
}

/// The box path `path` split into components; it must be absolute.
fn parts(path: &str) -> Result<Vec<&OsStr>, archive::Error> {
    let rest = path.strip_prefix('/').ok_or_else(|| {
        archive::Error::new(Kind::Refused, format!("{path:?}: a box path must be absolute"))
    })?;
    archive::components(rest.as_bytes())
        .map_err(|why| archive::Error::new(Kind::Refused, format!("{path}: {why}")))
}

fn open_dir_at(dir: &OwnedFd, name: &OsStr) -> rustix::io::Result<OwnedFd> {
    rustix::fs::openat2(
        dir,
        name,
        OFlags::DIRECTORY | OFlags::RDONLY | OFlags::CLOEXEC,
        Mode::empty(),
        RESOLVE,
    )
}

fn root() -> Result<OwnedFd, archive::Error> {
    rustix::fs::open("/", OFlags::DIRECTORY | OFlags::RDONLY | OFlags::CLOEXEC, Mode::empty())
        .map_err(|e| error("open /", e))
}

/// Opens the directory at `path`; with `create`, missing ones are made (0755, box root's).
fn open_dir(path: &str, create: bool) -> Result<OwnedFd, archive::Error> {
    let mut dir = root()?;
    for part in parts(path)? {
        dir = match open_dir_at(&dir, part) {
            Err(Errno::NOENT) if create => {
                match rustix::fs::mkdirat(&dir, part, Mode::from_raw_mode(0o755)) {
                    Ok(()) | Err(Errno::EXIST) => {}
                    Err(e) => return Err(error(&format!("{path}: create directory"), e)),
                }
                open_dir_at(&dir, part)
            }
            other => other,
        }
        .map_err(|e| error(path, e))?;
    }
    Ok(dir)
}

/// The directory holding `path` and its last component (`.` for `/`).
fn open_parent(path: &str) -> Result<(OwnedFd, OsString), archive::Error> {
    let parts = parts(path)?;
    let Some((last, parents)) = parts.split_last() else { return Ok((root()?, ".".into())) };
    let mut dir = root()?;
    for part in parents {
        dir = open_dir_at(&dir, part).map_err(|e| error(path, e))?;
    }
    Ok((dir, last.to_os_string()))
}

fn kind(stat: &Stat) -> FileKind {
    match FileType::from_raw_mode(stat.st_mode) {
        FileType::RegularFile => FileKind::File,
        FileType::Directory => FileKind::Dir,
        FileType::Symlink => FileKind::Symlink,
        _ => FileKind::Other,
    }
}

fn stat_at(dir: &OwnedFd, name: &OsStr, follow: bool) -> rustix::io::Result<StatResponse> {
    let flags = if follow { AtFlags::empty() } else { AtFlags::SYMLINK_NOFOLLOW };
    let stat = rustix::fs::statat(dir, name, flags)?;
    let link_target = match kind(&stat) {
        FileKind::Symlink => {
            let target = rustix::fs::readlinkat(dir, name, Vec::new())?;
            String::from_utf8_lossy(target.to_bytes()).into_owned()
        }
        _ => String::new(),
    };
    Ok(StatResponse {
        kind: kind(&stat) as i32,
        size: stat.st_size.max(0) as u64,
        mode: stat.st_mode,
        mtime_ms: stat.st_mtime.saturating_mul(1000) + stat.st_mtime_nsec as i64 / 1_000_000,
        uid: stat.st_uid,
        gid: stat.st_gid,
        link_target,
    })
}

async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, archive::Error> + Send + 'static,
) -> Result<T, Status> {
    match tokio::task::spawn_blocking(work).await {
        Ok(result) => result.map_err(Status::from),
        Err(e) => Err(Status::internal(format!("file operation failed: {e}"))),
    }
}

pub async fn stat(request: StatRequest) -> Result<StatResponse, Status> {
    blocking(move || {
        let (dir, name) = open_parent(&request.path)?;
        stat_at(&dir, &name, request.follow_last).map_err(|e| error(&request.path, e))
    })
    .await
}

pub async fn list_dir(request: ListDirRequest) -> Result<ListDirStream, Status> {
    let max = match request.max_entries {
        0 => DEFAULT_MAX_LIST,
        n => n,
    };
    let path = request.path;
    // Opened before the stream starts, so a missing or wrong path fails the call itself.
    let dir = blocking({
        let path = path.clone();
        move || open_dir(&path, false)
    })
    .await?;
    let (tx, rx) = mpsc::channel(QUEUED_CHUNKS);
    tokio::task::spawn_blocking(move || {
        if let Err(e) = send_entries(&dir, &path, max, &tx) {
            let _ = tx.blocking_send(Err(e.into()));
        }
    });
    Ok(ReceiverStream::new(rx))
}

fn send_entries(
    dir: &OwnedFd,
    path: &str,
    max: u64,
    tx: &mpsc::Sender<Result<ListDirBatch, Status>>,
) -> Result<(), archive::Error> {
    let mut batch = Vec::with_capacity(LIST_BATCH);
    let mut count = 0u64;
    for entry in Dir::read_from(dir).map_err(|e| error(path, e))? {
        let entry = entry.map_err(|e| error(path, e))?;
        let name = entry.file_name().to_bytes();
        if name == b"." || name == b".." {
            continue;
        }
        count += 1;
        if count > max {
            return Err(archive::Error::new(
                Kind::Limit,
                format!("{path}: more than {max} entries"),
            ));
        }
        let name = OsString::from_vec(name.to_vec());
        let stat = match stat_at(dir, &name, false) {
            Ok(stat) => stat,
            // Removed since it was listed.
            Err(Errno::NOENT) => continue,
            Err(e) => return Err(error(&format!("{path}/{}", name.to_string_lossy()), e)),
        };
        batch.push(DirEntry { name: name.to_string_lossy().into_owned(), stat: Some(stat) });
        if batch.len() == LIST_BATCH {
            let full = std::mem::replace(&mut batch, Vec::with_capacity(LIST_BATCH));
            if tx.blocking_send(Ok(ListDirBatch { entries: full })).is_err() {
                return Ok(());
            }
        }
    }
    if !batch.is_empty() {
        let _ = tx.blocking_send(Ok(ListDirBatch { entries: batch }));
    }
    Ok(())
}

pub async fn copy_in(mut stream: Streaming<CopyInChunk>) -> Result<CopyInResponse, Status> {
    let start = match stream.message().await? {
        Some(CopyInChunk { chunk: Some(copy_in_chunk::Chunk::Start(start)) }) => start,
        _ => return Err(Status::invalid_argument("a CopyIn stream must begin with its start")),
    };
    let (tx, rx) = mpsc::channel(QUEUED_CHUNKS);
    let work = tokio::task::spawn_blocking(move || {
        let dir = open_dir(&start.dir, start.create_dir)?;
        let opts = archive::UnpackOptions {
            overwrite: start.overwrite,
            preserve_owners: start.preserve_owners,
            // Box root may make setuid files in its box anyway (and the rootfs is nosuid).
            keep_setid: true,
            limits: Limits::default(),
        };
        archive::unpack(ChunkReader::new(rx), dir.as_fd(), &opts)
            .map_err(|e| archive::Error::new(e.kind, format!("{}: {e}", start.dir)))
    });
    let mut received: Result<(), Status> = Ok(());
    loop {
        match stream.message().await {
            Ok(Some(CopyInChunk { chunk: Some(copy_in_chunk::Chunk::Data(data)) })) => {
                // The unpacker stopped (its error is what counts).
                if tx.send(data).await.is_err() {
                    break;
                }
            }
            Ok(None) => break,
            Ok(Some(_)) => {
                received = Err(Status::invalid_argument("a CopyIn stream has one start"));
                break;
            }
            Err(status) => {
                received = Err(status);
                break;
            }
        }
    }
    drop(tx);
    let unpacked = match work.await {
        Ok(result) => result.map_err(Status::from),
        Err(e) => Err(Status::internal(format!("copy in failed: {e}"))),
    };
    // A broken stream is the cause of whatever the unpacker then said.
    received?;
    let totals = unpacked?;
    Ok(CopyInResponse { entries: totals.entries, bytes: totals.bytes })
}

pub async fn copy_out(request: CopyOutRequest) -> Result<CopyOutStream, Status> {
    // Resolved before the stream starts, so a missing path fails the call itself.
    let (dir, name) = blocking({
        let (path, follow) = (request.path.clone(), request.follow_symlinks);
        move || {
            let (dir, name) = open_parent(&path)?;
            stat_at(&dir, &name, follow).map_err(|e| error(&path, e))?;
            Ok((dir, name))
        }
    })
    .await?;
    let (tx, rx) = mpsc::channel(QUEUED_CHUNKS);
    tokio::task::spawn_blocking(move || {
        let opts = archive::PackOptions {
            recursive: request.recursive,
            follow_symlinks: request.follow_symlinks,
            limits: Limits { max_entries: request.max_entries, max_bytes: request.max_bytes },
        };
        let mut out = ChunkWriter::new(tx.clone(), |data| Ok(CopyOutChunk { data }));
        let packed = archive::pack(&mut out, dir.as_fd(), &name, request.name.as_bytes(), &opts)
            .and_then(|_| {
                std::io::Write::flush(&mut out).map_err(|e| archive::Error::io("send", e))
            });
        if let Err(e) = packed {
            let _ = tx.blocking_send(Err(e.into()));
        }
    });
    Ok(ReceiverStream::new(rx))
}
