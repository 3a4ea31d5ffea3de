//! `export`: the container's whole filesystem, as it sees it, as one tar.

use std::io::Write;

use nix::fcntl::OFlag;

use super::access::{open_root, resolve_in_root, FilesError};
use super::lifecycle::{Container, Containers};
use super::tree::{write_tar, Owner, Tree};

impl Containers {
    /// Writes the container's merged rootfs to `out` as a tar (entries named without a
    /// leading `/`, owners and modes as in the container).
    pub fn export(&self, container: &Container, out: impl Write) -> Result<(), FilesError> {
        self.with_rootfs(container, |rootfs| {
            let root = open_root(rootfs)?;
            let top =
                resolve_in_root(&root, b"/", false, OFlag::O_PATH).map_err(|e| FilesError::Io {
                    path: rootfs.display().to_string(),
                    source: e.into(),
                })?;
            let mut builder = tar::Builder::new(out);
            write_tar(&Tree::new(top), b"", None, Owner::Keep, &mut builder)
                .map_err(FilesError::tree(container))?;
            builder.into_inner().map_err(|source| FilesError::Io {
                path: "the end-of-archive blocks".to_string(),
                source,
            })?;
            Ok(())
        })
    }
}
