//! What a path in a container is (`HEAD /containers/{id}/archive`): the facts the
//! docker CLI's `cp` decides with, in dockerd's shape (Go's file mode bits).

use nix::fcntl::OFlag;
use nix::sys::stat::{fstat, SFlag};
use serde::Serialize;

use super::access::{open_root, resolve_in_root, FilesError};
use super::lifecycle::{Container, Containers};
use super::tree::kind;

/// dockerd's `PathStat`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PathStat {
    pub name: String,
    pub size: i64,
    /// Go's `os.FileMode`: permission bits, and the type in bits of its own.
    pub mode: u32,
    pub mtime: String,
    #[serde(rename = "linkTarget")]
    pub link_target: String,
}

impl Containers {
    /// Stats `path` as the container sees it; a symlink at the end is not followed.
    pub fn stat_path(&self, container: &Container, path: &str) -> Result<PathStat, FilesError> {
        self.with_rootfs(container, |rootfs| {
            let root = open_root(rootfs)?;
            let found = resolve_in_root(&root, path.as_bytes(), false, OFlag::O_PATH).map_err(
                |e| match e {
                    nix::Error::ENOENT | nix::Error::ENOTDIR => FilesError::NoSuchPath {
                        container: container.row.name.clone(),
                        path: path.to_string(),
                    },
                    e => FilesError::Io {
                        path: path.to_string(),
                        source: e.into(),
                    },
                },
            )?;
            let stat = fstat(&found).map_err(|e| FilesError::Io {
                path: path.to_string(),
                source: e.into(),
            })?;
            let link_target = if kind(&stat) == SFlag::S_IFLNK {
                nix::fcntl::readlinkat(&found, "")
                    .map(|t| t.to_string_lossy().into_owned())
                    .unwrap_or_default()
            } else {
                String::new()
            };
            let mtime = std::time::UNIX_EPOCH
                + std::time::Duration::new(
                    u64::try_from(stat.st_mtime).unwrap_or(0),
                    u32::try_from(stat.st_mtime_nsec).unwrap_or(0),
                );
            Ok(PathStat {
                name: base_name(path),
                size: stat.st_size,
                mode: go_file_mode(stat.st_mode),
                mtime: crate::time::rfc3339_nanos(mtime),
                link_target,
            })
        })
    }
}

/// The last component of `path` (`/` for the root), as dockerd names it.
fn base_name(path: &str) -> String {
    let trimmed = path.trim_end_matches('/');
    match trimmed.rsplit('/').next() {
        Some(name) if !name.is_empty() => name.to_string(),
        _ => "/".to_string(),
    }
}

/// A `st_mode` as Go's `os.FileMode`.
pub fn go_file_mode(st_mode: u32) -> u32 {
    const DIR: u32 = 1 << 31;
    const SYMLINK: u32 = 1 << 27;
    const DEVICE: u32 = 1 << 26;
    const NAMED_PIPE: u32 = 1 << 25;
    const SOCKET: u32 = 1 << 24;
    const SETUID: u32 = 1 << 23;
    const SETGID: u32 = 1 << 22;
    const CHAR_DEVICE: u32 = 1 << 21;
    const STICKY: u32 = 1 << 20;
    let mut mode = st_mode & 0o777;
    mode |= match st_mode & nix::libc::S_IFMT {
        nix::libc::S_IFDIR => DIR,
        nix::libc::S_IFLNK => SYMLINK,
        nix::libc::S_IFBLK => DEVICE,
        nix::libc::S_IFCHR => DEVICE | CHAR_DEVICE,
        nix::libc::S_IFIFO => NAMED_PIPE,
        nix::libc::S_IFSOCK => SOCKET,
        _ => 0,
    };
    for (bit, go) in [(0o4000, SETUID), (0o2000, SETGID), (0o1000, STICKY)] {
        if st_mode & bit != 0 {
            mode |= go;
        }
    }
    mode
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_and_names_are_gos() {
        assert_eq!(go_file_mode(0o040755), (1 << 31) | 0o755);
        assert_eq!(go_file_mode(0o100644), 0o644);
        assert_eq!(go_file_mode(0o120777), (1 << 27) | 0o777);
        assert_eq!(go_file_mode(0o104755), (1 << 23) | 0o755);
        assert_eq!(go_file_mode(0o041777), (1 << 31) | (1 << 20) | 0o777);
        assert_eq!(base_name("/etc/hosts"), "hosts");
        assert_eq!(base_name("/etc/"), "etc");
        assert_eq!(base_name("/"), "/");
    }
}
