//! Between the synchronous engine, which reads and writes `std::io` streams on a
//! blocking thread, and the connection's body: a writer whose bytes become a
//! response body, a reader over a request body, and a body from a channel.

use std::convert::Infallible;
use std::io::{self, Read, Write};

use axum::body::{Body, Bytes};
use futures_util::StreamExt;
use tokio::sync::mpsc;

/// Chunks in flight between a blocking writer and a slow client: the writer waits
/// rather than the daemon's memory growing.
const CHUNKS_IN_FLIGHT: usize = 16;
/// Bytes gathered before a chunk goes out.
const CHUNK: usize = 64 * 1024;

/// A response body fed by the channel's sender.
pub fn channel_body(rx: mpsc::Receiver<Bytes>) -> Body {
    Body::from_stream(futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv()
            .await
            .map(|bytes| (Ok::<_, Infallible>(bytes), rx))
    }))
}

/// A `Write` whose bytes are a response body; a client that went away is a
/// broken pipe to the writer.
pub struct BodyWriter {
    tx: mpsc::Sender<Bytes>,
    pending: Vec<u8>,
}

/// A writer for a blocking thread, and the body it feeds.
pub fn body_writer() -> (BodyWriter, Body) {
    let (tx, rx) = mpsc::channel(CHUNKS_IN_FLIGHT);
    let writer = BodyWriter {
        tx,
        pending: Vec::with_capacity(CHUNK),
    };
    (writer, channel_body(rx))
}

impl Write for BodyWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.pending.extend_from_slice(buf);
        if self.pending.len() >= CHUNK {
            self.flush()?;
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::replace(
            &mut self.pending,
            Vec::with_capacity(CHUNK),
        ));
        self.tx
            .blocking_send(chunk)
            .map_err(|_| io::Error::from(io::ErrorKind::BrokenPipe))
    }
}

impl Drop for BodyWriter {
    fn drop(&mut self) {
        let _ = self.flush();
    }
}

/// A `Read` over a request body, for a blocking thread; made on the runtime.
pub struct BodyReader {
    rx: mpsc::Receiver<Result<Bytes, String>>,
    current: Bytes,
}

impl BodyReader {
    pub fn new(body: Body) -> BodyReader {
        let (tx, rx) = mpsc::channel(CHUNKS_IN_FLIGHT);
        tokio::spawn(async move {
            let mut frames = body.into_data_stream();
            while let Some(frame) = frames.next().await {
                let item = frame.map_err(|e| e.to_string());
                let failed = item.is_err();
                if tx.send(item).await.is_err() || failed {
                    return;
                }
            }
        });
        BodyReader {
            rx,
            current: Bytes::new(),
        }
    }
}

impl Read for BodyReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.current.is_empty() {
            match self.rx.blocking_recv() {
                None => return Ok(0),
                Some(Ok(bytes)) => self.current = bytes,
                Some(Err(e)) => return Err(io::Error::other(format!("the request body: {e}"))),
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current.split_to(n));
        Ok(n)
    }
}
