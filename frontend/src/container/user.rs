//! `-u USER[:GROUP]` resolved in the container's own /etc/passwd and /etc/group,
//! read through `openat2(RESOLVE_IN_ROOT)`: a symlink in the image cannot make berth
//! read a host file instead.

use std::fs::File;
use std::io::Read;
use std::path::Path;

use nix::fcntl::{openat2, OFlag, OpenHow, ResolveFlag};
use nix::sys::stat::Mode;

/// The text of `path` (absolute inside the rootfs), or empty when it is missing.
fn read_in_root(rootfs: &Path, path: &str) -> String {
    let Ok(root) = nix::fcntl::open(
        rootfs,
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    ) else {
        return String::new();
    };
    let how = OpenHow::new()
        .flags(OFlag::O_RDONLY | OFlag::O_CLOEXEC | OFlag::O_NOCTTY | OFlag::O_NONBLOCK)
        .resolve(ResolveFlag::RESOLVE_IN_ROOT | ResolveFlag::RESOLVE_NO_MAGICLINKS);
    let Ok(fd) = openat2(&root, path, how) else {
        return String::new();
    };
    let mut text = String::new();
    // A passwd file is small; a huge one is cut rather than read whole.
    let _ = File::from(fd).take(4 << 20).read_to_string(&mut text);
    text
}

/// `(name, id, primary gid)` of each line of a passwd- or group-style file.
fn entries(text: &str) -> impl Iterator<Item = (&str, u32, Option<u32>)> {
    text.lines().filter_map(|line| {
        let mut fields = line.split(':');
        let name = fields.next()?;
        let _password = fields.next()?;
        let id = fields.next()?.parse().ok()?;
        let gid = fields.next().and_then(|g| g.parse().ok());
        Some((name, id, gid))
    })
}

/// `uid` and `gid` for `user` (`name`, `uid`, `name:group`, `uid:gid`), in Docker's
/// words when a name is unknown.
pub fn resolve_in_rootfs(rootfs: &Path, user: &str) -> Result<(u32, u32), String> {
    let (user_part, group_part) = match user.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (user, None),
    };
    let passwd = read_in_root(rootfs, "/etc/passwd");
    let (uid, primary) = match user_part.parse::<u32>() {
        Ok(uid) => {
            let gid = entries(&passwd)
                .find(|(_, id, _)| *id == uid)
                .and_then(|(_, _, gid)| gid)
                .unwrap_or(0);
            (uid, gid)
        }
        Err(_) => entries(&passwd)
            .find(|(name, _, _)| *name == user_part)
            .map(|(_, uid, gid)| (uid, gid.unwrap_or(0)))
            .ok_or_else(|| {
                format!("unable to find user {user_part}: no matching entries in passwd file")
            })?,
    };
    let gid = match group_part {
        None => primary,
        Some(group) => match group.parse::<u32>() {
            Ok(gid) => gid,
            Err(_) => entries(&read_in_root(rootfs, "/etc/group"))
                .find(|(name, _, _)| *name == group)
                .map(|(_, gid, _)| gid)
                .ok_or_else(|| {
                    format!("unable to find group {group}: no matching entries in group file")
                })?,
        },
    };
    Ok((uid, gid))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_numbers_resolve_in_the_rootfs_only() {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir(root.path().join("etc")).unwrap();
        std::fs::write(
            root.path().join("etc/passwd"),
            "root:x:0:0::/root:/bin/sh\nnobody:x:65534:65533::/:/bin/false\n",
        )
        .unwrap();
        std::fs::write(root.path().join("etc/group"), "root:x:0:\nstaff:x:50:\n").unwrap();
        assert_eq!(
            resolve_in_rootfs(root.path(), "nobody").unwrap(),
            (65534, 65533)
        );
        assert_eq!(resolve_in_rootfs(root.path(), "1000").unwrap(), (1000, 0));
        assert_eq!(
            resolve_in_rootfs(root.path(), "nobody:staff").unwrap(),
            (65534, 50)
        );
        assert_eq!(resolve_in_rootfs(root.path(), "0:7").unwrap(), (0, 7));
        let err = resolve_in_rootfs(root.path(), "ghost").unwrap_err();
        assert_eq!(
            err,
            "unable to find user ghost: no matching entries in passwd file"
        );
        // A passwd that is a symlink to a host file is read inside the rootfs.
        std::fs::remove_file(root.path().join("etc/passwd")).unwrap();
        std::os::unix::fs::symlink("/etc/passwd", root.path().join("etc/passwd")).unwrap();
        assert!(resolve_in_rootfs(root.path(), "root").is_err());
    }
}
