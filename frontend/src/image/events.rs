//! The events images write to the store's event log, as dockerd names them: a pull
//! and a push by the reference, a tag and an untag by the image with the name, a
//! delete, import, load and save by the image.

use crate::events::{attributes, Event, EventLog, Kind};
use crate::store::Store;

pub fn record(store: &Store, action: &str, actor: &str, name: &str) {
    let event = Event::now(
        Kind::Image,
        action,
        actor,
        attributes([("name", name.to_string())]),
    );
    EventLog::of_store(store.root()).record(&event);
}
