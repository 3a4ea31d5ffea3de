//! seccomp: an OCI `linux.seccomp` profile compiled to one classic-BPF
//! program, and installed in the container's process right before execve.
//!
//! [`compile`] runs in the runtime, before the init is cloned, so that every
//! mistake in the profile is a `create` error naming its field; the init only
//! calls [`Compiled::install`], which allocates nothing and makes one
//! seccomp(2) call.
//!
//! # One program, per-rule actions
//!
//! seccompiler's `SeccompFilter` has one match and one mismatch action per
//! filter; an OCI profile has one action per rule. Rather than stacking one
//! kernel filter per distinct action (each one walked on every system call),
//! we build a single program (`bpf.rs`) and take from seccompiler only what
//! is hard to get right: the argument comparisons of a rule
//! (`BpfProgram::from(SeccompRule)`, 32/64-bit halves, all operators), each
//! followed by our own `RET` with that rule's action — which is also how
//! `SCMP_ACT_NOTIFY` (`SECCOMP_RET_USER_NOTIF`, unknown to seccompiler) is
//! emitted. Syscall numbers are dispatched by a binary search over the runs
//! of numbers that share a verdict (Docker's profile has about a hundred such
//! runs per ABI), so a call costs about ten instructions, and the search
//! touches nothing but the number and the architecture: the kernel's
//! seccomp action cache (5.11+) then marks every call whose verdict is a
//! plain ALLOW as allowed without running the filter at all.
//!
//! Cost, measured on the 2-core development machine with the default profile
//! (`specs/seccomp.json`, x86_64 + i386 + x32): one filter of 450
//! instructions; `compile` about 0.15-0.4 ms optimized (mostly name lookups),
//! `install` about 0.2 ms (the kernel's JIT and action-cache setup).
//!
//! When several rules match one call, the most restrictive action wins, in
//! the kernel's own order (KILL_PROCESS > KILL_THREAD > TRAP > ERRNO >
//! NOTIFY > TRACE > LOG > ALLOW); between rules of the same action the first
//! in the profile wins. That is what stacked filters would give, and it does
//! not depend on rule order. libseccomp (runc) differs in corner cases: a
//! rule without `args` swallows every argument rule of the same call (in
//! either order), and two argument rules with the same comparison but
//! different actions make runc fail with EEXIST. Here the profile is taken
//! literally: `socket` allowed plus `socket(AF_VSOCK)` denied denies vsock.
//! Rules that cannot change a verdict are dropped (runc skips rules whose
//! action equals the default action; we drop them only when nothing less
//! restrictive follows them for that call, so the literal meaning is kept).
//!
//! Within one rule the `args` entries are ANDed. As in runc, when two or more
//! entries compare the SAME argument index, the rule is split into one rule
//! per entry, ORed (libseccomp once refused several comparisons of one
//! argument; profiles written for runc rely on the OR). 64-bit arguments are
//! compared on 64 bits; i386 arguments on their low 32 bits (the value is
//! truncated the same way, as libseccomp does for 32-bit ABIs).
//! `SCMP_CMP_MASKED_EQ` is `(arg & value) == valueTwo` (a missing
//! `valueTwo` is 0, as in runc).
//!
//! # Architectures
//!
//! The kernel tags each call with the ABI it came through
//! (`seccomp_data.arch`, plus the X32 bit of the number on x86_64):
//! - the native ABI (x86_64 or aarch64) is always filtered, whether listed
//!   or not (libseccomp does the same);
//! - on x86_64, `SCMP_ARCH_X86` adds an i386 section (int 0x80, 32-bit
//!   programs) with the same rules resolved against the i386 numbers, and
//!   `SCMP_ARCH_X32` lets x32 calls through the x86_64 rules (the X32 bit
//!   is masked; the x32-only numbers 512-547 are added for their names);
//! - any other ABI — unlisted compat ABIs, x32 calls when X32 is not listed,
//!   and `SCMP_ARCH_ARM` on aarch64, which we have no table for — is killed
//!   (`SECCOMP_RET_KILL_PROCESS`). libseccomp's default for a "bad arch" is
//!   to kill the thread; killing the process cannot leave a half-dead one.
//!   Allowing it instead would let `int 0x80` bypass a deny-list profile.
//!   Listed architectures foreign to this kernel (s390x on x86_64) can never
//!   occur and are ignored.
//!
//! Names unknown to an ABI are skipped for that ABI (runc does the same), so
//! one profile serves every architecture. As runc does, when the default
//! action denies (anything but ALLOW, LOG or TRACE), a call numbered above
//! the highest number the profile names for that ABI gets ENOSYS: system
//! calls newer than the profile look absent, and libc falls back instead of
//! failing with EPERM.
//!
//! # Installing
//!
//! `install` does not set no_new_privs: the kernel accepts a filter from a
//! process that has it or has CAP_SYS_ADMIN, and the caller orders it as
//! runc does (with `noNewPrivileges`: set it, drop capabilities, install
//! last; without: install while CAP_SYS_ADMIN is still held). The filter
//! applies to every call after it, execve included. With
//! `SCMP_ACT_NOTIFY` the filter is installed with
//! SECCOMP_FILTER_FLAG_NEW_LISTENER and the listener fd is returned for the
//! caller to hand to the agent at `listenerPath`; NOTIFY is refused as the
//! default action and for the calls that carry that fd out of the init
//! (`write`, `sendmsg`, `sendto`), which would otherwise wait forever for an
//! agent that cannot have it yet. `flags`: TSYNC, LOG, SPEC_ALLOW are passed
//! to the kernel; WAIT_KILLABLE_RECV only matters with a listener and is
//! passed only then.

mod bpf;
mod syscalls;
#[cfg(all(test, target_arch = "x86_64"))]
mod tests;

use std::os::fd::{FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use oci_spec::runtime::{
    Arch, LinuxSeccomp, LinuxSeccompAction, LinuxSeccompArg, LinuxSeccompFilterFlag,
    LinuxSeccompOperator, LinuxSyscall,
};
use seccompiler::{sock_filter, SeccompCmpOp};

use crate::error::{Error, Result};

/// The `linux.seccomp` part of the features document: what [`compile`]
/// accepts. (Every action and operator of runtime-spec is implemented.)
pub fn features() -> serde_json::Value {
    let native = if cfg!(target_arch = "x86_64") {
        vec!["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"]
    } else {
        vec!["SCMP_ARCH_AARCH64"]
    };
    serde_json::json!({
        "enabled": true,
        "actions": [
            "SCMP_ACT_ALLOW", "SCMP_ACT_ERRNO", "SCMP_ACT_KILL", "SCMP_ACT_KILL_PROCESS",
            "SCMP_ACT_KILL_THREAD", "SCMP_ACT_LOG", "SCMP_ACT_NOTIFY", "SCMP_ACT_TRACE",
            "SCMP_ACT_TRAP"
        ],
        "operators": [
            "SCMP_CMP_EQ", "SCMP_CMP_GE", "SCMP_CMP_GT", "SCMP_CMP_LE", "SCMP_CMP_LT",
            "SCMP_CMP_MASKED_EQ", "SCMP_CMP_NE"
        ],
        "archs": native,
        "knownFlags": [
            "SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_LOG",
            "SECCOMP_FILTER_FLAG_SPEC_ALLOW", "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"
        ],
        "supportedFlags": [
            "SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_LOG",
            "SECCOMP_FILTER_FLAG_SPEC_ALLOW", "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"
        ]
    })
}

/// What a container process needs to install its filter: the program, the
/// agent's socket for SCMP_ACT_NOTIFY, and the state to send it.
pub struct Installer<'a> {
    pub compiled: &'a Compiled,
    pub listener: Option<&'a OwnedFd>,
    pub state: &'a str,
}

impl Installer<'_> {
    pub fn install(&self) -> Result<()> {
        install_and_notify(self.compiled, self.listener, self.state)
    }
}

/// The seccomp agent's socket (`listenerPath`), connected in the runtime:
/// it is a host path, out of the container's reach.
/// Only a profile with SCMP_ACT_NOTIFY rules needs it (runc ignores the
/// path otherwise); the profile's notify rules are checked first, so their
/// error is not hidden behind a connection error.
pub(crate) fn connect_agent(seccomp: Option<&LinuxSeccomp>) -> Result<Option<OwnedFd>> {
    let Some(seccomp) = seccomp else {
        return Ok(None);
    };
    if !uses_notify(seccomp)? {
        return Ok(None);
    }
    let Some(path) = seccomp.listener_path().as_ref() else {
        return Ok(None);
    };
    // runc's words, which callers (and runc's own tests) match.
    let stream = std::os::unix::net::UnixStream::connect(path).map_err(|e| {
        Error::io(
            format!(
                "failed to connect with seccomp agent specified in the seccomp profile \
                 (linux.seccomp.listenerPath {})",
                path.display()
            ),
            e,
        )
    })?;
    Ok(Some(stream.into()))
}

/// Installs `compiled` in the calling process and, with SCMP_ACT_NOTIFY,
/// sends the listener fd to the agent over `listener` with the container
/// process state of runtime-spec config-linux.md (`fds: ["seccompFd"]`).
pub fn install_and_notify(
    compiled: &Compiled,
    listener: Option<&OwnedFd>,
    state: &str,
) -> Result<()> {
    let Some(notify_fd) = compiled.install()? else {
        return Ok(());
    };
    let socket = listener.ok_or_else(|| {
        Error::field(
            "linux.seccomp.listenerPath",
            "no connection to the seccomp agent",
        )
    })?;
    let message = agent_message(compiled, state, std::process::id());
    use std::os::fd::AsFd;
    crate::console::send_fd(socket.as_fd(), &message, notify_fd.as_fd())
        .map_err(|e| Error::field("linux.seccomp.listenerPath", e.to_string()))
}

/// The data part of the message that carries the listener fd to the seccomp
/// agent: the container process state of config-linux.md, with `state` (the
/// runtime-spec state document; anything unparsable becomes `null`).
pub fn agent_message(compiled: &Compiled, state: &str, pid: u32) -> String {
    let state: serde_json::Value = serde_json::from_str(state).unwrap_or_default();
    serde_json::json!({
        "ociVersion": crate::state::OCI_VERSION,
        "fds": ["seccompFd"],
        "pid": pid,
        "metadata": compiled.listener_metadata().unwrap_or_default(),
        "state": state,
    })
    .to_string()
}

/// A profile compiled to BPF, ready to install.
#[derive(Debug, Clone)]
pub struct Compiled {
    program: Vec<sock_filter>,
    flags: libc::c_ulong,
    listener_path: Option<PathBuf>,
    listener_metadata: Option<String>,
}

/// Whether the profile sends calls to an agent (SCMP_ACT_NOTIFY), checked
/// without compiling it: the runtime calls this before it connects to the
/// agent, so a profile runc refuses is refused first, in runc's words.
pub fn uses_notify(seccomp: &LinuxSeccomp) -> Result<bool> {
    if seccomp.default_action() == LinuxSeccompAction::ScmpActNotify {
        return Err(Error::field(
            "linux.seccomp.defaultAction",
            "SCMP_ACT_NOTIFY cannot be used as default action",
        ));
    }
    let mut notify = false;
    for (i, syscall) in seccomp.syscalls().iter().flatten().enumerate() {
        if syscall.action() != LinuxSeccompAction::ScmpActNotify {
            continue;
        }
        notify = true;
        for (j, name) in syscall.names().iter().enumerate() {
            if NOTIFY_FORBIDDEN.contains(&name.as_str()) {
                return Err(Error::field(
                    format!("linux.seccomp.syscalls[{i}].names[{j}]"),
                    format!("SCMP_ACT_NOTIFY cannot be used for the {name} syscall"),
                ));
            }
        }
    }
    if notify
        && seccomp
            .listener_path()
            .as_ref()
            .is_none_or(|p| p.as_os_str().is_empty())
    {
        return Err(Error::field(
            "linux.seccomp.listenerPath",
            "listenerPath is not set, and a rule uses SCMP_ACT_NOTIFY",
        ));
    }
    Ok(notify)
}

/// Calls that carry the listener fd out of the init after the filter is in
/// place: notifying them would deadlock the container's start.
const NOTIFY_FORBIDDEN: &[&str] = &["write", "sendmsg", "sendto"];

/// Compiled in the runtime before the init is cloned: every error here is a
/// create-time error naming the field (e.g. `linux.seccomp.syscalls[3].action`).
pub fn compile(seccomp: &LinuxSeccomp) -> Result<Compiled> {
    let default = action_ret(
        seccomp.default_action(),
        seccomp.default_errno_ret(),
        "linux.seccomp.defaultErrnoRet",
    )?;
    if default == libc::SECCOMP_RET_USER_NOTIF {
        return Err(Error::field(
            "linux.seccomp.defaultAction",
            "SCMP_ACT_NOTIFY cannot be used as default action: the init's own calls \
             before execve would wait for an agent that has no listener yet",
        ));
    }
    let abis = abis(seccomp.architectures().as_deref().unwrap_or_default());
    let mut plan = bpf::Plan::new(default, abis.x86, abis.x32);
    let mut notify = false;
    for (i, syscall) in seccomp.syscalls().iter().flatten().enumerate() {
        notify |= add_syscall(&mut plan, syscall, i)?;
    }
    plan.finish();
    let program = plan
        .generate()
        .map_err(|message| Error::field("linux.seccomp", message))?;

    let listener_path = seccomp.listener_path().clone();
    if notify
        && listener_path
            .as_ref()
            .is_none_or(|p| p.as_os_str().is_empty())
    {
        return Err(Error::field(
            "linux.seccomp.listenerPath",
            "listenerPath is not set, and a rule uses SCMP_ACT_NOTIFY: the agent's socket receives the listener fd",
        ));
    }
    let uses_listener = program
        .iter()
        .any(|insn| insn.code == bpf::RET && insn.k == libc::SECCOMP_RET_USER_NOTIF);
    Ok(Compiled {
        flags: filter_flags(
            seccomp.flags().as_deref().unwrap_or_default(),
            uses_listener,
        ),
        program,
        listener_path,
        listener_metadata: seccomp.listener_metadata().clone(),
    })
}

impl Compiled {
    /// Installs the filter in the calling thread/process, as late as possible
    /// before execve. Returns the seccomp user-notification fd when the
    /// profile uses SCMP_ACT_NOTIFY (the caller sends it to `listener_path()`).
    pub fn install(&self) -> Result<Option<OwnedFd>> {
        let rc = seccomp_set_mode_filter(&self.program, self.flags).map_err(|errno| {
            let hint = if errno == Errno::EACCES {
                " (the process needs no_new_privs or CAP_SYS_ADMIN)"
            } else {
                ""
            };
            Error::sys(
                format!(
                    "installing the seccomp filter (flags {:#x}){hint}",
                    self.flags
                ),
                errno,
            )
        })?;
        if self.flags & libc::SECCOMP_FILTER_FLAG_NEW_LISTENER == 0 {
            return Ok(None);
        }
        // SAFETY: with NEW_LISTENER, seccomp(2) returns a new fd that nothing
        // else owns.
        Ok(Some(unsafe { OwnedFd::from_raw_fd(rc) }))
    }

    pub fn listener_path(&self) -> Option<&Path> {
        self.listener_path.as_deref()
    }

    pub fn listener_metadata(&self) -> Option<&str> {
        self.listener_metadata.as_deref()
    }

    /// The program itself, for checks outside this module (the fuzz target
    /// verifies it the way the kernel's filter checker does).
    pub fn program(&self) -> &[sock_filter] {
        &self.program
    }

    /// Number of BPF instructions (the kernel accepts at most 4096).
    pub fn instruction_count(&self) -> usize {
        self.program.len()
    }
}

/// The compat ABIs the profile lists that this kernel can produce.
struct Abis {
    x86: bool,
    x32: bool,
}

fn abis(architectures: &[Arch]) -> Abis {
    let listed = |arch| cfg!(target_arch = "x86_64") && architectures.contains(&arch);
    Abis {
        x86: listed(Arch::ScmpArchX86),
        x32: listed(Arch::ScmpArchX32),
    }
}

/// Adds the rules of `syscalls[i]`; returns whether it uses NOTIFY.
fn add_syscall(plan: &mut bpf::Plan, syscall: &LinuxSyscall, i: usize) -> Result<bool> {
    let field = format!("linux.seccomp.syscalls[{i}]");
    let ret = action_ret(
        syscall.action(),
        syscall.errno_ret(),
        &format!("{field}.errnoRet"),
    )?;
    let notify = ret == libc::SECCOMP_RET_USER_NOTIF;
    let alternatives = conditions(syscall.args().as_deref().unwrap_or_default(), &field)?;
    for (j, name) in syscall.names().iter().enumerate() {
        if name.is_empty() {
            return Err(Error::field(
                format!("{field}.names[{j}]"),
                "empty; expected a system call name",
            ));
        }
        if notify && NOTIFY_FORBIDDEN.contains(&name.as_str()) {
            return Err(Error::field(
                format!("{field}.names[{j}]"),
                format!(
                    "SCMP_ACT_NOTIFY cannot be used for the {name} syscall: the runtime \
                     needs it to hand the listener fd to the agent"
                ),
            ));
        }
        plan.add(name, &alternatives, ret);
    }
    Ok(notify)
}

/// The `SECCOMP_RET_*` value of an action.
fn action_ret(
    action: LinuxSeccompAction,
    errno_ret: Option<u32>,
    errno_field: &str,
) -> Result<u32> {
    let data = |max: u32, default: i32| match errno_ret {
        None => Ok(default as u32),
        Some(value) if value <= max => Ok(value),
        Some(value) => Err(Error::field(
            errno_field,
            format!("{value} is out of range; expected 0 to {max}"),
        )),
    };
    Ok(match action {
        LinuxSeccompAction::ScmpActKill | LinuxSeccompAction::ScmpActKillThread => {
            libc::SECCOMP_RET_KILL_THREAD
        }
        LinuxSeccompAction::ScmpActKillProcess => libc::SECCOMP_RET_KILL_PROCESS,
        LinuxSeccompAction::ScmpActTrap => libc::SECCOMP_RET_TRAP,
        // The kernel clamps larger errno values to 4095 (MAX_ERRNO).
        LinuxSeccompAction::ScmpActErrno => libc::SECCOMP_RET_ERRNO | data(4095, libc::EPERM)?,
        LinuxSeccompAction::ScmpActTrace => {
            libc::SECCOMP_RET_TRACE | data(libc::SECCOMP_RET_DATA, libc::EPERM)?
        }
        LinuxSeccompAction::ScmpActLog => libc::SECCOMP_RET_LOG,
        LinuxSeccompAction::ScmpActNotify => libc::SECCOMP_RET_USER_NOTIF,
        LinuxSeccompAction::ScmpActAllow => libc::SECCOMP_RET_ALLOW,
    })
}

/// One argument comparison: `arg[index] <op> value`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Cond {
    pub index: u8,
    pub op: SeccompCmpOp,
    pub value: u64,
}

/// A rule's `args` as ORed alternatives of ANDed comparisons: one
/// alternative (possibly empty), or one per entry when an argument index
/// repeats (runc's rule).
fn conditions(args: &[LinuxSeccompArg], field: &str) -> Result<Vec<Vec<Cond>>> {
    let mut conds = Vec::with_capacity(args.len());
    let mut seen = [false; 6];
    let mut repeated = false;
    for (k, arg) in args.iter().enumerate() {
        let index = arg.index();
        if index > 5 {
            return Err(Error::field(
                format!("{field}.args[{k}].index"),
                format!("{index} is not an argument index; expected 0 to 5"),
            ));
        }
        repeated |= std::mem::replace(&mut seen[index], true);
        let (op, value) = match arg.op() {
            LinuxSeccompOperator::ScmpCmpNe => (SeccompCmpOp::Ne, arg.value()),
            LinuxSeccompOperator::ScmpCmpLt => (SeccompCmpOp::Lt, arg.value()),
            LinuxSeccompOperator::ScmpCmpLe => (SeccompCmpOp::Le, arg.value()),
            LinuxSeccompOperator::ScmpCmpEq => (SeccompCmpOp::Eq, arg.value()),
            LinuxSeccompOperator::ScmpCmpGe => (SeccompCmpOp::Ge, arg.value()),
            LinuxSeccompOperator::ScmpCmpGt => (SeccompCmpOp::Gt, arg.value()),
            LinuxSeccompOperator::ScmpCmpMaskedEq => (
                SeccompCmpOp::MaskedEq(arg.value()),
                arg.value_two().unwrap_or(0),
            ),
        };
        conds.push(Cond {
            index: index as u8,
            op,
            value,
        });
    }
    Ok(if repeated {
        conds.into_iter().map(|c| vec![c]).collect()
    } else {
        vec![conds]
    })
}

fn filter_flags(flags: &[LinuxSeccompFilterFlag], listener: bool) -> libc::c_ulong {
    let mut bits = 0;
    for flag in flags {
        bits |= match flag {
            LinuxSeccompFilterFlag::SeccompFilterFlagTsync => libc::SECCOMP_FILTER_FLAG_TSYNC,
            LinuxSeccompFilterFlag::SeccompFilterFlagLog => libc::SECCOMP_FILTER_FLAG_LOG,
            LinuxSeccompFilterFlag::SeccompFilterFlagSpecAllow => {
                libc::SECCOMP_FILTER_FLAG_SPEC_ALLOW
            }
            LinuxSeccompFilterFlag::SeccompFilterFlagWaitKillableRecv if listener => {
                libc::SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV
            }
            LinuxSeccompFilterFlag::SeccompFilterFlagWaitKillableRecv => 0,
        };
    }
    if listener {
        bits |= libc::SECCOMP_FILTER_FLAG_NEW_LISTENER;
        // TSYNC reports a failing thread id in the return value, which is the
        // listener fd here; TSYNC_ESRCH makes it an error instead.
        if bits & libc::SECCOMP_FILTER_FLAG_TSYNC != 0 {
            bits |= libc::SECCOMP_FILTER_FLAG_TSYNC_ESRCH;
        }
    }
    bits
}

/// seccomp(SECCOMP_SET_MODE_FILTER, flags, prog): the one system call of
/// `install`. Returns the syscall's non-negative result (the listener fd with
/// NEW_LISTENER).
fn seccomp_set_mode_filter(program: &[sock_filter], flags: libc::c_ulong) -> nix::Result<i32> {
    let len = u16::try_from(program.len()).map_err(|_| Errno::E2BIG)?;
    let fprog = libc::sock_fprog {
        len,
        // seccompiler's sock_filter is #[repr(C)] with the same fields as
        // the kernel's struct sock_filter (u16, u8, u8, u32).
        filter: program.as_ptr() as *mut libc::sock_filter,
    };
    // SAFETY: `fprog` points to `len` valid instructions that outlive the
    // call; the kernel only copies them in.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_SET_MODE_FILTER,
            flags,
            &fprog as *const libc::sock_fprog,
        )
    };
    if rc < 0 {
        return Err(Errno::last());
    }
    if flags & libc::SECCOMP_FILTER_FLAG_NEW_LISTENER == 0 && rc != 0 {
        // TSYNC without TSYNC_ESRCH: `rc` is a thread that could not sync.
        return Err(Errno::ESRCH);
    }
    i32::try_from(rc).map_err(|_| Errno::EOVERFLOW)
}
