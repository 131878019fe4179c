//! [`Runtime`]: the entry point. Owns the home directory and the database.

mod create;
mod fail;
mod lookup;
mod remove;

use std::path::Path;
use std::sync::Arc;

use crate::db::Store;
use crate::error::Result;
use crate::home::Home;
use crate::lock::FileLock;
use crate::options::RuntimeOptions;

/// An open home directory. Cheap to clone; clones share one database connection.
#[derive(Clone, Debug)]
pub struct Runtime {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    home: Home,
    store: Store,
}

impl Runtime {
    /// Opens the home in `options` (created if missing) and migrates its database. Several
    /// processes may open the same home at once.
    pub fn open(options: RuntimeOptions) -> Result<Self> {
        let root = match options.home_dir {
            Some(dir) => dir,
            None => Home::default_root()?,
        };
        let home = Home::create(root)?;
        // Switching a fresh database to WAL takes an exclusive lock for which SQLite does not
        // wait (busy handler not invoked), so concurrent first opens are serialised here.
        let store = {
            let _open = FileLock::acquire(&home.db_open_lock_path(), "database open")?;
            Store::open(&home.db_path())?
        };
        Ok(Runtime { inner: Arc::new(Inner { home, store }) })
    }

    /// Opens `$BOXLITE_HOME`, else `~/.boxlite`.
    #[allow(clippy::should_implement_trait)]
    pub fn default() -> Result<Self> {
        Self::open(RuntimeOptions::default())
    }

    /// The home directory.
    pub fn home_dir(&self) -> &Path {
        self.inner.home.root()
    }

    pub(crate) fn home(&self) -> &Home {
        &self.inner.home
    }

    pub(crate) fn store(&self) -> &Store {
        &self.inner.store
    }
}
