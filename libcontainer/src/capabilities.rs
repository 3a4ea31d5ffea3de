//! Capability sets of the container process. The bounding set is dropped
//! first (it needs CAP_SETPCAP); the other sets are applied after the user
//! switch, which clears the effective set.

use std::collections::HashSet;
use std::sync::OnceLock;

use caps::{CapSet, Capability as Cap, CapsHashSet};
use oci_spec::runtime::{Capabilities, Capability, LinuxCapabilities};

use crate::error::{Error, Result};

/// Maps spec capability names to the kernel's, skipping those the running
/// kernel does not know (a newer spec than kernel is not an error, as in runc).
fn to_kernel_set(names: Option<&Capabilities>) -> CapsHashSet {
    let supported = supported();
    names
        .into_iter()
        .flatten()
        .filter_map(|cap| to_kernel(*cap))
        .filter(|cap| supported.contains(cap))
        .collect()
}

/// The capabilities the running kernel knows. Probing costs one prctl per
/// capability, and the answer cannot change while the process lives, so it
/// is asked once (not once per capability set).
fn supported() -> &'static CapsHashSet {
    static SUPPORTED: OnceLock<CapsHashSet> = OnceLock::new();
    SUPPORTED.get_or_init(caps::runtime::thread_all_supported)
}

fn to_kernel(cap: Capability) -> Option<Cap> {
    format!("CAP_{cap}").parse().ok()
}

fn apply(set: CapSet, caps: &CapsHashSet) -> Result<()> {
    caps::set(None, set, caps).map_err(|source| Error::Capabilities {
        action: format!("setting {set:?}"),
        source,
    })
}

/// Drops from the bounding set every capability the spec leaves out.
pub fn drop_bounding(spec: Option<&LinuxCapabilities>) -> Result<()> {
    let keep = to_kernel_set(spec.and_then(|c| c.bounding().as_ref()));
    for &cap in supported() {
        if !keep.contains(&cap) {
            caps::drop(None, CapSet::Bounding, cap).map_err(|source| Error::Capabilities {
                action: format!("dropping {cap} from the bounding set of"),
                source,
            })?;
        }
    }
    Ok(())
}

/// Sets inheritable, effective, permitted and ambient exactly as the spec
/// says, in the order the kernel accepts.
pub fn apply_process_sets(spec: Option<&LinuxCapabilities>) -> Result<()> {
    let wanted = |pick: fn(&LinuxCapabilities) -> &Option<Capabilities>| {
        to_kernel_set(spec.and_then(|c| pick(c).as_ref()))
    };
    let effective = wanted(LinuxCapabilities::effective);
    let permitted = wanted(LinuxCapabilities::permitted);
    let inheritable = wanted(LinuxCapabilities::inheritable);
    let ambient = wanted(LinuxCapabilities::ambient);

    // Regain the full permitted set as effective (a non-root uid switch
    // cleared it) so CAP_SETPCAP allows any inheritable set.
    let current_permitted =
        caps::read(None, CapSet::Permitted).map_err(|source| Error::Capabilities {
            action: "reading permitted".to_string(),
            source,
        })?;
    apply(CapSet::Effective, &current_permitted)?;
    apply(CapSet::Inheritable, &inheritable)?;
    // Effective must stay within permitted at every step.
    apply(
        CapSet::Effective,
        &effective.intersection(&permitted).copied().collect(),
    )?;
    apply(CapSet::Permitted, &permitted)?;
    apply(CapSet::Effective, &effective)?;
    let ambient: HashSet<Cap> = ambient
        .into_iter()
        .filter(|cap| permitted.contains(cap) && inheritable.contains(cap))
        .collect();
    if !ambient.is_empty() {
        apply(CapSet::Ambient, &ambient)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_names_map_to_kernel_names() {
        assert_eq!(to_kernel(Capability::Chown), Some(Cap::CAP_CHOWN));
        assert_eq!(
            to_kernel(Capability::NetBindService),
            Some(Cap::CAP_NET_BIND_SERVICE)
        );
        assert_eq!(to_kernel(Capability::SysAdmin), Some(Cap::CAP_SYS_ADMIN));
    }
}
