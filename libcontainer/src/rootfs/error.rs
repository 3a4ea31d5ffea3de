//! What can go wrong while the root filesystem is built, beyond a failed
//! system call (`Sys`, which names the call and its target): each names
//! the mount entry, device or path it is about.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum RootfsError {
    /// Entry `index` of config.json's `mounts`.
    #[error("mounts[{index}] ({}): {cause}", destination.display())]
    Mount {
        index: usize,
        destination: PathBuf,
        #[source]
        cause: Box<crate::error::Error>,
    },

    /// proc or sysfs aimed at something other than a real directory.
    #[error("it is {found} in the rootfs: {fs_type} must be mounted on an ordinary directory")]
    NotADirectory {
        found: &'static str,
        fs_type: String,
    },

    #[error("tmpcopyup: {0}")]
    CopyUp(String),

    #[error("device path {0:?} has no file name")]
    DevicePath(PathBuf),

    /// The container's /dev/null, which masks bind, is something else
    /// (CVE-2025-31133 class).
    #[error("maskedPaths: /dev/null in the container is not the null device (1:3); refusing to mask with it")]
    NullIsNotNull,

    #[error("maskedPaths: no /dev/null to mask with")]
    NoNull,
}
