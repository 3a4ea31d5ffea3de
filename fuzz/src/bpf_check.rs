//! The kernel's checks on a seccomp filter (net/core/filter.c
//! `bpf_check_classic`, kernel/seccomp.c `seccomp_check_filter`), so that a
//! program `compile` returns but the kernel would refuse is a finding: it
//! would fail `create` late, inside the init, with a bare EINVAL. And a small
//! interpreter that runs the program on sample calls: every path must end
//! in a `ret` with a known action, reading only `struct seccomp_data`.

use seccompiler::sock_filter;

const BPF_MAXINSNS: usize = 4096;
const BPF_MEMWORDS: u32 = 16;
/// sizeof(struct seccomp_data)
const SECCOMP_DATA_SIZE: u32 = 64;

// Classic BPF opcodes (linux/filter.h, linux/bpf_common.h).
const LD: u16 = 0x00;
const LDX: u16 = 0x01;
const ST: u16 = 0x02;
const STX: u16 = 0x03;
const ALU: u16 = 0x04;
const JMP: u16 = 0x05;
const RET: u16 = 0x06;
const MISC: u16 = 0x07;
const W: u16 = 0x00;
const IMM: u16 = 0x00;
const ABS: u16 = 0x20;
const MEM: u16 = 0x60;
const LEN: u16 = 0x80;
const K: u16 = 0x00;
const X: u16 = 0x08;
const A: u16 = 0x10;

fn class(code: u16) -> u16 {
    code & 0x07
}

/// Why the kernel would refuse `program`, if it would.
pub fn check(program: &[sock_filter]) -> Result<(), String> {
    let len = program.len();
    if len == 0 || len > BPF_MAXINSNS {
        return Err(format!(
            "{len} instructions (the kernel takes 1 to {BPF_MAXINSNS})"
        ));
    }
    for (pc, insn) in program.iter().enumerate() {
        let at = |what: String| Err(format!("instruction {pc} {insn:?}: {what}"));
        let code = insn.code;
        let valid = match class(code) {
            // seccomp allows only 32-bit absolute loads of seccomp_data,
            // immediates, the scratch memory and the length.
            LD => match code {
                c if c == LD | W | ABS => {
                    if insn.k >= SECCOMP_DATA_SIZE || insn.k & 3 != 0 {
                        return at(format!("load of seccomp_data offset {}", insn.k));
                    }
                    true
                }
                c if c == LD | W | LEN || c == LD | IMM => true,
                c if c == LD | MEM => insn.k < BPF_MEMWORDS,
                _ => false,
            },
            LDX => match code {
                c if c == LDX | W | LEN || c == LDX | IMM => true,
                c if c == LDX | MEM => insn.k < BPF_MEMWORDS,
                _ => false,
            },
            ST | STX => code & !0x07 == 0 && insn.k < BPF_MEMWORDS,
            ALU => {
                let op = code & 0xf0;
                let src = code & 0x08;
                // add sub mul div or and lsh rsh neg mod xor
                let known = matches!(
                    op,
                    0x00 | 0x10 | 0x20 | 0x30 | 0x40 | 0x50 | 0x60 | 0x70 | 0x80 | 0x90 | 0xa0
                );
                if known && src == K && matches!(op, 0x30 | 0x90) && insn.k == 0 {
                    return at("division by constant zero".into());
                }
                if known && src == K && matches!(op, 0x60 | 0x70) && insn.k >= 32 {
                    return at("shift by 32 or more".into());
                }
                known && code & 0x07 == ALU && code & !0xff == 0
            }
            JMP => {
                let op = code & 0xf0;
                match op {
                    0x00 => {
                        // ja: k counts from the next instruction.
                        if insn.k as usize >= len - pc - 1 {
                            return at(format!("ja {} leaves the program", insn.k));
                        }
                        code == JMP
                    }
                    0x10 | 0x20 | 0x30 | 0x40 => {
                        if pc + usize::from(insn.jt) + 1 >= len
                            || pc + usize::from(insn.jf) + 1 >= len
                        {
                            return at("conditional jump leaves the program".into());
                        }
                        code & !0xf8 == JMP
                    }
                    _ => false,
                }
            }
            RET => code == RET | K || code == RET | A,
            MISC => code == MISC || code == MISC | 0x80, // tax, txa
            _ => false,
        };
        if !valid {
            return at(format!(
                "opcode {code:#x} is not allowed in a seccomp filter"
            ));
        }
    }
    let last = program[len - 1].code;
    if last != RET | K && last != RET | A {
        return Err(format!(
            "last instruction {:?} is not a ret",
            program[len - 1]
        ));
    }
    if program
        .iter()
        .any(|i| i.code == LD | MEM || i.code == LDX | MEM)
    {
        return Err("reads scratch memory (the compiler never uses it)".into());
    }
    Ok(())
}

const AUDIT_ARCH_X86_64: u32 = 0xC000_003E;
const AUDIT_ARCH_I386: u32 = 0x4000_0003;
const AUDIT_ARCH_AARCH64: u32 = 0xC000_00B7;

/// The actions seccomp knows (SECCOMP_RET_ACTION_FULL of a return value).
fn known_action(ret: u32) -> bool {
    matches!(
        ret & 0xffff_0000,
        0x8000_0000 // KILL_PROCESS
            | 0x0000_0000 // KILL_THREAD
            | 0x0003_0000 // TRAP
            | 0x0005_0000 // ERRNO
            | 0x7fc0_0000 // USER_NOTIF
            | 0x7ff0_0000 // TRACE
            | 0x7ffc_0000 // LOG
            | 0x7fff_0000 // ALLOW
    )
}

/// Runs the program on one call; the verdict.
pub fn run(program: &[sock_filter], arch: u32, nr: u32, args: [u64; 6]) -> u32 {
    let load = |offset: u32| -> u32 {
        match offset {
            0 => nr,
            4 => arch,
            8 => 0x1000, // instruction_pointer, low
            12 => 0,
            16..=63 => {
                let arg = args[(offset as usize - 16) / 8];
                if offset.is_multiple_of(8) {
                    arg as u32
                } else {
                    (arg >> 32) as u32
                }
            }
            _ => panic!("load from seccomp_data offset {offset}"),
        }
    };
    let (mut a, mut x, mut pc) = (0u32, 0u32, 0usize);
    loop {
        let insn = program
            .get(pc)
            .unwrap_or_else(|| panic!("ran off the end of the program at {pc}"));
        pc += 1;
        let jump = |taken: bool| usize::from(if taken { insn.jt } else { insn.jf });
        let operand = if insn.code & X != 0 { x } else { insn.k };
        match insn.code {
            0x20 => a = load(insn.k),
            0x00 => a = insn.k,
            0x01 => x = insn.k,
            0x80 | 0x81 => {
                if insn.code == 0x80 {
                    a = SECCOMP_DATA_SIZE
                } else {
                    x = SECCOMP_DATA_SIZE
                }
            }
            0x05 => pc += insn.k as usize,
            c if class(c) == JMP => {
                let taken = match c & 0xf0 {
                    0x10 => a == operand,
                    0x20 => a > operand,
                    0x30 => a >= operand,
                    0x40 => a & operand != 0,
                    _ => panic!("unexpected jump {c:#x}"),
                };
                pc += jump(taken);
            }
            c if class(c) == ALU => {
                a = match c & 0xf0 {
                    0x00 => a.wrapping_add(operand),
                    0x10 => a.wrapping_sub(operand),
                    0x20 => a.wrapping_mul(operand),
                    0x30 => a.checked_div(operand).unwrap_or(0),
                    0x40 => a | operand,
                    0x50 => a & operand,
                    0x60 => a.checked_shl(operand).unwrap_or(0),
                    0x70 => a.checked_shr(operand).unwrap_or(0),
                    0x80 => a.wrapping_neg(),
                    0x90 => a.checked_rem(operand).unwrap_or(0),
                    0xa0 => a ^ operand,
                    _ => panic!("unexpected alu {c:#x}"),
                }
            }
            0x07 => x = a,
            0x87 => a = x,
            0x06 => return insn.k,
            0x16 => return a,
            code => panic!("unexpected BPF opcode {code:#x} at {}", pc - 1),
        }
    }
}

/// Runs `program` on calls from every ABI, at the edges of the number line
/// and of the argument values; every verdict must be a known action.
pub fn run_samples(program: &[sock_filter]) {
    const X32: u32 = 0x4000_0000;
    let nrs = [
        0,
        1,
        2,
        41,
        59,
        101,
        165,
        334,
        435,
        511,
        512,
        547,
        1000,
        X32,
        X32 | 1,
        X32 | 513,
        X32 | 1000,
        u32::MAX,
    ];
    let argsets = [
        [0u64; 6],
        [u64::MAX; 6],
        [1, 0x7fff_ffff, 1 << 32, 0xffff_ffff, 2, 10],
    ];
    for arch in [AUDIT_ARCH_X86_64, AUDIT_ARCH_I386, AUDIT_ARCH_AARCH64, 0] {
        for nr in nrs {
            for args in argsets {
                let verdict = run(program, arch, nr, args);
                assert!(
                    known_action(verdict),
                    "arch {arch:#x} nr {nr:#x}: unknown verdict {verdict:#x}"
                );
                if arch != AUDIT_ARCH_X86_64
                    && arch != AUDIT_ARCH_I386
                    && cfg!(target_arch = "x86_64")
                {
                    assert_eq!(verdict, 0x8000_0000, "foreign arch {arch:#x} not killed");
                }
            }
        }
    }
}
