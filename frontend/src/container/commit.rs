//! `commit`: a container's upper dir as a new layer on its image (image/commit.rs), its
//! config with `-c` changes in Dockerfile syntax, the container paused meanwhile.

use std::collections::BTreeMap;

use super::config::{Config, EmptyObject};
use super::lifecycle::{Container, ContainerError, Containers};
use super::state::Status;
use crate::image::commit::{commit, CommitError, CommitOptions};
use crate::store::images::ImageRecord;
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum CommitContainerError {
    #[error(transparent)]
    Container(#[from] ContainerError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Commit(#[from] CommitError),
    #[error("{0} is not a valid change command")]
    UnknownChange(String),
    #[error("{instruction} requires {expected}: {line}")]
    BadChange {
        instruction: String,
        expected: &'static str,
        line: String,
    },
    #[error("image {0} of the container is not in the store")]
    NoImage(String),
}

/// What `commit` is asked for.
#[derive(Debug, Clone, Default)]
pub struct CommitRequest {
    /// `REPOSITORY[:TAG]`.
    pub tag: Option<String>,
    pub author: Option<String>,
    pub message: Option<String>,
    /// `-c`: Dockerfile instructions applied to the container's config.
    pub changes: Vec<String>,
    pub pause: bool,
    /// A config whose settings win over the container's (the body of the API's
    /// commit); the changes apply on top.
    pub config: Option<Config>,
}

impl Containers {
    /// Commits the container's changes as a new image.
    pub fn commit(
        &mut self,
        container: &Container,
        request: &CommitRequest,
    ) -> Result<ImageRecord, CommitContainerError> {
        let mut config = match &request.config {
            Some(given) => merge(given, &container.config),
            None => container.config.clone(),
        };
        for change in &request.changes {
            apply_change(&mut config, change)?;
        }
        let created_by = {
            let mut process = container.config.entrypoint.clone().unwrap_or_default();
            process.extend(container.config.cmd.clone().unwrap_or_default());
            process.join(" ")
        };
        let config_value = serde_json::to_value(&config).map_err(|e| ContainerError::Damaged {
            id: container.row.id.clone(),
            what: "Config".to_string(),
            problem: e.to_string(),
        })?;
        let base = self
            .store
            .image(&container.row.image_id)?
            .ok_or_else(|| CommitContainerError::NoImage(container.row.image_id.clone()))?;
        let _lock = self.lock(&container.row.id)?;
        let runtime = self.runtime(&container.host)?;
        // Paused, the container cannot write while its upper dir is read: the layer is one
        // moment of it. One paused by its user stays paused.
        let paused_here = request.pause && container.state().status == Status::Running;
        if paused_here {
            runtime
                .pause(&container.row.id)
                .map_err(ContainerError::from)?;
        }
        let options = CommitOptions {
            tag: request.tag.clone(),
            author: request.author.clone(),
            comment: request.message.clone(),
            created_by: Some(created_by),
            config: Some(config_value),
        };
        let result = commit(&mut self.store, &base, &container.paths.upper(), &options);
        if paused_here {
            runtime
                .resume(&container.row.id)
                .map_err(ContainerError::from)?;
        }
        Ok(result?)
    }
}

/// A config given with a commit over the container's, as dockerd merges them: what
/// the request sets wins, the container's fills in the rest.
fn merge(given: &Config, container: &Config) -> Config {
    let mut merged = container.clone();
    if !given.user.is_empty() {
        merged.user = given.user.clone();
    }
    if !given.working_dir.is_empty() {
        merged.working_dir = given.working_dir.clone();
    }
    if given.stop_signal.is_some() {
        merged.stop_signal = given.stop_signal.clone();
    }
    let set = |words: &Option<Vec<String>>| words.as_ref().is_some_and(|w| !w.is_empty());
    if set(&given.entrypoint) {
        // A new entrypoint takes the request's command with it, even none.
        merged.entrypoint = given.entrypoint.clone();
        merged.cmd = given.cmd.clone();
    } else if set(&given.cmd) {
        merged.cmd = given.cmd.clone();
    }
    for entry in &given.env {
        let key = entry.split_once('=').map_or(entry.as_str(), |(k, _)| k);
        let prefix = format!("{key}=");
        merged.env.retain(|e| !e.starts_with(&prefix) && e != key);
        merged.env.push(entry.clone());
    }
    merged.labels.extend(given.labels.clone());
    if let Some(ports) = &given.exposed_ports {
        merged
            .exposed_ports
            .get_or_insert_with(BTreeMap::new)
            .extend(ports.clone());
    }
    if let Some(volumes) = &given.volumes {
        merged
            .volumes
            .get_or_insert_with(BTreeMap::new)
            .extend(volumes.clone());
    }
    if given.on_build.as_ref().is_some_and(|o| !o.is_empty()) {
        merged.on_build = given.on_build.clone();
    }
    merged
}

/// Applies one Dockerfile instruction (`CMD ["a"]`, `ENV K=V`, ...) to `config`.
pub fn apply_change(config: &mut Config, line: &str) -> Result<(), CommitContainerError> {
    let line = line.trim();
    let (instruction, rest) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
    let rest = rest.trim();
    let upper = instruction.to_ascii_uppercase();
    let bad = |expected: &'static str| CommitContainerError::BadChange {
        instruction: upper.clone(),
        expected,
        line: line.to_string(),
    };
    match upper.as_str() {
        "CMD" => config.cmd = Some(command_form(rest)),
        "ENTRYPOINT" => {
            config.entrypoint = Some(command_form(rest));
            // Docker: a new entrypoint drops the image's CMD unless one is given too.
            config.cmd = None;
        }
        "ENV" => {
            for (key, value) in pairs(rest).ok_or_else(|| bad("KEY=VALUE or KEY VALUE"))? {
                let prefix = format!("{key}=");
                config.env.retain(|e| !e.starts_with(&prefix) && *e != key);
                config.env.push(format!("{key}={value}"));
            }
        }
        "LABEL" => {
            for (key, value) in pairs(rest).ok_or_else(|| bad("KEY=VALUE"))? {
                config.labels.insert(key, value);
            }
        }
        "WORKDIR" => {
            if rest.is_empty() {
                return Err(bad("a path"));
            }
            config.working_dir = if rest.starts_with('/') || config.working_dir.is_empty() {
                format!("/{}", rest.trim_start_matches('/'))
            } else {
                format!("{}/{}", config.working_dir.trim_end_matches('/'), rest)
            };
        }
        "USER" => {
            if rest.is_empty() {
                return Err(bad("a user"));
            }
            config.user = rest.to_string();
        }
        "EXPOSE" => {
            let ports = config.exposed_ports.get_or_insert_with(BTreeMap::new);
            for port in rest.split_whitespace() {
                let (number, proto) = port.split_once('/').unwrap_or((port, "tcp"));
                if number.is_empty() || !number.bytes().all(|b| b.is_ascii_digit() || b == b'-') {
                    return Err(bad("PORT[/PROTO]"));
                }
                ports.insert(
                    format!("{number}/{}", proto.to_ascii_lowercase()),
                    EmptyObject {},
                );
            }
        }
        "VOLUME" => {
            let volumes = config.volumes.get_or_insert_with(BTreeMap::new);
            for path in command_form_words(rest) {
                volumes.insert(path, EmptyObject {});
            }
        }
        "STOPSIGNAL" => config.stop_signal = Some(rest.to_string()),
        "ONBUILD" => config
            .on_build
            .get_or_insert_with(Vec::new)
            .push(rest.to_string()),
        _ => return Err(CommitContainerError::UnknownChange(instruction.to_string())),
    }
    Ok(())
}

/// `["a","b"]` as is; anything else is the shell form, run by `/bin/sh -c`.
fn command_form(rest: &str) -> Vec<String> {
    if rest.starts_with('[') {
        if let Ok(words) = serde_json::from_str::<Vec<String>>(rest) {
            return words;
        }
    }
    vec!["/bin/sh".into(), "-c".into(), rest.to_string()]
}

/// `VOLUME ["/a", "/b"]` or `VOLUME /a /b`.
fn command_form_words(rest: &str) -> Vec<String> {
    if rest.starts_with('[') {
        if let Ok(words) = serde_json::from_str::<Vec<String>>(rest) {
            return words;
        }
    }
    rest.split_whitespace().map(str::to_string).collect()
}

/// `K=V K2="v 2"`, or the old form `K V with spaces`.
fn pairs(rest: &str) -> Option<Vec<(String, String)>> {
    let words = split_words(rest);
    let first = words.first()?;
    if !first.contains('=') {
        let (key, value) = rest.split_once(char::is_whitespace)?;
        return Some(vec![(key.to_string(), value.trim().to_string())]);
    }
    words
        .into_iter()
        .map(|w| {
            let (k, v) = w.split_once('=')?;
            (!k.is_empty()).then(|| (k.to_string(), v.to_string()))
        })
        .collect()
}

/// Words split at unquoted blanks, double quotes and backslashes removed.
fn split_words(text: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut quoted = false;
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                if let Some(next) = chars.next() {
                    word.push(next);
                }
                in_word = true;
            }
            '"' => {
                quoted = !quoted;
                in_word = true;
            }
            c if c.is_whitespace() && !quoted => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            c => {
                word.push(c);
                in_word = true;
            }
        }
    }
    if in_word {
        words.push(word);
    }
    words
}

#[cfg(test)]
mod tests {
    use super::*;

    fn changed(lines: &[&str]) -> Config {
        let mut config = Config::default();
        for line in lines {
            apply_change(&mut config, line).expect("valid change");
        }
        config
    }

    #[test]
    fn cmd_in_exec_and_shell_form() {
        assert_eq!(
            changed(&[r#"CMD ["echo","hi"]"#]).cmd,
            Some(vec!["echo".into(), "hi".into()])
        );
        assert_eq!(
            changed(&["CMD echo hi"]).cmd,
            Some(vec!["/bin/sh".into(), "-c".into(), "echo hi".into()])
        );
    }

    #[test]
    fn env_label_workdir_expose_user() {
        let config = changed(&[
            r#"ENV A=1 B="two words""#,
            "ENV C three",
            "LABEL version=1.0",
            "WORKDIR /srv",
            "WORKDIR app",
            "EXPOSE 80 53/udp",
            "USER nobody",
        ]);
        assert_eq!(config.env, ["A=1", "B=two words", "C=three"]);
        assert_eq!(
            config.labels.get("version").map(String::as_str),
            Some("1.0")
        );
        assert_eq!(config.working_dir, "/srv/app");
        let ports: Vec<&String> = config
            .exposed_ports
            .as_ref()
            .expect("ports")
            .keys()
            .collect();
        assert_eq!(ports, ["53/udp", "80/tcp"]);
        assert_eq!(config.user, "nobody");
    }

    #[test]
    fn a_given_config_wins_and_the_containers_fills_in() {
        let container = changed(&["ENV A=1 B=2", "CMD sleep 1", "WORKDIR /srv"]);
        let given = changed(&["ENV B=3", "USER nobody"]);
        let merged = merge(&given, &container);
        assert_eq!(merged.env, ["A=1", "B=3"]);
        assert_eq!(merged.user, "nobody");
        assert_eq!(merged.working_dir, "/srv");
        assert_eq!(merged.cmd, container.cmd);
    }

    #[test]
    fn an_unknown_instruction_is_refused_as_docker_does() {
        let mut config = Config::default();
        let e = apply_change(&mut config, "RUN echo").expect_err("refused");
        assert_eq!(e.to_string(), "RUN is not a valid change command");
    }
}
