//! Schema versions. `PRAGMA user_version` holds the number of migrations applied; each entry of
//! [`MIGRATIONS`] runs once, in order, inside the same immediate transaction that reads the
//! version, so two processes opening a fresh home cannot both apply it.

use rusqlite::{Connection, TransactionBehavior};

use crate::error::{Error, ErrorKind, Result};

const MIGRATIONS: &[&str] = &[
    // 1: box records. `config` is the immutable BoxOptions JSON; the rest is the mutable state,
    // in columns so it can be queried and updated without rewriting the config.
    "CREATE TABLE boxes (
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
    CREATE INDEX boxes_created ON boxes(created_at_ms);",
    // 2: the images table (reference -> manifest, with what gc and listings need), and the
    // manifest each box was last started from, so an image in use is never removed.
    "CREATE TABLE images (
        reference       TEXT PRIMARY KEY NOT NULL,
        repository      TEXT NOT NULL,
        tag             TEXT,
        manifest_digest TEXT NOT NULL,
        config_digest   TEXT NOT NULL,
        layers          TEXT NOT NULL,
        size_bytes      INTEGER NOT NULL,
        source          TEXT NOT NULL,
        pulled_at_ms    INTEGER NOT NULL
    );
    CREATE INDEX images_manifest ON images(manifest_digest);
    ALTER TABLE boxes ADD COLUMN image_digest TEXT;",
    // 3: the published ports a running box's shim bound (a JSON array; NULL when none).
    "ALTER TABLE boxes ADD COLUMN ports TEXT;",
];

/// The schema version this build writes.
pub(crate) const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

pub(super) fn migrate(conn: &mut Connection) -> Result<()> {
    let db = |e| Error::database("migrate database schema", e);
    // The common case, read without a write transaction: every open of a home would
    // otherwise serialise on SQLite's write lock with every other process using it.
    let current: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0)).map_err(db)?;
    if current == SCHEMA_VERSION {
        return Ok(());
    }
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(db)?;
    let current: i64 = tx.query_row("PRAGMA user_version", [], |r| r.get(0)).map_err(db)?;
    if !(0..=SCHEMA_VERSION).contains(&current) {
        return Err(Error::new(
            ErrorKind::Database,
            format!(
                "database schema version {current} is not one this boxlite knows \
                 (0..={SCHEMA_VERSION}); upgrade boxlite"
            ),
        ));
    }
    for sql in &MIGRATIONS[current as usize..] {
        tx.execute_batch(sql).map_err(db)?;
    }
    tx.pragma_update(None, "user_version", SCHEMA_VERSION).map_err(db)?;
    tx.commit().map_err(db)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrates_once_and_refuses_newer() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let mut conn = Connection::open(&path).unwrap();
        migrate(&mut conn).unwrap();
        migrate(&mut conn).unwrap();
        let v: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0)).unwrap();
        assert_eq!(v, SCHEMA_VERSION);
        conn.pragma_update(None, "user_version", SCHEMA_VERSION + 1).unwrap();
        let err = migrate(&mut conn).unwrap_err();
        assert!(err.to_string().contains("upgrade boxlite"), "{err}");
    }
}
