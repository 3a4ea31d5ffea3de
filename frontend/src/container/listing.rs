//! Which containers `ps` and the API's `/containers/json` show: newest first, the
//! running ones unless all are asked for, Docker's filters, STATUS in Docker's words.

use super::lifecycle::{Container, ContainerError, Containers};
use super::state::{State, Status};
use crate::filters::{FilterError, FilterSet};
use crate::network::ports::PublishedPort;
use crate::time::{human_duration, unix_seconds};

/// The filter keys `ps -f` and `/containers/json?filters=` take.
const FILTER_KEYS: &[&str] = &["id", "name", "status", "exited", "ancestor", "label"];

/// Docker's filters: values of one key are alternatives, different keys must all hold.
#[derive(Debug, Default, Clone)]
pub struct Filters(FilterSet);

impl Filters {
    /// From `ps -f key=value` arguments.
    pub fn from_args(args: &[String]) -> Result<Filters, FilterError> {
        FilterSet::from_args(FILTER_KEYS, args).map(Filters)
    }

    pub fn add(&mut self, key: &str, value: &str) -> Result<(), FilterError> {
        self.0.add(FILTER_KEYS, key, value)
    }

    fn matches(&self, container: &Container, state: &State) -> bool {
        self.0.iter().all(|(key, values)| {
            values
                .iter()
                .any(|value| matches_one(key, value, container, state))
        })
    }
}

fn matches_one(key: &str, v: &str, container: &Container, state: &State) -> bool {
    match key {
        "id" => container.row.id.starts_with(v),
        "name" => container.row.name.contains(v.trim_start_matches('/')),
        "status" => state.status.as_str() == v,
        "exited" => state.status == Status::Exited && state.exit_code.to_string() == v,
        "ancestor" => {
            container.row.image_name == v
                || container.row.image_id == v
                || container
                    .row
                    .image_id
                    .trim_start_matches("sha256:")
                    .starts_with(v)
        }
        "label" => {
            let (k, want) = v.split_once('=').map_or((v, None), |(k, w)| (k, Some(w)));
            container
                .config
                .labels
                .get(k)
                .is_some_and(|have| want.is_none_or(|w| w == have))
        }
        _ => false,
    }
}

/// What a listing asks for (`ps -a -n -l -f`, `/containers/json?all&limit&filters`).
#[derive(Debug, Default, Clone)]
pub struct ListOptions {
    pub all: bool,
    /// The newest `n` in any state; negative for no limit.
    pub limit: i64,
    pub filters: Filters,
}

/// One container of a listing with its state and, while it runs, its published ports.
pub struct Listed {
    pub container: Container,
    pub state: State,
    pub published: Vec<PublishedPort>,
}

impl Containers {
    /// The containers `options` select, newest first.
    pub fn list_filtered(&self, options: &ListOptions) -> Result<Vec<Listed>, ContainerError> {
        let mut listed = Vec::new();
        for (index, container) in self.list()?.into_iter().enumerate() {
            if options.limit >= 0 && index as i64 >= options.limit {
                break;
            }
            let state = container.state();
            if !options.all && options.limit < 0 && !state.status.is_up() {
                continue;
            }
            if !options.filters.matches(&container, &state) {
                continue;
            }
            // Ports are published only while a container runs: only a running one
            // costs a store query.
            let published = if state.status.is_up() {
                crate::network::ports::ports_of(&self.store, &container.row.id).unwrap_or_default()
            } else {
                Vec::new()
            };
            listed.push(Listed {
                container,
                state,
                published,
            });
        }
        Ok(listed)
    }
}

/// STATUS as Docker words it (`Up 3 seconds`, `Exited (0) 2 minutes ago`).
pub fn status_text(state: &State, now: i64) -> String {
    let since = |rfc: &str| unix_seconds(rfc).map(|t| human_duration(now - t));
    let less = || "Less than a second".to_string();
    match state.status {
        Status::Created => "Created".to_string(),
        Status::Running => format!("Up {}", since(&state.started_at).unwrap_or_else(less)),
        Status::Paused => format!(
            "Up {} (Paused)",
            since(&state.started_at).unwrap_or_else(less)
        ),
        Status::Restarting => format!(
            "Restarting ({}) {} ago",
            state.exit_code,
            since(&state.finished_at).unwrap_or_else(less)
        ),
        Status::Exited => format!(
            "Exited ({}) {} ago",
            state.exit_code,
            since(&state.finished_at)
                .or_else(|| since(&state.started_at))
                .unwrap_or_else(less)
        ),
    }
}

/// The container's command as one line: the process and its arguments.
pub fn command_line(container: &Container) -> String {
    let args: Vec<String> = serde_json::from_str(&container.row.args).unwrap_or_default();
    join_command(&container.row.path, &args)
}

/// dockerd's one-line form of a command: an argument with a space in it is put in
/// single quotes (as they are, no escaping), so `sh -c 'echo hi'` reads as typed.
fn join_command(path: &str, args: &[String]) -> String {
    let mut command = path.to_string();
    for arg in args {
        command.push(' ');
        if arg.contains(' ') {
            command.push('\'');
            command.push_str(arg);
            command.push('\'');
        } else {
            command.push_str(arg);
        }
    }
    command
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(status: Status, code: i32, started: &str, finished: &str) -> State {
        State {
            status,
            pid: 0,
            shim_pid: None,
            exit_code: code,
            oom_killed: false,
            started_at: started.into(),
            finished_at: finished.into(),
            finished: None,
            restart_count: 0,
            error: String::new(),
        }
    }

    #[test]
    fn status_reads_as_dockers() {
        let now = unix_seconds("2026-12-06T10:00:00Z").unwrap();
        let s = state(Status::Running, 0, "2026-12-06T09:59:57Z", "");
        assert_eq!(status_text(&s, now), "Up 3 seconds");
        let s = state(Status::Paused, 0, "2026-12-06T09:00:00Z", "");
        assert_eq!(status_text(&s, now), "Up About an hour (Paused)");
        let s = state(
            Status::Exited,
            0,
            "2026-12-06T09:00:00Z",
            "2026-12-06T09:58:00Z",
        );
        assert_eq!(status_text(&s, now), "Exited (0) 2 minutes ago");
        assert_eq!(
            status_text(&state(Status::Created, 0, "", ""), now),
            "Created"
        );
    }

    #[test]
    fn arguments_with_spaces_are_quoted_as_dockerd_quotes_them() {
        let args: Vec<String> = ["-c", "echo hi; sleep 1", "it's"]
            .map(String::from)
            .to_vec();
        assert_eq!(join_command("sh", &args), "sh -c 'echo hi; sleep 1' it's");
        assert_eq!(join_command("true", &[]), "true");
    }

    #[test]
    fn unknown_filters_are_refused() {
        assert!(Filters::from_args(&["status=exited".into()]).is_ok());
        assert!(Filters::from_args(&["colour=red".into()])
            .unwrap_err()
            .to_string()
            .contains("colour"));
        assert!(Filters::from_args(&["status".into()]).is_err());
    }
}
