//! Bind sources of a container with a user namespace, taken by the runtime
//! while it still has the host's root: the init runs in the user namespace
//! from its first instruction, so a source below a directory only the host's
//! root may enter (mode 0700, say) is out of its reach. As runc does, the
//! runtime opens each source for the init; here as a detached copy of the
//! mount (open_tree OPEN_TREE_CLONE, before clone), which the init attaches
//! in its own mount namespace with move_mount.

use std::ffi::CString;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use nix::mount::MsFlags;
use oci_spec::runtime::Spec;

use super::{is_bind, jail, options};
use crate::error::{Error, Result};
use crate::sys;

/// One detached mount per bind entry of `mounts`, by index.
#[derive(Default)]
pub struct BindSources {
    by_index: Vec<Option<OwnedFd>>,
}

impl BindSources {
    /// The detached copy of `mounts[index]`'s source, if one was taken.
    pub fn get(&self, index: usize) -> Option<BorrowedFd<'_>> {
        self.by_index.get(index)?.as_ref().map(|fd| fd.as_fd())
    }

    /// In the runtime, before the init is cloned: a detached copy of every
    /// bind source when the container gets a user namespace, none otherwise.
    pub fn open(spec: &Spec, bundle: &Path, user_namespace: bool) -> Result<BindSources> {
        if !user_namespace {
            return Ok(BindSources::default());
        }
        let propagation =
            detached_propagation(jail::setup_propagation(jail::requested_propagation(spec)));
        let mut by_index = Vec::new();
        for (index, entry) in spec
            .mounts()
            .as_deref()
            .unwrap_or_default()
            .iter()
            .enumerate()
        {
            let opts = options::parse(entry.options().as_deref().unwrap_or_default());
            let source = match entry.source() {
                Some(source) if is_bind(entry, &opts) => bundle.join(source),
                _ => {
                    by_index.push(None);
                    continue;
                }
            };
            let field = || format!("mounts[{index}].source");
            let c_source = CString::new(source.as_os_str().as_bytes())
                .map_err(|_| Error::field(field(), "contains a NUL byte"))?;
            let recursive = opts.flags.contains(MsFlags::MS_REC);
            let detached = sys::open_tree_clone(&c_source, recursive)
                .map_err(|e| Error::field(field(), format!("{}: {e}", source.display())))?;
            if let Some(propagation) = propagation {
                let attr = sys::MountAttr {
                    propagation: propagation.bits(),
                    ..sys::MountAttr::default()
                };
                sys::mount_setattr(detached.as_fd(), recursive, &attr).map_err(|e| {
                    Error::field(
                        field(),
                        format!("{}: setting propagation of its copy: {e}", source.display()),
                    )
                })?;
            }
            by_index.push(Some(detached));
        }
        Ok(BindSources { by_index })
    }
}

/// A copy made by open_tree is a peer of its source, as a bind made in the
/// container's mount namespace would not be: give it the propagation the
/// container's `/` gets during set-up (slave unless `shared` or `private`).
fn detached_propagation(setup: MsFlags) -> Option<MsFlags> {
    if setup.contains(MsFlags::MS_SHARED) {
        None
    } else if setup.contains(MsFlags::MS_PRIVATE) {
        Some(MsFlags::MS_PRIVATE)
    } else {
        Some(MsFlags::MS_SLAVE)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detached_copies_follow_the_setup_propagation_of_root() {
        assert_eq!(
            detached_propagation(MsFlags::MS_SLAVE | MsFlags::MS_REC),
            Some(MsFlags::MS_SLAVE)
        );
        assert_eq!(
            detached_propagation(MsFlags::MS_PRIVATE),
            Some(MsFlags::MS_PRIVATE)
        );
        assert_eq!(detached_propagation(MsFlags::MS_SHARED), None);
    }

    #[test]
    fn no_user_namespace_takes_nothing() {
        let spec: Spec = serde_json::from_value(serde_json::json!({
            "ociVersion": "1.0.2",
            "mounts": [{"destination": "/data", "type": "bind", "source": "/nonexistent", "options": ["rbind"]}]
        }))
        .unwrap();
        let sources = BindSources::open(&spec, Path::new("/"), false).unwrap();
        assert!(sources.get(0).is_none());
    }
}
