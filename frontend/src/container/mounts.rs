//! The container's mounts, in Docker's order: the kernel filesystems (/proc, /dev,
//! /dev/pts, /sys, /sys/fs/cgroup, /dev/mqueue, /dev/shm), then `-v` and `--tmpfs`
//! parents first, then the per-container /etc files and `--init`'s binary. A default
//! mount that a user mount covers is left out, as Docker leaves it out.

use std::os::fd::{AsFd, OwnedFd};
use std::path::{Component, Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{openat2, OFlag, OpenHow, ResolveFlag};
use nix::sys::stat::{mkdirat, Mode};
use serde_json::{json, Value};

use super::spec::{built_in, SpecError, SpecInput, TEMPLATE};
use super::user::open_root;

/// Where `--init`'s binary appears in the container, Docker's path.
pub const INIT_DESTINATION: &str = "/sbin/docker-init";

/// Static builds first: a dynamic tini needs a libc the image may not have.
const INIT_CANDIDATES: [&str; 6] = [
    "/usr/bin/docker-init",
    "/usr/libexec/docker/docker-init",
    "/usr/bin/tini-static",
    "/usr/bin/tini",
    "/usr/bin/catatonit",
    "/usr/libexec/podman/catatonit",
];

/// Docker's /dev/shm when `--shm-size` is not given.
const DEFAULT_SHM_SIZE: i64 = 64 * 1024 * 1024;

/// The first init binary installed on the host, its symlinks resolved on the host.
pub fn find_init() -> Result<PathBuf, SpecError> {
    INIT_CANDIDATES
        .iter()
        .find_map(|candidate| {
            std::fs::canonicalize(candidate)
                .ok()
                .filter(|path| path.is_file())
        })
        .ok_or_else(|| SpecError::NoInit {
            tried: INIT_CANDIDATES.join(", "),
        })
}

pub fn mounts(input: &SpecInput, init: Option<&Path>) -> Result<Vec<Value>, SpecError> {
    let host = input.host;
    let mut user = binds(host.binds.as_deref().unwrap_or(&[]))?;
    for (destination, options) in host.tmpfs.iter().flatten() {
        user.push(tmpfs(destination, options)?);
    }
    // Parents before children, so that `-v /a:/data -v /b:/data/sub` nests.
    user.sort_by_key(|m| depth(&m["destination"]));
    let covered = |destination: &str| {
        user.iter().any(|m| {
            let dest = m["destination"].as_str().unwrap_or("");
            destination == dest || Path::new(destination).starts_with(dest)
        })
    };

    let mut all = Vec::new();
    for mount in default_mounts(host.privileged, host.shm_size)? {
        if !covered(mount["destination"].as_str().unwrap_or("")) {
            all.push(mount);
        }
    }
    let paths = input.paths;
    for (destination, source) in [
        ("/etc/resolv.conf", paths.resolv_conf()),
        ("/etc/hostname", paths.hostname()),
        ("/etc/hosts", paths.hosts()),
    ] {
        if !covered(destination) {
            all.push(json!({
                "destination": destination,
                "type": "bind",
                "source": source,
                "options": ["rbind", "rprivate"],
            }));
        }
    }
    all.extend(user);
    if let Some(init) = init {
        all.push(json!({
            "destination": INIT_DESTINATION,
            "type": "bind",
            "source": init,
            "options": ["rbind", "ro", "rprivate"],
        }));
    }
    Ok(all)
}

fn shm_size(bytes: i64) -> String {
    let bytes = if bytes > 0 { bytes } else { DEFAULT_SHM_SIZE };
    format!("size={bytes}")
}

/// The template's kernel filesystems; /sys and its cgroup tree writable only with
/// `--privileged`, as Docker's.
fn default_mounts(privileged: bool, shm: i64) -> Result<Vec<Value>, SpecError> {
    let template = built_in(TEMPLATE, "specs/config.json")?;
    let mut mounts = template["mounts"].as_array().cloned().unwrap_or_default();
    for mount in &mut mounts {
        let destination = mount["destination"].as_str().unwrap_or("").to_string();
        if privileged && (destination == "/sys" || destination == "/sys/fs/cgroup") {
            if let Some(options) = mount["options"].as_array_mut() {
                options.retain(|o| o != "ro");
                options.push(json!("rw"));
            }
        }
        if destination == "/dev/shm" {
            mount["options"] = json!(["nosuid", "noexec", "nodev", "mode=1777", shm_size(shm)]);
        }
    }
    Ok(mounts)
}

fn depth(destination: &Value) -> usize {
    Path::new(destination.as_str().unwrap_or(""))
        .components()
        .count()
}

/// A container path: absolute, not `/`, and without `..`.
fn container_path(flag: &'static str, spec: &str, path: &str) -> Result<String, SpecError> {
    let p = Path::new(path);
    if !p.is_absolute() {
        return Err(SpecError::flag(
            flag,
            spec,
            "the container path must be absolute",
        ));
    }
    if p.components().any(|c| c == Component::ParentDir) {
        return Err(SpecError::flag(
            flag,
            spec,
            "the container path must not hold `..`",
        ));
    }
    let clean: PathBuf = p.components().collect();
    if clean == Path::new("/") {
        return Err(SpecError::flag(
            flag,
            spec,
            "the container path cannot be `/`",
        ));
    }
    Ok(clean.to_string_lossy().into_owned())
}

/// `-v HOST:CONTAINER[:OPTIONS]`: recursive bind mounts; a missing host directory is
/// made, as Docker makes it.
fn binds(specs: &[String]) -> Result<Vec<Value>, SpecError> {
    let mut mounts = Vec::new();
    for spec in specs {
        let parts: Vec<&str> = spec.split(':').collect();
        let (source, destination, options) = match parts.as_slice() {
            [s, d] => (*s, *d, ""),
            [s, d, o] => (*s, *d, *o),
            _ => {
                return Err(SpecError::flag(
                    "-v",
                    spec,
                    "expected HOST-PATH:CONTAINER-PATH[:OPTIONS]",
                ))
            }
        };
        if !source.starts_with('/') {
            return Err(SpecError::flag(
                "-v",
                spec,
                format!(
                    "{source:?} is not an absolute host path (named volumes are not supported)"
                ),
            ));
        }
        let destination = container_path("-v", spec, destination)?;
        let mut flags = vec!["rbind".to_string()];
        let mut propagation = "rprivate";
        let mut writable = "rw";
        for option in options.split(',').filter(|o| !o.is_empty()) {
            match option {
                "ro" | "rw" => writable = option,
                "private" | "rprivate" | "shared" | "rshared" | "slave" | "rslave" => {
                    propagation = option
                }
                // SELinux relabelling and volume copy-up: nothing to do without either.
                "z" | "Z" | "nocopy" => {}
                _ => {
                    return Err(SpecError::flag(
                        "-v",
                        spec,
                        format!("invalid mode: {option}"),
                    ))
                }
            }
        }
        flags.push(writable.to_string());
        flags.push(propagation.to_string());
        if std::fs::symlink_metadata(source).is_err() {
            std::fs::create_dir_all(source).map_err(|e| SpecError::HostFile {
                path: source.into(),
                message: format!("cannot create the -v source directory: {e}"),
            })?;
        }
        mounts.push(json!({
            "destination": destination,
            "type": "bind",
            "source": source,
            "options": flags,
        }));
    }
    Ok(mounts)
}

/// `--tmpfs PATH[:OPTIONS]`: nosuid, nodev and noexec unless the options say
/// `suid`, `dev` or `exec`, as Docker's.
fn tmpfs(destination: &str, options: &str) -> Result<Value, SpecError> {
    let spec = format!("{destination}:{options}");
    let destination = container_path("--tmpfs", &spec, destination)?;
    let mut flags = vec!["nosuid", "nodev", "noexec"];
    for option in options.split(',').filter(|o| !o.is_empty()) {
        let drop = match option {
            "suid" => Some("nosuid"),
            "dev" => Some("nodev"),
            "exec" => Some("noexec"),
            _ => None,
        };
        match drop {
            Some(negated) => flags.retain(|f| *f != negated),
            None if !flags.contains(&option) => flags.push(option),
            None => {}
        }
    }
    Ok(json!({
        "destination": destination,
        "type": "tmpfs",
        "source": "tmpfs",
        "options": flags,
    }))
}

/// Makes the absolute `path` in `rootfs`, each level resolved inside the rootfs so an
/// image's symlink (`/srv -> /etc`) cannot make the host's directories.
pub fn make_dir_in_rootfs(rootfs: &Path, path: &str) -> Result<(), SpecError> {
    let root = open_root(rootfs)?;
    let error = |e: Errno| SpecError::Rootfs {
        path: PathBuf::from(path),
        message: format!("cannot make the working directory: {e}"),
    };
    let how = OpenHow::new()
        .flags(OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC)
        .resolve(ResolveFlag::RESOLVE_IN_ROOT | ResolveFlag::RESOLVE_NO_MAGICLINKS);
    let open = |relative: &Path| -> Result<OwnedFd, Errno> {
        let relative = if relative.as_os_str().is_empty() {
            Path::new(".")
        } else {
            relative
        };
        openat2(root.as_fd(), relative, how)
    };
    let mut done = PathBuf::new();
    for component in Path::new(path).components() {
        let Component::Normal(name) = component else {
            continue;
        };
        let parent = open(&done).map_err(error)?;
        done.push(name);
        match mkdirat(&parent, name, Mode::from_bits_truncate(0o755)) {
            Ok(()) | Err(Errno::EEXIST) => {}
            Err(e) => return Err(error(e)),
        }
    }
    open(&done).map(drop).map_err(error)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binds_are_recursive_private_and_rw_unless_ro() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().display().to_string();
        let m = binds(&[format!("{src}:/data"), format!("{src}:/conf:ro")]).unwrap();
        assert_eq!(m[0]["options"], json!(["rbind", "rw", "rprivate"]));
        assert_eq!(m[0]["source"], json!(src));
        assert_eq!(m[1]["destination"], "/conf");
        assert_eq!(m[1]["options"], json!(["rbind", "ro", "rprivate"]));
    }

    #[test]
    fn a_missing_bind_source_directory_is_made() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("a/b");
        binds(&[format!("{}:/data:rw,Z", src.display())]).unwrap();
        assert!(src.is_dir());
    }

    #[test]
    fn bad_binds_are_errors_naming_them() {
        for bad in [
            "relative:/data",
            "/tmp:data",
            "/tmp:/",
            "/tmp:/data:bogus",
            "/tmp",
            "/tmp:/a/../b",
        ] {
            let err = binds(&[bad.to_string()]).unwrap_err().to_string();
            assert!(err.contains(bad), "{err}");
        }
    }

    #[test]
    fn tmpfs_defaults_to_nosuid_nodev_noexec_and_takes_options() {
        let m = tmpfs("/run", "size=64m").unwrap();
        assert_eq!(m["type"], "tmpfs");
        assert_eq!(
            m["options"],
            json!(["nosuid", "nodev", "noexec", "size=64m"])
        );
        let m = tmpfs("/scratch", "exec,mode=1777").unwrap();
        assert_eq!(m["options"], json!(["nosuid", "nodev", "mode=1777"]));
        assert!(tmpfs("run", "").is_err());
    }

    #[test]
    fn the_working_directory_is_made_inside_the_rootfs() {
        let dir = tempfile::tempdir().unwrap();
        let rootfs = dir.path().join("rootfs");
        std::fs::create_dir(&rootfs).unwrap();
        std::os::unix::fs::symlink(dir.path().join("outside"), rootfs.join("srv")).unwrap();
        // The link points nowhere inside the rootfs: an error, and nothing on the host.
        let _ = make_dir_in_rootfs(&rootfs, "/srv/app");
        assert!(!dir.path().join("outside").exists());
        make_dir_in_rootfs(&rootfs, "/var/lib/app").unwrap();
        assert!(rootfs.join("var/lib/app").is_dir());
    }
}
