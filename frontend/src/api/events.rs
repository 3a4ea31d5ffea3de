//! `GET /events`: the store's event log as dockerd streams it, one JSON object a
//! line, past events first with `since`, until `until` or until the client goes.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};

use super::bodies::parse_filters;
use super::error::ApiError;
use super::routes::Shared;
use super::stream::channel_body;
use crate::container::logs::parse_time_arg;
use crate::events::{EventFilters, EventLog, EventQuery, EventReader};

/// Events in flight to a slow client before the reader waits for it.
const EVENTS_IN_FLIGHT: usize = 256;

pub async fn events(
    State(engine): State<Shared>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let time = |key: &str| -> Result<Option<i64>, ApiError> {
        match query.get(key).filter(|v| !v.is_empty()) {
            None => Ok(None),
            Some(v) => parse_time_arg(v)
                .map(Some)
                .map_err(|e| ApiError::bad_request(format!("invalid value for {key}: {e}"))),
        }
    };
    let mut filters = EventFilters::default();
    for (key, value) in parse_filters(query.get("filters").map(String::as_str))? {
        filters.add(&key, &value)?;
    }
    let event_query = EventQuery {
        since: time("since")?,
        until: time("until")?,
        filters,
    };
    let log = EventLog::of_store(&engine.root);
    let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(EVENTS_IN_FLIGHT);
    // Opened before the answer goes out: an event that follows the client's
    // request by a moment is not missed.
    let mut reader = tokio::task::spawn_blocking(move || EventReader::open(&log, event_query))
        .await
        .map_err(ApiError::internal)?
        .map_err(|e| ApiError::internal(format!("the event log: {e}")))?;
    tokio::task::spawn_blocking(move || {
        // Each wait is short, so a client that left frees this thread soon.
        while !tx.is_closed() {
            let Ok(events) = reader.next_events() else {
                return;
            };
            for event in &events {
                let Ok(mut line) = serde_json::to_vec(event) else {
                    continue;
                };
                line.push(b'\n');
                if tx.blocking_send(Bytes::from(line)).is_err() {
                    return;
                }
            }
            if events.is_empty() && reader.finished() {
                return;
            }
        }
    });
    Ok((
        [(header::CONTENT_TYPE, "application/json")],
        channel_body(rx),
    )
        .into_response())
}
