//! Stopping the box: Shutdown and SIGTERM end every process, then the agent reports and exits.

use std::time::{Duration, Instant};

use boxlite_protocol::pb::{exec_event::Event, ShutdownRequest};

use crate::harness::{config, drain, proc_state, sh, Agent, LIMIT};

async fn start_sleeper(agent: &Agent) -> (tonic::Streaming<boxlite_protocol::pb::ExecEvent>, i32) {
    let mut client = agent.client().await;
    let mut stream = client.exec(sh("exec sleep 100")).await.expect("exec").into_inner();
    let Some(Event::Started(started)) =
        stream.message().await.expect("event").and_then(|e| e.event)
    else {
        panic!("expected Started")
    };
    (stream, started.pid as i32)
}

#[tokio::test(flavor = "multi_thread")]
async fn shutdown_stops_running_execs_and_reports() {
    let mut agent = Agent::start(config()).await;
    let (mut stream, pid) = start_sleeper(&agent).await;
    let begun = Instant::now();
    agent.client().await.shutdown(ShutdownRequest { grace_ms: 10_000 }).await.expect("shutdown");
    let tail = tokio::time::timeout(LIMIT, drain(&mut stream)).await.expect("exec ends");
    assert_eq!(tail.exited.signal, Some(libc::SIGTERM));
    let (status, report, _) = agent.wait_exit().await;
    // sleep dies on SIGTERM: no waiting for the grace.
    assert!(begun.elapsed() < Duration::from_secs(5), "{:?}", begun.elapsed());
    assert_eq!(status.code(), Some(0));
    let report = report.expect("report");
    assert_eq!(report.main_exit_code, None);
    assert_eq!(report.error, None);
    assert_eq!(proc_state(pid), None, "the sleep was reaped");
}

#[tokio::test(flavor = "multi_thread")]
async fn shutdown_kills_what_ignores_sigterm_after_the_grace() {
    let mut agent = Agent::start(config()).await;
    let mut client = agent.client().await;
    let mut stream =
        client.exec(sh("trap '' TERM; echo armed; sleep 100")).await.expect("exec").into_inner();
    // Started, then "armed": the trap is in place.
    for _ in 0..2 {
        stream.message().await.expect("event").expect("not the end");
    }
    let begun = Instant::now();
    client.shutdown(ShutdownRequest { grace_ms: 300 }).await.expect("shutdown");
    let tail = tokio::time::timeout(LIMIT, drain(&mut stream)).await.expect("exec ends");
    assert_eq!(tail.exited.signal, Some(libc::SIGKILL));
    let (status, _, _) = agent.wait_exit().await;
    assert_eq!(status.code(), Some(0));
    assert!(begun.elapsed() >= Duration::from_millis(300));
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_to_the_agent_stops_the_box() {
    let mut agent = Agent::start(config()).await;
    let (mut stream, pid) = start_sleeper(&agent).await;
    // SAFETY: signalling our own child.
    assert_eq!(unsafe { libc::kill(agent.pid, libc::SIGTERM) }, 0);
    let tail = tokio::time::timeout(LIMIT, drain(&mut stream)).await.expect("exec ends");
    assert_eq!(tail.exited.signal, Some(libc::SIGTERM));
    let (status, report, _) = agent.wait_exit().await;
    assert_eq!(status.code(), Some(0));
    assert_eq!(report.expect("report").error, None);
    assert_eq!(proc_state(pid), None);
}

#[tokio::test(flavor = "multi_thread")]
async fn execs_are_refused_once_the_box_is_stopping() {
    let mut agent = Agent::start(config()).await;
    let mut client = agent.client().await;
    // A process that ignores SIGTERM keeps the stop in its grace period, with the server up.
    let mut stream =
        client.exec(sh("trap '' TERM; echo armed; sleep 100")).await.expect("exec").into_inner();
    for _ in 0..2 {
        stream.message().await.expect("event").expect("not the end");
    }
    client.shutdown(ShutdownRequest { grace_ms: 1000 }).await.expect("shutdown");
    let status = client.exec(sh("true")).await.expect_err("no exec while stopping");
    assert_eq!(status.code(), tonic::Code::Unavailable, "{status:?}");
    assert_eq!(status.message(), "the box is stopping");
    let (status, _, _) = agent.wait_exit().await;
    assert_eq!(status.code(), Some(0));
}
