//! Reading a box's log without loading it (docs/architecture.md, "Home directory").
//!
//! The shim keeps the log as `box.log` and its rotated predecessors `box.log.1` (newest) …
//! `box.log.N` (oldest); read oldest first, they are one stream. [`Runtime::logs`] yields that
//! stream in chunks of at most [`LOG_CHUNK_BYTES`]: from the start of what is kept, or from
//! the start of its last N lines (found by reading backwards in blocks), and, when asked to
//! follow, then the bytes the shim writes as it writes them, across rotations, until the
//! box's shim is gone. Following waits on events only: inotify on the logs directory and the
//! shim's pidfd.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use tokio::io::unix::AsyncFd;
use tokio::io::Interest;

use crate::error::{Error, Result};
use crate::runtime::Runtime;
use crate::shim::ProcessRef;

/// Most bytes one [`LogStream::next_chunk`] returns; also the block size of backward reads.
pub const LOG_CHUNK_BYTES: usize = 64 * 1024;
/// Most directory entries looked at when listing a box's log files (the logs directory holds
/// nothing else; the number of files kept is bounded far below this).
const MAX_DIR_ENTRIES: usize = 4096;
/// Most inotify reads per wakeup: each empties up to 4 KiB of queued events.
const MAX_EVENT_READS: usize = 256;

/// What [`Runtime::logs`] yields.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LogOptions {
    /// Start at the last `tail_lines` lines of what is kept; `None`: at the oldest byte kept.
    pub tail_lines: Option<usize>,
    /// After what is there, keep yielding what the box writes until its shim is gone.
    pub follow: bool,
}

impl Runtime {
    /// The log of the box with this id, name or unique id prefix: the shim's diagnostics and
    /// the console output of its agent and main command, as a stream of chunks that never
    /// holds more than one chunk in memory.
    pub fn logs(&self, key: &str, options: LogOptions) -> Result<LogStream> {
        self.check_open(&format!("read the log of box {key}"))?;
        let rec = self.resolve_existing(key)?;
        let live = self.home().box_paths(&rec.id).log;
        let context = |what: &str| format!("box {}: {what} {}", rec.id, live.display());
        // Watched before the files are opened, so no write after the snapshot goes unseen.
        let follow = match options.follow {
            true => ProcessRef::recorded(rec.state.pid(), rec.state.shim_start_ticks())
                .map(|shim| Follow::new(&live, &shim))
                .transpose()
                .map_err(|e| Error::io(context("follow log"), e))?,
            false => None,
        };
        let mut files = open_files(&live).map_err(|e| Error::io(context("open log"), e))?;
        if let Some(lines) = options.tail_lines {
            start_at_last_lines(&mut files, lines)
                .map_err(|e| Error::io(context("read log"), e))?;
        }
        Ok(LogStream { box_id: rec.id, live, files, follow })
    }
}

/// A box's log, chunk by chunk (see [`Runtime::logs`]).
#[derive(Debug)]
pub struct LogStream {
    box_id: String,
    live: PathBuf,
    /// Open files still to read, oldest first; the front is being read.
    files: VecDeque<File>,
    follow: Option<Follow>,
}

impl LogStream {
    /// The next bytes of the log, at most [`LOG_CHUNK_BYTES`]; `None` at its end: the end of
    /// the files, or when following, once the box's shim is gone and everything it wrote was
    /// returned. A follow waits for the box as long as it runs; drop the stream to stop.
    pub async fn next_chunk(&mut self) -> Result<Option<Vec<u8>>> {
        let context = |what: &str| format!("box {}: {what} {}", self.box_id, self.live.display());
        // Each round returns, moves past a finished file, or waits for an event: the rounds
        // are bounded by the files written and the events the shim causes.
        loop {
            if let Some(file) = self.files.front_mut() {
                let chunk = read_chunk(file).map_err(|e| Error::io(context("read log"), e))?;
                if !chunk.is_empty() {
                    return Ok(Some(chunk));
                }
                if self.files.len() > 1 {
                    self.files.pop_front();
                    continue;
                }
            }
            let Some(follow) = self.follow.as_mut() else { return Ok(None) };
            // The last file known is read to its end: has the shim moved on to a newer one?
            match self.files.front() {
                Some(file) if !rotated_away(file, &self.live) => {}
                current => {
                    let current = current.map(File::metadata).transpose();
                    let current = current.map_err(|e| Error::io(context("read log"), e))?;
                    let next = successor(&self.live, current.map(|m| (m.dev(), m.ino())))
                        .map_err(|e| Error::io(context("open log"), e))?;
                    if let Some(next) = next {
                        // The old file may still have bytes written before the rotation:
                        // read it once more (it is at EOF now for good) before moving on.
                        if let Some(file) = self.files.front_mut() {
                            let chunk =
                                read_chunk(file).map_err(|e| Error::io(context("read log"), e))?;
                            if !chunk.is_empty() {
                                self.files.push_back(next);
                                return Ok(Some(chunk));
                            }
                        }
                        self.files.clear();
                        self.files.push_back(next);
                        continue;
                    }
                }
            }
            if follow.shim_gone {
                return Ok(None);
            }
            follow.wait().await.map_err(|e| Error::io(context("follow log"), e))?;
        }
    }
}

/// Reads up to `max_bytes` from the end of the live log at `path`, with its size: the
/// readiness error's tail, without reading the rest.
pub(crate) fn tail_bytes(path: &Path, max_bytes: u64) -> io::Result<(u64, Vec<u8>)> {
    let mut file = File::open(path)?;
    let size = file.metadata()?.len();
    file.seek(SeekFrom::Start(size.saturating_sub(max_bytes)))?;
    let mut tail = Vec::new();
    file.take(max_bytes).read_to_end(&mut tail)?;
    Ok((size, tail))
}

/// What a follow waits on: inotify on the logs directory (writes, creations and renames of
/// the log files) and a copy of the shim's pidfd (readable once the shim has exited).
/// Registered with the async runtime on the first wait, so opening a stream needs none.
#[derive(Debug)]
struct Follow {
    fds: Option<(OwnedFd, OwnedFd)>,
    registered: Option<(AsyncFd<OwnedFd>, AsyncFd<OwnedFd>)>,
    /// Set once the shim has exited: nothing more will be written.
    shim_gone: bool,
}

impl Follow {
    fn new(live: &Path, shim: &ProcessRef) -> io::Result<Self> {
        let dir = live.parent().unwrap_or(Path::new("."));
        // SAFETY: plain syscall; a returned descriptor is owned right away.
        let fd = unsafe { libc::inotify_init1(libc::IN_NONBLOCK | libc::IN_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: a new descriptor owned by nobody else.
        let events = unsafe { OwnedFd::from_raw_fd(fd) };
        let dir = std::ffi::CString::new(dir.as_os_str().as_bytes())
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        let mask = libc::IN_MODIFY | libc::IN_CREATE | libc::IN_MOVED_TO | libc::IN_MOVED_FROM;
        // SAFETY: a NUL-terminated path and our own inotify descriptor.
        if unsafe { libc::inotify_add_watch(events.as_raw_fd(), dir.as_ptr(), mask) } < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: the ProcessRef keeps its pidfd open for the duration of this borrow.
        let pidfd = unsafe { BorrowedFd::borrow_raw(shim.as_raw_fd()) }.try_clone_to_owned()?;
        Ok(Follow { fds: Some((events, pidfd)), registered: None, shim_gone: false })
    }

    /// Waits for a change in the logs directory or the shim's exit.
    async fn wait(&mut self) -> io::Result<()> {
        if let Some((events, pidfd)) = self.fds.take() {
            self.registered = Some((readable(events)?, readable(pidfd)?));
        }
        let Some((events, shim)) = &self.registered else { return Ok(()) };
        tokio::select! {
            ready = events.readable() => {
                let mut guard = ready?;
                let mut buf = [0u8; 4096];
                for _ in 0..MAX_EVENT_READS {
                    // The events only say "look again"; which file changed is found out by
                    // reading.
                    let read = guard.try_io(|fd| {
                        // SAFETY: reads into a buffer we own from our inotify descriptor.
                        let n = unsafe {
                            libc::read(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len())
                        };
                        if n < 0 { Err(io::Error::last_os_error()) } else { Ok(n) }
                    });
                    match read {
                        Ok(Ok(n)) if n > 0 => continue,
                        Ok(Ok(_)) => break,
                        Ok(Err(e)) => return Err(e),
                        // Would block: every queued event is read, readiness cleared.
                        Err(_) => break,
                    }
                }
            }
            ready = shim.readable() => {
                // Left ready: the shim stays gone.
                let _guard = ready?;
                self.shim_gone = true;
            }
        }
        Ok(())
    }
}

/// Registers `fd` with the async runtime for readability.
fn readable(fd: OwnedFd) -> io::Result<AsyncFd<OwnedFd>> {
    // SAFETY: the AsyncFd owns `fd`, which stays open and the same until it is dropped.
    Ok(unsafe { AsyncFd::register_with_interest(fd, Interest::READABLE) }?)
}

fn read_chunk(file: &mut File) -> io::Result<Vec<u8>> {
    let mut chunk = Vec::new();
    file.take(LOG_CHUNK_BYTES as u64).read_to_end(&mut chunk)?;
    Ok(chunk)
}

/// Whether `file` is no longer the live log (renamed to `box.log.1` or dropped; a missing
/// live file is a rotation under way).
fn rotated_away(file: &File, live: &Path) -> bool {
    match (file.metadata(), std::fs::metadata(live)) {
        (Ok(ours), Ok(now)) => (ours.dev(), ours.ino()) != (now.dev(), now.ino()),
        _ => true,
    }
}

/// The file written after the one with identity `current` (`None`: none open): the next in
/// the log's order, or the oldest kept when `current` was dropped meanwhile; `None` when
/// `current` is still the newest file (a rotation under way has not created the next yet).
fn successor(live: &Path, current: Option<(u64, u64)>) -> io::Result<Option<File>> {
    let mut files = open_files(live)?;
    let Some(current) = current else { return Ok(files.pop_front()) };
    let mut ids = Vec::with_capacity(files.len());
    for file in &files {
        let meta = file.metadata()?;
        ids.push((meta.dev(), meta.ino()));
    }
    Ok(match ids.iter().position(|&id| id == current) {
        Some(at) => files.into_iter().nth(at + 1),
        None => files.pop_front(),
    })
}

/// Opens the log's files, oldest first (`box.log.N` … `box.log.1`, `box.log`); missing ones
/// are skipped (a box that never started has none).
fn open_files(live: &Path) -> io::Result<VecDeque<File>> {
    let mut rotated: Vec<(u32, PathBuf)> = Vec::new();
    if let (Some(dir), Some(name)) = (live.parent(), live.file_name()) {
        let prefix = format!("{}.", name.to_string_lossy());
        let entries = match std::fs::read_dir(dir) {
            Ok(entries) => Some(entries),
            Err(e) if e.kind() == io::ErrorKind::NotFound => None,
            Err(e) => return Err(e),
        };
        for entry in entries.into_iter().flatten().take(MAX_DIR_ENTRIES).flatten() {
            let file_name = entry.file_name();
            let index = file_name
                .to_str()
                .and_then(|n| n.strip_prefix(&prefix))
                .and_then(|k| k.parse::<u32>().ok());
            if let Some(k) = index {
                rotated.push((k, entry.path()));
            }
        }
    }
    rotated.sort_by_key(|&(k, _)| std::cmp::Reverse(k));
    let mut files = VecDeque::with_capacity(rotated.len() + 1);
    for path in rotated.into_iter().map(|(_, path)| path).chain([live.to_path_buf()]) {
        match File::open(&path) {
            Ok(file) => files.push_back(file),
            // Rotated away between the listing and here: what it held is in the next file
            // or dropped by the bound.
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
    }
    Ok(files)
}

/// Leaves in `files` (oldest first) only what holds the last `lines` lines, each positioned
/// where its part of them starts.
fn start_at_last_lines(files: &mut VecDeque<File>, lines: usize) -> io::Result<()> {
    let (first, offset) = tail_start(files, lines)?;
    files.drain(..first);
    // The backward search left every file's position somewhere in it.
    for (i, file) in files.iter_mut().enumerate() {
        file.seek(SeekFrom::Start(if i == 0 { offset } else { 0 }))?;
    }
    Ok(())
}

/// Where the last `lines` lines of `files` (oldest first) start: the file's index and the
/// offset in it. Reads backwards one block at a time. A final line end does not count as a
/// line of its own; an unterminated last line does.
fn tail_start(files: &mut VecDeque<File>, lines: usize) -> io::Result<(usize, u64)> {
    if lines == 0 {
        let last = files.len().saturating_sub(1);
        let end = match files.back() {
            Some(file) => file.metadata()?.len(),
            None => 0,
        };
        return Ok((last, end));
    }
    let mut seen = 0;
    let mut at_very_end = true;
    let mut block = vec![0u8; LOG_CHUNK_BYTES];
    for index in (0..files.len()).rev() {
        let file = &mut files[index];
        let mut end = file.metadata()?.len();
        // Bounded: every round moves `end` back by a block, down to 0.
        while end > 0 {
            let start = end.saturating_sub(LOG_CHUNK_BYTES as u64);
            let len = (end - start) as usize;
            file.seek(SeekFrom::Start(start))?;
            file.read_exact(&mut block[..len])?;
            for at in (0..len).rev() {
                let newline = block[at] == b'\n';
                if std::mem::take(&mut at_very_end) && newline {
                    continue;
                }
                if newline {
                    seen += 1;
                    if seen == lines {
                        return Ok((index, start + at as u64 + 1));
                    }
                }
            }
            end = start;
        }
    }
    Ok((0, 0))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Writes `box.log.{n}` … `box.log.1`, `box.log` with `parts` (oldest first).
    fn log_dir(parts: &[&str]) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let live = dir.path().join("box.log");
        for (i, part) in parts.iter().enumerate() {
            let k = parts.len() - 1 - i;
            let path = if k == 0 { live.clone() } else { dir.path().join(format!("box.log.{k}")) };
            std::fs::write(path, part).unwrap();
        }
        (dir, live)
    }

    /// The files read on from where they are, as the stream reads them.
    fn rest(files: &mut VecDeque<File>) -> String {
        let mut text = String::new();
        for file in files {
            file.read_to_string(&mut text).unwrap();
        }
        text
    }

    fn last_lines(live: &Path, lines: usize) -> String {
        let mut files = open_files(live).unwrap();
        start_at_last_lines(&mut files, lines).unwrap();
        rest(&mut files)
    }

    #[test]
    fn files_are_read_oldest_first_with_double_digit_indexes_in_order() {
        let parts: Vec<String> = (0..12).map(|i| format!("{i}\n")).collect();
        let parts: Vec<&str> = parts.iter().map(String::as_str).collect();
        let (_dir, live) = log_dir(&parts);
        assert_eq!(rest(&mut open_files(&live).unwrap()), parts.concat());
    }

    #[test]
    fn the_last_lines_span_files_and_a_final_line_end_is_not_a_line() {
        let (_dir, live) = log_dir(&["a\nb\n", "c\nd", "e\n"]);
        // "d" has no line end in its file: the line goes on in the next one.
        assert_eq!(last_lines(&live, 1), "de\n");
        assert_eq!(last_lines(&live, 2), "c\nde\n");
        assert_eq!(last_lines(&live, 4), "a\nb\nc\nde\n");
        assert_eq!(last_lines(&live, 100), "a\nb\nc\nde\n");
        assert_eq!(last_lines(&live, 0), "");
    }

    #[test]
    fn the_last_lines_of_a_file_larger_than_a_block_are_found_by_reading_back() {
        let text: String = (0..40_000).map(|i| format!("line {i}\n")).collect();
        let (_dir, live) = log_dir(&[&text, "more\n", "unterminated"]);
        assert_eq!(last_lines(&live, 3), "line 39999\nmore\nunterminated");
        // 40 002 lines in all.
        let from_line_2 = &text["line 0\nline 1\n".len()..];
        assert!(last_lines(&live, 40_000) == format!("{from_line_2}more\nunterminated"));
    }

    #[test]
    fn the_tail_of_the_live_file_is_read_without_the_rest() {
        let (_dir, live) = log_dir(&["old\n", "0123456789"]);
        assert_eq!(tail_bytes(&live, 4).unwrap(), (10, b"6789".to_vec()));
        assert_eq!(tail_bytes(&live, 100).unwrap(), (10, b"0123456789".to_vec()));
    }

    #[test]
    fn a_box_without_a_log_has_no_files() {
        let dir = tempfile::tempdir().unwrap();
        assert!(open_files(&dir.path().join("logs/box.log")).unwrap().is_empty());
    }
}
