//! `diff`: what a container changed, read from its overlay upper dir, in Docker's
//! terms: `A` added, `C` changed, `D` deleted, in the order of a walk of the upper dir
//! (names bytewise), each directory before its contents.
//!
//! An overlay whiteout (a 0:0 character device) is a deletion, and so is an opaque
//! directory (`trusted.overlay.opaque=y`) where an image layer had one; anything else is
//! a change when the topmost layer that speaks of the path has it, an addition when none
//! has or a layer whites it out. A directory present in a layer with the same size, mode
//! and mtime is left out, but the ancestors of an added or deleted entry are always
//! listed as changed (Docker's rules).

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

/// What the upper dir `tree` changes over `layers` (topmost first).
pub fn changes_in(tree: &Tree, layers: &[OwnedFd]) -> Result<Vec<Change>, super::tree::TreeError> {
    let mut changes = Vec::new();
    let mut changed_dirs: HashSet<Vec<u8>> = HashSet::new();
    tree.walk(|rel, child| {
        let is_dir = kind(&child.stat) == SFlag::S_IFDIR;
        let deleted = is_whiteout(&child.stat)
            || (is_dir
                && tree
                    .open(rel, OFlag::O_RDONLY | OFlag::O_DIRECTORY)
                    .is_ok_and(|fd| is_opaque(&fd))
                && opaque_hides_a_lower_dir(layers, rel));
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
            // Every ancestor not listed yet, outermost first.
            let mut missing = Vec::new();
            let mut end = rel.len();
            while let Some(slash) = rel[..end].iter().rposition(|&b| b == b'/') {
                if changed_dirs.insert(rel[..slash].to_vec()) {
                    missing.push(Change {
                        kind: ChangeKind::Modified,
                        path: shown(&rel[..slash]),
                    });
                }
                end = slash;
            }
            changes.extend(missing.into_iter().rev());
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

/// `rel` and each of its ancestors, innermost first.
fn self_and_ancestors(rel: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut end = Some(rel.len());
    std::iter::from_fn(move || {
        let here = end?;
        let path = &rel[..here];
        end = path.iter().rposition(|&b| b == b'/');
        Some(path)
    })
}

/// What `rel` is in `layer`, resolved inside that layer (its symlinks followed there,
/// never onto the host).
fn stat_in(layer: &OwnedFd, rel: &[u8]) -> Option<FileStat> {
    let fd = resolve_in_root(layer, rel, true, OFlag::O_PATH).ok()?;
    fstat(&fd).ok()
}

/// Whether `layer` whites out `rel` or one of its ancestors.
fn whited_out_in(layer: &OwnedFd, rel: &[u8]) -> bool {
    self_and_ancestors(rel).any(|path| stat_in(layer, path).as_ref().is_some_and(is_whiteout))
}

/// `rel` in the topmost layer that has it; none when a layer above whites it out.
fn lower_stat(layers: &[OwnedFd], rel: &[u8]) -> Option<FileStat> {
    for layer in layers {
        if whited_out_in(layer, rel) {
            return None;
        }
        if let Some(stat) = stat_in(layer, rel) {
            return Some(stat);
        }
    }
    None
}

/// An opaque directory deletes what a layer below had there; one made where no layer
/// had anything (or where a layer had deleted it) only adds.
fn opaque_hides_a_lower_dir(layers: &[OwnedFd], rel: &[u8]) -> bool {
    for layer in layers {
        if let Some(stat) = stat_in(layer, rel) {
            return !is_whiteout(&stat);
        }
        let parent_whited_out = self_and_ancestors(rel)
            .skip(1)
            .any(|path| stat_in(layer, path).as_ref().is_some_and(is_whiteout));
        if parent_whited_out {
            return false;
        }
    }
    false
}

/// Go's comparison of two directories' times: equal, or the same second where one of
/// them has no nanoseconds.
fn same_dir(upper: &FileStat, lower: &FileStat) -> bool {
    let same_time = upper.st_mtime == lower.st_mtime
        && (upper.st_mtime_nsec == lower.st_mtime_nsec
            || upper.st_mtime_nsec == 0
            || lower.st_mtime_nsec == 0);
    upper.st_size == lower.st_size && upper.st_mode == lower.st_mode && same_time
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

    fn whiteout(path: &std::path::Path) {
        nix::sys::stat::mknod(
            path,
            SFlag::S_IFCHR,
            nix::sys::stat::Mode::empty(),
            nix::sys::stat::makedev(0, 0),
        )
        .expect("mknod (as root)");
    }

    fn make_opaque(path: &std::path::Path) {
        use std::os::unix::ffi::OsStrExt;
        let c_path = std::ffi::CString::new(path.as_os_str().as_bytes()).expect("path");
        // SAFETY: both strings are NUL-terminated and the value is one valid byte.
        let r = unsafe {
            nix::libc::setxattr(
                c_path.as_ptr(),
                OPAQUE_XATTR.as_ptr(),
                b"y".as_ptr().cast(),
                1,
                0,
            )
        };
        assert_eq!(r, 0, "setxattr trusted.overlay.opaque (as root)");
    }

    #[test]
    fn whiteouts_and_opaque_dirs_delete_what_a_layer_had() {
        let lower = tempfile::tempdir().expect("temp");
        let upper = tempfile::tempdir().expect("temp");
        fs::create_dir_all(lower.path().join("var/cache")).expect("mkdir");
        fs::write(lower.path().join("var/old"), "x").expect("write");
        fs::create_dir_all(upper.path().join("var/cache")).expect("mkdir");
        make_opaque(&upper.path().join("var/cache"));
        fs::write(upper.path().join("var/cache/fresh"), "x").expect("write");
        whiteout(&upper.path().join("var/old"));
        // Opaque where no layer had anything: only an addition.
        fs::create_dir_all(upper.path().join("srv")).expect("mkdir");
        make_opaque(&upper.path().join("srv"));
        let tree = Tree::open_path(upper.path()).expect("tree");
        let changes = changes_in(&tree, &[open(lower.path())]).expect("changes");
        let lines: Vec<String> = changes.iter().map(|c| c.to_string()).collect();
        assert_eq!(
            lines,
            [
                "A /srv",
                "C /var",
                "D /var/cache",
                "A /var/cache/fresh",
                "D /var/old"
            ]
        );
    }

    #[test]
    fn a_path_a_higher_layer_whited_out_is_added_again() {
        let top = tempfile::tempdir().expect("temp");
        let base = tempfile::tempdir().expect("temp");
        let upper = tempfile::tempdir().expect("temp");
        fs::create_dir_all(base.path().join("opt/app")).expect("mkdir");
        whiteout(&top.path().join("opt"));
        fs::create_dir_all(upper.path().join("opt/app")).expect("mkdir");
        let tree = Tree::open_path(upper.path()).expect("tree");
        let changes = changes_in(&tree, &[open(top.path()), open(base.path())]).expect("changes");
        let lines: Vec<String> = changes.iter().map(|c| c.to_string()).collect();
        assert_eq!(lines, ["A /opt", "A /opt/app"]);
    }

    #[test]
    fn every_missing_ancestor_comes_first() {
        let lower = tempfile::tempdir().expect("temp");
        let upper = tempfile::tempdir().expect("temp");
        fs::create_dir_all(lower.path().join("a/b")).expect("mkdir");
        fs::write(lower.path().join("a/b/other"), "x").expect("write");
        fs::create_dir_all(upper.path().join("a/b")).expect("mkdir");
        // One entry in each: the directories' sizes match on any file system.
        fs::write(upper.path().join("a/b/new"), "x").expect("write");
        // The upper's directories are copies with the layer's size, mode and times.
        for dir in ["a", "a/b"] {
            let from = fs::metadata(lower.path().join(dir)).expect("stat");
            let time = from.modified().expect("mtime");
            fs::File::open(upper.path().join(dir))
                .and_then(|f| f.set_modified(time))
                .expect("set mtime");
        }
        let tree = Tree::open_path(upper.path()).expect("tree");
        let changes = changes_in(&tree, &[open(lower.path())]).expect("changes");
        let lines: Vec<String> = changes.iter().map(|c| c.to_string()).collect();
        assert_eq!(lines, ["C /a", "C /a/b", "A /a/b/new"]);
    }
}
