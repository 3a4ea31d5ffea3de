//! The engine's event log: what happened to containers, images and networks, in
//! Docker's event shape (`berth events`, `GET /events`). Every berth process and the
//! daemon append to one file in the store, so the daemon reports what the command
//! line did and the other way round. (dockerd keeps its events in memory and loses
//! them when it stops; a daemonless engine has no memory that lasts.)

mod filter;
mod follow;

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, UNIX_EPOCH};

use nix::fcntl::{Flock, FlockArg};
use serde::{Deserialize, Serialize};

pub use filter::EventFilters;
pub use follow::{EventQuery, EventReader};

/// The log is cut at this size; one older file is kept, so `--since` reaches back
/// over roughly this much history (dockerd keeps its last 256 events).
const ROTATE_AT: u64 = 1 << 20;

/// Docker's event message: `Type`, `Action` and `Actor` (API 1.22 on), with the older
/// `status`, `id` and `from` that container and image events still carry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub status: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub id: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub from: String,
    #[serde(rename = "Type")]
    pub kind: String,
    #[serde(rename = "Action")]
    pub action: String,
    #[serde(rename = "Actor")]
    pub actor: Actor,
    #[serde(default)]
    pub scope: String,
    #[serde(default)]
    pub time: i64,
    #[serde(rename = "timeNano", default)]
    pub time_nano: i64,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Actor {
    #[serde(rename = "ID")]
    pub id: String,
    #[serde(rename = "Attributes", default)]
    pub attributes: BTreeMap<String, String>,
}

/// What an event is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Container,
    Image,
    Network,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Container => "container",
            Kind::Image => "image",
            Kind::Network => "network",
        }
    }
}

impl Event {
    /// An event that happens now.
    pub fn now(
        kind: Kind,
        action: &str,
        actor_id: &str,
        attributes: BTreeMap<String, String>,
    ) -> Event {
        let time_nano = crate::container::logs::now_nanos();
        // The older fields, as dockerd still fills them for containers and images.
        let (status, id, from) = match kind {
            Kind::Container => (
                action.to_string(),
                actor_id.to_string(),
                attributes.get("image").cloned().unwrap_or_default(),
            ),
            Kind::Image => (action.to_string(), actor_id.to_string(), String::new()),
            Kind::Network => Default::default(),
        };
        Event {
            status,
            id,
            from,
            kind: kind.as_str().to_string(),
            action: action.to_string(),
            actor: Actor {
                id: actor_id.to_string(),
                attributes,
            },
            scope: "local".to_string(),
            time: time_nano.div_euclid(1_000_000_000),
            time_nano,
        }
    }

    /// The same event, happening now.
    pub fn again_now(&self) -> Event {
        let time_nano = crate::container::logs::now_nanos();
        Event {
            time: time_nano.div_euclid(1_000_000_000),
            time_nano,
            ..self.clone()
        }
    }

    /// The line `docker events` prints: the time, what, which, and the attributes
    /// sorted by name.
    pub fn line(&self) -> String {
        let nanos = if self.time_nano != 0 {
            self.time_nano
        } else {
            self.time.saturating_mul(1_000_000_000)
        };
        let at = UNIX_EPOCH + Duration::from_nanos(u64::try_from(nanos).unwrap_or(0));
        let mut line = format!(
            "{} {} {} {}",
            crate::time::rfc3339_nanos(at),
            self.kind,
            self.action,
            self.actor.id
        );
        if !self.actor.attributes.is_empty() {
            let pairs: Vec<String> = self
                .actor
                .attributes
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            line.push_str(&format!(" ({})", pairs.join(", ")));
        }
        line
    }
}

/// The store's event log: `<root>/events/events.log` and the one before it.
#[derive(Debug, Clone)]
pub struct EventLog {
    dir: PathBuf,
}

impl EventLog {
    pub fn of_store(root: &Path) -> EventLog {
        EventLog {
            dir: root.join("events"),
        }
    }

    pub fn path(&self) -> PathBuf {
        self.dir.join("events.log")
    }

    fn older(&self) -> PathBuf {
        self.dir.join("events.log.1")
    }

    /// Appends `event`. An event that cannot be written is lost, never the reason an
    /// operation fails: the operation itself has happened.
    pub fn record(&self, event: &Event) {
        if let Ok(mut line) = serde_json::to_vec(event) {
            line.push(b'\n');
            let _ = self.append(&line);
        }
    }

    fn append(&self, line: &[u8]) -> io::Result<()> {
        fs::create_dir_all(&self.dir)?;
        let mut file = self.open_locked()?;
        if file.metadata()?.len() >= ROTATE_AT {
            // Under the lock no other writer is between its size check and its write;
            // one that opened the file before the rename writes to the older file.
            fs::rename(self.path(), self.older())?;
            drop(file);
            file = self.open_locked()?;
        }
        // One write: appenders in other processes never split a line.
        file.write_all(line)
    }

    fn open_locked(&self) -> io::Result<Flock<File>> {
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .open(self.path())?;
        Flock::lock(file, FlockArg::LockExclusive).map_err(|(_, errno)| io::Error::from(errno))
    }
}

/// Attributes from `(name, value)` pairs.
pub fn attributes<'a>(
    pairs: impl IntoIterator<Item = (&'a str, String)>,
) -> BTreeMap<String, String> {
    pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
}

#[cfg(test)]
mod tests;
