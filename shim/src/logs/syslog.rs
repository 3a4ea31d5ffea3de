//! The syslog driver: datagrams on a unix socket, as Docker's syslog driver sends them
//! with its default format (srslog's "unix" formatter, RFC 3164 without a hostname):
//!
//! `<30>Dec  5 12:11:17 0123456789ab[4242]: hello\n`
//!
//! Priority: facility daemon; severity info for stdout, err for stderr. The tag is
//! `--log-tag`, else the container id's first 12 characters; the pid is the shim's (Docker's
//! is the daemon's). One datagram per line, without the line's `\n` (one is added, as
//! srslog does); a long line goes as several datagrams of at most
//! [`PIECE_MAX`](super::lines::PIECE_MAX) bytes of text. Times are UTC.
//!
//! Sends never block: when the receiver (journald, rsyslog) falls behind, datagrams wait in
//! a bounded queue, sent as the socket becomes writable ([`Syslog::backlog_fd`]); when
//! even the queue is full, new ones are dropped and counted, and the drops are reported
//! once per episode. If the receiver goes away (restarted), the socket is connected again,
//! at most once a second.

use std::collections::VecDeque;
use std::io;
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::lines::LineBuffer;
use super::timestamp::Timestamp;
use super::{LogError, Notices, Stream};

/// The local syslog socket, where `syslog` with no address sends.
pub const DEFAULT_ADDRESS: &str = "/dev/log";

const FACILITY_DAEMON: u8 = 3;
const SEVERITY_ERR: u8 = 3;
const SEVERITY_INFO: u8 = 6;

/// How long to wait before connecting again to a receiver that went away.
const RECONNECT_EVERY: Duration = Duration::from_secs(1);

/// `syslog:unixgram:///path` → `/path`.
pub fn parse_address(address: &str) -> Option<PathBuf> {
    let path = address.strip_prefix("unixgram://")?;
    path.starts_with('/').then(|| PathBuf::from(path))
}

pub struct Syslog {
    tag: String,
    stdout: LineBuffer,
    stderr: LineBuffer,
    sender: Sender,
}

impl Syslog {
    /// Connects to `address` now: a missing receiver is an error at start, as with Docker.
    pub fn open(
        address: &Path,
        tag: String,
        piece_max: usize,
        queue_max: usize,
    ) -> Result<Syslog, LogError> {
        let socket = connect(address).map_err(|source| LogError::Syslog {
            address: address.to_path_buf(),
            source,
        })?;
        Ok(Syslog {
            tag,
            stdout: LineBuffer::new(piece_max),
            stderr: LineBuffer::new(piece_max),
            sender: Sender {
                address: address.to_path_buf(),
                socket: Some(socket),
                next_connect: Instant::now(),
                scratch: Vec::new(),
                queue: VecDeque::new(),
                queued_bytes: 0,
                queue_max,
                dropped: 0,
                refused: 0,
                last_refusal: None,
                notices: Notices::default(),
            },
        })
    }

    pub fn write(&mut self, stream: Stream, data: &[u8], now: Timestamp) {
        let header = self.header(stream, now);
        let sender = &mut self.sender;
        sender.send_backlog();
        let lines = match stream {
            Stream::Stdout => &mut self.stdout,
            Stream::Stderr => &mut self.stderr,
        };
        lines.feed(data, |piece, _| sender.send_line(&header, piece));
    }

    /// The stream ended: its unfinished line goes out.
    pub fn flush(&mut self, stream: Stream, now: Timestamp) {
        let header = self.header(stream, now);
        let sender = &mut self.sender;
        sender.send_backlog();
        let lines = match stream {
            Stream::Stdout => &mut self.stdout,
            Stream::Stderr => &mut self.stderr,
        };
        lines.flush(|piece, _| sender.send_line(&header, piece));
    }

    /// The socket to poll for POLLOUT while datagrams wait; then call [`Syslog::send_backlog`].
    pub fn backlog_fd(&self) -> Option<BorrowedFd<'_>> {
        if self.sender.queue.is_empty() {
            return None;
        }
        self.sender.socket.as_ref().map(|s| s.as_fd())
    }

    /// Sends what waits, as far as the receiver takes it.
    pub fn send_backlog(&mut self) {
        self.sender.send_backlog();
    }

    /// At exit: give the receiver up to `patience` to take the backlog, then count the rest
    /// as dropped.
    pub fn drain(&mut self, patience: Duration) {
        self.sender.drain(patience);
    }

    pub fn take_notices(&mut self) -> Vec<String> {
        self.sender.notices.take()
    }

    /// Datagrams waiting in the queue.
    pub fn queued(&self) -> usize {
        self.sender.queue.len()
    }

    /// `<PRI>Dec  5 12:11:17 TAG[PID]: `
    fn header(&self, stream: Stream, now: Timestamp) -> Vec<u8> {
        let severity = match stream {
            Stream::Stdout => SEVERITY_INFO,
            Stream::Stderr => SEVERITY_ERR,
        };
        let priority = FACILITY_DAEMON * 8 + severity;
        let mut header = format!("<{priority}>").into_bytes();
        now.write_stamp(&mut header);
        header.extend_from_slice(format!(" {}[{}]: ", self.tag, std::process::id()).as_bytes());
        header
    }
}

/// The socket and the queue in front of it.
struct Sender {
    address: PathBuf,
    socket: Option<UnixDatagram>,
    next_connect: Instant,
    /// One datagram being built (reused: no allocation per line while the receiver keeps up).
    scratch: Vec<u8>,
    queue: VecDeque<Vec<u8>>,
    queued_bytes: usize,
    queue_max: usize,
    /// Datagrams dropped in the current episode (queue full), reported when it ends.
    dropped: u64,
    /// Datagrams the socket refused for good (too long...), and the last reason, told once.
    refused: u64,
    last_refusal: Option<String>,
    notices: Notices,
}

impl Sender {
    fn send_backlog(&mut self) {
        while let Some(front) = self.queue.pop_front() {
            match self.send(&front) {
                Sent::Yes | Sent::Refused => self.queued_bytes -= front.len(),
                Sent::Later => {
                    self.queue.push_front(front);
                    return;
                }
            }
        }
        self.end_of_drop_episode();
    }

    fn drain(&mut self, patience: Duration) {
        let deadline = Instant::now() + patience;
        loop {
            self.send_backlog();
            let left = deadline.saturating_duration_since(Instant::now());
            if self.queue.is_empty() || left.is_zero() {
                break;
            }
            match &self.socket {
                Some(socket) => {
                    let mut fds = [nix::poll::PollFd::new(
                        socket.as_fd(),
                        nix::poll::PollFlags::POLLOUT,
                    )];
                    let ms = u16::try_from(left.as_millis()).unwrap_or(u16::MAX);
                    let _ = nix::poll::poll(&mut fds, nix::poll::PollTimeout::from(ms));
                }
                None => std::thread::sleep(left.min(Duration::from_millis(50))),
            }
        }
        self.dropped += self.queue.len() as u64;
        self.queue.clear();
        self.queued_bytes = 0;
        self.end_of_drop_episode();
        if self.refused > 0 {
            self.notices.push(format!(
                "syslog {}: {} log lines were refused by the socket in all",
                self.address.display(),
                self.refused
            ));
            self.refused = 0;
        }
    }

    fn send_line(&mut self, header: &[u8], piece: &[u8]) {
        let text = piece.strip_suffix(b"\n").unwrap_or(piece);
        let mut datagram = std::mem::take(&mut self.scratch);
        datagram.clear();
        datagram.extend_from_slice(header);
        datagram.extend_from_slice(text);
        datagram.push(b'\n');
        // Behind a backlog, a datagram queues: the receiver gets them in order.
        if self.queue.is_empty() && !matches!(self.send(&datagram), Sent::Later) {
            self.scratch = datagram;
            return;
        }
        if self.queued_bytes + datagram.len() > self.queue_max {
            if self.dropped == 0 {
                self.notices.push(format!(
                    "syslog {}: the receiver is not keeping up and {} bytes wait; dropping \
                     log lines until it catches up",
                    self.address.display(),
                    self.queued_bytes
                ));
            }
            self.dropped += 1;
            self.scratch = datagram;
            return;
        }
        self.queued_bytes += datagram.len();
        self.queue.push_back(datagram);
    }

    fn end_of_drop_episode(&mut self) {
        if self.dropped > 0 && self.queue.is_empty() {
            self.notices.push(format!(
                "syslog {}: {} log lines were dropped while the receiver was not keeping up",
                self.address.display(),
                self.dropped
            ));
            self.dropped = 0;
        }
    }

    fn send(&mut self, datagram: &[u8]) -> Sent {
        for _ in 0..2 {
            let Some(socket) = self.socket_or_reconnect() else {
                return Sent::Later;
            };
            match socket.send(datagram) {
                Ok(_) => return Sent::Yes,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Sent::Later,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if receiver_gone(&e) => {
                    // Restarted receiver: connect again (once now, then once a second).
                    self.socket = None;
                    continue;
                }
                Err(e) => {
                    // Too long for the socket, or worse: this datagram cannot go.
                    self.refused += 1;
                    let reason = e.to_string();
                    if self.last_refusal.as_ref() != Some(&reason) {
                        self.notices.push(format!(
                            "syslog {}: the socket refuses log lines: {reason}",
                            self.address.display()
                        ));
                        self.last_refusal = Some(reason);
                    }
                    return Sent::Refused;
                }
            }
        }
        Sent::Later
    }

    fn socket_or_reconnect(&mut self) -> Option<&UnixDatagram> {
        if self.socket.is_none() && Instant::now() >= self.next_connect {
            self.next_connect = Instant::now() + RECONNECT_EVERY;
            self.socket = connect(&self.address).ok();
        }
        self.socket.as_ref()
    }
}

enum Sent {
    Yes,
    /// The socket is full or the receiver away: keep the datagram for later.
    Later,
    /// The datagram can never go: drop it.
    Refused,
}

fn connect(address: &Path) -> io::Result<UnixDatagram> {
    let socket = UnixDatagram::unbound()?;
    // Connected, so that poll() reports POLLOUT when the receiver's queue has room.
    socket.connect(address)?;
    socket.set_nonblocking(true)?;
    Ok(socket)
}

fn receiver_gone(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::ECONNREFUSED | libc::ENOTCONN | libc::ENOENT | libc::EPIPE | libc::ECONNRESET)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logs::lines::PIECE_MAX;
    use crate::logs::testutil::TempDir;

    const NOW: Timestamp = Timestamp {
        secs: 1_796_472_677,
        nanos: 0,
    };

    fn receiver(dir: &TempDir) -> (UnixDatagram, PathBuf) {
        let path = dir.path().join("log.sock");
        let socket = UnixDatagram::bind(&path).unwrap();
        socket.set_nonblocking(true).unwrap();
        (socket, path)
    }

    fn received(socket: &UnixDatagram) -> Vec<String> {
        let mut out = Vec::new();
        let mut buf = vec![0; 128 * 1024];
        while let Ok(n) = socket.recv(&mut buf) {
            out.push(String::from_utf8_lossy(&buf[..n]).into_owned());
        }
        out
    }

    #[test]
    fn address_is_an_absolute_unixgram_path() {
        assert_eq!(
            parse_address("unixgram:///dev/log"),
            Some(PathBuf::from("/dev/log"))
        );
        assert_eq!(parse_address("unixgram://dev/log"), None);
        assert_eq!(parse_address("unix:///dev/log"), None);
        assert_eq!(parse_address("udp://1.2.3.4:514"), None);
    }

    #[test]
    fn lines_go_as_docker_formats_them_info_for_stdout_err_for_stderr() {
        let dir = TempDir::new("syslog-format");
        let (socket, path) = receiver(&dir);
        let mut syslog = Syslog::open(&path, "0123456789ab".into(), PIECE_MAX, 1 << 20).unwrap();
        syslog.write(Stream::Stdout, b"hello\n\nwor", NOW);
        syslog.write(Stream::Stderr, b"oops\n", NOW);
        syslog.write(Stream::Stdout, b"ld\n", NOW);
        let pid = std::process::id();
        assert_eq!(
            received(&socket),
            [
                format!("<30>Dec  5 12:11:17 0123456789ab[{pid}]: hello\n"),
                format!("<30>Dec  5 12:11:17 0123456789ab[{pid}]: \n"),
                format!("<27>Dec  5 12:11:17 0123456789ab[{pid}]: oops\n"),
                format!("<30>Dec  5 12:11:17 0123456789ab[{pid}]: world\n"),
            ]
        );
    }

    #[test]
    fn a_long_line_goes_as_several_datagrams_and_an_unfinished_one_at_flush() {
        let dir = TempDir::new("syslog-long");
        let (socket, path) = receiver(&dir);
        let mut syslog = Syslog::open(&path, "t".into(), 4, 1 << 20).unwrap();
        syslog.write(Stream::Stdout, b"abcdefghij\nxy", NOW);
        syslog.flush(Stream::Stdout, NOW);
        let texts: Vec<String> = received(&socket)
            .iter()
            .map(|d| d.split_once("]: ").unwrap().1.to_string())
            .collect();
        assert_eq!(texts, ["abcd\n", "efgh\n", "ij\n", "xy\n"]);
    }

    #[test]
    fn a_missing_receiver_is_an_error_naming_the_address() {
        let dir = TempDir::new("syslog-missing");
        let path = dir.path().join("nobody");
        let err = Syslog::open(&path, "t".into(), PIECE_MAX, 1 << 20)
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("nobody"), "{err}");
    }

    #[test]
    fn a_slow_receiver_never_blocks_the_writer_and_every_line_is_sent_or_counted() {
        let dir = TempDir::new("syslog-slow");
        let (socket, path) = receiver(&dir);
        let queue_max = 16 * 1024;
        let mut syslog = Syslog::open(&path, "t".into(), PIECE_MAX, queue_max).unwrap();
        let lines = 20_000;
        let started = Instant::now();
        for i in 0..lines {
            syslog.write(Stream::Stdout, format!("line {i:06}\n").as_bytes(), NOW);
        }
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "the writer waited"
        );
        assert!(syslog.queued() > 0, "the kernel queue should have filled");
        let notices = syslog.take_notices();
        assert_eq!(
            notices.len(),
            1,
            "one report when the drops start: {notices:?}"
        );

        let mut got = Vec::new();
        while syslog.backlog_fd().is_some() {
            got.extend(received(&socket));
            syslog.send_backlog();
        }
        got.extend(received(&socket));
        let notices = syslog.take_notices();
        assert_eq!(notices.len(), 1, "one report when they end: {notices:?}");
        let dropped: usize = notices[0]
            .split(": ")
            .nth(1)
            .and_then(|s| s.split(' ').next())
            .and_then(|n| n.parse().ok())
            .unwrap();
        assert_eq!(got.len() + dropped, lines);
        // What arrives is in order: the drops are of the newest lines, never a reordering.
        let numbers: Vec<u32> = got
            .iter()
            .map(|d| d.trim_end().rsplit(' ').next().unwrap().parse().unwrap())
            .collect();
        assert!(numbers.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(numbers[0], 0);
    }

    #[test]
    fn a_restarted_receiver_gets_the_lines_after_its_return() {
        let dir = TempDir::new("syslog-restart");
        let (socket, path) = receiver(&dir);
        let mut syslog = Syslog::open(&path, "t".into(), PIECE_MAX, 1 << 20).unwrap();
        syslog.write(Stream::Stdout, b"one\n", NOW);
        drop(socket);
        std::fs::remove_file(&path).unwrap();
        syslog.write(Stream::Stdout, b"two\n", NOW); // nobody there: it waits
        let (socket, _) = receiver(&dir);
        syslog.sender.next_connect = Instant::now();
        syslog.write(Stream::Stdout, b"three\n", NOW);
        syslog.drain(Duration::from_secs(2));
        let texts: Vec<String> = received(&socket)
            .iter()
            .map(|d| d.split_once("]: ").unwrap().1.to_string())
            .collect();
        assert_eq!(texts, ["two\n", "three\n"]);
    }

    #[test]
    fn datagrams_the_socket_refuses_are_counted_and_told_once() {
        let dir = TempDir::new("syslog-refused");
        let (socket, path) = receiver(&dir);
        // Pieces far beyond what a unix datagram may carry: EMSGSIZE.
        let mut syslog = Syslog::open(&path, "t".into(), 4 << 20, 1 << 20).unwrap();
        let huge = vec![b'x'; 3 << 20];
        for _ in 0..3 {
            syslog.write(Stream::Stdout, &huge, NOW);
            syslog.write(Stream::Stdout, b"\n", NOW);
        }
        syslog.write(Stream::Stdout, b"small\n", NOW);
        let notices = syslog.take_notices();
        assert_eq!(notices.len(), 1, "{notices:?}");
        assert!(notices[0].contains("refuses"), "{notices:?}");
        syslog.drain(Duration::from_millis(10));
        let notices = syslog.take_notices();
        assert!(
            notices
                .iter()
                .any(|n| n.contains("3 log lines were refused")),
            "{notices:?}"
        );
        assert_eq!(received(&socket).len(), 1, "the small line went");
    }
}
