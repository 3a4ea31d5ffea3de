//! `checkpoint` and `restore`: runc's flags, handed to libcontainer's CRIU
//! driver.

use std::path::PathBuf;

use anyhow::Result;
use libcontainer::criu::CriuOptions;
use libcontainer::Container;

/// The flags `checkpoint` and `restore` share.
#[derive(clap::Args)]
pub struct CommonArgs {
    /// Path for the criu image files (default ./checkpoint).
    #[arg(long = "image-path")]
    image_path: Option<PathBuf>,
    /// Path for criu's work files and logs (default: the image path).
    #[arg(long = "work-path")]
    work_path: Option<PathBuf>,
    /// Allow open TCP connections.
    #[arg(long = "tcp-established")]
    tcp_established: bool,
    /// Allow external unix sockets.
    #[arg(long = "ext-unix-sk")]
    ext_unix_sk: bool,
    /// Allow shell jobs.
    #[arg(long = "shell-job")]
    shell_job: bool,
    /// Handle file locks, for safety.
    #[arg(long = "file-locks")]
    file_locks: bool,
    /// cgroups mode: soft (default), full, strict or ignore.
    #[arg(long = "manage-cgroups-mode")]
    manage_cgroups_mode: Option<String>,
    /// Create this namespace, but do not restore its properties; repeatable.
    #[arg(long = "empty-ns")]
    empty_ns: Vec<String>,
    /// Enable auto deduplication of memory images.
    #[arg(long = "auto-dedup")]
    auto_dedup: bool,
    /// Use userfaultfd to restore memory pages lazily.
    #[arg(long = "lazy-pages")]
    lazy_pages: bool,
}

#[derive(clap::Args)]
pub struct CheckpointArgs {
    #[command(flatten)]
    common: CommonArgs,
    /// Path to the images of a previous --pre-dump.
    #[arg(long = "parent-path")]
    parent_path: Option<PathBuf>,
    /// Leave the container running after checkpointing.
    #[arg(long = "leave-running")]
    leave_running: bool,
    /// criu writes \0 to this fd once lazy pages are ready.
    #[arg(long = "status-fd", allow_hyphen_values = true, default_value_t = -1)]
    status_fd: i32,
    /// ADDRESS:PORT of the page server.
    #[arg(long = "page-server")]
    page_server: Option<String>,
    /// Dump the container's memory only, and leave it running.
    #[arg(long = "pre-dump")]
    pre_dump: bool,
    /// Container id.
    id: String,
}

#[derive(clap::Args)]
pub struct RestoreArgs {
    #[command(flatten)]
    common: CommonArgs,
    /// Path to the bundle directory (the directory holding config.json).
    #[arg(short, long, default_value = ".")]
    bundle: PathBuf,
    /// Unix socket to which the pty master is sent (not supported by restore yet: an error).
    #[arg(long = "console-socket")]
    console_socket: Option<PathBuf>,
    /// Return once the container is restored.
    #[arg(short, long)]
    detach: bool,
    /// File to write the restored init's pid to.
    #[arg(long = "pid-file")]
    pid_file: Option<PathBuf>,
    /// Do not become a subreaper.
    #[arg(long = "no-subreaper")]
    no_subreaper: bool,
    /// Do not use pivot_root (criu restores the mounts itself; accepted as runc's).
    #[arg(long = "no-pivot")]
    no_pivot: bool,
    /// An LSM profile for the restored process, TYPE:NAME.
    #[arg(long = "lsm-profile")]
    lsm_profile: Option<String>,
    /// An LSM mount context for the restore.
    #[arg(long = "lsm-mount-context")]
    lsm_mount_context: Option<String>,
    /// Container id.
    id: String,
}

fn options(criu: &std::path::Path, common: &CommonArgs) -> CriuOptions {
    CriuOptions {
        criu: criu.to_path_buf(),
        image_path: common.image_path.clone(),
        work_path: common.work_path.clone(),
        tcp_established: common.tcp_established,
        ext_unix_sk: common.ext_unix_sk,
        shell_job: common.shell_job,
        file_locks: common.file_locks,
        manage_cgroups_mode: common.manage_cgroups_mode.clone(),
        empty_ns: common.empty_ns.clone(),
        auto_dedup: common.auto_dedup,
        lazy_pages: common.lazy_pages,
        ..CriuOptions::default()
    }
}

pub fn checkpoint(
    root: &std::path::Path,
    criu: &std::path::Path,
    args: &CheckpointArgs,
) -> Result<u8> {
    let options = CriuOptions {
        parent_path: args.parent_path.clone(),
        leave_running: args.leave_running,
        status_fd: (args.status_fd >= 0).then_some(args.status_fd),
        page_server: args.page_server.clone(),
        pre_dump: args.pre_dump,
        ..options(criu, &args.common)
    };
    Container::load(root, &args.id)?.checkpoint(&options)?;
    Ok(0)
}

/// Restores detached: the restored tree is criu's child, not ours, so a
/// foreground restore has nothing to wait on but the container's status.
pub fn restore(root: &std::path::Path, criu: &std::path::Path, args: &RestoreArgs) -> Result<u8> {
    if args.console_socket.is_some() {
        anyhow::bail!(
            "--console-socket: restore of a container with a terminal is not supported yet"
        );
    }
    let options = CriuOptions {
        lsm_profile: args.lsm_profile.clone(),
        lsm_mount_context: args.lsm_mount_context.clone(),
        ..options(criu, &args.common)
    };
    let container = libcontainer::criu::restore(
        root,
        &args.id,
        &args.bundle,
        &options,
        args.pid_file.as_deref(),
    )?;
    if args.detach {
        return Ok(0);
    }
    while container.status() != libcontainer::Status::Stopped {
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    container.delete(true)?;
    Ok(0)
}
