//! The host side of the host↔guest protocol: connecting to a box's agent and waiting for it
//! to become ready.

mod ready;

use std::path::{Path, PathBuf};

use boxlite_protocol::pb::agent_client::AgentClient;
use boxlite_protocol::pb::PingRequest;
use hyper_util::rt::TokioIo;
use tokio::net::UnixStream;
use tonic::transport::{Channel, Endpoint, Uri};

pub(crate) use ready::{wait_for_guest_ready, ReadyContext};

use crate::error::{Error, ErrorKind, Result};

/// A connected agent client; cheap to clone (one HTTP/2 connection underneath).
pub(crate) type Agent = AgentClient<Channel>;

/// Connects to the agent listening on `socket` and checks it speaks our protocol version.
pub(crate) async fn connect(box_id: &str, socket: &Path) -> Result<Agent> {
    let path: PathBuf = socket.to_path_buf();
    // The URI is required by tonic but unused: the connector dials the unix socket.
    let channel = Endpoint::from_static("http://boxlite.agent")
        .connect_with_connector(tower::service_fn(move |_: Uri| {
            let path = path.clone();
            async move { Ok::<_, std::io::Error>(TokioIo::new(UnixStream::connect(path).await?)) }
        }))
        .await
        .map_err(|e| {
            Error::new(
                ErrorKind::Engine,
                format!("box {box_id}: connect to agent at {}", socket.display()),
            )
            .with_source(e)
        })?;
    let mut client = AgentClient::new(channel);
    let pong = client
        .ping(PingRequest {})
        .await
        .map_err(|s| status_error(box_id, "ping agent", s))?
        .into_inner();
    if pong.version != boxlite_protocol::PROTOCOL_VERSION {
        return Err(Error::new(
            ErrorKind::Engine,
            format!(
                "box {box_id}: agent speaks {}, this library {}; rebuild boxlite-guest",
                pong.version,
                boxlite_protocol::PROTOCOL_VERSION
            ),
        ));
    }
    Ok(client)
}

/// A gRPC failure talking to the agent of `box_id` during `what`.
pub(crate) fn status_error(box_id: &str, what: &str, status: tonic::Status) -> Error {
    use boxlite_protocol::pb::ExecFailure;
    use tonic::Code;
    let kind = match (boxlite_protocol::exec_failure::reason(&status), status.code()) {
        (Some(ExecFailure::CommandNotFound), _) => ErrorKind::CommandNotFound,
        (Some(ExecFailure::NotExecutable), _) => ErrorKind::NotExecutable,
        (Some(ExecFailure::BadWorkingDir), _) => ErrorKind::BadWorkingDir,
        (_, Code::NotFound | Code::PermissionDenied | Code::FailedPrecondition) => ErrorKind::Exec,
        (_, Code::InvalidArgument) => ErrorKind::InvalidArgument,
        (_, Code::DeadlineExceeded) => ErrorKind::Timeout,
        _ => ErrorKind::Engine,
    };
    Error::new(kind, format!("box {box_id}: {what}: {}", status.message()))
}
