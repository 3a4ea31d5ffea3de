//! `exec --cgroup`: an exec'd process placed in an existing cgroup below the
//! container's own, as runc's `[<controller>[,<controller>...]:]<path>`.

use std::path::{Component, Path, PathBuf};

use super::Cgroup;
use crate::error::{Error, Result};

fn flag_error(message: String) -> Error {
    Error::Flag {
        flag: "--cgroup",
        message,
    }
}

/// One `--cgroup` value: the controllers it names (none: every hierarchy)
/// and the path below the container's cgroup.
fn parse(value: &str) -> Result<(Vec<String>, PathBuf)> {
    let (controllers, path) = match value.split_once(':') {
        Some((controllers, path)) => (
            controllers
                .split(',')
                .map(str::to_string)
                .collect::<Vec<_>>(),
            path,
        ),
        None => (Vec::new(), value),
    };
    if controllers.iter().any(String::is_empty) {
        return Err(flag_error(format!("{value:?}: empty controller name")));
    }
    let relative = Path::new(path.trim_start_matches('/'));
    // Below the container's cgroup and nowhere else: no `..`, no way up.
    if relative.as_os_str().is_empty()
        || relative
            .components()
            .any(|c| !matches!(c, Component::Normal(_)))
    {
        return Err(flag_error(format!(
            "{value:?}: expected a path below the container's cgroup, without \"..\""
        )));
    }
    Ok((controllers, relative.to_path_buf()))
}

impl Cgroup {
    /// The container's cgroup with the directories `values` name swapped in;
    /// each must already exist (runc creates none either). Nothing is
    /// recorded as created: delete removes the container's tree anyway.
    pub fn sub_cgroup(&self, values: &[String]) -> Result<Cgroup> {
        let mut sub = self.clone();
        sub.created.clear();
        for value in values {
            let (controllers, path) = parse(value)?;
            let mut matched = false;
            // Each value is below the container's own dir, not below what
            // an earlier value chose.
            for (d, own) in sub.v1.iter_mut().zip(&self.v1) {
                let named = controllers.is_empty()
                    || d.controllers
                        .iter()
                        .any(|c| controllers.iter().any(|wanted| wanted == c));
                if named {
                    d.dir = existing(&own.dir, &path, value)?;
                    matched = true;
                }
            }
            if let Some(u) = sub.unified.as_mut() {
                let named = controllers.is_empty()
                    || u.controllers
                        .iter()
                        .any(|c| controllers.iter().any(|wanted| wanted == c));
                if named {
                    let base = self.unified.as_ref().map_or(&u.dir, |own| &own.dir);
                    u.dir = existing(base, &path, value)?;
                    matched = true;
                }
            }
            if !matched {
                return Err(flag_error(format!(
                    "{value:?}: no hierarchy of the container has controller {}",
                    controllers.join(",")
                )));
            }
        }
        Ok(sub)
    }
}

fn existing(base: &Path, path: &Path, value: &str) -> Result<PathBuf> {
    let dir = base.join(path);
    if !dir.is_dir() {
        return Err(flag_error(format!(
            "{value:?}: {} does not exist; create the sub-cgroup first",
            dir.display()
        )));
    }
    Ok(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_as_runc_takes_them() {
        assert_eq!(parse("sub").unwrap(), (vec![], PathBuf::from("sub")));
        assert_eq!(
            parse("cpu,cpuacct:/a/b").unwrap(),
            (
                vec!["cpu".to_string(), "cpuacct".to_string()],
                PathBuf::from("a/b")
            )
        );
    }

    #[test]
    fn a_way_out_of_the_container_cgroup_is_refused() {
        for bad in ["../x", "a/../../x", "", "/", "memory:", ":x"] {
            let e = parse(bad).unwrap_err().to_string();
            assert!(e.starts_with("--cgroup: "), "{bad}: {e}");
        }
    }
}
