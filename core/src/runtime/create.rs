use std::fs::DirBuilder;
use std::os::unix::fs::DirBuilderExt;

use super::Runtime;
use crate::db::BoxRecord;
use crate::error::{Error, ErrorKind, Result};
use crate::litebox::LiteBox;
use crate::lock::FileLock;
use crate::options::{validate_name, BoxOptions};
use crate::status::{now_ms, BoxState};

impl Runtime {
    /// Persists a `configured` box and returns its handle; nothing runs yet. The image
    /// reference is stored as given and resolved at start.
    pub fn create(&self, options: BoxOptions, name: Option<&str>) -> Result<LiteBox> {
        self.check_open("create box")?;
        options.validate()?;
        if let Some(name) = name {
            validate_name(name)?;
        }
        let subject = name.map_or_else(|| "new box".to_string(), |n| format!("new box {n}"));
        crate::volumes::check_hosts(&options, &subject)?;
        let id = crate::id::new_box_id()?;
        // Held until the box's directory exists. Another process may find the new record (by
        // name, in a list) the moment it is inserted and remove the box at once; it takes this
        // lock first, so it can never delete the record before the directory is made and leave
        // that directory behind with no record to remove it by.
        let lock = FileLock::for_box(self.home(), &id)?;
        let rec = BoxRecord {
            id,
            name: name.map(str::to_owned),
            config: options,
            created_at_ms: now_ms(),
            state: BoxState::new(),
            damage: None,
        };
        if let Err(e) = self.store().insert_box(&rec) {
            drop(lock);
            self.remove_stray_lock(&rec.id);
            return Err(e);
        }
        let dir = self.home().box_dir(&rec.id);
        if let Err(e) = DirBuilder::new().mode(0o700).create(&dir) {
            // The record was never handed out: undo it so a failed create leaves nothing.
            let _ = self.store().delete_box(&rec.id);
            drop(lock);
            self.remove_stray_lock(&rec.id);
            return Err(Error::io(
                format!("create box {}: directory {}", rec.id, dir.display()),
                e,
            ));
        }
        drop(lock);
        self.counters().box_created();
        Ok(LiteBox::new(self.clone(), rec.id, rec.name))
    }

    /// The box named `name` if it exists, else a new one; the flag says whether it was created.
    /// Safe against another process creating the same name at the same moment.
    pub fn get_or_create(&self, options: BoxOptions, name: &str) -> Result<(LiteBox, bool)> {
        self.check_open("get or create box")?;
        validate_name(name)?;
        if let Some(existing) = self.store().box_by_name(name)? {
            return Ok((LiteBox::new(self.clone(), existing.id, existing.name), false));
        }
        match self.create(options, Some(name)) {
            Ok(created) => Ok((created, true)),
            Err(e) if e.kind() == ErrorKind::AlreadyExists => {
                match self.store().box_by_name(name)? {
                    Some(rec) => Ok((LiteBox::new(self.clone(), rec.id, rec.name), false)),
                    None => Err(e),
                }
            }
            Err(e) => Err(e),
        }
    }
}
