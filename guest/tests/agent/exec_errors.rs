//! Requests that cannot become a process end with the status code the protocol promises.

use std::os::unix::fs::PermissionsExt;

use boxlite_protocol::pb::{SignalRequest, WriteStdinRequest};
use tonic::Code;

use crate::harness::{config, request, run, sh, Agent};

async fn exec_error(agent: &Agent, req: boxlite_protocol::pb::ExecRequest) -> tonic::Status {
    run(&mut agent.client().await, req).await.expect_err("exec must fail")
}

#[tokio::test(flavor = "multi_thread")]
async fn unknown_command_is_not_found() {
    let agent = Agent::start(config()).await;
    let status = exec_error(&agent, request(&["no-such-command-boxlite"])).await;
    assert_eq!(status.code(), Code::NotFound);
    assert_eq!(status.message(), "command not found: no-such-command-boxlite");
    let status = exec_error(&agent, request(&["/no/such/path"])).await;
    assert_eq!(status.code(), Code::NotFound);
}

#[tokio::test(flavor = "multi_thread")]
async fn non_executable_file_is_permission_denied() {
    let agent = Agent::start(config()).await;
    let script = agent.dir.path().join("script.sh");
    std::fs::write(&script, "#!/bin/sh\necho hi\n").expect("write");
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let path = script.display().to_string();
    let status = exec_error(&agent, request(&[&path])).await;
    assert_eq!(status.code(), Code::PermissionDenied);
    assert_eq!(status.message(), format!("permission denied: {path}"));
    // A directory is not executable either.
    let status = exec_error(&agent, request(&["/tmp"])).await;
    assert_eq!(status.code(), Code::PermissionDenied);
}

#[tokio::test(flavor = "multi_thread")]
async fn script_with_missing_interpreter_is_not_found() {
    // Passes every check before fork; execve itself fails with ENOENT in the child, which
    // must come back through the error pipe.
    let agent = Agent::start(config()).await;
    let script = agent.dir.path().join("script");
    std::fs::write(&script, "#!/no/such/interpreter\n").expect("write");
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let status = exec_error(&agent, request(&[&script.display().to_string()])).await;
    assert_eq!(status.code(), Code::NotFound);
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_working_directory_is_failed_precondition() {
    let agent = Agent::start(config()).await;
    let mut req = sh("true");
    req.working_dir = "/no/such/dir".into();
    let status = exec_error(&agent, req).await;
    assert_eq!(status.code(), Code::FailedPrecondition);
    assert!(
        status.message().starts_with("working directory /no/such/dir: "),
        "{}",
        status.message()
    );
    let mut req = sh("true");
    req.working_dir = "/etc/passwd".into();
    assert_eq!(exec_error(&agent, req).await.code(), Code::FailedPrecondition);
}

#[tokio::test(flavor = "multi_thread")]
async fn empty_argv_and_unknown_user_are_invalid_arguments() {
    let agent = Agent::start(config()).await;
    assert_eq!(exec_error(&agent, request(&[])).await.code(), Code::InvalidArgument);
    let mut req = sh("true");
    req.user = "no-such-user-boxlite".into();
    let status = exec_error(&agent, req).await;
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(status.message().contains("no-such-user-boxlite"), "{}", status.message());
}

#[tokio::test(flavor = "multi_thread")]
async fn unknown_exec_ids_are_not_found() {
    let agent = Agent::start(config()).await;
    let mut client = agent.client().await;
    let err = client
        .signal(SignalRequest { exec_id: "nope".into(), signal: 15 })
        .await
        .expect_err("unknown exec");
    assert_eq!(err.code(), Code::NotFound);
    let err = client
        .write_stdin(WriteStdinRequest {
            exec_id: "nope".into(),
            data: b"x".to_vec(),
            close: false,
        })
        .await
        .expect_err("unknown exec");
    assert_eq!(err.code(), Code::NotFound);
}
