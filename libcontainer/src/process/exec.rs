//! `exec`: a new process in a running container. The runtime clones it into
//! the container's PID namespace (setns for children, as for a joined PID
//! namespace at create), puts it in the init's cgroups, and the process
//! joins the other namespaces itself and applies its own attributes.
//!
//! The sync channel is close-on-exec: the runtime reads either a `Failed`
//! message or end-of-file, and end-of-file means execve succeeded.

use std::convert::Infallible;
use std::fs::File;
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;

use nix::fcntl::OFlag;
use nix::sched::CloneFlags;
use nix::sys::signal::{kill, Signal};
use nix::sys::stat::Mode;
use nix::sys::wait::waitpid;
use nix::unistd::{self, Pid};
use oci_spec::runtime::{LinuxNamespaceType, Process};

use super::attributes::{
    assume_identity, install_late_filter, reset_signals, take_terminal, Image,
};
use super::channel::{self, Channel, Message};
use super::scheduling;
use crate::console;
use crate::error::{Error, IoContext, Result, SysContext};
use crate::namespaces::{clone_flag, proc_name};
use crate::seccomp::Installer;
use crate::sys::{self, clone3_fork, Forked};

/// The order in which the exec'd process joins the container's namespaces:
/// user first (it grants the rights for the rest), mount last (it changes
/// root and cwd).
use crate::namespaces::JOIN_ORDER;

pub struct ExecArgs<'a> {
    pub init_pid: Pid,
    pub process: &'a Process,
    /// A connected console socket, when `process.terminal` is set.
    pub console_socket: Option<OwnedFd>,
    pub preserve_fds: u32,
    /// The container's `linux.seccomp` (compiled by the new process
    /// itself) and its agent's socket.
    pub seccomp: Option<&'a oci_spec::runtime::LinuxSeccomp>,
    pub seccomp_listener: Option<OwnedFd>,
    /// The container state, for the seccomp agent.
    pub state: String,
    /// The container's cgroup, which the process is cloned into (v2) and
    /// joins itself (v1).
    pub cgroup: Option<&'a crate::cgroups::Cgroup>,
    /// The container's `linux.personality`, which exec'd processes share.
    pub personality: Option<&'a oci_spec::runtime::LinuxPersonality>,
    /// Where namespace joins and identity changes go (see `InitArgs`).
    pub kernel: &'a dyn crate::kernel::Kernel,
}

struct NamespaceFd {
    typ: LinuxNamespaceType,
    fd: OwnedFd,
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (nix::sys::stat::stat(a), nix::sys::stat::stat(b)) {
        (Ok(a), Ok(b)) => a.st_dev == b.st_dev && a.st_ino == b.st_ino,
        _ => false,
    }
}

fn open_root_of(init: Pid) -> Result<OwnedFd> {
    let root = format!("/proc/{init}/root");
    nix::fcntl::open(
        root.as_str(),
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .ctx(|| format!("opening {root}"))
}

/// Every namespace of the init that is not also ours, opened.
fn container_namespaces(init: Pid) -> Result<Vec<NamespaceFd>> {
    let mut found = Vec::new();
    for typ in JOIN_ORDER.iter().copied().chain([LinuxNamespaceType::Pid]) {
        let theirs = format!("/proc/{init}/ns/{}", proc_name(typ));
        let ours = format!("/proc/self/ns/{}", proc_name(typ));
        if !Path::new(&theirs).exists() || same_file(Path::new(&theirs), Path::new(&ours)) {
            continue;
        }
        let fd: OwnedFd = File::open(&theirs)
            .io_ctx(|| format!("opening {theirs}"))?
            .into();
        found.push(NamespaceFd { typ, fd });
    }
    Ok(found)
}

/// Starts `args.process` in the container of `args.init_pid`; returns its
/// pid once it has exec'd. The caller is its parent.
pub fn spawn(args: ExecArgs<'_>) -> Result<Pid> {
    let namespaces = container_namespaces(args.init_pid)?;
    // A container in our own mount namespace is a chroot: its root is
    // only the init's, and the process must share it, not ours.
    let shared_ns_root = if namespaces
        .iter()
        .any(|ns| ns.typ == LinuxNamespaceType::Mount)
    {
        None
    } else {
        Some(open_root_of(args.init_pid)?)
    };
    let (parent_end, child_end) = channel::pair()?;

    let pid_ns = namespaces
        .iter()
        .find(|ns| ns.typ == LinuxNamespaceType::Pid);
    let own_pid_ns = match pid_ns {
        Some(target) => {
            let own: OwnedFd = File::open("/proc/self/ns/pid")
                .io_ctx(|| "opening /proc/self/ns/pid".to_string())?
                .into();
            args.kernel
                .setns(target.fd.as_fd(), CloneFlags::CLONE_NEWPID)
                .ctx(|| "joining the container's pid namespace".to_string())?;
            Some(own)
        }
        None => None,
    };
    let leaf = args.cgroup.map(|c| c.leaf_fd()).transpose()?.flatten();
    let forked = clone3_fork(0, leaf.as_ref().map(|fd| fd.as_fd()))
        .ctx(|| "cloning the exec process".to_string());
    if let Ok(Forked::Child) = forked {
        drop(parent_end);
        run(&args, &namespaces, shared_ns_root.as_ref(), child_end)
    }
    if let Some(own) = &own_pid_ns {
        args.kernel
            .setns(own.as_fd(), CloneFlags::CLONE_NEWPID)
            .ctx(|| "returning to the runtime's pid namespace".to_string())?;
    }
    let pid = match forked? {
        Forked::Parent(pid) => pid,
        Forked::Child => sys::exit_now(1),
    };
    drop(child_end);
    fail::fail_point!("exec:after-clone", |_| {
        let _ = kill(pid, Signal::SIGKILL);
        let _ = waitpid(pid, None);
        crate::error::failpoint("exec:after-clone")
    });
    let reap = |e: Error| {
        let _ = kill(pid, Signal::SIGKILL);
        let _ = waitpid(pid, None);
        e
    };
    parent_end.send(&Message::ExecGo).map_err(reap)?;
    match parent_end.recv().map_err(reap)? {
        None => Ok(pid),
        Some(Message::Failed(message)) => {
            let _ = waitpid(pid, None);
            Err(Error::Init(message))
        }
        Some(other) => Err(reap(Error::Init(format!(
            "exec process sent {other:?} where none was expected"
        )))),
    }
}

fn run(
    args: &ExecArgs<'_>,
    namespaces: &[NamespaceFd],
    shared_ns_root: Option<&OwnedFd>,
    channel: Channel,
) -> ! {
    match exec_in_container(args, namespaces, shared_ns_root, &channel) {
        Err(e) => {
            let _ = channel.send(&Message::Failed(e.to_string()));
            sys::exit_now(1)
        }
        Ok(never) => match never {},
    }
}

fn exec_in_container(
    args: &ExecArgs<'_>,
    namespaces: &[NamespaceFd],
    shared_ns_root: Option<&OwnedFd>,
    channel: &Channel,
) -> Result<Infallible> {
    // Until execve this process is a copy of the runtime inside the
    // container: nothing there may ptrace it or open its /proc files.
    nix::sys::prctl::set_dumpable(false).ctx(|| "prctl(PR_SET_DUMPABLE)".to_string())?;
    // A runtime that dies before the process is started takes it along:
    // half-made, it would run without anyone to report it.
    nix::sys::prctl::set_pdeathsig(Signal::SIGKILL)
        .ctx(|| "prctl(PR_SET_PDEATHSIG)".to_string())?;
    reset_signals()?;
    match channel.recv()? {
        Some(Message::ExecGo) => {}
        _ => sys::exit_now(1),
    }
    if let Some(cgroup) = args.cgroup {
        cgroup.join_v1_as_current_thread()?;
    }
    fail::fail_point!("exec:in-container", |_| crate::error::failpoint(
        "exec:in-container"
    ));
    for typ in JOIN_ORDER {
        if let Some(ns) = namespaces.iter().find(|ns| ns.typ == typ) {
            args.kernel
                .setns(ns.fd.as_fd(), clone_flag(typ))
                .ctx(|| format!("joining the container's {} namespace", proc_name(typ)))?;
        }
    }
    if let Some(root) = shared_ns_root {
        unistd::fchdir(root).ctx(|| "fchdir to the container's root".to_string())?;
        args.kernel
            .chroot(Path::new("."))
            .ctx(|| "chroot into the container's root".to_string())?;
        unistd::chdir("/").ctx(|| "chdir to the container's /".to_string())?;
    }
    let process = args.process;
    if let (Some(socket), true) = (&args.console_socket, process.terminal().unwrap_or(false)) {
        let slave = open_console(socket.as_fd(), process)?;
        take_terminal(slave)?;
    }
    let compiled = args.seccomp.map(crate::seccomp::compile).transpose()?;
    let seccomp = compiled.as_ref().map(|compiled| Installer {
        compiled,
        listener: args.seccomp_listener.as_ref(),
        state: &args.state,
    });
    // Both take effect at execve; set now, before any seccomp filter.
    crate::lsm::set_exec_labels(
        process.apparmor_profile().as_deref(),
        process.selinux_label().as_deref(),
    )?;
    scheduling::apply_personality(args.personality)?;
    // The channel is among the fds made close-on-exec: it closes on
    // execve, which is how the runtime learns that it succeeded.
    let Image { program, argv, env } =
        assume_identity(args.kernel, process, seccomp.as_ref(), args.preserve_fds)?;
    // The program must survive a `--detach` runtime exiting: no death
    // signal past execve. If the runtime died just before, stop here.
    nix::sys::prctl::set_pdeathsig(None).ctx(|| "prctl(PR_SET_PDEATHSIG)".to_string())?;
    if runtime_gone(channel) {
        sys::exit_now(1);
    }
    install_late_filter(process, seccomp.as_ref())?;
    let errno = unistd::execve(&program, &argv, &env).unwrap_err();
    Err(Error::sys(
        format!("exec {:?}", program.to_string_lossy()),
        errno,
    ))
}

/// Whether the runtime's end of the sync channel has closed.
fn runtime_gone(channel: &Channel) -> bool {
    let mut fds = [nix::poll::PollFd::new(
        channel.as_fd(),
        nix::poll::PollFlags::empty(),
    )];
    matches!(nix::poll::poll(&mut fds, nix::poll::PollTimeout::ZERO), Ok(n) if n > 0)
        && fds[0].revents().is_some_and(|r| {
            r.intersects(nix::poll::PollFlags::POLLHUP | nix::poll::PollFlags::POLLERR)
        })
}

fn open_console(socket: std::os::fd::BorrowedFd<'_>, process: &Process) -> Result<OwnedFd> {
    let master = nix::fcntl::open(
        "/dev/ptmx",
        OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .ctx(|| "process.terminal: opening /dev/ptmx in the container".to_string())?;
    let (slave, pts_name) = console::open_peer(master.as_fd(), process)?;
    console::send_fd(socket, &pts_name, master.as_fd())?;
    Ok(slave)
}
