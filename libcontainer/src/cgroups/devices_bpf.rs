//! cgroup v2 device control: a `BPF_PROG_TYPE_CGROUP_DEVICE` program made
//! from a [`DeviceState`], loaded with bpf(BPF_PROG_LOAD) and attached to
//! the container's cgroup with bpf(BPF_PROG_ATTACH).
//!
//! ## The program
//! The kernel calls it for every open/mknod of a device node by a task of
//! the cgroup, with `struct bpf_cgroup_dev_ctx { u32 access_type; u32 major;
//! u32 minor; }` in r1, where `access_type` is `(access << 16) | type`
//! (type: block 1, char 2; access: mknod 1, read 2, write 4). It returns 1 to
//! allow, 0 to deny. The instructions, each 8 bytes:
//!
//! ```text
//!   r2 = *(u32 *)(r1 + 0); w2 &= 0xffff      device type
//!   r3 = *(u32 *)(r1 + 0); w3 >>= 16         requested access
//!   r4 = *(u32 *)(r1 + 4)                    major
//!   r5 = *(u32 *)(r1 + 8)                    minor
//! then one block per exception, falling through to the next on a mismatch:
//!   if r2 != TYPE goto next
//!   if r4 != MAJOR goto next                 (omitted for a wildcard)
//!   if r5 != MINOR goto next                 (omitted for a wildcard)
//!   allow-exception (deny-default program): every requested bit is granted
//!     if r3 & ~ACCESS goto next              (omitted when ACCESS is rwm)
//!   deny-exception (allow-default program): any requested bit is denied
//!     w1 = w3; w1 &= ACCESS; if r1 == 0 goto next
//!   r0 = VERDICT; exit
//! next: ...
//!   r0 = DEFAULT; exit
//! ```
//! Those two matching rules are the v1 kernel's (`match_exception` and
//! `match_exception_partial` in security/device_cgroup.c), so a container
//! sees the same devices on v1 and v2.
//!
//! ## Replacing a program (`update`)
//! The new program is attached with BPF_F_ALLOW_MULTI next to the old ones,
//! which are then detached: for a moment both apply (a device needs both to
//! allow it), never neither.

use std::ffi::CString;
use std::fs::File;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::path::Path;

use nix::errno::Errno;

use super::devices::{DevType, DeviceState, Node, ACC_ALL};
use crate::error::{Error, IoContext, Result};

/// One eBPF instruction (`struct bpf_insn`): opcode, dst register in the low
/// nibble and src register in the high nibble of the second byte, a 16-bit
/// jump offset and a 32-bit immediate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(C)]
pub struct Insn {
    pub code: u8,
    pub regs: u8,
    pub off: i16,
    pub imm: i32,
}

// Opcode parts (include/uapi/linux/bpf.h and bpf_common.h).
const BPF_LDX: u8 = 0x01;
const BPF_ALU: u8 = 0x04;
const BPF_JMP: u8 = 0x05;
const BPF_ALU64: u8 = 0x07;
const BPF_W: u8 = 0x00;
const BPF_MEM: u8 = 0x60;
const BPF_K: u8 = 0x00;
const BPF_X: u8 = 0x08;
const BPF_AND: u8 = 0x50;
const BPF_RSH: u8 = 0x70;
const BPF_MOV: u8 = 0xb0;
const BPF_JEQ: u8 = 0x10;
const BPF_JNE: u8 = 0x50;
const BPF_JSET: u8 = 0x40;
const BPF_EXIT: u8 = 0x90;

const R0: u8 = 0;
const R1: u8 = 1;
const R2: u8 = 2;
const R3: u8 = 3;
const R4: u8 = 4;
const R5: u8 = 5;

/// `dst = *(u32 *)(src + off)`
fn load_u32(dst: u8, src: u8, off: i16) -> Insn {
    Insn {
        code: BPF_LDX | BPF_MEM | BPF_W,
        regs: dst | (src << 4),
        off,
        imm: 0,
    }
}

/// 32-bit ALU with an immediate (`op` is BPF_AND, BPF_RSH...); clears the
/// upper half of dst.
fn alu32_imm(op: u8, dst: u8, imm: i32) -> Insn {
    Insn {
        code: BPF_ALU | op | BPF_K,
        regs: dst,
        off: 0,
        imm,
    }
}

fn mov32_reg(dst: u8, src: u8) -> Insn {
    Insn {
        code: BPF_ALU | BPF_MOV | BPF_X,
        regs: dst | (src << 4),
        off: 0,
        imm: 0,
    }
}

fn mov64_imm(dst: u8, imm: i32) -> Insn {
    Insn {
        code: BPF_ALU64 | BPF_MOV | BPF_K,
        regs: dst,
        off: 0,
        imm,
    }
}

/// `if dst OP imm goto +off` (64-bit compare; our values are zero-extended
/// u32 below 2^31, so the sign-extended immediate compares equal).
fn jump_imm(op: u8, dst: u8, imm: i32, off: i16) -> Insn {
    Insn {
        code: BPF_JMP | op | BPF_K,
        regs: dst,
        off,
        imm,
    }
}

fn exit() -> Insn {
    Insn {
        code: BPF_JMP | BPF_EXIT,
        regs: 0,
        off: 0,
        imm: 0,
    }
}

const DEV_BLOCK: i32 = 1;
const DEV_CHAR: i32 = 2;

/// The block of one exception: jumps past its own end on a mismatch.
fn exception_block(node: Node, access: u8, is_allow: bool) -> Vec<Insn> {
    // Jumps are emitted with offset 0 and patched once the length is known.
    let mut block = Vec::new();
    let mut jumps = Vec::new();
    let typ = match node.typ {
        DevType::Block => DEV_BLOCK,
        DevType::Char => DEV_CHAR,
    };
    jumps.push(block.len());
    block.push(jump_imm(BPF_JNE, R2, typ, 0));
    if let Some(major) = node.major {
        jumps.push(block.len());
        block.push(jump_imm(BPF_JNE, R4, major as i32, 0));
    }
    if let Some(minor) = node.minor {
        jumps.push(block.len());
        block.push(jump_imm(BPF_JNE, R5, minor as i32, 0));
    }
    let access = i32::from(access);
    if is_allow {
        let missing = !access & i32::from(ACC_ALL);
        if missing != 0 {
            jumps.push(block.len());
            block.push(jump_imm(BPF_JSET, R3, missing, 0));
        }
    } else if access != i32::from(ACC_ALL) {
        block.push(mov32_reg(R1, R3));
        block.push(alu32_imm(BPF_AND, R1, access));
        jumps.push(block.len());
        block.push(jump_imm(BPF_JEQ, R1, 0, 0));
    }
    block.push(mov64_imm(R0, i32::from(is_allow)));
    block.push(exit());
    let end = block.len();
    for at in jumps {
        // Target = at + 1 + off = end.
        block[at].off = (end - at - 1) as i16;
    }
    block
}

/// The whole program for `state` (see the module comment).
pub fn program(state: &DeviceState) -> Vec<Insn> {
    let mut insns = vec![
        load_u32(R2, R1, 0),
        alu32_imm(BPF_AND, R2, 0xffff),
        load_u32(R3, R1, 0),
        alu32_imm(BPF_RSH, R3, 16),
        load_u32(R4, R1, 4),
        load_u32(R5, R1, 8),
    ];
    // Exceptions of a deny-default state are allows, and vice versa.
    let is_allow = !state.default_allow;
    for (node, access) in &state.exceptions {
        insns.extend(exception_block(*node, *access, is_allow));
    }
    insns.push(mov64_imm(R0, i32::from(state.default_allow)));
    insns.push(exit());
    insns
}

// bpf(2) commands, program and attach types, flags.
const BPF_PROG_LOAD: libc::c_int = 5;
const BPF_PROG_ATTACH: libc::c_int = 8;
const BPF_PROG_DETACH: libc::c_int = 9;
const BPF_PROG_GET_FD_BY_ID: libc::c_int = 13;
const BPF_PROG_QUERY: libc::c_int = 16;
const BPF_PROG_TYPE_CGROUP_DEVICE: u32 = 15;
const BPF_CGROUP_DEVICE: u32 = 6;
const BPF_F_ALLOW_MULTI: u32 = 2;

/// The leading fields of `union bpf_attr` for BPF_PROG_LOAD; the kernel
/// reads the rest as zero.
#[repr(C)]
#[derive(Default)]
struct ProgLoadAttr {
    prog_type: u32,
    insn_cnt: u32,
    insns: u64,
    license: u64,
    log_level: u32,
    log_size: u32,
    log_buf: u64,
    kern_version: u32,
    prog_flags: u32,
    prog_name: [u8; 16],
    prog_ifindex: u32,
    expected_attach_type: u32,
}

/// BPF_PROG_ATTACH / BPF_PROG_DETACH.
#[repr(C)]
#[derive(Default)]
struct AttachAttr {
    target_fd: u32,
    attach_bpf_fd: u32,
    attach_type: u32,
    attach_flags: u32,
    replace_bpf_fd: u32,
}

/// BPF_PROG_QUERY.
#[repr(C)]
#[derive(Default)]
struct QueryAttr {
    target_fd: u32,
    attach_type: u32,
    query_flags: u32,
    attach_flags: u32,
    prog_ids: u64,
    prog_cnt: u32,
    _pad: u32,
}

/// BPF_PROG_GET_FD_BY_ID.
#[repr(C)]
#[derive(Default)]
struct GetFdAttr {
    prog_id: u32,
    next_id: u32,
    open_flags: u32,
}

/// bpf(2) with one of the attribute structs above.
fn bpf<T>(cmd: libc::c_int, attr: &mut T) -> nix::Result<libc::c_long> {
    // SAFETY: attr points to a live, initialised #[repr(C)] struct laid out
    // as the leading fields of union bpf_attr for `cmd`, and its exact size
    // is passed; the kernel reads (and for QUERY writes) only within it, and
    // any pointer fields in it refer to buffers the caller keeps alive.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            cmd,
            attr as *mut T,
            std::mem::size_of::<T>() as libc::c_uint,
        )
    };
    Errno::result(ret)
}

/// Takes ownership of an fd the kernel just returned.
fn owned_fd(raw: libc::c_long) -> OwnedFd {
    // SAFETY: `raw` is a new fd from a successful bpf(2) call; nobody else
    // owns it.
    unsafe { OwnedFd::from_raw_fd(raw as RawFd) }
}

fn load(insns: &[Insn], log: Option<&mut Vec<u8>>) -> nix::Result<OwnedFd> {
    let license = c"Apache-2.0";
    let mut attr = ProgLoadAttr {
        prog_type: BPF_PROG_TYPE_CGROUP_DEVICE,
        insn_cnt: insns.len() as u32,
        insns: insns.as_ptr() as u64,
        license: license.as_ptr() as u64,
        ..Default::default()
    };
    attr.prog_name[..12].copy_from_slice(b"berth_device");
    if let Some(buf) = log {
        attr.log_level = 1;
        attr.log_size = buf.len() as u32;
        attr.log_buf = buf.as_mut_ptr() as u64;
    }
    bpf(BPF_PROG_LOAD, &mut attr).map(owned_fd)
}

/// Loads the program; on a verifier refusal, loads it again with a log to
/// say why.
fn load_with_reason(insns: &[Insn]) -> Result<OwnedFd> {
    match load(insns, None) {
        Ok(fd) => Ok(fd),
        Err(errno @ (Errno::EINVAL | Errno::EACCES)) => {
            let mut log = vec![0u8; 64 * 1024];
            let _ = load(insns, Some(&mut log));
            let end = log.iter().position(|&b| b == 0).unwrap_or(log.len());
            let reason = CString::new(&log[..end]).unwrap_or_default();
            Err(Error::field(
                "linux.resources.devices",
                format!(
                    "loading the device eBPF program: {errno}; verifier: {}",
                    reason.to_string_lossy().trim()
                ),
            ))
        }
        Err(errno) => Err(Error::sys(
            "loading the device eBPF program (bpf BPF_PROG_LOAD; needs CAP_BPF or \
             CAP_SYS_ADMIN and CONFIG_CGROUP_BPF)",
            errno,
        )),
    }
}

/// The ids of the device programs attached to the cgroup itself.
fn attached(cgroup: BorrowedFd<'_>) -> nix::Result<Vec<u32>> {
    let mut ids = vec![0u32; 64];
    let mut attr = QueryAttr {
        target_fd: cgroup.as_raw_fd() as u32,
        attach_type: BPF_CGROUP_DEVICE,
        prog_ids: ids.as_mut_ptr() as u64,
        prog_cnt: ids.len() as u32,
        ..Default::default()
    };
    bpf(BPF_PROG_QUERY, &mut attr)?;
    ids.truncate(attr.prog_cnt as usize);
    Ok(ids)
}

fn detach(cgroup: BorrowedFd<'_>, prog_id: u32) -> nix::Result<()> {
    let mut get = GetFdAttr {
        prog_id,
        ..Default::default()
    };
    let prog = owned_fd(bpf(BPF_PROG_GET_FD_BY_ID, &mut get)?);
    let mut attr = AttachAttr {
        target_fd: cgroup.as_raw_fd() as u32,
        attach_bpf_fd: prog.as_raw_fd() as u32,
        attach_type: BPF_CGROUP_DEVICE,
        ..Default::default()
    };
    bpf(BPF_PROG_DETACH, &mut attr).map(drop)
}

/// Makes `state` the device policy of the v2 cgroup `dir`, replacing the
/// program(s) attached there before.
pub fn apply(dir: &Path, state: &DeviceState) -> Result<()> {
    let cgroup: OwnedFd = File::open(dir)
        .io_ctx(|| format!("opening cgroup {}", dir.display()))?
        .into();
    let old = attached(cgroup.as_fd())
        .map_err(|e| Error::sys(format!("listing device programs of {}", dir.display()), e))?;
    let prog = load_with_reason(&program(state))?;
    let mut attr = AttachAttr {
        target_fd: cgroup.as_raw_fd() as u32,
        attach_bpf_fd: prog.as_raw_fd() as u32,
        attach_type: BPF_CGROUP_DEVICE,
        attach_flags: BPF_F_ALLOW_MULTI,
        replace_bpf_fd: 0,
    };
    bpf(BPF_PROG_ATTACH, &mut attr).map_err(|e| {
        Error::sys(
            format!("attaching the device eBPF program to {}", dir.display()),
            e,
        )
    })?;
    for id in old {
        detach(cgroup.as_fd(), id).map_err(|e| {
            Error::sys(
                format!(
                    "detaching the previous device program {id} from {}",
                    dir.display()
                ),
                e,
            )
        })?;
    }
    Ok(())
}

/// How many device programs are attached to `dir` itself.
#[cfg(test)]
pub fn attached_count(dir: &Path) -> Result<usize> {
    let cgroup: OwnedFd = File::open(dir)
        .io_ctx(|| format!("opening cgroup {}", dir.display()))?
        .into();
    attached(cgroup.as_fd())
        .map(|ids| ids.len())
        .map_err(|e| Error::sys(format!("listing device programs of {}", dir.display()), e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cgroups::devices::{ACC_MKNOD, ACC_READ, ACC_WRITE};
    use std::collections::BTreeMap;

    /// Runs the program as the kernel would, for one request: a tiny
    /// interpreter of exactly the instructions `program` emits.
    fn run(insns: &[Insn], typ: u32, access: u32, major: u32, minor: u32) -> u64 {
        let ctx = [(access << 16) | typ, major, minor];
        let mut r = [0u64; 11];
        let mut pc = 0usize;
        loop {
            let i = insns[pc];
            let (dst, src) = ((i.regs & 0xf) as usize, (i.regs >> 4) as usize);
            pc += 1;
            match i.code {
                0x61 => {
                    assert_eq!(src, 1, "loads only from the context");
                    r[dst] = u64::from(ctx[i.off as usize / 4]);
                }
                0x54 => r[dst] = (r[dst] as u32 & i.imm as u32) as u64,
                0x74 => r[dst] = ((r[dst] as u32) >> i.imm) as u64,
                0xbc => r[dst] = r[src] as u32 as u64,
                0xb7 => r[dst] = i.imm as i64 as u64,
                0x55 | 0x15 | 0x45 => {
                    let imm = i.imm as i64 as u64;
                    let taken = match i.code {
                        0x55 => r[dst] != imm,
                        0x15 => r[dst] == imm,
                        _ => r[dst] & imm != 0,
                    };
                    if taken {
                        pc = (pc as i64 + i64::from(i.off)) as usize;
                    }
                }
                0x95 => return r[0],
                op => panic!("unexpected opcode {op:#x}"),
            }
        }
    }

    const CHAR: u32 = 2;
    const BLOCK: u32 = 1;
    const R: u32 = ACC_READ as u32;
    const W: u32 = ACC_WRITE as u32;
    const M: u32 = ACC_MKNOD as u32;

    fn node(typ: DevType, major: Option<u32>, minor: Option<u32>) -> Node {
        Node { typ, major, minor }
    }

    #[test]
    fn cgroups_bpf_prologue_decodes_the_context() {
        let insns = program(&DeviceState::deny_all());
        // r2 = *(u32 *)(r1 + 0): opcode 0x61, dst 2, src 1.
        assert_eq!(
            insns[0],
            Insn {
                code: 0x61,
                regs: 0x12,
                off: 0,
                imm: 0
            }
        );
        assert_eq!(
            insns[3],
            Insn {
                code: 0x74,
                regs: 3,
                off: 0,
                imm: 16
            }
        );
        assert_eq!(
            insns[5],
            Insn {
                code: 0x61,
                regs: 0x15,
                off: 8,
                imm: 0
            }
        );
        // Nothing allowed: r0 = 0; exit.
        assert_eq!(
            insns[6],
            Insn {
                code: 0xb7,
                regs: 0,
                off: 0,
                imm: 0
            }
        );
        assert_eq!(
            insns[7],
            Insn {
                code: 0x95,
                regs: 0,
                off: 0,
                imm: 0
            }
        );
        assert_eq!(insns.len(), 8);
    }

    #[test]
    fn cgroups_bpf_allow_list_matches_subsets_only() {
        let mut exceptions = BTreeMap::new();
        exceptions.insert(node(DevType::Char, Some(1), Some(3)), ACC_ALL);
        exceptions.insert(node(DevType::Char, Some(1), Some(5)), ACC_READ);
        exceptions.insert(node(DevType::Char, Some(136), None), ACC_READ | ACC_WRITE);
        exceptions.insert(node(DevType::Block, None, None), ACC_MKNOD);
        let state = DeviceState {
            default_allow: false,
            exceptions,
        };
        let p = program(&state);
        assert_eq!(run(&p, CHAR, R | W, 1, 3), 1);
        assert_eq!(run(&p, CHAR, R, 1, 5), 1);
        assert_eq!(
            run(&p, CHAR, R | W, 1, 5),
            0,
            "write to /dev/zero not granted"
        );
        assert_eq!(run(&p, BLOCK, R, 1, 3), 0, "type must match");
        assert_eq!(run(&p, CHAR, W, 136, 7), 1, "minor wildcard");
        assert_eq!(run(&p, CHAR, M, 136, 7), 0);
        assert_eq!(run(&p, BLOCK, M, 8, 0), 1, "major and minor wildcard");
        assert_eq!(run(&p, BLOCK, R, 8, 0), 0);
        assert_eq!(run(&p, CHAR, R, 1, 9), 0, "not listed");
    }

    #[test]
    fn cgroups_bpf_deny_list_matches_any_overlap() {
        let mut exceptions = BTreeMap::new();
        exceptions.insert(node(DevType::Char, Some(10), Some(200)), ACC_WRITE);
        exceptions.insert(node(DevType::Block, Some(8), None), ACC_ALL);
        let state = DeviceState {
            default_allow: true,
            exceptions,
        };
        let p = program(&state);
        assert_eq!(run(&p, CHAR, R, 10, 200), 1);
        assert_eq!(run(&p, CHAR, R | W, 10, 200), 0, "any denied bit denies");
        assert_eq!(run(&p, BLOCK, R, 8, 16), 0);
        assert_eq!(run(&p, CHAR, R | W | M, 1, 3), 1, "not listed");
    }

    #[test]
    fn cgroups_bpf_program_of_the_defaults_matches_the_v1_rules() {
        let state = DeviceState::for_spec(None, &[]).unwrap();
        let p = program(&state);
        assert_eq!(run(&p, CHAR, R | W, 1, 3), 1, "/dev/null");
        assert_eq!(run(&p, CHAR, R | W, 5, 2), 1, "/dev/ptmx");
        assert_eq!(run(&p, CHAR, R | W, 136, 0), 1, "/dev/pts/0");
        assert_eq!(run(&p, CHAR, M, 4, 1), 1, "mknod of anything");
        assert_eq!(run(&p, CHAR, R, 1, 11), 0, "/dev/kmsg");
        assert_eq!(run(&p, BLOCK, R, 254, 0), 0, "a disk");
        // Every jump lands inside the program, and it ends with exit.
        for (at, insn) in p.iter().enumerate() {
            if insn.code & 0x07 == BPF_JMP && insn.code != 0x95 {
                let target = at as i64 + 1 + i64::from(insn.off);
                assert!(target > at as i64 && (target as usize) < p.len());
            }
        }
        assert_eq!(p.last().unwrap().code, 0x95);
    }
}
