//! boxlite-guest: the agent that runs as PID 1 inside every box.
//!
//! It takes over the descriptors of the launch contract ([`boxlite_protocol::launch::fds`]),
//! serves the `Agent` gRPC service on the listening socket, spawns and reaps every process of
//! the box (one central `waitpid(-1)`, see [`reaper`]), and when the box stops writes one
//! [`boxlite_protocol::launch::GuestReport`] line and exits.
//!
//! One current-thread tokio runtime plus the reaper thread: an idle box should cost a few MiB.
//! Work that touches the box's files (planning a request: user lookup, PATH search) runs on
//! the runtime's blocking pool, started on demand, so a box that makes those files misbehave
//! can stall that one request and nothing else.

use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use boxlite_protocol::launch::{GuestReport, READY_LINE};
use boxlite_protocol::pb::agent_server::AgentServer;
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::{mpsc, oneshot};
use tokio_stream::wrappers::UnixListenerStream;

use boxlite_guest::boot::{self, Launch};
use boxlite_guest::reaper::Reaper;
use boxlite_guest::service::{AgentService, AgentState};
use boxlite_guest::shutdown::{self, StopRequest, DRAIN_LIMIT};
use boxlite_guest::{main_cmd, report};

/// Most threads planning requests at once. Planning never blocks for long (see
/// [`boxlite_guest::plan::PLAN_TIMEOUT`]); the bound caps what requests that do could cost, and later ones
/// queue (within their own timeout) rather than start more threads.
const MAX_BLOCKING_THREADS: usize = 16;

/// Grace between SIGTERM and SIGKILL when the config leaves it at 0.
const DEFAULT_STOP_GRACE: Duration = Duration::from_millis(1000);

fn main() {
    report::init();
    if let Err(err) = boot::harden() {
        report::fail(&err.to_string());
    }
    let launch = boot::take_launch().unwrap_or_else(|err| report::fail(&err.to_string()));
    if let Err(err) = boot::confine(&launch.config) {
        report::fail(&err.to_string());
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .max_blocking_threads(MAX_BLOCKING_THREADS)
        .build()
        .unwrap_or_else(|err| report::fail(&format!("starting the runtime: {err}")));
    let reaper =
        Reaper::start().unwrap_or_else(|err| report::fail(&format!("starting the reaper: {err}")));
    match runtime.block_on(run(launch, reaper)) {
        Ok(report) => report::finish(&report, 0),
        Err(message) => report::fail(&message),
    }
}

/// Serves until the box stops; returns what to report.
async fn run(launch: Launch, reaper: Reaper) -> Result<GuestReport, String> {
    let Launch { config, listener, mut ready, oom_counter } = launch;
    let listener = tokio::net::UnixListener::from_std(listener)
        .map_err(|err| format!("registering the listener: {err}"))?;
    let mut sigterm =
        signal(SignalKind::terminate()).map_err(|err| format!("handling SIGTERM: {err}"))?;
    let stop_grace = match config.stop_grace_ms {
        0 => DEFAULT_STOP_GRACE,
        ms => Duration::from_millis(ms),
    };
    let (stop_tx, mut stop_rx) = mpsc::unbounded_channel();
    let mut sigchld =
        signal(SignalKind::child()).map_err(|err| format!("handling SIGCHLD: {err}"))?;
    let kicked = reaper.clone();
    tokio::spawn(async move {
        while sigchld.recv().await.is_some() {
            kicked.kick();
        }
    });

    let main =
        config.main.clone().map(|argv| main_cmd::MainSlot::new(argv, stop_tx.clone(), stop_grace));
    let state = Arc::new(AgentState {
        config: Arc::new(config),
        reaper,
        execs: Arc::default(),
        oom_counter: Arc::new(oom_counter),
        main,
        stop: stop_tx,
        stop_grace,
    });

    let (stop_serving, serving_stopped) = oneshot::channel::<()>();
    let mut server =
        tokio::spawn(tonic::transport::Server::builder().serve_with_incoming_shutdown(
            AgentServer::new(AgentService(Arc::clone(&state))),
            UnixListenerStream::new(listener),
            async {
                let _ = serving_stopped.await;
            },
        ));
    // The socket is listening already; connections queue until the server task accepts them.
    ready
        .write_all(READY_LINE.as_bytes())
        .map_err(|err| format!("writing the ready line: {err}"))?;
    drop(ready);

    let request = tokio::select! {
        Some(request) = stop_rx.recv() => request,
        _ = sigterm.recv() => StopRequest { grace: stop_grace, why: "SIGTERM" },
        result = &mut server => return Err(match result {
            Ok(Ok(())) => "the server stopped on its own".to_owned(),
            Ok(Err(err)) => format!("server: {err}"),
            Err(err) => format!("server task: {err}"),
        }),
    };
    eprintln!("boxlite-guest: stopping: {}", request.why);
    let main = state.main.as_ref().and_then(main_cmd::MainSlot::started);
    let report = shutdown::stop_box(&state.reaper, main, request.grace).await;
    // Graceful: in-flight responses (the Shutdown reply, final Exited events) are flushed.
    let _ = stop_serving.send(());
    let _ = tokio::time::timeout(DRAIN_LIMIT, server).await;
    Ok(report)
}
