//! The registry harness itself (`scripts/registry-fixture.py` and `common::registry`): what it
//! serves in each auth mode and media type, and that it leaves nothing behind.

mod common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::registry::{
    basic_authorization, busybox, layout_digest, sha256_digest, Auth, Busybox, Push, Registry,
    RegistryOptions, MANIFEST_ACCEPT,
};

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";

fn start(auth: Auth, pushes: Vec<Push>) -> Registry {
    Registry::start(RegistryOptions { auth, pushes, ..Default::default() })
}

fn script() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/registry-fixture.py")
}

/// The registry served exactly the bytes of `digest`.
fn assert_manifest(response: &common::registry::HttpResponse, digest: &str, media_type: &str) {
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(response.header("Content-Type"), Some(media_type));
    assert_eq!(response.header("Docker-Content-Digest"), Some(digest));
    assert_eq!(sha256_digest(&response.body), digest);
}

#[test]
fn open_registry_serves_the_pushed_manifest_by_tag_and_digest() {
    let image = busybox(Busybox::Gzip);
    let reg = start(Auth::None, vec![Push::new(&image, "library/busybox:1")]);
    assert!(reg.addr().starts_with("127.0.0.1:"), "{}", reg.addr());
    assert_eq!(reg.reference("library/busybox:1"), format!("{}/library/busybox:1", reg.addr()));
    assert_eq!(reg.user(), None);

    assert_eq!(reg.get("/v2/", &[]).status, 200);
    let digest = reg.digest("library/busybox:1");
    // Pushed as is: the registry holds the layout's own manifest.
    assert_eq!(digest, layout_digest(&image));
    let accept = [("Accept", MANIFEST_ACCEPT)];
    let by_tag = reg.get("/v2/library/busybox/manifests/1", &accept);
    assert_manifest(&by_tag, &digest, OCI_MANIFEST);
    let by_digest = reg.get(&format!("/v2/library/busybox/manifests/{digest}"), &accept);
    assert_manifest(&by_digest, &digest, OCI_MANIFEST);
    assert_eq!(by_tag.body, by_digest.body);

    let manifest = by_tag.json();
    let layer = &manifest["layers"][0];
    assert_eq!(layer["mediaType"], "application/vnd.oci.image.layer.v1.tar+gzip");
    let digest = layer["digest"].as_str().unwrap();
    let blob = reg.get(&format!("/v2/library/busybox/blobs/{digest}"), &[]);
    assert_eq!(blob.status, 200);
    assert_eq!(sha256_digest(&blob.body), digest);

    // Without OCI types in Accept distribution 2.8 answers 404: why clients send the full list.
    let docker_only = [("Accept", DOCKER_MANIFEST)];
    assert_eq!(reg.get("/v2/library/busybox/manifests/1", &docker_only).status, 404);
    assert_eq!(reg.get("/v2/library/busybox/manifests/nope", &accept).status, 404);
    assert!(reg.storage().starts_with(reg.dir()) && reg.storage().is_dir());
}

#[test]
fn basic_auth_challenges_without_credentials_and_serves_with_them() {
    let reg = start(Auth::Basic, vec![Push::new(busybox(Busybox::Gzip), "busybox")]);
    let (user, password) = (reg.user().unwrap(), reg.password().unwrap());
    assert_eq!((user, password), ("boxlite", "s3cret"));

    let anonymous = reg.get("/v2/", &[]);
    assert_eq!(anonymous.status, 401);
    assert!(anonymous.header("WWW-Authenticate").unwrap().starts_with("Basic realm="));
    let good = basic_authorization(user, password);
    assert_eq!(reg.get("/v2/", &[("Authorization", &good)]).status, 200);
    let bad = basic_authorization(user, "wrong");
    assert_eq!(reg.get("/v2/", &[("Authorization", &bad)]).status, 401);

    let path = "/v2/busybox/manifests/latest";
    assert_eq!(reg.get(path, &[("Accept", MANIFEST_ACCEPT)]).status, 401);
    assert_manifest(&reg.manifest("busybox", "latest"), &reg.digest("busybox"), OCI_MANIFEST);
}

#[test]
fn token_auth_issues_tokens_for_the_right_password_only() {
    let reg = start(Auth::Token, vec![Push::new(busybox(Busybox::Gzip), "busybox:1")]);
    let realm = reg.token_realm().unwrap().to_owned();
    let (user, password) = (reg.user().unwrap(), reg.password().unwrap());

    let challenge = reg.get("/v2/", &[]);
    assert_eq!(challenge.status, 401);
    let expected = format!("Bearer realm=\"{realm}\",service=\"{}\"", reg.service());
    assert_eq!(challenge.header("WWW-Authenticate"), Some(expected.as_str()));
    let path = "/v2/busybox/manifests/1";
    let denied = reg.get(path, &[("Accept", MANIFEST_ACCEPT)]);
    assert_eq!(denied.status, 401);
    let www = denied.header("WWW-Authenticate").unwrap();
    assert!(www.ends_with(",scope=\"repository:busybox:pull\""), "{www}");

    let scope = "repository:busybox:pull";
    let wrong = reg.token(scope, Some((user, "wrong"))).unwrap_err();
    assert_eq!(wrong.status, 401, "{}", wrong.text());
    assert!(!wrong.text().contains("token\""), "{}", wrong.text());
    assert_eq!(reg.token(scope, None).unwrap_err().status, 401);

    let token = reg.token(scope, Some((user, password))).unwrap();
    let bearer = format!("Bearer {token}");
    let ok = reg.get(path, &[("Accept", MANIFEST_ACCEPT), ("Authorization", &bearer)]);
    assert_manifest(&ok, &reg.digest("busybox:1"), OCI_MANIFEST);
    // The token is for that scope only.
    let other = reg.get("/v2/other/manifests/1", &[("Authorization", &bearer)]);
    assert_eq!(other.status, 401);
    assert_manifest(&reg.manifest("busybox", "1"), &reg.digest("busybox:1"), OCI_MANIFEST);
}

#[test]
fn token_auth_with_anonymous_pull_grants_pull_but_not_push() {
    let reg = Registry::start(RegistryOptions {
        auth: Auth::Token,
        pushes: vec![Push::new(busybox(Busybox::Gzip), "public")],
        anonymous_pull: true,
        ..Default::default()
    });
    let token = reg.token("repository:public:pull,push", None).unwrap();
    let bearer = format!("Bearer {token}");
    let pulled = reg.get(
        "/v2/public/manifests/latest",
        &[("Accept", MANIFEST_ACCEPT), ("Authorization", &bearer)],
    );
    assert_manifest(&pulled, &reg.digest("public"), OCI_MANIFEST);
    let upload = reg.request("POST", "/v2/public/blobs/uploads/", &[("Authorization", &bearer)]);
    assert_eq!(upload.status, 401, "{}", upload.text());
    assert_eq!(
        reg.token("repository:public:pull", Some(("boxlite", "wrong"))).unwrap_err().status,
        401
    );
}

#[test]
fn v2s2_push_serves_docker_media_types() {
    let reg = start(Auth::None, vec![Push::new(busybox(Busybox::Gzip), "docker/busybox").v2s2()]);
    let response = reg.manifest("docker/busybox", "latest");
    assert_manifest(&response, &reg.digest("docker/busybox"), DOCKER_MANIFEST);
    let manifest = response.json();
    assert_eq!(manifest["config"]["mediaType"], "application/vnd.docker.container.image.v1+json");
    assert_eq!(
        manifest["layers"][0]["mediaType"],
        "application/vnd.docker.image.rootfs.diff.tar.gzip"
    );
}

#[test]
fn index_push_serves_an_index_of_two_platforms() {
    let index = busybox(Busybox::Index);
    let reg = start(Auth::Basic, vec![Push::new(&index, "multi:1").all()]);
    let response = reg.manifest("multi", "1");
    assert_manifest(&response, &reg.digest("multi:1"), OCI_INDEX);
    assert_eq!(reg.digest("multi:1"), layout_digest(&index));
    let entries = response.json()["manifests"].as_array().unwrap().clone();
    let platforms: Vec<String> = entries
        .iter()
        .map(|e| {
            let p = &e["platform"];
            format!("{}/{}", p["os"].as_str().unwrap(), p["architecture"].as_str().unwrap())
        })
        .collect();
    let host = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    };
    assert_eq!(platforms.len(), 2);
    assert_eq!(platforms[1], format!("linux/{host}"), "{platforms:?}");
    assert_ne!(platforms[0], platforms[1]);
    // The host's entry is the plain busybox image; both children are served by digest.
    let host_digest = entries[1]["digest"].as_str().unwrap();
    assert_eq!(host_digest, layout_digest(&busybox(Busybox::Gzip)));
    for entry in &entries {
        let digest = entry["digest"].as_str().unwrap();
        let child = reg.manifest("multi", digest);
        assert_manifest(&child, digest, OCI_MANIFEST);
        let config = child.json()["config"]["digest"].as_str().unwrap().to_owned();
        let auth = reg.authorization("repository:multi:pull").unwrap();
        let blob = reg.get(&format!("/v2/multi/blobs/{config}"), &[("Authorization", &auth)]);
        assert_eq!(blob.status, 200);
        assert_eq!(blob.json()["architecture"], entry["platform"]["architecture"]);
    }
}

fn layer_type(reg: &Registry, repo: &str, tag: &str) -> String {
    let manifest = reg.manifest(repo, tag);
    assert_eq!(manifest.status, 200, "{}", manifest.text());
    manifest.json()["layers"][0]["mediaType"].as_str().unwrap().to_owned()
}

#[test]
fn zstd_and_plain_layers_are_served_as_pushed_next_to_gzip() {
    let gzip = busybox(Busybox::Gzip);
    let reg = start(
        Auth::None,
        vec![
            Push::new(&gzip, "bb:gzip"),
            // Recompressed by the fixture although the gzip blob of the same layer is there.
            Push::new(&gzip, "bb:zstd").zstd(),
            Push::new(busybox(Busybox::Zstd), "bb:zstd-layout"),
            Push::new(busybox(Busybox::Plain), "bb:plain"),
        ],
    );
    assert_eq!(layer_type(&reg, "bb", "gzip"), "application/vnd.oci.image.layer.v1.tar+gzip");
    assert_eq!(layer_type(&reg, "bb", "zstd"), "application/vnd.oci.image.layer.v1.tar+zstd");
    assert_eq!(
        layer_type(&reg, "bb", "zstd-layout"),
        "application/vnd.oci.image.layer.v1.tar+zstd"
    );
    assert_eq!(reg.digest("bb:zstd-layout"), layout_digest(&busybox(Busybox::Zstd)));
    assert_eq!(layer_type(&reg, "bb", "plain"), "application/vnd.oci.image.layer.v1.tar");
    // The zstd blob really is zstd (magic 28 b5 2f fd).
    let manifest = reg.manifest("bb", "zstd").json();
    let layer = manifest["layers"][0]["digest"].as_str().unwrap();
    let blob = reg.get(&format!("/v2/bb/blobs/{layer}"), &[]);
    assert_eq!(&blob.body[..4], &[0x28, 0xb5, 0x2f, 0xfd]);
    assert_eq!(sha256_digest(&blob.body), layer);
}

#[test]
fn push_after_start_moves_a_tag_and_reports_bad_pushes() {
    let reg = start(Auth::Token, vec![Push::new(busybox(Busybox::Gzip), "moving:latest")]);
    let first = reg.digest("moving:latest");
    let second = reg.push(Push::new(busybox(Busybox::Zstd), "moving:latest"));
    assert_ne!(first, second);
    assert_eq!(reg.digest("moving:latest"), second);
    assert_manifest(&reg.manifest("moving", "latest"), &second, OCI_MANIFEST);

    let missing = reg.try_push(Push::new("oci:/nonexistent/layout:x", "never")).unwrap_err();
    assert!(missing.contains("oci:/nonexistent/layout:x"), "{missing}");
    let bad_name = reg.try_push(Push::new(busybox(Busybox::Gzip), "Upper/Case")).unwrap_err();
    assert!(bad_name.contains("not a repository name"), "{bad_name}");
    // Still serving after the failures.
    assert_eq!(reg.manifest("moving", "latest").status, 200);
}

#[test]
fn drop_stops_the_registry_and_removes_its_directory() {
    let reg = start(Auth::Token, vec![Push::new(busybox(Busybox::Gzip), "busybox")]);
    let (pid, dir) = (reg.registry_pid(), reg.dir().to_owned());
    assert!(Path::new(&format!("/proc/{pid}")).exists());
    assert!(dir.join("storage").is_dir());
    let realm = reg.token_realm().unwrap().to_owned();
    drop(reg);
    assert!(!dir.exists(), "{} is left behind", dir.display());
    let leftovers = common::processes_mentioning(&dir.display().to_string());
    assert!(leftovers.is_empty(), "left running: {leftovers:?}");
    assert!(!Path::new(&format!("/proc/{pid}")).exists(), "registry {pid} still exists");
    // The token server is gone with it.
    let port = realm.trim_start_matches("http://").split('/').next().unwrap();
    assert!(std::net::TcpStream::connect(port).is_err(), "token server still on {port}");
}

/// Runs the script directly with TMPDIR in `tmp`, so everything it creates is visible there.
fn fixture_command(tmp: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new("python3");
    cmd.arg(script()).args(args).env("TMPDIR", tmp);
    cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    cmd
}

fn wait_with_timeout(
    child: &mut std::process::Child,
    timeout: Duration,
) -> std::process::ExitStatus {
    let (tx, rx) = std::sync::mpsc::channel();
    let pid = child.id() as libc::pid_t;
    std::thread::spawn(move || {
        let mut status = 0;
        // SAFETY: waits for our own child; the Child is not waited elsewhere.
        let r = unsafe { libc::waitpid(pid, &mut status, 0) };
        let _ = tx.send((r, status));
    });
    let (r, status) = rx.recv_timeout(timeout).unwrap_or_else(|_| {
        let _ = child.kill();
        panic!("the fixture did not exit within {timeout:?}")
    });
    assert_eq!(r, pid);
    std::os::unix::process::ExitStatusExt::from_raw(status)
}

#[test]
fn sigterm_stops_the_fixture_and_cleans_up() {
    let tmp = tempfile::tempdir().unwrap();
    let mut child = fixture_command(tmp.path(), &["--auth", "basic"]).spawn().unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let ready: serde_json::Value = serde_json::from_str(&line).unwrap();
    let pid = ready["pid"].as_u64().unwrap();
    assert!(Path::new(&format!("/proc/{pid}")).exists());
    // SAFETY: signals our own child.
    assert_eq!(unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) }, 0);
    let status = wait_with_timeout(&mut child, Duration::from_secs(30));
    assert!(status.success(), "{status}");
    assert!(!Path::new(&format!("/proc/{pid}")).exists(), "registry {pid} still exists");
    assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 0, "left files in TMPDIR");
}

#[test]
fn a_failed_start_exits_non_zero_with_the_reason_and_cleans_up() {
    let tmp = tempfile::tempdir().unwrap();
    let mut child = fixture_command(tmp.path(), &["--push", "oci:/nonexistent/layout:x=busybox"])
        .spawn()
        .unwrap();
    let status = wait_with_timeout(&mut child, Duration::from_secs(60));
    let mut stdout = String::new();
    let mut stderr = String::new();
    use std::io::Read;
    child.stdout.take().unwrap().read_to_string(&mut stdout).unwrap();
    child.stderr.take().unwrap().read_to_string(&mut stderr).unwrap();
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert_eq!(stdout, "", "nothing is announced before ready");
    assert!(stderr.contains("oci:/nonexistent/layout:x"), "{stderr}");
    assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 0, "left files in TMPDIR");

    let err = Registry::try_start(RegistryOptions {
        pushes: vec![Push::new("oci:/nonexistent/layout:x", "busybox")],
        ..Default::default()
    })
    .err()
    .expect("a failed push fails the start");
    assert!(err.contains("oci:/nonexistent/layout:x"), "{err}");
}

#[test]
fn a_missing_tool_is_named() {
    // Only python3 on PATH: the fixture names docker-registry, the first tool it needs.
    // The interpreter itself, not a shim that needs the PATH we take away.
    let python3 = Command::new("python3")
        .args(["-c", "import sys; print(sys.executable)"])
        .output()
        .expect("python3 is installed");
    let python3 = String::from_utf8(python3.stdout).unwrap().trim().to_owned();
    let bin = tempfile::tempdir().unwrap();
    let output = Command::new(&python3)
        .arg(script())
        .env("PATH", bin.path())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("docker-registry is not installed"), "{stderr}");
    assert!(stderr.contains("scripts/setup.sh"), "{stderr}");
}

/// Starts the script directly; returns it and its ready line.
fn spawn_ready(tmp: &Path, args: &[&str]) -> (std::process::Child, serde_json::Value) {
    let mut child = fixture_command(tmp, args).spawn().unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.as_mut().unwrap()).read_line(&mut line).unwrap();
    let ready = serde_json::from_str(&line).unwrap_or_else(|e| panic!("{line:?}: {e}"));
    (child, ready)
}

/// Dead: no such process, or a zombie waiting for whoever inherited it.
fn gone(pid: u64) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => {
            stat.rsplit_once(')').is_some_and(|(_, rest)| rest.trim_start().starts_with('Z'))
        }
    }
}

#[test]
fn a_registry_that_dies_while_serving_fails_the_fixture() {
    let tmp = tempfile::tempdir().unwrap();
    let (mut child, ready) = spawn_ready(tmp.path(), &[]);
    let pid = ready["pid"].as_u64().unwrap() as libc::pid_t;
    // SAFETY: kills the registry this test's fixture started.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGKILL) }, 0);
    let status = wait_with_timeout(&mut child, Duration::from_secs(30));
    let mut stderr = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut stderr).unwrap();
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("docker-registry exited while serving"), "{stderr}");
    assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 0, "left files in TMPDIR");
}

#[test]
fn the_registry_dies_with_a_killed_fixture() {
    let tmp = tempfile::tempdir().unwrap();
    let (mut child, ready) = spawn_ready(tmp.path(), &[]);
    let pid = ready["pid"].as_u64().unwrap();
    child.kill().unwrap();
    child.wait().unwrap();
    // PR_SET_PDEATHSIG delivers SIGKILL at the fixture's death; wait for it to land.
    assert!(
        common::wait_exited(pid as u32, Duration::from_secs(10)),
        "registry {pid} outlived its fixture by 10 s"
    );
    assert!(gone(pid), "registry {pid} outlived its fixture");
    // Nobody was left to clean up: this test does.
    std::fs::remove_dir_all(ready["dir"].as_str().unwrap()).unwrap();
}
