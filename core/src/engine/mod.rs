//! How a box is isolated. The lifecycle, the database and the protocol do not care; an engine
//! only turns a launch request into a running shim with its pipes.

mod namespaces;

use std::path::PathBuf;
use std::process::{Child, ChildStdin, ChildStdout};

use boxlite_protocol::launch::ShimSpec;

pub(crate) use namespaces::NamespacesEngine;

use crate::error::Result;

/// Everything an engine needs to launch one box.
#[derive(Debug)]
pub(crate) struct LaunchRequest {
    pub(crate) spec: ShimSpec,
    /// Where the spec is written for the shim.
    pub(crate) spec_path: PathBuf,
    /// The box's live log: the shim's stderr until it has read its spec, which names the
    /// same file (`spec.log.path`) for the bounded log it writes from then on.
    pub(crate) log_path: PathBuf,
}

/// A launched shim. `ready` yields the agent's ready line; `liveness` is held by the host
/// while it lives (non-detached boxes only): the shim stops the box when it reaches EOF.
#[derive(Debug)]
pub(crate) struct Launched {
    pub(crate) child: Child,
    pub(crate) ready: ChildStdout,
    pub(crate) liveness: Option<ChildStdin>,
}

/// An isolation engine.
pub(crate) trait Engine: Send + Sync + std::fmt::Debug {
    /// Starts the shim for `request`. Must not fork the host process (docs/architecture.md,
    /// "Processes": fork from a large host costs tens of milliseconds; posix_spawn does not).
    fn launch(&self, request: &LaunchRequest) -> Result<Launched>;
}
