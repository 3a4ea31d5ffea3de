//! Tar entry names as places in the layer root, and the OCI whiteout names.
//!
//! The choice for names that climb: an absolute name (`/etc/passwd`) is read relative to
//! the layer root, as GNU tar and Docker read it: in the container it means that very
//! place. A name whose `..` components would climb above the root (`../../x`) is refused:
//! it has no place inside the root, no tool that writes layers produces one, and moving
//! it somewhere else in silence would unpack a file other than the one the layer names
//! (Docker refuses these as a "breakout" too). `a/../b` stays inside and is read as `b`.
//! Symlinks met on the way are not judged here: the kernel resolves them inside the root
//! (`RESOLVE_IN_ROOT`, see `root.rs`), the way the container will see them.

use std::fmt;

/// The whiteout prefix of the OCI image-spec (layer.md, "Whiteouts").
pub(super) const WHITEOUT_PREFIX: &[u8] = b".wh.";
/// The opaque-directory marker: `.wh..wh..opq` hides every lower entry of its directory.
pub(super) const OPAQUE_MARKER: &[u8] = b".wh..wh..opq";
/// AUFS's own metadata names (`.wh..wh.plnk`, `.wh..wh.aufs`): not whiteouts.
const AUFS_META_PREFIX: &[u8] = b".wh..wh.";

/// Why a name cannot be placed in the layer root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NameProblem {
    Empty,
    NulByte,
    /// `..` components that would leave the layer root.
    Climbs,
    /// A whiteout naming nothing (`.wh.`), the directory itself (`.wh..`) or its
    /// parent (`.wh...`).
    BadWhiteout,
    /// A whiteout name (`.wh.` prefix) as a directory on the way: no such directory can
    /// exist in a layer, and `diff` could not write what it held back as a tar.
    WhiteoutParent,
}

impl fmt::Display for NameProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NameProblem::Empty => write!(f, "the name is empty"),
            NameProblem::NulByte => write!(f, "the name holds a NUL byte"),
            NameProblem::Climbs => write!(
                f,
                "its '..' components climb out of the layer root (refused, not clamped)"
            ),
            NameProblem::BadWhiteout => {
                write!(f, "a whiteout must name an entry other than '.' and '..'")
            }
            NameProblem::WhiteoutParent => write!(
                f,
                "a directory on its path has a whiteout name (starts with '.wh.')"
            ),
        }
    }
}

/// A name inside the layer root: its components, none of them empty, `.` or `..`.
/// No components at all is the root itself.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) struct InRoot(Vec<Vec<u8>>);

impl InRoot {
    /// Reads a tar name: `/` and `.` components dropped, `..` taken back lexically.
    pub(super) fn parse(raw: &[u8]) -> Result<InRoot, NameProblem> {
        if raw.is_empty() {
            return Err(NameProblem::Empty);
        }
        if raw.contains(&0) {
            return Err(NameProblem::NulByte);
        }
        let mut components: Vec<Vec<u8>> = Vec::new();
        for component in raw.split(|&b| b == b'/') {
            match component {
                b"" | b"." => {}
                b".." => {
                    if components.pop().is_none() {
                        return Err(NameProblem::Climbs);
                    }
                }
                other => components.push(other.to_vec()),
            }
        }
        Ok(InRoot(components))
    }

    pub(super) fn is_root(&self) -> bool {
        self.0.is_empty()
    }

    /// The parent's components and the last one; `None` for the root.
    pub(super) fn split_last(&self) -> Option<(&[Vec<u8>], &[u8])> {
        let (last, parent) = self.0.split_last()?;
        Some((parent, last))
    }

    pub(super) fn components(&self) -> &[Vec<u8>] {
        &self.0
    }

    /// The components joined with `/`, relative (for `openat2` from the root fd).
    pub(super) fn joined(components: &[Vec<u8>]) -> Vec<u8> {
        let mut out = Vec::new();
        for (i, c) in components.iter().enumerate() {
            if i > 0 {
                out.push(b'/');
            }
            out.extend_from_slice(c);
        }
        if out.is_empty() {
            out.push(b'.');
        }
        out
    }
}

/// What an entry's name asks for, whiteouts told apart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Target {
    /// An ordinary entry at this place.
    Plain(InRoot),
    /// `dir/.wh.name`: hide `dir/name` of the lower layers.
    Whiteout(InRoot),
    /// `dir/.wh..wh..opq`: hide everything the lower layers have in `dir`.
    Opaque(InRoot),
    /// `.wh..wh.*` other than the opaque marker: AUFS's own bookkeeping (`.wh..wh.plnk`,
    /// `.wh..wh.aufs`), which Docker skips too.
    AufsMeta,
}

impl Target {
    pub(super) fn parse(raw: &[u8]) -> Result<Target, NameProblem> {
        let place = InRoot::parse(raw)?;
        let Some((parent, last)) = place.split_last() else {
            return Ok(Target::Plain(place));
        };
        // Under an AUFS metadata directory (`.wh..wh.plnk/...`): skipped whole, as Docker
        // does; under any other whiteout name: refused.
        if parent.iter().any(|c| c.starts_with(AUFS_META_PREFIX)) {
            return Ok(Target::AufsMeta);
        }
        if parent.iter().any(|c| c.starts_with(WHITEOUT_PREFIX)) {
            return Err(NameProblem::WhiteoutParent);
        }
        if last == OPAQUE_MARKER {
            return Ok(Target::Opaque(InRoot(parent.to_vec())));
        }
        let Some(hidden) = last.strip_prefix(WHITEOUT_PREFIX) else {
            return Ok(Target::Plain(place));
        };
        if last.starts_with(AUFS_META_PREFIX) {
            return Ok(Target::AufsMeta);
        }
        if hidden.is_empty() || hidden == b"." || hidden == b".." {
            return Err(NameProblem::BadWhiteout);
        }
        let mut components = parent.to_vec();
        components.push(hidden.to_vec());
        Ok(Target::Whiteout(InRoot(components)))
    }
}

/// A name for messages: lossy UTF-8, control characters escaped by the caller's `{:?}`,
/// cut after 256 characters so a 64 KiB hostile name does not become the whole message.
pub(super) fn shown(raw: &[u8]) -> String {
    const MOST: usize = 256;
    let text = String::from_utf8_lossy(raw);
    match text.char_indices().nth(MOST) {
        Some((cut, _)) => format!("{}...", &text[..cut]),
        None => text.into_owned(),
    }
}

#[cfg(test)]
mod tests;
