//! The contracts between boxlite's processes, in one place:
//! - [`pb`]: the gRPC agent service between the host and the guest agent (`proto/`);
//! - [`launch`]: what the host hands the shim ([`launch::ShimSpec`]), what the shim hands the
//!   guest ([`launch::GuestConfig`] and the descriptors in [`launch::fds`]), and what comes
//!   back ([`launch::GuestReport`], [`launch::ExitRecord`]);
//! - [`oom_counter`]: the format of the box's OOM-kill counter, read by the shim and the agent;
//! - [`capabilities`]: capability names, the default set and how `cap_add`/`cap_drop` change it;
//! - [`seccomp`]: OCI seccomp profiles compiled into the BPF program the agent installs.

/// Generated gRPC types and the `Agent` client and server.
#[allow(missing_docs, clippy::all)]
pub mod pb {
    tonic::include_proto!("boxlite.v1");
}

pub mod allow;
pub mod archive;
pub mod capabilities;
pub mod launch;
pub mod oom_counter;
pub mod seccomp;

/// Version string the agent reports in `Ping`; the host refuses an agent of another version.
pub const PROTOCOL_VERSION: &str = concat!("boxlite-agent/", env!("CARGO_PKG_VERSION"));

/// Why an exec did not start, as typed data in the error status (never parsed from text).
pub mod exec_failure {
    use prost::Message;

    use crate::pb::{ExecFailure, ExecFailureDetail};

    /// An error status of `code` whose details say `reason`.
    pub fn status(code: tonic::Code, message: String, reason: ExecFailure) -> tonic::Status {
        let detail = ExecFailureDetail { reason: reason as i32 };
        tonic::Status::with_details(code, message, detail.encode_to_vec().into())
    }

    /// The reason carried by `status`, when it carries one.
    pub fn reason(status: &tonic::Status) -> Option<ExecFailure> {
        let detail = ExecFailureDetail::decode(status.details()).ok()?;
        match ExecFailure::try_from(detail.reason).ok()? {
            ExecFailure::Unspecified => None,
            known => Some(known),
        }
    }
}
