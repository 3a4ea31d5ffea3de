//! `GET /containers/{id}/stats`: a container's figures in dockerd's JSON, once a
//! second while `stream` (the default), or once; the docker CLI draws `docker stats`
//! from them (CPU % from this reading and the one before, `precpu_stats`).

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

use super::containers::query_bool;
use super::error::ApiError;
use super::routes::{blocking, Shared};
use super::stream::channel_body;
use crate::container::lifecycle::Container;
use crate::container::stats::{sample_container, Cgroups, Sample};
use crate::time::rfc3339_nanos;

/// dockerd's pace for streamed stats.
const INTERVAL: Duration = Duration::from_secs(1);

/// What a reading before the first looks like: Go's zero time.
const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

pub async fn stats(
    State(engine): State<Shared>,
    Path(id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let stream = query
        .get("stream")
        .is_none_or(|_| query_bool(&query, "stream"));
    let one_shot = query_bool(&query, "one-shot");
    let container = blocking(move || Ok(engine.containers()?.find(&id)?)).await?;
    let cgroups = Cgroups::detect().map_err(ApiError::internal)?;
    let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(2);
    tokio::task::spawn_blocking(move || {
        let mut previous: Option<(Sample, String)> = None;
        if !stream && !one_shot {
            // A single reading with a CPU %: it needs one before it, as dockerd's.
            previous = Some(reading(&cgroups, &container));
            std::thread::sleep(INTERVAL);
        }
        loop {
            let current = reading(&cgroups, &container);
            let mut line = stats_json(&container, &current, previous.as_ref()).to_string();
            line.push('\n');
            if tx.blocking_send(Bytes::from(line)).is_err() {
                return;
            }
            if !stream || !container.state().status.is_up() {
                return;
            }
            previous = Some(current);
            std::thread::sleep(INTERVAL);
        }
    });
    Ok((
        [(header::CONTENT_TYPE, "application/json")],
        channel_body(rx),
    )
        .into_response())
}

/// A sample and when it was read.
fn reading(cgroups: &Cgroups, container: &Container) -> (Sample, String) {
    let sample = sample_container(cgroups, container);
    (sample, rfc3339_nanos(SystemTime::now()))
}

/// dockerd's stats object (the fields the docker CLI and the SDKs read).
fn stats_json(
    container: &Container,
    (current, read): &(Sample, String),
    previous: Option<&(Sample, String)>,
) -> Value {
    let running = container.state().status.is_up();
    let (preread, precpu) = match previous {
        Some((sample, at)) => (at.clone(), cpu_json(sample)),
        None => (ZERO_TIME.to_string(), cpu_json(&Sample::default())),
    };
    json!({
        "read": if running { read.clone() } else { ZERO_TIME.to_string() },
        "preread": preread,
        "pids_stats": { "current": current.pids },
        "blkio_stats": {
            "io_service_bytes_recursive": [
                { "major": 0, "minor": 0, "op": "read", "value": current.block_read },
                { "major": 0, "minor": 0, "op": "write", "value": current.block_write },
            ],
            "io_serviced_recursive": null,
            "io_queue_recursive": null,
            "io_service_time_recursive": null,
            "io_wait_time_recursive": null,
            "io_merged_recursive": null,
            "io_time_recursive": null,
            "sectors_recursive": null,
        },
        "num_procs": 0,
        "storage_stats": {},
        "cpu_stats": cpu_json(current),
        "precpu_stats": precpu,
        // The usage is already without the inactive page cache, so no `stats` for a
        // client to take it off again.
        "memory_stats": if running {
            json!({ "usage": current.memory, "limit": current.memory_limit, "stats": {} })
        } else {
            json!({})
        },
        "name": format!("/{}", container.row.name),
        "id": container.row.id,
        "networks": {
            "eth0": {
                "rx_bytes": current.net_rx,
                "rx_packets": 0,
                "rx_errors": 0,
                "rx_dropped": 0,
                "tx_bytes": current.net_tx,
                "tx_packets": 0,
                "tx_errors": 0,
                "tx_dropped": 0,
            }
        },
    })
}

fn cpu_json(sample: &Sample) -> Value {
    json!({
        "cpu_usage": {
            "total_usage": sample.cpu_ns,
            "usage_in_kernelmode": 0,
            "usage_in_usermode": 0,
        },
        "system_cpu_usage": sample.system_ns,
        "online_cpus": sample.online_cpus,
        "throttling_data": { "periods": 0, "throttled_periods": 0, "throttled_time": 0 },
    })
}
