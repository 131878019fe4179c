//! The seccomp filter: installed once on the agent at boot and inherited by every process it
//! starts (root or not, privileged agent or not); the denied calls fail with the errno the policy names,
//! and everything an ordinary program does (fork, threads, exec, files) still works. Root
//! only, like the privilege tests: they run the real agent against the real kernel.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::harness::{config, request, root, run, sh, status_field, Agent};

#[tokio::test(flavor = "multi_thread")]
async fn the_agent_and_every_exec_are_filtered() {
    if !root() {
        eprintln!("skipped: needs root");
        return;
    }
    let agent = Agent::start(config()).await;
    let mut client = agent.client().await;
    for user in ["", "65534"] {
        let mut req = request(&["cat", "/proc/self/status"]);
        req.user = user.into();
        let out = run(&mut client, req).await.expect("exec");
        assert_eq!(out.exited.exit_code, Some(0), "{user}");
        assert_eq!(status_field(&out.stdout(), "Seccomp"), "2", "{user}: {}", out.stdout());
    }
    let agent_status =
        std::fs::read_to_string(format!("/proc/{}/status", agent.pid)).expect("agent status");
    // Installed once on the agent (per spawn it was JIT-compiled on every exec).
    assert_eq!(status_field(&agent_status, "Seccomp"), "2", "{agent_status}");

    // An agent without privileges (a development run) installs it all the same.
    let unprivileged = Agent::start_as(config(), 65534).await;
    let out = run(&mut unprivileged.client().await, request(&["cat", "/proc/self/status"]))
        .await
        .expect("exec");
    assert_eq!(status_field(&out.stdout(), "Seccomp"), "2", "{}", out.stdout());
}

#[tokio::test(flavor = "multi_thread")]
async fn namespaces_and_mounts_are_denied_while_ordinary_work_goes_on() {
    if !root() {
        eprintln!("skipped: needs root");
        return;
    }
    let agent = Agent::start(config()).await;
    let dir = agent.dir.path().display().to_string();
    let script = format!(
        "unshare --user true; echo \"unshare $?\"; \
         mount -t tmpfs none {dir}; r=$?; [ $r = 0 ] && umount -l {dir}; echo \"mount $r\"; \
         echo ok; ls / >/dev/null && echo ls; sh -c 'sh -c true' && echo nested; \
         awk '/^Seccomp:/ {{ print $2 }}' /proc/self/status"
    );
    let out = run(&mut agent.client().await, sh(&script)).await.expect("exec");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.stdout(), "unshare 1\nmount 32\nok\nls\nnested\n2\n", "{stderr}");
    assert!(stderr.contains("Operation not permitted"), "{stderr}");
    assert_eq!(out.exited.exit_code, Some(0), "{stderr}");
}

/// Calls the filtered syscalls directly and prints each errno (0: success), so the test can
/// check the exact answer. Harmless without the filter too: clone3 gets an invalid size, the
/// namespaced clone's child exits at once, ptrace asks about a process nobody traces.
const PROBE: &str = r#"
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

static void probe(const char *name, long rc) { printf("%s %d\n", name, rc == -1 ? errno : 0); }
static void *thread(void *arg) { return arg; }

int main(int argc, char **argv) {
    if (argc != 2) return 2;
    probe("keyctl", syscall(SYS_keyctl, 0 /* KEYCTL_GET_KEYRING_ID */, -4, 0));
    probe("bpf", syscall(SYS_bpf, -1, NULL, 0));
    probe("userfaultfd", syscall(SYS_userfaultfd, 0));
    /* struct io_uring_params is 120 bytes; all zero asks for nothing special. */
    char params[120] = {0};
    long ring = syscall(SYS_io_uring_setup, 1, params);
    if (ring >= 0) close((int)ring);
    probe("io_uring_setup", ring);
    long mounted = syscall(SYS_mount, "none", argv[1], "tmpfs", 0L, NULL);
    /* Should the filter ever be missing, leave no mount behind on the host. */
    if (mounted == 0) umount2(argv[1], MNT_DETACH);
    probe("mount", mounted);
    probe("ptrace", syscall(SYS_ptrace, PTRACE_GETREGS, getpid(), 0, 0));
    probe("unshare_user", syscall(SYS_unshare, CLONE_NEWUSER));
    probe("unshare_net", syscall(SYS_unshare, CLONE_NEWNET));
    probe("unshare_fs", syscall(SYS_unshare, CLONE_FS));
    probe("clone3", syscall(SYS_clone3, NULL, 0));
    long pid = syscall(SYS_clone, CLONE_NEWUSER | SIGCHLD, 0, 0, 0, 0);
    if (pid == 0) _exit(0);
    if (pid > 0) waitpid(pid, NULL, 0);
    probe("clone_newuser", pid);
    probe("x32_getpid", syscall(0x40000000 | SYS_getpid));
    pid = fork();
    if (pid == 0) _exit(7);
    int status = 0;
    waitpid(pid, &status, 0);
    printf("fork %d\n", WEXITSTATUS(status));
    pthread_t t;
    int rc = pthread_create(&t, NULL, thread, NULL);
    if (rc == 0) rc = pthread_join(t, NULL);
    printf("thread %d\n", rc);
    return 0;
}
"#;

/// Compiles [`PROBE`] statically (the agent runs it as is). `None`: no C toolchain here.
fn compile_probe(dir: &Path) -> Option<PathBuf> {
    let source = dir.join("probe.c");
    let binary = dir.join("probe");
    std::fs::write(&source, PROBE).expect("write probe");
    let out = Command::new("cc").arg("-static").arg("-o").arg(&binary).arg(&source).output();
    match out {
        Ok(out) if out.status.success() => Some(binary),
        Ok(out) => {
            eprintln!("skipped: cc -static failed: {}", String::from_utf8_lossy(&out.stderr));
            None
        }
        Err(err) => {
            eprintln!("skipped: no cc: {err}");
            None
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn denied_calls_fail_with_the_policys_errno() {
    if !root() {
        eprintln!("skipped: needs root");
        return;
    }
    let build = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("tempdir");
    let Some(probe) = compile_probe(build.path()) else { return };
    let agent = Agent::start(config()).await;
    let target = agent.dir.path().join("mnt");
    std::fs::create_dir(&target).expect("mkdir");
    let probe = probe.display().to_string();
    let out = run(&mut agent.client().await, request(&[&probe, &target.display().to_string()]))
        .await
        .expect("exec");
    assert_eq!(out.exited.exit_code, Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let (eperm, enosys) = (libc::EPERM, libc::ENOSYS);
    let expected = format!(
        "keyctl {eperm}\nbpf {eperm}\nuserfaultfd {eperm}\nio_uring_setup {eperm}\n\
         mount {eperm}\nptrace {eperm}\nunshare_user {eperm}\nunshare_net {eperm}\n\
         unshare_fs 0\nclone3 {enosys}\nclone_newuser {eperm}\nx32_getpid {eperm}\nfork 7\nthread 0\n"
    );
    assert_eq!(out.stdout(), expected);
}
