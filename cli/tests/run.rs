//! `run`, `exec`, `start`, `stop`, `logs` through the real binary with real boxes (fixtures
//! from scripts/test.sh: BOXLITE_SHIM, BOXLITE_GUEST, BOXLITE_TEST_IMAGE).

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use serde_json::Value;

fn image() -> String {
    std::env::var("BOXLITE_TEST_IMAGE")
        .expect("BOXLITE_TEST_IMAGE unset: run the tests through scripts/test.sh (make test)")
}

fn boxlite(home: &Path, args: &[&str], stdin: Option<&[u8]>) -> Output {
    for var in ["BOXLITE_SHIM", "BOXLITE_GUEST"] {
        assert!(std::env::var_os(var).is_some(), "{var} unset: run through scripts/test.sh");
    }
    let mut child = Command::new(env!("CARGO_BIN_EXE_boxlite"))
        .arg("--home")
        .arg(home)
        .args(args)
        .stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    if let Some(data) = stdin {
        child.stdin.take().unwrap().write_all(data).unwrap();
    }
    child.wait_with_output().unwrap()
}

fn out_id(info: &Value) -> String {
    info["id"].as_str().unwrap().to_string()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn box_json(home: &Path, key: &str) -> Value {
    let out = boxlite(home, &["inspect", key], None);
    assert!(out.status.success(), "{}", text(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn run_streams_output_and_exits_with_the_command_code() {
    let home = tempfile::tempdir().unwrap();
    let img = image();
    let out = boxlite(
        home.path(),
        &[
            "run",
            "--name",
            "fg",
            "-e",
            "WHO=box",
            &img,
            "sh",
            "-c",
            "echo out $WHO; echo err >&2; exit 3",
        ],
        None,
    );
    assert_eq!(text(&out.stdout), "out box\n");
    assert_eq!(text(&out.stderr), "err\n");
    assert_eq!(out.status.code(), Some(3));
    let info = box_json(home.path(), "fg");
    assert_eq!(info["status"], "stopped");
    assert_eq!(info["exit_code"], 3);
    let logs = boxlite(home.path(), &["logs", "fg"], None);
    assert!(text(&logs.stdout).contains("out box"), "{}", text(&logs.stdout));
}

#[test]
fn run_rm_removes_the_box() {
    let home = tempfile::tempdir().unwrap();
    let out = boxlite(home.path(), &["run", "--rm", &image(), "echo", "bye"], None);
    assert_eq!((text(&out.stdout).as_str(), out.status.code()), ("bye\n", Some(0)));
    let ls = boxlite(home.path(), &["ls", "-a", "--format", "json"], None);
    assert_eq!(serde_json::from_slice::<Value>(&ls.stdout).unwrap(), Value::Array(vec![]));
}

#[test]
fn detached_box_exec_start_stop() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let out = boxlite(h, &["run", "-d", "--name", "bg", &image()], None);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(box_json(h, "bg")["status"], "running", "outlives the CLI that started it");

    let out = boxlite(h, &["exec", "bg", "sh", "-c", "echo in-box; exit 5"], None);
    assert_eq!((text(&out.stdout).as_str(), out.status.code()), ("in-box\n", Some(5)));
    let out = boxlite(h, &["exec", "-i", "bg", "sh", "-c", "tr a-z A-Z"], Some(b"piped in"));
    assert_eq!(text(&out.stdout), "PIPED IN");
    let out = boxlite(h, &["exec", "bg", "no-such-binary"], None);
    assert_eq!(out.status.code(), Some(127), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("command not found"));
    let out =
        boxlite(h, &["exec", "-u", "65534", "-w", "/etc", "bg", "sh", "-c", "id -u; pwd"], None);
    assert_eq!(text(&out.stdout), "65534\n/etc\n");

    assert!(boxlite(h, &["exec", "bg", "sh", "-c", "echo data > /root/f"], None).status.success());
    assert!(boxlite(h, &["stop", "-t", "2", "bg"], None).status.success());
    assert_eq!(box_json(h, "bg")["status"], "stopped");
    assert!(boxlite(h, &["start", "bg"], None).status.success());
    assert_eq!(box_json(h, "bg")["status"], "running");
    let out = boxlite(h, &["exec", "bg", "cat", "/root/f"], None);
    assert_eq!(text(&out.stdout), "data\n", "files survive stop/start");
    let box_id = box_json(h, "bg");
    let pid = box_id["pid"].as_u64().unwrap();
    assert!(boxlite(h, &["rm", "-f", "bg"], None).status.success());
    // The shim's parent was the `start` process, long gone: whoever adopted it reaps it, so it
    // may still show as a zombie for a moment — but it must not be alive.
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    assert!(stat.is_empty() || stat.contains(") Z "), "rm -f killed the shim: {stat}");
    let id = out_id(&box_id);
    let left: Vec<_> = ["pids", "memory", "cpu", "cpu,cpuacct"]
        .iter()
        .map(|c| format!("/sys/fs/cgroup/{c}/boxlite/{id}"))
        .chain([format!("/sys/fs/cgroup/boxlite/{id}")])
        .filter(|d| Path::new(d).exists())
        .collect();
    assert!(left.is_empty(), "rm -f left cgroups behind: {left:?}");
}

/// The pids.max of box `id`'s cgroup, read from the host (v2, else v1's pids hierarchy).
fn host_pids_max(id: &str) -> String {
    let dir = ["/sys/fs/cgroup/boxlite", "/sys/fs/cgroup/pids/boxlite"]
        .iter()
        .map(|root| format!("{root}/{id}"))
        .find(|d| Path::new(d).join("pids.max").exists())
        .unwrap_or_else(|| panic!("no pids cgroup of box {id}"));
    std::fs::read_to_string(format!("{dir}/pids.max")).unwrap().trim().to_string()
}

/// `rm -f` of a box when dropped, so a failed assertion does not leave a detached box running.
struct Removed<'a>(&'a Path, &'a str);

impl Drop for Removed<'_> {
    fn drop(&mut self) {
        let out = boxlite(self.0, &["rm", "-f", self.1], None);
        if !std::thread::panicking() {
            assert!(out.status.success(), "rm -f {}: {}", self.1, text(&out.stderr));
        }
    }
}

#[test]
fn bound_flags_are_in_force_in_the_box() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let _removed = Removed(h, "bounded");
    let args = [
        "run",
        "-d",
        "--name",
        "bounded",
        "--pids-limit",
        "64",
        "--ulimit",
        "nofile=300:600",
        "--tmp-size",
        "40",
    ];
    let out = boxlite(h, &[&args[..], &[&image()]].concat(), None);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let info = box_json(h, "bounded");
    assert_eq!(host_pids_max(&out_id(&info)), "64");
    let script = "ulimit -n; ulimit -Hn; df -m /tmp | tail -n 1";
    let out = boxlite(h, &["exec", "-u", "65534", "bounded", "sh", "-c", script], None);
    let stdout = text(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines[..2], ["300", "600"], "{stdout}");
    // Filesystem, 1M-blocks, …: the tmpfs is the size asked for.
    let df: Vec<&str> = lines[2].split_whitespace().collect();
    assert_eq!((df[0], df[1]), ("tmpfs", "40"), "{stdout}");
}

#[test]
fn lifecycle_errors_are_one_line_with_status_125() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    for args in [vec!["start", "nosuch"], vec!["stop", "nosuch"], vec!["exec", "nosuch", "true"]] {
        let out = boxlite(h, &args, None);
        assert_eq!(out.status.code(), Some(125), "{args:?}");
        assert_eq!(text(&out.stderr).lines().count(), 1, "{}", text(&out.stderr));
    }
    let out = boxlite(h, &["run", "oci:/nonexistent/layout", "true"], None);
    assert_eq!(out.status.code(), Some(125));
    assert!(text(&out.stderr).contains("/nonexistent/layout"), "{}", text(&out.stderr));
}

/// `exec BOX yes | head -1`: once the CLI's reader is gone, the command in the box gets the
/// SIGPIPE a local writer would (it does not run on, blocked on output nobody reads) and the
/// CLI ends quietly with 141, as a SIGPIPE'd tool. The pipe's read end is closed before the
/// CLI starts. (Two-sided: without the signal the CLI exited 125 with "Broken pipe" and `yes`
/// was still running in the box.)
#[test]
fn exec_into_a_closed_stdout_ends_the_command_with_sigpipe() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let out = boxlite(h, &["run", "-d", "--name", "pipe", &image()], None);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let _remove = RemoveOnDrop(h, "pipe");
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let out = Command::new(env!("CARGO_BIN_EXE_boxlite"))
        .arg("--home")
        .arg(h)
        .args(["exec", "pipe", "yes"])
        .stdin(Stdio::null())
        .stdout(writer)
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    assert_eq!((out.status.code(), text(&out.stderr).as_str()), (Some(141), ""));
    // The box's processes, read from its own /proc: `yes` is gone (the CLI waited for it to
    // end, and the agent had reaped it by then).
    let out = boxlite(h, &["exec", "pipe", "ps", "-o", "pid,stat,comm"], None);
    let procs = text(&out.stdout);
    assert!(out.status.success() && !procs.contains("yes"), "{procs}{}", text(&out.stderr));
}

/// Removes a detached box when the test ends, also when it fails: the box outlives the CLI.
struct RemoveOnDrop<'a>(&'a Path, &'a str);

impl Drop for RemoveOnDrop<'_> {
    fn drop(&mut self) {
        let out = boxlite(self.0, &["rm", "-f", self.1], None);
        assert!(out.status.success() || std::thread::panicking(), "{}", text(&out.stderr));
    }
}

/// `cp` both ways, as `docker cp`: a host file into a box directory, a box tree out, and tar
/// streams on stdin and stdout (read back by the host's `tar`).
#[test]
fn cp_copies_both_ways_and_streams_tar() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let out = boxlite(h, &["run", "-d", "--name", "cp", "--network", "disabled", &image()], None);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let _remove = RemoveOnDrop(h, "cp");
    let work = tempfile::tempdir().unwrap();
    let file = work.path().join("hello.txt");
    std::fs::write(&file, "hello\n").unwrap();

    let ok = |args: &[&str], stdin: Option<&[u8]>| {
        let out = boxlite(h, args, stdin);
        assert!(out.status.success(), "{args:?}: {}", text(&out.stderr));
        out.stdout
    };
    ok(&["exec", "cp", "mkdir", "/in"], None);
    ok(&["cp", file.to_str().unwrap(), "cp:/in"], None);
    assert_eq!(text(&ok(&["exec", "cp", "cat", "/in/hello.txt"], None)), "hello\n");

    let back = work.path().join("back");
    ok(&["cp", "cp:/in", back.to_str().unwrap()], None);
    assert_eq!(std::fs::read_to_string(back.join("hello.txt")).unwrap(), "hello\n");

    // Out as a tar stream: the host's tar lists it.
    let tar = ok(&["cp", "cp:/in", "-"], None);
    let listed = Command::new("tar")
        .args(["-tf", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            child.stdin.take().unwrap().write_all(&tar)?;
            child.wait_with_output()
        })
        .unwrap();
    assert_eq!(text(&listed.stdout), "in/\nin/hello.txt\n");
    // In as a tar stream, made by the host's tar.
    let made = Command::new("tar")
        .args(["-cf", "-", "-C", work.path().to_str().unwrap(), "hello.txt"])
        .output()
        .unwrap();
    assert!(made.status.success());
    ok(&["cp", "-", "cp:/streamed"], Some(&made.stdout));
    assert_eq!(text(&ok(&["exec", "cp", "cat", "/streamed/hello.txt"], None)), "hello\n");

    let out = boxlite(h, &["cp", "cp:/nope", back.to_str().unwrap()], None);
    assert_eq!(out.status.code(), Some(125));
    let err = text(&out.stderr);
    assert!(err.lines().count() == 1 && err.contains("/nope"), "{err}");
}

#[test]
fn run_with_volumes_shares_a_host_directory_and_refuses_a_bad_one() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let shared = h.join("shared");
    std::fs::create_dir(&shared).unwrap();
    std::fs::write(shared.join("in"), "from host\n").unwrap();
    let (rw, ro) = (format!("{}:/data", shared.display()), format!("{}:/ro:ro", shared.display()));
    let script = "cat /data/in && echo out > /data/out && { touch /ro/x 2>/dev/null || echo ro; }";
    let args = ["run", "--name", "vol", "-v", &rw, "--volume", &ro, &image(), "sh", "-c", script];
    let out = boxlite(h, &args, None);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "from host\nro\n");
    assert_eq!(std::fs::read_to_string(shared.join("out")).unwrap(), "out\n");
    let volumes = &box_json(h, "vol")["options"]["volumes"];
    assert_eq!(volumes[1]["guest_path"], "/ro");
    assert_eq!(volumes[1]["read_only"], true);
    assert!(boxlite(h, &["rm", "-f", "vol"], None).status.success());

    let missing = format!("{}:/data", h.join("missing").display());
    let out = boxlite(h, &["create", "-v", &missing, &image()], None);
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("does not exist"), "{}", text(&out.stderr));
    let out = boxlite(h, &["create", "-v", "/tmp:/x:rx", &image()], None);
    assert!(text(&out.stderr).contains("HOST_PATH:BOX_PATH[:ro|:rw]"), "{}", text(&out.stderr));
}
