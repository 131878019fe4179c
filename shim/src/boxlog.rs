//! The box's log on the host: `box.log` and its rotated predecessors `box.log.1` (newest) …
//! `box.log.{files-1}` (oldest), never more than `max_bytes` each, so whatever the box prints
//! it holds at most `files × max_bytes` of the host's disk.
//!
//! The files, oldest first and the live one last, read as one stream: every byte written is in
//! them in order until rotation drops the oldest file. A file ends at a line end whenever the
//! line fits, so a reader of one file rarely sees half a line; a line longer than a whole file
//! is cut where the file is full.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use boxlite_protocol::launch::LogLimits;

/// Most directory entries looked at when clearing files a larger bound left behind: the logs
/// directory holds only this log's files.
const MAX_DIR_ENTRIES: usize = 4096;

/// The writer; the shim is its only user (one process, one thread).
#[derive(Debug)]
pub struct BoxLog {
    path: PathBuf,
    max_bytes: u64,
    files: u32,
    /// The live file, opened for appending.
    file: File,
    /// Bytes in the live file.
    size_bytes: u64,
}

impl BoxLog {
    /// Opens (or creates) the live file to append to, and deletes rotated files beyond the
    /// bound (left by a run with a larger one).
    pub fn open(limits: &LogLimits) -> io::Result<Self> {
        let file = open_live(&limits.path)?;
        let size_bytes = file.metadata()?.len();
        let log = BoxLog {
            path: limits.path.clone(),
            max_bytes: limits.max_bytes.max(1),
            files: limits.files.max(1),
            file,
            size_bytes,
        };
        log.remove_beyond_bound()?;
        Ok(log)
    }

    /// Appends `bytes`, rotating first whenever they would take the live file past its bound.
    /// On an error (disk full, a rename refused) the rest of `bytes` is dropped: the bound
    /// holds whatever fails.
    pub fn write(&mut self, mut bytes: &[u8]) -> io::Result<()> {
        // Bounded: every round either returns, writes at least one byte, or rotates a
        // non-empty file (after which the next round writes).
        while !bytes.is_empty() {
            let room = self.max_bytes.saturating_sub(self.size_bytes);
            if bytes.len() as u64 <= room {
                return self.append(bytes);
            }
            // `room` < bytes.len(), so it fits a usize.
            let room = room as usize;
            let cut = match bytes[..room].iter().rposition(|&b| b == b'\n') {
                Some(end) => end + 1,
                // A line longer than a whole file: cut where the file is full.
                None if self.size_bytes == 0 => room,
                // The line does not fit what is left: it starts the next file.
                None => 0,
            };
            self.append(&bytes[..cut])?;
            bytes = &bytes[cut..];
            self.rotate()?;
        }
        Ok(())
    }

    fn append(&mut self, bytes: &[u8]) -> io::Result<()> {
        if bytes.is_empty() {
            return Ok(());
        }
        let written = self.file.write_all(bytes);
        // On a partial write the file may hold part of `bytes`; its real size keeps the count
        // exact.
        self.size_bytes = match &written {
            Ok(()) => self.size_bytes + bytes.len() as u64,
            Err(_) => self.file.metadata().map_or(self.max_bytes, |m| m.len()),
        };
        written
    }

    /// `box.log.{k}` → `box.log.{k+1}` from the oldest kept down (the oldest is replaced,
    /// so dropped), `box.log` → `box.log.1`, then a new empty `box.log`. With one file the
    /// live file is simply replaced.
    fn rotate(&mut self) -> io::Result<()> {
        if self.files == 1 {
            std::fs::remove_file(&self.path)?;
        } else {
            for k in (1..self.files - 1).rev() {
                match std::fs::rename(self.rotated(k), self.rotated(k + 1)) {
                    Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
                    _ => {}
                }
            }
            std::fs::rename(&self.path, self.rotated(1))?;
        }
        self.file = open_live(&self.path)?;
        self.size_bytes = self.file.metadata()?.len();
        Ok(())
    }

    /// `box.log.{k}`.
    fn rotated(&self, k: u32) -> PathBuf {
        rotated_path(&self.path, k)
    }

    fn remove_beyond_bound(&self) -> io::Result<()> {
        let (Some(dir), Some(name)) = (self.path.parent(), self.path.file_name()) else {
            return Ok(());
        };
        let prefix = format!("{}.", name.to_string_lossy());
        for entry in std::fs::read_dir(dir)?.take(MAX_DIR_ENTRIES).flatten() {
            let entry_name = entry.file_name();
            let index = entry_name
                .to_str()
                .and_then(|n| n.strip_prefix(&prefix))
                .and_then(|k| k.parse::<u32>().ok());
            if index.is_some_and(|k| k >= self.files) {
                std::fs::remove_file(entry.path())?;
            }
        }
        Ok(())
    }
}

/// Where rotated file `k` of the log at `path` lives.
pub fn rotated_path(path: &Path, k: u32) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(format!(".{k}"));
    PathBuf::from(name)
}

/// Logs can carry a box's secrets: readable by the host's owner only, as the host creates it.
fn open_live(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .custom_flags(libc::O_CLOEXEC)
        .open(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(dir: &Path, max_bytes: u64, files: u32) -> LogLimits {
        LogLimits { path: dir.join("box.log"), max_bytes, files }
    }

    /// Every file of the log, oldest first, as (name, contents).
    fn files(dir: &Path) -> Vec<(String, String)> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        // box.log.9 … box.log.1, then box.log.
        names.sort_by_key(|n| {
            std::cmp::Reverse(n.rsplit('.').next().and_then(|k| k.parse::<u32>().ok()))
        });
        let read = |n: &String| std::fs::read_to_string(dir.join(n)).unwrap();
        names.iter().map(|n| (n.clone(), read(n))).collect()
    }

    fn assert_files(dir: &Path, expected: &[(&str, &str)]) {
        let expected: Vec<(String, String)> =
            expected.iter().map(|(n, t)| (n.to_string(), t.to_string())).collect();
        assert_eq!(files(dir), expected);
    }

    #[test]
    fn lines_stay_in_order_across_files_and_each_file_holds_whole_lines() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = BoxLog::open(&limits(dir.path(), 20, 3)).unwrap();
        for i in 0..10 {
            log.write(format!("line {i}\n").as_bytes()).unwrap();
        }
        // 7 bytes a line, two fit in 20 bytes; three files keep the last six lines.
        assert_files(
            dir.path(),
            &[
                ("box.log.2", "line 4\nline 5\n"),
                ("box.log.1", "line 6\nline 7\n"),
                ("box.log", "line 8\nline 9\n"),
            ],
        );
    }

    #[test]
    fn a_flood_in_one_write_never_passes_the_bound() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = BoxLog::open(&limits(dir.path(), 1000, 2)).unwrap();
        let flood: String = (0..100_000).map(|i| format!("{i:08}\n")).collect();
        for chunk in flood.as_bytes().chunks(65536) {
            log.write(chunk).unwrap();
        }
        let files = files(dir.path());
        assert_eq!(files.len(), 2);
        for (name, text) in &files {
            assert!(text.len() <= 1000, "{name}: {} bytes", text.len());
            assert!(text.ends_with('\n'), "{name} ends mid-line");
        }
        let together = format!("{}{}", files[0].1, files[1].1);
        assert!(flood.ends_with(&together), "the newest bytes, in order");
        assert!(together.ends_with("00099999\n"));
    }

    #[test]
    fn a_line_longer_than_a_file_is_cut_and_nothing_is_lost_before_the_oldest_kept() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = BoxLog::open(&limits(dir.path(), 4, 3)).unwrap();
        log.write(b"abcdefghij").unwrap();
        assert_files(
            dir.path(),
            &[("box.log.2", "abcd"), ("box.log.1", "efgh"), ("box.log", "ij")],
        );
    }

    #[test]
    fn one_file_is_replaced_and_an_existing_log_is_appended_to() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("box.log"), "old\n").unwrap();
        let mut log = BoxLog::open(&limits(dir.path(), 10, 1)).unwrap();
        log.write(b"new\n").unwrap();
        assert_files(dir.path(), &[("box.log", "old\nnew\n")]);
        log.write(b"newer\n").unwrap();
        assert_files(dir.path(), &[("box.log", "newer\n")]);
    }

    #[test]
    fn files_beyond_a_smaller_bound_are_removed_on_open() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["box.log", "box.log.1", "box.log.2", "box.log.7", "other.1"] {
            std::fs::write(dir.path().join(name), name).unwrap();
        }
        BoxLog::open(&limits(dir.path(), 10, 2)).unwrap();
        let mut left: Vec<String> = files(dir.path()).into_iter().map(|(n, _)| n).collect();
        left.sort();
        assert_eq!(left, ["box.log", "box.log.1", "other.1"]);
    }

    #[test]
    fn a_full_live_file_from_an_earlier_run_rotates_on_the_first_write() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("box.log"), "0123456789").unwrap();
        let mut log = BoxLog::open(&limits(dir.path(), 10, 2)).unwrap();
        log.write(b"x\n").unwrap();
        assert_files(dir.path(), &[("box.log.1", "0123456789"), ("box.log", "x\n")]);
    }
}
