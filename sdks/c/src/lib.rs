//! The C binding of boxlite: `libboxlite.so` / `libboxlite.a` with the header
//! `include/boxlite.h`, generated from this crate by cbindgen (see `build.rs`).
//!
//! The modules mirror boxlite-core file for file and only convert types, ownership and errors:
//! [`runtime`] (open, create, lookup, remove), [`info`] (box info and lists), [`options`]
//! (box options from JSON), [`status`] (status names), [`error`] (codes and error objects).
//! [`ffi`] holds the boundary helpers every exported function goes through: argument
//! checking, panic catching and the error out-parameter.
//!
//! The conventions every function follows are written once, at the top of the header
//! (`cbindgen.toml`'s `header`).
#![deny(missing_docs)]
#![deny(unsafe_op_in_unsafe_fn)]

pub mod error;
pub mod ffi;
pub mod info;
pub mod options;
pub mod runtime;
pub mod status;
