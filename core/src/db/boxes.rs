//! Box records: insert, look up, list, update state, delete.

use rusqlite::{params, ErrorCode, OptionalExtension, Row};

use super::Store;
use crate::error::{Error, ErrorKind, Result};
use crate::options::BoxOptions;
use crate::status::{BoxState, BoxStatus};

/// One row of `boxes`.
#[derive(Clone, Debug)]
pub(crate) struct BoxRecord {
    pub(crate) id: String,
    pub(crate) name: Option<String>,
    pub(crate) config: BoxOptions,
    pub(crate) created_at_ms: i64,
    pub(crate) state: BoxState,
}

const COLUMNS: &str = "id, name, config, created_at_ms, status, pid, shim_start_ticks, owner_pid, \
                       error_reason, exit_code, updated_at_ms";

fn from_row(row: &Row<'_>) -> rusqlite::Result<BoxRecord> {
    let id: String = row.get(0)?;
    let bad = |col: usize, what: String| {
        rusqlite::Error::FromSqlConversionFailure(
            col,
            rusqlite::types::Type::Text,
            format!("box {id}: {what}").into(),
        )
    };
    let config_json: String = row.get(2)?;
    let config: BoxOptions =
        serde_json::from_str(&config_json).map_err(|e| bad(2, format!("corrupt config: {e}")))?;
    let status_name: String = row.get(4)?;
    let status: BoxStatus = status_name.parse().map_err(|e: Error| bad(4, e.to_string()))?;
    Ok(BoxRecord {
        name: row.get(1)?,
        config,
        created_at_ms: row.get(3)?,
        state: BoxState::from_parts(
            status,
            row.get(5)?,
            row.get::<_, Option<i64>>(6)?.map(|t| t as u64),
            row.get(7)?,
            row.get(8)?,
            row.get(9)?,
            row.get(10)?,
        ),
        id,
    })
}

impl Store {
    /// Inserts a new record; a taken name or id is `AlreadyExists`.
    pub(crate) fn insert_box(&self, rec: &BoxRecord) -> Result<()> {
        let config = serde_json::to_string(&rec.config).map_err(|e| {
            Error::new(ErrorKind::Internal, format!("serialize config of box {}", rec.id))
                .with_source(e)
        })?;
        let s = &rec.state;
        let result = self.conn().execute(
            &format!("INSERT INTO boxes ({COLUMNS}) VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11)"),
            params![
                rec.id,
                rec.name,
                config,
                rec.created_at_ms,
                s.status().as_str(),
                s.pid(),
                s.shim_start_ticks().map(|t| t as i64),
                s.owner_pid(),
                s.error_reason(),
                s.exit_code(),
                s.updated_at_ms(),
            ],
        );
        match result {
            Ok(_) => Ok(()),
            Err(rusqlite::Error::SqliteFailure(e, _))
                if e.code == ErrorCode::ConstraintViolation =>
            {
                let what = match &rec.name {
                    Some(name) => format!("a box named {name:?} already exists"),
                    None => format!("a box with id {} already exists", rec.id),
                };
                Err(Error::new(ErrorKind::AlreadyExists, what))
            }
            Err(e) => Err(Error::database(format!("insert box {}", rec.id), e)),
        }
    }

    /// The record with exactly this id.
    pub(crate) fn box_by_id(&self, id: &str) -> Result<Option<BoxRecord>> {
        self.query_one(&format!("SELECT {COLUMNS} FROM boxes WHERE id = ?1"), id)
    }

    /// The record with exactly this name.
    pub(crate) fn box_by_name(&self, name: &str) -> Result<Option<BoxRecord>> {
        self.query_one(&format!("SELECT {COLUMNS} FROM boxes WHERE name = ?1"), name)
    }

    /// Records whose id starts with `prefix` (at most two: enough to detect ambiguity).
    pub(crate) fn boxes_by_id_prefix(&self, prefix: &str) -> Result<Vec<BoxRecord>> {
        let conn = self.conn();
        let ctx = || format!("look up box id prefix {prefix:?}");
        let mut stmt = conn
            .prepare_cached(&format!(
                "SELECT {COLUMNS} FROM boxes WHERE substr(id, 1, length(?1)) = ?1 LIMIT 2"
            ))
            .map_err(|e| Error::database(ctx(), e))?;
        let rows = stmt.query_map([prefix], from_row).map_err(|e| Error::database(ctx(), e))?;
        rows.collect::<rusqlite::Result<_>>().map_err(|e| Error::database(ctx(), e))
    }

    /// Every record, newest first.
    pub(crate) fn list_boxes(&self) -> Result<Vec<BoxRecord>> {
        let conn = self.conn();
        let ctx = || "list boxes".to_string();
        let mut stmt = conn
            .prepare_cached(&format!(
                "SELECT {COLUMNS} FROM boxes ORDER BY created_at_ms DESC, rowid DESC"
            ))
            .map_err(|e| Error::database(ctx(), e))?;
        let rows = stmt.query_map([], from_row).map_err(|e| Error::database(ctx(), e))?;
        rows.collect::<rusqlite::Result<_>>().map_err(|e| Error::database(ctx(), e))
    }

    /// Persists `state` for box `id`; `NotFound` if the record is gone.
    pub(crate) fn update_state(&self, id: &str, s: &BoxState) -> Result<()> {
        let changed = self
            .conn()
            .execute(
                "UPDATE boxes SET status=?2, pid=?3, shim_start_ticks=?4, owner_pid=?5, \
                 error_reason=?6, exit_code=?7, updated_at_ms=?8 WHERE id=?1",
                params![
                    id,
                    s.status().as_str(),
                    s.pid(),
                    s.shim_start_ticks().map(|t| t as i64),
                    s.owner_pid(),
                    s.error_reason(),
                    s.exit_code(),
                    s.updated_at_ms(),
                ],
            )
            .map_err(|e| Error::database(format!("update state of box {id}"), e))?;
        if changed == 0 {
            return Err(Error::not_found(format!("update state of box {id}: no such box")));
        }
        Ok(())
    }

    /// Deletes the record; returns whether it existed.
    pub(crate) fn delete_box(&self, id: &str) -> Result<bool> {
        let n = self
            .conn()
            .execute("DELETE FROM boxes WHERE id = ?1", [id])
            .map_err(|e| Error::database(format!("delete box {id}"), e))?;
        Ok(n > 0)
    }

    fn query_one(&self, sql: &str, key: &str) -> Result<Option<BoxRecord>> {
        let conn = self.conn();
        let ctx = || format!("look up box {key:?}");
        let mut stmt = conn.prepare_cached(sql).map_err(|e| Error::database(ctx(), e))?;
        stmt.query_row([key], from_row).optional().map_err(|e| Error::database(ctx(), e))
    }
}
