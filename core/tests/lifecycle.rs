//! End-to-end: real namespaces, the real shim and static guest, a real OCI image. Every test
//! has its own home and asserts on what came back through production code.

mod common;

use std::time::Duration;

use boxlite_core::{BoxOptions, BoxStatus, Command, ErrorKind};
use common::{fixture, output, sh, TestHome};

#[tokio::test]
async fn run_exec_stop_start_remove_keeps_files() {
    let t = TestHome::new();
    let b = t.rt.create(t.options(), Some("life")).unwrap();
    b.start().await.unwrap();
    let info = b.info().unwrap();
    assert_eq!(info.status, BoxStatus::Running);
    let shim_pid = info.pid.expect("running box records its shim");

    let (out, _, res) =
        output(b.exec(sh("echo hello; echo oops >&2; exit 4")).await.unwrap()).await;
    assert_eq!(String::from_utf8_lossy(&out), "hello\n");
    assert_eq!(res.exit_code, Some(4));

    let (_, _, res) = output(b.exec(sh("echo kept > /root/state")).await.unwrap()).await;
    assert_eq!(res.exit_code, Some(0));
    b.stop(Duration::from_secs(5)).await.unwrap();
    assert_eq!(b.info().unwrap().status, BoxStatus::Stopped);
    assert!(!std::path::Path::new(&format!("/proc/{shim_pid}")).exists(), "shim reaped");

    b.start().await.unwrap();
    let (out, _, _) = output(b.exec(sh("cat /root/state; hostname")).await.unwrap()).await;
    assert_eq!(String::from_utf8_lossy(&out), "kept\nlife\n");
    b.stop(Duration::from_secs(5)).await.unwrap();
    t.rt.remove("life", false).unwrap();
    assert!(t.rt.get("life").unwrap().is_none());
    assert!(common::processes_mentioning(&t.path().display().to_string()).is_empty());
}

#[tokio::test]
async fn exec_env_cwd_user_and_stdin() {
    let t = TestHome::new();
    let opts = BoxOptions { env: vec![("BOX_VAR".into(), "from-box".into())], ..t.options() };
    let b = t.rt.create(opts, None).unwrap();
    let cmd = Command {
        env: vec![("EXEC_VAR".into(), "from-exec".into())],
        working_dir: Some("/etc".into()),
        user: Some("65534".into()),
        ..sh("echo $BOX_VAR $EXEC_VAR $(pwd) $(id -u)")
    };
    // exec on a configured box starts it first.
    let (out, _, res) = output(b.exec(cmd).await.unwrap()).await;
    assert_eq!(String::from_utf8_lossy(&out), "from-box from-exec /etc 65534\n");
    assert_eq!(res.exit_code, Some(0));

    let mut exec = b.exec(Command { stdin: true, ..Command::new(["cat"]) }).await.unwrap();
    let mut stdin = exec.stdin().unwrap();
    stdin.write(b"round ").await.unwrap();
    stdin.write(b"trip").await.unwrap();
    stdin.close().await.unwrap();
    let (out, _, res) = output(exec).await;
    assert_eq!(out, b"round trip");
    assert_eq!(res.exit_code, Some(0));
    b.stop(Duration::from_secs(5)).await.unwrap();
}

#[tokio::test]
async fn large_output_and_concurrent_execs() {
    let t = TestHome::new();
    let b = t.rt.create(t.options(), None).unwrap();
    b.start().await.unwrap();
    // 8 MiB on stdout and 1 MiB on stderr at once: neither stream may block the other.
    let (out, err, res) = output(
        b.exec(sh("head -c 1048576 /dev/zero >&2 & head -c 8388608 /dev/zero; wait"))
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((out.len(), err.len(), res.exit_code), (8 << 20, 1 << 20, Some(0)));

    let mut tasks = Vec::new();
    for i in 0..50 {
        let b = b.clone();
        tasks.push(tokio::spawn(async move {
            let exec = b.exec(sh(&format!("echo {i}; exit {}", i % 7))).await.unwrap();
            let (out, _, res) = output(exec).await;
            (i, String::from_utf8(out).unwrap(), res.exit_code)
        }));
    }
    for task in tasks {
        let (i, out, code) = task.await.unwrap();
        assert_eq!(out, format!("{i}\n"));
        assert_eq!(code, Some(i % 7));
    }
    b.stop(Duration::from_secs(5)).await.unwrap();
}

#[tokio::test]
async fn command_that_cannot_start_is_a_typed_error() {
    let t = TestHome::new();
    let b = t.rt.create(t.options(), None).unwrap();
    b.start().await.unwrap();
    let err = b.exec(Command::new(["no-such-command"])).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::CommandNotFound, "{err}");
    assert!(err.to_string().contains("command not found"), "{err}");
    // /etc/passwd exists in the image but is not executable; / is a directory.
    for not_executable in ["/etc/passwd", "/"] {
        let err = b.exec(Command::new([not_executable])).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NotExecutable, "{not_executable}: {err}");
    }
    let err = b.exec(Command { working_dir: Some("/nope".into()), ..sh("true") }).await;
    assert_eq!(err.unwrap_err().kind(), ErrorKind::BadWorkingDir);
    // The box is unharmed.
    assert_eq!(b.info().unwrap().status, BoxStatus::Running);
    let (_, _, res) = output(b.exec(sh("exit 0")).await.unwrap()).await;
    assert_eq!(res.exit_code, Some(0));
    b.stop(Duration::from_secs(5)).await.unwrap();
}

#[tokio::test]
async fn exec_timeout_kills_the_process_group() {
    let t = TestHome::new();
    let b = t.rt.create(t.options(), None).unwrap();
    b.start().await.unwrap();
    let started = std::time::Instant::now();
    let cmd = Command { timeout: Some(Duration::from_millis(300)), ..sh("sleep 100 & sleep 100") };
    let (_, _, res) = output(b.exec(cmd).await.unwrap()).await;
    assert!(res.timed_out);
    assert!(started.elapsed() < Duration::from_secs(20), "took {:?}", started.elapsed());
    let (out, _, _) = output(b.exec(sh("ps -o comm | grep -c sleep || true")).await.unwrap()).await;
    assert_eq!(String::from_utf8_lossy(&out).trim(), "0", "the backgrounded sleep died too");
    b.stop(Duration::from_secs(5)).await.unwrap();
}

#[tokio::test]
async fn main_command_exit_code_stops_the_box() {
    let t = TestHome::new();
    let opts = BoxOptions {
        cmd: Some(vec!["sh".into(), "-c".into(), "echo main-out; exit 7".into()]),
        ..t.options()
    };
    let b = t.rt.create(opts, None).unwrap();
    b.start().await.unwrap();
    let (out, _, res) = output(b.attach_main().await.unwrap()).await;
    assert_eq!(String::from_utf8_lossy(&out), "main-out\n");
    assert_eq!(res.exit_code, Some(7));
    let info = b.wait().await.unwrap();
    assert_eq!((info.status, info.exit_code), (BoxStatus::Stopped, Some(7)));
    let log = std::fs::read_to_string(b.log_path()).unwrap();
    assert!(log.contains("main-out"), "{log}");
}

#[tokio::test]
async fn pid1_is_the_agent_and_orphans_are_reaped() {
    let t = TestHome::new();
    let b = t.rt.create(t.options(), None).unwrap();
    b.start().await.unwrap();
    // PID 1 is the agent binary (its comm is the file's name; core/tests/agent_binary.rs
    // attacks it) and is non-dumpable: a process in the box cannot even resolve /proc/1/exe.
    let (out, _, res) =
        output(b.exec(sh("cat /proc/1/comm; readlink /proc/1/exe")).await.unwrap()).await;
    let out = String::from_utf8_lossy(&out);
    assert_eq!(out, "boxlite-guest\n", "PID 1 is the agent and hides its exe");
    assert_ne!(res.exit_code, Some(0), "readlink /proc/1/exe is refused");
    // The grandchild is orphaned (its parent exits at once) and exits later: PID 1 must reap it.
    let (out, _, _) = output(b.exec(sh("sh -c 'sleep 0.3 & echo $!' ; true")).await.unwrap()).await;
    let orphan = String::from_utf8_lossy(&out).trim().to_string();
    let (_, _, res) = output(
        // Waits for the condition itself (bounded), not for a fixed time.
        b.exec(sh(&format!("timeout 10 sh -c 'while [ -e /proc/{orphan} ]; do sleep 0.05; done'")))
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(res.exit_code, Some(0), "the orphan {orphan} was reaped (no zombie remains)");
    b.stop(Duration::from_secs(5)).await.unwrap();
}

#[tokio::test]
async fn isolation_basics() {
    let t = TestHome::new();
    let b = t.rt.create(t.options(), Some("iso")).unwrap();
    b.start().await.unwrap();
    let host_net = std::fs::read_link("/proc/self/ns/net").unwrap();
    let (out, _, _) = output(
        b.exec(sh("readlink /proc/self/ns/net; hostname; mount | grep ' /tmp ' | cut -d' ' -f5; \
                   touch /sys/x 2>&1 | grep -c 'Read-only' || true; ls /sys/class/net"))
            .await
            .unwrap(),
    )
    .await;
    let out = String::from_utf8_lossy(&out);
    let lines: Vec<&str> = out.lines().collect();
    assert_ne!(lines[0], host_net.to_string_lossy(), "own network namespace");
    assert_eq!(lines[1], "iso");
    assert_eq!(lines[2], "tmpfs", "the image has no /tmp: a tmpfs is mounted");
    assert_eq!(lines[3], "1", "/sys is read-only");
    assert_eq!(lines[4..].join(" "), "eth0 lo", "the default network: eth0 beside loopback");
    b.stop(Duration::from_secs(5)).await.unwrap();
}

#[tokio::test]
async fn second_process_reattaches_to_running_box() {
    let t = TestHome::new();
    let b = t.rt.create(t.options(), Some("shared")).unwrap();
    b.start_detached().await.unwrap();
    // Another runtime (as another process would) finds it running and can exec and stop it.
    let other = common::open(t.path(), &fixture().guest, None);
    let ob = other.get("shared").unwrap().unwrap();
    assert_eq!(ob.info().unwrap().status, BoxStatus::Running);
    let (out, _, _) = output(ob.exec(sh("echo via-other")).await.unwrap()).await;
    assert_eq!(out, b"via-other\n");
    ob.stop(Duration::from_secs(5)).await.unwrap();
    assert_eq!(b.info().unwrap().status, BoxStatus::Stopped);
}

#[tokio::test]
async fn shutdown_stops_boxes_and_closes_the_runtime() {
    let t = TestHome::new();
    let a = t.rt.create(t.options(), None).unwrap();
    let b = t.rt.create(t.options(), None).unwrap();
    a.start().await.unwrap();
    b.start().await.unwrap();
    t.rt.shutdown(Duration::from_secs(5)).await.unwrap();
    for handle in [&a, &b] {
        assert_eq!(handle.info().unwrap().status, BoxStatus::Stopped);
    }
    t.rt.shutdown(Duration::from_secs(5)).await.expect("shutdown is idempotent");
    let err = t.rt.create(t.options(), None).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidState, "{err}");
    assert!(err.to_string().contains("shut down"), "{err}");
    assert_eq!(t.rt.list_info().unwrap_err().kind(), ErrorKind::InvalidState);
    assert_eq!(a.start().await.unwrap_err().kind(), ErrorKind::InvalidState);
    // A new runtime on the same home goes on.
    let rt = boxlite_core::Runtime::open(boxlite_core::RuntimeOptions {
        home_dir: Some(t.path().into()),
        ..Default::default()
    })
    .unwrap();
    assert_eq!(rt.list_info().unwrap().len(), 2);
    rt.remove(a.id(), false).unwrap();
    rt.remove(b.id(), false).unwrap();
}
