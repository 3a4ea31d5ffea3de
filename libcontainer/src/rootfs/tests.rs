//! Which mounts, in which order, with which flags: the rootfs steps run
//! against the recording kernel in a scratch directory, without root.

use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::mount::MsFlags;
use nix::sys::stat::{makedev, SFlag};
use oci_spec::runtime::Spec;

use super::bind_source::BindSources;
use super::{mount_all, setup_dev, Context};
use crate::kernel::{Call, Recorder};

struct Scratch {
    dir: PathBuf,
}

impl Scratch {
    fn new(name: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!("berth-rootfs-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("rootfs")).unwrap();
        Scratch {
            dir: std::fs::canonicalize(&dir).unwrap(),
        }
    }

    fn rootfs(&self) -> PathBuf {
        self.dir.join("rootfs")
    }

    fn root_fd(&self) -> OwnedFd {
        nix::fcntl::open(
            &self.rootfs(),
            nix::fcntl::OFlag::O_PATH | nix::fcntl::OFlag::O_DIRECTORY,
            nix::sys::stat::Mode::empty(),
        )
        .unwrap()
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn spec(mounts: serde_json::Value) -> Spec {
    serde_json::from_value(serde_json::json!({
        "ociVersion": "1.0.2",
        "root": {"path": "rootfs"},
        "mounts": mounts,
    }))
    .unwrap()
}

fn context<'a>(
    scratch: &'a Scratch,
    rootfs: &'a Path,
    spec: &'a Spec,
    kernel: &'a Recorder,
    bind_sources: &'a BindSources,
) -> Context<'a> {
    Context {
        spec,
        rootfs,
        bundle: &scratch.dir,
        in_user_ns: false,
        cgroup_sources: &[],
        bind_sources,
        kernel,
    }
}

fn mount(
    source: &str,
    target: PathBuf,
    fstype: Option<&str>,
    flags: MsFlags,
    data: Option<&str>,
) -> Call {
    Call::Mount {
        source: Some(PathBuf::from(source)),
        target,
        fstype: fstype.map(str::to_string),
        flags,
        data: data.map(str::to_string),
    }
}

#[test]
fn each_mount_gets_its_type_flags_and_data_in_order() {
    let scratch = Scratch::new("order");
    let rootfs = scratch.rootfs();
    let spec = spec(serde_json::json!([
        {"destination": "/proc", "type": "proc", "source": "proc"},
        {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
         "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
        {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
         "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
        {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
         "options": ["nosuid", "noexec", "nodev"]}
    ]));
    let kernel = Recorder::default();
    let sources = BindSources::default();
    let ctx = context(&scratch, &rootfs, &spec, &kernel, &sources);
    mount_all(scratch.root_fd().as_fd(), &ctx).unwrap();
    assert_eq!(
        kernel.calls(),
        [
            mount(
                "proc",
                rootfs.join("proc"),
                Some("proc"),
                MsFlags::empty(),
                None
            ),
            mount(
                "tmpfs",
                rootfs.join("dev"),
                Some("tmpfs"),
                MsFlags::MS_NOSUID | MsFlags::MS_STRICTATIME,
                Some("mode=755,size=65536k")
            ),
            mount(
                "devpts",
                rootfs.join("dev/pts"),
                Some("devpts"),
                MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC,
                Some("newinstance,ptmxmode=0666,mode=0620,gid=5")
            ),
            mount(
                "mqueue",
                rootfs.join("dev/mqueue"),
                Some("mqueue"),
                MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC | MsFlags::MS_NODEV,
                None
            ),
        ]
    );
}

#[test]
fn a_read_only_bind_is_bound_then_remounted_read_only() {
    let scratch = Scratch::new("bind");
    let rootfs = scratch.rootfs();
    std::fs::create_dir(scratch.dir.join("volume")).unwrap();
    let spec = spec(serde_json::json!([
        {"destination": "/data", "type": "bind", "source": "volume", "options": ["rbind", "ro"]}
    ]));
    let kernel = Recorder::default();
    let sources = BindSources::default();
    let ctx = context(&scratch, &rootfs, &spec, &kernel, &sources);
    mount_all(scratch.root_fd().as_fd(), &ctx).unwrap();
    let calls = kernel.calls();
    assert_eq!(calls.len(), 2, "{calls:?}");
    assert_eq!(
        calls[0],
        Call::Mount {
            source: Some(scratch.dir.join("volume")),
            target: rootfs.join("data"),
            fstype: None,
            flags: MsFlags::MS_BIND | MsFlags::MS_REC,
            data: None,
        }
    );
    let Call::Mount { target, flags, .. } = &calls[1] else {
        panic!("{calls:?}");
    };
    assert_eq!(target, &rootfs.join("data"));
    let remount = MsFlags::MS_REMOUNT | MsFlags::MS_BIND | MsFlags::MS_RDONLY;
    assert!(flags.contains(remount), "{flags:?}");
}

#[test]
fn proc_onto_a_symlink_is_refused_before_anything_is_mounted() {
    let scratch = Scratch::new("proc-link");
    let rootfs = scratch.rootfs();
    std::os::unix::fs::symlink("/", rootfs.join("proc")).unwrap();
    let spec = spec(serde_json::json!([
        {"destination": "/tmp", "type": "tmpfs", "source": "tmpfs"},
        {"destination": "/proc", "type": "proc", "source": "proc"}
    ]));
    let kernel = Recorder::default();
    let sources = BindSources::default();
    let ctx = context(&scratch, &rootfs, &spec, &kernel, &sources);
    let err = mount_all(scratch.root_fd().as_fd(), &ctx)
        .unwrap_err()
        .to_string();
    assert!(err.contains("mounts[1] (/proc)"), "{err}");
    assert!(err.contains("symlink"), "{err}");
    assert_eq!(
        kernel.calls().len(),
        1,
        "only the tmpfs: {:?}",
        kernel.calls()
    );
}

#[test]
fn dev_gets_the_default_nodes_and_the_spec_s_own_win() {
    let scratch = Scratch::new("dev");
    let rootfs = scratch.rootfs();
    let mut spec = spec(serde_json::json!([]));
    let linux: oci_spec::runtime::Linux = serde_json::from_value(serde_json::json!({
        "devices": [{"path": "/dev/null", "type": "c", "major": 1, "minor": 3, "fileMode": 384},
                    {"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229}]
    }))
    .unwrap();
    spec.set_linux(Some(linux));
    let kernel = Recorder::default();
    let sources = BindSources::default();
    let ctx = context(&scratch, &rootfs, &spec, &kernel, &sources);
    setup_dev(scratch.root_fd().as_fd(), &ctx).unwrap();
    let nodes: Vec<(String, u32, u64)> = kernel
        .calls()
        .into_iter()
        .map(|call| match call {
            Call::Mknod(path, SFlag::S_IFCHR, mode, dev) => (
                path.strip_prefix(rootfs.join("dev"))
                    .unwrap()
                    .display()
                    .to_string(),
                mode,
                dev,
            ),
            other => panic!("{other:?}"),
        })
        .collect();
    let names: Vec<&str> = nodes.iter().map(|(n, _, _)| n.as_str()).collect();
    assert_eq!(
        names,
        ["zero", "full", "random", "urandom", "tty", "null", "fuse"]
    );
    assert_eq!(nodes[5], ("null".to_string(), 0o600, makedev(1, 3)));
    assert_eq!(nodes[6].2, makedev(10, 229));
    // The links every /dev has.
    assert_eq!(
        std::fs::read_link(rootfs.join("dev/ptmx")).unwrap(),
        Path::new("pts/ptmx")
    );
}

#[test]
fn in_a_user_namespace_devices_are_bound_from_the_host() {
    let scratch = Scratch::new("dev-userns");
    let rootfs = scratch.rootfs();
    let spec = spec(serde_json::json!([]));
    let kernel = Recorder::default();
    let sources = BindSources::default();
    let ctx = Context {
        in_user_ns: true,
        ..context(&scratch, &rootfs, &spec, &kernel, &sources)
    };
    setup_dev(scratch.root_fd().as_fd(), &ctx).unwrap();
    let calls = kernel.calls();
    assert_eq!(calls.len(), 6, "{calls:?}");
    assert_eq!(
        calls[0],
        Call::Mount {
            source: Some(PathBuf::from("/dev/null")),
            target: rootfs.join("dev/null"),
            fstype: None,
            flags: MsFlags::MS_BIND,
            data: None,
        }
    );
}
