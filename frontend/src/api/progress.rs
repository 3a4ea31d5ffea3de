//! Docker's JSON progress messages, one per line, as the docker CLI and the SDKs read
//! them: `{"status":..,"id":..}`, a layer's state with `progressDetail` (and the bar
//! text in `progress` while bytes move), `{"stream":..}` for load, `aux` for a push's
//! digest, and `{"errorDetail":..,"error":..}`. The pull and push sinks turn the
//! engine's progress events into these, as the CLI's display turns them into bars.

use std::collections::HashMap;
use std::sync::Mutex;

use axum::body::Bytes;
use serde_json::{json, Value};

use crate::image::add::LayerEvent;
use crate::registry::{
    short_id, LayerState, PullEvent, PushEvent, PushState, PARALLEL_DOWNLOADS, PARALLEL_UPLOADS,
};
/// Cells of the bar, as Docker draws it for a client that is not a terminal.
const BAR_CELLS: u64 = 50;

fn line(value: Value) -> Bytes {
    let mut text = value.to_string().into_bytes();
    text.push(b'\n');
    Bytes::from(text)
}

/// `{"status":"Digest: sha256:.."}`: a line of its own.
pub fn status(text: &str) -> Bytes {
    line(json!({ "status": text }))
}

/// `{"status":"Pulling from library/busybox","id":"latest"}`.
fn status_of(id: &str, text: &str) -> Bytes {
    line(json!({ "status": text, "id": id }))
}

/// A layer's new state: `{"status":"Pull complete","progressDetail":{},"id":".."}`.
fn layer(id: &str, text: &str) -> Bytes {
    line(json!({ "status": text, "progressDetail": {}, "id": id }))
}

/// A layer's bytes moving: the counts, and the bar a terminal client draws.
fn layer_bytes(id: &str, text: &str, current: u64, total: u64) -> Bytes {
    // Go's omitempty: a zero count is left out.
    let mut detail = serde_json::Map::new();
    if current > 0 {
        detail.insert("current".into(), json!(current));
    }
    if total > 0 {
        detail.insert("total".into(), json!(total));
    }
    line(json!({
        "status": text,
        "progressDetail": detail,
        "progress": bar(current, total),
        "id": id,
    }))
}

/// `{"stream":"Loaded image: busybox:latest\n"}`.
pub fn stream(text: &str) -> Bytes {
    line(json!({ "stream": format!("{text}\n") }))
}

/// An error once the stream has begun: clients stop there and report it.
pub fn error(message: &str) -> Bytes {
    line(json!({ "errorDetail": { "message": message }, "error": message }))
}

/// Bytes as Docker shows sizes: decimal units, four significant digits (`1.234MB`).
pub fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 7] = ["B", "kB", "MB", "GB", "TB", "PB", "EB"];
    let mut size = bytes as f64;
    let mut unit = 0;
    while size >= 1000.0 && unit < UNITS.len() - 1 {
        size /= 1000.0;
        unit += 1;
    }
    let whole_digits = if size < 1.0 {
        1
    } else {
        size.log10().floor() as usize + 1
    };
    let text = format!("{:.*}", 4usize.saturating_sub(whole_digits), size);
    let text = if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.')
    } else {
        &text
    };
    format!("{text}{}", UNITS[unit])
}

/// `[=====>      ]  1.234MB/2.5MB`; only the counts when the total is unknown.
pub fn bar(current: u64, total: u64) -> String {
    if total == 0 {
        return format!("{:>8}", human_size(current));
    }
    let done = (current.min(total) * 100 / total / 2).min(BAR_CELLS);
    let counts = if current > total {
        format!("{:>8}", human_size(current))
    } else {
        format!("{:>8}/{}", human_size(current), human_size(total))
    };
    format!(
        "[{}>{}] {counts}",
        "=".repeat(done as usize),
        " ".repeat((BAR_CELLS - done) as usize)
    )
}

/// What one layer of a pull last showed, and its size once known.
#[derive(Default)]
struct Seen {
    last: String,
    total: Option<u64>,
}

#[derive(Default)]
struct PullState {
    layers: HashMap<String, Seen>,
    queued: usize,
}

/// A pull's events as Docker's messages, handed to `send`. Layers queued behind the
/// [`PARALLEL_DOWNLOADS`] the engine fetches at once are the ones Docker shows as
/// `Waiting` (the engine reports every layer queued at the start).
pub struct PullJson<F: Fn(Bytes)> {
    send: F,
    state: Mutex<PullState>,
}

impl<F: Fn(Bytes)> PullJson<F> {
    pub fn new(send: F) -> PullJson<F> {
        PullJson {
            send,
            state: Mutex::new(PullState::default()),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, PullState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A layer's new state, remembered (and sent) once per change.
    fn layer(&self, id: &str, text: &str) {
        {
            let mut state = self.state();
            let seen = state.layers.entry(id.to_string()).or_default();
            if seen.last == text {
                return;
            }
            seen.last = text.to_string();
        }
        (self.send)(layer(id, text));
    }

    pub fn pull_event(&self, event: PullEvent) {
        match event {
            PullEvent::Pulling { tag, repository } => {
                (self.send)(status_of(&tag, &format!("Pulling from {repository}")))
            }
            PullEvent::Resolved { .. } | PullEvent::Platform { .. } => {}
            PullEvent::Layer { id, state } => match state {
                LayerState::AlreadyExists => self.layer(&id, "Already exists"),
                LayerState::Waiting => {
                    self.layer(&id, "Pulling fs layer");
                    let queued = {
                        let mut state = self.state();
                        state.queued += 1;
                        state.queued
                    };
                    if queued > PARALLEL_DOWNLOADS {
                        self.layer(&id, "Waiting");
                    }
                }
                LayerState::Downloading { current, total } => {
                    {
                        let mut state = self.state();
                        let seen = state.layers.entry(id.clone()).or_default();
                        seen.total = Some(total);
                        seen.last = "Downloading".to_string();
                    }
                    (self.send)(layer_bytes(&id, "Downloading", current, total));
                }
                LayerState::Retrying { delay_ms, .. } => self.layer(
                    &id,
                    &format!("Retrying in {} seconds", delay_ms.div_ceil(1000)),
                ),
                LayerState::Verifying => self.layer(&id, "Verifying Checksum"),
                LayerState::DownloadComplete => self.layer(&id, "Download complete"),
            },
        }
    }

    pub fn layer_event(&self, event: LayerEvent) {
        match event {
            LayerEvent::Extracting { blob } => {
                let id = short_id(&blob);
                let total = self.state().layers.get(&id).and_then(|s| s.total);
                // The unpack reports no counts as it goes: the bar shows the layer
                // whole, and a client that is not a terminal skips it as Docker's.
                if let Some(total) = total.filter(|t| *t > 0) {
                    (self.send)(layer_bytes(&id, "Extracting", total, total));
                }
            }
            LayerEvent::Extracted { blob, .. } => self.layer(&short_id(&blob), "Pull complete"),
            LayerEvent::AlreadyThere { blob } => {
                let id = short_id(&blob);
                let seen = self.state().layers.get(&id).map(|s| s.last.clone());
                // Downloaded now but unpacked before (the same diff in another
                // compression): its pull is complete all the same.
                if seen.is_some_and(|s| s != "Already exists") {
                    self.layer(&id, "Pull complete");
                }
            }
        }
    }
}

/// A push's events as Docker's messages, handed to `send`.
pub struct PushJson<F: Fn(Bytes)> {
    send: F,
    waiting: Mutex<usize>,
}

impl<F: Fn(Bytes)> PushJson<F> {
    pub fn new(send: F) -> PushJson<F> {
        PushJson {
            send,
            waiting: Mutex::new(0),
        }
    }

    pub fn push_event(&self, event: PushEvent) {
        let send = &self.send;
        match event {
            PushEvent::Repository { name } => {
                let shown = crate::image::reference::Reference::parse(&name)
                    .map(|r| r.familiar_name())
                    .unwrap_or(name);
                send(status(&format!("The push refers to repository [{shown}]")));
            }
            PushEvent::Layer { id, state } => match state {
                PushState::Preparing => send(layer(&id, "Preparing")),
                PushState::Waiting => {
                    let mut waiting = self.waiting.lock().unwrap_or_else(|e| e.into_inner());
                    *waiting += 1;
                    if *waiting > PARALLEL_UPLOADS {
                        send(layer(&id, "Waiting"));
                    }
                }
                PushState::Pushing { current, total } => {
                    send(layer_bytes(&id, "Pushing", current, total))
                }
                PushState::Pushed => send(layer(&id, "Pushed")),
                PushState::AlreadyExists => send(layer(&id, "Layer already exists")),
                PushState::MountedFrom { repository } => {
                    send(layer(&id, &format!("Mounted from {repository}")))
                }
                PushState::Retrying { delay_ms, .. } => send(layer(
                    &id,
                    &format!("Retrying in {} seconds", delay_ms.div_ceil(1000)),
                )),
            },
            PushEvent::Pushed { tag, digest, size } => {
                let shown = tag.clone().unwrap_or_else(|| digest.to_string());
                send(status(&format!("{shown}: digest: {digest} size: {size}")));
                send(line(json!({
                    "progressDetail": {},
                    "aux": { "Tag": tag.unwrap_or_default(), "Digest": digest.to_string(), "Size": size },
                })));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_as_dockers() {
        assert_eq!(human_size(0), "0B");
        assert_eq!(human_size(528), "528B");
        assert_eq!(human_size(1234), "1.234kB");
        assert_eq!(human_size(2_200_000), "2.2MB");
        assert_eq!(human_size(1_000_000), "1MB");
        assert_eq!(human_size(12_345_678), "12.35MB");
    }

    #[test]
    fn the_bar_fills_with_the_bytes() {
        assert_eq!(
            bar(1000, 2000),
            format!("[{}>{}]      1kB/2kB", "=".repeat(25), " ".repeat(25))
        );
        assert!(bar(2000, 2000).starts_with(&format!("[{}>]", "=".repeat(50))));
        assert_eq!(bar(10, 0), "     10B");
    }

    #[test]
    fn a_pull_reads_as_dockers_messages() {
        let sent = Mutex::new(Vec::new());
        let sink = PullJson::new(|b: Bytes| {
            sent.lock()
                .unwrap()
                .push(serde_json::from_slice::<Value>(&b).unwrap())
        });
        sink.pull_event(PullEvent::Pulling {
            tag: "latest".into(),
            repository: "library/busybox".into(),
        });
        let id = "0123456789ab".to_string();
        for state in [
            LayerState::Waiting,
            LayerState::Downloading {
                current: 0,
                total: 2000,
            },
            LayerState::Verifying,
            LayerState::DownloadComplete,
            LayerState::DownloadComplete,
        ] {
            sink.pull_event(PullEvent::Layer {
                id: id.clone(),
                state,
            });
        }
        let sent = sent.into_inner().unwrap();
        assert_eq!(
            sent[0],
            json!({"status": "Pulling from library/busybox", "id": "latest"})
        );
        assert_eq!(
            sent[1],
            json!({"status": "Pulling fs layer", "progressDetail": {}, "id": id})
        );
        assert_eq!(sent[2]["progressDetail"], json!({"total": 2000}));
        let states: Vec<&str> = sent[3..]
            .iter()
            .map(|m| m["status"].as_str().unwrap())
            .collect();
        assert_eq!(states, ["Verifying Checksum", "Download complete"]);
    }

    #[test]
    fn errors_carry_the_message_twice() {
        let value: Value = serde_json::from_slice(&error("boom")).unwrap();
        assert_eq!(
            value,
            json!({"errorDetail": {"message": "boom"}, "error": "boom"})
        );
    }
}
