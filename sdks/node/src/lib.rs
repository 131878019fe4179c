//! boxlite-node: the Node.js binding of `boxlite-core` (napi-rs).
//!
//! One file per core module, each doing nothing but type and error conversion:
//! `runtime.rs` ↔ `core/src/runtime/`, `litebox.rs` ↔ `litebox.rs`, `exec.rs` ↔ `exec/`,
//! `images.rs` ↔ `runtime/images.rs`, `files.rs` ↔ `files/`, `info.rs`, `options.rs`, `status.rs`, `error.rs`. Every method that touches the home or a box
//! returns a Promise: core's synchronous record calls (SQLite) run on tokio's blocking pool, its
//! async calls (start, stop, exec) on napi's tokio runtime, never on the JS thread. Promises
//! settle through [`error::Settled`], which keeps the core error code in `err.code`. The JS
//! layer (`sdks/node/lib/`) wraps these classes with upstream BoxLite's API.
#![deny(clippy::unwrap_used)]

// Public so that `cargo clippy --all-targets`, whose test build has no napi registration, does
// not see the exported functions as dead code.
pub mod error;
pub mod exec;
pub mod files;
pub mod images;
pub mod info;
pub mod litebox;
pub mod metrics;
pub mod options;
pub mod runtime;
pub mod status;
