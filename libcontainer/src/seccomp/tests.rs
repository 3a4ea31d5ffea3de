//! Two kinds of tests: verdicts computed by running the compiled program in a
//! small BPF interpreter (every ABI, every operator, no privileges), and
//! filters installed for real in forked children (root, as `make test` runs).

use std::time::Instant;

use nix::sys::signal::Signal;
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::Pid;

use super::bpf::{AUDIT_ARCH_I386, AUDIT_ARCH_X86_64, X32_BIT};
use super::*;

const DEFAULT_PROFILE: &str = include_str!("../../../specs/seccomp.json");

const ALLOW: u32 = libc::SECCOMP_RET_ALLOW;
const KILL_PROCESS: u32 = libc::SECCOMP_RET_KILL_PROCESS;
const fn errno(e: i32) -> u32 {
    libc::SECCOMP_RET_ERRNO | e as u32
}
const EPERM: u32 = errno(libc::EPERM);
const ENOSYS: u32 = errno(libc::ENOSYS);

fn profile(json: &str) -> LinuxSeccomp {
    serde_json::from_str(json).expect("profile JSON")
}

fn compiled(json: &str) -> Compiled {
    compile(&profile(json)).expect("profile compiles")
}

fn default_profile() -> Compiled {
    compiled(DEFAULT_PROFILE)
}

/// Runs the program as the kernel would on one call; returns its verdict.
fn run(program: &[sock_filter], arch: u32, nr: u32, args: [u64; 6]) -> u32 {
    let load = |offset: u32| -> u32 {
        match offset {
            0 => nr,
            4 => arch,
            16..=63 => {
                let arg = args[(offset as usize - 16) / 8];
                if offset % 8 == 0 {
                    arg as u32
                } else {
                    (arg >> 32) as u32
                }
            }
            _ => panic!("load from seccomp_data offset {offset}"),
        }
    };
    let (mut a, mut pc) = (0u32, 0usize);
    loop {
        let insn = &program[pc];
        pc += 1;
        let jump = |taken: bool| usize::from(if taken { insn.jt } else { insn.jf });
        match insn.code {
            0x20 => a = load(insn.k),
            0x54 => a &= insn.k,
            0x05 => pc += insn.k as usize,
            0x15 => pc += jump(a == insn.k),
            0x25 => pc += jump(a > insn.k),
            0x35 => pc += jump(a >= insn.k),
            0x45 => pc += jump(a & insn.k != 0),
            0x06 => return insn.k,
            code => panic!("unexpected BPF opcode {code:#x} at {}", pc - 1),
        }
    }
}

fn x86_64(c: &Compiled, nr: i64, args: [u64; 6]) -> u32 {
    run(&c.program, AUDIT_ARCH_X86_64, nr as u32, args)
}

fn call(c: &Compiled, nr: i64) -> u32 {
    x86_64(c, nr, [0; 6])
}

fn with_arg0(c: &Compiled, nr: i64, arg0: u64) -> u32 {
    x86_64(c, nr, [arg0, 0, 0, 0, 0, 0])
}

// ---- the default profile ----------------------------------------------------

#[test]
fn default_profile_parses_and_compiles() {
    let parsed = profile(DEFAULT_PROFILE);
    let start = Instant::now();
    let runs = 50;
    for _ in 0..runs {
        compile(&parsed).expect("compiles");
    }
    let c = default_profile();
    println!(
        "default profile: {} BPF instructions in one filter, compile {:?} (mean of {runs})",
        c.instruction_count(),
        start.elapsed() / runs
    );
    assert!(c.instruction_count() < 1500, "{}", c.instruction_count());
}

#[test]
fn default_profile_denies_namespaces_mounts_keys_and_modules() {
    let c = default_profile();
    for nr in [
        libc::SYS_unshare,
        libc::SYS_setns,
        libc::SYS_mount,
        libc::SYS_umount2,
        libc::SYS_keyctl,
        libc::SYS_add_key,
        libc::SYS_init_module,
        libc::SYS_finit_module,
        libc::SYS_delete_module,
        libc::SYS_bpf,
    ] {
        assert_eq!(call(&c, nr), EPERM, "syscall {nr}");
    }
    // Allowed by Docker's profile on kernels >= 4.8 (every kernel we run on).
    assert_eq!(call(&c, libc::SYS_ptrace), ALLOW);
}

#[test]
fn default_profile_allows_ordinary_calls() {
    let c = default_profile();
    for nr in [
        libc::SYS_getpid,
        libc::SYS_read,
        libc::SYS_write,
        libc::SYS_openat,
        libc::SYS_execve,
        libc::SYS_exit_group,
        libc::SYS_mmap,
        libc::SYS_futex,
        libc::SYS_chroot,
        libc::SYS_arch_prctl,
    ] {
        assert_eq!(call(&c, nr), ALLOW, "syscall {nr}");
    }
}

#[test]
fn default_profile_clone_refuses_namespace_flags_and_clone3_says_enosys() {
    let c = default_profile();
    let fork_flags = (libc::CLONE_CHILD_SETTID | libc::CLONE_CHILD_CLEARTID | libc::SIGCHLD) as u64;
    let thread_flags = (libc::CLONE_VM | libc::CLONE_FS | libc::CLONE_FILES | libc::CLONE_THREAD)
        as u64
        | libc::CLONE_SIGHAND as u64;
    assert_eq!(with_arg0(&c, libc::SYS_clone, fork_flags), ALLOW);
    assert_eq!(with_arg0(&c, libc::SYS_clone, thread_flags), ALLOW);
    for ns in [
        libc::CLONE_NEWUSER,
        libc::CLONE_NEWNS,
        libc::CLONE_NEWPID,
        libc::CLONE_NEWNET,
        libc::CLONE_NEWCGROUP,
    ] {
        assert_eq!(
            with_arg0(&c, libc::SYS_clone, fork_flags | ns as u64),
            EPERM
        );
    }
    assert_eq!(call(&c, libc::SYS_clone3), ENOSYS);
}

#[test]
fn default_profile_personality_and_socket_are_restricted_by_argument() {
    let c = default_profile();
    for persona in [0, 8, 0x20000, 0x20008, 0xffff_ffff] {
        assert_eq!(with_arg0(&c, libc::SYS_personality, persona), ALLOW);
    }
    assert_eq!(with_arg0(&c, libc::SYS_personality, 0x0040_0000), EPERM); // READ_IMPLIES_EXEC
    assert_eq!(with_arg0(&c, libc::SYS_socket, libc::AF_INET as u64), ALLOW);
    assert_eq!(
        with_arg0(&c, libc::SYS_socket, libc::AF_VSOCK as u64),
        EPERM
    );
}

#[test]
fn default_profile_filters_i386_and_x32_and_kills_other_abis() {
    let c = default_profile();
    let i386 = |nr: u32, arg0: u64| run(&c.program, AUDIT_ARCH_I386, nr, [arg0, 0, 0, 0, 0, 0]);
    assert_eq!(i386(20, 0), ALLOW); // getpid
    assert_eq!(i386(310, 0), EPERM); // unshare
    assert_eq!(i386(21, 0), EPERM); // mount
    assert_eq!(i386(120, libc::SIGCHLD as u64), ALLOW); // clone
    assert_eq!(i386(120, libc::CLONE_NEWUSER as u64), EPERM);
    // 32-bit ABI: only the low half of an argument is compared.
    assert_eq!(i386(136, 0xdead_0000_0000_0008), ALLOW); // personality(UNAME26)
    assert_eq!(i386(435, 0), ENOSYS); // clone3
    assert_eq!(i386(2000, 0), ENOSYS); // beyond the profile

    let x32 = |nr: u32| run(&c.program, AUDIT_ARCH_X86_64, nr | X32_BIT, [0; 6]);
    assert_eq!(x32(39), ALLOW); // getpid
    assert_eq!(x32(514), ALLOW); // x32 ioctl
    assert_eq!(x32(272), EPERM); // unshare

    const AUDIT_ARCH_ARM: u32 = 0x4000_0028;
    assert_eq!(run(&c.program, AUDIT_ARCH_ARM, 20, [0; 6]), KILL_PROCESS);
}

#[test]
fn calls_newer_than_the_profile_get_enosys_unless_the_default_allows() {
    assert_eq!(call(&default_profile(), 1000), ENOSYS);
    let c = compiled(
        r#"{"defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["getppid"], "action": "SCMP_ACT_ERRNO"}]}"#,
    );
    assert_eq!(call(&c, 1000), ALLOW);
    assert_eq!(call(&c, libc::SYS_getppid), EPERM);
}

#[test]
fn unlisted_compat_abis_are_killed() {
    let c =
        compiled(r#"{"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86_64"]}"#);
    assert_eq!(call(&c, libc::SYS_getpid), ALLOW);
    assert_eq!(run(&c.program, AUDIT_ARCH_I386, 20, [0; 6]), KILL_PROCESS);
    assert_eq!(
        run(&c.program, AUDIT_ARCH_X86_64, 39 | X32_BIT, [0; 6]),
        KILL_PROCESS
    );
}

// ---- rule semantics ---------------------------------------------------------

#[test]
fn errno_rule_returns_its_errno_ret() {
    let c = compiled(
        r#"{"defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["getppid"], "action": "SCMP_ACT_ERRNO", "errnoRet": 42},
                         {"names": ["getpgrp"], "action": "SCMP_ACT_TRACE", "errnoRet": 7}]}"#,
    );
    assert_eq!(call(&c, libc::SYS_getppid), errno(42));
    assert_eq!(call(&c, libc::SYS_getpgrp), libc::SECCOMP_RET_TRACE | 7);
}

#[test]
fn most_restrictive_matching_rule_wins_in_any_order() {
    for rules in [
        r#"{"names": ["getpgid"], "action": "SCMP_ACT_ALLOW"},
           {"names": ["getpgid"], "action": "SCMP_ACT_ERRNO", "errnoRet": 5,
            "args": [{"index": 0, "value": 5, "op": "SCMP_CMP_EQ"}]}"#,
        r#"{"names": ["getpgid"], "action": "SCMP_ACT_ERRNO", "errnoRet": 5,
            "args": [{"index": 0, "value": 5, "op": "SCMP_CMP_EQ"}]},
           {"names": ["getpgid"], "action": "SCMP_ACT_ALLOW"}"#,
    ] {
        let c = compiled(&format!(
            r#"{{"defaultAction": "SCMP_ACT_KILL_PROCESS", "syscalls": [{rules}]}}"#
        ));
        assert_eq!(with_arg0(&c, libc::SYS_getpgid, 5), errno(5));
        assert_eq!(with_arg0(&c, libc::SYS_getpgid, 6), ALLOW);
    }
}

#[test]
fn args_in_one_rule_are_anded_but_repeated_indexes_are_ored() {
    let c = compiled(
        r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
            {"names": ["getpriority"], "action": "SCMP_ACT_ERRNO",
             "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_EQ"},
                      {"index": 1, "value": 2, "op": "SCMP_CMP_EQ"}]},
            {"names": ["setpgid"], "action": "SCMP_ACT_ERRNO",
             "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_EQ"},
                      {"index": 0, "value": 2, "op": "SCMP_CMP_EQ"}]}]}"#,
    );
    let prio = |a0, a1| x86_64(&c, libc::SYS_getpriority, [a0, a1, 0, 0, 0, 0]);
    assert_eq!(prio(1, 2), EPERM);
    assert_eq!(prio(1, 3), ALLOW);
    assert_eq!(prio(0, 2), ALLOW);
    assert_eq!(with_arg0(&c, libc::SYS_setpgid, 1), EPERM);
    assert_eq!(with_arg0(&c, libc::SYS_setpgid, 2), EPERM);
    assert_eq!(with_arg0(&c, libc::SYS_setpgid, 3), ALLOW);
}

#[test]
fn every_operator_compares_like_its_definition_on_64_and_32_bits() {
    let values: [u64; 7] = [
        0,
        1,
        0x7fff_ffff,
        0xffff_ffff,
        0x1_0000_0000,
        0x1_0000_0005,
        u64::MAX,
    ];
    let ops = ["NE", "LT", "LE", "EQ", "GE", "GT", "MASKED_EQ"];
    for op in ops {
        for &value in &values {
            let two = 5u64;
            let c = compiled(&format!(
                r#"{{"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86"],
                    "syscalls": [{{"names": ["getpgid"], "action": "SCMP_ACT_ERRNO",
                    "args": [{{"index": 2, "value": {value}, "valueTwo": {two}, "op": "SCMP_CMP_{op}"}}]}}]}}"#
            ));
            let expect = |arg: u64, value: u64, two: u64| match op {
                "NE" => arg != value,
                "LT" => arg < value,
                "LE" => arg <= value,
                "EQ" => arg == value,
                "GE" => arg >= value,
                "GT" => arg > value,
                _ => arg & value == two & value,
            };
            for &arg in &values {
                let native = x86_64(&c, libc::SYS_getpgid, [0, 0, arg, 0, 0, 0]);
                assert_eq!(
                    native == EPERM,
                    expect(arg, value, two),
                    "{arg:#x} {op} {value:#x}"
                );
                // i386 getpgid is 132; the high halves are ignored there.
                let i386 = run(&c.program, AUDIT_ARCH_I386, 132, [0, 0, arg, 0, 0, 0]);
                let low = |v: u64| v & 0xffff_ffff;
                assert_eq!(
                    i386 == EPERM,
                    expect(low(arg), low(value), low(two)),
                    "i386 {arg:#x} {op} {value:#x}"
                );
            }
        }
    }
}

#[test]
fn unknown_syscall_names_are_skipped() {
    let c = compiled(
        r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
            {"names": ["no_such_call", "getppid", "s390_runtime_instr"], "action": "SCMP_ACT_ERRNO"}]}"#,
    );
    assert_eq!(call(&c, libc::SYS_getppid), EPERM);
    assert_eq!(call(&c, libc::SYS_getpid), ALLOW);
}

#[test]
fn far_jumps_are_widened() {
    // 300 calls with argument rules: the tree's jumps span thousands of
    // instructions.
    let names: Vec<(u32, &str)> = syscalls::native_names()
        .into_iter()
        .take(300)
        .filter_map(|name| Some((syscalls::native(name)?, name)))
        .collect();
    let rules: Vec<String> = names
        .iter()
        .map(|(nr, name)| {
            format!(
                r#"{{"names": ["{name}"], "action": "SCMP_ACT_ERRNO", "errnoRet": {e},
                    "args": [{{"index": 1, "value": {nr}, "op": "SCMP_CMP_EQ"}}]}}"#,
                e = nr % 4000 + 1
            )
        })
        .collect();
    let c = compiled(&format!(
        r#"{{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{}]}}"#,
        rules.join(",")
    ));
    assert!(c.instruction_count() > 1000, "{}", c.instruction_count());
    for (nr, _) in names {
        let nr = i64::from(nr);
        assert_eq!(
            x86_64(&c, nr, [0, nr as u64, 0, 0, 0, 0]),
            errno(nr as i32 % 4000 + 1)
        );
        assert_eq!(x86_64(&c, nr, [0, nr as u64 + 1, 0, 0, 0, 0]), ALLOW);
    }
}

// ---- errors name the field --------------------------------------------------

fn compile_error(json: &str) -> String {
    compile(&profile(json)).unwrap_err().to_string()
}

#[test]
fn invalid_values_are_refused_with_the_field_named() {
    let err = compile_error(
        r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
            {"names": ["getpid"], "action": "SCMP_ACT_ERRNO"},
            {"names": ["read"], "action": "SCMP_ACT_ERRNO",
             "args": [{"index": 6, "value": 1, "op": "SCMP_CMP_EQ"}]}]}"#,
    );
    assert!(
        err.contains("linux.seccomp.syscalls[1].args[0].index"),
        "{err}"
    );

    let err = compile_error(
        r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
            {"names": ["getpid"], "action": "SCMP_ACT_ERRNO", "errnoRet": 5000}]}"#,
    );
    assert!(err.contains("linux.seccomp.syscalls[0].errnoRet"), "{err}");

    let err = compile_error(r#"{"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 70000}"#);
    assert!(err.contains("linux.seccomp.defaultErrnoRet"), "{err}");

    let err = compile_error(r#"{"defaultAction": "SCMP_ACT_NOTIFY", "listenerPath": "/a"}"#);
    assert!(err.contains("linux.seccomp.defaultAction"), "{err}");

    let err = compile_error(
        r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
            {"names": ["getpid"], "action": "SCMP_ACT_NOTIFY"}]}"#,
    );
    assert!(err.contains("linux.seccomp.listenerPath"), "{err}");

    let err = compile_error(
        r#"{"defaultAction": "SCMP_ACT_ALLOW", "listenerPath": "/a", "syscalls": [
            {"names": ["getpid", "write"], "action": "SCMP_ACT_NOTIFY"}]}"#,
    );
    assert!(err.contains("linux.seccomp.syscalls[0].names[1]"), "{err}");

    let err = compile_error(
        r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": [""], "action": "SCMP_ACT_LOG"}]}"#,
    );
    assert!(err.contains("linux.seccomp.syscalls[0].names[0]"), "{err}");
}

/// Unknown enum values never reach `compile`: config.json parsing refuses
/// them with their path.
#[test]
fn unknown_action_op_flag_and_arch_are_refused_at_parse_with_the_field_named() {
    let cases = [
        (
            r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW"},
                {"names": ["read"], "action": "SCMP_ACT_SOMETIMES"}]}"#,
            "linux.seccomp.syscalls[1].action",
        ),
        (
            r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ERRNO",
                "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_ROUGHLY"}]}]}"#,
            "linux.seccomp.syscalls[0].args[0].op",
        ),
        (
            r#"{"defaultAction": "SCMP_ACT_ALLOW", "flags": ["SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_FAST"]}"#,
            "linux.seccomp.flags[1]",
        ),
        (
            r#"{"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_VAX"]}"#,
            "linux.seccomp.architectures[0]",
        ),
        (
            r#"{"defaultAction": "SCMP_ACT_MAYBE"}"#,
            "linux.seccomp.defaultAction",
        ),
    ];
    for (seccomp, field) in cases {
        let config = format!(r#"{{"ociVersion": "1.0.2", "linux": {{"seccomp": {seccomp}}}}}"#);
        let err = crate::spec::parse(config.as_bytes()).unwrap_err();
        assert!(err.contains(field), "{field}: {err}");
    }
}

// ---- syscall tables ---------------------------------------------------------

#[test]
fn syscall_tables_are_sorted_and_resolve_names() {
    assert_eq!(syscalls::native("getpid"), Some(libc::SYS_getpid as u32));
    assert_eq!(syscalls::native("_sysctl"), Some(libc::SYS__sysctl as u32));
    assert_eq!(syscalls::native("io_pgetevents"), Some(333));
    assert_eq!(syscalls::native("mseal"), Some(462));
    assert_eq!(syscalls::native("socketcall"), None);
    assert_eq!(syscalls::i386("socketcall"), Some(102));
    assert_eq!(syscalls::i386("break"), Some(17));
    assert_eq!(syscalls::i386("cachestat"), Some(451));
    assert_eq!(syscalls::x32_specific("ioctl"), Some(514));
    assert_eq!(syscalls::x32_specific("read"), None);
    syscalls::assert_sorted();
}

/// The literal numbers agree with the kernel headers, where installed.
#[test]
fn syscall_numbers_match_the_installed_kernel_headers() {
    let dir = "/usr/include/x86_64-linux-gnu/asm";
    type Lookup = fn(&str) -> Option<u32>;
    let checks: [(&str, Lookup, u32); 3] = [
        ("unistd_64.h", syscalls::native, 0),
        ("unistd_32.h", syscalls::i386, 0),
        ("unistd_x32.h", syscalls::x32_specific, X32_BIT),
    ];
    for (file, lookup, bit) in checks {
        let Ok(header) = std::fs::read_to_string(format!("{dir}/{file}")) else {
            println!("{dir}/{file} not installed: skipped");
            continue;
        };
        let mut checked = 0;
        for line in header.lines() {
            let Some(rest) = line.strip_prefix("#define __NR_") else {
                continue;
            };
            let words: Vec<&str> = rest.split_whitespace().collect();
            let (name, number) = match words.as_slice() {
                [name, n] => (*name, n.parse::<u32>()),
                // x32: "(__X32_SYSCALL_BIT + 512)"
                [name, "(__X32_SYSCALL_BIT", "+", n] => (*name, n.trim_end_matches(')').parse()),
                _ => continue,
            };
            let Ok(number) = number else {
                continue;
            };
            if let Some(ours) = lookup(name) {
                assert_eq!(ours | bit, number | bit, "{file}: {name}");
                checked += 1;
            }
        }
        assert!(checked > 30, "{file}: only {checked} names checked");
    }
}

// ---- installed for real, in forked children ---------------------------------

/// Runs `child` in a forked process and returns how it ended. The child
/// makes raw system calls only and always leaves through `_exit`.
fn in_child(child: impl FnOnce() -> i32) -> WaitStatus {
    // Without no_new_privs, installing a filter needs CAP_SYS_ADMIN.
    crate::test_support::require_root("a seccomp test that installs its filter");
    // SAFETY: the child does not return into the test harness: it runs
    // `child`, which makes plain system calls, and exits.
    match unsafe { libc::fork() } {
        0 => {
            let code = child();
            // SAFETY: ends the forked child without running the parent's
            // atexit handlers or destructors.
            unsafe { libc::_exit(code) }
        }
        -1 => panic!("fork: {}", Errno::last()),
        pid => waitpid(Pid::from_raw(pid), None).expect("waitpid"),
    }
}

fn exited(status: WaitStatus) -> i32 {
    match status {
        WaitStatus::Exited(_, code) => code,
        other => panic!("child did not exit: {other:?}"),
    }
}

/// A raw syscall returning `Err(errno)` like the kernel answered.
fn sys(nr: i64, args: [u64; 3]) -> std::result::Result<i64, i32> {
    // SAFETY: only called with calls whose pointer arguments are null or
    // valid for the call.
    let rc = unsafe { libc::syscall(nr, args[0], args[1], args[2]) };
    if rc == -1 {
        Err(Errno::last_raw())
    } else {
        Ok(rc)
    }
}

/// Installs `c` then returns the first failing check (1-based), or 0.
fn install_then(c: &Compiled, checks: &[&dyn Fn() -> bool]) -> i32 {
    if c.install().is_err() {
        return 100;
    }
    for (i, check) in checks.iter().enumerate() {
        if !check() {
            return i as i32 + 1;
        }
    }
    0
}

#[test]
fn installed_errno_rule_answers_with_its_errno() {
    let c = compiled(
        r#"{"defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["getppid"], "action": "SCMP_ACT_ERRNO", "errnoRet": 42}]}"#,
    );
    let code = exited(in_child(|| {
        install_then(
            &c,
            &[&|| sys(libc::SYS_getppid, [0; 3]) == Err(42), &|| {
                sys(libc::SYS_getpid, [0; 3]).is_ok()
            }],
        )
    }));
    assert_eq!(code, 0);
}

#[test]
fn installed_arg_rules_match_only_matching_values() {
    let c = compiled(
        r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
            {"names": ["getpgid"], "action": "SCMP_ACT_ERRNO", "errnoRet": 77,
             "args": [{"index": 0, "value": 4660, "op": "SCMP_CMP_EQ"}]},
            {"names": ["getpgid"], "action": "SCMP_ACT_ERRNO", "errnoRet": 78,
             "args": [{"index": 0, "value": 65280, "valueTwo": 22016, "op": "SCMP_CMP_MASKED_EQ"}]}]}"#,
    );
    let getpgid = |pid: u64| sys(libc::SYS_getpgid, [pid, 0, 0]);
    let code = exited(in_child(|| {
        install_then(
            &c,
            &[
                &|| getpgid(0x1234) == Err(77),
                &|| getpgid(0x5678) == Err(78),
                &|| getpgid(0x56ff) == Err(78),
                &|| getpgid(0x7fff_1235) == Err(libc::ESRCH),
                &|| getpgid(0).is_ok(),
            ],
        )
    }));
    assert_eq!(code, 0);
}

#[test]
fn installed_default_errno_denies_what_the_allow_list_omits() {
    let c = compiled(
        r#"{"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 13, "syscalls": [
            {"names": ["getpid", "exit", "exit_group"], "action": "SCMP_ACT_ALLOW"}]}"#,
    );
    let code = exited(in_child(|| {
        install_then(
            &c,
            &[
                &|| sys(libc::SYS_getpid, [0; 3]).is_ok(),
                &|| sys(libc::SYS_getppid, [0; 3]) == Err(libc::EACCES),
                // Above every number the profile names: ENOSYS, like runc.
                &|| sys(libc::SYS_pidfd_open, [0; 3]) == Err(libc::ENOSYS),
            ],
        )
    }));
    assert_eq!(code, 0);
}

#[test]
fn installed_kill_process_kills_with_sigsys() {
    let c = compiled(
        r#"{"defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["getppid"], "action": "SCMP_ACT_KILL_PROCESS"}]}"#,
    );
    let status = in_child(|| install_then(&c, &[&|| sys(libc::SYS_getppid, [0; 3]).is_ok()]) + 50);
    assert!(
        matches!(status, WaitStatus::Signaled(_, Signal::SIGSYS, _)),
        "{status:?}"
    );
}

#[test]
fn installed_notify_rule_hands_out_a_listener_that_answers() {
    let c = compiled(
        r#"{"defaultAction": "SCMP_ACT_ALLOW", "listenerPath": "/run/agent.sock",
            "listenerMetadata": "meta", "flags": ["SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"],
            "syscalls": [{"names": ["getppid"], "action": "SCMP_ACT_NOTIFY"}]}"#,
    );
    assert_eq!(c.listener_path(), Some(Path::new("/run/agent.sock")));
    assert_eq!(c.listener_metadata(), Some("meta"));
    crate::test_support::require_root("a seccomp test that installs its filter");
    let (read_end, write_end) = nix::unistd::pipe().expect("pipe");

    // SAFETY: as in `in_child`.
    let pid = match unsafe { libc::fork() } {
        0 => {
            let code = match c.install() {
                Ok(Some(listener)) => {
                    use std::os::fd::AsRawFd;
                    let fd = listener.as_raw_fd().to_ne_bytes();
                    let sent = nix::unistd::write(&write_end, &fd) == Ok(4);
                    // Blocks until the parent answers through the listener.
                    if sent && sys(libc::SYS_getppid, [0; 3]) == Ok(4242) {
                        0
                    } else {
                        2
                    }
                }
                _ => 1,
            };
            // SAFETY: as in `in_child`.
            unsafe { libc::_exit(code) }
        }
        pid => Pid::from_raw(pid),
    };
    drop(write_end);
    let mut buf = [0u8; 4];
    let n = nix::unistd::read(&read_end, &mut buf).expect("read listener fd number");
    assert_eq!(n, 4, "the child could not install the filter");
    let listener = take_fd(pid, i32::from_ne_bytes(buf));
    let link = std::fs::read_link(format!("/proc/self/fd/{listener}")).expect("readlink");
    assert_eq!(link.to_string_lossy(), "anon_inode:seccomp notify");

    // SAFETY: all-zero is a valid seccomp_notif, which RECV requires.
    let mut notif: libc::seccomp_notif = unsafe { std::mem::zeroed() };
    // SAFETY: `notif` is a valid seccomp_notif the kernel fills in.
    let rc = unsafe { libc::ioctl(listener, libc::SECCOMP_IOCTL_NOTIF_RECV, &mut notif) };
    assert_eq!(rc, 0, "NOTIF_RECV: {}", Errno::last());
    assert_eq!(i64::from(notif.data.nr), libc::SYS_getppid);
    assert_eq!(notif.pid, pid.as_raw() as u32);
    let mut resp = libc::seccomp_notif_resp {
        id: notif.id,
        val: 4242,
        error: 0,
        flags: 0,
    };
    // SAFETY: `resp` is a valid seccomp_notif_resp.
    let rc = unsafe { libc::ioctl(listener, libc::SECCOMP_IOCTL_NOTIF_SEND, &mut resp) };
    assert_eq!(rc, 0, "NOTIF_SEND: {}", Errno::last());
    // SAFETY: `listener` came from pidfd_getfd and is ours to close.
    unsafe { libc::close(listener) };
    let status = waitpid(pid, None).expect("waitpid");
    assert_eq!(exited(status), 0);
}

/// Copies fd `fd` of process `pid` into this process (pidfd_getfd).
fn take_fd(pid: Pid, fd: i32) -> i32 {
    let pidfd = sys(libc::SYS_pidfd_open, [pid.as_raw() as u64, 0, 0]).expect("pidfd_open");
    let ours = sys(libc::SYS_pidfd_getfd, [pidfd as u64, fd as u64, 0]).expect("pidfd_getfd");
    // SAFETY: `pidfd` is ours.
    unsafe { libc::close(pidfd as i32) };
    ours as i32
}

#[test]
fn installed_default_profile_denies_privileged_calls_and_allows_ordinary_ones() {
    let c = default_profile();
    let (read_end, write_end) = nix::unistd::pipe().expect("pipe");
    let status = in_child(|| {
        use std::os::fd::AsRawFd;
        let mut before = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        let mut after = before;
        // SAFETY: valid timespec out-pointers.
        unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut before) };
        if c.install().is_err() {
            return 100;
        }
        // SAFETY: as above.
        unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut after) };
        let nanos =
            (after.tv_sec - before.tv_sec) * 1_000_000_000 + (after.tv_nsec - before.tv_nsec);
        let (r, w) = (read_end.as_raw_fd() as u64, write_end.as_raw_fd() as u64);
        let bytes = nanos.to_ne_bytes();
        let checks: [&dyn Fn() -> bool; 9] = [
            &|| sys(libc::SYS_unshare, [libc::CLONE_NEWUTS as u64, 0, 0]) == Err(libc::EPERM),
            &|| sys(libc::SYS_mount, [0, 0, 0]) == Err(libc::EPERM),
            &|| sys(libc::SYS_keyctl, [0, 0, 0]) == Err(libc::EPERM),
            &|| sys(libc::SYS_init_module, [0, 0, 0]) == Err(libc::EPERM),
            &|| sys(libc::SYS_finit_module, [0, 0, 0]) == Err(libc::EPERM),
            &|| sys(libc::SYS_getpid, [0; 3]).is_ok(),
            &|| sys(libc::SYS_write, [w, bytes.as_ptr() as u64, 8]) == Ok(8),
            &|| {
                let mut back = [0u8; 8];
                sys(libc::SYS_read, [r, back.as_mut_ptr() as u64, 8]) == Ok(8)
            },
            &|| sys(libc::SYS_write, [w, bytes.as_ptr() as u64, 8]) == Ok(8),
        ];
        for (i, check) in checks.iter().enumerate() {
            if !check() {
                return i as i32 + 1;
            }
        }
        0
    });
    assert_eq!(exited(status), 0);
    let mut buf = [0u8; 8];
    nix::unistd::read(&read_end, &mut buf).expect("install time");
    println!(
        "default profile: install {} µs ({} instructions)",
        i64::from_ne_bytes(buf) / 1000,
        c.instruction_count()
    );
}

#[test]
fn notify_rules_are_checked_in_runcs_words_without_compiling() {
    let check = |json: &str| super::uses_notify(&profile(json)).map_err(|e| e.to_string());
    assert_eq!(check(r#"{"defaultAction": "SCMP_ACT_ALLOW"}"#), Ok(false));
    assert_eq!(
        check(
            r#"{"defaultAction": "SCMP_ACT_ALLOW", "listenerPath": "/a",
                "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_NOTIFY"}]}"#
        ),
        Ok(true)
    );
    let default = check(r#"{"defaultAction": "SCMP_ACT_NOTIFY", "listenerPath": "/a"}"#);
    assert!(default
        .unwrap_err()
        .contains("SCMP_ACT_NOTIFY cannot be used as default action"));
    let write = check(
        r#"{"defaultAction": "SCMP_ACT_ALLOW", "listenerPath": "/a",
            "syscalls": [{"names": ["write"], "action": "SCMP_ACT_NOTIFY"}]}"#,
    );
    assert!(write
        .unwrap_err()
        .contains("SCMP_ACT_NOTIFY cannot be used for the write syscall"));
    let unset = check(
        r#"{"defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_NOTIFY"}]}"#,
    );
    assert!(unset.unwrap_err().contains("listenerPath is not set"));
}
