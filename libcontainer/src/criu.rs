//! `checkpoint` and `restore` through CRIU, with runc's options. CRIU runs as
//! a separate program (its command line, not runc's RPC); when it fails, the
//! error quotes the `Error` lines of its own log, which say why (a kernel it
//! does not support, a resource it cannot dump), and names the log file.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use nix::unistd::Pid;
use oci_spec::runtime::Spec;
use serde_json::value::RawValue;

use crate::container::Container;
use crate::error::{Error, Result};
use crate::state::{self, State, StateDir, Status};

/// runc's checkpoint and restore flags. Paths default as runc's do: images
/// in `./checkpoint`, work files (logs) with the images.
#[derive(Clone, Debug, Default)]
pub struct CriuOptions {
    /// The criu binary (`--criu`); a bare name is looked up in $PATH.
    pub criu: PathBuf,
    pub image_path: Option<PathBuf>,
    pub work_path: Option<PathBuf>,
    /// Checkpoint only: the images of a previous `--pre-dump`.
    pub parent_path: Option<PathBuf>,
    pub leave_running: bool,
    pub tcp_established: bool,
    pub ext_unix_sk: bool,
    pub shell_job: bool,
    pub lazy_pages: bool,
    pub status_fd: Option<i32>,
    pub page_server: Option<String>,
    pub file_locks: bool,
    pub pre_dump: bool,
    /// `soft`, `full` or `strict` (criu's --manage-cgroups modes; `ignore`
    /// too).
    pub manage_cgroups_mode: Option<String>,
    /// Namespaces (`network`, ...) to create empty on restore.
    pub empty_ns: Vec<String>,
    pub auto_dedup: bool,
    /// Restore only: `TYPE:NAME` and the mount context, as runc takes them.
    pub lsm_profile: Option<String>,
    pub lsm_mount_context: Option<String>,
}

impl CriuOptions {
    fn image_dir(&self) -> Result<PathBuf> {
        let dir = self
            .image_path
            .clone()
            .unwrap_or_else(|| PathBuf::from("checkpoint"));
        std::fs::create_dir_all(&dir).map_err(|e| Error::Flag {
            flag: "--image-path",
            message: format!("{}: {e}", dir.display()),
        })?;
        std::fs::canonicalize(&dir).map_err(|e| Error::Flag {
            flag: "--image-path",
            message: format!("{}: {e}", dir.display()),
        })
    }

    fn work_dir(&self, images: &Path) -> Result<PathBuf> {
        let Some(dir) = &self.work_path else {
            return Ok(images.to_path_buf());
        };
        std::fs::create_dir_all(dir).map_err(|e| Error::Flag {
            flag: "--work-path",
            message: format!("{}: {e}", dir.display()),
        })?;
        std::fs::canonicalize(dir).map_err(|e| Error::Flag {
            flag: "--work-path",
            message: format!("{}: {e}", dir.display()),
        })
    }

    /// The flags both directions share.
    fn common_args(&self, command: &mut Command) -> Result<()> {
        let flags = [
            (self.tcp_established, "--tcp-established"),
            (self.ext_unix_sk, "--ext-unix-sk"),
            (self.shell_job, "--shell-job"),
            (self.file_locks, "--file-locks"),
            (self.auto_dedup, "--auto-dedup"),
            (self.lazy_pages, "--lazy-pages"),
        ];
        for (set, flag) in flags {
            if set {
                command.arg(flag);
            }
        }
        match self.manage_cgroups_mode.as_deref() {
            None => {
                command.arg("--manage-cgroups=soft");
            }
            Some(mode @ ("soft" | "full" | "strict" | "ignore")) => {
                command.arg(format!("--manage-cgroups={mode}"));
            }
            Some(other) => {
                return Err(Error::Flag {
                    flag: "--manage-cgroups-mode",
                    message: format!("{other:?}: expected soft, full, strict or ignore"),
                })
            }
        }
        Ok(())
    }
}

impl Container {
    /// `checkpoint`: dumps the container's process tree into the image
    /// directory. Unless it is to keep running (`--leave-running`,
    /// `--pre-dump`), the container is gone afterwards, as with runc.
    pub fn checkpoint(self, options: &CriuOptions) -> Result<()> {
        match self.status() {
            Status::Running | Status::Paused => {}
            status => {
                return Err(Error::WrongStatus {
                    id: self.id().to_string(),
                    message: format!("cannot checkpoint a {status} container"),
                })
            }
        }
        let images = options.image_dir()?;
        let work = options.work_dir(&images)?;
        let action = if options.pre_dump { "pre-dump" } else { "dump" };
        let mut command = Command::new(&options.criu);
        command
            .arg(action)
            .arg("--tree")
            .arg(self.pid().to_string())
            .arg("--images-dir")
            .arg(&images)
            .arg("--work-dir")
            .arg(&work)
            .args(["--log-file", "dump.log", "-v4"])
            .arg("--root")
            .arg(&self.state().rootfs);
        if options.leave_running || options.pre_dump {
            command.arg("--leave-running");
        }
        if let Some(parent) = &options.parent_path {
            command.arg("--prev-images-dir").arg(parent);
        }
        if let Some(server) = &options.page_server {
            let (address, port) = server.rsplit_once(':').ok_or_else(|| Error::Flag {
                flag: "--page-server",
                message: format!("{server:?}: expected ADDRESS:PORT"),
            })?;
            command.args(["--page-server", "--address", address, "--port", port]);
        }
        if let Some(fd) = options.status_fd {
            command.arg("--status-fd").arg(fd.to_string());
        }
        options.common_args(&mut command)?;
        // Bind mounts are the host's: criu records them as external.
        for destination in bind_destinations(self.state()) {
            command
                .arg("--external")
                .arg(format!("mnt[{destination}]:{destination}"));
        }
        run_criu(command, &options.criu, action, &work.join("dump.log"))?;
        if !(options.leave_running || options.pre_dump) {
            self.delete(true)?;
        }
        Ok(())
    }
}

/// `restore`: a container `id` from the images, with the bundle's config.
/// criu restores the process tree detached and reports its root's pid.
pub fn restore(
    root: &Path,
    id: &str,
    bundle: &Path,
    options: &CriuOptions,
    pid_file: Option<&Path>,
) -> Result<Container> {
    state::validate_id(id)?;
    let bundle = std::fs::canonicalize(bundle).map_err(|e| Error::Config {
        path: bundle.to_path_buf(),
        message: format!("bundle directory: {e}"),
    })?;
    let crate::spec::Loaded { spec, raw } = crate::spec::load(&bundle)?;
    let rootfs = crate::spec::rootfs_path(&spec, &bundle)?;
    let images = options.image_dir()?;
    let work = options.work_dir(&images)?;
    let dir = StateDir::create(root, id)?;
    let target = Target {
        id,
        spec: &spec,
        bundle: &bundle,
        rootfs: &rootfs,
        images: &images,
        work: &work,
    };
    let restored = restore_into(&dir, &target, raw, options);
    match restored {
        Ok(()) => {
            let container = Container::load(root, id)?;
            if let Some(path) = pid_file {
                state::write_atomic(path, container.pid().to_string().as_bytes(), 0o644).map_err(
                    |e| Error::Flag {
                        flag: "--pid-file",
                        message: e.to_string(),
                    },
                )?;
            }
            Ok(container)
        }
        Err(e) => {
            let _ = dir.remove();
            Err(e)
        }
    }
}

/// What a restore makes, and from where.
struct Target<'a> {
    id: &'a str,
    spec: &'a Spec,
    bundle: &'a Path,
    rootfs: &'a Path,
    images: &'a Path,
    work: &'a Path,
}

fn restore_into(
    dir: &StateDir,
    target: &Target<'_>,
    raw: String,
    options: &CriuOptions,
) -> Result<()> {
    let Target {
        id,
        spec,
        bundle,
        rootfs,
        images,
        work,
    } = *target;
    let pidfile = work.join("restore.pid");
    let mut command = Command::new(&options.criu);
    command
        .arg("restore")
        .arg("--images-dir")
        .arg(images)
        .arg("--work-dir")
        .arg(work)
        .args(["--log-file", "restore.log", "-v4", "--restore-detached"])
        .arg("--pidfile")
        .arg(&pidfile)
        .arg("--root")
        .arg(rootfs);
    options.common_args(&mut command)?;
    for kind in &options.empty_ns {
        command.arg("--empty-ns").arg(kind);
    }
    if let Some(profile) = &options.lsm_profile {
        command.arg("--lsm-profile").arg(profile);
    }
    if let Some(context) = &options.lsm_mount_context {
        command.arg("--lsm-mount-context").arg(context);
    }
    for mount in spec.mounts().as_deref().unwrap_or_default() {
        if mount.typ().as_deref() == Some("bind") {
            if let Some(source) = mount.source() {
                command.arg("--external").arg(format!(
                    "mnt[{}]:{}",
                    mount.destination().display(),
                    source.display()
                ));
            }
        }
    }
    run_criu(command, &options.criu, "restore", &work.join("restore.log"))?;
    let pid: i32 = std::fs::read_to_string(&pidfile)
        .ok()
        .and_then(|text| text.trim().parse().ok())
        .ok_or_else(|| Error::Criu {
            action: "restore",
            message: format!("no pid in {}", pidfile.display()),
        })?;
    let start_time = state::proc_stat(Pid::from_raw(pid))
        .map(|stat| stat.start_time)
        .ok_or_else(|| Error::Criu {
            action: "restore",
            message: format!("restored pid {pid} is gone"),
        })?;
    let cgroups_path = spec
        .linux()
        .as_ref()
        .and_then(|l| l.cgroups_path().clone())
        .unwrap_or_else(|| PathBuf::from(format!("/berth/{id}")));
    let cgroup = crate::cgroups::Cgroup::resolve(&cgroups_path, crate::cgroups::detect()?)?;
    dir.save(&State {
        id: id.to_string(),
        pid,
        init_start_time: start_time,
        bundle: bundle.to_path_buf(),
        rootfs: rootfs.to_path_buf(),
        created: crate::time::now_rfc3339(),
        owner: String::new(),
        creating: false,
        cgroup: Some(cgroup),
        running_hook: None,
        config: RawValue::from_string(raw).map_err(|e| Error::Config {
            path: bundle.join("config.json"),
            message: format!("keeping it in the state: {e}"),
        })?,
    })
}

/// The destinations of the container's bind mounts, from its saved config.
fn bind_destinations(state: &State) -> Vec<String> {
    #[derive(serde::Deserialize)]
    struct Mounts {
        #[serde(default)]
        mounts: Vec<oci_spec::runtime::Mount>,
    }
    let mounts: Mounts =
        serde_json::from_str(state.config.get()).unwrap_or(Mounts { mounts: Vec::new() });
    mounts
        .mounts
        .iter()
        .filter(|m| m.typ().as_deref() == Some("bind"))
        .map(|m| m.destination().display().to_string())
        .collect()
}

/// Runs criu; a failure quotes the error lines of its log.
fn run_criu(mut command: Command, criu: &Path, action: &'static str, log: &Path) -> Result<()> {
    let output = command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .map_err(|e| Error::Flag {
            flag: "--criu",
            message: format!("running {}: {e}", criu.display()),
        })?;
    if output.status.success() {
        return Ok(());
    }
    let log_text = std::fs::read_to_string(log).unwrap_or_default();
    let stderr = String::from_utf8_lossy(&output.stderr);
    let reasons = error_lines(&log_text)
        .or_else(|| error_lines(&stderr))
        .unwrap_or_else(|| "no error line in its log".to_string());
    Err(Error::Criu {
        action,
        message: format!(
            "failed ({}): {reasons} (log: {})",
            output.status,
            log.display()
        ),
    })
}

/// criu's `Error (file:line): message` lines, without their timestamps,
/// joined; None when there is none.
fn error_lines(log: &str) -> Option<String> {
    let lines: Vec<&str> = log
        .lines()
        .filter_map(|line| line.find("Error (").map(|at| line[at..].trim()))
        .take(4)
        .collect();
    (!lines.is_empty()).then(|| lines.join("; "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_lines_are_quoted_without_timestamps() {
        let log = "(00.025041) vdso: nbucket 3\n\
                   (00.025043) Error (criu/vdso.c:381): vdso: Unexpected rt vDSO area bounds\n\
                   (00.025045) Error (criu/vdso.c:613): vdso: Failed to fill self vdso symtable\n";
        assert_eq!(
            error_lines(log).unwrap(),
            "Error (criu/vdso.c:381): vdso: Unexpected rt vDSO area bounds; \
             Error (criu/vdso.c:613): vdso: Failed to fill self vdso symtable"
        );
        assert_eq!(error_lines("all fine\n"), None);
    }

    #[test]
    fn an_unknown_cgroup_mode_names_the_flag() {
        let options = CriuOptions {
            manage_cgroups_mode: Some("loose".into()),
            ..CriuOptions::default()
        };
        let e = options
            .common_args(&mut Command::new("criu"))
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("--manage-cgroups-mode: "), "{e}");
    }
}
