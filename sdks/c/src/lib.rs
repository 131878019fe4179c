//! The C binding of boxlite: `libboxlite.so` / `libboxlite.a` with the header
//! `include/boxlite.h`, generated from this crate by cbindgen (see `build.rs`).
//!
//! The modules mirror boxlite-core file for file and only convert types, ownership and errors:
//! [`runtime`] (open, create, lookup, remove, shutdown), [`litebox`] (the box handle: start,
//! stop, info), [`exec`] (commands and executions: streams, stdin, signals, the result),
//! [`info`] (box info and lists), [`metrics`] (a box's and a runtime's metrics), [`files`]
//! (copies in and out of a box, small-file reads, writes and listings), [`images`] (pull,
//! list, inspect, remove, prune of images), [`options`] (box and runtime options from JSON),
//! [`status`] (status names), [`error`] (codes and error objects), and [`simple`], the
//! blocking one-call API.
//! [`ffi`] holds the boundary helpers every exported function goes through: argument
//! checking, panic catching and the error out-parameter; [`blocking`] the tokio runtime the
//! blocking calls wait on.
//!
//! The conventions every function follows are written once, at the top of the header
//! (`cbindgen.toml`'s `header`).
#![deny(missing_docs)]
#![deny(unsafe_op_in_unsafe_fn)]

use std::ffi::{c_char, CStr};

pub mod blocking;
pub mod error;
pub mod exec;
pub mod ffi;
pub mod files;
pub mod images;
pub mod info;
pub mod litebox;
pub mod metrics;
pub mod options;
pub mod runtime;
pub mod simple;
pub mod status;

/// A `timeout_ms` of a wait that means "no deadline: wait until it happens".
pub const BOXLITE_WAIT_FOREVER: u64 = u64::MAX;

/// The grace period core gives a box's processes between SIGTERM and SIGKILL when stopping it,
/// for `boxlite_box_stop()` and `boxlite_runtime_shutdown()` callers without an opinion.
pub const BOXLITE_DEFAULT_STOP_TIMEOUT_MS: u64 = 10_000;

// The constant above is core's default written out (cbindgen cannot evaluate a call).
const _: () = assert!(
    BOXLITE_DEFAULT_STOP_TIMEOUT_MS as u128 == boxlite_core::DEFAULT_STOP_TIMEOUT.as_millis()
);

/// The library's version ("0.1.0"), the version of the boxlite crates it was built from. The
/// string is static: never free it.
#[no_mangle]
pub extern "C" fn boxlite_version() -> *const c_char {
    const VERSION: &CStr =
        match CStr::from_bytes_with_nul(concat!(env!("CARGO_PKG_VERSION"), "\0").as_bytes()) {
            Ok(v) => v,
            Err(_) => panic!("CARGO_PKG_VERSION holds a NUL"),
        };
    VERSION.as_ptr()
}
