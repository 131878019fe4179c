use serde_json::json;

use super::assemble::{AND_K, JA, JEQ_K, JGE_K, JGT_K, JSET_K, LD_ABS, RET_K};
use super::*;

const CONTEXT: Context =
    Context { capabilities: crate::capabilities::DEFAULT_MASK, kernel: (6, 1) };

/// Runs a compiled program on one call, as the kernel would.
fn run(program: &[Insn], arch: u32, nr: u32, args: [u64; 6]) -> u32 {
    let word = |offset: u32| -> u32 {
        match offset {
            OFFSET_NR => nr,
            OFFSET_ARCH => arch,
            o if (OFFSET_ARGS..OFFSET_ARGS + 48).contains(&o) => {
                let arg = args[((o - OFFSET_ARGS) / 8) as usize];
                if (o - OFFSET_ARGS).is_multiple_of(8) {
                    arg as u32
                } else {
                    (arg >> 32) as u32
                }
            }
            o => panic!("load of offset {o}"),
        }
    };
    let (mut pc, mut acc) = (0usize, 0u32);
    loop {
        let insn = program[pc];
        pc += 1;
        let taken = match insn.code {
            LD_ABS => {
                acc = word(insn.k);
                continue;
            }
            AND_K => {
                acc &= insn.k;
                continue;
            }
            RET_K => return insn.k,
            JA => {
                pc += insn.k as usize;
                continue;
            }
            JEQ_K => acc == insn.k,
            JGT_K => acc > insn.k,
            JGE_K => acc >= insn.k,
            JSET_K => acc & insn.k != 0,
            code => panic!("opcode {code:#x}"),
        };
        pc += usize::from(if taken { insn.jt } else { insn.jf });
    }
}

fn x86_64(program: &[Insn], name: &str, args: [u64; 6]) -> u32 {
    run(program, AUDIT_ARCH_X86_64, number(name).expect(name), args)
}

#[test]
fn the_table_is_sorted_and_knows_common_calls() {
    assert!(syscalls::SYSCALLS.windows(2).all(|w| w[0].0 < w[1].0));
    assert_eq!(number("read"), Some(0));
    assert_eq!(number("io_uring_setup"), Some(425));
    assert_eq!(number("_llseek"), None);
}

#[test]
fn first_matching_rule_decides_and_the_rest_gets_the_default() {
    let profile = json!({
        "defaultAction": "SCMP_ACT_ERRNO",
        "defaultErrnoRet": 38,
        "syscalls": [
            {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13},
            {"names": ["read", "write", "mkdir", "_llseek"], "action": "SCMP_ACT_ALLOW"},
            {"names": ["reboot"], "action": "SCMP_ACT_KILL_PROCESS"}
        ]
    });
    let program = compile(&profile, &CONTEXT).unwrap();
    assert_eq!(x86_64(&program, "mkdir", [0; 6]), RET_ERRNO | 13);
    assert_eq!(x86_64(&program, "read", [0; 6]), RET_ALLOW);
    assert_eq!(x86_64(&program, "reboot", [0; 6]), RET_KILL_PROCESS);
    assert_eq!(x86_64(&program, "openat", [0; 6]), RET_ERRNO | 38);
    // Other ABIs never reach the profile's rules.
    assert_eq!(run(&program, 3 | 0x4000_0000, 0, [0; 6]), RET_KILL_PROCESS);
    assert_eq!(run(&program, AUDIT_ARCH_X86_64, X32_SYSCALL_BIT, [0; 6]), RET_ERRNO | EPERM);
}

#[test]
fn argument_checks_compare_all_64_bits() {
    /// (op, value, valueTwo, [(argument, denied)]).
    type Case = (&'static str, u64, u64, &'static [(u64, bool)]);
    let cases: [Case; 7] = [
        (
            "SCMP_CMP_EQ",
            0x1_0000_0005,
            0,
            &[(0x1_0000_0005, true), (5, false), (0x1_0000_0000, false)],
        ),
        (
            "SCMP_CMP_NE",
            0x1_0000_0005,
            0,
            &[(0x1_0000_0005, false), (5, true), (0x2_0000_0005, true)],
        ),
        (
            "SCMP_CMP_GT",
            0x1_0000_0005,
            0,
            &[
                (0x1_0000_0006, true),
                (0x1_0000_0005, false),
                (0x2_0000_0000, true),
                (0xffff_ffff, false),
            ],
        ),
        (
            "SCMP_CMP_GE",
            0x1_0000_0005,
            0,
            &[(0x1_0000_0005, true), (0x1_0000_0004, false), (0x2_0000_0000, true)],
        ),
        (
            "SCMP_CMP_LT",
            0x1_0000_0005,
            0,
            &[
                (0x1_0000_0004, true),
                (0x1_0000_0005, false),
                (0xffff_ffff, true),
                (0x2_0000_0000, false),
            ],
        ),
        (
            "SCMP_CMP_LE",
            0x1_0000_0005,
            0,
            &[(0x1_0000_0005, true), (0x1_0000_0006, false), (3, true)],
        ),
        (
            "SCMP_CMP_MASKED_EQ",
            0xff00_0000_00ff,
            0x0100_0000_0001,
            &[
                (0x0100_0000_0001, true),
                (0x01ff_0000_1001, true),
                (0x0100_0000_0002, false),
                (1, false),
            ],
        ),
    ];
    for (op, value, value_two, checks) in cases {
        let profile = json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{
                "names": ["personality"],
                "action": "SCMP_ACT_ERRNO",
                "args": [{"index": 2, "value": value, "valueTwo": value_two, "op": op}]
            }]
        });
        let program = compile(&profile, &CONTEXT).unwrap();
        for &(arg, denied) in checks {
            let verdict = x86_64(&program, "personality", [0, 0, arg, 0, 0, 0]);
            let want = if denied { RET_ERRNO | EPERM } else { RET_ALLOW };
            assert_eq!(verdict, want, "{op} {value:#x}: arg {arg:#x}");
        }
    }
}

#[test]
fn every_argument_of_a_rule_must_hold() {
    let profile = json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{
            "names": ["kill"],
            "action": "SCMP_ACT_ERRNO",
            "args": [
                {"index": 0, "value": 1, "op": "SCMP_CMP_EQ"},
                {"index": 1, "value": 9, "op": "SCMP_CMP_EQ"}
            ]
        }]
    });
    let program = compile(&profile, &CONTEXT).unwrap();
    assert_eq!(x86_64(&program, "kill", [1, 9, 0, 0, 0, 0]), RET_ERRNO | EPERM);
    assert_eq!(x86_64(&program, "kill", [1, 15, 0, 0, 0, 0]), RET_ALLOW);
    assert_eq!(x86_64(&program, "kill", [2, 9, 0, 0, 0, 0]), RET_ALLOW);
}

#[test]
fn dockers_conditions_follow_the_box_capabilities_arch_and_kernel() {
    let profile = json!({
        "defaultAction": "SCMP_ACT_ERRNO",
        "archMap": [{"architecture": "SCMP_ARCH_X86_64", "subArchitectures": ["SCMP_ARCH_X86", "SCMP_ARCH_X32"]}],
        "syscalls": [
            {"names": ["mount"], "action": "SCMP_ACT_ALLOW", "includes": {"caps": ["CAP_SYS_ADMIN"]}},
            {"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38, "excludes": {"caps": ["CAP_SYS_ADMIN"]}},
            {"names": ["clone3"], "action": "SCMP_ACT_ALLOW"},
            {"names": ["arch_prctl"], "action": "SCMP_ACT_ALLOW", "includes": {"arches": ["amd64", "x32"]}},
            {"names": ["s390_pci_mmio_read", "read"], "action": "SCMP_ACT_ALLOW", "includes": {"arches": ["s390x"]}},
            {"names": ["io_uring_setup"], "action": "SCMP_ACT_ALLOW", "includes": {"minKernel": "7.0"}},
            {"names": ["pidfd_open"], "action": "SCMP_ACT_ALLOW", "includes": {"minKernel": "5.3"}, "comment": "new"}
        ]
    });
    let plain = compile(&profile, &CONTEXT).unwrap();
    let deny = RET_ERRNO | EPERM;
    assert_eq!(x86_64(&plain, "mount", [0; 6]), deny);
    assert_eq!(x86_64(&plain, "clone3", [0; 6]), RET_ERRNO | 38);
    assert_eq!(x86_64(&plain, "arch_prctl", [0; 6]), RET_ALLOW);
    assert_eq!(x86_64(&plain, "read", [0; 6]), deny);
    assert_eq!(x86_64(&plain, "io_uring_setup", [0; 6]), deny);
    assert_eq!(x86_64(&plain, "pidfd_open", [0; 6]), RET_ALLOW);
    let admin = Context { capabilities: CONTEXT.capabilities | 1 << 21, ..CONTEXT };
    let admin = compile(&profile, &admin).unwrap();
    assert_eq!(x86_64(&admin, "mount", [0; 6]), RET_ALLOW);
    assert_eq!(x86_64(&admin, "clone3", [0; 6]), RET_ALLOW);
}

#[test]
fn what_cannot_be_honoured_is_refused_by_name() {
    let refused = [
        (json!({"defaultAction": "SCMP_ACT_NOTIFY"}), "SCMP_ACT_NOTIFY is not supported"),
        (json!({"defaultAction": "SCMP_ACT_ALLOW", "flags": ["SECCOMP_FILTER_FLAG_LOG"]}), "flags"),
        (json!({"defaultAction": "SCMP_ACT_ALLOW", "listenerPath": "/run/x"}), "listenerPath"),
        (json!({"defaultAction": "SCMP_ACT_DENY"}), "unknown action \"SCMP_ACT_DENY\""),
        (
            json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 6, "value": 0, "op": "SCMP_CMP_EQ"}]}]}),
            "syscalls[0]: argument index 6",
        ),
        (
            json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 0, "value": 0, "op": "SCMP_CMP_XX"}]}]}),
            "unknown comparison",
        ),
        (
            json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ERRNO", "errnoRet": 5000}]}),
            "errnoRet 5000",
        ),
        (
            json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"action": "SCMP_ACT_ALLOW"}]}),
            "names no syscall",
        ),
        (
            json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW", "includes": {"caps": ["CAP_NOPE"]}}]}),
            "unknown capability",
        ),
        (
            json!({"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["x86_64"]}),
            "unknown architecture",
        ),
        (
            json!({"defaultAction": "SCMP_ACT_ALLOW", "seccompTypo": 1}),
            "unknown field `seccompTypo`",
        ),
        (json!({"syscalls": []}), "missing field `defaultAction`"),
    ];
    for (profile, said) in refused {
        let err = compile(&profile, &CONTEXT).unwrap_err();
        assert!(err.starts_with("seccomp profile:"), "{err}");
        assert!(err.contains(said), "{profile}: {err}");
    }
}

#[test]
fn a_profile_naming_every_syscall_stays_within_the_kernels_limit() {
    let names: Vec<&str> = syscalls::SYSCALLS.iter().map(|(name, _)| *name).collect();
    let rules: Vec<_> = names
        .iter()
        .map(|name| json!({"names": [name], "action": "SCMP_ACT_ERRNO", "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_GT"}]}))
        .collect();
    let profile = json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": rules});
    let program = compile(&profile, &CONTEXT).unwrap();
    assert!(program.len() <= MAX_INSNS, "{}", program.len());
    // The far end of the dispatch still reaches its handler.
    assert_eq!(x86_64(&program, "writev", [2, 0, 0, 0, 0, 0]), RET_ERRNO | EPERM);
    assert_eq!(x86_64(&program, "writev", [1, 0, 0, 0, 0, 0]), RET_ALLOW);
    // Twice the rules no longer fit, and that is said.
    let doubled: Vec<_> = profile["syscalls"]
        .as_array()
        .unwrap()
        .iter()
        .cycle()
        .take(rules.len() * 3)
        .cloned()
        .collect();
    let err = compile(&json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": doubled}), &CONTEXT)
        .unwrap_err();
    assert!(err.contains("more than the kernel's 4096"), "{err}");
}

#[test]
fn kernel_versions_parse() {
    assert_eq!(kernel_version("6.18.44-fc-v1147"), Some((6, 18)));
    assert_eq!(kernel_version("4.8"), Some((4, 8)));
    assert_eq!(kernel_version("5.10-rc1"), Some((5, 10)));
    assert_eq!(kernel_version("six"), None);
}

/// The shapes Docker's default profile and Go-written profiles use: `null` lists, empty
/// condition objects, `subArchitectures: null`, an allow-list default of ERRNO, arch-guarded
/// and capability-guarded rules, a masked `clone` check, `clone3` answering ENOSYS.
#[test]
fn dockers_profile_shapes_load() {
    let profile = json!({
        "defaultAction": "SCMP_ACT_ERRNO",
        "defaultErrnoRet": 1,
        "archMap": [
            {"architecture": "SCMP_ARCH_X86_64", "subArchitectures": ["SCMP_ARCH_X86", "SCMP_ARCH_X32"]},
            {"architecture": "SCMP_ARCH_RISCV64", "subArchitectures": null}
        ],
        "flags": null,
        "syscalls": [
            {"names": ["read", "write", "execve", "_llseek", "ugetrlimit"], "action": "SCMP_ACT_ALLOW",
             "args": null, "comment": "", "includes": {}, "excludes": {}},
            {"names": ["socket"], "action": "SCMP_ACT_ALLOW",
             "args": [{"index": 0, "value": 40, "op": "SCMP_CMP_NE"}]},
            {"names": ["clone"], "action": "SCMP_ACT_ALLOW",
             "args": [{"index": 0, "value": 2114060288, "op": "SCMP_CMP_MASKED_EQ"}],
             "excludes": {"caps": ["CAP_SYS_ADMIN"], "arches": ["s390", "s390x"]}},
            {"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38,
             "excludes": {"caps": ["CAP_SYS_ADMIN"]}},
            {"names": ["bpf"], "action": "SCMP_ACT_ALLOW", "includes": {"caps": ["CAP_BPF"]}},
            {"names": ["ptrace"], "action": "SCMP_ACT_ALLOW", "includes": {"minKernel": "4.8"}}
        ]
    });
    let program = compile(&profile, &CONTEXT).unwrap();
    let deny = RET_ERRNO | EPERM;
    assert_eq!(x86_64(&program, "read", [0; 6]), RET_ALLOW);
    assert_eq!(x86_64(&program, "openat", [0; 6]), deny);
    // AF_VSOCK (40) is the one socket family denied.
    assert_eq!(x86_64(&program, "socket", [2, 0, 0, 0, 0, 0]), RET_ALLOW);
    assert_eq!(x86_64(&program, "socket", [40, 0, 0, 0, 0, 0]), deny);
    // A fork passes the mask (no namespace flag); CLONE_NEWUSER does not.
    // CLONE_CHILD_SETTID | CLONE_CHILD_CLEARTID | SIGCHLD, and CLONE_NEWUSER | SIGCHLD.
    let fork = 0x0100_0000 | 0x0020_0000 | 17;
    assert_eq!(x86_64(&program, "clone", [fork, 0, 0, 0, 0, 0]), RET_ALLOW);
    let newuser = 0x1000_0000 | 17;
    assert_eq!(x86_64(&program, "clone", [newuser, 0, 0, 0, 0, 0]), deny);
    assert_eq!(x86_64(&program, "clone3", [0; 6]), RET_ERRNO | 38);
    assert_eq!(x86_64(&program, "bpf", [0; 6]), deny);
    assert_eq!(x86_64(&program, "ptrace", [0; 6]), RET_ALLOW);
}
