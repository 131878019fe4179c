//! Seccomp profiles of one's own: an OCI seccomp profile (JSON, Docker's profile files
//! included) compiled into the classic BPF program the agent installs on every process of the
//! box ([`crate::launch::GuestConfig::seccomp_profile`]).
//!
//! Core compiles a box's profile at create (so a bad profile is refused before anything runs)
//! and again at each start; the agent only checks the program's length and installs it. The
//! meaning, which runc and libseccomp share:
//! - each rule names syscalls, an action and optional argument checks (all must hold);
//! - a syscall's rules are tried in the profile's order, the first that holds decides, and a
//!   call no rule decides gets `defaultAction`;
//! - names this architecture has no number for (Docker's profile lists i386 and arm calls)
//!   are skipped, as runc skips them: an allow of them allows nothing that exists here, a
//!   deny denies nothing that exists;
//! - Docker's `includes` / `excludes` are evaluated against the box's capabilities, the
//!   host's architecture (`amd64`) and kernel.
//!
//! Stricter than asked, always: only x86_64 calls are filtered by the profile. i386 entry
//! points kill the process and x32 calls fail with EPERM, as in the default filter, even when
//! `architectures` lists them (their numbers differ; this runtime has no tables for them).

mod assemble;
mod profile;
mod syscalls;

use serde::{Deserialize, Serialize};

use assemble::{Label, Program, To, JEQ_K, JGE_K, JGT_K, JSET_K};
use profile::{Arg, Condition, Profile, Rule};

/// One classic BPF instruction (`struct sock_filter`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Insn {
    pub code: u16,
    pub jt: u8,
    pub jf: u8,
    pub k: u32,
}

/// The kernel's limit on a filter's length (`BPF_MAXINSNS`).
pub const MAX_INSNS: usize = 4096;

/// What a profile's `includes` / `excludes` are evaluated against.
#[derive(Clone, Copy, Debug)]
pub struct Context {
    /// The capabilities the box's root processes keep (bit n: capability n).
    pub capabilities: u64,
    /// The host kernel's (major, minor).
    pub kernel: (u32, u32),
}

/// `AUDIT_ARCH_X86_64`.
const AUDIT_ARCH_X86_64: u32 = 62 | 0x8000_0000 | 0x4000_0000;
/// `__X32_SYSCALL_BIT`.
const X32_SYSCALL_BIT: u32 = 0x4000_0000;
/// `struct seccomp_data`: nr at 0, arch at 4, args from 16 (8 bytes each, little-endian).
const OFFSET_NR: u32 = 0;
const OFFSET_ARCH: u32 = 4;
const OFFSET_ARGS: u32 = 16;

const RET_KILL_THREAD: u32 = 0x0000_0000;
const RET_KILL_PROCESS: u32 = 0x8000_0000;
const RET_TRAP: u32 = 0x0003_0000;
const RET_ERRNO: u32 = 0x0005_0000;
const RET_TRACE: u32 = 0x7ff0_0000;
const RET_LOG: u32 = 0x7ffc_0000;
const RET_ALLOW: u32 = 0x7fff_0000;
const EPERM: u32 = 1;
/// The largest errno a syscall can return (`MAX_ERRNO`).
const MAX_ERRNO: u32 = 4095;

/// The x86_64 number of a syscall.
pub fn number(name: &str) -> Option<u32> {
    syscalls::SYSCALLS
        .binary_search_by(|(known, _)| known.cmp(&name))
        .ok()
        .map(|at| syscalls::SYSCALLS[at].1)
}

/// (major, minor) of a kernel release such as `6.18.44-fc` or a `minKernel` such as `4.8`.
pub fn kernel_version(release: &str) -> Option<(u32, u32)> {
    let mut parts = release.split(['.', '-']);
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.trim_end_matches(|c: char| !c.is_ascii_digit()).parse().ok()?;
    Some((major, minor))
}

/// Compiles `profile` for a box in `context`. Errors start with "seccomp profile:" and say
/// what in the profile cannot be honoured.
pub fn compile(profile: &serde_json::Value, context: &Context) -> Result<Vec<Insn>, String> {
    let profile: Profile =
        serde_json::from_value(profile.clone()).map_err(|e| format!("seccomp profile: {e}"))?;
    check_unsupported(&profile)?;
    let default = action(&profile.default_action, profile.default_errno_ret)
        .map_err(|e| format!("seccomp profile: defaultAction: {e}"))?;

    // Per syscall number, the rules that name it, in the profile's order.
    let mut by_number: Vec<(u32, Vec<&Rule>)> = Vec::new();
    for (at, rule) in profile.syscalls.iter().enumerate() {
        let what = || format!("seccomp profile: syscalls[{at}]");
        action(&rule.action, rule.errno_ret).map_err(|e| format!("{}: {e}", what()))?;
        check_args(&rule.args).map_err(|e| format!("{}: {e}", what()))?;
        if rule.names.is_empty() && rule.name.is_none() {
            return Err(format!("{}: names no syscall", what()));
        }
        if !applies(rule, context).map_err(|e| format!("{}: {e}", what()))? {
            continue;
        }
        for name in rule.names.iter().chain(&rule.name) {
            let Some(nr) = number(name) else { continue };
            match by_number.iter_mut().find(|(known, _)| *known == nr) {
                Some((_, rules)) => rules.push(rule),
                None => by_number.push((nr, vec![rule])),
            }
        }
    }
    by_number.sort_by_key(|(nr, _)| *nr);

    let mut program = Program::default();
    // The verdicts for other ABIs come first: conditional jumps only reach 255 ahead.
    let native = program.label();
    let not_x32 = program.label();
    program.load(OFFSET_ARCH);
    program.jump(JEQ_K, AUDIT_ARCH_X86_64, To::Label(native), To::Next);
    program.ret(RET_KILL_PROCESS);
    program.place(native);
    program.load(OFFSET_NR);
    program.jump(JSET_K, X32_SYSCALL_BIT, To::Next, To::Label(not_x32));
    program.ret(RET_ERRNO | EPERM);
    program.place(not_x32);
    let handlers: Vec<Label> = by_number.iter().map(|_| program.label()).collect();
    for ((nr, _), handler) in by_number.iter().zip(&handlers) {
        // A conditional jump reaches 255 instructions; `ja` reaches any handler.
        let other = program.label();
        program.jump(JEQ_K, *nr, To::Next, To::Label(other));
        program.goto(*handler);
        program.place(other);
    }
    program.ret(default);
    for ((_, rules), handler) in by_number.iter().zip(handlers) {
        program.place(handler);
        for rule in rules {
            let next_rule = program.label();
            for arg in &rule.args {
                emit_check(&mut program, arg, next_rule)?;
            }
            program.ret(action(&rule.action, rule.errno_ret)?);
            program.place(next_rule);
        }
        program.ret(default);
    }
    let insns = program.assemble()?;
    if insns.len() > MAX_INSNS {
        return Err(format!(
            "seccomp profile: compiles to {} BPF instructions, more than the kernel's {MAX_INSNS}",
            insns.len()
        ));
    }
    Ok(insns)
}

fn check_unsupported(profile: &Profile) -> Result<(), String> {
    if !profile.flags.is_empty() {
        return Err(format!(
            "seccomp profile: flags {:?} are not supported (the filter is installed without flags)",
            profile.flags
        ));
    }
    if profile.listener_path.is_some() || profile.listener_metadata.is_some() {
        return Err("seccomp profile: listenerPath / listenerMetadata are not supported (boxes \
                    have no seccomp notify listener)"
            .to_string());
    }
    let arches = profile.architectures.iter().chain(
        profile
            .arch_map
            .iter()
            .flat_map(|m| std::iter::once(&m.architecture).chain(&m.sub_architectures)),
    );
    for arch in arches {
        if !arch.starts_with("SCMP_ARCH_") {
            return Err(format!("seccomp profile: unknown architecture {arch:?}"));
        }
    }
    Ok(())
}

/// The filter's return value for an action.
fn action(name: &str, errno_ret: Option<u32>) -> Result<u32, String> {
    let errno = || match errno_ret.unwrap_or(EPERM) {
        errno if errno <= MAX_ERRNO => Ok(errno),
        errno => Err(format!("errnoRet {errno} is above {MAX_ERRNO}")),
    };
    Ok(match name {
        "SCMP_ACT_KILL" | "SCMP_ACT_KILL_THREAD" => RET_KILL_THREAD,
        "SCMP_ACT_KILL_PROCESS" => RET_KILL_PROCESS,
        "SCMP_ACT_TRAP" => RET_TRAP,
        "SCMP_ACT_ERRNO" => RET_ERRNO | errno()?,
        // With no tracer attached the call fails with ENOSYS; the value goes to a tracer.
        "SCMP_ACT_TRACE" => RET_TRACE | errno()?,
        "SCMP_ACT_LOG" => RET_LOG,
        "SCMP_ACT_ALLOW" => RET_ALLOW,
        "SCMP_ACT_NOTIFY" => {
            return Err("SCMP_ACT_NOTIFY is not supported (boxes have no notify listener)".into())
        }
        other => return Err(format!("unknown action {other:?}")),
    })
}

fn check_args(args: &[Arg]) -> Result<(), String> {
    for arg in args {
        if arg.index > 5 {
            return Err(format!("argument index {} (a syscall has 6: 0-5)", arg.index));
        }
        if !OPS.contains(&arg.op.as_str()) {
            return Err(format!("unknown comparison {:?}", arg.op));
        }
    }
    Ok(())
}

const OPS: [&str; 7] = [
    "SCMP_CMP_NE",
    "SCMP_CMP_LT",
    "SCMP_CMP_LE",
    "SCMP_CMP_EQ",
    "SCMP_CMP_GE",
    "SCMP_CMP_GT",
    "SCMP_CMP_MASKED_EQ",
];

/// Whether Docker's `includes` all hold and none of its `excludes` does.
fn applies(rule: &Rule, context: &Context) -> Result<bool, String> {
    let holds = |condition: &Condition, all: bool| -> Result<Option<bool>, String> {
        let mut facts = Vec::new();
        for cap in &condition.caps {
            let n = crate::capabilities::number(cap)
                .ok_or_else(|| format!("unknown capability {cap:?}"))?;
            facts.push(context.capabilities & (1 << n) != 0);
        }
        if !condition.arches.is_empty() {
            facts.push(condition.arches.iter().any(|a| a == "amd64" || a == "x86_64"));
        }
        if let Some(min) = &condition.min_kernel {
            let min = kernel_version(min).ok_or_else(|| format!("bad minKernel {min:?}"))?;
            facts.push(context.kernel >= min);
        }
        if facts.is_empty() {
            return Ok(None);
        }
        Ok(Some(if all { facts.iter().all(|f| *f) } else { facts.iter().any(|f| *f) }))
    };
    Ok(holds(&rule.includes, true)?.unwrap_or(true)
        && !holds(&rule.excludes, false)?.unwrap_or(false))
}

/// One argument check, 64 bits wide as two 32-bit words; falls through when it holds and jumps
/// to `fail` when it does not.
fn emit_check(program: &mut Program, arg: &Arg, fail: Label) -> Result<(), String> {
    let lo_at = OFFSET_ARGS + 8 * arg.index;
    let hi_at = lo_at + 4;
    let (hi, lo) = ((arg.value >> 32) as u32, arg.value as u32);
    let pass = program.label();
    let (fail, pass_to) = (To::Label(fail), To::Label(pass));
    match arg.op.as_str() {
        "SCMP_CMP_EQ" => {
            program.load(hi_at);
            program.jump(JEQ_K, hi, To::Next, fail);
            program.load(lo_at);
            program.jump(JEQ_K, lo, To::Next, fail);
        }
        "SCMP_CMP_NE" => {
            program.load(hi_at);
            program.jump(JEQ_K, hi, To::Next, pass_to);
            program.load(lo_at);
            program.jump(JEQ_K, lo, fail, To::Next);
        }
        "SCMP_CMP_MASKED_EQ" => {
            let (want_hi, want_lo) = ((arg.value_two >> 32) as u32, arg.value_two as u32);
            program.load(hi_at);
            program.and(hi);
            program.jump(JEQ_K, want_hi, To::Next, fail);
            program.load(lo_at);
            program.and(lo);
            program.jump(JEQ_K, want_lo, To::Next, fail);
        }
        // a > v, a >= v: decided by the high word unless it is equal.
        op @ ("SCMP_CMP_GT" | "SCMP_CMP_GE") => {
            program.load(hi_at);
            program.jump(JGT_K, hi, pass_to, To::Next);
            program.jump(JEQ_K, hi, To::Next, fail);
            program.load(lo_at);
            let code = if op == "SCMP_CMP_GT" { JGT_K } else { JGE_K };
            program.jump(code, lo, To::Next, fail);
        }
        // a < v is !(a >= v), a <= v is !(a > v).
        op @ ("SCMP_CMP_LT" | "SCMP_CMP_LE") => {
            program.load(hi_at);
            program.jump(JGT_K, hi, fail, To::Next);
            program.jump(JEQ_K, hi, To::Next, pass_to);
            program.load(lo_at);
            let code = if op == "SCMP_CMP_LT" { JGE_K } else { JGT_K };
            program.jump(code, lo, fail, To::Next);
        }
        other => return Err(format!("unknown comparison {other:?}")),
    }
    program.place(pass);
    Ok(())
}

#[cfg(test)]
mod tests;
