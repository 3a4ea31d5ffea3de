//! Code that runs in the container's init, between clone and execve.
//!
//! The runtime is single-threaded, so the child of clone3 is an ordinary
//! copy of it: allocation is safe here. What is not safe is returning into
//! the parent's code paths, so every way out is execve or `_exit`.

use std::convert::Infallible;
use std::ffi::CString;
use std::io::Write;
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;

use nix::fcntl::OFlag;
use nix::mount::MsFlags;
use nix::sys::stat::{umask, Mode};
use nix::unistd::{self, Gid, Uid};
use oci_spec::runtime::{LinuxNamespaceType, Process};

use super::attributes::{
    assume_identity, install_late_filter, reset_signals, take_terminal, Image,
};
use super::channel::{Channel, Message, StartReply};
use super::{scheduling, InitArgs};
use crate::error::{Error, IoContext, Result, SysContext};
use crate::kernel::Kernel;
use crate::rootfs::bind_source::BindSources;
use crate::rootfs::{
    self, cgroup, jail::Jail, path::ensure_in_root, path::fd_path, path::open_in_root, path::Kind,
};
use crate::seccomp::{Compiled, Installer};
use crate::{console, hooks, sys};

/// Entry point of the child. Never returns.
pub fn run(args: InitArgs<'_>, channel: Channel, bind_sources: BindSources) -> ! {
    let prepared = match build(&args, &channel, &bind_sources) {
        Ok(Some(prepared)) => prepared,
        // The parent went away without a word: nothing to report to.
        Ok(None) => sys::exit_now(1),
        Err(e) => {
            let _ = channel.send(&Message::Failed(e.to_string()));
            sys::exit_now(1)
        }
    };
    drop(channel);
    // From here on the runtime that created us may be gone: errors go to the
    // container's own stderr, as they would from the program itself.
    let Err(e) = wait_for_start_and_exec(&args, prepared);
    let _ = writeln!(std::io::stderr(), "berth-runtime init: {e}");
    sys::exit_now(127)
}

/// What `build` leaves for the final step.
struct Prepared {
    fifo: OwnedFd,
    program: CString,
    argv: Vec<CString>,
    env: Vec<CString>,
}

fn build(
    args: &InitArgs<'_>,
    channel: &Channel,
    bind_sources: &BindSources,
) -> Result<Option<Prepared>> {
    let spec = args.spec;
    let process = spec
        .process()
        .as_ref()
        .ok_or_else(|| Error::field("process", "missing"))?;
    // Until execve the process holds the runtime's memory and fds: no one
    // may ptrace it or open its /proc files (CVE-2019-5736 class).
    nix::sys::prctl::set_dumpable(false).ctx(|| "prctl(PR_SET_DUMPABLE)".to_string())?;
    reset_signals()?;
    umask(Mode::empty());
    if let Some(score) = process.oom_score_adj() {
        std::fs::write("/proc/self/oom_score_adj", score.to_string())
            .io_ctx(|| format!("process.oomScoreAdj: writing {score}"))?;
    }

    if let Some(cgroup) = args.cgroup {
        // Before anything is charged or counted: this process is still the
        // only thread, which makes the v1 joins cheap (see the method).
        cgroup.join_v1_as_current_thread()?;
    }
    // Compiled here rather than in the runtime: the compiler's code and
    // tables are then never resident in the runtime process, and a bad
    // profile still fails create, with its field named.
    let seccomp = args.seccomp.map(crate::seccomp::compile).transpose()?;

    if args.plan.is_new(LinuxNamespaceType::User) {
        match channel.recv()? {
            Some(Message::MappingsWritten) => {}
            Some(other) => return Err(Error::Init(format!("unexpected {other:?} from runtime"))),
            None => return Ok(None),
        }
        become_root_in_user_namespace(args.kernel)?;
    }
    args.plan.join_in_init(args.kernel)?;
    args.plan.unshare_in_init(args.kernel)?;

    fail::fail_point!("init:after-namespaces", |_| crate::error::failpoint(
        "init:after-namespaces"
    ));
    channel.send(&Message::NamespacesReady)?;
    let state = match channel.recv()? {
        Some(Message::BuildContainer { state }) => state,
        Some(other) => return Err(Error::Init(format!("unexpected {other:?} from runtime"))),
        None => return Ok(None),
    };

    let has_cgroup_mount = spec
        .mounts()
        .as_deref()
        .unwrap_or_default()
        .iter()
        .any(|m| matches!(m.typ().as_deref(), Some("cgroup" | "cgroup2")));
    let cgroup_sources = if has_cgroup_mount {
        cgroup::sources()?
    } else {
        Vec::new()
    };
    if args.plan.is_new(LinuxNamespaceType::Cgroup) {
        args.kernel
            .unshare(nix::sched::CloneFlags::CLONE_NEWCGROUP)
            .ctx(|| "creating cgroup namespace".to_string())?;
    }
    set_names(spec, args.kernel)?;
    if args.plan.is_new(LinuxNamespaceType::Network) {
        crate::sys::loopback_up()
            .ctx(|| "bringing up lo in the new network namespace".to_string())?;
    }
    if !args.no_new_keyring {
        join_keyring(args.id)?;
    }

    let in_user_ns = args.plan.has(LinuxNamespaceType::User);
    let ctx = rootfs::Context {
        spec,
        rootfs: args.rootfs,
        bundle: args.bundle,
        in_user_ns,
        cgroup_sources: &cgroup_sources,
        bind_sources,
        kernel: args.kernel,
    };
    // Without a mount namespace of its own the container shares the
    // caller's (runc allows it): its mounts are made there, under the rootfs,
    // and the caller's / keeps the propagation it has.
    let own_mount_ns = args.plan.has(LinuxNamespaceType::Mount);
    if own_mount_ns {
        rootfs::prepare(args.kernel, spec)?;
    }
    let root = rootfs::bind_rootfs(args.kernel, args.rootfs)?;
    rootfs::mount_all(root.as_fd(), &ctx)?;
    fail::fail_point!("init:after-mounts", |_| crate::error::failpoint(
        "init:after-mounts"
    ));
    rootfs::setup_dev(root.as_fd(), &ctx)?;
    let console_slave = match (&args.console_socket, process.terminal().unwrap_or(false)) {
        (Some(socket), true) => Some(create_console(
            args.kernel,
            root.as_fd(),
            socket.as_fd(),
            process,
        )?),
        _ => None,
    };
    // The cwd is made now, as root and inside the rootfs, like runc does.
    ensure_in_root(root.as_fd(), process.cwd(), Kind::Dir)
        .map_err(|e| Error::field("process.cwd", e.to_string()))?;

    if let Some(list) = spec
        .hooks()
        .as_ref()
        .and_then(|h| h.create_container().as_deref())
    {
        let place = hooks::InContainer {
            cwd: args.rootfs,
            env: process.env().as_deref().unwrap_or_default(),
        };
        hooks::run_all("createContainer", list, state.as_bytes(), &place)?;
    }
    let fifo = nix::fcntl::open(args.fifo, OFlag::O_PATH | OFlag::O_CLOEXEC, Mode::empty())
        .ctx(|| format!("opening {}", args.fifo.display()))?;
    let has_masks = spec
        .linux()
        .as_ref()
        .and_then(|l| l.masked_paths().as_ref())
        .is_some_and(|paths| !paths.is_empty());
    let null = has_masks
        .then(|| rootfs::open_null(root.as_fd()))
        .transpose()?;
    drop(root);

    rootfs::jail::enter(
        args.kernel,
        args.rootfs,
        Jail::choose(own_mount_ns, args.no_pivot),
    )?;
    fail::fail_point!("init:after-pivot", |_| crate::error::failpoint(
        "init:after-pivot"
    ));
    // Before finalize: /proc/sys is usually among the read-only paths.
    apply_sysctl(spec)?;
    rootfs::finalize(args.kernel, spec, null.as_ref().map(|fd| fd.as_fd()))?;
    if own_mount_ns {
        rootfs::jail::apply_root_propagation(args.kernel, spec)?;
    }

    if let Some(slave) = console_slave {
        take_terminal(slave)?;
    }

    // Both take effect at execve; set now, before any seccomp filter.
    crate::lsm::set_exec_labels(
        process.apparmor_profile().as_deref(),
        process.selinux_label().as_deref(),
    )?;
    scheduling::apply_personality(spec.linux().as_ref().and_then(|l| l.personality().as_ref()))?;
    let installer = seccomp_installer(args, seccomp.as_ref(), &state);
    let Image { program, argv, env } =
        assume_identity(args.kernel, process, installer.as_ref(), args.preserve_fds)?;
    install_late_filter(process, installer.as_ref())?;

    fail::fail_point!("init:before-ready", |_| crate::error::failpoint(
        "init:before-ready"
    ));
    channel.send(&Message::Ready)?;
    Ok(Some(Prepared {
        fifo,
        program,
        argv,
        env,
    }))
}

fn wait_for_start_and_exec(args: &InitArgs<'_>, prepared: Prepared) -> Result<Infallible> {
    // Blocks until `start` opens the other end.
    let mut fifo = std::fs::OpenOptions::new()
        .write(true)
        .open(fd_path(prepared.fifo.as_fd()))
        .io_ctx(|| "opening exec fifo".to_string())?;
    match run_start_hooks_and_exec(args, &prepared) {
        Err(e) => {
            // `start` is waiting on the fifo: it reports this, not "0".
            let _ = fifo.write_all(&StartReply::Failed(e.to_string()).encode());
            Err(e)
        }
        Ok(exec) => {
            // `start` opened the fifo: the container is started even if that
            // runtime has died since. Its "0" is a courtesy, so a reader
            // that went away (EPIPE) must not kill us with SIGPIPE.
            ignore_sigpipe(true)?;
            let _ = fifo.write_all(&StartReply::Started.encode());
            ignore_sigpipe(false)?;
            // The fifo is close-on-exec: `start` sees it close as we exec.
            exec()
        }
    }
}

/// Runs the startContainer hooks and readies everything that can fail
/// before execve; returns the execve itself, the only step left.
fn run_start_hooks_and_exec<'p>(
    args: &InitArgs<'_>,
    prepared: &'p Prepared,
) -> Result<impl FnOnce() -> Result<Infallible> + 'p> {
    if let Some(list) = args
        .spec
        .hooks()
        .as_ref()
        .and_then(|h| h.start_container().as_deref())
    {
        let state = start_state(args);
        let process = args.spec.process().as_ref();
        let place = hooks::InContainer {
            cwd: process.map_or(Path::new("/"), |p| p.cwd()),
            env: process.and_then(|p| p.env().as_deref()).unwrap_or_default(),
        };
        hooks::run_all("startContainer", list, state.as_bytes(), &place)?;
    }
    Ok(move || {
        let errno = unistd::execve(&prepared.program, &prepared.argv, &prepared.env).unwrap_err();
        Err(Error::sys(
            format!("exec {:?}", prepared.program.to_string_lossy()),
            errno,
        ))
    })
}

fn seccomp_installer<'a>(
    args: &'a InitArgs<'_>,
    compiled: Option<&'a Compiled>,
    state: &'a str,
) -> Option<Installer<'a>> {
    compiled.map(|compiled| Installer {
        compiled,
        listener: args.seccomp_listener.as_ref(),
        state,
    })
}

fn ignore_sigpipe(ignore: bool) -> Result<()> {
    use nix::sys::signal::{sigaction, SaFlags, SigAction, SigHandler, SigSet, Signal};
    let handler = if ignore {
        SigHandler::SigIgn
    } else {
        SigHandler::SigDfl
    };
    let action = SigAction::new(handler, SaFlags::empty(), SigSet::empty());
    // SAFETY: SIG_IGN and SIG_DFL run no code of ours in signal context.
    unsafe { sigaction(Signal::SIGPIPE, &action) }
        .map(drop)
        .ctx(|| "setting SIGPIPE".to_string())
}

/// The state a startContainer hook reads: the init is us.
fn start_state(args: &InitArgs<'_>) -> String {
    serde_json::json!({
        "ociVersion": crate::state::OCI_VERSION,
        "id": args.id,
        "status": "created",
        "pid": std::process::id(),
        "bundle": args.bundle,
        "annotations": args.spec.annotations().clone().unwrap_or_default(),
    })
    .to_string()
}

fn set_names(spec: &oci_spec::runtime::Spec, kernel: &dyn Kernel) -> Result<()> {
    if let Some(hostname) = spec.hostname().as_deref().filter(|h| !h.is_empty()) {
        kernel
            .sethostname(hostname)
            .ctx(|| format!("hostname: setting {hostname:?}"))?;
    }
    if let Some(domain) = spec.domainname().as_deref().filter(|d| !d.is_empty()) {
        kernel
            .setdomainname(domain)
            .ctx(|| format!("domainname: setting {domain:?}"))?;
    }
    Ok(())
}

fn become_root_in_user_namespace(kernel: &dyn Kernel) -> Result<()> {
    // Container root may be unmapped; then we keep the overflow identity and
    // the namespace's full capabilities, which is all setup needs.
    match kernel.setresgid(Gid::from_raw(0)) {
        Ok(()) | Err(nix::errno::Errno::EINVAL) => {}
        Err(e) => return Err(Error::sys("setresgid(0) in the user namespace", e)),
    }
    match kernel.setresuid(Uid::from_raw(0)) {
        Ok(()) | Err(nix::errno::Errno::EINVAL) => Ok(()),
        Err(e) => Err(Error::sys("setresuid(0) in the user namespace", e)),
    }
}

fn join_keyring(id: &str) -> Result<()> {
    let name = CString::new(format!("_ses.{id}")).map_err(|_| Error::InvalidId {
        id: id.to_string(),
        reason: "contains a NUL byte",
    })?;
    match sys::join_session_keyring(&name) {
        // No keyring support, or refused by policy: runc carries on too.
        Ok(()) | Err(nix::errno::Errno::ENOSYS) | Err(nix::errno::Errno::EACCES) => Ok(()),
        Err(e) => Err(Error::sys("joining a new session keyring", e)),
    }
}

fn create_console(
    kernel: &dyn Kernel,
    root: std::os::fd::BorrowedFd<'_>,
    socket: std::os::fd::BorrowedFd<'_>,
    process: &Process,
) -> Result<OwnedFd> {
    let master = open_in_root(
        root,
        Path::new("/dev/ptmx"),
        OFlag::O_RDWR | OFlag::O_NOCTTY,
    )
    .ctx(|| {
        "process.terminal: opening /dev/ptmx in the container (is /dev/pts mounted?)".to_string()
    })?;
    let (slave, pts_name) = console::open_peer(master.as_fd(), process)?;
    let console = ensure_in_root(root, Path::new("/dev/console"), Kind::File)?;
    kernel
        .mount(
            Some(&fd_path(slave.as_fd())),
            &fd_path(console.as_fd()),
            None,
            MsFlags::MS_BIND,
            None,
        )
        .ctx(|| "binding the pty onto /dev/console".to_string())?;
    console::send_fd(socket, &pts_name, master.as_fd())?;
    Ok(slave)
}

fn apply_sysctl(spec: &oci_spec::runtime::Spec) -> Result<()> {
    let Some(sysctl) = spec.linux().as_ref().and_then(|l| l.sysctl().as_ref()) else {
        return Ok(());
    };
    let proc = crate::procfs::ProcFs::open()?;
    for (key, value) in sysctl {
        let relative = Path::new("sys").join(key.replace('.', "/").trim_start_matches('/'));
        proc.write(&relative, value.as_bytes()).map_err(|e| {
            Error::field(
                format!("linux.sysctl.{key}"),
                format!("setting {value:?}: {e}"),
            )
        })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel::{Call, Recorder};

    #[test]
    fn an_unmapped_root_keeps_the_overflow_identity() {
        let kernel = Recorder {
            refuse: Some((|_| true, nix::errno::Errno::EINVAL)),
            ..Recorder::default()
        };
        become_root_in_user_namespace(&kernel).unwrap();
        assert_eq!(kernel.calls(), [Call::Setresgid(0), Call::Setresuid(0)]);
    }

    #[test]
    fn empty_names_are_left_alone() {
        let spec: oci_spec::runtime::Spec = serde_json::from_value(serde_json::json!({
            "ociVersion": "1.0.2", "root": {"path": "rootfs"},
            "hostname": "box", "domainname": ""
        }))
        .unwrap();
        let kernel = Recorder::default();
        set_names(&spec, &kernel).unwrap();
        assert_eq!(kernel.calls(), [Call::Sethostname("box".into())]);
    }
}
