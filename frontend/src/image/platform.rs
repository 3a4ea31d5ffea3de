//! Platforms as `--platform` names them (`os/arch[/variant]`), the host's own, and
//! whether an index entry's platform is one of them.

use std::fmt;

/// A wanted platform, normalised: `linux/amd64`, `linux/arm64/v8`, `linux/arm/v7`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Platform {
    pub os: String,
    pub architecture: String,
    /// None: any variant of the architecture (its default first, if listed).
    pub variant: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid platform {0:?}: expected OS/ARCH[/VARIANT], as in linux/amd64 or linux/arm/v7")]
pub struct PlatformError(pub String);

impl Platform {
    /// Parses `--platform`: `linux/amd64`, `linux/arm64/v8`, `linux/x86_64` (aliases as
    /// Docker reads them).
    pub fn parse(text: &str) -> Result<Platform, PlatformError> {
        let parts: Vec<&str> = text.split('/').collect();
        let word = |s: &&str| {
            !s.is_empty()
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.')
        };
        if !(2..=3).contains(&parts.len()) || !parts.iter().all(word) {
            return Err(PlatformError(text.to_string()));
        }
        let (architecture, variant) =
            normalise_architecture(&parts[1].to_ascii_lowercase(), parts.get(2).copied());
        Ok(Platform {
            os: parts[0].to_ascii_lowercase(),
            architecture,
            variant,
        })
    }

    /// The platform this binary runs on.
    pub fn host() -> Platform {
        let (architecture, variant) = normalise_architecture(std::env::consts::ARCH, None);
        Platform {
            os: std::env::consts::OS.to_string(),
            architecture,
            variant,
        }
    }

    /// Whether an entry for `os`/`architecture`/`variant` runs here.
    pub fn matches(&self, os: &str, architecture: &str, variant: Option<&str>) -> bool {
        let (architecture, variant) = normalise_architecture(architecture, variant);
        if os != self.os || architecture != self.architecture {
            return false;
        }
        match &self.variant {
            None => true,
            Some(wanted) => {
                variant.as_deref() == Some(wanted.as_str())
                    || (variant.is_none() && default_variant(&architecture) == Some(wanted))
            }
        }
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(variant) = &self.variant {
            write!(f, "/{variant}")?;
        }
        Ok(())
    }
}

/// Go's architecture names for Rust's and uname's, and variants as `vN`.
fn normalise_architecture(architecture: &str, variant: Option<&str>) -> (String, Option<String>) {
    let architecture = match architecture {
        "x86_64" | "x86-64" => "amd64",
        "aarch64" => "arm64",
        "x86" | "i686" | "i486" => "386",
        "powerpc64" if cfg!(target_endian = "little") => "ppc64le",
        "armhf" => return ("arm".into(), Some("v7".into())),
        "armel" => return ("arm".into(), Some("v6".into())),
        other => other,
    };
    let variant = variant.map(|v| {
        let v = v.to_ascii_lowercase();
        if v.bytes().all(|b| b.is_ascii_digit()) {
            format!("v{v}")
        } else {
            v
        }
    });
    // arm64 has one variant: v8 and none are the same.
    let variant = match (architecture, variant) {
        ("arm64", Some(v)) if v == "v8" => None,
        (_, v) => v,
    };
    (architecture.to_string(), variant)
}

fn default_variant(architecture: &str) -> Option<&'static str> {
    match architecture {
        "arm" => Some("v7"),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_normalises_as_docker_reads_platforms() {
        let p = |s: &str| Platform::parse(s).map(|p| p.to_string());
        assert_eq!(p("linux/amd64"), Ok("linux/amd64".into()));
        assert_eq!(p("linux/x86_64"), Ok("linux/amd64".into()));
        assert_eq!(p("Linux/AArch64"), Ok("linux/arm64".into()));
        assert_eq!(p("linux/arm64/v8"), Ok("linux/arm64".into()));
        assert_eq!(p("linux/arm/7"), Ok("linux/arm/v7".into()));
        assert_eq!(p("linux/armhf"), Ok("linux/arm/v7".into()));
        for bad in [
            "",
            "linux",
            "linux/",
            "/amd64",
            "linux/amd64/v1/x",
            "linux/amd 64",
        ] {
            let err = Platform::parse(bad).map(|_| ()).unwrap_err();
            assert!(err.to_string().contains(&format!("{bad:?}")), "{err}");
        }
    }

    #[test]
    fn the_host_is_a_go_name() {
        let host = Platform::host();
        assert_eq!(host.os, "linux");
        if cfg!(target_arch = "x86_64") {
            assert_eq!(host.to_string(), "linux/amd64");
        }
    }

    #[test]
    fn matching_entries() {
        let want = |s: &str| Platform::parse(s).unwrap_or_else(|e| panic!("{e}"));
        assert!(want("linux/amd64").matches("linux", "amd64", None));
        assert!(!want("linux/amd64").matches("linux", "arm64", None));
        assert!(!want("linux/amd64").matches("windows", "amd64", None));
        assert!(want("linux/arm64").matches("linux", "arm64", Some("v8")));
        assert!(want("linux/arm64/v8").matches("linux", "arm64", None));
        assert!(want("linux/arm/v7").matches("linux", "arm", Some("v7")));
        assert!(want("linux/arm/v7").matches("linux", "arm", None));
        assert!(!want("linux/arm/v6").matches("linux", "arm", Some("v7")));
        assert!(want("linux/arm").matches("linux", "arm", Some("v5")));
    }
}
