//! Signals and timeouts reach the whole process group.

use std::time::{Duration, Instant};

use boxlite_protocol::pb::{exec_event::Event, SignalRequest};

use crate::harness::{
    assert_timeout_kills_group, config, drain, proc_state, run, sh, Agent, LIMIT,
};

#[tokio::test(flavor = "multi_thread")]
async fn a_process_killed_by_a_signal_reports_the_signal() {
    let agent = Agent::start(config()).await;
    let out = run(&mut agent.client().await, sh("kill -9 $$")).await.expect("exec");
    assert_eq!(out.exited.signal, Some(9));
    assert_eq!(out.exited.exit_code, None);
    assert!(!out.exited.timed_out);
}

#[tokio::test(flavor = "multi_thread")]
async fn signal_reaches_the_process_group() {
    let agent = Agent::start(config()).await;
    let mut client = agent.client().await;
    let mut stream = client.exec(sh("sleep 100 & echo $!; wait")).await.expect("exec").into_inner();
    let Some(Event::Started(started)) =
        stream.message().await.expect("event").and_then(|e| e.event)
    else {
        panic!("expected Started")
    };
    // Wait until the background sleep exists (its pid is printed), then signal the group.
    let Some(Event::Stdout(line)) = stream.message().await.expect("event").and_then(|e| e.event)
    else {
        panic!("expected the background pid")
    };
    let sleeper: i32 = String::from_utf8_lossy(&line).trim().parse().expect("pid");
    client
        .signal(SignalRequest { exec_id: started.exec_id.clone(), signal: libc::SIGTERM })
        .await
        .expect("signal");
    let tail = tokio::time::timeout(LIMIT, drain(&mut stream)).await.expect("ends");
    assert_eq!(tail.exited.signal, Some(libc::SIGTERM));
    assert!(!tail.exited.timed_out);
    assert_ne!(proc_state(sleeper), Some('S'), "the background sleep got the signal too");
    let err = client
        .signal(SignalRequest { exec_id: started.exec_id, signal: 0 })
        .await
        .expect_err("signal 0 is refused");
    assert_eq!(err.code(), tonic::Code::InvalidArgument);
}

#[tokio::test(flavor = "multi_thread")]
async fn timeout_kills_a_forked_workload_promptly() {
    assert_timeout_kills_group(sh("sleep 100 & echo $!; sleep 100")).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn timeout_escalates_to_sigkill_when_sigterm_is_ignored() {
    let agent = Agent::start(config()).await;
    // The ignored disposition is inherited by the background sleep as well.
    let mut req = sh("trap '' TERM; sleep 100 & sleep 100");
    req.timeout_ms = 200;
    req.kill_grace_ms = 300;
    let begun = Instant::now();
    let out = run(&mut agent.client().await, req).await.expect("exec");
    let took = begun.elapsed();
    assert!(out.exited.timed_out);
    assert_eq!(out.exited.signal, Some(libc::SIGKILL));
    assert!(took >= Duration::from_millis(500), "{took:?}");
    assert!(took < Duration::from_secs(5), "{took:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_process_that_ends_before_its_timeout_is_not_timed_out() {
    let agent = Agent::start(config()).await;
    let mut req = sh("exit 3");
    req.timeout_ms = 10_000;
    let out = run(&mut agent.client().await, req).await.expect("exec");
    assert_eq!(out.exited.exit_code, Some(3));
    assert!(!out.exited.timed_out);
}
