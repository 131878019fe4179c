//! [`Runtime`]: the entry point. Owns the home directory, the database, the image store and
//! the boxes this process started.

mod create;
mod exit;
mod fail;
mod guard;
mod images;
mod lookup;
mod reconcile;
mod remove;
mod service;
mod shutdown;
mod start;
mod stop;
#[cfg(test)]
mod tests;

pub use images::{ImageHandle, ImageInfo, PruneReport};

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::ChildStdin;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use crate::agent::Agent;
use crate::db::Store;
use crate::engine::{Engine, NamespacesEngine};
use crate::error::{Error, Result};
use crate::home::Home;
use crate::images::{ImageStore, Remote};
use crate::lock::FileLock;
use crate::options::RuntimeOptions;
use crate::shim::{ShimHandle, ShimReaper};

/// An open home directory. Cheap to clone; clones share one database connection and one
/// set of running boxes.
#[derive(Clone, Debug)]
pub struct Runtime {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    home: Home,
    store: Store,
    images: ImageStore,
    /// Registry clients, configured from the options, environment and home config file.
    remote: Remote,
    options: RuntimeOptions,
    /// Set on first start (a runtime that only reads records needs no shim binary).
    engine: OnceLock<Arc<dyn Engine>>,
    /// The `boxlite-shim` found on first start.
    shim_path: OnceLock<PathBuf>,
    reaper: OnceLock<ShimReaper>,
    live: Mutex<HashMap<String, LiveBox>>,
    /// What went through this runtime ([`crate::RuntimeMetrics`], [`crate::BoxMetrics`]).
    counters: crate::metrics::Counters,
    /// Set by [`Runtime::shutdown`]: from then on every operation but another shutdown fails.
    shut_down: std::sync::atomic::AtomicBool,
}

/// A box whose shim this process knows: started here, or re-attached after reconcile.
#[derive(Debug)]
pub(crate) struct LiveBox {
    /// Our own child (reaped by the ShimReaper); `None` for a shim started by another process.
    pub(crate) shim: Option<ShimHandle>,
    /// Write end of the shim's liveness pipe (non-detached boxes). Never written: it is held
    /// for its drop, whose EOF tells the shim to stop the box.
    #[allow(dead_code)]
    pub(crate) liveness: Option<ChildStdin>,
    pub(crate) agent: Option<Agent>,
    pub(crate) detach: bool,
    /// The main command's event stream, opened by start (opening it is what starts the main
    /// command, so no output is missed); the first `attach_main` takes it.
    pub(crate) main_stream: Option<tonic::Streaming<boxlite_protocol::pb::ExecEvent>>,
}

impl Runtime {
    /// Opens the home in `options` (created if missing) and migrates its database. Boxes are
    /// reconciled with the processes actually running when a call touches them, so opening
    /// costs the same with one box or thousands. Several processes may open the same home at
    /// once.
    pub fn open(options: RuntimeOptions) -> Result<Self> {
        let root = match &options.home_dir {
            Some(dir) => dir.clone(),
            None => Home::default_root()?,
        };
        options.resolved_guest_ready_timeout()?;
        let home = Home::create(root)?;
        // Switching a fresh database to WAL takes an exclusive lock for which SQLite does not
        // wait (busy handler not invoked), so concurrent first opens are serialised here.
        let store = {
            let _open = FileLock::acquire(&home.db_open_lock_path(), "database open")?;
            Store::open(&home.db_path())?
        };
        let images = ImageStore::new(&home);
        let remote = Remote::new(options.image_registries.clone(), home.root())?;
        let rt = Runtime {
            inner: Arc::new(Inner {
                home,
                store,
                images,
                remote,
                options,
                engine: OnceLock::new(),
                shim_path: OnceLock::new(),
                reaper: OnceLock::new(),
                live: Mutex::default(),
                counters: Default::default(),
                shut_down: Default::default(),
            }),
        };
        Ok(rt)
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

    /// `InvalidState` once [`Runtime::shutdown`] was called: a shut-down runtime starts and
    /// creates nothing, so no box can outlive the shutdown unaccounted.
    pub(crate) fn check_open(&self, what: &str) -> Result<()> {
        if self.inner.shut_down.load(std::sync::atomic::Ordering::Acquire) {
            return Err(Error::new(
                crate::ErrorKind::InvalidState,
                format!("{what}: the runtime on {} was shut down", self.home_dir().display()),
            ));
        }
        Ok(())
    }

    pub(crate) fn mark_shut_down(&self) {
        self.inner.shut_down.store(true, std::sync::atomic::Ordering::Release);
    }

    pub(crate) fn home(&self) -> &Home {
        &self.inner.home
    }

    pub(crate) fn store(&self) -> &Store {
        &self.inner.store
    }

    pub(crate) fn image_store(&self) -> &ImageStore {
        &self.inner.images
    }

    pub(crate) fn remote(&self) -> &Remote {
        &self.inner.remote
    }

    pub(crate) fn options(&self) -> &RuntimeOptions {
        &self.inner.options
    }

    pub(crate) fn counters(&self) -> &crate::metrics::Counters {
        &self.inner.counters
    }

    pub(crate) fn live(&self) -> MutexGuard<'_, HashMap<String, LiveBox>> {
        self.inner.live.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn reaper(&self) -> Result<&ShimReaper> {
        if let Some(r) = self.inner.reaper.get() {
            return Ok(r);
        }
        let reaper = ShimReaper::new()?;
        // A concurrent first start may have won; its reaper is as good as ours.
        Ok(self.inner.reaper.get_or_init(|| reaper))
    }

    /// The shim binary, searched for once (option, environment, next to the program, PATH).
    pub(crate) fn shim_path(&self) -> Result<&PathBuf> {
        if let Some(path) = self.inner.shim_path.get() {
            return Ok(path);
        }
        let found = crate::binaries::find_shim(self.inner.options.shim_path.as_deref())?;
        Ok(self.inner.shim_path.get_or_init(|| found))
    }

    pub(crate) fn engine(&self) -> Result<Arc<dyn Engine>> {
        if let Some(e) = self.inner.engine.get() {
            return Ok(e.clone());
        }
        let engine: Arc<dyn Engine> = Arc::new(NamespacesEngine::new(self.shim_path()?.clone()));
        Ok(self.inner.engine.get_or_init(|| engine).clone())
    }

    /// Replaces the engine (fault-injection tests wrap the real one).
    #[cfg(test)]
    pub(crate) fn set_engine(&self, engine: Arc<dyn Engine>) {
        let _ = self.inner.engine.set(engine);
    }

    /// Takes the per-box lock without blocking the async executor.
    pub(crate) async fn lock_box(&self, id: &str) -> Result<FileLock> {
        let rt = self.clone();
        let id = id.to_string();
        tokio::task::spawn_blocking(move || rt.lock_box_blocking(&id))
            .await
            .map_err(|e| Error::new(crate::ErrorKind::Internal, format!("lock task: {e}")))?
    }

    /// The lock of box `id` (an exact id), once the box is known to still exist. Waiting for the
    /// lock may have let a remover delete the box and its lock file; taking the lock then
    /// re-created the file, which is deleted again here so no removed box leaves one behind.
    pub(crate) fn lock_box_blocking(&self, id: &str) -> Result<FileLock> {
        let lock = FileLock::for_box(self.home(), id)?;
        if self.store().box_by_id(id)?.is_some() {
            return Ok(lock);
        }
        self.remove_stray_lock(id);
        Err(Error::not_found(format!("no such box: {id} (removed concurrently)")))
    }

    /// Deletes the lock file of box `id`, whose record is gone: taking its lock after the
    /// remover deleted the file re-created it. Best effort, as nothing depends on it: ids are
    /// never reused, so a lock file without its box guards nothing.
    pub(crate) fn remove_stray_lock(&self, id: &str) {
        let _ = std::fs::remove_file(self.home().box_lock_path(id));
    }
}
