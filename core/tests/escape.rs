//! The escape suite: attacks from inside real boxes, each designed so that success would be
//! detectable and harmless (a mount inside the box, a marker under a directory this test
//! made, a `sleep` this test started), each expected to be denied, and the host checked
//! afterwards. docs/threat-model.md names the wall each one runs into.
//!
//! The attacks run as box root twice: in a box with its own user namespace (the default), and
//! in one created with `userns: "host"`, where box root is host root and the walls are
//! capabilities, seccomp, namespaces and mounts alone. With the user namespace, the box's
//! processes are checked from the host as well: every one of them is an unprivileged host
//! uid of the box's range.

mod common;

use std::io::ErrorKind;
use std::net::TcpListener;
use std::time::Duration;

use boxlite_core::{BoxOptions, Command, NetworkMode, SeccompMode, UsernsMode};
use common::{agent_of, output, sh, TestHome};

/// What the box prints for an attack that the kernel refused.
const DENIED: &str = "denied";

/// `attack` in the box, as `sh -c`; "escaped" when it exited 0, else [`DENIED`].
fn attempt(attack: &str) -> Command {
    sh(&format!("( {attack} ) >/dev/null 2>&1 && echo escaped || echo {DENIED}"))
}

async fn verdict(b: &boxlite_core::LiteBox, cmd: Command) -> String {
    let (out, err, res) = output(b.exec(cmd).await.expect("exec")).await;
    assert_eq!(res.exit_code, Some(0), "{}", String::from_utf8_lossy(&err));
    String::from_utf8_lossy(&out).trim_end().to_string()
}

fn host_hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname").expect("host hostname")
}

/// The four uids (real, effective, saved, filesystem) of every process in the pid namespace
/// of the box whose shim is `shim_pid`, as the host sees them in `/proc/PID/status`.
fn host_uids_of_box(shim_pid: u32) -> Vec<(u32, Vec<u64>)> {
    let agent = agent_of(shim_pid);
    let ns = std::fs::read_link(format!("/proc/{agent}/ns/pid")).expect("agent pid ns");
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").expect("/proc") {
        let Some(pid) = entry.ok().and_then(|e| e.file_name().to_str()?.parse::<u32>().ok()) else {
            continue;
        };
        // A process may exit while it is looked at: skip it then.
        if std::fs::read_link(format!("/proc/{pid}/ns/pid")).ok().as_ref() != Some(&ns) {
            continue;
        }
        let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) else { continue };
        let uids = status
            .lines()
            .find_map(|l| l.strip_prefix("Uid:"))
            .map(|l| l.split_whitespace().map(|n| n.parse().expect("uid")).collect())
            .expect("Uid line");
        found.push((pid, uids));
    }
    found
}

/// The host uid of box root: the second number of the agent's `uid_map`, whose one line maps
/// box uids 0..size.
fn box_root_host_uid(shim_pid: u32) -> (u64, u64) {
    let map = std::fs::read_to_string(format!("/proc/{}/uid_map", agent_of(shim_pid))).unwrap();
    let fields: Vec<u64> = map.split_whitespace().map(|n| n.parse().unwrap()).collect();
    assert_eq!(fields.len(), 3, "one mapping: {map:?}");
    assert_eq!(fields[0], 0, "{map:?}");
    (fields[1], fields[2])
}

/// Starts `sh -c 'echo up; exec sleep 300'` as `user` and waits for its line, so that it runs
/// when this returns.
async fn running_sleep(b: &boxlite_core::LiteBox, user: &str) -> boxlite_core::Execution {
    let mut cmd = sh("echo up; exec sleep 300");
    cmd.user = Some(user.into());
    let mut exec = b.exec(cmd).await.expect("exec sleep");
    let mut out = exec.stdout().expect("stdout");
    let line = tokio::time::timeout(Duration::from_secs(10), out.recv()).await.expect("line");
    assert_eq!(line.as_deref(), Some(&b"up\n"[..]));
    exec
}

#[tokio::test]
async fn attacks_from_box_root_are_denied_in_the_box_user_namespace() {
    attacks_from_box_root(UsernsMode::Private).await;
}

#[tokio::test]
async fn attacks_from_box_root_are_denied_with_userns_host_too() {
    attacks_from_box_root(UsernsMode::Host).await;
}

/// The same attacks in a rootless box: this test, run as root (as the suite is), runs itself
/// again as an unprivileged uid through `setpriv` (util-linux); run so, it is the attacker's
/// test, and its box is rootless because its runtime is not root.
#[tokio::test]
async fn attacks_from_box_root_are_denied_in_a_rootless_box() {
    const TEST: &str = "attacks_from_box_root_are_denied_in_a_rootless_box";
    if rootless() {
        attacks_from_box_root(UsernsMode::Private).await;
        return;
    }
    common::rerun_as_user(TEST, "61010");
}

fn rootless() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() != 0 }
}

async fn attacks_from_box_root(userns: UsernsMode) {
    let rootless = rootless();
    let t = TestHome::new();
    // The default network, except for a non-root user, whose box needs a /dev/net/tun it may
    // not be able to open (docs/networking.md, "Rootless").
    let network = if rootless { NetworkMode::Disabled } else { NetworkMode::default() };
    let b = t.rt.create(BoxOptions { userns, network, ..t.options() }, None).unwrap();
    b.start().await.unwrap();

    // Host-side bait: a directory only the host has, a process only the host has, a
    // service on the host's loopback.
    let bait = tempfile::tempdir().expect("bait dir");
    let marker = bait.path().join("marker");
    // Its output goes nowhere: inherited, it would hold the pipes of a test that runs this
    // one as another user (below) open for its whole life.
    let mut sleeper = std::process::Command::new("sleep")
        .arg("300")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("sleep");
    let listener = TcpListener::bind("127.0.0.1:0").expect("listener");
    listener.set_nonblocking(true).expect("nonblocking");
    let port = listener.local_addr().expect("addr").port();
    let hostname = host_hostname();
    let domainname = std::fs::read_to_string("/proc/sys/kernel/domainname").expect("domain");

    let attacks: Vec<(&str, String)> = vec![
        // Mounts: the old API, a bind of the root, a remount, pivot_root.
        // (Mount points made first: the image has no /mnt, and ENOENT would prove nothing.)
        ("mount tmpfs", "mkdir -p /root/m && mount -t tmpfs none /root/m".into()),
        ("mount proc", "mkdir -p /root/p && mount -t proc proc /root/p".into()),
        ("bind mount", "mkdir -p /root/b && mount --bind / /root/b".into()),
        ("remount root", "mount -o remount,ro /".into()),
        ("pivot_root", "mkdir -p /root/n/o && pivot_root /root/n /root/n/o".into()),
        // Namespaces to regain capabilities, or to join another.
        ("unshare user", "unshare -U -r true".into()),
        ("unshare mount", "unshare -m true".into()),
        ("unshare net", "unshare -n true".into()),
        ("setns", "nsenter -t 1 -m -u -n true".into()),
        // The agent's binary (runc's CVE-2019-5736).
        ("write /proc/1/exe", "echo x > /proc/1/exe".into()),
        // Kernel knobs.
        ("write /proc/sys", "echo evil > /proc/sys/kernel/hostname".into()),
        ("sysctl", "sysctl -w kernel.domainname=evil".into()),
        ("sysrq", "echo h > /proc/sysrq-trigger".into()),
        ("write /sys", "touch /sys/escape".into()),
        // The cgroup release_agent (CVE-2022-0492): no cgroupfs to mount, sysfs read-only.
        ("mount cgroup", "mkdir -p /root/cg && mount -t cgroup -o memory cgroup /root/cg".into()),
        ("release_agent", "echo /x > /sys/fs/cgroup/release_agent".into()),
        // The host's identity and clock (a clock set to the current second, were it to work).
        ("sethostname", "hostname evil".into()),
        // busybox's date exits 0 when the kernel refuses: its message is the verdict.
        ("settime", "! date -s @$(date +%s) 2>&1 | grep -q 'not permitted'".into()),
        // Devices: no CAP_MKNOD, a nodev rootfs, no loop-control, no host disks in /dev.
        ("mknod on rootfs", "mknod /root/sda b 8 0".into()),
        ("mknod in /dev", "mknod /dev/sda b 8 0".into()),
        ("loop device", "losetup -f /bin/busybox".into()),
        ("host memory", "test -e /dev/mem || test -e /dev/kmsg || test -e /dev/sda".into()),
        // Reboot would end the box's pid namespace, not the host; it must not even do that.
        ("reboot", "reboot -f".into()),
        // The host's processes, files and loopback services.
        ("kill a host process", format!("kill -9 {}", sleeper.id())),
        ("write a host file", format!("echo x > {}", marker.display())),
        ("host loopback", format!("nc -w 2 127.0.0.1 {port} </dev/null")),
        // The box's own eth0 (a TUN device the shim made in its namespace) aside.
        ("host interfaces", "ip -o link | grep -v -e ': lo:' -e ': eth0:'".into()),
    ];
    assert!(attacks.len() >= 25);
    for (name, attack) in &attacks {
        assert_eq!(verdict(&b, attempt(attack)).await, DENIED, "{name}: `{attack}`");
    }

    // A chroot leads nowhere: `/..` is `/`, and the host's directories are not there.
    let escape = "[ $(stat -c %d:%i /..) = $(stat -c %d:%i /) ] && echo same";
    assert_eq!(verdict(&b, sh(escape)).await, "same");
    // No host descriptor leaks into an exec: stdin, stdout, stderr and ls's own directory.
    assert_eq!(verdict(&b, sh("ls /proc/self/fd | tr '\\n' ' '")).await, "0 1 2 3");
    // A setuid-root copy of busybox (as its `id` applet), run as nobody, stays nobody
    // (no_new_privs, and a nosuid rootfs). A rootless box maps box root alone: it has no
    // nobody to run it as.
    let setuid = "cp /bin/busybox /id && chmod 4755 /id && echo made";
    assert_eq!(verdict(&b, sh(setuid)).await, "made");
    if !rootless {
        let mut as_nobody = Command::new(["/id", "-u"]);
        as_nobody.user = Some("65534".into());
        assert_eq!(verdict(&b, as_nobody).await, "65534");
    }
    // A working directory through the agent's descriptors (runc's CVE-2024-21626) is refused.
    for fd in 3..=9 {
        let mut cmd = Command::new(["pwd"]);
        cmd.working_dir = Some(format!("/proc/self/fd/{fd}"));
        match b.exec(cmd).await {
            Err(err) => assert_eq!(err.code(), "bad_working_dir", "fd {fd}: {err}"),
            Ok(exec) => {
                let (out, _, _) = output(exec).await;
                panic!("fd {fd}: the exec ran in {}", String::from_utf8_lossy(&out));
            }
        }
    }
    // The box still answers: no attack took it down.
    assert_eq!(verdict(&b, sh("echo alive")).await, "alive");

    // Who the box's processes are on the host: box root and box uid 1000 (box root alone in a
    // rootless box), with a process of each running, and the agent.
    let mut sleeps = vec![running_sleep(&b, "0").await];
    if !rootless {
        sleeps.push(running_sleep(&b, "1000").await);
    }
    let shim = b.info().expect("info").pid.expect("shim pid");
    let seen = host_uids_of_box(shim);
    assert!(seen.len() > sleeps.len(), "the agent and the sleeps: {seen:?}");
    let (root, size) = box_root_host_uid(shim);
    match userns {
        // Box root is the user who runs the runtime, and every process of the box too.
        UsernsMode::Private if rootless => {
            // SAFETY: geteuid has no preconditions.
            let me = u64::from(unsafe { libc::geteuid() });
            assert_eq!((root, size), (me, 1));
            for (pid, uids) in &seen {
                assert!(uids.iter().all(|&u| u == me), "pid {pid} runs as host uids {uids:?}");
            }
        }
        UsernsMode::Private => {
            assert!(root > 0 && size == 65536, "box root is host uid {root} (+{size})");
            for (pid, uids) in &seen {
                assert!(
                    uids.iter().all(|&u| u == root || u == root + 1000),
                    "pid {pid} runs as host uids {uids:?}, outside {root} and {}",
                    root + 1000
                );
            }
            let as_user = seen.iter().filter(|(_, u)| u.iter().all(|&u| u == root + 1000));
            assert_eq!(as_user.count(), 1, "the sleep as box uid 1000: {seen:?}");
        }
        // Two-sided: without the box's user namespace the same processes are host root.
        UsernsMode::Host => {
            assert_eq!((root, size), (0, u64::from(u32::MAX)));
            assert!(seen.iter().any(|(_, u)| u.iter().all(|&u| u == 0)), "{seen:?}");
        }
    }
    for exec in sleeps {
        exec.kill().await.expect("kill sleep");
        exec.wait().await.expect("wait sleep");
    }

    // The host is as it was.
    assert_eq!(host_hostname(), hostname);
    assert_eq!(std::fs::read_to_string("/proc/sys/kernel/domainname").unwrap(), domainname);
    assert!(!marker.exists(), "the box wrote {}", marker.display());
    assert!(sleeper.try_wait().expect("try_wait").is_none(), "the host's sleep was killed");
    match listener.accept() {
        Err(err) if err.kind() == ErrorKind::WouldBlock => {}
        other => panic!("the host's loopback service was reached: {other:?}"),
    }
    sleeper.kill().expect("kill sleep");
    sleeper.wait().expect("reap sleep");
    b.stop(Duration::from_secs(5)).await.unwrap();
}

/// Two-sided: the hostname attack is stopped by the missing CAP_SYS_ADMIN. A throwaway box
/// given the capability changes its own hostname (its own UTS namespace: harmless), so the
/// attack is real and the capability is the wall; the host's hostname stays what it was, and
/// mounting still fails there (seccomp is the second wall).
#[tokio::test]
async fn with_cap_sys_admin_the_hostname_attack_works_inside_only() {
    let t = TestHome::new();
    let hostname = host_hostname();
    let opts = BoxOptions { cap_add: vec!["SYS_ADMIN".into()], ..t.options() };
    let b = t.rt.create(opts, None).unwrap();
    b.start().await.unwrap();
    assert_eq!(verdict(&b, attempt("hostname evil")).await, "escaped");
    assert_eq!(verdict(&b, sh("hostname")).await, "evil");
    let mount = "mkdir -p /root/m && mount -t tmpfs none /root/m";
    assert_eq!(verdict(&b, attempt(mount)).await, DENIED);
    assert_eq!(host_hostname(), hostname);
    b.stop(Duration::from_secs(5)).await.unwrap();
}

/// Two-sided for the seccomp wall: in a throwaway box with seccomp "unconfined" (and
/// CAP_SYS_ADMIN for the mount), the calls the filter denies go through, inside the box only:
/// a new user namespace, and a tmpfs mounted in the box's own mount namespace. The host's
/// mount table is as it was.
#[tokio::test]
async fn with_seccomp_unconfined_the_calls_it_denies_go_through_inside_only() {
    let t = TestHome::new();
    let host_mounts = || std::fs::read_to_string("/proc/self/mountinfo").expect("mountinfo");
    let before = host_mounts();
    let opts = BoxOptions {
        seccomp: SeccompMode::Unconfined,
        cap_add: vec!["SYS_ADMIN".into()],
        ..t.options()
    };
    let b = t.rt.create(opts, None).unwrap();
    b.start().await.unwrap();
    assert_eq!(verdict(&b, attempt("unshare -U -r true")).await, "escaped");
    let mount = "mkdir -p /root/m && mount -t tmpfs none /root/m";
    assert_eq!(verdict(&b, attempt(mount)).await, "escaped");
    assert_eq!(verdict(&b, sh("grep -c ' /root/m ' /proc/self/mountinfo")).await, "1");
    assert_eq!(host_mounts().lines().count(), before.lines().count(), "a mount reached the host");
    b.stop(Duration::from_secs(5)).await.unwrap();
}

/// A profile of the box's own replaces the default filter: with "allow by default" the calls
/// the default filter denies go through (a new user namespace), while the profile's own rules
/// hold — `mkdir` fails with the errno it names, `chmod` only for mode 0777 (an argument
/// check). Two-sided: the same commands in a default box give the opposite answers.
#[tokio::test]
async fn a_profile_of_the_box_s_own_replaces_the_default_filter() {
    let t = TestHome::new();
    let profile = serde_json::json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [
            {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": libc::EROFS},
            {"names": ["chmod"], "action": "SCMP_ACT_ERRNO",
             "args": [{"index": 1, "value": 0o777, "op": "SCMP_CMP_EQ"}]},
            {"names": ["fchmodat"], "action": "SCMP_ACT_ERRNO",
             "args": [{"index": 2, "value": 0o777, "op": "SCMP_CMP_EQ"}]}
        ]
    });
    let commands = [
        ("mkdir /tmp/d 2>&1", "mkdir: can't create directory '/tmp/d': Read-only file system"),
        ("touch /tmp/f && chmod 755 /tmp/f && stat -c %a /tmp/f", "755"),
        ("chmod 777 /tmp/f 2>&1", "chmod: /tmp/f: Operation not permitted"),
        ("unshare -U -r true && echo unshared", "unshared"),
    ];
    let own =
        t.rt.create(
            BoxOptions {
                seccomp: SeccompMode::parse(&profile.to_string()).unwrap(),
                ..t.options()
            },
            None,
        )
        .unwrap();
    assert_eq!(own.info().unwrap().seccomp.as_str(), "profile");
    own.start().await.unwrap();
    for (command, said) in commands {
        assert_eq!(verdict(&own, sh(&format!("{command}; true"))).await, said, "{command}");
    }
    assert_eq!(verdict(&own, sh("grep Seccomp: /proc/self/status")).await, "Seccomp:\t2");
    own.stop(Duration::from_secs(5)).await.unwrap();

    let default = t.rt.create(t.options(), None).unwrap();
    default.start().await.unwrap();
    // mkdir and chmod 777 succeed silently; unshare is denied (nothing echoed).
    let opposite = ["", "755", "", ""];
    for ((command, _), said) in commands.iter().zip(opposite) {
        assert_eq!(verdict(&default, sh(&format!("{command}; true"))).await, said, "{command}");
    }
    default.stop(Duration::from_secs(5)).await.unwrap();
}

/// The profile filters the box's commands, not its agent: a profile that denies `execve`
/// makes every exec fail with a clear error, while the agent keeps answering and the box
/// stops cleanly.
#[tokio::test]
async fn a_profile_that_denies_execve_breaks_commands_not_the_agent() {
    let t = TestHome::new();
    let profile = r#"{"defaultAction": "SCMP_ACT_ALLOW",
                      "syscalls": [{"names": ["execve", "execveat"], "action": "SCMP_ACT_ERRNO"}]}"#;
    let opts = BoxOptions { seccomp: SeccompMode::parse(profile).unwrap(), ..t.options() };
    let b = t.rt.create(opts, None).unwrap();
    b.start().await.unwrap();
    for _ in 0..2 {
        let Err(err) = b.exec(Command::new(["true"])).await else { panic!("exec must fail") };
        assert!(err.to_string().contains("permission denied: true"), "{err}");
    }
    assert_eq!(b.info().unwrap().status.as_str(), "running");
    b.stop(Duration::from_secs(5)).await.unwrap();
    assert_eq!(b.info().unwrap().status.as_str(), "stopped");
}

/// A host block device only this test uses: a loop device over a file holding [`SECRET`],
/// detached when dropped.
struct HostDisk {
    device: String,
    _file: tempfile::NamedTempFile,
}

const SECRET: &str = "host disk secret";

impl HostDisk {
    fn attach() -> Self {
        use std::io::Write;
        let mut file = tempfile::NamedTempFile::new().expect("disk file");
        let mut block = SECRET.as_bytes().to_vec();
        block.resize(4096, 0);
        file.write_all(&block).expect("write disk file");
        let out = std::process::Command::new("losetup")
            .args(["--find", "--show"])
            .arg(file.path())
            .output()
            .expect("losetup (util-linux) is needed");
        assert!(out.status.success(), "losetup: {}", String::from_utf8_lossy(&out.stderr));
        let device = String::from_utf8_lossy(&out.stdout).trim().to_string();
        HostDisk { device, _file: file }
    }

    fn numbers(&self) -> (u64, u64) {
        use std::os::unix::fs::MetadataExt;
        let rdev = std::fs::metadata(&self.device).expect("stat loop device").rdev();
        (libc::major(rdev) as u64, libc::minor(rdev) as u64)
    }
}

impl Drop for HostDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("losetup").args(["-d", &self.device]).status();
    }
}

/// The device filter, the wall behind `CAP_MKNOD`: box root given it, as host root
/// (`userns: "host"`), makes a node for a host disk on its `/dev` tmpfs (a loop device this
/// test attached, whose first bytes the host reads fine), and the kernel refuses to open it.
/// (Two-sided: without the filter, the box read the disk's secret.)
#[tokio::test]
async fn a_node_for_a_host_disk_made_with_cap_mknod_cannot_be_opened() {
    let disk = HostDisk::attach();
    let host_read = std::fs::read(&disk.device).expect("the host reads its disk");
    assert!(host_read.starts_with(SECRET.as_bytes()));
    let (major, minor) = disk.numbers();
    let t = TestHome::new();
    let opts =
        BoxOptions { userns: UsernsMode::Host, cap_add: vec!["MKNOD".into()], ..t.options() };
    let b = t.rt.create(opts, None).unwrap();
    b.start().await.unwrap();
    let script =
        format!("mknod /dev/hostdisk b {major} {minor} && echo made; head -c 16 /dev/hostdisk");
    let (out, err, res) = output(b.exec(sh(&script)).await.expect("exec")).await;
    let err = String::from_utf8_lossy(&err);
    assert_eq!(String::from_utf8_lossy(&out), "made\n", "{err}");
    assert_ne!(res.exit_code, Some(0), "the host's disk was read");
    assert!(err.contains("Operation not permitted"), "{err}");
    b.stop(Duration::from_secs(5)).await.unwrap();
}
