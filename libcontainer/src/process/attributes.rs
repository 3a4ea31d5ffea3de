//! Attributes of a container process, shared by the init and by exec:
//! signals, rlimits, user and groups, the terminal, the program to run.

use std::ffi::CString;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use nix::sys::signal::{sigaction, SaFlags, SigAction, SigHandler, SigSet, SigmaskHow, Signal};
use nix::unistd::{self, Gid, Uid};
use oci_spec::runtime::{PosixRlimitType, Process};

use super::scheduling;
use crate::error::{Error, Result, SysContext};
use crate::seccomp::Installer;
use crate::{capabilities, sys};

const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// The runtime (Rust's std) ignores SIGPIPE and may block signals; a
/// container must start with the default dispositions and an empty mask.
pub(crate) fn reset_signals() -> Result<()> {
    nix::sys::signal::sigprocmask(SigmaskHow::SIG_SETMASK, Some(&SigSet::empty()), None)
        .ctx(|| "clearing the signal mask".to_string())?;
    let default = SigAction::new(SigHandler::SigDfl, SaFlags::empty(), SigSet::empty());
    for signal in Signal::iterator() {
        if matches!(signal, Signal::SIGKILL | Signal::SIGSTOP) {
            continue;
        }
        // SAFETY: installing SIG_DFL runs no code of ours in signal context.
        unsafe { sigaction(signal, &default) }.ctx(|| format!("resetting {signal}"))?;
    }
    Ok(())
}

fn rlimit_resource(typ: PosixRlimitType) -> libc::__rlimit_resource_t {
    match typ {
        PosixRlimitType::RlimitCpu => libc::RLIMIT_CPU,
        PosixRlimitType::RlimitFsize => libc::RLIMIT_FSIZE,
        PosixRlimitType::RlimitData => libc::RLIMIT_DATA,
        PosixRlimitType::RlimitStack => libc::RLIMIT_STACK,
        PosixRlimitType::RlimitCore => libc::RLIMIT_CORE,
        PosixRlimitType::RlimitRss => libc::RLIMIT_RSS,
        PosixRlimitType::RlimitNproc => libc::RLIMIT_NPROC,
        PosixRlimitType::RlimitNofile => libc::RLIMIT_NOFILE,
        PosixRlimitType::RlimitMemlock => libc::RLIMIT_MEMLOCK,
        PosixRlimitType::RlimitAs => libc::RLIMIT_AS,
        PosixRlimitType::RlimitLocks => libc::RLIMIT_LOCKS,
        PosixRlimitType::RlimitSigpending => libc::RLIMIT_SIGPENDING,
        PosixRlimitType::RlimitMsgqueue => libc::RLIMIT_MSGQUEUE,
        PosixRlimitType::RlimitNice => libc::RLIMIT_NICE,
        PosixRlimitType::RlimitRtprio => libc::RLIMIT_RTPRIO,
        PosixRlimitType::RlimitRttime => libc::RLIMIT_RTTIME,
    }
}

fn apply_rlimits(process: &Process) -> Result<()> {
    for (i, rlimit) in process
        .rlimits()
        .as_deref()
        .unwrap_or_default()
        .iter()
        .enumerate()
    {
        let limit = libc::rlimit {
            rlim_cur: rlimit.soft(),
            rlim_max: rlimit.hard(),
        };
        // SAFETY: setrlimit reads one rlimit struct from a live reference.
        let ret = unsafe { libc::setrlimit(rlimit_resource(rlimit.typ()), &limit) };
        nix::errno::Errno::result(ret).ctx(|| {
            format!(
                "process.rlimits[{i}]: setting {:?} to soft {} hard {}",
                rlimit.typ(),
                rlimit.soft(),
                rlimit.hard()
            )
        })?;
    }
    Ok(())
}

fn switch_user(process: &Process) -> Result<()> {
    let user = process.user();
    let groups: Vec<Gid> = user
        .additional_gids()
        .as_deref()
        .unwrap_or_default()
        .iter()
        .map(|g| Gid::from_raw(*g))
        .collect();
    // Keep the permitted set across the uid change; the sets are applied
    // right after.
    nix::sys::prctl::set_keepcaps(true).ctx(|| "prctl(PR_SET_KEEPCAPS)".to_string())?;
    match unistd::setgroups(&groups) {
        Ok(()) => {}
        // setgroups is denied in a user namespace whose gid_map was written
        // with setgroups=deny; only an empty list is then acceptable.
        Err(nix::errno::Errno::EPERM) if groups.is_empty() => {}
        Err(e) => {
            return Err(Error::sys(
                format!(
                    "process.user.additionalGids: setgroups({:?})",
                    user.additional_gids()
                ),
                e,
            ))
        }
    }
    let gid = Gid::from_raw(user.gid());
    unistd::setresgid(gid, gid, gid).ctx(|| format!("process.user.gid: setresgid({gid})"))?;
    let uid = Uid::from_raw(user.uid());
    unistd::setresuid(uid, uid, uid).ctx(|| format!("process.user.uid: setresuid({uid})"))?;
    nix::sys::prctl::set_keepcaps(false).ctx(|| "prctl(PR_SET_KEEPCAPS)".to_string())
}

fn to_cstrings(field: &str, items: &[String]) -> Result<Vec<CString>> {
    items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            CString::new(item.as_bytes())
                .map_err(|_| Error::field(format!("{field}[{i}]"), "contains a NUL byte"))
        })
        .collect()
}

/// args[0] resolved the way execvp would, with the container's PATH, so that
/// a missing program is a create-time error (as in runc).
fn find_program(process: &Process) -> Result<CString> {
    let args = process.args().as_deref().unwrap_or_default();
    let name = args
        .first()
        .ok_or_else(|| Error::field("process.args", "empty"))?;
    let not_found = || {
        Error::field(
            "process.args[0]",
            format!("exec: {name:?}: executable file not found in $PATH"),
        )
    };
    let candidates: Vec<PathBuf> = if name.contains('/') {
        vec![PathBuf::from(name)]
    } else {
        let path_var = process
            .env()
            .as_deref()
            .unwrap_or_default()
            .iter()
            .rev()
            .find_map(|e| e.strip_prefix("PATH="))
            .unwrap_or(DEFAULT_PATH);
        path_var
            .split(':')
            .map(|dir| Path::new(if dir.is_empty() { "." } else { dir }).join(name))
            .collect()
    };
    for candidate in &candidates {
        match std::fs::metadata(candidate) {
            Ok(meta) if meta.is_dir() => {
                if name.contains('/') {
                    return Err(Error::field(
                        "process.args[0]",
                        format!("exec: {name:?}: is a directory"),
                    ));
                }
            }
            Ok(_) => {
                if unistd::access(candidate.as_path(), unistd::AccessFlags::X_OK).is_ok() {
                    return CString::new(candidate.as_os_str().as_bytes()).map_err(|_| not_found());
                }
                if name.contains('/') {
                    return Err(Error::field(
                        "process.args[0]",
                        format!("exec: {name:?}: permission denied"),
                    ));
                }
            }
            // A path is not looked up in $PATH: say what stat said of it.
            Err(e) if name.contains('/') => {
                return Err(Error::field(
                    "process.args[0]",
                    format!("exec: {name:?}: stat {name}: {e}"),
                ));
            }
            Err(_) => {}
        }
    }
    Err(not_found())
}

/// Takes on the process's own limits and identity, in the order the kernel
/// allows: rlimits; scheduling (a real-time policy needs CAP_SYS_NICE);
/// without no_new_privs, the seccomp filter while CAP_SYS_ADMIN is still
/// held (as runc does); then capabilities and user. With no_new_privs the
/// caller installs the filter last, right before execve.
pub(crate) fn assume_identity(process: &Process, seccomp: Option<&Installer<'_>>) -> Result<()> {
    apply_rlimits(process)?;
    scheduling::apply_scheduler(process.scheduler().as_ref())?;
    scheduling::apply_io_priority(process.io_priority().as_ref())?;
    if !process.no_new_privileges().unwrap_or(false) {
        if let Some(seccomp) = seccomp {
            seccomp.install()?;
        }
    }
    let caps = process.capabilities().as_ref();
    capabilities::drop_bounding(caps)?;
    switch_user(process)?;
    capabilities::apply_process_sets(caps)
}

/// The late half of [`assume_identity`]: no_new_privs, then the filter.
pub(crate) fn seal_before_exec(process: &Process, seccomp: Option<&Installer<'_>>) -> Result<()> {
    if process.no_new_privileges().unwrap_or(false) {
        nix::sys::prctl::set_no_new_privs().ctx(|| "prctl(PR_SET_NO_NEW_PRIVS)".to_string())?;
        if let Some(seccomp) = seccomp {
            seccomp.install()?;
        }
    }
    Ok(())
}

/// What execve needs: the resolved program, argv and envp.
pub(crate) struct Image {
    pub program: CString,
    pub argv: Vec<CString>,
    pub env: Vec<CString>,
}

pub(crate) fn image(process: &Process) -> Result<Image> {
    let image = Image {
        env: to_cstrings("process.env", process.env().as_deref().unwrap_or_default())?,
        argv: to_cstrings(
            "process.args",
            process.args().as_deref().unwrap_or_default(),
        )?,
        program: find_program(process)?,
    };
    check_exec_size(&image)?;
    Ok(image)
}

/// The checks execve would fail with E2BIG, made now: once `start` has
/// released the init, a failing execve could only be told to the
/// container's stderr.
fn check_exec_size(image: &Image) -> Result<()> {
    /// The kernel's MAX_ARG_STRLEN: 32 pages of 4 KiB.
    const MAX_ARG_STRLEN: usize = 32 * 4096;
    for (field, list) in [("process.args", &image.argv), ("process.env", &image.env)] {
        if let Some((i, long)) = list
            .iter()
            .enumerate()
            .find(|(_, s)| s.as_bytes_with_nul().len() > MAX_ARG_STRLEN)
        {
            return Err(Error::field(
                format!("{field}[{i}]"),
                format!(
                    "{} bytes, longer than execve allows for one string ({MAX_ARG_STRLEN}): E2BIG",
                    long.as_bytes().len()
                ),
            ));
        }
    }
    // The total counts the pointers too; sysconf reflects the stack rlimit
    // just applied, as the kernel's own check does.
    // SAFETY: sysconf takes an int and touches no memory of ours.
    let limit = unsafe { libc::sysconf(libc::_SC_ARG_MAX) };
    let pointer = std::mem::size_of::<usize>();
    let total: usize = image
        .argv
        .iter()
        .chain(&image.env)
        .map(|s| s.as_bytes_with_nul().len() + pointer)
        .sum();
    if limit > 0 && total > limit as usize {
        return Err(Error::field(
            "process.args",
            format!("args and env take {total} bytes, more than execve allows ({limit}): E2BIG"),
        ));
    }
    Ok(())
}

/// chdir inside the container, refusing a cwd that resolves outside its
/// root (through a leaked fd, CVE-2024-21626 class): getcwd then reports
/// the path as unreachable.
pub(crate) fn enter_cwd(cwd: &Path) -> Result<()> {
    unistd::chdir(cwd).ctx(|| format!("process.cwd: chdir to {}", cwd.display()))?;
    let reached = unistd::getcwd().ctx(|| "getcwd".to_string())?;
    if !reached.is_absolute() || reached.starts_with("(unreachable)") {
        return Err(Error::field(
            "process.cwd",
            format!(
                "{} is outside the container's root filesystem",
                cwd.display()
            ),
        ));
    }
    Ok(())
}

/// Makes `tty` the controlling terminal of a new session and the process's
/// stdio.
pub(crate) fn take_terminal(tty: OwnedFd) -> Result<()> {
    unistd::setsid().ctx(|| "setsid".to_string())?;
    sys::set_controlling_terminal(tty.as_fd()).ctx(|| "TIOCSCTTY on the console".to_string())?;
    for target in 0..3 {
        // SAFETY: 0..3 are the standard fds, which this process owns;
        // dup2 replaces them atomically.
        let ret = unsafe { libc::dup2(tty.as_raw_fd(), target) };
        nix::errno::Errno::result(ret).ctx(|| format!("dup2 console onto fd {target}"))?;
    }
    Ok(())
}
