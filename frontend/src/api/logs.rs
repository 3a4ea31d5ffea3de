//! `GET /containers/{id}/logs`: the container's log as dockerd streams it, each
//! line framed with its stream (stdout 1, stderr 2) and length unless the container
//! has a terminal, followed as it writes with `follow`.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};

use super::containers::query_bool;
use super::error::ApiError;
use super::routes::{blocking, Shared};
use super::stream::channel_body;
use crate::container::logs::{
    parse_time_arg, read_logs, write_record, LogFormat, LogOptions, LogStream,
};

/// Frames in flight between the reader and the connection: a slow client holds the
/// reader back rather than the daemon's memory growing.
const FRAMES_IN_FLIGHT: usize = 64;

/// dockerd's multiplexed-stream header: the stream, three zero bytes, the length.
pub fn frame(stream: LogStream, payload: &[u8]) -> Vec<u8> {
    let kind = match stream {
        LogStream::Stdout => 1u8,
        LogStream::Stderr => 2u8,
    };
    let mut out = Vec::with_capacity(8 + payload.len());
    out.extend_from_slice(&[kind, 0, 0, 0]);
    out.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    out.extend_from_slice(payload);
    out
}

pub async fn logs(
    State(engine): State<Shared>,
    Path(id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let (stdout, stderr) = (query_bool(&query, "stdout"), query_bool(&query, "stderr"));
    if !stdout && !stderr {
        return Err(ApiError::bad_request(
            "Bad parameters: you must choose at least one stream",
        ));
    }
    let time = |key: &str| -> Result<Option<i64>, ApiError> {
        match query.get(key).filter(|v| !v.is_empty() && *v != "0") {
            None => Ok(None),
            Some(v) => parse_time_arg(v)
                .map(Some)
                .map_err(|e| ApiError::bad_request(format!("invalid value for {key}: {e}"))),
        }
    };
    let tail = match query.get("tail").map(String::as_str) {
        None | Some("") | Some("all") => None,
        Some(n) => match n.parse::<i64>() {
            Ok(n) if n < 0 => None,
            Ok(n) => Some(n as usize),
            Err(_) => {
                return Err(ApiError::bad_request(format!(
                    "invalid value for tail: {n}"
                )))
            }
        },
    };
    let options = LogOptions {
        follow: query_bool(&query, "follow"),
        tail,
        timestamps: query_bool(&query, "timestamps"),
        since: time("since")?,
        until: time("until")?,
    };
    let container = blocking(move || Ok(engine.containers()?.find(&id)?)).await?;
    let Some(format) = LogFormat::of(&container.host) else {
        return Err(ApiError::new(
            StatusCode::NOT_IMPLEMENTED,
            "configured logging driver does not support reading",
        ));
    };
    let tty = container.config.tty;
    let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(FRAMES_IN_FLIGHT);
    tokio::task::spawn_blocking(move || {
        let running = || !tx.is_closed() && container.state().status.is_up();
        let _ = read_logs(
            &container.paths.log(),
            format,
            &options,
            &running,
            &mut |record| {
                let wanted = match record.stream {
                    LogStream::Stdout => stdout,
                    LogStream::Stderr => stderr,
                };
                if !wanted {
                    return Ok(());
                }
                let mut line = Vec::new();
                write_record(&mut line, &record, options.timestamps)?;
                let bytes = if tty {
                    line
                } else {
                    frame(record.stream, &line)
                };
                tx.blocking_send(Bytes::from(bytes))
                    .map_err(|_| std::io::Error::from(std::io::ErrorKind::BrokenPipe))
            },
        );
    });
    Ok((
        [(header::CONTENT_TYPE, "application/vnd.docker.raw-stream")],
        channel_body(rx),
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_carry_the_stream_and_the_length() {
        assert_eq!(
            frame(LogStream::Stderr, b"hi\n"),
            vec![2, 0, 0, 0, 0, 0, 0, 3, b'h', b'i', b'\n']
        );
        assert_eq!(frame(LogStream::Stdout, b"")[..4], [1, 0, 0, 0]);
    }
}
