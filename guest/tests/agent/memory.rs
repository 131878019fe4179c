//! What an idle box costs: the agent's proportional set size.

use crate::harness::{config, Agent};
use boxlite_protocol::pb::PingRequest;

/// Target for the optimized static agent; the debug build is only reported.
const IDLE_PSS_LIMIT_KIB: u64 = 8 * 1024;

#[tokio::test(flavor = "multi_thread")]
async fn an_idle_agent_stays_small() {
    let mut cfg = config();
    cfg.main = Some(vec!["sleep".into(), "100".into()]);
    let agent = Agent::start(cfg).await;
    // Serve one call first, so the connection machinery is counted too.
    agent.client().await.ping(PingRequest {}).await.expect("ping");
    let rollup =
        std::fs::read_to_string(format!("/proc/{}/smaps_rollup", agent.pid)).expect("smaps");
    let pss_kib: u64 = rollup
        .lines()
        .find_map(|l| l.strip_prefix("Pss:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("Pss line");
    eprintln!("idle agent PSS: {pss_kib} KiB ({})", crate::harness::binary().display());
    if std::env::var_os("BOXLITE_GUEST_UNDER_TEST").is_some() {
        assert!(pss_kib <= IDLE_PSS_LIMIT_KIB, "idle PSS {pss_kib} KiB");
    }
}
