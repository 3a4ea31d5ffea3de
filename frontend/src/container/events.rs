//! The events a container's life writes to the store's event log, with the
//! attributes dockerd gives them: the image as named, the name, the labels.

use std::fs::OpenOptions;

use super::lifecycle::{Container, Containers};
use crate::events::{Event, EventLog, Kind};

/// A container's event with its attributes, to be recorded now or later.
pub fn container_event(container: &Container, action: &str, extra: &[(&str, String)]) -> Event {
    let mut attributes = container.config.labels.clone();
    attributes.insert("image".to_string(), container.row.image_name.clone());
    attributes.insert("name".to_string(), container.row.name.clone());
    for (key, value) in extra {
        attributes.insert((*key).to_string(), value.clone());
    }
    Event::now(Kind::Container, action, &container.row.id, attributes)
}

/// An exec's event: `exec_create` and `exec_start` carry the command after a colon,
/// as dockerd's do; `exec_die` its exit code.
pub fn exec_event(
    container: &Container,
    action: &str,
    exec_id: &str,
    command: &[String],
    exit_code: Option<i32>,
) -> Event {
    let action = if action == "exec_die" {
        action.to_string()
    } else {
        format!("{action}: {}", command.join(" "))
    };
    let mut extra = vec![("execID", exec_id.to_string())];
    extra.extend(exit_code.map(|code| ("exitCode", code.to_string())));
    container_event(container, &action, &extra)
}

impl Containers {
    pub fn events(&self) -> EventLog {
        EventLog::of_store(self.store.root())
    }

    pub(crate) fn record(&self, container: &Container, action: &str, extra: &[(&str, String)]) {
        self.events()
            .record(&container_event(container, action, extra));
    }

    /// `die`, once per run: whoever sees the exit first (a stop waiting for it, or
    /// the shim's exit command) tells it, so a stop's events come in dockerd's order
    /// (kill, die, stop) and the exit command adds no second one.
    pub(crate) fn record_die(&self, container: &Container, exit_code: i32) {
        let marker = container.paths.persist().join("die-recorded");
        let first = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&marker)
            .is_ok();
        if first {
            self.record(container, "die", &[("exitCode", exit_code.to_string())]);
        }
    }
}

/// A signal as dockerd's events name it: its number.
pub(crate) fn signal_number(signal: &str) -> String {
    if signal.parse::<i32>().is_ok() {
        return signal.to_string();
    }
    let name = signal.to_ascii_uppercase();
    let name = if name.starts_with("SIG") {
        name
    } else {
        format!("SIG{name}")
    };
    name.parse::<nix::sys::signal::Signal>()
        .map(|s| (s as i32).to_string())
        .unwrap_or(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals_are_named_by_number() {
        assert_eq!(signal_number("KILL"), "9");
        assert_eq!(signal_number("SIGTERM"), "15");
        assert_eq!(signal_number("hup"), "1");
        assert_eq!(signal_number("10"), "10");
    }
}
