use super::Runtime;
use crate::db::BoxRecord;
use crate::error::{Error, ErrorKind, Result};
use crate::id::is_id_like;
use crate::info::BoxInfo;
use crate::litebox::LiteBox;

impl Runtime {
    /// The box with this id, name, or unique id prefix; `None` if there is none. An id prefix
    /// matching several boxes is an `InvalidArgument` error.
    pub fn get(&self, id_or_name: &str) -> Result<Option<LiteBox>> {
        self.check_open("get box")?;
        Ok(self.resolve(id_or_name)?.map(|rec| LiteBox::new(self.clone(), rec.id, rec.name)))
    }

    /// Info of the box with this id, name, or unique id prefix.
    pub fn get_info(&self, id_or_name: &str) -> Result<Option<BoxInfo>> {
        self.check_open("get box info")?;
        Ok(self.resolve(id_or_name)?.map(BoxInfo::from))
    }

    /// Every box, newest first. A box that cannot be reconciled is listed as `unknown` with
    /// the reason; it never hides the others.
    pub fn list_info(&self) -> Result<Vec<BoxInfo>> {
        self.check_open("list boxes")?;
        let records = self.store().list_boxes()?;
        Ok(records
            .into_iter()
            .map(|rec| match self.reconciled(rec.clone()) {
                Ok(rec) => BoxInfo::from(rec),
                Err(e) => BoxInfo::from(rec.into_damaged(format!("reconcile failed: {e}"))),
            })
            .collect())
    }

    /// Exact id, then exact name, then unique id prefix; reconciled (see
    /// [`Runtime::reconciled`]).
    pub(crate) fn resolve(&self, key: &str) -> Result<Option<BoxRecord>> {
        match self.lookup(key)? {
            Some(rec) => self.reconciled(rec).map(Some),
            None => Ok(None),
        }
    }

    fn lookup(&self, key: &str) -> Result<Option<BoxRecord>> {
        if key.is_empty() {
            return Err(Error::invalid_argument("box id or name is empty"));
        }
        if let Some(rec) = self.store().box_by_id(key)? {
            return Ok(Some(rec));
        }
        if let Some(rec) = self.store().box_by_name(key)? {
            return Ok(Some(rec));
        }
        if !is_id_like(key) {
            return Ok(None);
        }
        let mut matches = self.store().boxes_by_id_prefix(key)?;
        match matches.len() {
            0 | 1 => Ok(matches.pop()),
            _ => Err(Error::new(
                ErrorKind::InvalidArgument,
                format!("box id prefix {key:?} is ambiguous: give more characters"),
            )),
        }
    }

    /// Like [`Runtime::resolve`], but a missing box is a `NotFound` error naming `key`.
    pub(crate) fn resolve_existing(&self, key: &str) -> Result<BoxRecord> {
        self.resolve(key)?.ok_or_else(|| Error::not_found(format!("no such box: {key}")))
    }
}
