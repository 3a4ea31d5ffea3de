//! `--user` (`name`, `uid`, `uid:gid`, `name:group`) resolved in the image's own
//! /etc/passwd and /etc/group, as Docker does: the container's names, not the host's.
//!
//! Both files are opened inside the rootfs with `openat2(RESOLVE_IN_ROOT)`: an image whose
//! /etc/passwd is a symlink to `/etc/shadow` or `../../../../etc/passwd` reads its own
//! file, never the host's (CVE-2014-9356-class path escape).

use std::io::Read;
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;

use nix::errno::Errno;
use nix::fcntl::{openat2, OFlag, OpenHow, ResolveFlag};
use nix::sys::stat::Mode;

use super::spec::SpecError;

/// The process's ids.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedUser {
    pub uid: u32,
    pub gid: u32,
    /// The groups of /etc/group that list the user by name, its primary group excluded.
    pub additional_gids: Vec<u32>,
}

/// Resolves `user` (empty: root) against the passwd and group files of `rootfs`.
pub fn resolve(rootfs: &Path, user: &str) -> Result<ResolvedUser, SpecError> {
    let (user_part, group_part) = match user.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (user, None),
    };
    let user_part = if user_part.is_empty() { "0" } else { user_part };
    let root = open_root(rootfs)?;
    let passwd = read_in_root(&root, rootfs, "etc/passwd")?;
    let group = read_in_root(&root, rootfs, "etc/group")?;
    resolve_in(user_part, group_part, passwd.as_deref(), group.as_deref())
}

/// The rules without the files: `passwd`/`group` are `None` when the image lacks them.
fn resolve_in(
    user: &str,
    group: Option<&str>,
    passwd: Option<&str>,
    group_file: Option<&str>,
) -> Result<ResolvedUser, SpecError> {
    let entries: Vec<Vec<&str>> = passwd
        .unwrap_or("")
        .lines()
        .map(|l| l.split(':').collect::<Vec<_>>())
        .filter(|f| f.len() >= 4)
        .collect();
    let numeric = user.parse::<u32>().ok();
    let found = entries
        .iter()
        .find(|f| f[0] == user || (numeric.is_some() && f[2].parse::<u32>().ok() == numeric));
    let (uid, mut gid, name) = match (found, numeric) {
        (Some(f), _) => {
            let uid = f[2].parse::<u32>().map_err(|_| bad_entry("passwd", f))?;
            let gid = f[3].parse::<u32>().map_err(|_| bad_entry("passwd", f))?;
            (uid, gid, Some(f[0]))
        }
        // A uid the image does not name runs with gid 0, as Docker's does.
        (None, Some(uid)) => (uid, 0, None),
        (None, None) => {
            return Err(SpecError::UnknownUser {
                user: user.to_string(),
            })
        }
    };

    let groups: Vec<Vec<&str>> = group_file
        .unwrap_or("")
        .lines()
        .map(|l| l.split(':').collect::<Vec<_>>())
        .filter(|f| f.len() >= 3)
        .collect();
    if let Some(group) = group.filter(|g| !g.is_empty()) {
        gid = match group.parse::<u32>() {
            Ok(numeric) => numeric,
            Err(_) => {
                let entry = groups.iter().find(|f| f[0] == group).ok_or_else(|| {
                    SpecError::UnknownGroup {
                        group: group.to_string(),
                    }
                })?;
                entry[2]
                    .parse::<u32>()
                    .map_err(|_| bad_entry("group", entry))?
            }
        };
    }

    let mut additional_gids = Vec::new();
    if let Some(name) = name {
        for entry in &groups {
            let members = entry.get(3).copied().unwrap_or("");
            if members.split(',').any(|m| m == name) {
                if let Ok(g) = entry[2].parse::<u32>() {
                    if g != gid && !additional_gids.contains(&g) {
                        additional_gids.push(g);
                    }
                }
            }
        }
    }
    Ok(ResolvedUser {
        uid,
        gid,
        additional_gids,
    })
}

fn bad_entry(file: &str, fields: &[&str]) -> SpecError {
    SpecError::Rootfs {
        path: format!("/etc/{file}").into(),
        message: format!("malformed entry {:?}", fields.join(":")),
    }
}

pub(super) fn open_root(rootfs: &Path) -> Result<OwnedFd, SpecError> {
    nix::fcntl::open(
        rootfs,
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| SpecError::Rootfs {
        path: rootfs.to_path_buf(),
        message: format!("cannot open the rootfs: {e}"),
    })
}

/// The contents of `relative` inside the root, `None` if it does not exist.
fn read_in_root(
    root: &OwnedFd,
    rootfs: &Path,
    relative: &str,
) -> Result<Option<String>, SpecError> {
    let how = OpenHow::new()
        .flags(OFlag::O_RDONLY | OFlag::O_CLOEXEC)
        .resolve(ResolveFlag::RESOLVE_IN_ROOT | ResolveFlag::RESOLVE_NO_MAGICLINKS);
    let error = |message: String| SpecError::Rootfs {
        path: rootfs.join(relative),
        message,
    };
    let fd = match openat2(root.as_fd(), relative, how) {
        Ok(fd) => fd,
        Err(Errno::ENOENT) => return Ok(None),
        Err(e) => return Err(error(format!("cannot open: {e}"))),
    };
    let mut text = String::new();
    std::fs::File::from(fd)
        .read_to_string(&mut text)
        .map_err(|e| error(format!("cannot read: {e}")))?;
    Ok(Some(text))
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\n\
                          daemon:x:1:1::/:/bin/false\n\
                          nobody:x:65534:65534:nobody:/:/bin/false\n\
                          www:x:33:33::/var/www:/bin/sh\n";
    const GROUP: &str = "root:x:0:\n\
                         daemon:x:1:\n\
                         audio:x:29:www,daemon\n\
                         video:x:44:www\n\
                         www:x:33:\n\
                         nogroup:x:65534:\n";

    fn resolve_str(user: &str) -> Result<ResolvedUser, SpecError> {
        let (u, g) = match user.split_once(':') {
            Some((u, g)) => (u, Some(g)),
            None => (user, None),
        };
        resolve_in(u, g, Some(PASSWD), Some(GROUP))
    }

    #[test]
    fn a_name_takes_its_uid_gid_and_the_groups_listing_it() {
        let user = resolve_str("www").unwrap();
        assert_eq!((user.uid, user.gid), (33, 33));
        assert_eq!(user.additional_gids, vec![29, 44]);
    }

    #[test]
    fn a_numeric_uid_in_passwd_takes_its_gid() {
        let user = resolve_str("65534").unwrap();
        assert_eq!((user.uid, user.gid), (65534, 65534));
    }

    #[test]
    fn a_numeric_uid_not_in_passwd_runs_with_gid_0() {
        let user = resolve_str("1234").unwrap();
        assert_eq!((user.uid, user.gid), (1234, 0));
        assert!(user.additional_gids.is_empty());
    }

    #[test]
    fn uid_colon_gid_takes_both_numbers() {
        let user = resolve_str("1000:1000").unwrap();
        assert_eq!((user.uid, user.gid), (1000, 1000));
    }

    #[test]
    fn name_colon_group_looks_the_group_up() {
        let user = resolve_str("www:video").unwrap();
        assert_eq!((user.uid, user.gid), (33, 44));
        assert_eq!(user.additional_gids, vec![29]);
    }

    #[test]
    fn an_unknown_name_is_dockers_error() {
        let err = resolve_str("ghost").unwrap_err().to_string();
        assert_eq!(
            err,
            "unable to find user ghost: no matching entries in passwd file"
        );
    }

    #[test]
    fn an_unknown_group_is_dockers_error() {
        let err = resolve_str("www:ghosts").unwrap_err().to_string();
        assert_eq!(
            err,
            "unable to find group ghosts: no matching entries in group file"
        );
    }

    #[test]
    fn without_passwd_only_numbers_resolve() {
        assert_eq!(resolve_in("0", None, None, None).unwrap().uid, 0);
        assert!(resolve_in("root", None, None, None).is_err());
    }

    #[test]
    fn files_are_read_inside_the_rootfs_not_through_an_escaping_symlink() {
        let dir = tempfile::tempdir().unwrap();
        let rootfs = dir.path().join("rootfs");
        std::fs::create_dir_all(rootfs.join("etc")).unwrap();
        // Outside the rootfs: what an escaping link would reach.
        std::fs::write(dir.path().join("passwd"), "evil:x:4242:4242::/:/bin/sh\n").unwrap();
        std::os::unix::fs::symlink("../../passwd", rootfs.join("etc/passwd")).unwrap();
        let err = resolve(&rootfs, "evil").unwrap_err().to_string();
        assert!(err.contains("unable to find user evil"), "{err}");

        std::fs::remove_file(rootfs.join("etc/passwd")).unwrap();
        std::fs::write(rootfs.join("etc/real"), "me:x:7:8::/:/bin/sh\n").unwrap();
        // An absolute link resolves against the rootfs, as inside the container.
        std::os::unix::fs::symlink("/etc/real", rootfs.join("etc/passwd")).unwrap();
        let user = resolve(&rootfs, "me").unwrap();
        assert_eq!((user.uid, user.gid), (7, 8));
    }

    #[test]
    fn an_empty_user_is_root() {
        let dir = tempfile::tempdir().unwrap();
        let user = resolve(dir.path(), "").unwrap();
        assert_eq!((user.uid, user.gid), (0, 0));
    }
}
