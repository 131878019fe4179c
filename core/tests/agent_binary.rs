//! The agent binary every box executes is one file on the host, shared through the page cache,
//! and nothing in a box can modify it: not through `/proc/1/exe`, not through any path in the
//! box, not by remounting. Attacked from inside a real box as root, and from the host through
//! the running agent's `exe` (what a process that got past `/proc/1/exe`'s access check would
//! hold), against a private copy of the agent so that no other test's binary is at stake.

mod common;

use std::ffi::CString;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use boxlite_core::Command;
use common::{agent_of, fixture, output, sh, TestHome};
use sha2::{Digest, Sha256};

/// Attempts run inside the box as root; each prints `<name> rc=<status>` after its output.
const ATTACKS: &[(&str, &str)] = &[
    ("echo", "echo x > /proc/1/exe"),
    ("cat", "cat /bin/busybox > /proc/1/exe"),
    ("dd", "dd if=/dev/zero of=/proc/1/exe bs=1 count=1 conv=notrunc"),
    ("truncate", "truncate -s 0 /proc/1/exe"),
    ("chmod", "chmod 0 /proc/1/exe"),
    ("touch", "touch /proc/1/exe"),
    ("threads", "for t in /proc/1/task/*; do echo x > $t/exe || exit 1; done"),
    ("link", "ln /proc/1/exe /root/agent"),
    ("readlink", "readlink /proc/1/exe"),
    ("fds", "for f in /proc/1/fd/*; do readlink $f && exit 0; done; exit 1"),
    ("map-files", "for f in /proc/1/map_files/*; do echo x > $f && exit 0; done; exit 1"),
    ("remount-proc1", "mount -o remount,rw /proc/1"),
    ("remount-exe", "mount -o remount,bind,rw /proc/1/exe /proc/1/exe"),
    ("bind-exe", "touch /root/agent-target && mount --bind /proc/1/exe /root/agent-target"),
    ("remount-root", "mount -o remount,rw /"),
    ("new-mount-ns", "unshare -m true"),
];

#[tokio::test]
async fn nothing_in_a_box_can_modify_the_agent_binary() {
    let copy_dir = tempfile::tempdir().unwrap();
    let agent = private_agent_copy(copy_dir.path());
    let before = Fingerprint::of(&agent);
    let t = TestHome::with_guest(&agent);
    let b = t.rt.create(t.options(), None).unwrap();
    b.start().await.unwrap();
    let pid = agent_of(b.info().unwrap().pid.expect("a running box has a shim"));
    let exe = PathBuf::from(format!("/proc/{pid}/exe"));

    // The box runs the host's file itself, mapped from the page cache: no copy of its own.
    let running = std::fs::metadata(&exe).unwrap();
    assert_eq!((running.dev(), running.ino()), (before.dev, before.ino), "PID 1 runs this file");
    let maps = std::fs::read_to_string(format!("/proc/{pid}/maps")).unwrap();
    let mapped = |line: &&str| line.split_whitespace().nth(4) == Some(&before.ino.to_string());
    assert!(maps.lines().any(|line| mapped(&line)), "the agent maps its file:\n{maps}");
    assert!(!maps.contains("memfd:"), "no per-box copy:\n{maps}");
    // Nor does it hold the file open: the descriptor it was executed through closed on exec.
    for fd in std::fs::read_dir(format!("/proc/{pid}/fd")).unwrap() {
        let meta = std::fs::metadata(fd.unwrap().path());
        assert!(
            meta.is_err() || meta.unwrap().ino() != before.ino,
            "an fd of the agent is its binary"
        );
    }

    // Past the access check of /proc/1/exe (the host is root with every capability), the file
    // the agent runs from sits on a read-only mount: metadata writes fail with EROFS, and the
    // running binary refuses write opens with ETXTBSY, through its exe and its host path alike.
    let flags = rustix::fs::statvfs(&exe).unwrap().f_flag;
    assert!(flags.contains(rustix::fs::StatVfsMountFlags::RDONLY), "mount flags {flags:?}");
    let c_exe = c_path(&exe);
    // SAFETY (each call): a NUL-terminated path the call does not keep; results checked.
    assert_eq!(errno(unsafe { libc::chmod(c_exe.as_ptr(), 0o4777) }), libc::EROFS, "chmod");
    assert_eq!(errno(unsafe { libc::truncate(c_exe.as_ptr(), 0) }), libc::EROFS, "truncate");
    let now = unsafe { libc::utimensat(libc::AT_FDCWD, c_exe.as_ptr(), std::ptr::null(), 0) };
    assert_eq!(errno(now), libc::EROFS, "utimensat");
    let (name, value) = (c"user.boxlite-test", b"x");
    let xattr =
        unsafe { libc::setxattr(c_exe.as_ptr(), name.as_ptr(), value.as_ptr().cast(), 1, 0) };
    assert_eq!(errno(xattr), libc::EROFS, "setxattr");
    for path in [exe.as_path(), agent.as_path()] {
        let err = std::fs::OpenOptions::new().write(true).open(path).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::ETXTBSY), "write open of {}", path.display());
    }

    // From inside, as root: every attempt fails, refused at /proc/1/exe's access check (the
    // agent is non-dumpable and holds capabilities the box's processes lack) or at mount(2)
    // (no CAP_SYS_ADMIN in the box).
    let script: String = ATTACKS
        .iter()
        .map(|(name, cmd)| format!("( {cmd} ) 2>&1; echo \"{name} rc=$?\"\n"))
        .collect();
    let (out, _, _) = output(b.exec(sh(&script)).await.unwrap()).await;
    let out = String::from_utf8_lossy(&out);
    eprintln!("attacks from inside the box:\n{out}");
    for (name, _) in ATTACKS {
        let status = out
            .lines()
            .find_map(|line| line.strip_prefix(&format!("{name} rc=")))
            .unwrap_or_else(|| panic!("no status for {name}:\n{out}"));
        assert_ne!(status, "0", "{name} succeeded in the box:\n{out}");
    }
    assert!(
        !out.contains("Text file busy") && !out.contains("Read-only"),
        "got past the check:\n{out}"
    );

    // No path in the box leads to the file: every path goes through a mount, and none of the
    // box's mounts is of the filesystem the binary lives on.
    let (mounts, _, res) = output(b.exec(sh("cat /proc/self/mountinfo")).await.unwrap()).await;
    assert_eq!(res.exit_code, Some(0));
    let mounts = String::from_utf8_lossy(&mounts);
    let host_fs = format!("{}:{}", libc::major(before.dev), libc::minor(before.dev));
    for line in mounts.lines() {
        assert_ne!(line.split_whitespace().nth(2), Some(host_fs.as_str()), "mount {line}");
        assert!(!line.contains("boxlite-guest"), "mount {line}");
    }
    b.stop(Duration::from_secs(5)).await.unwrap();

    assert_eq!(Fingerprint::of(&agent), before, "the agent binary changed");
    let second = t.rt.create(t.options(), None).unwrap();
    second.start().await.unwrap();
    let (_, _, res) = output(second.exec(Command::new(["true"])).await.unwrap()).await;
    assert_eq!(res.exit_code, Some(0), "a box started after the attacks runs");
    second.stop(Duration::from_secs(5)).await.unwrap();
}

/// A copy of the test agent in `dir`, on the same filesystem as a real install would be.
fn private_agent_copy(dir: &Path) -> PathBuf {
    let copy = dir.join("boxlite-guest");
    std::fs::copy(&fixture().guest, &copy).unwrap();
    copy
}

/// Everything about the file a write could change.
#[derive(Debug, PartialEq)]
struct Fingerprint {
    sha256: Vec<u8>,
    mode: u32,
    size: u64,
    mtime_ns: (i64, i64),
    dev: u64,
    ino: u64,
}

impl Fingerprint {
    fn of(path: &Path) -> Self {
        let meta = std::fs::metadata(path).unwrap();
        let sha256 = Sha256::digest(std::fs::read(path).unwrap()).to_vec();
        Self {
            sha256,
            mode: meta.mode(),
            size: meta.len(),
            mtime_ns: (meta.mtime(), meta.mtime_nsec()),
            dev: meta.dev(),
            ino: meta.ino(),
        }
    }
}

/// The errno of a libc call that must fail (0 when it succeeded).
fn errno(rc: libc::c_int) -> i32 {
    if rc == 0 {
        return 0;
    }
    io::Error::last_os_error().raw_os_error().unwrap_or(-1)
}

fn c_path(path: &Path) -> CString {
    CString::new(path.as_os_str().as_bytes()).unwrap()
}
