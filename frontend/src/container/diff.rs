//! `diff`: what a container changed, read from its overlay upper dir, in Docker's
//! terms: `A` added, `C` changed, `D` deleted, in the order of a walk of the upper dir
//! (names bytewise), each directory before its contents.
//!
//! An overlay whiteout (a 0:0 character device) and an opaque directory
//! (`trusted.overlay.opaque=y`) are deletions; anything else is a change when some image
//! layer has that path, an addition when none has. A directory present in a layer with
//! the same size, mode and mtime is left out, but the parent of an added or deleted
//! entry is always listed as changed (Docker's rule).

use std::collections::HashSet;
use std::fmt;
use std::os::fd::{AsRawFd, OwnedFd};

use nix::fcntl::OFlag;
use nix::sys::stat::{fstat, major, minor, FileStat, SFlag};

use super::access::{open_root, resolve_in_root, FilesError};
use super::lifecycle::{Container, Containers};
use super::tree::{kind, Tree};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeKind {
    Modified,
    Added,
    Deleted,
}

impl ChangeKind {
    pub fn letter(self) -> char {
        match self {
            ChangeKind::Modified => 'C',
            ChangeKind::Added => 'A',
            ChangeKind::Deleted => 'D',
        }
    }

    /// Docker's API number for the kind (`Kind` in `GET /containers/ID/changes`).
    pub fn api_kind(self) -> u8 {
        match self {
            ChangeKind::Modified => 0,
            ChangeKind::Added => 1,
            ChangeKind::Deleted => 2,
        }
    }
}

/// One line of `diff`: a path inside the container, absolute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub kind: ChangeKind,
    pub path: String,
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.kind.letter(), self.path)
    }
}

const OPAQUE_XATTR: &std::ffi::CStr = c"trusted.overlay.opaque";

/// Whether the directory open as `dir` is opaque.
fn is_opaque(dir: &OwnedFd) -> bool {
    let mut value = [0u8; 2];
    // SAFETY: `dir` is an open fd, the name is NUL-terminated, and the kernel writes at
    // most `value.len()` bytes into `value`.
    let n = unsafe {
        nix::libc::fgetxattr(
            dir.as_raw_fd(),
            OPAQUE_XATTR.as_ptr(),
            value.as_mut_ptr().cast(),
            value.len(),
        )
    };
    n == 1 && value[0] == b'y'
}

fn is_whiteout(stat: &FileStat) -> bool {
    kind(stat) == SFlag::S_IFCHR && major(stat.st_rdev) == 0 && minor(stat.st_rdev) == 0
}

impl Containers {
    /// The container's changes to its image's filesystem.
    pub fn changes(&self, container: &Container) -> Result<Vec<Change>, FilesError> {
        let layers: Vec<OwnedFd> = self
            .layer_dirs(container)?
            .iter()
            .map(|dir| open_root(dir))
            .collect::<Result<_, _>>()?;
        let upper = container.paths.upper();
        self.locked(container, || {
            let tree = Tree::open_path(&upper).map_err(FilesError::tree(container))?;
            changes_in(&tree, &layers).map_err(FilesError::tree(container))
        })
    }
}

/// What the upper dir `tree` changes over `layers`.
pub fn changes_in(tree: &Tree, layers: &[OwnedFd]) -> Result<Vec<Change>, super::tree::TreeError> {
    let mut changes = Vec::new();
    let mut changed_dirs: HashSet<Vec<u8>> = HashSet::new();
    tree.walk(|rel, child| {
        let is_dir = kind(&child.stat) == SFlag::S_IFDIR;
        let deleted = is_whiteout(&child.stat)
            || (is_dir
                && tree
                    .open(rel, OFlag::O_RDONLY | OFlag::O_DIRECTORY)
                    .is_ok_and(|fd| is_opaque(&fd)));
        let change = if deleted {
            ChangeKind::Deleted
        } else {
            match lower_stat(layers, rel) {
                None => ChangeKind::Added,
                Some(lower) => {
                    if is_dir && kind(&lower) == SFlag::S_IFDIR && same_dir(&child.stat, &lower) {
                        return Ok(true);
                    }
                    ChangeKind::Modified
                }
            }
        };
        if is_dir {
            changed_dirs.insert(rel.to_vec());
        }
        if change != ChangeKind::Modified {
            if let Some(slash) = rel.iter().rposition(|&b| b == b'/') {
                let parent = &rel[..slash];
                if changed_dirs.insert(parent.to_vec()) {
                    changes.push(Change {
                        kind: ChangeKind::Modified,
                        path: shown(parent),
                    });
                }
            }
        }
        changes.push(Change {
            kind: change,
            path: shown(rel),
        });
        Ok(true)
    })?;
    Ok(changes)
}

fn shown(rel: &[u8]) -> String {
    format!("/{}", String::from_utf8_lossy(rel))
}

/// `rel` in the first layer that has it, resolved inside that layer.
fn lower_stat(layers: &[OwnedFd], rel: &[u8]) -> Option<FileStat> {
    layers.iter().find_map(|layer| {
        let fd = resolve_in_root(layer, rel, false, OFlag::O_PATH).ok()?;
        fstat(&fd).ok()
    })
}

fn same_dir(upper: &FileStat, lower: &FileStat) -> bool {
    upper.st_size == lower.st_size
        && upper.st_mode == lower.st_mode
        && upper.st_mtime == lower.st_mtime
        && upper.st_mtime_nsec == lower.st_mtime_nsec
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn open(path: &std::path::Path) -> OwnedFd {
        open_root(path).expect("open layer")
    }

    #[test]
    fn added_changed_and_parents_in_walk_order() {
        let lower = tempfile::tempdir().expect("temp");
        let upper = tempfile::tempdir().expect("temp");
        fs::create_dir_all(lower.path().join("etc")).expect("mkdir");
        fs::write(lower.path().join("etc/passwd"), "root").expect("write");
        fs::create_dir_all(upper.path().join("etc")).expect("mkdir");
        fs::write(upper.path().join("etc/passwd"), "root2").expect("write");
        fs::write(upper.path().join("etc/new"), "x").expect("write");
        fs::create_dir_all(upper.path().join("srv/a")).expect("mkdir");
        let tree = Tree::open_path(upper.path()).expect("tree");
        let changes = changes_in(&tree, &[open(lower.path())]).expect("changes");
        let lines: Vec<String> = changes.iter().map(|c| c.to_string()).collect();
        assert_eq!(
            lines,
            [
                "C /etc",
                "A /etc/new",
                "C /etc/passwd",
                "A /srv",
                "A /srv/a"
            ]
        );
    }

    #[test]
    fn a_layer_symlink_is_looked_up_inside_the_layer() {
        let lower = tempfile::tempdir().expect("temp");
        let upper = tempfile::tempdir().expect("temp");
        // In the layer `evil` points at the host's /etc, which has `passwd`; inside the
        // layer /etc/passwd does not exist, so the upper's file is an addition.
        std::os::unix::fs::symlink("/etc", lower.path().join("evil")).expect("symlink");
        fs::create_dir_all(upper.path().join("evil")).expect("mkdir");
        fs::write(upper.path().join("evil/passwd"), "x").expect("write");
        let layer = open(lower.path());
        assert!(lower_stat(std::slice::from_ref(&layer), b"evil/passwd").is_none());
    }
}
