//! The process `exec` runs when it is given a command line instead of a
//! process file: the container's own process from config.json with the
//! caller's overrides applied, as runc builds it.

use oci_spec::runtime::{Capabilities, Capability, Process};

use crate::error::{Error, Result};

/// The overrides `exec` takes as flags; empty or `None` keeps the
/// container's own value.
#[derive(Clone, Debug, Default)]
pub struct ExecFlags {
    pub args: Vec<String>,
    pub tty: bool,
    pub cwd: Option<String>,
    /// `KEY=VALUE` each; a KEY the process already has is replaced.
    pub env: Vec<String>,
    /// `uid[:gid]`, numeric.
    pub user: Option<String>,
    pub additional_gids: Vec<u32>,
    pub no_new_privs: bool,
    /// Capability names, with or without the `CAP_` prefix.
    pub caps: Vec<String>,
}

/// `template` (the container's process) with `flags` applied.
pub fn process_from_flags(template: Process, flags: &ExecFlags) -> Result<Process> {
    if flags.args.is_empty() {
        return Err(Error::Flag {
            flag: "exec",
            message: "no command given; pass ARGS after the container id or --process FILE".into(),
        });
    }
    let mut process = template;
    process.set_args(Some(flags.args.clone()));
    process.set_terminal(Some(flags.tty));
    process.set_console_size(None);
    if let Some(cwd) = &flags.cwd {
        process.set_cwd(cwd.into());
    }
    let env = merge_env(process.env().clone().unwrap_or_default(), &flags.env)?;
    process.set_env(Some(env));
    if let Some(user) = &flags.user {
        let (uid, gid) = parse_user(user)?;
        process.user_mut().set_uid(uid);
        if let Some(gid) = gid {
            process.user_mut().set_gid(gid);
        }
    }
    if !flags.additional_gids.is_empty() {
        process
            .user_mut()
            .set_additional_gids(Some(flags.additional_gids.clone()));
    }
    if flags.no_new_privs {
        process.set_no_new_privileges(Some(true));
    }
    if !flags.caps.is_empty() {
        process.set_capabilities(Some(add_caps(
            process.capabilities().clone().unwrap_or_default(),
            &flags.caps,
        )?));
    }
    Ok(process)
}

/// `base` with each `KEY=VALUE` of `overrides` replacing base's KEY (as
/// runc does: a program reading its environment sees one value, not the
/// first of two). A KEY without `=` is refused, as runc refuses it.
pub fn merge_env(base: Vec<String>, overrides: &[String]) -> Result<Vec<String>> {
    let mut env = base;
    for item in overrides {
        let Some((key, _)) = item.split_once('=').filter(|(key, _)| !key.is_empty()) else {
            return Err(Error::Flag {
                flag: "--env",
                message: format!("invalid environment variable {item:?}: expected KEY=VALUE"),
            });
        };
        let prefix = format!("{key}=");
        env.retain(|existing| !existing.starts_with(&prefix));
        env.push(item.clone());
    }
    Ok(env)
}

/// `uid[:gid]`, numeric as runc takes them.
fn parse_user(text: &str) -> Result<(u32, Option<u32>)> {
    let bad = || Error::Flag {
        flag: "--user",
        message: format!("{text:?}: expected uid[:gid], numeric"),
    };
    let (uid, gid) = match text.split_once(':') {
        Some((uid, gid)) => (uid, Some(gid)),
        None => (text, None),
    };
    let uid = uid.parse().map_err(|_| bad())?;
    let gid = gid.map(|g| g.parse().map_err(|_| bad())).transpose()?;
    Ok((uid, gid))
}

/// The capabilities with `names` added to the bounding, effective and
/// permitted sets (runc's `--cap`).
fn add_caps(
    mut caps: oci_spec::runtime::LinuxCapabilities,
    names: &[String],
) -> Result<oci_spec::runtime::LinuxCapabilities> {
    for name in names {
        let cap: Capability = name
            .trim_start_matches("CAP_")
            .parse()
            .map_err(|_| Error::Flag {
                flag: "--cap",
                message: format!("{name}: unknown capability"),
            })?;
        let with_cap = |set: &Option<Capabilities>| {
            let mut names = set.clone().unwrap_or_default();
            names.insert(cap);
            Some(names)
        };
        caps.set_bounding(with_cap(caps.bounding()));
        caps.set_effective(with_cap(caps.effective()));
        caps.set_permitted(with_cap(caps.permitted()));
    }
    Ok(caps)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn env_flag_replaces_the_key() {
        let env = merge_env(
            strings(&["PATH=/bin", "TERM=xterm", "TERMINFO=/x"]),
            &strings(&["TERM=dumb", "NEW=1"]),
        )
        .unwrap();
        assert_eq!(
            env,
            strings(&["PATH=/bin", "TERMINFO=/x", "TERM=dumb", "NEW=1"])
        );
    }

    #[test]
    fn env_flag_without_equals_is_refused() {
        let e = merge_env(strings(&["PATH=/bin"]), &strings(&["FOO"])).unwrap_err();
        let text = e.to_string();
        assert!(text.starts_with("--env: "), "{text}");
        assert!(text.contains("\"FOO\""), "{text}");
        assert!(merge_env(vec![], &strings(&["=x"])).is_err());
    }

    #[test]
    fn user_flag_is_numeric() {
        assert_eq!(parse_user("1000:100").unwrap(), (1000, Some(100)));
        assert_eq!(parse_user("7").unwrap(), (7, None));
        assert!(parse_user("root")
            .unwrap_err()
            .to_string()
            .starts_with("--user: "));
    }

    #[test]
    fn flags_override_the_template() {
        let template = Process::default();
        let flags = ExecFlags {
            args: strings(&["ls"]),
            cwd: Some("/tmp".into()),
            user: Some("5:6".into()),
            caps: strings(&["NET_ADMIN"]),
            ..ExecFlags::default()
        };
        let p = process_from_flags(template, &flags).unwrap();
        assert_eq!(p.args().as_deref(), Some(&strings(&["ls"])[..]));
        assert_eq!(p.cwd().to_str(), Some("/tmp"));
        assert_eq!((p.user().uid(), p.user().gid()), (5, 6));
        let bounding = p
            .capabilities()
            .as_ref()
            .unwrap()
            .bounding()
            .clone()
            .unwrap();
        assert!(bounding.contains(&Capability::NetAdmin));
    }
}
