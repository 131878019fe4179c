//! Files in and out of a running box (docs/files.md): `copy_in` / `copy_out` of files and
//! trees with modes and mtimes, `docker cp`'s landing rules, the small-file helpers, and the
//! hostile cases — a box symlink meeting a host path, `..` names in a tar stream, a FIFO and a
//! device node in the box, a tree over its bound. Every result is read back through the box
//! (exec) or from the host's filesystem.

mod common;

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::time::Duration;

use boxlite_core::{CopyOptions, EntryKind, ErrorKind, LiteBox, NetworkMode};
use common::TestHome;

const SCRIPT_TIMEOUT: Duration = Duration::from_secs(30);

async fn running(t: &TestHome) -> LiteBox {
    let opts = boxlite_core::BoxOptions { network: NetworkMode::Disabled, ..t.options() };
    let b = t.rt.create(opts, None).unwrap();
    b.start().await.unwrap();
    b
}

/// Stdout of `script` in the box, which must exit 0.
async fn box_sh(b: &LiteBox, script: &str) -> String {
    let (out, err, code) = common::run_script(b, script, SCRIPT_TIMEOUT).await;
    assert_eq!(code, Some(0), "{script}: {err}");
    out
}

fn set_mtime(path: &Path, secs: u64) {
    let at = std::time::UNIX_EPOCH + Duration::from_secs(secs);
    fs::File::options().write(true).open(path).unwrap().set_modified(at).unwrap();
}

/// A host tree: `src/a.txt` (0640, mtime 1e9), `src/sub/run.sh` (0755), `src/link -> a.txt`.
fn host_tree(root: &Path) -> std::path::PathBuf {
    let src = root.join("src");
    fs::create_dir_all(src.join("sub")).unwrap();
    fs::write(src.join("a.txt"), "alpha\n").unwrap();
    fs::set_permissions(src.join("a.txt"), fs::Permissions::from_mode(0o640)).unwrap();
    set_mtime(&src.join("a.txt"), 1_000_000_000);
    fs::write(src.join("sub/run.sh"), "#!/bin/sh\necho ran\n").unwrap();
    fs::set_permissions(src.join("sub/run.sh"), fs::Permissions::from_mode(0o755)).unwrap();
    std::os::unix::fs::symlink("a.txt", src.join("link")).unwrap();
    src
}

#[tokio::test]
async fn a_host_tree_copies_in_with_modes_times_links_and_box_root_as_owner() {
    let t = TestHome::new();
    let b = running(&t).await;
    let src = host_tree(t.path());

    // Into an existing directory: the source directory itself lands there (include_parent).
    box_sh(&b, "mkdir /app").await;
    let stats = b.copy_in(&src, "/app", CopyOptions::default()).await.unwrap();
    assert_eq!((stats.entries, stats.bytes), (5, 6 + 19));
    let seen = box_sh(
        &b,
        "stat -c '%n %a %u:%g %Y' /app/src/a.txt /app/src/sub/run.sh && readlink /app/src/link \
         && /app/src/sub/run.sh",
    )
    .await;
    let lines: Vec<&str> = seen.lines().collect();
    assert_eq!(lines[0], "/app/src/a.txt 640 0:0 1000000000");
    assert!(lines[1].starts_with("/app/src/sub/run.sh 755 0:0 "), "{seen}");
    assert_eq!(&lines[2..], ["a.txt", "ran"]);

    // Contents only, into a directory that does not exist yet: made, named as the target.
    let contents = CopyOptions { include_parent: false, ..Default::default() };
    b.copy_in(&src, "/srv/site", contents).await.unwrap();
    assert_eq!(box_sh(&b, "cat /srv/site/a.txt").await, "alpha\n");
    // A file onto a new name.
    b.copy_in(src.join("a.txt"), "/etc/renamed.txt", CopyOptions::default()).await.unwrap();
    assert_eq!(box_sh(&b, "cat /etc/renamed.txt").await, "alpha\n");
    b.stop(Duration::from_secs(5)).await.unwrap();
}

#[tokio::test]
async fn a_copy_into_the_tmpfs_tmp_is_seen_by_the_box() {
    let t = TestHome::new();
    let b = running(&t).await;
    let src = host_tree(t.path());
    // The test image has no /tmp: the box's is a tmpfs, which a copy must reach.
    assert!(box_sh(&b, "cat /proc/mounts").await.lines().any(|l| l.contains(" /tmp tmpfs ")));
    b.copy_in(src.join("a.txt"), "/tmp/", CopyOptions::default()).await.unwrap();
    assert_eq!(box_sh(&b, "cat /tmp/a.txt").await, "alpha\n");
    b.stop(Duration::from_secs(5)).await.unwrap();
}

#[tokio::test]
async fn a_box_tree_copies_out_with_modes_and_times_owned_by_the_caller() {
    let t = TestHome::new();
    let b = running(&t).await;
    box_sh(
        &b,
        "mkdir -p /data/sub && echo one > /data/one && chmod 600 /data/one \
         && touch -d @1200000000 /data/one && echo two > /data/sub/two && ln -s one /data/ln \
         && chown 1000:1000 /data/sub/two",
    )
    .await;
    let dst = t.path().join("out");
    fs::create_dir(&dst).unwrap();
    let stats = b.copy_out("/data", &dst, CopyOptions::default()).await.unwrap();
    assert_eq!(stats.entries, 5);
    let one = fs::metadata(dst.join("data/one")).unwrap();
    assert_eq!(fs::read_to_string(dst.join("data/one")).unwrap(), "one\n");
    assert_eq!((one.permissions().mode() & 0o7777, one.mtime()), (0o600, 1_200_000_000));
    assert_eq!(fs::read_link(dst.join("data/ln")).unwrap(), Path::new("one"));
    // SAFETY: geteuid has no preconditions.
    let caller = unsafe { libc::geteuid() };
    assert_eq!(fs::metadata(dst.join("data/sub/two")).unwrap().uid(), caller);

    // A single file onto a new host name, and with preserved owners.
    let keep = CopyOptions { preserve_owners: true, ..Default::default() };
    b.copy_out("/data/sub/two", t.path().join("two.txt"), keep).await.unwrap();
    assert_eq!(fs::read_to_string(t.path().join("two.txt")).unwrap(), "two\n");
    assert_eq!(fs::metadata(t.path().join("two.txt")).unwrap().uid(), 1000);
    b.stop(Duration::from_secs(5)).await.unwrap();
}

#[tokio::test]
async fn small_file_helpers_write_read_and_list() {
    let t = TestHome::new();
    let b = running(&t).await;
    b.write_file("/work/notes/hello.txt", b"hi there".to_vec(), Some(0o600)).await.unwrap();
    assert_eq!(box_sh(&b, "stat -c '%a %s' /work/notes/hello.txt").await, "600 8\n");
    assert_eq!(b.read_file("/work/notes/hello.txt").await.unwrap(), b"hi there");
    box_sh(&b, "ln -s hello.txt /work/notes/link && mkdir /work/notes/d").await;
    let entries = b.list_dir("/work/notes").await.unwrap();
    let listed: Vec<_> = entries.iter().map(|e| (e.name.as_str(), e.kind)).collect();
    assert_eq!(
        listed,
        [("d", EntryKind::Dir), ("hello.txt", EntryKind::File), ("link", EntryKind::Symlink)]
    );
    assert_eq!(entries[1].path, "/work/notes/hello.txt");
    assert_eq!((entries[1].size, entries[1].mode), (8, 0o600));
    assert_eq!(entries[2].link_target.as_deref(), Some("hello.txt"));

    let missing = b.read_file("/work/nope").await.unwrap_err();
    assert_eq!(missing.kind(), ErrorKind::NotFound, "{missing}");
    assert!(missing.to_string().contains(b.id()), "{missing}");
    let dir = b.read_file("/work/notes").await.unwrap_err();
    assert_eq!(dir.kind(), ErrorKind::InvalidArgument, "{dir}");
    assert_eq!(b.list_dir("/nope").await.unwrap_err().kind(), ErrorKind::NotFound);
    let relative = b.read_file("notes").await.unwrap_err();
    assert_eq!(relative.kind(), ErrorKind::InvalidArgument, "{relative}");
    b.stop(Duration::from_secs(5)).await.unwrap();
}

#[tokio::test]
async fn overwrite_off_keeps_the_box_file() {
    let t = TestHome::new();
    let b = running(&t).await;
    let src = host_tree(t.path());
    box_sh(&b, "echo mine > /a.txt").await;
    let keep = CopyOptions { overwrite: false, ..Default::default() };
    let err = b.copy_in(src.join("a.txt"), "/a.txt", keep).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::AlreadyExists, "{err}");
    assert_eq!(box_sh(&b, "cat /a.txt").await, "mine\n");
    b.stop(Duration::from_secs(5)).await.unwrap();
}

#[tokio::test]
async fn a_box_symlink_never_leads_a_copy_onto_the_host() {
    let t = TestHome::new();
    let b = running(&t).await;
    let secret = t.path().join("secret");
    fs::create_dir(&secret).unwrap();
    fs::write(secret.join("keep"), "host").unwrap();

    // Copy in through a box symlink naming a host path: it resolves in the box's root, where
    // that path is missing (refused) or is the box's own directory (written there).
    let src = host_tree(t.path());
    box_sh(&b, &format!("ln -s {} /evil", secret.display())).await;
    let err = b.copy_in(src.join("a.txt"), "/evil/", CopyOptions::default()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
    box_sh(&b, &format!("mkdir -p {}", secret.display())).await;
    b.copy_in(src.join("a.txt"), "/evil/", CopyOptions::default()).await.unwrap();
    assert_eq!(box_sh(&b, &format!("cat {}/a.txt", secret.display())).await, "alpha\n");

    // Copy out of a tree whose `out` is a box symlink to /etc, onto a host tree where `out`
    // is a symlink to the secret directory: the box's link is copied as a link, and the host's
    // link is never written through.
    box_sh(
        &b,
        "mkdir -p /data && ln -s /etc /data/out && mkdir -p /data2/out && echo x > /data2/out/f",
    )
    .await;
    let dst = t.path().join("dst");
    fs::create_dir_all(dst.join("data2")).unwrap();
    std::os::unix::fs::symlink(&secret, dst.join("data2/out")).unwrap();
    b.copy_out("/data", &dst, CopyOptions::default()).await.unwrap();
    assert_eq!(fs::read_link(dst.join("data/out")).unwrap(), Path::new("/etc"));
    // The host's link is replaced by the box's directory (overwrite), or kept and the copy
    // refused (no overwrite): never followed.
    let keep = CopyOptions { overwrite: false, ..Default::default() };
    let err = b.copy_out("/data2", &dst, keep).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::AlreadyExists, "{err}");
    assert_eq!(fs::read_link(dst.join("data2/out")).unwrap(), secret);
    b.copy_out("/data2", &dst, CopyOptions::default()).await.unwrap();
    assert!(fs::symlink_metadata(dst.join("data2/out")).unwrap().is_dir());
    assert_eq!(fs::read_to_string(dst.join("data2/out/f")).unwrap(), "x\n");
    let names: Vec<_> = fs::read_dir(&secret).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(names, ["keep"]);

    // Following links, the box's /etc is what comes out — never the host's.
    let follow = CopyOptions { follow_symlinks: true, ..Default::default() };
    let followed = t.path().join("followed");
    b.copy_out("/data/out/passwd", &followed, follow).await.unwrap();
    assert_eq!(fs::read_to_string(&followed).unwrap(), box_sh(&b, "cat /etc/passwd").await);
    b.stop(Duration::from_secs(5)).await.unwrap();
}

/// A tar stream with one file entry named `name`, written header field by header field.
fn tar_with(name: &str) -> Vec<u8> {
    let mut header = tar::Header::new_old();
    header.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
    header.set_entry_type(tar::EntryType::Regular);
    header.set_mode(0o644);
    header.set_uid(0);
    header.set_gid(0);
    header.set_mtime(0);
    header.set_size(4);
    header.set_cksum();
    let mut out = header.as_bytes().to_vec();
    out.extend_from_slice(b"evil");
    out.resize(512 * 2, 0);
    out.extend_from_slice(&[0; 1024]);
    out
}

#[tokio::test]
async fn dot_dot_names_in_a_tar_stream_are_refused() {
    let t = TestHome::new();
    let b = running(&t).await;
    box_sh(&b, "mkdir -p /in").await;
    for name in ["../escaped", "a/../../escaped", "/escaped"] {
        let err = b
            .copy_in_tar(std::io::Cursor::new(tar_with(name)), "/in", CopyOptions::default())
            .await;
        let err = err.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{name}: {err}");
        assert!(err.to_string().contains(name), "{err}");
    }
    assert_eq!(box_sh(&b, "ls -A /in; test ! -e /escaped && echo none").await, "none\n");
    b.stop(Duration::from_secs(5)).await.unwrap();
}

#[tokio::test]
async fn fifos_and_device_nodes_in_the_box_are_refused_without_hanging() {
    let t = TestHome::new();
    let b = running(&t).await;
    box_sh(&b, "mkdir -p /data && echo ok > /data/a && mkfifo /data/fifo").await;
    let dst = t.path().join("out");
    let err = b.copy_out("/data", &dst, CopyOptions::default()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{err}");
    assert!(err.to_string().contains("/fifo is a FIFO"), "{err}");
    let err = b.copy_out("/dev/null", t.path().join("null"), CopyOptions::default()).await;
    let err = err.unwrap_err();
    assert!(err.to_string().contains("is a device node"), "{err}");
    assert!(!t.path().join("null").exists());
    // Reading the FIFO as a file is refused as well, not waited on.
    assert_eq!(b.read_file("/data/fifo").await.unwrap_err().kind(), ErrorKind::InvalidArgument);
    b.stop(Duration::from_secs(5)).await.unwrap();
}

#[tokio::test]
async fn a_tree_over_the_bound_is_refused() {
    let t = TestHome::new();
    let b = running(&t).await;
    box_sh(&b, "mkdir -p /big && head -c 100000 /dev/zero > /big/f && touch /big/g /big/h").await;
    let small = CopyOptions { max_bytes: 50_000, ..Default::default() };
    let err = b.copy_out("/big", t.path().join("o1"), small).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{err}");
    assert!(err.to_string().contains("more than 50000 bytes"), "{err}");
    let few = CopyOptions { max_entries: 2, ..Default::default() };
    let err = b.copy_out("/big", t.path().join("o2"), few).await.unwrap_err();
    assert!(err.to_string().contains("more than 2 entries"), "{err}");
    b.stop(Duration::from_secs(5)).await.unwrap();
}

#[tokio::test]
async fn a_missing_source_names_the_path_and_the_box() {
    let t = TestHome::new();
    let b = running(&t).await;
    let err = b.copy_in(t.path().join("nope"), "/x", CopyOptions::default()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
    let text = err.to_string();
    assert!(text.contains(b.id()) && text.contains("nope"), "{text}");
    let err = b.copy_out("/nope", t.path().join("x"), CopyOptions::default()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
    b.stop(Duration::from_secs(5)).await.unwrap();
}

#[tokio::test]
async fn a_box_that_is_not_running_is_copied_to_and_from_without_starting_it() {
    let t = TestHome::new();
    let opts = boxlite_core::BoxOptions { network: NetworkMode::Disabled, ..t.options() };
    let b = t.rt.create(opts, None).unwrap();
    let src = host_tree(t.path());

    // Configured, never started: the code goes in before the first start.
    b.copy_in(&src, "/app", CopyOptions::default()).await.unwrap();
    b.write_file("/app/config.json", b"{}".to_vec(), None).await.unwrap();
    let info = b.info().unwrap();
    assert_eq!((info.status.as_str(), info.pid), ("configured", None));
    assert!(
        common::processes_mentioning(&t.path().display().to_string()).is_empty(),
        "a shim left"
    );

    b.start().await.unwrap();
    assert_eq!(box_sh(&b, "cat /app/a.txt /app/config.json").await, "alpha\n{}");
    box_sh(&b, "echo result > /app/out.txt").await;
    b.stop(Duration::from_secs(5)).await.unwrap();

    // Stopped: the results come out, and the box stays stopped.
    let dst = t.path().join("results");
    b.copy_out("/app/out.txt", &dst, CopyOptions::default()).await.unwrap();
    assert_eq!(fs::read_to_string(&dst).unwrap(), "result\n");
    assert_eq!(b.read_file("/app/a.txt").await.unwrap(), b"alpha\n");
    let names: Vec<_> = b.list_dir("/app").await.unwrap().into_iter().map(|e| e.name).collect();
    assert_eq!(names, ["a.txt", "config.json", "link", "out.txt", "sub"]);
    assert_eq!(b.info().unwrap().status.as_str(), "stopped");
    assert!(
        common::processes_mentioning(&t.path().display().to_string()).is_empty(),
        "a shim left"
    );
    assert!(common::leftover_cgroups(b.id()).is_empty());
}
