//! Linux security modules: an AppArmor profile or SELinux label asked for
//! by the spec is applied on exec where the host has that module, and is a
//! clear error where it does not — never silently ignored.

use std::path::Path;

use crate::error::{Error, Result};
use crate::procfs::ProcFs;

pub fn apparmor_enabled() -> bool {
    std::fs::read_to_string("/sys/module/apparmor/parameters/enabled")
        .is_ok_and(|v| v.trim() == "Y")
}

pub fn selinux_enabled() -> bool {
    Path::new("/sys/fs/selinux/enforce").exists()
}

/// Checked in the runtime before anything is created.
pub fn check_host_support(apparmor: Option<&str>, selinux: Option<&str>) -> Result<()> {
    if let Some(profile) = apparmor.filter(|p| !p.is_empty()) {
        if !apparmor_enabled() {
            return Err(Error::field(
                "process.apparmorProfile",
                format!("{profile:?} asked for, but AppArmor is not enabled on this host"),
            ));
        }
    }
    if let Some(label) = selinux.filter(|l| !l.is_empty()) {
        if !selinux_enabled() {
            return Err(Error::field(
                "process.selinuxLabel",
                format!("{label:?} asked for, but SELinux is not enabled on this host"),
            ));
        }
    }
    Ok(())
}

/// In the process about to execve: the labels take effect at the exec.
pub fn set_exec_labels(apparmor: Option<&str>, selinux: Option<&str>) -> Result<()> {
    let (apparmor, selinux) = (
        apparmor.filter(|p| !p.is_empty()),
        selinux.filter(|l| !l.is_empty()),
    );
    if apparmor.is_none() && selinux.is_none() {
        return Ok(());
    }
    let proc = ProcFs::open()?;
    let own = format!("{}", nix::unistd::gettid());
    if let Some(profile) = apparmor {
        let modern = Path::new(&own).join("attr/apparmor/exec");
        let legacy = Path::new(&own).join("attr/exec");
        let text = format!("exec {profile}");
        proc.write(&modern, text.as_bytes())
            .or_else(|_| proc.write(&legacy, text.as_bytes()))
            .map_err(|e| Error::field("process.apparmorProfile", e.to_string()))?;
    }
    if let Some(label) = selinux {
        proc.write(&Path::new(&own).join("attr/exec"), label.as_bytes())
            .map_err(|e| Error::field("process.selinuxLabel", e.to_string()))?;
    }
    Ok(())
}
