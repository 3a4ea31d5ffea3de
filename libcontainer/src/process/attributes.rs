//! Attributes of a container process, shared by the init and by exec:
//! signals, rlimits, user and groups, the terminal, the program to run.

use std::ffi::CString;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use nix::sys::signal::{sigaction, SaFlags, SigAction, SigHandler, SigSet, SigmaskHow, Signal};
use nix::sys::stat::{umask, Mode};
use nix::unistd::{self, Gid, Uid};
use oci_spec::runtime::{PosixRlimitType, Process};

use super::scheduling;
use crate::error::{Error, Result, SysContext};
use crate::kernel::Kernel;
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

fn switch_user(kernel: &dyn Kernel, process: &Process) -> Result<()> {
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
    match kernel.setgroups(&groups) {
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
    kernel
        .setresgid(gid)
        .ctx(|| format!("process.user.gid: setresgid({gid})"))?;
    let uid = Uid::from_raw(user.uid());
    kernel
        .setresuid(uid)
        .ctx(|| format!("process.user.uid: setresuid({uid})"))?;
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
            Ok(meta) => {
                use std::os::unix::fs::MetadataExt;
                if executable_by(meta.mode(), (meta.uid(), meta.gid()), process.user()) {
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

/// Whether the container's user may execute a file of this mode and owner,
/// by its mode bits: the lookup runs while the process is still root, whose
/// own answer would be yes for any file with an x bit. (POSIX ACLs are not
/// read; execve stays the final judge.)
fn executable_by(mode: u32, (owner, group): (u32, u32), user: &oci_spec::runtime::User) -> bool {
    if user.uid() == 0 {
        return mode & 0o111 != 0;
    }
    let in_group = group == user.gid()
        || user
            .additional_gids()
            .as_deref()
            .unwrap_or_default()
            .contains(&group);
    let bit = if owner == user.uid() {
        0o100
    } else if in_group {
        0o010
    } else {
        0o001
    };
    mode & bit != 0
}

/// Takes on the process's own limits and identity and readies its execve,
/// in the order the kernel allows, with every step a seccomp profile might
/// deny done before the filter:
///
/// 1. no_new_privs, first, as runc sets it (what the process runs from now
///    on, hooks included, inherits it); rlimits, then scheduling (a
///    real-time policy needs CAP_SYS_NICE);
/// 2. the fd sweep, the cwd (entered as root, so that a cwd only root can
///    enter still works for another user, as in runc), the program's lookup
///    and the hand-over of stdio to the user, while the process is root;
/// 3. without no_new_privs, the filter, while CAP_SYS_ADMIN is still held
///    (as runc does); then capabilities and user. With no_new_privs the
///    caller installs it next ([`install_late_filter`]).
///
/// After the filter come only the identity change (and a second chdir where
/// root was refused the cwd), the caller's own last steps and execve.
pub(crate) fn assume_identity(
    kernel: &dyn Kernel,
    process: &Process,
    seccomp: Option<&Installer<'_>>,
    preserve_fds: u32,
) -> Result<Image> {
    if process.no_new_privileges().unwrap_or(false) {
        nix::sys::prctl::set_no_new_privs().ctx(|| "prctl(PR_SET_NO_NEW_PRIVS)".to_string())?;
    }
    apply_rlimits(process)?;
    scheduling::apply_scheduler(process.scheduler().as_ref())?;
    scheduling::apply_io_priority(process.io_priority().as_ref())?;
    umask(Mode::from_bits_truncate(
        process.user().umask().unwrap_or(0o022) as libc::mode_t,
    ));
    // Nothing of the runtime's but stdio and the preserved fds reaches the
    // container (CVE-2024-21626 class).
    sys::cloexec_from(3 + preserve_fds)
        .ctx(|| "marking the runtime's fds close-on-exec".to_string())?;
    let cwd_entered = enter_cwd_as_root(process.cwd())?;
    let image = image(process)?;
    hand_stdio_to(process.user().uid())?;
    if !process.no_new_privileges().unwrap_or(false) {
        if let Some(seccomp) = seccomp {
            seccomp.install()?;
        }
    }
    let caps = process.capabilities().as_ref();
    capabilities::drop_bounding(caps)?;
    switch_user(kernel, process)?;
    capabilities::apply_process_sets(caps)?;
    if !cwd_entered {
        enter_cwd(process.cwd())?;
    }
    Ok(image)
}

/// Stdio, or the console the process has taken as stdio, belongs to the
/// container's user, as under runc: a program may reopen its own stdio
/// through /proc/self/fd or change its terminal's modes. /dev/null stays
/// root's; an fd whose owner or new owner the user namespace does not map,
/// or that lives on a read-only filesystem, is left as it is.
fn hand_stdio_to(uid: u32) -> Result<()> {
    use nix::sys::stat::{fstat, stat, SFlag};
    let null = stat("/dev/null").ok().map(|s| s.st_rdev);
    let (stdin, stdout, stderr) = (std::io::stdin(), std::io::stdout(), std::io::stderr());
    for (n, fd) in [stdin.as_fd(), stdout.as_fd(), stderr.as_fd()]
        .into_iter()
        .enumerate()
    {
        let Ok(st) = fstat(fd) else {
            continue; // not open
        };
        let is_null = SFlag::from_bits_truncate(st.st_mode).contains(SFlag::S_IFCHR)
            && Some(st.st_rdev) == null;
        if st.st_uid == uid || is_null {
            continue;
        }
        // The group stays: the filesystem may prefer its own.
        match unistd::fchown(fd, Some(Uid::from_raw(uid)), None) {
            Ok(())
            | Err(nix::errno::Errno::EINVAL)
            | Err(nix::errno::Errno::EPERM)
            | Err(nix::errno::Errno::EROFS) => {}
            Err(e) => return Err(Error::sys(format!("giving fd {n} to uid {uid}"), e)),
        }
    }
    Ok(())
}

/// The filter of a no_new_privs process, which needs no capability and so
/// comes after [`assume_identity`]: the init installs it before it reports
/// ready, as runc does (an agent gets its listener at create, and the
/// startContainer hooks run filtered); exec right before execve.
pub(crate) fn install_late_filter(
    process: &Process,
    seccomp: Option<&Installer<'_>>,
) -> Result<()> {
    match seccomp {
        Some(seccomp) if process.no_new_privileges().unwrap_or(false) => seccomp.install(),
        _ => Ok(()),
    }
}

/// What execve needs: the resolved program, argv and envp.
pub(crate) struct Image {
    pub program: CString,
    pub argv: Vec<CString>,
    pub env: Vec<CString>,
}

fn image(process: &Process) -> Result<Image> {
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

/// The first try at the cwd, as root: false when root was refused (a cwd
/// on a filesystem that squashes root, or in a user namespace that does
/// not map its owner), so the caller tries again as the user.
fn enter_cwd_as_root(cwd: &Path) -> Result<bool> {
    match unistd::chdir(cwd) {
        Err(nix::errno::Errno::EACCES | nix::errno::Errno::EPERM) => Ok(false),
        Err(e) => Err(Error::sys(
            format!("process.cwd: chdir to {}", cwd.display()),
            e,
        )),
        Ok(()) => check_cwd_inside(cwd).map(|()| true),
    }
}

/// chdir inside the container, refusing a cwd that resolves outside its
/// root (through a leaked fd, CVE-2024-21626 class): getcwd then reports
/// the path as unreachable.
fn enter_cwd(cwd: &Path) -> Result<()> {
    unistd::chdir(cwd).ctx(|| format!("process.cwd: chdir to {}", cwd.display()))?;
    check_cwd_inside(cwd)
}

fn check_cwd_inside(cwd: &Path) -> Result<()> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel::{Call, Recorder};

    fn process(user: serde_json::Value) -> Process {
        serde_json::from_value(serde_json::json!({"cwd": "/", "user": user})).unwrap()
    }

    #[test]
    fn the_user_switch_sets_groups_then_gid_then_uid() {
        let kernel = Recorder::default();
        let p = process(serde_json::json!({"uid": 1000, "gid": 1001, "additionalGids": [10, 20]}));
        switch_user(&kernel, &p).unwrap();
        assert_eq!(
            kernel.calls(),
            [
                Call::Setgroups(vec![10, 20]),
                Call::Setresgid(1001),
                Call::Setresuid(1000)
            ]
        );
    }

    #[test]
    fn no_groups_where_setgroups_is_denied_is_fine() {
        // A user namespace whose gid_map was written with setgroups=deny.
        let kernel = Recorder {
            refuse: Some((
                |call| matches!(call, Call::Setgroups(_)),
                nix::errno::Errno::EPERM,
            )),
            ..Recorder::default()
        };
        switch_user(&kernel, &process(serde_json::json!({"uid": 1, "gid": 1}))).unwrap();
        let p = process(serde_json::json!({"uid": 1, "gid": 1, "additionalGids": [5]}));
        let err = switch_user(&kernel, &p).unwrap_err().to_string();
        assert!(err.contains("process.user.additionalGids"), "{err}");
    }

    #[test]
    fn a_refused_uid_names_the_field() {
        let kernel = Recorder {
            refuse: Some((
                |call| matches!(call, Call::Setresuid(_)),
                nix::errno::Errno::EINVAL,
            )),
            ..Recorder::default()
        };
        let err = switch_user(
            &kernel,
            &process(serde_json::json!({"uid": 70000, "gid": 0})),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("process.user.uid: setresuid(70000)"), "{err}");
    }

    #[test]
    fn executable_by_reads_the_bits_of_the_user_s_class() {
        let user = |json| process(json).user().clone();
        let owner = user(serde_json::json!({"uid": 1000, "gid": 1000}));
        let member = user(serde_json::json!({"uid": 2000, "gid": 1, "additionalGids": [1000]}));
        let other = user(serde_json::json!({"uid": 3000, "gid": 3000}));
        let root = user(serde_json::json!({"uid": 0, "gid": 0}));
        let file = (1000, 1000);
        assert!(executable_by(0o700, file, &owner));
        assert!(!executable_by(0o700, file, &member));
        assert!(executable_by(0o010, file, &member));
        assert!(!executable_by(0o010, file, &owner));
        assert!(executable_by(0o001, file, &other));
        assert!(!executable_by(0o770, file, &other));
        assert!(executable_by(0o001, file, &root));
        assert!(!executable_by(0o600, file, &root));
    }
}
