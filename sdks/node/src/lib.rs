//! boxlite-node: the Node.js binding of `boxlite-core` (napi-rs).
//!
//! One file per core module, each doing nothing but type and error conversion:
//! `runtime.rs` ↔ `core/src/runtime/`, `litebox.rs` ↔ `litebox.rs`, `info.rs`, `options.rs`,
//! `status.rs`, `error.rs`. Core calls are synchronous (SQLite), so every async method runs its
//! call on tokio's blocking pool and settles the Promise through [`error::Settled`], which keeps
//! the core error code in `err.code`. The JS layer (`sdks/node/lib/`) re-exports these classes.
#![deny(clippy::unwrap_used)]

// Public so that `cargo clippy --all-targets`, whose test build has no napi registration, does
// not see the exported functions as dead code.
pub mod error;
pub mod info;
pub mod litebox;
pub mod options;
pub mod runtime;
pub mod status;
