//! The gRPC `Agent` service: each call checks its input and hands off to the module that
//! does the work.

use std::sync::Arc;
use std::time::Duration;

use boxlite_protocol::launch::GuestConfig;
use boxlite_protocol::pb::agent_server::Agent;
use boxlite_protocol::pb::{
    AttachMainRequest, CopyInChunk, CopyInResponse, CopyOutRequest, ExecRequest, ListDirRequest,
    PingRequest, PingResponse, ResizeTtyRequest, ResizeTtyResponse, ShutdownRequest,
    ShutdownResponse, SignalRequest, SignalResponse, StatRequest, StatResponse, WriteStdinRequest,
    WriteStdinResponse,
};
use tonic::{Request, Response, Status, Streaming};

use crate::exec::{ExecStream, ExecTable};
use crate::main_cmd::MainSlot;
use crate::oom::OomCounter;
use crate::pty::WindowSize;
use crate::reaper::Reaper;
use crate::shutdown::{StopRequest, StopTx};

/// Everything the calls share.
pub struct AgentState {
    /// Shared with the blocking threads that plan requests.
    pub config: Arc<GuestConfig>,
    pub reaper: Reaper,
    pub execs: Arc<ExecTable>,
    /// Read around every exec and the main command, to tell those the OOM killer took.
    pub oom_counter: Arc<OomCounter>,
    pub main: Option<MainSlot>,
    pub stop: StopTx,
    /// Grace for a stop that names none.
    pub stop_grace: Duration,
}

pub struct AgentService(pub Arc<AgentState>);

#[tonic::async_trait]
impl Agent for AgentService {
    async fn ping(&self, _: Request<PingRequest>) -> Result<Response<PingResponse>, Status> {
        Ok(Response::new(PingResponse {
            version: boxlite_protocol::PROTOCOL_VERSION.to_owned(),
            box_id: self.0.config.box_id.clone(),
            orphans_reaped: self.0.reaper.orphans_reaped(),
        }))
    }

    type ExecStream = ExecStream;

    async fn exec(&self, request: Request<ExecRequest>) -> Result<Response<ExecStream>, Status> {
        let state = &self.0;
        let request = request.into_inner();
        crate::exec::start(&state.config, &state.reaper, &state.oom_counter, &state.execs, request)
            .await
            .map(Response::new)
    }

    async fn write_stdin(
        &self,
        request: Request<WriteStdinRequest>,
    ) -> Result<Response<WriteStdinResponse>, Status> {
        let request = request.into_inner();
        let exec = self.0.execs.get(&request.exec_id).ok_or_else(|| unknown(&request.exec_id))?;
        exec.write_stdin(&request.exec_id, &request.data, request.close).await?;
        Ok(Response::new(WriteStdinResponse {}))
    }

    async fn signal(
        &self,
        request: Request<SignalRequest>,
    ) -> Result<Response<SignalResponse>, Status> {
        let request = request.into_inner();
        if !(1..=64).contains(&request.signal) {
            return Err(Status::invalid_argument(format!("invalid signal {}", request.signal)));
        }
        let exec = self.0.execs.get(&request.exec_id).ok_or_else(|| unknown(&request.exec_id))?;
        crate::sys::kill_group(exec.pgid, request.signal)
            .map_err(|e| Status::internal(format!("signal {}: {e}", request.signal)))?;
        Ok(Response::new(SignalResponse {}))
    }

    async fn resize_tty(
        &self,
        request: Request<ResizeTtyRequest>,
    ) -> Result<Response<ResizeTtyResponse>, Status> {
        let request = request.into_inner();
        let size = WindowSize::resize(request.rows, request.cols).ok_or_else(|| {
            Status::invalid_argument(format!(
                "terminal size {}x{}: rows and columns must be between 1 and 65535",
                request.rows, request.cols
            ))
        })?;
        let exec = self.0.execs.get(&request.exec_id).ok_or_else(|| unknown(&request.exec_id))?;
        exec.resize_tty(&request.exec_id, size)?;
        Ok(Response::new(ResizeTtyResponse {}))
    }

    type AttachMainStream = ExecStream;

    async fn attach_main(
        &self,
        _: Request<AttachMainRequest>,
    ) -> Result<Response<ExecStream>, Status> {
        let state = &self.0;
        let main =
            state.main.as_ref().ok_or_else(|| Status::not_found("the box has no main command"))?;
        main.attach(&state.config, &state.reaper, &state.oom_counter).await.map(Response::new)
    }

    async fn shutdown(
        &self,
        request: Request<ShutdownRequest>,
    ) -> Result<Response<ShutdownResponse>, Status> {
        let grace = match request.into_inner().grace_ms {
            0 => self.0.stop_grace,
            ms => Duration::from_millis(ms),
        };
        // No process may start once the caller has been told the box is stopping.
        self.0.reaper.close();
        // The stop runs in the agent's main task; the server drains this response before the
        // agent exits.
        self.0
            .stop
            .send(StopRequest { grace, why: "shutdown requested" })
            .map_err(|_| Status::unavailable("the box is stopping"))?;
        Ok(Response::new(ShutdownResponse {}))
    }

    async fn stat(&self, request: Request<StatRequest>) -> Result<Response<StatResponse>, Status> {
        crate::files::stat(request.into_inner()).await.map(Response::new)
    }

    type ListDirStream = crate::files::ListDirStream;

    async fn list_dir(
        &self,
        request: Request<ListDirRequest>,
    ) -> Result<Response<Self::ListDirStream>, Status> {
        crate::files::list_dir(request.into_inner()).await.map(Response::new)
    }

    async fn copy_in(
        &self,
        request: Request<Streaming<CopyInChunk>>,
    ) -> Result<Response<CopyInResponse>, Status> {
        crate::files::copy_in(request.into_inner()).await.map(Response::new)
    }

    type CopyOutStream = crate::files::CopyOutStream;

    async fn copy_out(
        &self,
        request: Request<CopyOutRequest>,
    ) -> Result<Response<Self::CopyOutStream>, Status> {
        crate::files::copy_out(request.into_inner()).await.map(Response::new)
    }
}

fn unknown(exec_id: &str) -> Status {
    Status::not_found(format!("no running exec {exec_id:?}"))
}
