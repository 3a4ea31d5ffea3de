//! Long image operations as dockerd answers them: JSON messages streamed from work on
//! a blocking thread, a request body read by that work as it arrives, a tar written
//! by it as the client reads. The first message decides the status: an error before
//! it is an ordinary error response (Docker's status and `{"message":..}`), an error
//! after it a last `errorDetail` line of the 200 stream, as dockerd's write-flusher
//! does. A client that goes away closes the channel, and the work sees it.

use std::convert::Infallible;
use std::io::{Read, Write};

use axum::body::{Body, Bytes};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use tokio::sync::mpsc;

use super::error::ApiError;
use super::progress;

/// Chunks of a request or response body in flight between a connection and the
/// work: a slow side holds the other back rather than memory growing.
const CHUNKS_IN_FLIGHT: usize = 16;

enum Message {
    Line(Bytes),
    Done(Result<(), ApiError>),
}

/// Where the work sends its JSON lines.
#[derive(Clone)]
pub struct Lines(mpsc::UnboundedSender<Message>);

impl Lines {
    /// Sends one line; a client gone meanwhile is noticed by [`Lines::gone`].
    pub fn send(&self, line: Bytes) {
        let _ = self.0.send(Message::Line(line));
    }

    /// Resolves when the client has gone: the work may stop.
    pub async fn gone(&self) {
        self.0.closed().await
    }
}

/// A response body fed by the channel's sender (logs, events, stats: streams that
/// go on while the client reads).
pub fn channel_body(rx: mpsc::Receiver<Bytes>) -> Body {
    Body::from_stream(futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv()
            .await
            .map(|bytes| (Ok::<_, Infallible>(bytes), rx))
    }))
}

/// Runs `work` on a blocking thread and answers with the JSON lines it sends.
pub async fn json_lines<F>(work: F) -> Response
where
    F: FnOnce(&Lines) -> Result<(), ApiError> + Send + 'static,
{
    let (tx, mut rx) = mpsc::unbounded_channel();
    let lines = Lines(tx);
    tokio::task::spawn_blocking(move || {
        let result = work(&lines);
        let _ = lines.0.send(Message::Done(result));
    });
    let first = match rx.recv().await {
        Some(Message::Line(first)) => first,
        Some(Message::Done(Err(e))) => return e.into_response(),
        Some(Message::Done(Ok(()))) => Bytes::new(),
        None => return ApiError::internal("the request's worker stopped").into_response(),
    };
    let rest = futures_util::stream::unfold(Some(rx), |rx| async move {
        let mut rx = rx?;
        match rx.recv().await {
            Some(Message::Line(line)) => Some((line, Some(rx))),
            Some(Message::Done(Err(e))) => Some((progress::error(&e.message), None)),
            Some(Message::Done(Ok(()))) | None => None,
        }
    });
    let body = futures_util::stream::once(async move { first })
        .chain(rest)
        .map(Ok::<_, Infallible>);
    (
        [(header::CONTENT_TYPE, "application/json")],
        Body::from_stream(body),
    )
        .into_response()
}

/// A request body as a blocking `Read`, fed by a task as the client sends it.
pub struct BodyReader {
    chunks: mpsc::Receiver<Result<Bytes, std::io::Error>>,
    current: Bytes,
}

impl BodyReader {
    /// Starts reading `body`; to be called on the runtime, read on a blocking thread.
    pub fn new(body: Body) -> BodyReader {
        let (tx, rx) = mpsc::channel(CHUNKS_IN_FLIGHT);
        tokio::spawn(async move {
            let mut frames = body.into_data_stream();
            while let Some(frame) = frames.next().await {
                let chunk = frame.map_err(|e| {
                    std::io::Error::new(
                        std::io::ErrorKind::UnexpectedEof,
                        format!("reading the request body: {e}"),
                    )
                });
                let failed = chunk.is_err();
                if tx.send(chunk).await.is_err() || failed {
                    return;
                }
            }
        });
        BodyReader {
            chunks: rx,
            current: Bytes::new(),
        }
    }
}

impl Read for BodyReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.current.is_empty() {
            match self.chunks.blocking_recv() {
                Some(chunk) => self.current = chunk?,
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current.split_to(n));
        Ok(n)
    }
}

/// A response body written by blocking work: each write goes to the client, a
/// client gone is a broken pipe.
#[derive(Clone)]
pub struct BodyWriter(mpsc::Sender<Result<Bytes, std::io::Error>>);

impl BodyWriter {
    /// The writer, and the body it feeds. An error the work reports with
    /// [`BodyWriter::fail`] cuts the body short: the client sees it incomplete.
    pub fn new() -> (BodyWriter, Body) {
        let (tx, rx) = mpsc::channel(CHUNKS_IN_FLIGHT);
        let body = futures_util::stream::unfold(rx, |mut rx| async move {
            rx.recv().await.map(|chunk| (chunk, rx))
        });
        (BodyWriter(tx), Body::from_stream(body))
    }

    pub fn fail(&self, message: String) {
        let _ = self.0.blocking_send(Err(std::io::Error::other(message)));
    }
}

impl Write for BodyWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .blocking_send(Ok(Bytes::copy_from_slice(buf)))
            .map_err(|_| std::io::Error::from(std::io::ErrorKind::BrokenPipe))?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
