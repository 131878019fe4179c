//! A home always opens: a row this version cannot decode is listed as `unknown` with the
//! reason and can be removed; options written by a newer version are kept and refused at start;
//! databases written by every earlier schema version open and migrate.
mod common;

use std::path::Path;

use boxlite_core::{BoxOptions, BoxStatus, ErrorKind, NetworkMode, Runtime};
use common::TestHome;

fn db(home: &Path) -> rusqlite::Connection {
    rusqlite::Connection::open(home.join("db/boxlite.db")).unwrap()
}

fn set_column(home: &Path, id: &str, column: &str, value: &str) {
    let sql = format!("UPDATE boxes SET {column} = ?2 WHERE id = ?1");
    assert_eq!(db(home).execute(&sql, [id, value]).unwrap(), 1);
}

fn reopen(home: &TestHome) -> Runtime {
    common::open(home.path(), &common::fixture().guest, None)
}

#[test]
fn an_undecodable_row_is_listed_as_unknown_and_can_be_removed() {
    let home = TestHome::new();
    let good = home.rt.create(home.options(), Some("good")).unwrap();
    let corrupt = home.rt.create(home.options(), Some("corrupt-options")).unwrap();
    let newer = home.rt.create(home.options(), Some("newer-status")).unwrap();
    set_column(home.path(), corrupt.id(), "config", "{\"image\": 42");
    set_column(home.path(), newer.id(), "status", "paused");

    let rt = reopen(&home);
    let listed = rt.list_info().expect("one bad row must not fail the listing");
    assert_eq!(listed.len(), 3);
    let info = |id: &str| listed.iter().find(|i| i.id == id).unwrap().clone();
    assert_eq!(info(good.id()).status, BoxStatus::Configured);
    let bad = info(corrupt.id());
    assert_eq!(bad.status, BoxStatus::Unknown);
    let reason = bad.error_reason.unwrap();
    assert!(reason.contains("cannot be read") && reason.contains("options"), "{reason}");
    let paused = info(newer.id());
    assert_eq!(paused.status, BoxStatus::Unknown);
    assert!(paused.error_reason.unwrap().contains("\"paused\""));

    // Looked up by name too, and refused for everything but remove.
    let err = rt.get("corrupt-options").unwrap().unwrap().info().unwrap();
    assert_eq!(err.status, BoxStatus::Unknown);
    let rt2 = rt.clone();
    let start = tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(async move { rt2.get("newer-status").unwrap().unwrap().start().await });
    assert_eq!(start.unwrap_err().kind(), ErrorKind::InvalidState);

    for id in [corrupt.id(), newer.id()] {
        rt.remove(id, false).expect("an unreadable box can be removed");
        assert!(!home.path().join("boxes").join(id).exists(), "its files are gone");
    }
    let left: Vec<String> = rt.list_info().unwrap().into_iter().map(|i| i.id).collect();
    assert_eq!(left, vec![good.id().to_string()]);
}

#[test]
fn options_of_a_newer_version_are_kept_and_refused_at_start() {
    let home = TestHome::new();
    let b = home.rt.create(home.options(), Some("from-the-future")).unwrap();
    let future = format!(
        r#"{{"image":{:?},"memory_mib":64,"secrets":[{{"name":"k"}}],"healthcheck":[]}}"#,
        common::fixture().image
    );
    set_column(home.path(), b.id(), "config", &future);

    let rt = reopen(&home);
    let info = rt.get_info(b.id()).unwrap().unwrap();
    assert_eq!(info.status, BoxStatus::Configured, "known fields still read");
    assert_eq!(info.options.memory_mib, Some(64));
    assert_eq!(info.limits.memory_mib, 64);
    let handle = rt.get(b.id()).unwrap().unwrap();
    let err = tokio::runtime::Runtime::new().unwrap().block_on(handle.start()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidState);
    let msg = err.to_string();
    assert!(msg.contains("secrets") && msg.contains("healthcheck"), "{msg}");
    assert_eq!(rt.get_info(b.id()).unwrap().unwrap().status, BoxStatus::Configured);

    let stored: String = db(home.path())
        .query_row("SELECT config FROM boxes WHERE id = ?1", [b.id()], |r| r.get(0))
        .unwrap();
    assert_eq!(stored, future, "the row is never rewritten");
    rt.remove(b.id(), false).unwrap();
}

#[test]
fn create_still_refuses_an_unknown_option() {
    let home = TestHome::new();
    let opts: BoxOptions = serde_json::from_str(r#"{"image":"alpine","memroy_mib":64}"#).unwrap();
    let err = home.rt.create(opts, None).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    assert!(err.to_string().contains("memroy_mib"), "{err}");
    assert!(home.rt.list_info().unwrap().is_empty());
}

/// The schema as version 1 of boxlite wrote it (written out here, not taken from the current
/// code: the test is that today's code reads what an old one left).
const SCHEMA_V1: &str = "CREATE TABLE boxes (
        id               TEXT PRIMARY KEY NOT NULL,
        name             TEXT UNIQUE,
        config           TEXT NOT NULL,
        created_at_ms    INTEGER NOT NULL,
        status           TEXT NOT NULL,
        pid              INTEGER,
        shim_start_ticks INTEGER,
        owner_pid        INTEGER,
        error_reason     TEXT,
        exit_code        INTEGER,
        updated_at_ms    INTEGER NOT NULL
    );
    CREATE INDEX boxes_status ON boxes(status);
    CREATE INDEX boxes_created ON boxes(created_at_ms);
    PRAGMA user_version = 1;";

#[test]
fn every_earlier_schema_version_opens_and_migrates() {
    // Version 0: a database file that exists but has no tables (a crash right after creation).
    let v0 = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(v0.path().join("db")).unwrap();
    drop(db(v0.path()));
    let rt = common::open(v0.path(), &common::fixture().guest, None);
    assert!(rt.list_info().unwrap().is_empty());
    assert!(rt.images().list().unwrap().is_empty());

    // Version 1: boxes only, rows as that version wrote them (options without later fields).
    let v1 = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(v1.path().join("db")).unwrap();
    std::fs::create_dir_all(v1.path().join("boxes/0123456789ab")).unwrap();
    let conn = db(v1.path());
    conn.execute_batch(SCHEMA_V1).unwrap();
    let config = format!(r#"{{"image":{:?},"memory_mib":128,"detach":false}}"#, "busybox");
    conn.execute(
        "INSERT INTO boxes VALUES ('0123456789ab', 'old', ?1, 1700000000000, 'stopped', NULL, \
         NULL, NULL, NULL, 3, 1700000000001)",
        [&config],
    )
    .unwrap();
    drop(conn);
    let rt = common::open(v1.path(), &common::fixture().guest, None);
    let info = rt.get_info("old").unwrap().unwrap();
    assert_eq!((info.status, info.exit_code), (BoxStatus::Stopped, Some(3)));
    assert_eq!(info.limits.memory_mib, 128);
    assert_eq!(info.limits.pids_max, boxlite_core::DEFAULT_PIDS_MAX, "new bounds apply");
    let version: i64 = db(v1.path()).query_row("PRAGMA user_version", [], |r| r.get(0)).unwrap();
    assert!(version >= 2, "migrated to the current schema, got {version}");
    assert!(rt.images().list().unwrap().is_empty(), "the images table exists now");
    rt.remove("old", false).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn removing_an_unreadable_running_box_kills_its_shim() {
    let home = TestHome::new();
    let b = home.rt.create(home.options(), None).unwrap();
    b.start().await.unwrap();
    let shim = b.info().unwrap().pid.expect("running box has a shim");
    set_column(home.path(), b.id(), "config", "not json");

    let rt = reopen(&home);
    let info = rt.get_info(b.id()).unwrap().unwrap();
    assert_eq!(info.status, BoxStatus::Unknown);
    assert_eq!(info.pid, Some(shim), "the recorded shim is still known");
    rt.remove(b.id(), false).unwrap();
    let alive = common::proc_stat(shim).is_some_and(|(state, _)| state != 'Z');
    assert!(!alive, "shim {shim} outlived the removal of its box");
    assert!(common::processes_mentioning(&home.path().to_string_lossy()).is_empty());
}

/// The network's default became "enabled": a box stored before, without a `network` field,
/// was loopback-only and stays so; a box made now stores its mode.
#[test]
fn a_box_stored_without_a_network_keeps_loopback_only() {
    let home = TestHome::new();
    let b = home.rt.create(home.options(), None).unwrap();
    let stored: String = db(home.path())
        .query_row("SELECT config FROM boxes WHERE id = ?1", [b.id()], |r| r.get(0))
        .unwrap();
    assert!(stored.contains(r#""network":"enabled""#), "{stored}");
    assert_eq!(b.info().unwrap().network, NetworkMode::Enabled);

    let old = format!(r#"{{"image":{:?}}}"#, common::fixture().image);
    set_column(home.path(), b.id(), "config", &old);
    let rt = reopen(&home);
    assert_eq!(rt.get_info(b.id()).unwrap().unwrap().network, NetworkMode::Disabled);
    rt.remove(b.id(), false).unwrap();
}
