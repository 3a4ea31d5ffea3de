//! The container's init process: cloned by the runtime straight into its
//! namespaces (no re-exec of the runtime binary), driven through the stages
//! of [`channel`], and left blocked on the exec fifo until `start`.

mod attributes;
pub mod channel;
pub mod exec;
pub mod init;
pub(crate) mod scheduling;

use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;

use nix::sys::signal::{kill, Signal};
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::Pid;
use oci_spec::runtime::{LinuxIdMapping, LinuxNamespaceType, Spec};

use crate::error::{Error, IoContext, Result, SysContext};
use crate::namespaces::Plan;
use crate::rootfs::bind_source::BindSources;
use crate::sys::{clone3_fork, Forked};
use channel::{Channel, Message};

/// Everything the init needs; it lives in the parent's memory and the child
/// gets its copy through clone3's fork semantics.
pub struct InitArgs<'a> {
    pub id: &'a str,
    pub spec: &'a Spec,
    pub bundle: &'a Path,
    pub rootfs: &'a Path,
    pub fifo: &'a Path,
    pub plan: &'a Plan,
    /// A connected console socket, when `process.terminal` is set.
    pub console_socket: Option<OwnedFd>,
    pub preserve_fds: u32,
    pub no_pivot: bool,
    pub no_new_keyring: bool,
    /// `linux.seccomp`, compiled by the init itself (so the compiler's code
    /// is never resident in the runtime), and a connected socket to its
    /// `listenerPath` when it uses SCMP_ACT_NOTIFY.
    pub seccomp: Option<&'a oci_spec::runtime::LinuxSeccomp>,
    pub seccomp_listener: Option<OwnedFd>,
    /// The container's cgroup: the init is cloned into its cgroup2 part
    /// and joins the v1 hierarchies itself, first thing.
    pub cgroup: Option<&'a crate::cgroups::Cgroup>,
    /// Where mounts, namespaces and identity changes go: the real kernel,
    /// or a recorder in unit tests.
    pub kernel: &'a dyn crate::kernel::Kernel,
}

/// The init, as seen from the parent while it is being set up: killed and
/// reaped if the setup fails at any point.
pub struct InitProcess {
    pub pid: Pid,
    channel: Channel,
    armed: bool,
}

impl InitProcess {
    /// Reads the next stage message; a `Failed` or a hang-up becomes an error
    /// that says what the init reported.
    fn expect(&mut self, wanted: &Message) -> Result<Option<Message>> {
        match self.channel.recv()? {
            Some(Message::Failed(message)) => Err(Error::Init(message)),
            Some(message) if std::mem::discriminant(&message) == std::mem::discriminant(wanted) => {
                Ok(Some(message))
            }
            Some(other) => Err(Error::Init(format!(
                "container init sent {other:?} while {wanted:?} was expected"
            ))),
            None => Err(Error::Init(self.describe_exit())),
        }
    }

    fn describe_exit(&mut self) -> String {
        self.armed = false;
        match waitpid(self.pid, None) {
            Ok(WaitStatus::Exited(_, code)) => {
                format!("container init exited with status {code} before it was ready")
            }
            Ok(WaitStatus::Signaled(_, signal, _)) => {
                format!("container init was killed by {signal} before it was ready")
            }
            _ => "container init went away before it was ready".to_string(),
        }
    }

    /// Setup succeeded: the init now lives on its own.
    pub fn release(mut self) -> Pid {
        self.armed = false;
        self.pid
    }
}

impl Drop for InitProcess {
    fn drop(&mut self) {
        if self.armed {
            let _ = kill(self.pid, Signal::SIGKILL);
            let _ = waitpid(self.pid, None);
        }
    }
}

/// Clones the init and takes it up to `NamespacesReady`.
pub fn spawn(args: InitArgs<'_>) -> Result<InitProcess> {
    let (parent_end, init_end) = channel::pair()?;
    // Taken while we are still the host's root; the init inherits the fds.
    let bind_sources = BindSources::open(
        args.spec,
        args.bundle,
        args.plan.has(LinuxNamespaceType::User),
    )?;
    let for_children = args.plan.enter_for_children(args.kernel)?;
    let leaf = args.cgroup.map(|c| c.leaf_fd()).transpose()?.flatten();
    let forked = clone3_fork(
        args.plan.clone_flags().bits() as u64,
        leaf.as_ref().map(|fd| fd.as_fd()),
    )
    .ctx(|| "cloning the container init".to_string());
    let pid = match forked {
        Ok(Forked::Child) => {
            // The child stays where it was cloned: the way back is the parent's.
            std::mem::forget(for_children);
            drop(parent_end);
            init::run(args, init_end, bind_sources)
        }
        Ok(Forked::Parent(pid)) => pid,
        Err(e) => return Err(e),
    };
    drop(init_end);
    drop(bind_sources);
    let mut process = InitProcess {
        pid,
        channel: parent_end,
        armed: true,
    };
    // Back in our own namespaces before anything else is done.
    for_children.leave()?;
    if args.plan.is_new(LinuxNamespaceType::User) {
        write_id_mappings(pid, args.spec)?;
        process.channel.send(&Message::MappingsWritten)?;
    }
    process.expect(&Message::NamespacesReady)?;
    Ok(process)
}

/// Lets the init build the container and waits until it is ready.
pub fn build(process: &mut InitProcess, state_json: String) -> Result<()> {
    process
        .channel
        .send(&Message::BuildContainer { state: state_json })?;
    process.expect(&Message::Ready)?;
    Ok(())
}

fn mapping_text(mappings: &[LinuxIdMapping]) -> String {
    mappings
        .iter()
        .map(|m| format!("{} {} {}\n", m.container_id(), m.host_id(), m.size()))
        .collect()
}

fn write_id_mappings(pid: Pid, spec: &Spec) -> Result<()> {
    let linux = spec.linux().as_ref();
    let uid = mapping_text(
        linux
            .and_then(|l| l.uid_mappings().as_deref())
            .unwrap_or_default(),
    );
    let gid = mapping_text(
        linux
            .and_then(|l| l.gid_mappings().as_deref())
            .unwrap_or_default(),
    );
    std::fs::write(format!("/proc/{pid}/uid_map"), &uid)
        .io_ctx(|| format!("linux.uidMappings: writing {uid:?}"))?;
    std::fs::write(format!("/proc/{pid}/gid_map"), &gid)
        .io_ctx(|| format!("linux.gidMappings: writing {gid:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mappings_are_one_line_each() {
        let mappings: Vec<LinuxIdMapping> = serde_json::from_str(
            r#"[{"containerID":0,"hostID":100000,"size":65536},{"containerID":65536,"hostID":1,"size":1}]"#,
        )
        .unwrap();
        assert_eq!(mapping_text(&mappings), "0 100000 65536\n65536 1 1\n");
    }
}
