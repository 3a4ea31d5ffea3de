//! Opening the engine on a store: what the command line and the API daemon both do
//! before any container work.

use std::path::{Path, PathBuf};

use crate::container::lifecycle::{ContainerError, Containers};
use crate::store::Store;

/// Where the engine keeps what a reboot clears: `--runroot`, else `/run/berth` for the
/// default store and `<root>/run` for any other.
pub fn runroot(root: &Path, given: Option<&Path>) -> PathBuf {
    match given {
        Some(dir) => dir.to_path_buf(),
        None if root == Path::new(crate::store::DEFAULT_ROOT) => PathBuf::from("/run/berth"),
        None => root.join("run"),
    }
}

/// The containers of the store at `root`, and how repairing what a crash left went.
pub fn open_containers(
    root: &Path,
    runroot_flag: Option<&Path>,
) -> anyhow::Result<(Containers, Result<(), ContainerError>)> {
    let store = Store::open(root)?;
    let mut containers = containers_of(store, root, &runroot(root, runroot_flag))?;
    let repaired = containers.repair();
    Ok((containers, repaired))
}

/// The containers of an opened store, with how a shim calls this berth back (its
/// exit command); nothing repaired (the daemon repairs once, at its start).
pub fn containers_of(
    store: Store,
    root: &Path,
    runroot: &Path,
) -> Result<Containers, ContainerError> {
    let exe = std::env::current_exe().map_err(|source| ContainerError::Io {
        path: PathBuf::from("/proc/self/exe"),
        source,
    })?;
    let root = std::path::absolute(root).unwrap_or_else(|_| root.to_path_buf());
    let runroot = std::path::absolute(runroot).unwrap_or_else(|_| runroot.to_path_buf());
    let berth = vec![
        exe.display().to_string(),
        "--root".to_string(),
        root.display().to_string(),
        "--runroot".to_string(),
        runroot.display().to_string(),
    ];
    Ok(Containers::new(store, runroot, berth))
}
