//! The host side of the host↔guest protocol: connecting to a box's agent, waiting for it to
//! become ready, and the deadlines of every call to it.
//!
//! Everything in a box, its agent included, is controlled by code we sandbox, so the host
//! never waits on the agent without a bound. A control call gets [`AGENT_CALL_TIMEOUT`]; a call
//! whose length is the workload's business (an exec's output, a write into a stdin pipe the
//! process reads at its own pace) is bounded by the exec's own timeout when it has one and,
//! in any case, by pinging the agent whenever it has been silent for [`AGENT_PROBE_INTERVAL`]:
//! an agent that stops answering turns the wait into a `Timeout` error.

mod ready;

use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::time::Instant;

use boxlite_protocol::pb::agent_client::AgentClient;
use boxlite_protocol::pb::PingRequest;
use hyper_util::rt::TokioIo;
use tokio::net::UnixStream;
use tonic::transport::{Channel, Endpoint, Uri};

pub(crate) use ready::{wait_for_guest_ready, ReadyContext};

use crate::error::{Error, ErrorKind, Result};

/// A connected agent client; cheap to clone (one HTTP/2 connection underneath).
pub(crate) type Agent = AgentClient<Channel>;

/// Deadline of a control call to the agent: connect and ping, signal, resize, the start of an
/// exec or of the main command (up to its first event), and the answer to a shutdown beyond
/// its grace period. A healthy agent answers these in milliseconds.
pub(crate) const AGENT_CALL_TIMEOUT: Duration = Duration::from_secs(5);

/// How long a long call may go without a word from the agent before the agent is pinged.
pub(crate) const AGENT_PROBE_INTERVAL: Duration = Duration::from_secs(5);

/// `call` to the agent of `box_id`, cut off after `timeout` with a `Timeout` error that names
/// both.
pub(crate) async fn within<T>(
    box_id: &str,
    call: &str,
    timeout: Duration,
    fut: impl Future<Output = Result<T>>,
) -> Result<T> {
    tokio::time::timeout(timeout, fut)
        .await
        .unwrap_or_else(|_| Err(no_answer(box_id, call, timeout)))
}

/// The error of a call that hit its deadline.
pub(crate) fn no_answer(box_id: &str, call: &str, timeout: Duration) -> Error {
    Error::new(
        ErrorKind::Timeout,
        format!("box {box_id}: agent did not answer {call} within {}", seconds(timeout)),
    )
}

/// `5 s`, `1.5 s`.
fn seconds(d: Duration) -> String {
    if d.subsec_millis() == 0 {
        format!("{} s", d.as_secs())
    } else {
        format!("{:.1} s", d.as_secs_f64())
    }
}

/// Waits for `fut`, a `call` whose length the agent does not control alone, for as long as the
/// agent keeps answering: after each [`AGENT_PROBE_INTERVAL`] of waiting it is pinged, and a
/// ping unanswered within [`AGENT_CALL_TIMEOUT`] ends the wait with `Timeout`. `deadline`, when
/// set, ends it too (`budget` is how it was computed, for the message).
pub(crate) async fn while_answering<T>(
    box_id: &str,
    call: &str,
    agent: &Agent,
    deadline: Option<(Instant, Duration)>,
    fut: impl Future<Output = Result<T>>,
) -> Result<T> {
    tokio::pin!(fut);
    let cut_off = async {
        match deadline {
            Some((at, _)) => tokio::time::sleep_until(at).await,
            None => std::future::pending().await,
        }
    };
    tokio::pin!(cut_off);
    let late = |budget: Duration| no_answer(box_id, call, budget);
    // Bounded: each round either returns or lasts a probe interval plus a ping, and `deadline`
    // (or the caller, or the agent's end) ends the wait.
    loop {
        tokio::select! {
            out = &mut fut => return out,
            () = &mut cut_off => return Err(late(deadline.map_or(Duration::ZERO, |d| d.1))),
            () = tokio::time::sleep(AGENT_PROBE_INTERVAL) => {}
        }
        let probe = within(box_id, "ping", AGENT_CALL_TIMEOUT, ping(box_id, agent.clone()));
        let failed = tokio::select! {
            out = &mut fut => return out,
            () = &mut cut_off => return Err(late(deadline.map_or(Duration::ZERO, |d| d.1))),
            answered = probe => match answered {
                Ok(()) => continue,
                Err(e) => e,
            },
        };
        let failed = Error::new(failed.kind(), format!("{failed} while waiting for {call}"));
        if failed.kind() == ErrorKind::Timeout {
            return Err(failed);
        }
        // The connection broke: the call itself should fail now, with its own error.
        return tokio::time::timeout(AGENT_CALL_TIMEOUT, &mut fut).await.unwrap_or(Err(failed));
    }
}

async fn ping(box_id: &str, mut agent: Agent) -> Result<()> {
    agent.ping(PingRequest {}).await.map(|_| ()).map_err(|s| status_error(box_id, "ping agent", s))
}

/// Connects to the agent listening on `socket` and checks it speaks our protocol version,
/// within [`AGENT_CALL_TIMEOUT`].
pub(crate) async fn connect(box_id: &str, socket: &Path) -> Result<Agent> {
    within(box_id, "connect and ping", AGENT_CALL_TIMEOUT, connect_unbounded(box_id, socket)).await
}

async fn connect_unbounded(box_id: &str, socket: &Path) -> Result<Agent> {
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
