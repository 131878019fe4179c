//! Volumes: host paths bind-mounted into real boxes. What the box writes reaches the host
//! with the owners an idmapped mount gives, read-only holds against box root with
//! CAP_SYS_ADMIN, and neither a link in the image nor one swapped in on the host makes a
//! volume show more than its host path, or land outside the box.

mod common;

use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::time::Duration;

use boxlite_core::{BoxOptions, BoxStatus, ErrorKind, LiteBox, SeccompMode, VolumeSpec};
use common::{run_script, TestHome};

const TIMEOUT: Duration = Duration::from_secs(30);
const STOP: Duration = Duration::from_secs(10);

fn volume(host: &Path, guest: &str, read_only: bool) -> VolumeSpec {
    VolumeSpec { host_path: host.to_str().unwrap().into(), guest_path: guest.into(), read_only }
}

/// A host directory for a test; made under the test's home, whose path has no symlink.
fn host_dir(t: &TestHome, name: &str) -> std::path::PathBuf {
    let dir = t.path().join(name);
    std::fs::create_dir(&dir).unwrap();
    dir
}

async fn script(b: &LiteBox, script: &str) -> (String, String, Option<i32>) {
    run_script(b, script, TIMEOUT).await
}

#[tokio::test]
async fn a_read_write_volume_is_shared_both_ways_with_the_hosts_owners() {
    let t = TestHome::new();
    let shared = host_dir(&t, "shared");
    std::fs::write(shared.join("from-host"), "written on the host\n").unwrap();
    let config = t.path().join("config.txt");
    std::fs::write(&config, "key=value\n").unwrap();
    let volumes = vec![volume(&shared, "/data", false), volume(&config, "/etc/app.conf", true)];
    let b = t.rt.create(BoxOptions { volumes: volumes.clone(), ..t.options() }, None).unwrap();
    assert_eq!(b.info().unwrap().options.volumes, volumes, "read back as given");
    b.start().await.unwrap();

    let (out, err, code) = script(
        &b,
        "cat /data/from-host /etc/app.conf && stat -c '%u:%g' /data/from-host && \
         echo from the box > /data/from-box && mkdir /data/sub",
    )
    .await;
    assert_eq!(code, Some(0), "{err}");
    // Host root's file is box root's: the mount is idmapped through the box's namespace.
    assert_eq!(out, "written on the host\nkey=value\n0:0\n");
    assert_eq!(std::fs::read_to_string(shared.join("from-box")).unwrap(), "from the box\n");
    let written = std::fs::metadata(shared.join("from-box")).unwrap();
    // SAFETY: geteuid has no preconditions.
    let caller = unsafe { libc::geteuid() };
    assert_eq!((written.uid(), written.gid()), (caller, 0), "box root writes as the caller");
    assert!(shared.join("sub").is_dir());

    // A box user other than root keeps its number on the host.
    let mut as_user = common::sh("touch /data/by-1000");
    as_user.user = Some("1000:1000".into());
    std::fs::set_permissions(&shared, std::os::unix::fs::PermissionsExt::from_mode(0o777)).unwrap();
    let (_, err, res) = common::output(b.exec(as_user).await.unwrap()).await;
    assert_eq!(res.exit_code, Some(0), "{}", String::from_utf8_lossy(&err));
    let by_user = std::fs::metadata(shared.join("by-1000")).unwrap();
    assert_eq!((by_user.uid(), by_user.gid()), (1000, 1000));

    // The host writes while the box runs: the box sees it at once (a bind, not a copy).
    std::fs::write(shared.join("later"), "after start\n").unwrap();
    let (out, _, _) = script(&b, "cat /data/later").await;
    assert_eq!(out, "after start\n");
    b.stop(STOP).await.unwrap();
    t.rt.remove(b.id(), false).unwrap();
    assert_eq!(std::fs::read_to_string(shared.join("from-host")).unwrap(), "written on the host\n");
}

#[tokio::test]
async fn a_read_only_volume_stays_read_only_for_box_root_with_sys_admin() {
    let t = TestHome::new();
    let shared = host_dir(&t, "ro");
    std::fs::write(shared.join("file"), "original\n").unwrap();
    // The walls that would stop a remount anyway are lifted: what is left is the mount's
    // own read-only flag, locked by the box's user namespace.
    let opts = BoxOptions {
        volumes: vec![volume(&shared, "/ro", true)],
        cap_add: vec!["SYS_ADMIN".into()],
        seccomp: SeccompMode::Unconfined,
        ..t.options()
    };
    let b = t.rt.create(opts, None).unwrap();
    b.start().await.unwrap();
    let (out, err, code) = script(
        &b,
        "grep ' /ro ' /proc/mounts | cut -d' ' -f4 | cut -d, -f1; \
         cat /ro/file; \
         echo changed > /ro/file 2>&1 || echo write refused; \
         touch /ro/new 2>&1 || echo create refused; \
         mount -o remount,rw /ro 2>/dev/null || echo remount refused; \
         mount -o remount,bind,rw /ro 2>/dev/null || echo bind remount refused; \
         mkdir -p /copy && mount --bind /ro /copy && \
         { mount -o remount,bind,rw /copy 2>/dev/null || echo copy remount refused; }; \
         echo changed > /ro/file 2>/dev/null || echo still refused",
    )
    .await;
    assert_eq!(code, Some(0), "{err}");
    for line in [
        "ro\n",
        "original\n",
        "Read-only file system",
        "write refused\n",
        "create refused\n",
        "remount refused\n",
        "bind remount refused\n",
        "copy remount refused\n",
        "still refused\n",
    ] {
        assert!(out.contains(line), "{line:?} missing from:\n{out}");
    }
    assert_eq!(std::fs::read_to_string(shared.join("file")).unwrap(), "original\n");
    assert!(!shared.join("new").exists());
    b.stop(STOP).await.unwrap();
}

#[tokio::test]
async fn a_missing_host_path_is_refused_at_create_and_nothing_is_made() {
    let t = TestHome::new();
    let missing = t.path().join("nowhere");
    let opts = BoxOptions { volumes: vec![volume(&missing, "/data", false)], ..t.options() };
    let err = t.rt.create(opts, Some("vol-box")).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{err}");
    let msg = err.to_string();
    assert!(msg.contains("new box vol-box"), "{msg}");
    assert!(msg.contains(&format!("host path {} does not exist", missing.display())), "{msg}");
    assert!(t.rt.list_info().unwrap().is_empty());
    let boxes = t.path().join("boxes");
    assert!(!boxes.exists() || std::fs::read_dir(&boxes).unwrap().next().is_none());

    for (guest, why) in [("/proc/x", "/proc"), ("relative", "absolute"), ("/", "must not be /")] {
        let opts = BoxOptions { volumes: vec![volume(t.path(), guest, false)], ..t.options() };
        let err = t.rt.create(opts, None).unwrap_err();
        assert!(err.to_string().contains(why), "{guest}: {err}");
    }
}

#[tokio::test]
async fn a_host_path_gone_before_start_fails_the_box_with_the_reason() {
    let t = TestHome::new();
    let shared = host_dir(&t, "going");
    let opts = BoxOptions { volumes: vec![volume(&shared, "/data", false)], ..t.options() };
    let b = t.rt.create(opts, None).unwrap();
    std::fs::remove_dir(&shared).unwrap();
    let err = b.start().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{err}");
    let info = b.info().unwrap();
    assert_eq!(info.status, BoxStatus::Failed);
    let reason = info.error_reason.unwrap();
    assert!(reason.contains(&format!("box {}", b.id())), "{reason}");
    assert!(reason.contains(&format!("{} does not exist", shared.display())), "{reason}");
    // Back again, the same box starts.
    std::fs::create_dir(&shared).unwrap();
    b.start().await.unwrap();
    b.stop(STOP).await.unwrap();
}

#[tokio::test]
async fn a_host_path_swapped_for_a_link_before_start_exposes_nothing() {
    let t = TestHome::new();
    let secret = host_dir(&t, "secret");
    std::fs::write(secret.join("key"), "host secret\n").unwrap();
    std::fs::create_dir(secret.join("a")).unwrap();
    std::fs::write(secret.join("a/key"), "host secret\n").unwrap();
    // The volume's own directory becomes a link, then (in a second box) a directory above it.
    let last = host_dir(&t, "a");
    let parent = host_dir(&t, "parent");
    std::fs::create_dir(parent.join("a")).unwrap();
    for (host, swapped) in [(last.clone(), last.clone()), (parent.join("a"), parent.clone())] {
        let opts = BoxOptions { volumes: vec![volume(&host, "/data", false)], ..t.options() };
        let b = t.rt.create(opts, None).unwrap();
        std::fs::remove_dir_all(&swapped).unwrap();
        std::os::unix::fs::symlink(&secret, &swapped).unwrap();

        if b.start().await.is_ok() {
            let (out, _, _) = script(&b, "cat /data/key").await;
            b.stop(STOP).await.unwrap();
            panic!(
                "the box started with {} swapped for a link and saw: {out:?}",
                swapped.display()
            );
        }
        let info = b.info().unwrap();
        assert_eq!(info.status, BoxStatus::Failed);
        let reason = info.error_reason.unwrap();
        assert!(reason.contains("symbolic link"), "{reason}");
        assert!(reason.contains(&host.display().to_string()), "{reason}");
    }
    assert_eq!(std::fs::read_dir(&secret).unwrap().count(), 2, "nothing written to it");
}

#[tokio::test]
async fn a_link_in_the_box_at_the_guest_path_keeps_the_mount_inside_the_box() {
    let t = TestHome::new();
    let shared = host_dir(&t, "shared");
    std::fs::write(shared.join("marker"), "volume\n").unwrap();
    // A host directory named as the box's link will name it: followed on the host, the
    // mount would land there.
    let outside = host_dir(&t, "outside");
    let opts = BoxOptions { volumes: vec![volume(&shared, "/evil/x", false)], ..t.options() };
    let b = t.rt.create(opts, None).unwrap();
    b.start().await.unwrap();
    // The box replaces the volume's parent with links: one into its own /etc, one to a
    // path that only the host has.
    let (_, err, code) = script(&b, "mv /evil /evil.old && ln -s /etc /evil && echo ok").await;
    assert_eq!(code, Some(0), "{err}");
    b.stop(STOP).await.unwrap();

    b.start().await.unwrap();
    let (out, err, code) = script(&b, "cat /etc/x/marker && readlink /evil").await;
    assert_eq!((out.as_str(), code), ("volume\n/etc\n", Some(0)), "{err}");
    assert!(!Path::new("/etc/x").exists(), "nothing on the host's /etc");
    let outside_in_box = outside.display().to_string();
    let (_, err, code) =
        script(&b, &format!("rm /evil && ln -s {outside_in_box} /evil && echo ok")).await;
    assert_eq!(code, Some(0), "{err}");
    b.stop(STOP).await.unwrap();

    // The link's target does not exist inside the box: refused, the host's dir untouched.
    let err = b.start().await.unwrap_err();
    let reason = b.info().unwrap().error_reason.unwrap();
    assert!(reason.contains("/evil is a symbolic link to a path that does not exist"), "{err}");
    assert_eq!(std::fs::read_dir(&outside).unwrap().count(), 0);
    assert!(!mounted_on(&outside), "nothing mounted on the host");
}

#[tokio::test]
async fn a_filesystem_without_idmapped_mounts_gets_a_plain_bind_and_says_so() {
    let t = TestHome::new();
    let plain = host_dir(&t, "ramfs");
    // ramfs has no idmapped mounts; the test runs as root, as the other box tests do.
    let c_dir = std::ffi::CString::new(plain.to_str().unwrap()).unwrap();
    // SAFETY: mount(2) with NUL-terminated strings; checked below.
    let rc = unsafe {
        libc::mount(c"ramfs".as_ptr(), c_dir.as_ptr(), c"ramfs".as_ptr(), 0, std::ptr::null())
    };
    assert_eq!(rc, 0, "mount ramfs: {}", std::io::Error::last_os_error());
    let unmount = Unmount(c_dir);
    std::fs::write(plain.join("f"), "plain\n").unwrap();
    let opts = BoxOptions { volumes: vec![volume(&plain, "/plain", true)], ..t.options() };
    let b = t.rt.create(opts, None).unwrap();
    b.start().await.unwrap();
    let (out, err, code) = script(&b, "cat /plain/f && stat -c %u /plain/f").await;
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(out, "plain\n65534\n", "host root's file shows as nobody");
    b.stop(STOP).await.unwrap();
    let log = std::fs::read_to_string(t.path().join("boxes").join(b.id()).join("logs/box.log"))
        .unwrap_or_default();
    assert!(log.contains("not idmapped"), "the log says so:\n{log}");
    t.rt.remove(b.id(), false).unwrap();
    drop(unmount);
}

struct Unmount(std::ffi::CString);

impl Drop for Unmount {
    fn drop(&mut self) {
        // SAFETY: umount2 of a NUL-terminated path this test mounted.
        unsafe { libc::umount2(self.0.as_ptr(), libc::MNT_DETACH) };
    }
}

/// Whether the host's mount table has a mount on `dir`.
fn mounted_on(dir: &Path) -> bool {
    let table = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let dir = dir.display().to_string();
    table.lines().any(|line| line.split(' ').nth(4) == Some(dir.as_str()))
}

/// A rootless box (its runtime is not root) gets plain binds: the user's files are box
/// root's, what box root writes is the user's, read-only holds, and read-only volumes with
/// CAP_SYS_ADMIN are refused. This test, run as root, runs itself again as an unprivileged
/// uid through `setpriv` (util-linux), as escape.rs does.
#[tokio::test]
async fn a_rootless_box_shares_the_users_files_and_keeps_read_only() {
    const TEST: &str = "a_rootless_box_shares_the_users_files_and_keeps_read_only";
    // SAFETY: geteuid has no preconditions.
    let uid = unsafe { libc::geteuid() };
    if uid == 0 {
        common::rerun_as_user(TEST, "61011");
        return;
    }
    let t = TestHome::new();
    let shared = host_dir(&t, "shared");
    std::fs::write(shared.join("mine"), "the user's\n").unwrap();
    let volumes = vec![volume(&shared, "/data", false), volume(&shared, "/ro", true)];
    let base = BoxOptions { volumes, network: boxlite_core::NetworkMode::Disabled, ..t.options() };
    let admin = BoxOptions { cap_add: vec!["SYS_ADMIN".into()], ..base.clone() };
    let err = t.rt.create(admin, None).unwrap_err();
    assert!(err.to_string().contains("cannot be kept read-only"), "{err}");
    let b = t.rt.create(base, None).unwrap();
    b.start().await.unwrap();
    let (out, err, code) = script(
        &b,
        "stat -c %u /data/mine && echo box > /data/out && \
         { echo x > /ro/mine 2>/dev/null || echo ro refused; }",
    )
    .await;
    assert_eq!((out.as_str(), code), ("0\nro refused\n", Some(0)), "{err}");
    assert_eq!(std::fs::metadata(shared.join("out")).unwrap().uid(), uid);
    assert_eq!(std::fs::read_to_string(shared.join("mine")).unwrap(), "the user's\n");
    b.stop(STOP).await.unwrap();
}
