//! The compiled profile as one classic-BPF program (see the module doc of
//! `seccomp` for the policy). Layout:
//!
//! ```text
//!   ld arch; jeq NATIVE → native; [jeq I386 → i386]; ret KILL_PROCESS
//! native:
//!   ld nr
//!   [x86_64] jge X32_BIT → x32 (and X32_BIT off, ja tree) or KILL_PROCESS
//!   [jgt LAST → enosys]
//! tree (over the runs of numbers that share a verdict):
//!   jge START → right; <left subtree>; right: <right subtree>
//!   leaf: ret VERDICT, or one call's rules: <compare args; ret ACTION>...; ret DEFAULT
//! [i386: ld nr; [jgt LAST → enosys]; <tree with 32-bit comparisons>]
//! [enosys: ret ERRNO(ENOSYS)]
//! ```
//!
//! Jumps are written against labels and resolved by a small assembler that
//! widens a conditional jump with `ja` trampolines when its target is beyond
//! the 255 instructions a conditional jump can skip.

use seccompiler::{sock_filter, BpfProgram, SeccompCmpArgLen, SeccompCondition, SeccompRule};

use super::syscalls;
use super::Cond;

const LD_ABS: u16 = (libc::BPF_LD | libc::BPF_W | libc::BPF_ABS) as u16;
const AND_K: u16 = (libc::BPF_ALU | libc::BPF_AND | libc::BPF_K) as u16;
const JA: u16 = (libc::BPF_JMP | libc::BPF_JA) as u16;
const JEQ: u16 = (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16;
const JGT: u16 = (libc::BPF_JMP | libc::BPF_JGT | libc::BPF_K) as u16;
const JGE: u16 = (libc::BPF_JMP | libc::BPF_JGE | libc::BPF_K) as u16;
pub(super) const RET: u16 = (libc::BPF_RET | libc::BPF_K) as u16;

/// Offsets in `struct seccomp_data`.
const DATA_NR: u32 = 0;
const DATA_ARCH: u32 = 4;

/// `AUDIT_ARCH_*` (linux/audit.h): EM_* | 64-bit | little-endian.
pub(super) const AUDIT_ARCH_X86_64: u32 = 0xC000_003E;
pub(super) const AUDIT_ARCH_I386: u32 = 0x4000_0003;
#[cfg(target_arch = "x86_64")]
const NATIVE_ARCH: Option<u32> = Some(AUDIT_ARCH_X86_64);
#[cfg(target_arch = "aarch64")]
const NATIVE_ARCH: Option<u32> = Some(0xC000_00B7); // AUDIT_ARCH_AARCH64
#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
const NATIVE_ARCH: Option<u32> = None;

/// x32 calls come through the x86_64 entry with this bit set in the number.
pub(super) const X32_BIT: u32 = 0x4000_0000;

/// The verdict for calls from an ABI the profile does not filter.
const BAD_ARCH: u32 = libc::SECCOMP_RET_KILL_PROCESS;

/// One rule for one system call: `conds` ANDed (none: always matches).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Rule {
    conds: Vec<Cond>,
    ret: u32,
}

/// Kernel precedence of a return value: lower is more restrictive
/// (KILL_PROCESS, the only negative one, first).
fn precedence(ret: u32) -> i32 {
    (ret & libc::SECCOMP_RET_ACTION_FULL) as i32
}

/// One rule for one call number.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    nr: u32,
    rule: Rule,
}

#[derive(Default)]
struct Section {
    /// In profile order until `finish`; then sorted by number and, within a
    /// number, most restrictive first.
    entries: Vec<Entry>,
    /// Highest number the profile names for this ABI (the ENOSYS stub).
    last: Option<u32>,
}

impl Section {
    fn add(&mut self, nr: u32, alternatives: &[Vec<Cond>], ret: u32) {
        for conds in alternatives {
            let rule = Rule {
                conds: conds.clone(),
                ret,
            };
            self.entries.push(Entry { nr, rule });
        }
    }

    fn name(&mut self, nr: u32) {
        self.last = self.last.max(Some(nr));
    }

    /// Orders each call's rules so the first match is the most restrictive
    /// match, and drops rules that cannot change the verdict: repeats, rules
    /// after an unconditional one, and trailing rules that give the default.
    fn finish(&mut self, default: u32) {
        // Stable: between rules of one action the profile order is kept.
        self.entries.sort_by_key(|e| (e.nr, precedence(e.rule.ret)));
        let mut kept: Vec<Entry> = Vec::with_capacity(self.entries.len());
        for call in self.entries.chunk_by(|a, b| a.nr == b.nr) {
            let start = kept.len();
            for entry in call {
                if !kept[start..].contains(entry) {
                    kept.push(entry.clone());
                }
                if entry.rule.conds.is_empty() {
                    break;
                }
            }
            while kept.len() > start && kept.last().is_some_and(|e| e.rule.ret == default) {
                kept.pop();
            }
        }
        self.entries = kept;
    }
}

/// What a run of syscall numbers gets.
#[derive(Clone, Copy)]
enum Verdict<'a> {
    Ret(u32),
    /// The entries of one call, in evaluation order.
    Rules(&'a [Entry]),
}

/// Numbers from `start` up to the next interval's start.
struct Interval<'a> {
    start: u32,
    verdict: Verdict<'a>,
}

impl Section {
    /// The number line cut where the verdict changes: runs of calls with the
    /// same unconditional verdict (and the unnamed numbers between them that
    /// get the default) are one interval; a call with argument rules is an
    /// interval of its own.
    fn intervals(&self, default: u32) -> Vec<Interval<'_>> {
        fn push<'a>(out: &mut Vec<Interval<'a>>, start: u32, verdict: Verdict<'a>) {
            let same = match (out.last().map(|i| i.verdict), verdict) {
                (Some(Verdict::Ret(a)), Verdict::Ret(b)) => a == b,
                _ => false,
            };
            if !same {
                out.push(Interval { start, verdict });
            }
        }
        let mut out = Vec::new();
        let mut next = 0u32;
        for call in self.entries.chunk_by(|a, b| a.nr == b.nr) {
            let nr = call[0].nr;
            if nr > next {
                push(&mut out, next, Verdict::Ret(default));
            }
            match call {
                [only] if only.rule.conds.is_empty() => {
                    push(&mut out, nr, Verdict::Ret(only.rule.ret))
                }
                call => push(&mut out, nr, Verdict::Rules(call)),
            }
            next = nr + 1;
        }
        push(&mut out, next, Verdict::Ret(default));
        out
    }
}

/// Everything `generate` needs: the default verdict and one section per ABI.
pub(super) struct Plan {
    default: u32,
    native: Section,
    /// x32 shares the native rules; this is its own ENOSYS bound (`Some`
    /// when the profile lists SCMP_ARCH_X32).
    x32: Option<Section>,
    i386: Option<Section>,
}

impl Plan {
    pub(super) fn new(default: u32, x86: bool, x32: bool) -> Plan {
        Plan {
            default,
            native: Section::default(),
            x32: x32.then(Section::default),
            i386: x86.then(Section::default),
        }
    }

    /// Adds the rules for `name` in every ABI that knows the name.
    pub(super) fn add(&mut self, name: &str, alternatives: &[Vec<Cond>], ret: u32) {
        if let Some(nr) = syscalls::native(name) {
            self.native.add(nr, alternatives, ret);
            self.native.name(nr);
            if let Some(x32) = &mut self.x32 {
                x32.name(nr);
            }
        }
        if let Some(x32) = &mut self.x32 {
            if let Some(nr) = syscalls::x32_specific(name) {
                // Into the shared tree; a native caller using these numbers
                // gets ENOSYS from the kernel whatever the verdict.
                self.native.add(nr, alternatives, ret);
                x32.name(nr);
            }
        }
        if let Some(i386) = &mut self.i386 {
            if let Some(nr) = syscalls::i386(name) {
                i386.add(nr, alternatives, ret);
                i386.name(nr);
            }
        }
    }

    pub(super) fn finish(&mut self) {
        self.native.finish(self.default);
        if let Some(i386) = &mut self.i386 {
            i386.finish(self.default);
        }
    }

    /// The ENOSYS bound of a section, when the default action denies.
    fn enosys_bound(&self, section: &Section) -> Option<u32> {
        let permissive = [
            libc::SECCOMP_RET_ALLOW,
            libc::SECCOMP_RET_LOG,
            libc::SECCOMP_RET_TRACE,
        ];
        let action = self.default & libc::SECCOMP_RET_ACTION_FULL;
        if permissive.contains(&action) {
            None
        } else {
            section.last
        }
    }

    pub(super) fn generate(&self) -> Result<Vec<sock_filter>, String> {
        let native_arch = NATIVE_ARCH
            .ok_or("seccomp is not supported on this architecture (only x86_64 and aarch64)")?;
        let mut asm = Asm::default();
        let enosys = asm.label();
        let mut uses_enosys = false;

        let native = asm.label();
        let i386 = asm.label();
        asm.ld(DATA_ARCH);
        let after = asm.label();
        asm.jump(JEQ, native_arch, native, after);
        asm.mark(after);
        if self.i386.is_some() {
            let after = asm.label();
            asm.jump(JEQ, AUDIT_ARCH_I386, i386, after);
            asm.mark(after);
        }
        asm.ret(BAD_ARCH);

        asm.mark(native);
        asm.ld(DATA_NR);
        let tree = asm.label();
        if native_arch == AUDIT_ARCH_X86_64 {
            let (x32, x64) = (asm.label(), asm.label());
            asm.jump(JGE, X32_BIT, x32, x64);
            asm.mark(x32);
            match &self.x32 {
                Some(section) => {
                    asm.insn(AND_K, !X32_BIT);
                    if let Some(last) = self.enosys_bound(section) {
                        asm.jump(JGT, last, enosys, tree);
                        uses_enosys = true;
                    } else {
                        asm.ja(tree);
                    }
                }
                None => asm.ret(BAD_ARCH),
            }
            asm.mark(x64);
        }
        if let Some(last) = self.enosys_bound(&self.native) {
            asm.jump(JGT, last, enosys, tree);
            uses_enosys = true;
        }
        asm.mark(tree);
        let intervals = self.native.intervals(self.default);
        self.tree(&mut asm, &intervals, SeccompCmpArgLen::Qword)?;

        if let Some(section) = &self.i386 {
            asm.mark(i386);
            asm.ld(DATA_NR);
            if let Some(last) = self.enosys_bound(section) {
                let tree = asm.label();
                asm.jump(JGT, last, enosys, tree);
                asm.mark(tree);
                uses_enosys = true;
            }
            let intervals = section.intervals(self.default);
            self.tree(&mut asm, &intervals, SeccompCmpArgLen::Dword)?;
        }
        if uses_enosys {
            asm.mark(enosys);
            asm.ret(libc::SECCOMP_RET_ERRNO | libc::ENOSYS as u32);
        }
        asm.assemble()
    }

    /// A binary search on the syscall number (in A) over the intervals of
    /// numbers that share a verdict: `jge` at each split, a `ret` (or the
    /// rules of one call) at each leaf.
    fn tree(
        &self,
        asm: &mut Asm,
        intervals: &[Interval<'_>],
        width: SeccompCmpArgLen,
    ) -> Result<(), String> {
        match intervals {
            [] => {
                asm.ret(self.default);
                Ok(())
            }
            [leaf] => match leaf.verdict {
                Verdict::Ret(ret) => {
                    asm.ret(ret);
                    Ok(())
                }
                Verdict::Rules(rules) => self.rules(asm, rules, width),
            },
            _ => {
                let mid = intervals.len() / 2;
                let (left, right) = (asm.label(), asm.label());
                asm.jump(JGE, intervals[mid].start, right, left);
                asm.mark(left);
                self.tree(asm, &intervals[..mid], width.clone())?;
                asm.mark(right);
                self.tree(asm, &intervals[mid..], width)
            }
        }
    }

    /// The rules of one call in order; each falls through to the next when
    /// its comparisons fail, the last one to the default verdict.
    fn rules(&self, asm: &mut Asm, call: &[Entry], width: SeccompCmpArgLen) -> Result<(), String> {
        for Entry { rule, .. } in call {
            if rule.conds.is_empty() {
                asm.ret(rule.ret);
                return Ok(());
            }
            let conds = rule
                .conds
                .iter()
                .map(|c| {
                    let value = match width {
                        SeccompCmpArgLen::Dword => u64::from(c.value as u32),
                        SeccompCmpArgLen::Qword => c.value,
                    };
                    SeccompCondition::new(c.index, width.clone(), c.op.clone(), value)
                })
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| e.to_string())?;
            let rule_bpf = SeccompRule::new(conds).map_err(|e| e.to_string())?;
            // seccompiler's rule block jumps past the instruction that
            // follows it when a comparison fails: that instruction is our
            // `ret`, so the block and its `ret` are emitted as one piece.
            let mut block: BpfProgram = rule_bpf.into();
            // The block opens with `ja 1; ja <past the chain>`: the second is
            // dead code whose target lies beyond our layout (the kernel
            // rejects out-of-range jumps even when unreachable). No jump
            // lands on either, so both go.
            if block.len() < 2 || block[0] != stmt(JA, 1) || block[1].code != JA {
                return Err("internal error: unexpected seccompiler rule layout".into());
            }
            block.drain(..2);
            block.push(stmt(RET, rule.ret));
            asm.raw(block);
        }
        asm.ret(self.default);
        Ok(())
    }
}

fn stmt(code: u16, k: u32) -> sock_filter {
    sock_filter {
        code,
        jt: 0,
        jf: 0,
        k,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Label(usize);

enum Item {
    /// An instruction that does not jump.
    Insn(sock_filter),
    /// Instructions whose jumps stay inside the block (or land right after it).
    Raw(Vec<sock_filter>),
    /// A conditional jump: to `t` if true, else to `f`.
    Jump {
        code: u16,
        k: u32,
        t: Label,
        f: Label,
    },
    Ja(Label),
    Mark(Label),
}

/// A forward-only BPF assembler with labels.
#[derive(Default)]
struct Asm {
    items: Vec<Item>,
    labels: usize,
}

impl Asm {
    fn label(&mut self) -> Label {
        self.labels += 1;
        Label(self.labels - 1)
    }

    fn mark(&mut self, label: Label) {
        self.items.push(Item::Mark(label));
    }

    fn insn(&mut self, code: u16, k: u32) {
        self.items.push(Item::Insn(stmt(code, k)));
    }

    fn ld(&mut self, offset: u32) {
        self.insn(LD_ABS, offset);
    }

    fn ret(&mut self, k: u32) {
        self.insn(RET, k);
    }

    fn jump(&mut self, code: u16, k: u32, t: Label, f: Label) {
        self.items.push(Item::Jump { code, k, t, f });
    }

    fn ja(&mut self, label: Label) {
        self.items.push(Item::Ja(label));
    }

    fn raw(&mut self, block: Vec<sock_filter>) {
        self.items.push(Item::Raw(block));
    }

    /// Lays the program out: every conditional jump starts as one
    /// instruction and grows (with one or two `ja` after it) while a target
    /// is out of reach; sizes only grow, so this converges.
    fn assemble(self) -> Result<Vec<sock_filter>, String> {
        let mut sizes: Vec<usize> = self
            .items
            .iter()
            .map(|item| match item {
                Item::Mark(_) => 0,
                Item::Raw(block) => block.len(),
                _ => 1,
            })
            .collect();
        let mut at = vec![0usize; self.labels];
        loop {
            let mut pc = 0;
            for (item, size) in self.items.iter().zip(&sizes) {
                if let Item::Mark(label) = item {
                    at[label.0] = pc;
                }
                pc += size;
            }
            if pc > libc::BPF_MAXINSNS as usize {
                return Err(format!(
                    "the profile compiles to {pc} BPF instructions; the kernel accepts at most {}",
                    libc::BPF_MAXINSNS
                ));
            }
            // Measured on this pass's layout; the next pass lays out again.
            let mut grew = false;
            let mut pc = 0;
            for (item, size) in self.items.iter().zip(sizes.iter_mut()) {
                let laid_out = *size;
                if let Item::Jump { t, f, .. } = item {
                    let (t, f) = (offset(at[t.0], pc)?, offset(at[f.0], pc)?);
                    let needed = match (t <= 255, f <= 255) {
                        (true, true) => 1,
                        (true, false) | (false, true) => 2,
                        (false, false) => 3,
                    };
                    if needed > *size {
                        *size = needed;
                        grew = true;
                    }
                }
                pc += laid_out;
            }
            if !grew {
                break;
            }
        }

        let mut out = Vec::with_capacity(sizes.iter().sum());
        for (item, size) in self.items.into_iter().zip(sizes) {
            let pc = out.len();
            match item {
                Item::Mark(_) => {}
                Item::Insn(insn) => out.push(insn),
                Item::Raw(block) => out.extend(block),
                Item::Ja(label) => out.push(stmt(JA, offset(at[label.0], pc)? as u32)),
                Item::Jump { code, k, t, f } => {
                    let (t, f) = (offset(at[t.0], pc)?, offset(at[f.0], pc)?);
                    // Offsets count from the instruction after the jump; the
                    // trampolines sit between the jump and its targets.
                    let jump = |jt: usize, jf: usize| sock_filter {
                        code,
                        jt: jt as u8,
                        jf: jf as u8,
                        k,
                    };
                    match size {
                        1 => out.push(jump(t, f)),
                        2 if t <= 255 => {
                            out.push(jump(t, 0));
                            out.push(stmt(JA, (f - 1) as u32));
                        }
                        2 => {
                            out.push(jump(0, f));
                            out.push(stmt(JA, (t - 1) as u32));
                        }
                        _ => {
                            out.push(jump(0, 1));
                            out.push(stmt(JA, (t - 1) as u32));
                            out.push(stmt(JA, (f - 2) as u32));
                        }
                    }
                }
            }
        }
        Ok(out)
    }
}

/// Distance from the instruction after `pc` to `target` (jumps go forward only).
fn offset(target: usize, pc: usize) -> Result<usize, String> {
    target.checked_sub(pc + 1).ok_or_else(|| {
        format!("internal error: backward jump in the seccomp program ({pc} to {target})")
    })
}
