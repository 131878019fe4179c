//! What exec'd processes and the main command may do: the default capability set (Docker's
//! minus CAP_MKNOD), no_new_privs, and nothing at all for other users. Only meaningful, and
//! only run, as root: an unprivileged agent has nothing to drop.

use boxlite_protocol::pb::AttachMainRequest;

use crate::harness::{config, drain, request, root, run, sh, status_field as field, Agent, LIMIT};

/// CHOWN, DAC_OVERRIDE, FOWNER, FSETID, KILL, SETGID, SETUID, SETPCAP, NET_BIND_SERVICE,
/// NET_RAW, SYS_CHROOT, AUDIT_WRITE, SETFCAP: Docker's 0xa80425fb without bit 27 (MKNOD).
/// Written out here rather than taken from the agent, so the test checks the policy itself.
const DEFAULT: &str = "00000000a00425fb";
const NONE: &str = "0000000000000000";

fn assert_sets(status: &str, effective: &str, bounding: &str) {
    assert_eq!(field(status, "CapEff"), effective, "{status}");
    assert_eq!(field(status, "CapPrm"), effective, "{status}");
    assert_eq!(field(status, "CapInh"), NONE, "{status}");
    assert_eq!(field(status, "CapAmb"), NONE, "{status}");
    assert_eq!(field(status, "CapBnd"), bounding, "{status}");
    assert_eq!(field(status, "NoNewPrivs"), "1", "{status}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_root_exec_has_the_default_set_and_no_new_privs() {
    if !root() {
        eprintln!("skipped: needs root");
        return;
    }
    let agent = Agent::start(config()).await;
    let mut client = agent.client().await;
    let out = run(&mut client, request(&["cat", "/proc/self/status"])).await.expect("exec");
    assert_eq!(out.exited.exit_code, Some(0));
    assert_sets(&out.stdout(), DEFAULT, DEFAULT);
    // Asking for root explicitly (the setuid path) ends the same.
    let mut req = request(&["cat", "/proc/self/status"]);
    req.user = "0:0".into();
    let out = run(&mut client, req).await.expect("exec");
    assert_sets(&out.stdout(), DEFAULT, DEFAULT);

    // The agent itself keeps what it was started with: it needs it for the next process.
    let ours = std::fs::read_to_string("/proc/self/status").expect("status");
    let agent_status =
        std::fs::read_to_string(format!("/proc/{}/status", agent.pid)).expect("agent status");
    for name in ["CapEff", "CapPrm", "CapBnd"] {
        assert_eq!(field(&agent_status, name), field(&ours, name), "{name}");
    }
    // no_new_privs is set on the agent at boot (it carries the seccomp filter); it limits only
    // what an execve can gain, not the capabilities the agent holds.
    assert_eq!(field(&agent_status, "NoNewPrivs"), "1");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_non_root_exec_has_no_capabilities() {
    if !root() {
        eprintln!("skipped: needs root");
        return;
    }
    let agent = Agent::start(config()).await;
    let mut client = agent.client().await;
    for user in ["65534", "4242:4343"] {
        let mut req = request(&["cat", "/proc/self/status"]);
        req.user = user.into();
        let out = run(&mut client, req).await.expect("exec");
        assert_eq!(out.exited.exit_code, Some(0), "{user}");
        assert_sets(&out.stdout(), NONE, DEFAULT);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn root_in_an_exec_cannot_mknod_but_can_chown() {
    if !root() {
        eprintln!("skipped: needs root");
        return;
    }
    let agent = Agent::start(config()).await;
    let dir = agent.dir.path().display().to_string();
    // 8:0 is the first SCSI disk: exactly what a box must never open.
    let script = format!(
        "mknod {dir}/disk b 8 0; echo \"mknod $?\"; test -e {dir}/disk && echo exists; \
         touch {dir}/f && chown 4242:4343 {dir}/f && stat -c %u:%g {dir}/f"
    );
    let out = run(&mut agent.client().await, sh(&script)).await.expect("exec");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.stdout(), "mknod 1\n4242:4343\n", "{stderr}");
    assert!(stderr.contains("Operation not permitted"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_main_command_has_the_default_set_and_no_new_privs() {
    if !root() {
        eprintln!("skipped: needs root");
        return;
    }
    let mut cfg = config();
    cfg.main = Some(vec!["cat".into(), "/proc/self/status".into()]);
    let agent = Agent::start(cfg).await;
    let mut client = agent.client().await;
    let mut stream = client.attach_main(AttachMainRequest {}).await.expect("attach").into_inner();
    let tail = tokio::time::timeout(LIMIT, drain(&mut stream)).await.expect("main ends");
    assert_eq!(tail.exited.exit_code, Some(0));
    assert_sets(&String::from_utf8_lossy(&tail.stdout), DEFAULT, DEFAULT);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_agent_without_capabilities_still_starts_processes() {
    if !root() {
        eprintln!("skipped: needs root");
        return;
    }
    // An ordinary user's development run: the agent cannot touch the bounding set (no
    // CAP_SETPCAP), and its processes have nothing to drop, but get no_new_privs all the same.
    let agent = Agent::start_as(config(), 65534).await;
    let out =
        run(&mut agent.client().await, request(&["cat", "/proc/self/status"])).await.expect("exec");
    assert_eq!(out.exited.exit_code, Some(0));
    let status = out.stdout();
    assert_eq!(field(&status, "CapEff"), NONE, "{status}");
    assert_eq!(field(&status, "CapPrm"), NONE, "{status}");
    assert_eq!(field(&status, "NoNewPrivs"), "1", "{status}");
}
