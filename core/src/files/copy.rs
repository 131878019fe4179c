//! `copy_in` and `copy_out`: where the copy lands (`docker cp`'s rules), and the two halves of
//! the stream — a blocking packer or unpacker on the host, the agent at the other end — tied
//! by a bounded channel, so a copy of any size holds a few chunks in memory.

use std::ffi::{OsStr, OsString};
use std::io::{Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use boxlite_protocol::archive::{self, ChunkReader, ChunkWriter};
use boxlite_protocol::pb::{
    copy_in_chunk, CopyInChunk, CopyInStart, CopyOutRequest, FileKind, StatRequest, StatResponse,
};
use futures_util::StreamExt;
use rustix::fs::{AtFlags, FileType, Mode, OFlags};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

use super::{agent_error, box_path, local_error, split, CopyOptions, CopyStats};
use crate::agent::{while_answering, within, Agent, AGENT_CALL_TIMEOUT};
use crate::error::{Error, ErrorKind, Result};
use crate::runtime::Runtime;

/// Chunks queued between the host's half of a copy and the agent's.
const QUEUED_CHUNKS: usize = 8;

/// Where a copy into a directory lands: the directory, and the name the source gets there
/// (empty: a directory source's contents go straight in).
struct Landing<D> {
    dir: D,
    name: Vec<u8>,
    create_dir: bool,
}

impl Runtime {
    pub(crate) async fn copy_in(
        &self,
        id: &str,
        host_src: &Path,
        box_dst: &str,
        opts: &CopyOptions,
    ) -> Result<CopyStats> {
        let what = format!("copy {} into {box_dst}", host_src.display());
        self.with_agent(id, "copy into", async |id, agent| {
            let box_dst = box_path(id, &what, box_dst)?;
            let source = Source::open(host_src, opts, &format!("box {id}: {what}"))?;
            let contents = !opts.include_parent || ends_with_dot(host_src);
            let landing = match stat(agent, id, &what, box_dst).await? {
                Some(dst) if dst.kind == FileKind::Dir as i32 => Landing {
                    dir: box_dst.to_string(),
                    name: match source.is_dir && contents {
                        true => Vec::new(),
                        false => source.name.as_bytes().to_vec(),
                    },
                    create_dir: false,
                },
                Some(_) if source.is_dir => {
                    return Err(Error::invalid_argument(format!(
                        "box {id}: {what}: cannot copy a directory onto a file"
                    )))
                }
                _ if box_dst.ends_with('/') => Landing {
                    dir: box_dst.to_string(),
                    name: source.name.as_bytes().to_vec(),
                    create_dir: true,
                },
                _ => {
                    let (parent, name) = split(box_dst);
                    Landing {
                        dir: parent.to_string(),
                        name: name.as_bytes().to_vec(),
                        create_dir: true,
                    }
                }
            };
            let start = CopyInStart {
                dir: landing.dir,
                create_dir: landing.create_dir,
                overwrite: opts.overwrite,
                preserve_owners: opts.preserve_owners,
            };
            let pack = archive::PackOptions {
                recursive: opts.recursive,
                follow_symlinks: opts.follow_symlinks,
                limits: opts.limits(),
            };
            let name = landing.name;
            send(agent, id, &what, start, move |out| {
                archive::pack(out, source.parent.as_fd(), &source.name, &name, &pack)
            })
            .await
        })
        .await
    }

    /// Unpacks the tar stream `tar` (anyone's: the agent's rules refuse what escapes) into the
    /// box directory `box_dir`, made when missing (`boxlite cp - BOX:DIR`).
    pub(crate) async fn copy_in_tar(
        &self,
        id: &str,
        tar: impl Read + Send + 'static,
        box_dir: &str,
        opts: &CopyOptions,
    ) -> Result<CopyStats> {
        let what = format!("copy a tar stream into {box_dir}");
        self.with_agent(id, "copy into", async |id, agent| {
            let start = CopyInStart {
                dir: box_path(id, &what, box_dir)?.to_string(),
                create_dir: true,
                overwrite: opts.overwrite,
                preserve_owners: opts.preserve_owners,
            };
            let mut tar = tar;
            send(agent, id, &what, start, move |out| {
                std::io::copy(&mut tar, out)
                    .map(|_| archive::Totals::default())
                    .map_err(|e| archive::Error::io("read the tar stream", e))
            })
            .await
        })
        .await
    }

    pub(crate) async fn copy_out(
        &self,
        id: &str,
        box_src: &str,
        host_dst: &Path,
        opts: &CopyOptions,
    ) -> Result<CopyStats> {
        let what = format!("copy {box_src} out to {}", host_dst.display());
        self.with_agent(id, "copy out of", async |id, agent| {
            let box_src = box_path(id, &what, box_src)?;
            let src = stat_following(agent, id, &what, box_src, opts.follow_symlinks).await?;
            let src_is_dir = src.kind == FileKind::Dir as i32;
            let contents = !opts.include_parent || box_src.ends_with("/.");
            let landing = host_landing(host_dst, src_is_dir, contents, split(box_src).1)
                .map_err(|e| Error::io(format!("box {id}: {what}"), e))?
                .map_err(|why| Error::invalid_argument(format!("box {id}: {what}: {why}")))?;
            let dir = rustix::fs::open(
                &landing.dir,
                OFlags::DIRECTORY | OFlags::RDONLY | OFlags::CLOEXEC,
                Mode::empty(),
            )
            .map_err(|e| {
                Error::io(format!("box {id}: {what}: open {}", landing.dir.display()), e.into())
            })?;
            let request = copy_out_request(box_src, landing.name, opts);
            let unpack = archive::UnpackOptions {
                overwrite: opts.overwrite,
                preserve_owners: opts.preserve_owners,
                keep_setid: false,
                limits: opts.limits(),
            };
            receive(agent, id, &what, request, move |stream| {
                archive::unpack(stream, dir.as_fd(), &unpack)
            })
            .await
        })
        .await
    }

    /// Packs `box_src` as a tar stream into `out` (`boxlite cp BOX:PATH -`), as the agent sent
    /// it: no more than the limits' bytes of file data plus the stream's own headers.
    pub(crate) async fn copy_out_tar(
        &self,
        id: &str,
        box_src: &str,
        out: impl Write + Send + 'static,
        opts: &CopyOptions,
    ) -> Result<CopyStats> {
        let what = format!("copy {box_src} out as a tar stream");
        self.with_agent(id, "copy out of", async |id, agent| {
            let box_src = box_path(id, &what, box_src)?;
            let name = split(box_src).1.as_bytes().to_vec();
            let request = copy_out_request(box_src, name, opts);
            let mut out = out;
            receive(agent, id, &what, request, move |mut stream| {
                std::io::copy(&mut stream, &mut out)
                    .and_then(|_| out.flush())
                    .map(|_| archive::Totals::default())
                    .map_err(|e| archive::Error::io("write the tar stream", e))
            })
            .await
        })
        .await
    }
}

fn copy_out_request(path: &str, name: Vec<u8>, opts: &CopyOptions) -> CopyOutRequest {
    CopyOutRequest {
        path: path.to_string(),
        name: String::from_utf8_lossy(&name).into_owned(),
        recursive: opts.recursive,
        follow_symlinks: opts.follow_symlinks,
        max_entries: opts.max_entries,
        max_bytes: opts.max_bytes,
    }
}

/// `src/.` asks for a directory's contents, as with `cp` and `docker cp`.
fn ends_with_dot(path: &Path) -> bool {
    path.as_os_str().as_bytes().ends_with(b"/.")
}

/// Where a copy out lands on the host, by `docker cp`'s rules: into `dst` when it is a
/// directory; as `dst` otherwise (its parent made when missing). The outer error is the
/// host's; the inner one a refusal.
fn host_landing(
    dst: &Path,
    src_is_dir: bool,
    contents: bool,
    src_name: &str,
) -> std::io::Result<std::result::Result<Landing<PathBuf>, String>> {
    match std::fs::metadata(dst) {
        Ok(meta) if meta.is_dir() => Ok(Ok(Landing {
            dir: dst.to_path_buf(),
            name: match src_is_dir && contents {
                true => Vec::new(),
                false => src_name.as_bytes().to_vec(),
            },
            create_dir: false,
        })),
        Ok(_) if src_is_dir => {
            Ok(Err(format!("{} is a file; the source is a directory", dst.display())))
        }
        Ok(_) => Ok(Ok(parent_landing(dst)?)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let landing = parent_landing(dst)?;
            std::fs::create_dir_all(&landing.dir)?;
            Ok(Ok(landing))
        }
        Err(e) => Err(e),
    }
}

fn parent_landing(dst: &Path) -> std::io::Result<Landing<PathBuf>> {
    let name = dst.file_name().ok_or_else(|| {
        std::io::Error::new(std::io::ErrorKind::InvalidInput, "the destination has no file name")
    })?;
    let parent = match dst.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    Ok(Landing { dir: parent, name: name.as_bytes().to_vec(), create_dir: true })
}

/// The host file or directory a copy in packs: its directory held open, and its name there.
struct Source {
    parent: OwnedFd,
    name: OsString,
    is_dir: bool,
}

impl Source {
    /// `context` starts every error's message.
    fn open(path: &Path, opts: &CopyOptions, context: &str) -> Result<Self> {
        // `dir/..` or `/` name no entry of their parent: name them by what they are.
        let path = match path.file_name() {
            Some(_) => path.to_path_buf(),
            None => std::fs::canonicalize(path)
                .map_err(|e| source_error(context, path, rustix::io::Errno::from_io_error(&e)))?,
        };
        let name = path.file_name().unwrap_or(OsStr::new(".")).to_os_string();
        let parent = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new(if path.is_absolute() { "/" } else { "." }),
        };
        let parent = rustix::fs::open(
            parent,
            OFlags::DIRECTORY | OFlags::RDONLY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| source_error(context, &path, Some(e)))?;
        let flags = match opts.follow_symlinks {
            true => AtFlags::empty(),
            false => AtFlags::SYMLINK_NOFOLLOW,
        };
        let stat = rustix::fs::statat(&parent, &name, flags)
            .map_err(|e| source_error(context, &path, Some(e)))?;
        let is_dir = FileType::from_raw_mode(stat.st_mode) == FileType::Directory;
        if is_dir && !opts.recursive {
            return Err(Error::invalid_argument(format!(
                "{context}: {} is a directory (recursive copy is off)",
                path.display()
            )));
        }
        Ok(Source { parent, name, is_dir })
    }
}

fn source_error(context: &str, path: &Path, e: Option<rustix::io::Errno>) -> Error {
    let e = e.unwrap_or(rustix::io::Errno::IO);
    let kind = match e {
        rustix::io::Errno::NOENT => ErrorKind::NotFound,
        _ => ErrorKind::Io,
    };
    Error::new(kind, format!("{context}: host path {}", path.display()))
        .with_source(std::io::Error::from(e))
}

/// What is at `path` in the box, symlinks followed; `None` when nothing is there.
async fn stat(agent: &Agent, id: &str, what: &str, path: &str) -> Result<Option<StatResponse>> {
    match stat_following(agent, id, what, path, true).await {
        Ok(stat) => Ok(Some(stat)),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

async fn stat_following(
    agent: &Agent,
    id: &str,
    what: &str,
    path: &str,
    follow_last: bool,
) -> Result<StatResponse> {
    let mut agent = agent.clone();
    let request = StatRequest { path: path.to_string(), follow_last };
    within(id, "stat", AGENT_CALL_TIMEOUT, async {
        agent
            .stat(request)
            .await
            .map(tonic::Response::into_inner)
            .map_err(|s| agent_error(id, what, s))
    })
    .await
}

/// A copy in: `produce` writes the stream on a blocking thread while the agent unpacks it.
/// The agent's error comes first when it stopped the copy (the producer then only saw a
/// broken pipe); the producer's when it stopped first.
pub(super) async fn send(
    agent: &Agent,
    id: &str,
    what: &str,
    start: CopyInStart,
    produce: impl FnOnce(&mut ChunkWriter<CopyInChunk>) -> archive::Result<archive::Totals>
        + Send
        + 'static,
) -> Result<CopyStats> {
    let (tx, rx) = mpsc::channel(QUEUED_CHUNKS);
    let producer = tokio::task::spawn_blocking(move || {
        let mut out = ChunkWriter::new(tx, |data| CopyInChunk {
            chunk: Some(copy_in_chunk::Chunk::Data(data)),
        });
        let produced = produce(&mut out).and_then(|totals| {
            out.flush().map(|()| totals).map_err(|e| archive::Error::io("send", e))
        });
        (produced, out.receiver_gone())
    });
    let first = CopyInChunk { chunk: Some(copy_in_chunk::Chunk::Start(start)) };
    let requests = futures_util::stream::once(async move { first }).chain(ReceiverStream::new(rx));
    let mut client = agent.clone();
    let answered = while_answering(id, what, agent, None, async {
        client
            .copy_in(requests)
            .await
            .map(tonic::Response::into_inner)
            .map_err(|s| agent_error(id, what, s))
    })
    .await;
    let (produced, gone) = producer
        .await
        .map_err(|e| Error::new(ErrorKind::Internal, format!("box {id}: {what}: {e}")))?;
    match (produced, answered) {
        (Err(e), Err(agent)) => Err(if gone { agent } else { local_error(id, what, e) }),
        (Err(e), Ok(_)) => Err(local_error(id, what, e)),
        (Ok(_), Err(agent)) => Err(agent),
        (Ok(_), Ok(done)) => Ok(CopyStats { entries: done.entries, bytes: done.bytes }),
    }
}

/// A copy out: the agent's chunks go to `consume` on a blocking thread. The agent's error
/// comes first (the consumer then saw a cut stream); the consumer's when it stopped first.
pub(super) async fn receive(
    agent: &Agent,
    id: &str,
    what: &str,
    request: CopyOutRequest,
    consume: impl FnOnce(ChunkReader) -> archive::Result<archive::Totals> + Send + 'static,
) -> Result<CopyStats> {
    let cap = stream_cap(&request);
    let (tx, rx) = mpsc::channel::<Vec<u8>>(QUEUED_CHUNKS);
    let consumer = tokio::task::spawn_blocking(move || consume(ChunkReader::new(rx)));
    let mut client = agent.clone();
    // Moved into the call: the consumer sees the end of the stream when the call is over.
    let forwarded = while_answering(id, what, agent, None, async move {
        let mut stream = client
            .copy_out(request)
            .await
            .map(tonic::Response::into_inner)
            .map_err(|s| agent_error(id, what, s))?;
        let mut bytes = 0u64;
        while let Some(chunk) = stream.message().await.map_err(|s| agent_error(id, what, s))? {
            bytes += chunk.data.len() as u64;
            // The agent is ours to distrust: whatever it sends past what the request allows
            // ends the copy, also when nothing on this side parses the stream.
            if cap.is_some_and(|cap| bytes > cap) {
                return Err(Error::invalid_argument(format!(
                    "box {id}: {what}: the box sent more than the {} bytes a stream within the \
                     copy's bounds can take",
                    cap.unwrap_or_default()
                )));
            }
            // The consumer stopped: its error is the copy's.
            if tx.send(chunk.data).await.is_err() {
                break;
            }
        }
        Ok(bytes)
    })
    .await;
    let consumed = consumer
        .await
        .map_err(|e| Error::new(ErrorKind::Internal, format!("box {id}: {what}: {e}")))?;
    let bytes = forwarded?;
    let totals = consumed.map_err(|e| local_error(id, what, e))?;
    Ok(match totals == archive::Totals::default() {
        // A raw stream passed through: its size is what there is to report.
        true => CopyStats { entries: 0, bytes },
        false => totals.into(),
    })
}

/// Most bytes a stream within `request`'s bounds can take: the file data, and per entry its
/// header, GNU long name and long link headers (each up to PATH_MAX) and padding; `None` when
/// the request bounds nothing.
fn stream_cap(request: &CopyOutRequest) -> Option<u64> {
    const PER_ENTRY_BYTES: u64 = 4 * 512 + 2 * 4096;
    if request.max_entries == 0 || request.max_bytes == 0 {
        return None;
    }
    let headers = request.max_entries.saturating_mul(PER_ENTRY_BYTES);
    Some(request.max_bytes.saturating_add(headers).saturating_add(1 << 20))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stream_cap_covers_data_and_headers_and_nothing_more() {
        let request = |max_entries, max_bytes| CopyOutRequest {
            max_entries,
            max_bytes,
            ..Default::default()
        };
        let cap = stream_cap(&request(10, 1000)).unwrap();
        assert_eq!(cap, 1000 + 10 * (4 * 512 + 2 * 4096) + (1 << 20));
        assert_eq!(stream_cap(&request(0, 1000)), None);
        assert_eq!(stream_cap(&request(u64::MAX, u64::MAX)), Some(u64::MAX));
    }
}
