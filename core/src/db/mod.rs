//! SQLite storage: one connection per runtime, WAL so several processes can share a home.

mod boxes;
mod images;
mod schema;

use std::path::Path;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use rusqlite::Connection;

pub(crate) use boxes::BoxRecord;
pub(crate) use images::ImageRecord;

use crate::error::{Error, Result};

/// How long a writer waits for another process's transaction before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// The state database.
#[derive(Debug)]
pub(crate) struct Store {
    conn: Mutex<Connection>,
}

impl Store {
    /// Opens (creating if needed) and migrates the database at `path`.
    pub(crate) fn open(path: &Path) -> Result<Self> {
        let ctx = || format!("open database {}", path.display());
        let mut conn = Connection::open(path).map_err(|e| Error::database(ctx(), e))?;
        conn.busy_timeout(BUSY_TIMEOUT).map_err(|e| Error::database(ctx(), e))?;
        // WAL lets readers run beside a writer in another process; FULL makes a committed
        // transition survive power loss, which is what "never loses a box" needs.
        let mode: String = conn
            .query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))
            .map_err(|e| Error::database(ctx(), e))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(Error::new(
                crate::ErrorKind::Database,
                format!("{}: journal mode is {mode}, WAL is required", ctx()),
            ));
        }
        conn.execute_batch("PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;")
            .map_err(|e| Error::database(ctx(), e))?;
        schema::migrate(&mut conn)?;
        Ok(Store { conn: Mutex::new(conn) })
    }

    /// The connection; a poisoned lock is still usable because every write is one transaction.
    fn conn(&self) -> MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}
