//! TTY execs: the process runs on a pseudo-terminal it controls; input, output, window size,
//! timeouts and the end of output all go through the terminal's master side in the agent.

use boxlite_protocol::pb::{
    exec_event::Event, ExecEvent, ExecRequest, ResizeTtyRequest, ShutdownRequest, Started,
    WriteStdinRequest,
};
use tonic::{Code, Streaming};

use crate::harness::{
    assert_timeout_kills_group, config, drain, root, run, sh, Agent, Client, LIMIT,
};

fn tty(script: &str) -> ExecRequest {
    ExecRequest { tty: true, ..sh(script) }
}

async fn start(client: &mut Client, req: ExecRequest) -> (Streaming<ExecEvent>, Started) {
    let mut stream = client.exec(req).await.expect("exec").into_inner();
    let first = stream.message().await.expect("event").expect("not the end");
    let Some(Event::Started(started)) = first.event else { panic!("expected Started: {first:?}") };
    (stream, started)
}

/// Appends stdout events to `out` until it contains `needle`. A tty exec sends no stderr.
async fn read_until(stream: &mut Streaming<ExecEvent>, out: &mut Vec<u8>, needle: &str) {
    let read = async {
        while !String::from_utf8_lossy(out).contains(needle) {
            let event = stream.message().await.expect("event").expect("stream still open");
            match event.event {
                Some(Event::Stdout(data)) => out.extend(data),
                other => panic!("waiting for {needle:?} after {out:?}: {other:?}"),
            }
        }
    };
    tokio::time::timeout(LIMIT, read).await.expect("output in time");
}

async fn write(client: &mut Client, exec_id: &str, data: &[u8], close: bool) {
    let req = WriteStdinRequest { exec_id: exec_id.to_owned(), data: data.to_vec(), close };
    client.write_stdin(req).await.expect("write stdin");
}

async fn resize(
    client: &mut Client,
    exec_id: &str,
    rows: u32,
    cols: u32,
) -> Result<(), tonic::Status> {
    let req = ResizeTtyRequest { exec_id: exec_id.to_owned(), rows, cols };
    client.resize_tty(req).await.map(|_| ())
}

/// (pgrp, session, tty_nr) from a /proc/PID/stat line.
fn session_fields(stat: &str) -> (i32, i32, i32) {
    let rest = &stat[stat.rfind(')').expect("comm") + 2..];
    let fields: Vec<i32> =
        rest.split_whitespace().skip(2).take(3).map(|f| f.parse().expect("number")).collect();
    (fields[0], fields[1], fields[2])
}

#[tokio::test(flavor = "multi_thread")]
async fn a_tty_exec_leads_a_session_with_the_terminal_as_controlling_terminal() {
    let agent = Agent::start(config()).await;
    let script = "test -t 0 && test -t 1 && test -t 2 && echo is-a-tty; echo to-stderr >&2; \
                  cat /proc/$$/stat; exit 7";
    let out = run(&mut agent.client().await, tty(script)).await.expect("exec");
    let text = out.stdout();
    // The terminal's output processing turns \n into \r\n.
    assert!(text.starts_with("is-a-tty\r\nto-stderr\r\n"), "{text:?}");
    assert_eq!(out.stderr, b"", "everything arrives as stdout");
    assert_eq!(out.exited.exit_code, Some(7));
    let stat = text.lines().nth(2).expect("stat line");
    let (pgrp, session, tty_nr) = session_fields(stat);
    let pid = out.started.pid as i32;
    assert_eq!((pgrp, session), (pid, pid), "leads its own group and session: {stat}");
    assert_ne!(tty_nr, 0, "has a controlling terminal: {stat}");
}

#[tokio::test(flavor = "multi_thread")]
async fn stty_size_shows_the_initial_and_the_resized_size() {
    let agent = Agent::start(config()).await;
    let mut client = agent.client().await;
    let out = run(&mut client, tty("stty size")).await.expect("exec");
    assert_eq!(out.stdout(), "24 80\r\n", "0 rows and columns: the default size");

    let req = ExecRequest { tty_rows: 30, tty_cols: 90, ..tty("stty size; read line; stty size") };
    let (mut stream, started) = start(&mut client, req).await;
    let mut seen = Vec::new();
    read_until(&mut stream, &mut seen, "30 90\r\n").await;
    resize(&mut client, &started.exec_id, 40, 100).await.expect("resize");
    // WriteStdin works on a tty exec though the request did not ask for stdin.
    write(&mut client, &started.exec_id, b"\n", false).await;
    let tail = tokio::time::timeout(LIMIT, drain(&mut stream)).await.expect("ends");
    seen.extend(tail.stdout);
    assert_eq!(String::from_utf8_lossy(&seen), "30 90\r\n\r\n40 100\r\n");
    assert_eq!(tail.exited.exit_code, Some(0));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_resize_reaches_the_process_as_sigwinch() {
    let agent = Agent::start(config()).await;
    let mut client = agent.client().await;
    let script = "trap 'stty size; exit 3' WINCH; echo ready; while :; do sleep 0.05; done";
    let (mut stream, started) = start(&mut client, tty(script)).await;
    let mut seen = Vec::new();
    read_until(&mut stream, &mut seen, "ready\r\n").await;
    resize(&mut client, &started.exec_id, 50, 120).await.expect("resize");
    let tail = tokio::time::timeout(LIMIT, drain(&mut stream)).await.expect("ends");
    assert_eq!(String::from_utf8_lossy(&tail.stdout), "50 120\r\n");
    assert_eq!(tail.exited.exit_code, Some(3));
}

#[tokio::test(flavor = "multi_thread")]
async fn stdin_echoes_through_the_terminal_and_closing_it_is_end_of_file() {
    let agent = Agent::start(config()).await;
    let mut client = agent.client().await;
    let (mut stream, started) =
        start(&mut client, ExecRequest { tty: true, ..crate::harness::request(&["cat"]) }).await;
    write(&mut client, &started.exec_id, b"hello\n", false).await;
    let mut seen = Vec::new();
    // The terminal echoes the line, then cat prints it.
    read_until(&mut stream, &mut seen, "hello\r\nhello\r\n").await;
    // A partial line then close: cat gets "abc", then end of file, and exits.
    write(&mut client, &started.exec_id, b"abc", true).await;
    let tail = tokio::time::timeout(LIMIT, drain(&mut stream)).await.expect("cat ends");
    seen.extend(tail.stdout);
    assert_eq!(String::from_utf8_lossy(&seen), "hello\r\nhello\r\nabcabc");
    assert_eq!(tail.exited.exit_code, Some(0));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_timeout_on_a_tty_exec_kills_its_whole_group() {
    assert_timeout_kills_group(tty("sleep 100 & echo $!; sleep 100")).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn output_around_the_end_of_the_leader_is_not_lost() {
    let agent = Agent::start(config()).await;
    // 300 kB written just before the shell exits, and a line from a child that outlives it
    // (ignoring the hangup the shell's exit sends): all of it precedes Exited.
    let script = "trap '' HUP; (sleep 0.2; echo late) & \
                  head -c 300000 /dev/zero | tr '\\0' x; echo; echo early";
    let out = run(&mut agent.client().await, tty(script)).await.expect("exec");
    let xs = out.stdout.iter().filter(|&&b| b == b'x').count();
    assert_eq!(xs, 300_000);
    assert!(out.stdout().ends_with("x\r\nearly\r\nlate\r\n"), "{:?}", &out.stdout()[300_000..]);
    assert_eq!(out.exited.exit_code, Some(0));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_end_of_a_terminal_is_not_reported_as_a_read_error() {
    let mut agent = Agent::spawn(config(), true);
    assert!(agent.wait_ready().await, "agent ready");
    let mut client = agent.client().await;
    let out = run(&mut client, tty("echo done")).await.expect("exec");
    assert_eq!(out.stdout(), "done\r\n");
    client.shutdown(ShutdownRequest { grace_ms: 1000 }).await.expect("shutdown");
    let (status, _, console) = agent.wait_exit().await;
    assert_eq!(status.code(), Some(0));
    // Linux reports the closed slave side as EIO on the master: that is EOF, not a failure.
    assert!(!console.contains("reading output"), "{console}");
}

#[tokio::test(flavor = "multi_thread")]
async fn resize_needs_a_terminal_and_a_size_that_fits() {
    let agent = Agent::start(config()).await;
    let mut client = agent.client().await;
    let (mut plain, plain_started) =
        start(&mut client, ExecRequest { stdin: true, ..crate::harness::request(&["cat"]) }).await;
    let err = resize(&mut client, &plain_started.exec_id, 40, 100).await.expect_err("no tty");
    assert_eq!(err.code(), Code::FailedPrecondition, "{err:?}");
    assert!(err.message().contains("has no terminal"), "{err:?}");
    write(&mut client, &plain_started.exec_id, b"", true).await;
    let tail = tokio::time::timeout(LIMIT, drain(&mut plain)).await.expect("cat ends");
    assert_eq!(tail.exited.exit_code, Some(0));

    let (mut on_tty, started) = start(&mut client, tty("read line")).await;
    for (rows, cols) in [(0, 100), (40, 0), (70_000, 100)] {
        let err = resize(&mut client, &started.exec_id, rows, cols).await.expect_err("bad size");
        assert_eq!(err.code(), Code::InvalidArgument, "{rows}x{cols}: {err:?}");
    }
    write(&mut client, &started.exec_id, b"\n", false).await;
    let tail = tokio::time::timeout(LIMIT, drain(&mut on_tty)).await.expect("read ends");
    assert_eq!(tail.exited.exit_code, Some(0));
    let err = resize(&mut client, "exec-999", 40, 100).await.expect_err("unknown exec");
    assert_eq!(err.code(), Code::NotFound);

    let oversized = ExecRequest { tty_rows: 70_000, ..tty("true") };
    let err = client.exec(oversized).await.expect_err("size too large");
    assert_eq!(err.code(), Code::InvalidArgument, "{err:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_tty_exec_as_another_user_owns_its_terminal() {
    assert!(root(), "switching users needs the tests to run as root");
    let agent = Agent::start(config()).await;
    let req = ExecRequest { user: "65534".into(), ..tty("id -u; stat -L -c %u /proc/self/fd/0") };
    let out = run(&mut agent.client().await, req).await.expect("exec");
    assert_eq!(out.stdout(), "65534\r\n65534\r\n");
}
