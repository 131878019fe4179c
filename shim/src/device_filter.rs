//! Which device nodes a box may open: the device cgroup, the wall behind `nodev` and the
//! missing `CAP_MKNOD`. A box given `cap_add: ["MKNOD"]` with `userns: "host"` can make a
//! node for the host's disk on its `/dev` tmpfs; the filter is what keeps it from opening it.
//!
//! The allow-list is the devices of the box's `/dev` (devices.rs) and its ptys, plus the
//! loop device of the box's disk, which the box's PID 1 mounts after it has entered its
//! cgroups. Making any node is allowed, as in Docker and runc: the node is inert unless the
//! list lets it be opened.
//!
//! On cgroup v1 the filter is the `devices` controller's `devices.deny` / `devices.allow`
//! files. Cgroup v2 has no such files: the filter is an eBPF program of type
//! `BPF_PROG_TYPE_CGROUP_DEVICE` attached to the box's cgroup, built here instruction by
//! instruction from the same list (no compiler, no libbpf). It stays attached, and alive,
//! after its descriptor is closed, until the cgroup is removed.

use std::fs::{self, File};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;

use crate::error::{Step, StepError};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Char,
    Block,
}

/// What a rule lets a process do with a node; bits as the eBPF context carries them
/// (`BPF_DEVCG_ACC_*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Access(u32);

impl Access {
    const MKNOD: Access = Access(1);
    const READ_WRITE: Access = Access(2 | 4);
    const ALL: Access = Access(1 | 2 | 4);

    fn letters(self) -> String {
        [(1, 'm'), (2, 'r'), (4, 'w')]
            .into_iter()
            .filter(|&(bit, _)| self.0 & bit != 0)
            .map(|(_, letter)| letter)
            .collect()
    }
}

/// One allowed device, or class of devices (`None`: any major or minor).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rule {
    pub kind: Kind,
    pub major: Option<u32>,
    pub minor: Option<u32>,
    pub access: Access,
}

impl Rule {
    const fn char(major: u32, minor: Option<u32>) -> Self {
        Rule { kind: Kind::Char, major: Some(major), minor, access: Access::ALL }
    }

    /// The rule as a line of v1's `devices.allow` (and of `devices.list`).
    pub fn v1_line(&self) -> String {
        let kind = match self.kind {
            Kind::Char => 'c',
            Kind::Block => 'b',
        };
        let number = |n: Option<u32>| n.map_or("*".to_string(), |n| n.to_string());
        format!("{kind} {}:{} {}", number(self.major), number(self.minor), self.access.letters())
    }
}

/// The devices of the box's `/dev`: null, zero, full, random, urandom, tty (see devices.rs),
/// `/dev/pts/ptmx` and the ptys it hands out.
const BOX_DEVICES: [Rule; 8] = [
    Rule::char(1, Some(3)),
    Rule::char(1, Some(5)),
    Rule::char(1, Some(7)),
    Rule::char(1, Some(8)),
    Rule::char(1, Some(9)),
    Rule::char(5, Some(0)),
    Rule::char(5, Some(2)),
    Rule::char(136, None),
];

/// The box's allow-list; `disk` is the block device holding its writable layer, if any.
pub fn rules(disk: Option<&Path>) -> Result<Vec<Rule>, StepError> {
    let mut rules = vec![
        Rule { kind: Kind::Char, major: None, minor: None, access: Access::MKNOD },
        Rule { kind: Kind::Block, major: None, minor: None, access: Access::MKNOD },
    ];
    rules.extend(BOX_DEVICES);
    if let Some(device) = disk {
        let meta = fs::metadata(device).step(|| format!("stat {}", device.display()))?;
        if !meta.file_type().is_block_device() {
            return Err(StepError::new(
                "device filter",
                format!("{} is not a block device", device.display()),
            ));
        }
        let rdev = meta.rdev();
        rules.push(Rule {
            kind: Kind::Block,
            major: Some(libc::major(rdev)),
            minor: Some(libc::minor(rdev)),
            access: Access::READ_WRITE,
        });
    }
    Ok(rules)
}

/// Applies `rules` to the box's v1 `devices` cgroup `dir`: everything denied, then each rule
/// allowed. Also right for a reused leftover, whatever it allowed before.
pub fn write_v1(dir: &Path, rules: &[Rule]) -> Result<(), StepError> {
    write_line(dir, "devices.deny", "a")?;
    for rule in rules {
        write_line(dir, "devices.allow", &rule.v1_line())?;
    }
    Ok(())
}

fn write_line(dir: &Path, file: &str, line: &str) -> Result<(), StepError> {
    let path = dir.join(file);
    // One write per rule: the kernel parses each write as one rule.
    fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .and_then(|mut f| io::Write::write_all(&mut f, line.as_bytes()))
        .step(|| format!("cgroup: write {line:?} to {}", path.display()))
}

/// Attaches the eBPF program for `rules` to the v2 cgroup `dir`. Attached without
/// `BPF_F_ALLOW_MULTI`, so it replaces the program of a reused leftover and a process of the
/// box cannot add one that allows more (it has no `CAP_SYS_ADMIN` on the host, either).
pub fn attach_v2(dir: &Path, rules: &[Rule]) -> Result<(), StepError> {
    let program = bpf::program(rules);
    let prog = bpf::load(&program).step(|| "load the device filter (eBPF)".to_string())?;
    let cgroup = File::open(dir).step(|| format!("open {}", dir.display()))?;
    bpf::attach(&prog, &cgroup)
        .step(|| format!("attach the device filter (eBPF) to {}", dir.display()))
}

/// The few pieces of the eBPF instruction set and `bpf(2)` the device filter needs.
mod bpf {
    use super::*;

    /// `struct bpf_insn`.
    #[repr(C)]
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub struct Insn {
        code: u8,
        /// dst in the low nibble, src in the high one.
        regs: u8,
        off: i16,
        imm: i32,
    }

    const LDX_MEM_W: u8 = 0x61;
    const ALU64_MOV_X: u8 = 0xbf;
    const ALU64_MOV_K: u8 = 0xb7;
    const ALU64_AND_K: u8 = 0x57;
    const ALU64_RSH_K: u8 = 0x77;
    const JMP_JNE_K: u8 = 0x55;
    const JMP_EXIT: u8 = 0x95;

    /// `BPF_DEVCG_DEV_BLOCK`, `BPF_DEVCG_DEV_CHAR`.
    fn kind_code(kind: Kind) -> i32 {
        match kind {
            Kind::Block => 1,
            Kind::Char => 2,
        }
    }

    fn insn(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> Insn {
        Insn { code, regs: dst | (src << 4), off, imm }
    }

    // Registers: r1 the context (`struct bpf_cgroup_dev_ctx`: access_type, major, minor, u32
    // each), r2 the device kind, r3 the access asked for, r4 major, r5 minor, r6 scratch.
    const CTX: u8 = 1;
    const KIND: u8 = 2;
    const ACCESS: u8 = 3;
    const MAJOR: u8 = 4;
    const MINOR: u8 = 5;
    const SCRATCH: u8 = 6;

    /// The program: 1 (allow) if a rule matches the kind, numbers and every access bit
    /// asked for, else 0 (`EPERM` for the caller).
    pub fn program(rules: &[Rule]) -> Vec<Insn> {
        let mut out = vec![
            insn(LDX_MEM_W, KIND, CTX, 0, 0),
            insn(LDX_MEM_W, MAJOR, CTX, 4, 0),
            insn(LDX_MEM_W, MINOR, CTX, 8, 0),
            insn(ALU64_MOV_X, ACCESS, KIND, 0, 0),
            insn(ALU64_RSH_K, ACCESS, 0, 0, 16),
            insn(ALU64_AND_K, KIND, 0, 0, 0xffff),
        ];
        for rule in rules {
            // Each test jumps to the next rule on a mismatch: past the tests left in this
            // rule and its five closing instructions.
            let mut tests = vec![(KIND, kind_code(rule.kind))];
            tests.extend(rule.major.map(|major| (MAJOR, major as i32)));
            tests.extend(rule.minor.map(|minor| (MINOR, minor as i32)));
            let len = tests.len() + 5;
            for (i, (reg, imm)) in tests.into_iter().enumerate() {
                out.push(insn(JMP_JNE_K, reg, 0, (len - i - 1) as i16, imm));
            }
            // Access asked beyond the rule's: the bits left after masking the allowed ones.
            out.push(insn(ALU64_MOV_X, SCRATCH, ACCESS, 0, 0));
            out.push(insn(ALU64_AND_K, SCRATCH, 0, 0, !(rule.access.0 as i32) & 7));
            out.push(insn(JMP_JNE_K, SCRATCH, 0, 2, 0));
            out.push(insn(ALU64_MOV_K, 0, 0, 0, 1));
            out.push(insn(JMP_EXIT, 0, 0, 0, 0));
        }
        out.push(insn(ALU64_MOV_K, 0, 0, 0, 0));
        out.push(insn(JMP_EXIT, 0, 0, 0, 0));
        out
    }

    const BPF_PROG_LOAD: libc::c_long = 5;
    const BPF_PROG_ATTACH: libc::c_long = 8;
    const BPF_PROG_TYPE_CGROUP_DEVICE: u32 = 15;
    const BPF_CGROUP_DEVICE: u32 = 6;

    /// The head of `union bpf_attr` for `BPF_PROG_LOAD`; the kernel takes a shorter attr.
    #[repr(C)]
    struct ProgLoad {
        prog_type: u32,
        insn_cnt: u32,
        insns: u64,
        license: u64,
        log_level: u32,
        log_size: u32,
        log_buf: u64,
        kern_version: u32,
        prog_flags: u32,
    }

    /// `union bpf_attr` for `BPF_PROG_ATTACH`.
    #[repr(C)]
    struct ProgAttach {
        target_fd: u32,
        attach_bpf_fd: u32,
        attach_type: u32,
        attach_flags: u32,
    }

    fn bpf<T>(cmd: libc::c_long, attr: &T) -> io::Result<i64> {
        // SAFETY: `attr` is a properly laid out prefix of `union bpf_attr` for `cmd`, and
        // its size is passed with it; every pointer in it outlives the call.
        let rc = unsafe {
            libc::syscall(libc::SYS_bpf, cmd, attr as *const T, std::mem::size_of::<T>())
        };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(rc)
    }

    pub fn load(program: &[Insn]) -> io::Result<OwnedFd> {
        let license = c"GPL";
        let attr = ProgLoad {
            prog_type: BPF_PROG_TYPE_CGROUP_DEVICE,
            insn_cnt: program.len() as u32,
            insns: program.as_ptr() as u64,
            license: license.as_ptr() as u64,
            log_level: 0,
            log_size: 0,
            log_buf: 0,
            kern_version: 0,
            prog_flags: 0,
        };
        let fd = bpf(BPF_PROG_LOAD, &attr)?;
        // SAFETY: a successful BPF_PROG_LOAD returns a new descriptor that only we own.
        Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
    }

    pub fn attach(prog: &OwnedFd, cgroup: &File) -> io::Result<()> {
        let attr = ProgAttach {
            target_fd: cgroup.as_raw_fd() as u32,
            attach_bpf_fd: prog.as_raw_fd() as u32,
            attach_type: BPF_CGROUP_DEVICE,
            attach_flags: 0,
        };
        bpf(BPF_PROG_ATTACH, &attr).map(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    #[test]
    fn v1_lines_are_what_the_kernel_lists() {
        let lines: Vec<String> = rules(None).unwrap().iter().map(Rule::v1_line).collect();
        assert_eq!(
            lines,
            [
                "c *:* m",
                "b *:* m",
                "c 1:3 mrw",
                "c 1:5 mrw",
                "c 1:7 mrw",
                "c 1:8 mrw",
                "c 1:9 mrw",
                "c 5:0 mrw",
                "c 5:2 mrw",
                "c 136:* mrw",
            ]
        );
        let err = rules(Some(Path::new("/dev/null"))).unwrap_err();
        assert_eq!(err.to_string(), "device filter: /dev/null is not a block device");
    }

    /// The eBPF program, loaded by this kernel and attached to a v2 cgroup of its own,
    /// judges real opens: a `sh` moved into the cgroup may read `/dev/zero` and not
    /// `/dev/loop-control`. Needs root (loading a cgroup program, making the cgroup) and a
    /// v2 hierarchy, pure or the hybrid layout's `unified` one.
    #[test]
    fn the_ebpf_filter_allows_the_list_and_nothing_else() {
        assert!(nix::unistd::geteuid().is_root(), "this test needs root");
        let v2 = ["/sys/fs/cgroup/unified", "/sys/fs/cgroup"]
            .into_iter()
            .map(Path::new)
            .find(|p| p.join("cgroup.procs").exists() && p.join("cgroup.subtree_control").exists())
            .expect("a cgroup v2 hierarchy");
        let dir = v2.join(format!("boxlite-device-filter-test-{}", std::process::id()));
        fs::create_dir(&dir).expect("create test cgroup");
        let result = std::panic::catch_unwind(|| {
            attach_v2(&dir, &rules(None).unwrap()).expect("attach");
            let procs = dir.join("cgroup.procs");
            let out = Command::new("sh")
                .arg("-c")
                .arg(
                    "echo 0 > \"$1\" || exit 9
                     head -c 1 /dev/zero >/dev/null && echo zero-ok
                     cat /dev/loop-control && echo loop-ok
                     exit 0",
                )
                .arg("sh")
                .arg(&procs)
                .output()
                .expect("sh");
            let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
            let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
            assert_eq!(out.status.code(), Some(0), "{stderr}");
            assert_eq!(stdout, "zero-ok\n", "{stderr}");
            assert!(stderr.contains("Operation not permitted"), "{stderr}");
        });
        // The sh has exited, so the cgroup is empty and can go.
        fs::remove_dir(&dir).expect("remove test cgroup");
        if let Err(panic) = result {
            std::panic::resume_unwind(panic);
        }
    }
}
