//! Image records: which manifest a reference names, and what it holds.

use rusqlite::{params, OptionalExtension, Row};

use super::Store;
use crate::error::{Error, Result};

/// One row of `images`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ImageRecord {
    /// Canonical reference: `docker.io/library/alpine:latest`, `oci:/abs/dir:tag`, …
    pub(crate) reference: String,
    /// `docker.io/library/alpine`, or the local source without its tag.
    pub(crate) repository: String,
    pub(crate) tag: Option<String>,
    /// The platform manifest's digest: the image id.
    pub(crate) manifest_digest: String,
    pub(crate) config_digest: String,
    /// Layer blob digests, in order.
    pub(crate) layers: Vec<String>,
    pub(crate) size_bytes: u64,
    /// Where it came from: the registry host that served it, or `local`.
    pub(crate) source: String,
    pub(crate) pulled_at_ms: i64,
}

const COLUMNS: &str = "reference, repository, tag, manifest_digest, config_digest, layers, \
                       size_bytes, source, pulled_at_ms";

fn from_row(row: &Row<'_>) -> rusqlite::Result<ImageRecord> {
    let reference: String = row.get(0)?;
    let layers_json: String = row.get(5)?;
    let layers: Vec<String> = serde_json::from_str(&layers_json).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(
            5,
            rusqlite::types::Type::Text,
            format!("image {reference}: corrupt layer list: {e}").into(),
        )
    })?;
    Ok(ImageRecord {
        repository: row.get(1)?,
        tag: row.get(2)?,
        manifest_digest: row.get(3)?,
        config_digest: row.get(4)?,
        layers,
        size_bytes: row.get::<_, i64>(6)?.max(0) as u64,
        source: row.get(7)?,
        pulled_at_ms: row.get(8)?,
        reference,
    })
}

impl Store {
    /// Inserts or replaces the record of `rec.reference` (a tag that moved points anew).
    pub(crate) fn put_image(&self, rec: &ImageRecord) -> Result<()> {
        let layers = serde_json::to_string(&rec.layers).map_err(|e| {
            Error::new(crate::ErrorKind::Internal, "serialize layers").with_source(e)
        })?;
        self.conn()
            .execute(
                &format!("INSERT OR REPLACE INTO images ({COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?)"),
                params![
                    rec.reference,
                    rec.repository,
                    rec.tag,
                    rec.manifest_digest,
                    rec.config_digest,
                    layers,
                    rec.size_bytes as i64,
                    rec.source,
                    rec.pulled_at_ms
                ],
            )
            .map_err(|e| Error::database(format!("record image {}", rec.reference), e))?;
        Ok(())
    }

    pub(crate) fn image(&self, reference: &str) -> Result<Option<ImageRecord>> {
        self.conn()
            .query_row(
                &format!("SELECT {COLUMNS} FROM images WHERE reference = ?"),
                [reference],
                from_row,
            )
            .optional()
            .map_err(|e| Error::database(format!("read image {reference}"), e))
    }

    /// Records of images whose manifest digest starts with `prefix` (`sha256:` included).
    pub(crate) fn images_by_digest_prefix(&self, prefix: &str) -> Result<Vec<ImageRecord>> {
        let pattern = format!("{}%", prefix.replace(['%', '_'], ""));
        self.query_images("WHERE manifest_digest LIKE ?", &pattern, "find images by id")
    }

    /// Every image record, newest first.
    pub(crate) fn list_images(&self) -> Result<Vec<ImageRecord>> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare(&format!("SELECT {COLUMNS} FROM images ORDER BY pulled_at_ms DESC, reference"))
            .map_err(|e| Error::database("list images", e))?;
        let rows = stmt
            .query_map([], from_row)
            .map_err(|e| Error::database("list images", e))?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(|e| Error::database("list images", e))?;
        Ok(rows)
    }

    fn query_images(&self, filter: &str, arg: &str, what: &str) -> Result<Vec<ImageRecord>> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare(&format!("SELECT {COLUMNS} FROM images {filter}"))
            .map_err(|e| Error::database(what, e))?;
        let rows = stmt
            .query_map([arg], from_row)
            .map_err(|e| Error::database(what, e))?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(|e| Error::database(what, e))?;
        Ok(rows)
    }

    pub(crate) fn delete_image(&self, reference: &str) -> Result<bool> {
        let n = self
            .conn()
            .execute("DELETE FROM images WHERE reference = ?", [reference])
            .map_err(|e| Error::database(format!("remove image {reference}"), e))?;
        Ok(n > 0)
    }

    /// Records the manifest box `id` runs from (set at start, kept after stop).
    pub(crate) fn set_box_image(&self, id: &str, manifest_digest: &str) -> Result<()> {
        self.conn()
            .execute("UPDATE boxes SET image_digest = ? WHERE id = ?", params![manifest_digest, id])
            .map_err(|e| Error::database(format!("record image of box {id}"), e))?;
        Ok(())
    }

    /// `(box id, image reference as given, manifest digest started from)` of every box.
    pub(crate) fn box_images(&self) -> Result<Vec<(String, String, Option<String>)>> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare("SELECT id, json_extract(config, '$.image'), image_digest FROM boxes")
            .map_err(|e| Error::database("list box images", e))?;
        let rows = stmt
            .query_map([], |r| {
                Ok((r.get(0)?, r.get::<_, Option<String>>(1)?.unwrap_or_default(), r.get(2)?))
            })
            .map_err(|e| Error::database("list box images", e))?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(|e| Error::database("list box images", e))?;
        Ok(rows)
    }
}
