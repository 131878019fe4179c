//! The small-file helpers: a whole file read or written in one call, a directory listed.

use boxlite_protocol::archive;
use boxlite_protocol::pb::{CopyInStart, CopyOutRequest, ListDirRequest};

use super::copy::{receive, send};
use super::{agent_error, box_path, split, FileEntry};
use crate::agent::{while_answering, within, AGENT_CALL_TIMEOUT};
use crate::error::{Error, Result};
use crate::runtime::Runtime;

/// Largest file `read_file` returns (larger ones are refused before they are read: use
/// `copy_out`).
pub const MAX_READ_FILE_BYTES: u64 = 64 << 20;
/// Most entries `list_dir` returns.
pub const MAX_LIST_ENTRIES: u64 = 100_000;

impl Runtime {
    pub(crate) async fn read_file(&self, id: &str, path: &str) -> Result<Vec<u8>> {
        let what = format!("read {path}");
        self.with_agent(id, "read a file of", async |id, agent| {
            let request = CopyOutRequest {
                path: box_path(id, &what, path)?.to_string(),
                name: String::new(),
                recursive: false,
                follow_symlinks: true,
                max_entries: 1,
                max_bytes: MAX_READ_FILE_BYTES,
            };
            let (tx, rx) = std::sync::mpsc::sync_channel(1);
            receive(agent, id, &what, request, move |stream| {
                let data = archive::read_single_file(stream, MAX_READ_FILE_BYTES)?;
                let _ = tx.send(data);
                // Counted by the caller from the data itself.
                Ok(archive::Totals { entries: 1, bytes: 0 })
            })
            .await?;
            rx.recv().map_err(|_| Error::not_found(format!("box {id}: {what}: no data came back")))
        })
        .await
    }

    pub(crate) async fn write_file(
        &self,
        id: &str,
        path: &str,
        data: Vec<u8>,
        mode: Option<u32>,
    ) -> Result<()> {
        let what = format!("write {path}");
        self.with_agent(id, "write a file of", async |id, agent| {
            let (dir, name) = split(box_path(id, &what, path)?);
            if name.is_empty() {
                return Err(Error::invalid_argument(format!("box {id}: {what}: not a file path")));
            }
            let start = CopyInStart {
                dir: dir.to_string(),
                create_dir: true,
                overwrite: true,
                preserve_owners: false,
            };
            let name = name.to_string();
            let mode = mode.unwrap_or(0o644);
            send(agent, id, &what, start, move |out| {
                archive::pack_bytes(out, &name, &data, mode).map(|()| archive::Totals::default())
            })
            .await
            .map(|_| ())
        })
        .await
    }

    pub(crate) async fn list_dir(&self, id: &str, path: &str) -> Result<Vec<FileEntry>> {
        let what = format!("list {path}");
        self.with_agent(id, "list a directory of", async |id, agent| {
            let request = ListDirRequest {
                path: box_path(id, &what, path)?.to_string(),
                max_entries: MAX_LIST_ENTRIES,
            };
            let mut client = agent.clone();
            let mut stream = within(id, &what, AGENT_CALL_TIMEOUT, async {
                client
                    .list_dir(request)
                    .await
                    .map(tonic::Response::into_inner)
                    .map_err(|s| agent_error(id, &what, s))
            })
            .await?;
            let mut entries = Vec::new();
            while_answering(id, &what, agent, None, async {
                while let Some(batch) =
                    stream.message().await.map_err(|s| agent_error(id, &what, s))?
                {
                    // The agent's bound, checked again: it is code we sandbox.
                    if entries.len() as u64 + batch.entries.len() as u64 > MAX_LIST_ENTRIES {
                        return Err(Error::invalid_argument(format!(
                            "box {id}: {what}: more than {MAX_LIST_ENTRIES} entries"
                        )));
                    }
                    for entry in batch.entries {
                        let stat = entry.stat.unwrap_or_default();
                        entries.push(FileEntry::new(path, entry.name, stat));
                    }
                }
                Ok(())
            })
            .await?;
            entries.sort_by(|a, b| a.name.cmp(&b.name));
            Ok(entries)
        })
        .await
    }
}
