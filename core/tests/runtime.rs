//! The runtime's record lifecycle against a real SQLite file in a temporary home.

mod common;

use std::os::unix::process::ExitStatusExt;
use std::path::Path;

use boxlite_core::{BoxOptions, BoxStatus, ErrorKind, Runtime, RuntimeOptions};

fn open(home: &Path) -> Runtime {
    Runtime::open(RuntimeOptions { home_dir: Some(home.to_path_buf()), ..Default::default() })
        .unwrap()
}

/// Another writer of the same database, as a second process would be.
fn raw_db(home: &Path) -> rusqlite::Connection {
    rusqlite::Connection::open(home.join("db/boxlite.db")).unwrap()
}

#[test]
fn open_creates_layout_and_wal_database() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("nested/home");
    open(&home);
    for dir in ["db", "images/blobs/sha256", "images/rootfs", "boxes", "locks", "tmp"] {
        assert!(home.join(dir).is_dir(), "{dir} missing");
    }
    let db = raw_db(&home);
    let mode: String = db.query_row("PRAGMA journal_mode", [], |r| r.get(0)).unwrap();
    assert_eq!(mode, "wal");
    let version: i64 = db.query_row("PRAGMA user_version", [], |r| r.get(0)).unwrap();
    assert!(version >= 1);
}

#[test]
fn create_persists_configured_record_across_reopen() {
    let tmp = tempfile::tempdir().unwrap();
    let opts = BoxOptions {
        env: vec![("K".into(), "v".into())],
        cmd: Some(vec!["echo".into(), "hi".into()]),
        memory_mib: Some(128),
        ..BoxOptions::new("oci:/images/busybox:latest")
    };
    let id = open(tmp.path()).create(opts.clone(), Some("web")).unwrap().id().to_string();
    assert!(tmp.path().join("boxes").join(&id).is_dir());

    let info = open(tmp.path()).get_info("web").unwrap().expect("record survives reopen");
    assert_eq!(info.id, id);
    assert_eq!(info.status, BoxStatus::Configured);
    assert_eq!(info.options, opts);
    assert_eq!(info.pid, None);
    let status: String = raw_db(tmp.path())
        .query_row("SELECT status FROM boxes WHERE id = ?1", [&id], |r| r.get(0))
        .unwrap();
    assert_eq!(status, "configured");
}

#[test]
fn invalid_input_is_rejected_and_nothing_is_stored() {
    let tmp = tempfile::tempdir().unwrap();
    let rt = open(tmp.path());
    let err = rt.create(BoxOptions::new("alpine"), Some("no spaces")).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    assert!(err.to_string().contains("\"no spaces\""), "{err}");
    let err = rt.create(BoxOptions { cpus: Some(-1.0), ..BoxOptions::new("alpine") }, None);
    assert_eq!(err.unwrap_err().kind(), ErrorKind::InvalidArgument);
    assert!(rt.list_info().unwrap().is_empty());
    assert_eq!(std::fs::read_dir(tmp.path().join("boxes")).unwrap().count(), 0);
}

#[test]
fn names_are_unique() {
    let tmp = tempfile::tempdir().unwrap();
    let rt = open(tmp.path());
    rt.create(BoxOptions::new("alpine"), Some("twin")).unwrap();
    let err = rt.create(BoxOptions::new("alpine"), Some("twin")).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::AlreadyExists);
    assert!(err.to_string().contains("twin"), "{err}");
    assert_eq!(rt.list_info().unwrap().len(), 1);
}

#[test]
fn lookup_by_id_name_and_unique_prefix() {
    let tmp = tempfile::tempdir().unwrap();
    let rt = open(tmp.path());
    // 40 ids over a 36-character alphabet: at least two share their first character.
    let ids: Vec<String> = (0..40)
        .map(|_| rt.create(BoxOptions::new("alpine"), None).unwrap().id().to_string())
        .collect();
    let named = rt.create(BoxOptions::new("alpine"), Some("named")).unwrap();
    assert_eq!(rt.get("named").unwrap().unwrap().id(), named.id());
    assert_eq!(rt.get(named.id()).unwrap().unwrap().name(), Some("named"));

    let unique = ids.iter().find(|id| ids.iter().filter(|o| o.starts_with(&id[..6])).count() == 1);
    let unique = unique.expect("six-character prefixes of 40 random ids are almost surely unique");
    assert_eq!(rt.get(&unique[..6]).unwrap().unwrap().id(), unique);

    let shared = ids
        .iter()
        .map(|id| &id[..1])
        .find(|p| {
            ids.iter().chain([&named.id().to_string()]).filter(|o| o.starts_with(p)).count() > 1
        })
        .unwrap();
    let err = rt.get(shared).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    assert!(err.to_string().contains("ambiguous"), "{err}");
    assert!(rt.get("zzzzzzzzzzzzz").unwrap().is_none());
    assert_eq!(rt.get("").unwrap_err().kind(), ErrorKind::InvalidArgument);
}

#[test]
fn list_is_newest_first() {
    let tmp = tempfile::tempdir().unwrap();
    let rt = open(tmp.path());
    let ids: Vec<String> = (0..5)
        .map(|_| rt.create(BoxOptions::new("alpine"), None).unwrap().id().to_string())
        .collect();
    let listed: Vec<String> = rt.list_info().unwrap().into_iter().map(|i| i.id).collect();
    assert_eq!(listed, ids.into_iter().rev().collect::<Vec<_>>());
}

#[test]
fn remove_deletes_record_dir_and_lock() {
    let tmp = tempfile::tempdir().unwrap();
    let rt = open(tmp.path());
    let b = rt.create(BoxOptions::new("alpine"), Some("gone")).unwrap();
    std::fs::write(tmp.path().join("boxes").join(b.id()).join("file"), "x").unwrap();
    rt.remove("gone", false).unwrap();
    assert!(rt.get(b.id()).unwrap().is_none());
    assert!(!tmp.path().join("boxes").join(b.id()).exists());
    assert!(!tmp.path().join("locks").join(format!("{}.lock", b.id())).exists());
    assert_eq!(b.info().unwrap_err().kind(), ErrorKind::NotFound);
    let err = rt.remove("gone", false).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);
    assert!(err.to_string().contains("gone"), "{err}");
}

#[test]
fn active_box_needs_force_to_remove() {
    let tmp = tempfile::tempdir().unwrap();
    let rt = open(tmp.path());
    let b = rt.create(BoxOptions::new("alpine"), None).unwrap();
    // Another process owns it and has it running: its "shim" is a live process of ours, with
    // the start time that proves it is the one recorded.
    let mut shim = std::process::Command::new("sleep").arg("600").spawn().unwrap();
    raw_db(tmp.path())
        .execute(
            "UPDATE boxes SET status = 'running', pid = ?2, shim_start_ticks = ?3 WHERE id = ?1",
            rusqlite::params![b.id(), shim.id(), common::proc_stat(shim.id()).unwrap().1 as i64],
        )
        .unwrap();
    let err = rt.remove(b.id(), false).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidState);
    assert!(err.to_string().contains(b.id()) && err.to_string().contains("running"), "{err}");
    assert_eq!(b.info().unwrap().status, BoxStatus::Running, "refused remove keeps the box");
    rt.remove(b.id(), true).unwrap();
    assert!(rt.get(b.id()).unwrap().is_none());
    let status = shim.wait().unwrap();
    assert_eq!(status.signal(), Some(libc::SIGKILL), "the forced remove killed the shim");
}

#[test]
fn failed_record_keeps_config_and_files() {
    let tmp = tempfile::tempdir().unwrap();
    let rt = open(tmp.path());
    let b = rt.create(BoxOptions::new("alpine"), Some("broken")).unwrap();
    let marker = tmp.path().join("boxes").join(b.id()).join("upper-file");
    std::fs::write(&marker, "kept").unwrap();
    boxlite_core::testing::persist_failed(&rt, "broken", "guest never ready").unwrap();

    let info = open(tmp.path()).get_info("broken").unwrap().unwrap();
    assert_eq!(info.status, BoxStatus::Failed);
    assert_eq!(info.error_reason.as_deref(), Some("guest never ready"));
    assert_eq!(info.image, "alpine");
    assert_eq!(std::fs::read_to_string(&marker).unwrap(), "kept");
    let (status, reason): (String, String) = raw_db(tmp.path())
        .query_row("SELECT status, error_reason FROM boxes WHERE id = ?1", [b.id()], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .unwrap();
    assert_eq!((status.as_str(), reason.as_str()), ("failed", "guest never ready"));
}

#[test]
fn get_or_create_reuses_by_name() {
    let tmp = tempfile::tempdir().unwrap();
    let rt = open(tmp.path());
    let (a, created_a) = rt.get_or_create(BoxOptions::new("alpine"), "one").unwrap();
    let (b, created_b) = rt.get_or_create(BoxOptions::new("busybox"), "one").unwrap();
    assert!(created_a && !created_b);
    assert_eq!(a.id(), b.id());
    assert_eq!(b.info().unwrap().image, "alpine");
}

#[test]
fn corrupt_row_is_reported_not_fatal() {
    let tmp = tempfile::tempdir().unwrap();
    let rt = open(tmp.path());
    let b = rt.create(BoxOptions::new("alpine"), None).unwrap();
    raw_db(tmp.path())
        .execute("UPDATE boxes SET status = 'exploded' WHERE id = ?1", [b.id()])
        .unwrap();
    let info = rt.get_info(b.id()).unwrap().unwrap();
    assert_eq!(info.status, BoxStatus::Unknown);
    let reason = info.error_reason.unwrap();
    assert!(reason.contains("exploded"), "{reason}");
}

#[test]
fn newer_schema_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    open(tmp.path());
    raw_db(tmp.path()).pragma_update(None, "user_version", 999).unwrap();
    let err =
        Runtime::open(RuntimeOptions { home_dir: Some(tmp.path().into()), ..Default::default() })
            .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Database);
    assert!(err.to_string().contains("999"), "{err}");
}

#[test]
fn spec_file_lists_core_names_in_order() {
    let spec =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../bindings-tests/spec.tsv"))
            .unwrap();
    let column = |kind: &str| -> Vec<String> {
        spec.lines()
            .filter_map(|l| l.strip_prefix(kind).and_then(|r| r.strip_prefix('\t')))
            .map(str::to_owned)
            .collect()
    };
    let statuses: Vec<&str> = BoxStatus::ALL.iter().map(|s| s.as_str()).collect();
    let codes: Vec<&str> = ErrorKind::ALL.iter().map(|k| k.code()).collect();
    assert_eq!(column("status"), statuses);
    assert_eq!(column("error_code"), codes);
}
