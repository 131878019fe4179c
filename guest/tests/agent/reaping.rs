//! The agent reaps orphans it inherits, and only its own descendants.

use boxlite_protocol::pb::PingRequest;

use crate::harness::{
    config, eventually, mkfifo, proc_ppid, proc_state, run, sh, write_fifo, Agent,
};

#[tokio::test(flavor = "multi_thread")]
async fn an_orphaned_grandchild_is_reaped_and_counted() {
    let agent = Agent::start(config()).await;
    let fifo = agent.dir.path().join("release");
    mkfifo(&fifo);
    let mut client = agent.client().await;
    // The grandchild blocks on the fifo with no pipe of the exec open, so the exec ends at
    // once and leaves it orphaned.
    let mut req = sh("cat \"$0\" >/dev/null 2>&1 </dev/null & echo $!");
    req.argv.push(fifo.display().to_string());
    let out = run(&mut client, req).await.expect("exec");
    assert_eq!(out.exited.exit_code, Some(0));
    let orphan: i32 = out.stdout().trim().parse().expect("pid");
    assert_eq!(proc_ppid(orphan), Some(agent.pid), "re-parented to the agent (subreaper)");

    // Unrelated: a child of the test process itself keeps its own exit code while the agent
    // runs (the agent's waitpid(-1) only ever sees its descendants).
    let own = std::process::Command::new("/bin/sh").args(["-c", "exit 7"]).status().expect("sh");
    assert_eq!(own.code(), Some(7));

    write_fifo(&fifo, b"go\n").await;
    let reaped = eventually(|| proc_state(orphan).is_none()).await;
    assert!(reaped, "orphan {orphan} left as {:?}", proc_state(orphan));
    // The count follows the reap by a lock acquisition; give it the same patience.
    let deadline = std::time::Instant::now() + crate::harness::LIMIT;
    loop {
        let ping = client.ping(PingRequest {}).await.expect("ping").into_inner();
        if ping.orphans_reaped >= 1 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "orphan not counted: {ping:?}");
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}
