//! Interim: the container's /etc/hosts, /etc/hostname and /etc/resolv.conf.

use super::spec::{SpecError, SpecInput};

pub fn write_etc_files(input: &SpecInput<'_>) -> Result<(), SpecError> {
    let hostname = &input.config.hostname;
    let write = |path: std::path::PathBuf, text: String| {
        std::fs::write(&path, text)
            .map_err(|e| SpecError::Other(format!("{}: {e}", path.display())))
    };
    write(input.paths.hostname(), format!("{hostname}\n"))?;
    write(
        input.paths.hosts(),
        "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n".into(),
    )?;
    write(input.paths.resolv_conf(), String::new())
}
