//! The seccomp filter of every process the agent starts: a deny-list in the spirit of Docker's
//! default profile, written as classic BPF (the agent is static: no libseccomp).
//!
//! Capabilities already stop most of these calls for root; the filter is the second wall, and
//! the only one for what needs no capability at all: user namespaces (which hand their creator
//! every capability inside them), keyrings, bpf, perf, userfaultfd, io_uring, ptrace.
//!
//! The program is built once, in the agent, and installed on the agent itself at boot
//! ([`crate::boot::confine`]), so every process it starts inherits it. A box's own profile
//! ([`set_profile`], compiled by the host) replaces it: installed by each child right before
//! `execve` (see [`crate::child`]), and not on the agent, which the profile was not written for.
//!
//! Policy, in the order the program checks it:
//! 1. Any architecture other than x86_64 (the i386 and x32 entry points): kill the process.
//!    Their syscall numbers differ, so a deny-list written for one ABI means nothing in another.
//! 2. x32 syscall numbers (`__X32_SYSCALL_BIT`) arrive with the x86_64 arch: EPERM.
//! 3. The calls in [`DENIED`]: EPERM.
//! 4. `clone3`: ENOSYS. Its flags live in memory that BPF cannot read; C libraries fall back to
//!    `clone` on ENOSYS, whose flags the filter can check (what Docker does).
//! 5. `unshare` and `clone` with any namespace flag: EPERM.
//! 6. Everything else: allowed.

use std::sync::OnceLock;

#[cfg(not(target_arch = "x86_64"))]
compile_error!("the seccomp filter is written for x86_64 syscall numbers only");

use libc::{sock_filter, sock_fprog};

/// `AUDIT_ARCH_X86_64` (EM_X86_64 | __AUDIT_ARCH_64BIT | __AUDIT_ARCH_LE); not in the libc crate.
const AUDIT_ARCH_X86_64: u32 = 62 | 0x8000_0000 | 0x4000_0000;

/// `__X32_SYSCALL_BIT`: x32 syscalls are x86_64 ones with this bit set in their number.
const X32_SYSCALL_BIT: u32 = 0x4000_0000;

/// Offsets in `struct seccomp_data`: `int nr; __u32 arch; __u64 instruction_pointer;
/// __u64 args[6];`. x86_64 is little-endian, so args[0]'s low 32 bits are at 16.
const OFFSET_NR: u32 = 0;
const OFFSET_ARCH: u32 = 4;
const OFFSET_ARG0_LOW: u32 = 16;

/// Removed from x86_64 kernels (their numbers answer ENOSYS) and absent from the libc crate;
/// denied all the same, should a kernel ever bring them back.
const SYS_CREATE_MODULE: libc::c_long = 174;
const SYS_GET_KERNEL_SYMS: libc::c_long = 177;
const SYS_QUERY_MODULE: libc::c_long = 178;

/// The namespace flags of `unshare` (and `clone3`).
const NAMESPACE_FLAGS: u32 = CLONE_NAMESPACE_FLAGS | libc::CLONE_NEWTIME as u32;

/// The namespace flags of `clone`: CLONE_NEWTIME (0x80) lies in `clone`'s exit-signal byte,
/// where the kernel reads it as a signal number, not as a namespace.
const CLONE_NAMESPACE_FLAGS: u32 = (libc::CLONE_NEWNS
    | libc::CLONE_NEWCGROUP
    | libc::CLONE_NEWUTS
    | libc::CLONE_NEWIPC
    | libc::CLONE_NEWUSER
    | libc::CLONE_NEWPID
    | libc::CLONE_NEWNET) as u32;

/// Syscalls that fail with EPERM, and why. (i386-only calls such as vm86, vm86old and stime
/// need no entry: the architecture check kills any process that reaches the i386 table.)
pub const DENIED: [(libc::c_long, &str); 48] = [
    // Replacing or extending the running kernel.
    (libc::SYS_kexec_load, "loads a new kernel"),
    (libc::SYS_kexec_file_load, "loads a new kernel"),
    (libc::SYS_init_module, "loads kernel code"),
    (libc::SYS_finit_module, "loads kernel code"),
    (libc::SYS_delete_module, "unloads kernel code"),
    (SYS_CREATE_MODULE, "kernel modules (obsolete)"),
    (SYS_GET_KERNEL_SYMS, "kernel modules (obsolete)"),
    (SYS_QUERY_MODULE, "kernel modules (obsolete)"),
    // The whole machine, shared with the agent: not a process's business.
    (libc::SYS_reboot, "reboots or halts the VM under the agent"),
    (libc::SYS_swapon, "changes the kernel's swap"),
    (libc::SYS_swapoff, "changes the kernel's swap"),
    (libc::SYS_acct, "switches process accounting for the whole kernel"),
    (libc::SYS_settimeofday, "sets the system clock"),
    (libc::SYS_clock_settime, "sets the system clock"),
    (libc::SYS_clock_adjtime, "adjusts the system clock"),
    (libc::SYS_adjtimex, "adjusts the system clock"),
    (libc::SYS_syslog, "reads or clears the kernel log"),
    (libc::SYS_quotactl, "filesystem quotas are the host's"),
    (libc::SYS_nfsservctl, "the kernel NFS server (obsolete)"),
    // Kernel attack surface without a namespace of its own.
    (libc::SYS_keyctl, "kernel keyrings are not namespaced"),
    (libc::SYS_add_key, "kernel keyrings are not namespaced"),
    (libc::SYS_request_key, "kernel keyrings are not namespaced"),
    (libc::SYS_bpf, "loads programs into the kernel"),
    (libc::SYS_perf_event_open, "observes the kernel and other processes"),
    (libc::SYS_userfaultfd, "stalls the kernel at will: a staple of kernel exploits"),
    (libc::SYS_lookup_dcookie, "kernel profiling (obsolete)"),
    (libc::SYS_uselib, "loads a library through an old, unmaintained path"),
    (libc::SYS_iopl, "raw I/O port access"),
    // io_uring's operations run in kernel workers that a seccomp filter never sees, and it
    // has been a steady source of kernel exploits (Docker denies it too).
    (libc::SYS_io_uring_setup, "io_uring: syscalls the filter cannot see"),
    (libc::SYS_io_uring_enter, "io_uring: syscalls the filter cannot see"),
    (libc::SYS_io_uring_register, "io_uring: syscalls the filter cannot see"),
    (libc::SYS_ioperm, "raw I/O port access"),
    // Escaping the filesystem view: open files by handle, or remount.
    (libc::SYS_open_by_handle_at, "opens any file by handle, outside any mount (shocker)"),
    (libc::SYS_name_to_handle_at, "the other half of open_by_handle_at"),
    (libc::SYS_mount, "changes the box's mounts"),
    (libc::SYS_umount2, "changes the box's mounts"),
    (libc::SYS_pivot_root, "changes the box's root"),
    (libc::SYS_fsopen, "the new mount API"),
    (libc::SYS_fsconfig, "the new mount API"),
    (libc::SYS_fsmount, "the new mount API"),
    (libc::SYS_fspick, "the new mount API"),
    (libc::SYS_move_mount, "the new mount API"),
    (libc::SYS_open_tree, "the new mount API"),
    // Namespaces and other processes.
    (libc::SYS_setns, "joins another namespace"),
    (libc::SYS_ptrace, "debugs (and rewrites) the box's other processes"),
    (libc::SYS_process_vm_readv, "reads another process's memory"),
    (libc::SYS_process_vm_writev, "writes another process's memory"),
    (libc::SYS_kcmp, "compares kernel objects of other processes (layout leaks)"),
];

/// The box's own profile, compiled by the host ([`boxlite_protocol::seccomp`]); set once at
/// boot, before any thread, and read by every spawn.
static PROFILE: OnceLock<Vec<sock_filter>> = OnceLock::new();

/// Keeps the box's profile for [`profile`]. The host compiled it; the agent only checks what
/// the kernel would refuse anyway (an empty or over-long program), to say so at boot.
pub fn set_profile(insns: &[boxlite_protocol::seccomp::Insn]) -> Result<(), String> {
    if insns.is_empty() || insns.len() > boxlite_protocol::seccomp::MAX_INSNS {
        return Err(format!("seccomp profile of {} instructions", insns.len()));
    }
    let program =
        insns.iter().map(|i| sock_filter { code: i.code, jt: i.jt, jf: i.jf, k: i.k }).collect();
    PROFILE.set(program).map_err(|_| "seccomp profile set twice".to_string())
}

/// What a spawn installs right before `execve`: the box's profile, when it has one.
pub fn profile() -> Option<sock_fprog> {
    // At most MAX_INSNS (4096), checked in `set_profile`.
    PROFILE.get().map(|program| fprog_of(program))
}

fn denied() -> impl Iterator<Item = libc::c_long> {
    DENIED.iter().map(|(nr, _)| *nr)
}

/// The filter program; built on first use, then shared by every spawn.
pub fn program() -> &'static [sock_filter] {
    static PROGRAM: OnceLock<Vec<sock_filter>> = OnceLock::new();
    PROGRAM.get_or_init(build)
}

/// What `prctl(PR_SET_SECCOMP)` takes: the program by pointer. It points into a `'static`
/// vector, so it stays valid in the child after `fork`.
pub fn fprog() -> sock_fprog {
    // The program has well under 100 instructions (the kernel's limit is 4096).
    fprog_of(program())
}

/// `program` as `PR_SET_SECCOMP` takes it; its length is at most
/// [`boxlite_protocol::seccomp::MAX_INSNS`], which fits the kernel's `unsigned short`.
fn fprog_of(program: &'static [sock_filter]) -> sock_fprog {
    sock_fprog { len: program.len() as libc::c_ushort, filter: program.as_ptr().cast_mut() }
}

/// A jump destination: the next instruction, or a label resolved once the program is laid out.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Target {
    Next,
    Label(Label),
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Label {
    Kill,
    Eperm,
    Enosys,
    CheckUnshare,
    CheckClone,
}

enum Op {
    Load(u32),
    Jump { code: u32, k: u32, jt: Target, jf: Target },
    Return(u32),
    Here(Label),
}

fn build() -> Vec<sock_filter> {
    use Label::*;
    use Target::Next;
    let jeq = |k: u32, to: Label| Op::Jump { code: JEQ, k, jt: Target::Label(to), jf: Next };
    let jset = |k: u32, to: Label| Op::Jump { code: JSET, k, jt: Target::Label(to), jf: Next };
    let nr = |nr: libc::c_long| nr as u32;

    let mut ops = vec![
        Op::Load(OFFSET_ARCH),
        Op::Jump { code: JEQ, k: AUDIT_ARCH_X86_64, jt: Next, jf: Target::Label(Kill) },
        Op::Load(OFFSET_NR),
        jset(X32_SYSCALL_BIT, Eperm),
    ];
    ops.extend(denied().map(|n| jeq(nr(n), Eperm)));
    ops.extend([
        jeq(nr(libc::SYS_clone3), Enosys),
        jeq(nr(libc::SYS_unshare), CheckUnshare),
        jeq(nr(libc::SYS_clone), CheckClone),
        Op::Return(libc::SECCOMP_RET_ALLOW),
        Op::Here(CheckUnshare),
        Op::Load(OFFSET_ARG0_LOW),
        jset(NAMESPACE_FLAGS, Eperm),
        Op::Return(libc::SECCOMP_RET_ALLOW),
        Op::Here(CheckClone),
        Op::Load(OFFSET_ARG0_LOW),
        jset(CLONE_NAMESPACE_FLAGS, Eperm),
        Op::Return(libc::SECCOMP_RET_ALLOW),
        Op::Here(Kill),
        Op::Return(libc::SECCOMP_RET_KILL_PROCESS),
        Op::Here(Eperm),
        Op::Return(libc::SECCOMP_RET_ERRNO | libc::EPERM as u32),
        Op::Here(Enosys),
        Op::Return(libc::SECCOMP_RET_ERRNO | libc::ENOSYS as u32),
    ]);
    assemble(&ops)
}

const LOAD: u16 = (libc::BPF_LD | libc::BPF_W | libc::BPF_ABS) as u16;
const RET: u16 = (libc::BPF_RET | libc::BPF_K) as u16;
const JEQ: u32 = libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K;
const JSET: u32 = libc::BPF_JMP | libc::BPF_JSET | libc::BPF_K;

/// Lays the ops out and resolves labels into the u8 forward offsets classic BPF jumps take.
fn assemble(ops: &[Op]) -> Vec<sock_filter> {
    let mut position = Vec::new();
    let mut at = 0usize;
    for op in ops {
        match op {
            Op::Here(label) => position.push((*label, at)),
            _ => at += 1,
        }
    }
    let offset = |from: usize, target: Target| -> u8 {
        match target {
            Target::Next => 0,
            Target::Label(label) => {
                let (_, to) = position.iter().find(|(l, _)| *l == label).expect("label placed");
                // Jumps are relative to the next instruction and only go forward.
                u8::try_from(to - from - 1).expect("jump within u8 range")
            }
        }
    };
    let mut program = Vec::with_capacity(at);
    for op in ops {
        let here = program.len();
        let insn = match *op {
            Op::Load(k) => sock_filter { code: LOAD, jt: 0, jf: 0, k },
            Op::Return(k) => sock_filter { code: RET, jt: 0, jf: 0, k },
            Op::Jump { code, k, jt, jf } => {
                sock_filter { code: code as u16, jt: offset(here, jt), jf: offset(here, jf), k }
            }
            Op::Here(_) => continue,
        };
        program.push(insn);
    }
    program
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs the program on one syscall: the subset of classic BPF it uses.
    fn verdict(arch: u32, nr: u32, arg0: u64) -> u32 {
        let program = program();
        let mut pc = 0;
        let mut acc = 0u32;
        loop {
            let insn = program[pc];
            pc += 1;
            match insn.code {
                LOAD => {
                    acc = match insn.k {
                        OFFSET_NR => nr,
                        OFFSET_ARCH => arch,
                        OFFSET_ARG0_LOW => arg0 as u32,
                        k => panic!("load of offset {k}"),
                    }
                }
                RET => return insn.k,
                code => {
                    let taken = match u32::from(code) {
                        JEQ => acc == insn.k,
                        JSET => acc & insn.k != 0,
                        other => panic!("opcode {other:#x}"),
                    };
                    pc += usize::from(if taken { insn.jt } else { insn.jf });
                }
            }
        }
    }

    fn x86_64(nr: libc::c_long, arg0: u64) -> u32 {
        verdict(AUDIT_ARCH_X86_64, nr as u32, arg0)
    }

    const ALLOW: u32 = libc::SECCOMP_RET_ALLOW;
    const EPERM: u32 = libc::SECCOMP_RET_ERRNO | libc::EPERM as u32;
    const ENOSYS: u32 = libc::SECCOMP_RET_ERRNO | libc::ENOSYS as u32;

    #[test]
    fn denied_calls_get_eperm_and_the_rest_is_allowed() {
        for nr in denied() {
            assert_eq!(x86_64(nr, 0), EPERM, "{nr}");
        }
        for nr in [
            libc::SYS_read,
            libc::SYS_write,
            libc::SYS_openat,
            libc::SYS_execve,
            libc::SYS_wait4,
            libc::SYS_prctl,
            libc::SYS_seccomp,
            libc::SYS_setuid,
            libc::SYS_chown,
        ] {
            assert_eq!(x86_64(nr, 0), ALLOW, "{nr}");
        }
        assert_eq!(x86_64(libc::SYS_clone3, 0), ENOSYS);
    }

    #[test]
    fn namespaces_are_denied_but_plain_clone_and_unshare_are_not() {
        // What fork, pthread_create and posix_spawn ask for.
        let fork = (libc::CLONE_CHILD_SETTID | libc::CLONE_CHILD_CLEARTID | libc::SIGCHLD) as u64;
        let thread = (libc::CLONE_VM
            | libc::CLONE_FS
            | libc::CLONE_FILES
            | libc::CLONE_SIGHAND
            | libc::CLONE_THREAD
            | libc::CLONE_SYSVSEM
            | libc::CLONE_SETTLS
            | libc::CLONE_PARENT_SETTID
            | libc::CLONE_CHILD_CLEARTID) as u64;
        let spawn = (libc::CLONE_VM | libc::CLONE_VFORK | libc::SIGCHLD) as u64;
        for flags in [fork, thread, spawn] {
            assert_eq!(x86_64(libc::SYS_clone, flags), ALLOW, "{flags:#x}");
        }
        assert_eq!(x86_64(libc::SYS_unshare, (libc::CLONE_FS | libc::CLONE_FILES) as u64), ALLOW);
        for flag in [
            libc::CLONE_NEWNS,
            libc::CLONE_NEWCGROUP,
            libc::CLONE_NEWUTS,
            libc::CLONE_NEWIPC,
            libc::CLONE_NEWUSER,
            libc::CLONE_NEWPID,
            libc::CLONE_NEWNET,
        ] {
            let flags = (flag | libc::SIGCHLD) as u64;
            assert_eq!(x86_64(libc::SYS_clone, flags), EPERM, "clone {flag:#x}");
            assert_eq!(x86_64(libc::SYS_unshare, flag as u64), EPERM, "unshare {flag:#x}");
        }
        assert_eq!(x86_64(libc::SYS_unshare, libc::CLONE_NEWTIME as u64), EPERM);
        // The high half of args[0] holds no flag: only the low 32 bits are checked.
        assert_eq!(x86_64(libc::SYS_unshare, 1 << 32), ALLOW);
    }

    #[test]
    fn other_abis_are_killed_or_denied() {
        const AUDIT_ARCH_I386: u32 = 3 | 0x4000_0000;
        // i386 mount is 21; any number at all kills.
        assert_eq!(verdict(AUDIT_ARCH_I386, 21, 0), libc::SECCOMP_RET_KILL_PROCESS);
        assert_eq!(verdict(AUDIT_ARCH_I386, 0, 0), libc::SECCOMP_RET_KILL_PROCESS);
        // x32 mount: the x86_64 arch with the x32 bit set.
        let x32_mount = X32_SYSCALL_BIT | libc::SYS_mount as u32;
        assert_eq!(verdict(AUDIT_ARCH_X86_64, x32_mount, 0), EPERM);
        assert_eq!(verdict(AUDIT_ARCH_X86_64, X32_SYSCALL_BIT, 0), EPERM);
    }

    #[test]
    fn the_program_is_small_and_its_reasons_are_written_down() {
        assert!(program().len() < 100, "{}", program().len());
        assert_eq!(fprog().len as usize, program().len());
        assert!(DENIED.iter().all(|(_, why)| !why.is_empty()));
    }
}
