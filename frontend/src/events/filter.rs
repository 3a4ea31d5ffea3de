//! `docker events --filter`: which events a reader wants, decided as dockerd decides.
//! Values of one key are alternatives; different keys must all hold.

use super::Event;
use crate::filters::{FilterError, FilterSet};
use crate::image::reference::Reference;

/// Keys dockerd takes; those for objects berth has none of (volumes, plugins, swarm)
/// are taken and match nothing of theirs.
const KEYS: &[&str] = &[
    "config",
    "container",
    "daemon",
    "event",
    "image",
    "label",
    "network",
    "node",
    "plugin",
    "scope",
    "secret",
    "service",
    "type",
    "volume",
];

/// Object kinds whose filter names an actor by id (a prefix) or by name.
const NAMED: &[&str] = &[
    "config",
    "container",
    "daemon",
    "network",
    "node",
    "plugin",
    "secret",
    "service",
    "volume",
];

/// Actions that carry their command after a colon (`exec_start: sh -c …`): a filter
/// naming one of them alone matches them all.
const PREFIXED_ACTIONS: &[&str] = &["exec_create", "exec_start", "health_status"];

#[derive(Debug, Default, Clone)]
pub struct EventFilters(FilterSet);

impl EventFilters {
    /// From `--filter key=value` arguments.
    pub fn from_args(args: &[String]) -> Result<EventFilters, FilterError> {
        FilterSet::from_args(KEYS, args).map(EventFilters)
    }

    pub fn add(&mut self, key: &str, value: &str) -> Result<(), FilterError> {
        self.0.add(KEYS, key, value)
    }

    pub fn matches(&self, event: &Event) -> bool {
        self.0.iter().all(|(key, values)| match key {
            "event" => self.action_matches(values, &event.action),
            "type" => values.contains(&event.kind),
            "scope" => values.contains(&event.scope),
            "image" => image_matches(values, event),
            "label" => values.iter().all(|v| label_matches(v, event)),
            named if NAMED.contains(&named) => {
                let name = event.actor.attributes.get("name");
                values.iter().any(|v| {
                    event.actor.id.starts_with(v.as_str())
                        || name.is_some_and(|n| n.starts_with(v.as_str()))
                })
            }
            _ => true,
        })
    }

    fn action_matches(&self, values: &[String], action: &str) -> bool {
        let loose = values
            .iter()
            .any(|v| PREFIXED_ACTIONS.contains(&v.as_str()));
        values
            .iter()
            .any(|v| action == v || (loose && action.starts_with(v.as_str())))
    }
}

/// An image filter names the image of a container's event or the image of an image's
/// event, by id, by reference, or by repository without the tag.
fn image_matches(values: &[String], event: &Event) -> bool {
    let name_key = if event.kind == "image" {
        "name"
    } else {
        "image"
    };
    let name = event
        .actor
        .attributes
        .get(name_key)
        .cloned()
        .unwrap_or_default();
    let candidates = [
        event.actor.id.clone(),
        without_tag(&event.actor.id),
        without_tag(&name),
        name,
    ];
    values.iter().any(|v| candidates.contains(v))
}

/// `busybox:latest` and `docker.io/library/busybox` as `busybox`.
fn without_tag(reference: &str) -> String {
    Reference::parse(reference)
        .map(|r| r.familiar_name())
        .unwrap_or_else(|_| reference.to_string())
}

/// `label=KEY` or `label=KEY=VALUE` against the event's attributes.
fn label_matches(filter: &str, event: &Event) -> bool {
    let attributes = &event.actor.attributes;
    match filter.split_once('=') {
        Some((key, value)) => attributes.get(key).is_some_and(|v| v == value),
        None => attributes.contains_key(filter),
    }
}
