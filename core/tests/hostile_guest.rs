//! A box attacking its own agent: the box owns every file the agent reads (user databases,
//! `/dev`), can write its own and the agent's `/proc` files and open files without end. Real
//! boxes; what the agent did is read back from the host's `/proc` and from the box itself.
//!
//! Every wait is bounded here, by the test itself: a regression must fail the test, never hang
//! it (nor depend on the host's own deadlines on agent calls).

mod common;

use std::future::Future;
use std::time::Duration;

use boxlite_core::{BoxOptions, BoxStatus, Command, ErrorKind, ExecResult, LiteBox, Runtime};
use common::{output, sh, TestHome};

/// Far above what any step takes (milliseconds), far below a hang.
const STEP_LIMIT: Duration = Duration::from_secs(20);

/// The `RLIMIT_NOFILE` a box gets when its options name none.
const DEFAULT_NOFILE: (u64, u64) = (1024, 4096);

/// Bit of CAP_SYS_RESOURCE in /proc/<pid>/status capability masks.
const CAP_SYS_RESOURCE: u32 = 24;

/// Force-removes the box when the test ends, however it ends: a failed assertion must not leak
/// a running box.
struct Cleanup<'a> {
    rt: &'a Runtime,
    id: String,
}

impl Drop for Cleanup<'_> {
    fn drop(&mut self) {
        let _ = self.rt.remove(&self.id, true);
    }
}

/// A started box, removed at the end of the test.
async fn started(t: &TestHome, options: BoxOptions) -> (LiteBox, Cleanup<'_>) {
    let b = t.rt.create(options, None).unwrap();
    let cleanup = Cleanup { rt: &t.rt, id: b.id().to_owned() };
    bounded("start", b.start()).await.unwrap();
    (b, cleanup)
}

async fn bounded<T>(what: &str, step: impl Future<Output = T>) -> T {
    tokio::time::timeout(STEP_LIMIT, step)
        .await
        .unwrap_or_else(|_| panic!("{what}: no answer within {STEP_LIMIT:?}"))
}

/// Runs `cmd` to its end: stdout, stderr and result, or the error that stopped it starting.
async fn run(b: &LiteBox, cmd: Command) -> boxlite_core::Result<(String, String, ExecResult)> {
    let what = format!("exec {:?} as {:?}", cmd.argv, cmd.user);
    bounded(&what, async {
        let exec = b.exec(cmd).await?;
        let (out, err, res) = output(exec).await;
        Ok((
            String::from_utf8_lossy(&out).into_owned(),
            String::from_utf8_lossy(&err).into_owned(),
            res,
        ))
    })
    .await
}

/// `sh -c script`, which must exit 0; its stdout.
async fn ok(b: &LiteBox, cmd: Command) -> String {
    let (out, err, res) = run(b, cmd).await.unwrap();
    assert_eq!(res.exit_code, Some(0), "stdout {out:?} stderr {err:?}");
    out
}

fn as_user(user: &str, script: &str) -> Command {
    Command { user: Some(user.into()), ..sh(script) }
}

/// The host pid of the box's agent: the shim's child that is PID 1 of its own namespace.
fn agent_pid(b: &LiteBox) -> u32 {
    let shim = b.info().unwrap().pid.expect("a running box has a shim");
    let mut agents = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else { continue };
        let Ok(status) = std::fs::read_to_string(entry.path().join("status")) else { continue };
        let field = |name: &str| {
            status.lines().find_map(|l| l.strip_prefix(name)).map(|v| v.trim().to_owned())
        };
        let child_of_shim = field("PPid:").and_then(|p| p.parse::<u32>().ok()) == Some(shim);
        let init = field("NSpid:").is_some_and(|ns| ns.split_whitespace().last() == Some("1"));
        if child_of_shim && init {
            agents.push(pid);
        }
    }
    assert_eq!(agents.len(), 1, "the agent of box {} (shim {shim}): {agents:?}", b.id());
    agents[0]
}

fn host_proc(pid: u32, file: &str) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/{file}"))
        .unwrap_or_else(|e| panic!("/proc/{pid}/{file}: {e}"))
}

/// Whether this process (and so the shim and agent it starts) may hold CAP_SYS_RESOURCE.
fn host_grants_cap_sys_resource() -> bool {
    let status = host_proc(std::process::id(), "status");
    let effective = status.lines().find_map(|l| l.strip_prefix("CapEff:")).expect("CapEff");
    let mask = u64::from_str_radix(effective.trim(), 16).expect("hex mask");
    mask & (1 << CAP_SYS_RESOURCE) != 0
}

/// The "Max open files" soft and hard limits from a /proc/<pid>/limits text.
fn open_files_limit(limits: &str) -> (String, String) {
    let line = limits.lines().find(|l| l.starts_with("Max open files")).expect("Max open files");
    let mut fields = line["Max open files".len()..].split_whitespace();
    (fields.next().unwrap().to_owned(), fields.next().unwrap().to_owned())
}

/// The exec must fail to start, as an exec error whose message says `words`.
async fn refused(b: &LiteBox, cmd: Command, words: &str) {
    let err = run(b, cmd).await.expect_err("the exec must not start");
    assert_eq!(err.kind(), ErrorKind::Exec, "{err}");
    assert!(err.to_string().contains(words), "{err}");
}

#[tokio::test]
async fn a_fifo_passwd_fails_the_exec_and_the_agent_keeps_serving() {
    let t = TestHome::new();
    let (b, _cleanup) = started(&t, t.options()).await;
    ok(&b, sh("rm /etc/passwd && mkfifo /etc/passwd")).await;
    // Opening the FIFO the usual way would wait for a writer that never comes.
    refused(&b, as_user("nobody", "true"), "/etc/passwd is not a regular file (it is a FIFO)")
        .await;
    // The same again: nothing of the first attempt is left waiting in the agent.
    refused(&b, as_user("nobody", "true"), "it is a FIFO").await;
    // The box's own user needs no lookup (HOME falls back to /) ...
    assert_eq!(ok(&b, sh("echo \"$HOME\"")).await, "/\n");
    // ... and a numeric user without the database's help is still refused, not guessed.
    refused(&b, as_user("65534", "true"), "/etc/passwd is not a regular file").await;
    ok(&b, sh("true")).await;
    bounded("stop", b.stop(Duration::from_secs(5))).await.unwrap();
    assert_eq!(b.info().unwrap().status, BoxStatus::Stopped);
}

#[tokio::test]
async fn a_passwd_linked_to_dev_zero_fails_clearly_and_the_agent_lives() {
    let t = TestHome::new();
    // The memory limit only matters to an agent that does read /dev/zero: it bounds what that
    // read can take from the host before the OOM killer ends it.
    let (b, _cleanup) = started(&t, BoxOptions { memory_mib: Some(256), ..t.options() }).await;
    let agent = agent_pid(&b);
    ok(&b, sh("rm /etc/passwd && ln -s /dev/zero /etc/passwd")).await;
    refused(&b, as_user("nobody", "true"), "/etc/passwd leads out of the box's root filesystem")
        .await;
    // A hard target inside the root is no better: a directory, or a link into /proc.
    ok(&b, sh("rm /etc/passwd && mkdir /etc/passwd")).await;
    refused(&b, as_user("nobody", "true"), "/etc/passwd is not a regular file (it is a directory)")
        .await;
    ok(&b, sh("rmdir /etc/passwd && ln -s /proc/1/environ /etc/passwd")).await;
    refused(&b, as_user("nobody", "true"), "leads out of the box's root filesystem").await;
    // The same agent, not a restarted one, and it still runs things.
    assert_eq!(agent_pid(&b), agent);
    let rss = host_proc(agent, "status");
    let rss_kib: u64 = rss
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS");
    assert!(rss_kib < 64 * 1024, "the agent holds {rss_kib} KiB");
    assert_eq!(ok(&b, sh("echo alive")).await, "alive\n");
}

#[tokio::test]
async fn an_oversized_passwd_is_refused_and_one_within_the_bound_is_read() {
    let t = TestHome::new();
    let (b, _cleanup) = started(&t, t.options()).await;
    // 4 MiB + 1 byte: just past the agent's bound (sparse: the size is what counts).
    ok(&b, sh("cp /etc/passwd /etc/passwd.orig && truncate -s 4194305 /etc/passwd")).await;
    refused(&b, as_user("nobody", "true"), "/etc/passwd is larger than 4194304 bytes").await;
    // At the bound exactly it is read, and the user is found in it.
    ok(&b, sh("cp /etc/passwd.orig /etc/passwd && truncate -s 4194304 /etc/passwd")).await;
    assert_eq!(ok(&b, as_user("nobody", "id -u")).await, "65534\n");
}

#[tokio::test]
async fn the_workload_cannot_move_oom_scores_in_its_favour() {
    let t = TestHome::new();
    let (b, _cleanup) = started(&t, t.options()).await;
    let agent = agent_pid(&b);
    let floor = host_grants_cap_sys_resource();
    // -1000 (never chosen) needs CAP_SYS_RESOURCE; without it the agent keeps what it got.
    let agent_score = if floor { "-1000" } else { "0" };
    assert_eq!(host_proc(agent, "oom_score_adj").trim(), agent_score);
    for user in ["root", "nobody"] {
        assert_eq!(ok(&b, as_user(user, "cat /proc/self/oom_score_adj")).await, "500\n", "{user}");
        // The agent's score is out of reach: a root workload owns the agent's /proc files and
        // could otherwise raise it to make the agent the OOM killer's first choice.
        let (_, err, res) =
            run(&b, as_user(user, "echo 1000 > /proc/1/oom_score_adj")).await.unwrap();
        assert_ne!(res.exit_code, Some(0), "{user} changed the agent's score: {err}");
        let (_, err, res) =
            run(&b, as_user(user, "echo 1000 > /proc/1/task/1/oom_score_adj")).await.unwrap();
        assert_ne!(res.exit_code, Some(0), "{user} changed the agent's score: {err}");
        // Raising its own is allowed.
        assert_eq!(
            ok(
                &b,
                as_user(user, "echo 600 > /proc/self/oom_score_adj; cat /proc/self/oom_score_adj")
            )
            .await,
            "600\n"
        );
        if floor {
            for value in ["0", "499", "-1000"] {
                let script = format!("echo {value} > /proc/self/oom_score_adj");
                let (_, err, res) = run(&b, as_user(user, &script)).await.unwrap();
                assert_ne!(res.exit_code, Some(0), "{user} lowered its score to {value}");
                assert!(err.contains("denied"), "{user}, {value}: {err}");
            }
        }
    }
    assert_eq!(host_proc(agent, "oom_score_adj").trim(), agent_score);
    if !floor {
        eprintln!(
            "this host withholds CAP_SYS_RESOURCE: no floor can be set under the workloads' 500, \
             so only the agent's side was checked"
        );
        let log = std::fs::read_to_string(b.log_path()).unwrap();
        assert!(log.contains("oom_score_adj stays 0"), "{log}");
    }
}

#[tokio::test]
async fn processes_get_the_box_open_file_limit_and_cannot_exceed_it() {
    let t = TestHome::new();
    let (b, _cleanup) = started(&t, t.options()).await;
    let (soft, hard) = DEFAULT_NOFILE;
    assert_eq!(ok(&b, sh("ulimit -n; ulimit -Hn")).await, format!("{soft}\n{hard}\n"));
    assert_eq!(
        ok(&b, as_user("nobody", "ulimit -n; ulimit -Hn")).await,
        format!("{soft}\n{hard}\n")
    );
    // Not even root may raise the hard limit (CAP_SYS_RESOURCE is not in its set).
    let (_, _, res) = run(&b, sh("ulimit -Hn 8192")).await.unwrap();
    assert_ne!(res.exit_code, Some(0), "raised the hard limit");
    // The agent's own limit is left alone: it is what the shim inherited from this process.
    let agent = agent_pid(&b);
    assert_eq!(
        open_files_limit(&host_proc(agent, "limits")),
        open_files_limit(&host_proc(std::process::id(), "limits"))
    );
    drop(_cleanup);

    // Set in the box's options, for execs and the main command alike; an fd hog stops at the
    // soft limit: descriptors 0 to 199, of which the shell holds 0-2 and a few of its own.
    let options = BoxOptions {
        nofile_soft: Some(200),
        nofile_hard: Some(300),
        cmd: Some(vec!["sh".into(), "-c".into(), "ulimit -n; ulimit -Hn; exec sleep 600".into()]),
        ..t.options()
    };
    let (b, _cleanup) = started(&t, options).await;
    assert_eq!(ok(&b, sh("ulimit -n; ulimit -Hn")).await, "200\n300\n");
    let mut main = bounded("attach", b.attach_main()).await.unwrap();
    let mut main_out = main.stdout().unwrap();
    let mut seen = String::new();
    while seen.lines().count() < 2 {
        let chunk = bounded("main output", main_out.recv()).await.expect("main output ended");
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert_eq!(seen, "200\n300\n");
    // Each descriptor is tried in a subshell first: a failed `exec` redirection would end the
    // shell itself. Bounded at 400 descriptors, twice the limit.
    let hog = "i=3; while [ $i -lt 400 ]; do (eval \"exec $i</dev/null\") || break; \
               eval \"exec $i</dev/null\"; i=$((i+1)); done; echo $i";
    let (out, err, res) = run(&b, sh(hog)).await.unwrap();
    assert_eq!((out.as_str(), res.exit_code), ("200\n", Some(0)), "the first fd refused: {err}");
    assert!(err.contains("Too many open files"), "{err}");
}
