//! Exec output, exit codes, environment, working directory and stdin.

use boxlite_protocol::pb::{exec_event::Event, EnvVar, PingRequest, WriteStdinRequest};

use crate::harness::{collect, config, drain, read_fifo, run, sh, Agent, LIMIT};

#[tokio::test(flavor = "multi_thread")]
async fn ping_reports_version_and_box_id() {
    let agent = Agent::start(config()).await;
    let ping = agent.client().await.ping(PingRequest {}).await.expect("ping").into_inner();
    assert_eq!(ping.version, boxlite_protocol::PROTOCOL_VERSION);
    assert_eq!(ping.box_id, "test-box");
    assert_eq!(ping.orphans_reaped, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn echo_streams_stdout_and_stderr_then_exit_zero() {
    let agent = Agent::start(config()).await;
    let mut client = agent.client().await;
    let out = run(&mut client, sh("echo hello; echo oops >&2")).await.expect("exec");
    assert_eq!(out.stdout(), "hello\n");
    assert_eq!(out.stderr, b"oops\n");
    assert_eq!(out.exited.exit_code, Some(0));
    assert_eq!(out.exited.signal, None);
    assert!(!out.exited.timed_out);
    assert!(out.started.pid > 1);
    assert!(!out.started.exec_id.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn nonzero_exit_code_is_reported() {
    let agent = Agent::start(config()).await;
    let out = run(&mut agent.client().await, sh("exit 42")).await.expect("exec");
    assert_eq!(out.exited.exit_code, Some(42));
    assert_eq!(out.exited.signal, None);
}

#[tokio::test(flavor = "multi_thread")]
async fn env_merges_box_and_request_and_cwd_applies() {
    let mut cfg = config();
    cfg.env = vec![("FOO".into(), "box".into()), ("KEEP".into(), "1".into())];
    let agent = Agent::start(cfg).await;
    let cwd = agent.dir.path().canonicalize().expect("canonical dir");
    let mut req = sh("echo \"$FOO $KEEP $BAR\"; pwd; echo \"$HOME\"; echo \"$PATH\"");
    req.env = vec![
        EnvVar { name: "FOO".into(), value: "req".into() },
        EnvVar { name: "BAR".into(), value: "x y".into() },
    ];
    req.working_dir = cwd.display().to_string();
    let out = run(&mut agent.client().await, req).await.expect("exec");
    let home = if unsafe { libc::geteuid() } == 0 { "/root" } else { "" };
    let expected = format!(
        "req 1 x y\n{}\n{home}\n/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n",
        cwd.display()
    );
    if home.is_empty() {
        assert!(out.stdout().starts_with(&format!("req 1 x y\n{}\n", cwd.display())));
    } else {
        assert_eq!(out.stdout(), expected);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn config_working_dir_is_the_default() {
    let mut cfg = config();
    cfg.working_dir = "/tmp".into();
    let agent = Agent::start(cfg).await;
    let out = run(&mut agent.client().await, sh("pwd")).await.expect("exec");
    assert_eq!(out.stdout(), "/tmp\n");
}

#[tokio::test(flavor = "multi_thread")]
async fn stdin_round_trips_through_cat() {
    let agent = Agent::start(config()).await;
    let mut client = agent.client().await;
    let mut req = crate::harness::request(&["cat"]);
    req.stdin = true;
    let mut stream = client.exec(req).await.expect("exec").into_inner();
    let first = stream.message().await.expect("event").expect("started");
    let Some(Event::Started(started)) = first.event else { panic!("expected Started") };
    for (data, close) in [(&b"hello "[..], false), (&b"world"[..], true)] {
        let write =
            WriteStdinRequest { exec_id: started.exec_id.clone(), data: data.to_vec(), close };
        client.write_stdin(write).await.expect("write stdin");
    }
    let tail = tokio::time::timeout(LIMIT, drain(&mut stream)).await.expect("cat ends");
    assert_eq!(tail.stdout, b"hello world");
    assert_eq!(tail.exited.exit_code, Some(0));
}

#[tokio::test(flavor = "multi_thread")]
async fn without_stdin_the_process_reads_eof() {
    let agent = Agent::start(config()).await;
    let out =
        run(&mut agent.client().await, crate::harness::request(&["cat"])).await.expect("exec");
    assert_eq!(out.stdout, b"");
    assert_eq!(out.exited.exit_code, Some(0));
}

#[tokio::test(flavor = "multi_thread")]
async fn eight_megabytes_of_output_do_not_deadlock() {
    let agent = Agent::start(config()).await;
    let script = "head -c 8388608 /dev/zero & head -c 1048576 /dev/zero >&2; wait";
    let out = run(&mut agent.client().await, sh(script)).await.expect("exec");
    assert_eq!(out.stdout.len(), 8 * 1024 * 1024);
    assert_eq!(out.stderr.len(), 1024 * 1024);
    assert!(out.stdout.iter().all(|&b| b == 0));
    assert_eq!(out.exited.exit_code, Some(0));
}

#[tokio::test(flavor = "multi_thread")]
async fn fifty_concurrent_execs_each_get_their_own_output() {
    let agent = Agent::start(config()).await;
    let client = agent.client().await;
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..50 {
        let mut client = client.clone();
        tasks.spawn(async move {
            let mut req = sh("echo \"$0\"; echo \"err$0\" >&2; exit $(($0 % 7))");
            req.argv.push(i.to_string());
            (i, run(&mut client, req).await.expect("exec"))
        });
    }
    let mut seen = 0;
    while let Some(joined) = tasks.join_next().await {
        let (i, out) = joined.expect("task");
        assert_eq!(out.stdout(), format!("{i}\n"));
        assert_eq!(out.stderr, format!("err{i}\n").into_bytes());
        assert_eq!(out.exited.exit_code, Some(i % 7));
        seen += 1;
    }
    assert_eq!(seen, 50);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_dropped_stream_leaves_the_process_running_to_its_end() {
    let agent = Agent::start(config()).await;
    let fifo = agent.dir.path().join("done");
    crate::harness::mkfifo(&fifo);
    let mut client = agent.client().await;
    // Far more output than the pipe and the event buffer hold: without draining, the process
    // would block in write forever and never reach the fifo.
    let mut req = sh("head -c 4000000 /dev/zero; echo finished > \"$0\"");
    req.argv.push(fifo.display().to_string());
    let stream = client.exec(req).await.expect("exec").into_inner();
    drop(stream);
    assert_eq!(read_fifo(&fifo).await, "finished\n");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_long_argument_list_and_binary_output_pass_unchanged() {
    let agent = Agent::start(config()).await;
    let mut req = sh("printf '%s\\n' \"$@\"");
    req.argv.push("sh".into());
    let args: Vec<String> = (0..2000).map(|i| format!("arg-{i}")).collect();
    req.argv.extend(args.iter().cloned());
    let stream = agent.client().await.exec(req).await.expect("exec").into_inner();
    let out = collect(stream).await;
    let expected: String = args.iter().map(|a| format!("{a}\n")).collect();
    assert_eq!(out.stdout(), expected);
}
