//! Whether the OOM killer took an exec: the agent reads the counter the shim hands it when the
//! exec starts and when it ends. Here the counter is a file of the test's, in the format of the
//! cgroup's, which the exec itself rewrites the way the kernel would raise it.

use std::path::{Path, PathBuf};

use boxlite_protocol::launch::GuestConfig;
use boxlite_protocol::pb::AttachMainRequest;

use crate::harness::{config, drain, run, sh, Agent, LIMIT};

/// A counter file saying `count` kills (the layout of v1's memory.oom_control).
fn write_counter(path: &Path, count: u64) {
    let text = format!("oom_kill_disable 0\nunder_oom 0\noom_kill {count}\n");
    std::fs::write(path, text).expect("write the counter");
}

/// An agent handed a counter file `name` saying `count` kills; the directory holds the file.
async fn agent_with_counter(
    name: &str,
    count: u64,
    cfg: impl FnOnce(&Path) -> GuestConfig,
) -> (tempfile::TempDir, PathBuf, Agent) {
    let dir = tempfile::tempdir().expect("tempdir");
    let counter = dir.path().join(name);
    write_counter(&counter, count);
    let agent = Agent::start_with_oom_counter(cfg(&counter), &counter).await;
    (dir, counter, agent)
}

/// `sh -c` that sets the counter to `count` (as the kernel does before its SIGKILL), then
/// ends with `end`.
fn raise_then(counter: &Path, count: u64, end: &str) -> String {
    let text = format!("oom_kill_disable 0\\nunder_oom 0\\noom_kill {count}\\n");
    format!("printf '{text}' > {}; {end}", counter.display())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_sigkill_while_the_counter_rose_is_an_oom_kill_and_nothing_else_is() {
    let (_dir, counter, agent) = agent_with_counter("memory.oom_control", 3, |_| config()).await;
    let mut client = agent.client().await;

    let out = run(&mut client, sh(&raise_then(&counter, 4, "kill -9 $$"))).await.expect("exec");
    assert_eq!(out.exited.signal, Some(libc::SIGKILL));
    assert!(out.exited.oom_killed, "{:?}", out.exited);

    // Killed by SIGKILL with the count unchanged (4, above 0): not the OOM killer.
    let out = run(&mut client, sh("kill -9 $$")).await.expect("exec");
    assert_eq!((out.exited.signal, out.exited.oom_killed), (Some(libc::SIGKILL), false));
    // The count rose, but the process exited (a shell reporting an OOM-killed child), or a
    // signal other than SIGKILL ended it.
    let out = run(&mut client, sh(&raise_then(&counter, 5, "exit 137"))).await.expect("exec");
    assert_eq!((out.exited.exit_code, out.exited.oom_killed), (Some(137), false));
    let out = run(&mut client, sh(&raise_then(&counter, 6, "kill -TERM $$"))).await.expect("e");
    assert_eq!((out.exited.signal, out.exited.oom_killed), (Some(libc::SIGTERM), false));
    let out = run(&mut client, sh("echo fine")).await.expect("exec");
    assert_eq!((out.exited.exit_code, out.exited.oom_killed), (Some(0), false));
}

#[tokio::test(flavor = "multi_thread")]
async fn no_process_of_the_box_inherits_the_counter() {
    let (_dir, counter, agent) = agent_with_counter("memory.events", 0, |_| config()).await;
    let mut client = agent.client().await;
    // The agent holds the file at fd 7; the shell's fd 7, if any, would be its copy.
    let held = std::fs::read_link(format!("/proc/{}/fd/7", agent.pid)).expect("agent's fd 7");
    assert_eq!(held, counter);
    let script = format!("ls -l /proc/$$/fd | grep -F {} || echo none", counter.display());
    let out = run(&mut client, sh(&script)).await.expect("exec");
    assert_eq!(out.stdout(), "none\n");
}

#[tokio::test(flavor = "multi_thread")]
async fn without_a_counter_no_sigkill_is_an_oom_kill() {
    // The agent's other tests hand it no counter, as a shim does for a box without a memory
    // cgroup (it hands /dev/null): a SIGKILL is then just a SIGKILL.
    let agent = Agent::start(config()).await;
    let out = run(&mut agent.client().await, sh("kill -9 $$")).await.expect("exec");
    assert_eq!((out.exited.signal, out.exited.oom_killed), (Some(libc::SIGKILL), false));
    let null = Agent::start_with_oom_counter(config(), Path::new("/dev/null")).await;
    let out = run(&mut null.client().await, sh("kill -9 $$")).await.expect("exec");
    assert_eq!((out.exited.signal, out.exited.oom_killed), (Some(libc::SIGKILL), false));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_main_command_is_told_apart_too() {
    let main = |counter: &Path| GuestConfig {
        main: Some(vec!["/bin/sh".into(), "-c".into(), raise_then(counter, 1, "kill -9 $$")]),
        ..config()
    };
    let (_dir, _, agent) = agent_with_counter("memory.oom_control", 0, main).await;
    let mut client = agent.client().await;
    let mut stream = client.attach_main(AttachMainRequest {}).await.expect("attach").into_inner();
    let tail = tokio::time::timeout(LIMIT, drain(&mut stream)).await.expect("main ends");
    assert_eq!((tail.exited.signal, tail.exited.oom_killed), (Some(libc::SIGKILL), true));
}
