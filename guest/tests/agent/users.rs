//! Running as another user (only meaningful, and only run, as root).

use crate::harness::{config, root, run, sh, Agent};

#[tokio::test(flavor = "multi_thread")]
async fn numeric_user_runs_with_that_uid_and_its_passwd_group() {
    if !root() {
        eprintln!("skipped: needs root");
        return;
    }
    let agent = Agent::start(config()).await;
    let mut req = sh("id -u; id -g; echo \"$HOME\"");
    req.user = "65534".into();
    let out = run(&mut agent.client().await, req).await.expect("exec");
    assert_eq!(out.exited.exit_code, Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let passwd = std::fs::read_to_string("/etc/passwd").expect("passwd");
    let nobody = passwd.lines().find(|l| l.split(':').nth(2) == Some("65534")).expect("uid 65534");
    let fields: Vec<&str> = nobody.split(':').collect();
    assert_eq!(out.stdout(), format!("65534\n{}\n{}\n", fields[3], fields[5]));
}

#[tokio::test(flavor = "multi_thread")]
async fn uid_and_gid_without_passwd_entries() {
    if !root() {
        eprintln!("skipped: needs root");
        return;
    }
    let agent = Agent::start(config()).await;
    let mut req = sh("id -u; id -g; id -G");
    req.user = "4242:4343".into();
    let out = run(&mut agent.client().await, req).await.expect("exec");
    assert_eq!(out.stdout(), "4242\n4343\n4343\n");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_box_default_user_applies_and_a_request_overrides_it() {
    if !root() {
        eprintln!("skipped: needs root");
        return;
    }
    let mut cfg = config();
    cfg.user = "65534".into();
    let agent = Agent::start(cfg).await;
    let mut client = agent.client().await;
    let out = run(&mut client, sh("id -u")).await.expect("exec");
    assert_eq!(out.stdout(), "65534\n");
    let mut req = sh("id -u");
    req.user = "0".into();
    let out = run(&mut client, req).await.expect("exec");
    assert_eq!(out.stdout(), "0\n");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_working_directory_the_user_cannot_enter_is_failed_precondition() {
    if !root() {
        eprintln!("skipped: needs root");
        return;
    }
    let agent = Agent::start(config()).await;
    let private = agent.dir.path().join("private");
    std::fs::create_dir(&private).expect("mkdir");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&private, std::fs::Permissions::from_mode(0o700)).expect("chmod");
    let mut req = sh("true");
    req.user = "65534".into();
    req.working_dir = private.display().to_string();
    let status = run(&mut agent.client().await, req).await.expect_err("cannot chdir");
    assert_eq!(status.code(), tonic::Code::FailedPrecondition, "{status:?}");
}
