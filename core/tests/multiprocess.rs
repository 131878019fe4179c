//! Two processes share one fresh home: both migrate it, create, get_or_create and remove at the
//! same moment. The children are this test binary re-run with `--ignored --exact`.

use std::io::{Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};

use boxlite_core::{BoxOptions, Runtime, RuntimeOptions};

const HOME_ENV: &str = "BOXLITE_MP_HOME";
const TAG_ENV: &str = "BOXLITE_MP_TAG";
const PER_CHILD: usize = 30;

#[test]
#[ignore = "child process of two_processes_share_a_fresh_home"]
fn child_worker() {
    let home = std::env::var(HOME_ENV).expect("run by the parent test");
    let tag = std::env::var(TAG_ENV).expect("run by the parent test");
    // Start barrier: the parent writes one byte to each child once both are running.
    let mut go = [0u8; 1];
    std::io::stdin().read_exact(&mut go).unwrap();

    let rt = Runtime::open(RuntimeOptions { home_dir: Some(home.into()), ..Default::default() })
        .unwrap();
    let mut shared_id = None;
    for i in 0..PER_CHILD {
        let b = rt.create(BoxOptions::new("alpine"), Some(&format!("{tag}-{i}"))).unwrap();
        let (shared, _) = rt.get_or_create(BoxOptions::new("alpine"), "shared").unwrap();
        assert_eq!(*shared_id.get_or_insert_with(|| shared.id().to_string()), shared.id());
        if i % 2 == 1 {
            rt.remove(b.id(), false).unwrap();
        }
    }
    // libtest prints "test child_worker ... " on the same line, so the marker is searched for.
    println!("SHARED={}", shared_id.unwrap());
}

fn spawn_child(home: &Path, tag: &str) -> std::process::Child {
    Command::new(std::env::current_exe().unwrap())
        .args(["--ignored", "--exact", "child_worker", "--nocapture", "--test-threads=1"])
        .env(HOME_ENV, home)
        .env(TAG_ENV, tag)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap()
}

#[test]
fn two_processes_share_a_fresh_home() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("home");
    let mut children = [spawn_child(&home, "a"), spawn_child(&home, "b")];
    for child in &mut children {
        child.stdin.take().unwrap().write_all(b"g").unwrap();
    }
    let mut shared = Vec::new();
    for child in children {
        let out = child.wait_with_output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "child failed: {stdout}");
        let line =
            stdout.lines().find_map(|l| l.split("SHARED=").nth(1)).expect("child printed SHARED=");
        shared.push(line.to_string());
    }
    assert_eq!(shared[0], shared[1], "both processes resolved one shared box");

    let rt = Runtime::open(RuntimeOptions { home_dir: Some(home), ..Default::default() }).unwrap();
    let mut names: Vec<String> =
        rt.list_info().unwrap().into_iter().filter_map(|i| i.name).collect();
    names.sort();
    let mut expected: Vec<String> = ["a", "b"]
        .iter()
        .flat_map(|t| (0..PER_CHILD).step_by(2).map(move |i| format!("{t}-{i}")))
        .chain(["shared".to_string()])
        .collect();
    expected.sort();
    assert_eq!(names, expected);
}
