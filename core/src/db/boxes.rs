//! Box records: insert, look up, list, update state, delete.

use rusqlite::types::ValueRef;
use rusqlite::{params, ErrorCode, OptionalExtension, Row};

use super::Store;
use crate::error::{Error, ErrorKind, Result};
use crate::network::NetworkMode;
use crate::options::BoxOptions;
use crate::ports::PortSpec;
use crate::status::{BoxState, BoxStatus};

/// One row of `boxes`.
#[derive(Clone, Debug)]
pub(crate) struct BoxRecord {
    pub(crate) id: String,
    pub(crate) name: Option<String>,
    pub(crate) config: BoxOptions,
    pub(crate) created_at_ms: i64,
    pub(crate) state: BoxState,
    /// Why part of the row could not be read (a corrupt config, a status this version does
    /// not know…). Such a record is reported as `unknown` with that reason and can only be
    /// removed; the row itself is never rewritten, so nothing in it is lost.
    pub(crate) damage: Option<String>,
}

impl BoxRecord {
    /// This record reported as `unknown` because of `why` (nothing is persisted).
    pub(crate) fn into_damaged(mut self, why: String) -> Self {
        let s = &self.state;
        self.state = BoxState::from_parts(
            BoxStatus::Unknown,
            s.pid(),
            s.shim_start_ticks(),
            s.owner_pid(),
            Some(why.clone()),
            s.exit_code(),
            s.ports().to_vec(),
            s.updated_at_ms(),
        );
        self.damage = Some(why);
        self
    }
}

const COLUMNS: &str = "id, name, config, created_at_ms, status, pid, shim_start_ticks, owner_pid, \
                       error_reason, exit_code, updated_at_ms, ports";

/// Reads a row without failing on its contents: one undecodable row must not make a home
/// unreadable (issue: a row written by a newer version bricked every older client). Only a
/// failure of SQLite itself is an error.
fn from_row(row: &Row<'_>) -> rusqlite::Result<BoxRecord> {
    let mut damage: Vec<String> = Vec::new();
    let id = match text(row.get_ref(0)?) {
        Some(id) => id,
        None => {
            damage.push("the id is not text".into());
            String::from_utf8_lossy(&raw_bytes(row.get_ref(0)?)).into_owned()
        }
    };
    let name = match row.get_ref(1)? {
        ValueRef::Null => None,
        value => {
            let name = text(value);
            if name.is_none() {
                damage.push("the name is not text".into());
            }
            name
        }
    };
    let config = match text(row.get_ref(2)?).map(|json| stored_options(&json)) {
        Some(Ok(config)) => config,
        Some(Err(e)) => {
            damage.push(format!("its options are not valid JSON for this version: {e}"));
            BoxOptions::default()
        }
        None => {
            damage.push("its options are not text".into());
            BoxOptions::default()
        }
    };
    let status = match text(row.get_ref(4)?) {
        Some(name) => match name.parse::<BoxStatus>() {
            Ok(status) => status,
            Err(_) => {
                damage.push(format!("status {name:?} is not one this version knows"));
                BoxStatus::Unknown
            }
        },
        None => {
            damage.push("the status is not text".into());
            BoxStatus::Unknown
        }
    };
    let mut int = |col: usize, what: &str| -> Option<i64> {
        match row.get_ref(col) {
            Ok(ValueRef::Null) => None,
            Ok(ValueRef::Integer(v)) => Some(v),
            _ => {
                damage.push(format!("{what} is not an integer"));
                None
            }
        }
    };
    let created_at_ms = int(3, "the creation time").unwrap_or(0);
    let pid = int(5, "the pid").and_then(|v| u32::try_from(v).ok());
    let ticks = int(6, "the shim start time").and_then(|v| u64::try_from(v).ok());
    let owner = int(7, "the owner pid").and_then(|v| u32::try_from(v).ok());
    let exit_code = int(9, "the exit code").and_then(|v| i32::try_from(v).ok());
    let updated_at_ms = int(10, "the update time").unwrap_or(0);
    let error_reason = match row.get_ref(8)? {
        ValueRef::Null => None,
        value => Some(text(value).unwrap_or_else(|| "(unreadable)".into())),
    };
    // The bound ports are a JSON array, written by this code alone.
    let ports = match row.get_ref(11)? {
        ValueRef::Null => Vec::new(),
        value => match text(value).map(|json| serde_json::from_str::<Vec<PortSpec>>(&json)) {
            Some(Ok(ports)) => ports,
            _ => {
                damage.push("its bound ports are not valid JSON for this version".into());
                Vec::new()
            }
        },
    };
    let rec = BoxRecord {
        name,
        config,
        created_at_ms,
        state: BoxState::from_parts(
            status,
            pid,
            ticks,
            owner,
            error_reason,
            exit_code,
            ports,
            updated_at_ms,
        ),
        damage: None,
        id,
    };
    Ok(match damage.is_empty() {
        true => rec,
        false => {
            rec.into_damaged(format!("the box's record cannot be read: {}", damage.join("; ")))
        }
    })
}

/// A text value as a string; `None` for any other type or invalid UTF-8.
fn text(value: ValueRef<'_>) -> Option<String> {
    match value {
        ValueRef::Text(bytes) => std::str::from_utf8(bytes).ok().map(str::to_owned),
        _ => None,
    }
}

/// The bytes of a text or blob value (for naming a row whose id is not text).
fn raw_bytes(value: ValueRef<'_>) -> Vec<u8> {
    match value {
        ValueRef::Text(b) | ValueRef::Blob(b) => b.to_vec(),
        ValueRef::Integer(i) => i.to_string().into_bytes(),
        ValueRef::Real(f) => f.to_string().into_bytes(),
        ValueRef::Null => Vec::new(),
    }
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
            &format!(
                "INSERT INTO boxes ({COLUMNS}) VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12)"
            ),
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
                ports_json(s)?,
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
                 error_reason=?6, exit_code=?7, updated_at_ms=?8, ports=?9 WHERE id=?1",
                params![
                    id,
                    s.status().as_str(),
                    s.pid(),
                    s.shim_start_ticks().map(|t| t as i64),
                    s.owner_pid(),
                    s.error_reason(),
                    s.exit_code(),
                    s.updated_at_ms(),
                    ports_json(s)?,
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

/// The state's bound ports as stored: NULL when there are none.
fn ports_json(s: &BoxState) -> Result<Option<String>> {
    if s.ports().is_empty() {
        return Ok(None);
    }
    serde_json::to_string(s.ports())
        .map(Some)
        .map_err(|e| Error::new(ErrorKind::Internal, "encode a box's bound ports").with_source(e))
}

/// A stored configuration. Boxes made before the network's default became "enabled" stored
/// no `network` when it was "disabled": such a box keeps its loopback-only network rather
/// than gaining egress on an upgrade.
fn stored_options(json: &str) -> serde_json::Result<BoxOptions> {
    let mut value: serde_json::Value = serde_json::from_str(json)?;
    if let serde_json::Value::Object(fields) = &mut value {
        fields.entry("network").or_insert_with(|| NetworkMode::Disabled.as_str().into());
    }
    serde_json::from_value(value)
}
