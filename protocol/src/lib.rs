//! The contracts between boxlite's processes, in one place:
//! - [`pb`]: the gRPC agent service between the host and the guest agent (`proto/`);
//! - [`launch`]: what the host hands the shim ([`launch::ShimSpec`]), what the shim hands the
//!   guest ([`launch::GuestConfig`] and the descriptors in [`launch::fds`]), and what comes
//!   back ([`launch::GuestReport`], [`launch::ExitRecord`]).

/// Generated gRPC types and the `Agent` client and server.
#[allow(missing_docs, clippy::all)]
pub mod pb {
    tonic::include_proto!("boxlite.v1");
}

pub mod launch;

/// Version string the agent reports in `Ping`; the host refuses an agent of another version.
pub const PROTOCOL_VERSION: &str = concat!("boxlite-agent/", env!("CARGO_PKG_VERSION"));
