//! The guest agent's workings, as a library: the `boxlite-guest` binary (src/main.rs) is the
//! agent itself; the fuzz target `exec_request` (fuzz/) drives the request planning through
//! [`fuzzing`]. Not a stable API: nothing outside this repository links it.

pub mod boot;
pub mod caps;
pub mod child;
pub mod exec;
pub mod files;
pub mod fuzzing;
pub mod main_cmd;
pub mod oom;
pub mod output;
pub mod plan;
pub mod pty;
pub mod reaper;
pub mod report;
pub mod root;
pub mod seccomp;
pub mod service;
pub mod shutdown;
pub mod spawn;
pub mod sys;
pub mod users;
