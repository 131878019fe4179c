//! The box's main command: replay and follow, and its exit ending the box.

use boxlite_protocol::pb::{exec_event::Event, AttachMainRequest, PingRequest, ShutdownRequest};
use tonic::Code;

use crate::harness::{config, drain, mkfifo, write_fifo, Agent, LIMIT};

#[tokio::test(flavor = "multi_thread")]
async fn attach_replays_then_follows_and_the_exit_code_is_reported() {
    let dir = tempfile::tempdir().expect("tempdir");
    let fifo = dir.path().join("go");
    mkfifo(&fifo);
    let mut cfg = config();
    let script =
        format!("echo out1; echo err1 >&2; read x < {}; echo \"out2 $x\"; exit 3", fifo.display());
    cfg.main = Some(vec!["/bin/sh".into(), "-c".into(), script]);
    cfg.stop_grace_ms = 2000;
    let mut agent = Agent::spawn(cfg, true);
    assert!(agent.wait_ready().await);
    let mut client = agent.client().await;

    let mut stream = client.attach_main(AttachMainRequest {}).await.expect("attach").into_inner();
    // What was printed before we attached is replayed.
    let (mut stdout, mut stderr) = (Vec::new(), Vec::new());
    while stdout != b"out1\n" || stderr != b"err1\n" {
        let event = tokio::time::timeout(LIMIT, stream.message())
            .await
            .expect("replayed output")
            .expect("event")
            .expect("not the end yet");
        match event.event {
            Some(Event::Stdout(d)) => stdout.extend(d),
            Some(Event::Stderr(d)) => stderr.extend(d),
            other => panic!("unexpected {other:?}"),
        }
    }
    // A second client attaching now sees the same history.
    let mut late = client.attach_main(AttachMainRequest {}).await.expect("attach").into_inner();

    write_fifo(&fifo, b"live\n").await;
    let tail = tokio::time::timeout(LIMIT, drain(&mut stream)).await.expect("main ends");
    assert_eq!(tail.stdout, b"out2 live\n");
    assert_eq!(tail.exited.exit_code, Some(3));
    let late = tokio::time::timeout(LIMIT, drain(&mut late)).await.expect("late ends");
    assert_eq!(late.stdout, b"out1\nout2 live\n");
    assert_eq!(late.stderr, b"err1\n");
    assert_eq!(late.exited.exit_code, Some(3));

    let (status, report, console) = agent.wait_exit().await;
    assert_eq!(status.code(), Some(0), "agent exits cleanly after the main command");
    let report = report.expect("report written");
    assert_eq!(report.main_exit_code, Some(3));
    assert_eq!(report.error, None);
    for line in ["out1", "err1", "out2 live"] {
        assert!(console.contains(line), "console lacks {line:?}: {console}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_main_command_killed_at_shutdown_reports_128_plus_signal() {
    let mut cfg = config();
    cfg.main = Some(vec!["sleep".into(), "100".into()]);
    let mut agent = Agent::start(cfg).await;
    let mut client = agent.client().await;
    let mut attached = client.attach_main(AttachMainRequest {}).await.expect("attach").into_inner();
    client.shutdown(ShutdownRequest { grace_ms: 2000 }).await.expect("shutdown");
    let tail = tokio::time::timeout(LIMIT, drain(&mut attached)).await.expect("attach ends");
    assert_eq!(tail.exited.signal, Some(libc::SIGTERM));
    let (status, report, _) = agent.wait_exit().await;
    assert_eq!(status.code(), Some(0));
    assert_eq!(report.expect("report").main_exit_code, Some(128 + libc::SIGTERM));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_main_command_that_cannot_start_fails_the_first_attach_with_the_reason() {
    let mut cfg = config();
    cfg.main = Some(vec!["no-such-main-boxlite".into()]);
    let agent = Agent::start(cfg).await;
    let mut client = agent.client().await;
    // Started by the first attach, so the failure is that call's error (the host's start
    // pipeline turns it into the box's failure reason).
    let err = client.attach_main(AttachMainRequest {}).await.expect_err("cannot start");
    assert_eq!(err.code(), Code::NotFound);
    assert!(err.message().contains("command not found: no-such-main-boxlite"), "{}", err.message());
    client.ping(PingRequest {}).await.expect("the agent still serves");
}

#[tokio::test(flavor = "multi_thread")]
async fn attach_without_a_main_command_is_not_found() {
    let agent = Agent::start(config()).await;
    let err =
        agent.client().await.attach_main(AttachMainRequest {}).await.expect_err("no main command");
    assert_eq!(err.code(), Code::NotFound);
}
