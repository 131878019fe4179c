//! End-to-end tests of the guest agent: the real binary, its launch descriptors, gRPC over its
//! unix socket, and what the processes it runs really did.

mod harness;

mod exec_errors;
mod exec_io;
mod exec_signals;
mod main_cmd;
mod memory;
mod oom;
mod privileges;
mod reaping;
mod seccomp;
mod shutdown;
mod tty;
mod users;
