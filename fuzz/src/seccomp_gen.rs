//! Bytes → a `linux.seccomp` profile, without JSON: every input is a profile,
//! so the fuzzer explores the compiler (rule ordering, argument comparisons,
//! far jumps, the instruction limit, NOTIFY checks) instead of JSON syntax.
//! Syscall names come from the default profile, plus a few special ones.

use std::sync::OnceLock;

use oci_spec::runtime::LinuxSeccomp;
use serde_json::{json, Value};

const ACTIONS: [&str; 9] = [
    "SCMP_ACT_ALLOW",
    "SCMP_ACT_ERRNO",
    "SCMP_ACT_KILL",
    "SCMP_ACT_KILL_PROCESS",
    "SCMP_ACT_KILL_THREAD",
    "SCMP_ACT_LOG",
    "SCMP_ACT_NOTIFY",
    "SCMP_ACT_TRACE",
    "SCMP_ACT_TRAP",
];

const OPERATORS: [&str; 7] = [
    "SCMP_CMP_NE",
    "SCMP_CMP_LT",
    "SCMP_CMP_LE",
    "SCMP_CMP_EQ",
    "SCMP_CMP_GE",
    "SCMP_CMP_GT",
    "SCMP_CMP_MASKED_EQ",
];

const ARCHES: [&str; 6] = [
    "SCMP_ARCH_X86_64",
    "SCMP_ARCH_X86",
    "SCMP_ARCH_X32",
    "SCMP_ARCH_AARCH64",
    "SCMP_ARCH_ARM",
    "SCMP_ARCH_S390X",
];

const FLAGS: [&str; 4] = [
    "SECCOMP_FILTER_FLAG_TSYNC",
    "SECCOMP_FILTER_FLAG_LOG",
    "SECCOMP_FILTER_FLAG_SPEC_ALLOW",
    "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV",
];

/// Names that take special paths: NOTIFY-forbidden, x32-only, unknown, empty.
const SPECIAL: [&str; 8] = [
    "write",
    "sendmsg",
    "sendto",
    "",
    "no_such_call",
    "rt_sigreturn",
    "io_pgetevents_time64",
    "ioctl",
];

fn names() -> &'static [String] {
    static NAMES: OnceLock<Vec<String>> = OnceLock::new();
    NAMES.get_or_init(|| {
        let profile: Value = serde_json::from_str(include_str!("../../specs/seccomp.json"))
            .expect("default profile");
        let mut names: Vec<String> = profile["syscalls"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|s| s["names"].as_array().into_iter().flatten())
            .filter_map(|n| n.as_str().map(str::to_string))
            .collect();
        names.extend(SPECIAL.iter().map(|s| s.to_string()));
        names
    })
}

struct Reader<'a> {
    data: &'a [u8],
}

impl Reader<'_> {
    fn done(&self) -> bool {
        self.data.is_empty()
    }

    fn byte(&mut self) -> u8 {
        match self.data.split_first() {
            Some((&b, rest)) => {
                self.data = rest;
                b
            }
            None => 0,
        }
    }

    fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.byte(), self.byte()])
    }

    fn u64(&mut self) -> u64 {
        let mut bytes = [0u8; 8];
        for b in &mut bytes {
            *b = self.byte();
        }
        u64::from_le_bytes(bytes)
    }

    /// A comparison value: mostly the edges where 32/64-bit splitting goes
    /// wrong, sometimes any 64 bits.
    fn value(&mut self) -> u64 {
        match self.byte() % 10 {
            0 => 0,
            1 => 1,
            2 => u64::from(u32::MAX),
            3 => 1 << 32,
            4 => u64::MAX,
            5 => 0x8000_0000,
            6 => u64::from(self.byte()),
            7 => u64::from(self.u16()),
            _ => self.u64(),
        }
    }

    /// An errno: mostly in range, rarely past 4095 (an error to report).
    fn errno(&mut self) -> u32 {
        match self.byte() {
            0..=159 => u32::from(self.byte()),
            160..=191 => 4095,
            192..=254 => u32::from(self.u16()) % 4096,
            255 => u32::from(self.u16()) | (u32::from(self.u16()) << 16),
        }
    }
}

pub fn profile(data: &[u8]) -> LinuxSeccomp {
    let mut r = Reader { data };
    let head = r.byte();
    let mut profile = json!({ "defaultAction": ACTIONS[usize::from(head % 9)] });
    if head & 0x80 != 0 {
        profile["defaultErrnoRet"] = json!(r.errno());
    }
    let arches = r.byte();
    profile["architectures"] = ARCHES
        .iter()
        .enumerate()
        .filter(|(i, _)| arches & (1 << i) != 0)
        .map(|(_, a)| json!(a))
        .collect();
    let flags = r.byte();
    profile["flags"] = FLAGS
        .iter()
        .enumerate()
        .filter(|(i, _)| flags & (1 << i) != 0)
        .map(|(_, f)| json!(f))
        .collect();
    if flags & 0x10 == 0 {
        profile["listenerPath"] = json!("/run/agent.sock");
    }
    if flags & 0x20 != 0 {
        profile["listenerMetadata"] = json!("meta");
    }
    let names = names();
    let mut syscalls = Vec::new();
    while !r.done() && syscalls.len() < 512 {
        let c = r.byte();
        let mut rule = json!({ "action": ACTIONS[usize::from(c % 9)] });
        if c & 0x10 != 0 {
            rule["errnoRet"] = json!(r.errno());
        }
        let count = 1 + usize::from(r.byte() % 8);
        rule["names"] = (0..count)
            .map(|_| json!(names[usize::from(r.u16()) % names.len()]))
            .collect();
        let nargs = usize::from(c >> 5);
        let args: Vec<Value> = (0..nargs)
            .map(|_| {
                let index = match r.byte() {
                    255 => 6 + u64::from(r.byte()),
                    b => u64::from(b % 6),
                };
                let op = r.byte();
                let mut arg = json!({
                    "index": index,
                    "op": OPERATORS[usize::from(op % 7)],
                    "value": r.value(),
                });
                if op & 0x80 != 0 {
                    arg["valueTwo"] = json!(r.value());
                }
                arg
            })
            .collect();
        if !args.is_empty() {
            rule["args"] = json!(args);
        }
        syscalls.push(rule);
    }
    profile["syscalls"] = json!(syscalls);
    serde_json::from_value(profile).expect("generated profile deserialises")
}
