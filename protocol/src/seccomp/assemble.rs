//! Classic BPF with labels: conditional jumps (8-bit forward offsets) and `ja` (32-bit), laid
//! out into the instructions `PR_SET_SECCOMP` takes.

use super::Insn;

pub(super) const LD_ABS: u16 = 0x20; // BPF_LD | BPF_W | BPF_ABS
pub(super) const AND_K: u16 = 0x54; // BPF_ALU | BPF_AND | BPF_K
pub(super) const JA: u16 = 0x05; // BPF_JMP | BPF_JA
pub(super) const JEQ_K: u16 = 0x15; // BPF_JMP | BPF_JEQ | BPF_K
pub(super) const JGT_K: u16 = 0x25; // BPF_JMP | BPF_JGT | BPF_K
pub(super) const JGE_K: u16 = 0x35; // BPF_JMP | BPF_JGE | BPF_K
pub(super) const JSET_K: u16 = 0x45; // BPF_JMP | BPF_JSET | BPF_K
pub(super) const RET_K: u16 = 0x06; // BPF_RET | BPF_K

/// A place in the program, known once it is laid out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Label(usize);

/// Where a conditional jump goes.
#[derive(Clone, Copy, Debug)]
pub(super) enum To {
    Next,
    Label(Label),
}

#[derive(Debug)]
enum Op {
    Plain(Insn),
    Cond { code: u16, k: u32, jt: To, jf: To },
    Always(Label),
    Here(Label),
}

#[derive(Debug, Default)]
pub(super) struct Program {
    ops: Vec<Op>,
    labels: usize,
}

impl Program {
    pub fn label(&mut self) -> Label {
        self.labels += 1;
        Label(self.labels - 1)
    }

    pub fn place(&mut self, label: Label) {
        self.ops.push(Op::Here(label));
    }

    pub fn load(&mut self, offset: u32) {
        self.ops.push(Op::Plain(Insn { code: LD_ABS, jt: 0, jf: 0, k: offset }));
    }

    pub fn and(&mut self, mask: u32) {
        self.ops.push(Op::Plain(Insn { code: AND_K, jt: 0, jf: 0, k: mask }));
    }

    pub fn ret(&mut self, value: u32) {
        self.ops.push(Op::Plain(Insn { code: RET_K, jt: 0, jf: 0, k: value }));
    }

    pub fn jump(&mut self, code: u16, k: u32, jt: To, jf: To) {
        self.ops.push(Op::Cond { code, k, jt, jf });
    }

    pub fn goto(&mut self, label: Label) {
        self.ops.push(Op::Always(label));
    }

    /// The instructions, or why they cannot be laid out (a conditional jump too far: callers
    /// keep those within one rule, so this is a bug, reported rather than miscompiled).
    pub fn assemble(self) -> Result<Vec<Insn>, String> {
        let mut at = vec![usize::MAX; self.labels];
        let mut count = 0;
        for op in &self.ops {
            match op {
                Op::Here(Label(n)) => at[*n] = count,
                _ => count += 1,
            }
        }
        let mut out = Vec::with_capacity(count);
        for op in self.ops {
            let here = out.len();
            let distance = |label: Label| -> Result<usize, String> {
                let to = at[label.0];
                if to == usize::MAX || to <= here {
                    return Err(format!(
                        "seccomp: jump from {here} to an unplaced or earlier label"
                    ));
                }
                Ok(to - here - 1)
            };
            let short = |to: To| -> Result<u8, String> {
                match to {
                    To::Next => Ok(0),
                    To::Label(label) => u8::try_from(distance(label)?)
                        .map_err(|_| format!("seccomp: conditional jump at {here} too far")),
                }
            };
            let insn = match op {
                Op::Here(_) => continue,
                Op::Plain(insn) => insn,
                Op::Cond { code, k, jt, jf } => Insn { code, jt: short(jt)?, jf: short(jf)?, k },
                Op::Always(label) => Insn {
                    code: JA,
                    jt: 0,
                    jf: 0,
                    k: u32::try_from(distance(label)?).map_err(|e| e.to_string())?,
                },
            };
            out.push(insn);
        }
        Ok(out)
    }
}
