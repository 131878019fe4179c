//! Entry points of the `cargo fuzz` targets in `fuzz/`. Not part of the stable API.
//!
//! Each one hands hostile bytes to the production code, the code a pull, an import or a
//! reconcile runs, and checks what must hold whatever the bytes are: no panic, nothing written
//! outside the root being built, a box that always ends settled. The fuzz targets only pass
//! their input in; the tests below replay the committed corpora (`fuzz/corpus/<target>/`)
//! through the same functions in every `make test`.

use std::ffi::OsString;
use std::fs;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::{Error, Result};
use crate::images::{client_reference, ImageRef, Limits, Root, Totals, DOCKER_HUB};
use crate::info::BoxInfo;
use crate::options::{BoxOptions, RuntimeOptions};
use crate::runtime::Runtime;
use crate::status::{BoxState, BoxStatus};

/// Hosts a parsed reference is looked up on: Docker Hub (aliases rewritten) and a mirror
/// (the `library/`-less second candidate).
const SEARCH_HOSTS: [&str; 2] = [DOCKER_HUB, "mirror.example:5000"];

/// Parses `text` as `boxlite run IMAGE` does, then uses every accessor a pull uses. Returns
/// the canonical form. Panics (a finding) if the canonical form is refused or parses to
/// another image: it is what `images` shows and what users paste back.
pub fn image_reference(text: &str) -> Result<String> {
    let parsed = ImageRef::parse(text)?;
    let shown = parsed.to_string();
    if let ImageRef::Registry(image) = &parsed {
        assert!(!parsed.is_local());
        let _ = image.name();
        for host in SEARCH_HOSTS {
            for candidate in image.search_candidates(host) {
                let target = client_reference(host, &candidate, &candidate.tag_or_digest());
                let _ = (target.whole(), target.resolve_registry(), target.namespace());
            }
        }
    } else {
        assert!(parsed.is_local());
    }
    let again = ImageRef::parse(&shown)
        .unwrap_or_else(|e| panic!("{text:?} is shown as {shown:?}, which is refused: {e}"));
    assert_eq!(
        qualified(again),
        qualified(parsed),
        "{text:?} is shown as {shown:?}, which is another image"
    );
    Ok(shown)
}

/// Whether a name was qualified is how it was written, not which image it names.
fn qualified(image: ImageRef) -> ImageRef {
    match image {
        ImageRef::Registry(r) => ImageRef::Registry(r.on(&r.registry.clone())),
        local => local,
    }
}

/// Bounds for one fuzz input: small, so a hostile size field costs little, but the same checks
/// as an image's.
const FUZZ_LIMITS: Limits = Limits { max_entries: 4096, max_bytes: 64 << 20 };

/// Applies `tar` (an uncompressed layer stream) twice, as two layers, to a fresh root with the
/// store's applier, so whiteouts and replacements also meet a lower layer's entries. Panics (a
/// finding) if anything appeared next to the root or in the sibling directory `outside`, which
/// is where a `..` or a symlink that escaped would write.
pub fn apply_layer(tar: &[u8]) -> Result<()> {
    let sandbox = Scratch::new("layer")?;
    let root_dir = sandbox.path.join("root");
    let outside = sandbox.path.join("outside");
    for dir in [&root_dir, &outside] {
        fs::create_dir(dir).map_err(|e| Error::io(format!("create {}", dir.display()), e))?;
    }
    let root =
        Root::open(&root_dir).map_err(|e| Error::io(format!("open {}", root_dir.display()), e))?;
    let mut totals = Totals::default();
    let mut result = Ok(());
    for what in ["fuzz layer 1/2", "fuzz layer 2/2"] {
        result = crate::images::apply_layer(&root, tar, &FUZZ_LIMITS, &mut totals, what);
        if result.is_err() {
            break;
        }
    }
    drop(root);
    let mut beside = names(&sandbox.path);
    beside.sort();
    assert_eq!(beside, ["outside", "root"], "the layer wrote next to its root");
    assert_eq!(names(&outside), Vec::<OsString>::new(), "the layer wrote outside its root");
    result
}

/// Settles boxes from exit records as the host does when a box's shim is gone: the next call
/// that touches the box reconciles it, reading `exit.json` from the box's directory.
pub struct ExitRecords {
    runtime: Runtime,
    _home: Scratch,
}

/// How often [`ExitRecords`] waits for a box's lock and reads the box again.
const SETTLE_TRIES: usize = 100;

impl ExitRecords {
    /// A runtime on a fresh home in the temporary directory, removed on drop.
    pub fn new() -> Result<Self> {
        let home = Scratch::new("home")?;
        let runtime = Runtime::open(RuntimeOptions {
            home_dir: Some(home.path.join("home")),
            ..Default::default()
        })?;
        Ok(ExitRecords { runtime, _home: home })
    }

    /// Makes a `running` box whose shim has exited, writes `record` as its exit record, and
    /// returns the box as the host then shows it (the box is removed again). Panics (a
    /// finding) if the box is still shown active, or failed without a reason.
    pub fn settle(&self, record: &[u8]) -> Result<BoxInfo> {
        let id = self.runtime.create(BoxOptions::new("fuzz/exit-record"), None)?.id().to_owned();
        let settled = self.settle_box(&id, record);
        let removed = self.runtime.remove(&id, true);
        let info = settled?;
        removed?;
        assert!(!info.status.is_active(), "box {id} is still {} after its exit", info.status);
        if info.status == BoxStatus::Failed {
            assert!(info.error_reason.is_some(), "box {id} failed without a reason");
        }
        Ok(info)
    }

    fn settle_box(&self, id: &str, record: &[u8]) -> Result<BoxInfo> {
        let mut state = BoxState::new();
        state.transition(BoxStatus::Starting)?;
        state.transition(BoxStatus::Running)?;
        self.runtime.store().update_state(id, &state)?;
        let path = self.runtime.home().box_paths(id).exit_record;
        fs::write(&path, record).map_err(|e| Error::io(format!("write {}", path.display()), e))?;
        // A read reconciles the box only when its lock is free, and another test of this
        // process may have spawned a child while `create` held it: the child's copy of the
        // descriptor keeps the lock until its exec. So wait for the lock (an event, not a
        // delay), then read; a bounded number of times.
        let mut info = None;
        for _ in 0..SETTLE_TRIES {
            drop(crate::lock::FileLock::for_box(self.runtime.home(), id)?);
            info = self.runtime.get_info(id)?;
            if !info.as_ref().is_some_and(|i| i.status.is_active()) {
                break;
            }
        }
        Ok(info.unwrap_or_else(|| panic!("box {id} vanished while it was settled")))
    }
}

/// A directory of its own in the temporary directory, removed with everything in it on drop.
struct Scratch {
    path: PathBuf,
}

impl Scratch {
    fn new(what: &str) -> Result<Self> {
        static SEQ: AtomicU64 = AtomicU64::new(0);
        let base = std::env::temp_dir();
        // A name taken by a leftover of an earlier process is skipped, boundedly.
        for _ in 0..100 {
            let seq = SEQ.fetch_add(1, Ordering::Relaxed);
            let path = base.join(format!("boxlite-fuzz-{what}-{}-{seq}", std::process::id()));
            match fs::create_dir(&path) {
                Ok(()) => return Ok(Scratch { path }),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(Error::io(format!("create {}", path.display()), e)),
            }
        }
        Err(Error::io(
            format!("create a scratch directory in {}", base.display()),
            io::Error::from(io::ErrorKind::AlreadyExists),
        ))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        // A layer may leave directories without write or search permission: open them up
        // first, so the tree can be removed by a caller that is not root too.
        open_up(&self.path);
        let _ = fs::remove_dir_all(&self.path);
    }
}

fn open_up(dir: &Path) {
    let _ = fs::set_permissions(dir, fs::Permissions::from_mode(0o700));
    let Ok(entries) = fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        // DirEntry::file_type does not follow symlinks.
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            open_up(&entry.path());
        }
    }
}

fn names(dir: &Path) -> Vec<OsString> {
    let entries = fs::read_dir(dir).unwrap_or_else(|e| panic!("list {}: {e}", dir.display()));
    entries
        .map(|e| e.unwrap_or_else(|e| panic!("list {}: {e}", dir.display())).file_name())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The committed corpus of fuzz target `target`, file by file, sorted.
    fn corpus(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus").join(target);
        let mut files: Vec<PathBuf> = fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("corpus {}: {e}", dir.display()))
            .map(|e| e.unwrap().path())
            .collect();
        files.sort();
        assert!(!files.is_empty(), "corpus {} is empty", dir.display());
        files.into_iter().map(|path| (path.clone(), fs::read(path).unwrap())).collect()
    }

    #[test]
    fn image_reference_corpus_replays() {
        let mut accepted = 0;
        for (path, bytes) in corpus("image_reference") {
            let Ok(text) = std::str::from_utf8(&bytes) else { continue };
            // A panic names no file: say which one is being replayed.
            eprintln!("replay {}", path.display());
            accepted += usize::from(image_reference(text).is_ok());
        }
        assert!(accepted > 0, "no reference of the corpus parses");
    }

    #[test]
    fn apply_layer_corpus_replays() {
        let mut applied = 0;
        for (path, bytes) in corpus("apply_layer") {
            eprintln!("replay {}", path.display());
            applied += usize::from(apply_layer(&bytes).is_ok());
        }
        assert!(applied > 0, "no layer of the corpus applies");
    }

    #[test]
    fn exit_record_corpus_replays() {
        let records = ExitRecords::new().unwrap();
        let mut stopped = 0;
        for (path, bytes) in corpus("exit_record") {
            eprintln!("replay {}", path.display());
            let info = records.settle(&bytes).unwrap();
            stopped += usize::from(info.status == BoxStatus::Stopped);
        }
        assert!(stopped > 0, "no record of the corpus settles a box as stopped");
    }

    #[test]
    fn a_clean_exit_record_stops_the_box_with_its_code() {
        let records = ExitRecords::new().unwrap();
        let clean = br#"{"exit_code":3,"error":null,"agent_status":"exited with status 0",
                         "finished_at_ms":1}"#;
        let info = records.settle(clean).unwrap();
        assert_eq!((info.status, info.exit_code), (BoxStatus::Stopped, Some(3)));
        let crashed = br#"{"exit_code":null,"error":"agent crashed",
                           "agent_status":"killed by signal 9","finished_at_ms":1}"#;
        let failed = records.settle(crashed).unwrap();
        assert_eq!(failed.status, BoxStatus::Failed);
        assert_eq!(failed.error_reason.as_deref(), Some("agent crashed"));
        let garbage = records.settle(b"{\"exit_code\":").unwrap();
        assert_eq!(garbage.status, BoxStatus::Failed);
        assert!(garbage.error_reason.is_some());
    }

    /// A layer with one empty file `f` owned by `uid:gid`, written in the header fields (a
    /// 32-bit id fits their 8 octal digits only with tar's base-256 form, which `tar` picks).
    fn owned_by(uid: u64, gid: u64) -> Vec<u8> {
        let mut header = tar::Header::new_gnu();
        header.set_path("f").unwrap();
        header.set_size(0);
        header.set_mode(0o644);
        header.set_uid(uid);
        header.set_gid(gid);
        header.set_cksum();
        let mut tar = tar::Builder::new(Vec::new());
        tar.append(&header, &[][..]).unwrap();
        tar.into_inner().unwrap()
    }

    /// Found by the apply_layer target (the corpus keeps it as regression-uid-minus-one):
    /// 4294967295 is (uid_t)-1, which chown reads as "leave unchanged", so a layer could keep
    /// a file owned by whoever unpacked it; the debug build's rustix asserts on it.
    #[test]
    fn an_owner_of_minus_one_is_refused_as_an_image_error() {
        for (uid, gid, what) in [(u64::from(u32::MAX), 0, "uid"), (0, u64::from(u32::MAX), "gid")] {
            let err = apply_layer(&owned_by(uid, gid)).unwrap_err();
            assert_eq!(err.kind(), crate::error::ErrorKind::Image, "{err}");
            assert!(err.to_string().contains(&format!("{what} 4294967295")), "{err}");
        }
        let mut pax = tar::Builder::new(Vec::new());
        let record = b"18 uid=4294967295\n";
        let mut ext = tar::Header::new_ustar();
        ext.set_path("pax").unwrap();
        ext.set_entry_type(tar::EntryType::XHeader);
        ext.set_size(record.len() as u64);
        ext.set_cksum();
        pax.append(&ext, &record[..]).unwrap();
        let mut header = tar::Header::new_ustar();
        header.set_path("f").unwrap();
        header.set_size(0);
        header.set_cksum();
        pax.append(&header, &[][..]).unwrap();
        let err = apply_layer(&pax.into_inner().unwrap()).unwrap_err();
        assert_eq!(err.kind(), crate::error::ErrorKind::Image, "{err}");
        // The largest id that is not -1 is an owner like any other.
        apply_layer(&owned_by(u64::from(u32::MAX - 1), u64::from(u32::MAX - 1))).unwrap();
    }

    #[test]
    fn a_layer_that_climbs_out_is_refused_and_writes_nothing_outside() {
        let mut header = tar::Header::new_ustar();
        header.set_path("x").unwrap();
        header.as_old_mut().name[..12].copy_from_slice(b"../outside/f");
        header.set_size(0);
        header.set_cksum();
        let mut tar = tar::Builder::new(Vec::new());
        tar.append(&header, &[][..]).unwrap();
        let err = apply_layer(&tar.into_inner().unwrap()).unwrap_err();
        assert!(err.to_string().contains("climbs above the root"), "{err}");
    }
}
