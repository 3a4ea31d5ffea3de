//! A client of the shim's attach socket: SOCK_SEQPACKET, output packets are one stream-id
//! byte (1 stdin, 2 stdout, 3 stderr) and at most 8192 bytes of data; input is raw bytes.

use std::ffi::CString;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::time::{Duration, Instant};

/// podman reads the socket with an 8193-byte buffer: the stream id and 8192 bytes.
pub const MAX_PACKET: usize = 8193;

/// Stream ids of the attach protocol.
pub const STDOUT: u8 = 2;
/// Stream ids of the attach protocol.
pub const STDERR: u8 = 3;

/// What one read of the attach socket gave.
#[derive(Debug, PartialEq, Eq)]
pub enum Received {
    /// A packet: stream id and data.
    Data(u8, Vec<u8>),
    /// The shim closed the socket.
    Eof,
    /// Nothing within the timeout.
    Timeout,
}

/// One connection to the attach socket.
pub struct Attach {
    fd: OwnedFd,
    /// Everything received so far, per stream id (index 0..4).
    seen: [Vec<u8>; 4],
}

impl Attach {
    /// Connects to `path`; a path too long for `sun_path` is reached through
    /// `/proc/self/fd/<dir fd>/attach`, as podman does.
    #[track_caller]
    pub fn connect(path: &Path) -> Attach {
        // SAFETY: plain socket(2); the fd is owned right away.
        let raw =
            unsafe { libc::socket(libc::AF_UNIX, libc::SOCK_SEQPACKET | libc::SOCK_CLOEXEC, 0) };
        assert!(raw >= 0, "socket: {}", std::io::Error::last_os_error());
        // SAFETY: raw is a fresh fd we own.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        let dir = path.parent().expect("socket path has a dir");
        let cdir = CString::new(dir.as_os_str().as_bytes()).expect("no NUL in path");
        // SAFETY: valid C string; the O_PATH fd is closed below.
        let dfd = unsafe { libc::open(cdir.as_ptr(), libc::O_PATH | libc::O_CLOEXEC) };
        assert!(
            dfd >= 0,
            "open {}: {}",
            dir.display(),
            std::io::Error::last_os_error()
        );
        // SAFETY: dfd is a fresh fd we own.
        let dfd = unsafe { OwnedFd::from_raw_fd(dfd) };
        let name = path
            .file_name()
            .expect("socket file name")
            .to_string_lossy();
        let short = format!("/proc/self/fd/{}/{name}", dfd.as_raw_fd());
        let r = connect_unix(fd.as_raw_fd(), short.as_bytes());
        assert!(r.is_ok(), "connect {}: {:?}", path.display(), r);
        Attach {
            fd,
            seen: Default::default(),
        }
    }

    /// One packet, EOF, or a timeout. Panics on a packet larger than [`MAX_PACKET`] or
    /// without its stream id.
    #[track_caller]
    pub fn recv(&mut self, timeout: Duration) -> Received {
        if !poll_in(self.fd.as_raw_fd(), timeout) {
            return Received::Timeout;
        }
        let mut buf = vec![0u8; 65536];
        // SAFETY: recv into a valid buffer of its size. MSG_TRUNC: the real length, so an
        // oversized packet is seen as such.
        let n = unsafe {
            libc::recv(
                self.fd.as_raw_fd(),
                buf.as_mut_ptr().cast(),
                buf.len(),
                libc::MSG_TRUNC,
            )
        };
        if n < 0 {
            let e = std::io::Error::last_os_error();
            if e.raw_os_error() == Some(libc::ECONNRESET) {
                return Received::Eof;
            }
            panic!("attach socket recv: {e}");
        }
        let n = n as usize;
        if n == 0 {
            return Received::Eof;
        }
        assert!(
            n <= MAX_PACKET,
            "attach packet of {n} bytes: podman reads at most {MAX_PACKET}"
        );
        let id = buf[0];
        assert!((1..=3).contains(&id), "attach packet with stream id {id}");
        let data = buf[1..n].to_vec();
        self.seen[id as usize].extend_from_slice(&data);
        Received::Data(id, data)
    }

    /// Reads until what came on `stream` contains `needle`; returns all of that stream so
    /// far. Panics on EOF or timeout, with what was seen.
    #[track_caller]
    pub fn read_until(&mut self, stream: u8, needle: &str, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            let text = self.seen_text(stream);
            if text.contains(needle) {
                return text;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            match self.recv(left) {
                Received::Data(..) => {}
                r => panic!(
                    "waiting for {needle:?} on stream {stream}: {r:?}; stdout so far {:?}, stderr {:?}",
                    self.seen_text(STDOUT),
                    self.seen_text(STDERR)
                ),
            }
        }
    }

    /// Sends `input` again every half second until `want` shows on stdout after a sending,
    /// for effects that land asynchronously (a resize through the ctl fifo: `stty size`
    /// until the new size shows). Panics past `timeout`.
    #[track_caller]
    pub fn retry_until(&mut self, input: &[u8], want: &str, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            let mark = self.seen[STDOUT as usize].len();
            self.send(input);
            let round = Instant::now() + Duration::from_millis(500);
            while Instant::now() < round {
                let since = String::from_utf8_lossy(&self.seen[STDOUT as usize][mark..]);
                if since.contains(want) {
                    return;
                }
                let left = round.saturating_duration_since(Instant::now());
                if let Received::Eof = self.recv(left) {
                    break;
                }
            }
        }
        panic!(
            "{want:?} never showed after sending {:?}; stdout so far {:?}",
            String::from_utf8_lossy(input),
            self.seen_text(STDOUT)
        );
    }

    /// Reads until EOF; panics past `timeout`.
    #[track_caller]
    pub fn read_to_eof(&mut self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.recv(left) {
                Received::Data(..) => {}
                Received::Eof => return,
                Received::Timeout => panic!(
                    "attach socket not closed within {timeout:?}; stdout {:?}, stderr {:?}",
                    self.seen_text(STDOUT),
                    self.seen_text(STDERR)
                ),
            }
        }
    }

    /// All data received so far on `stream`, as text.
    pub fn seen_text(&self, stream: u8) -> String {
        String::from_utf8_lossy(&self.seen[stream as usize]).into_owned()
    }

    /// Sends raw bytes for the container's stdin.
    #[track_caller]
    pub fn send(&self, data: &[u8]) {
        // SAFETY: send from a valid buffer; MSG_NOSIGNAL: a closed socket is an error here,
        // not a SIGPIPE for the whole test binary.
        let n = unsafe {
            libc::send(
                self.fd.as_raw_fd(),
                data.as_ptr().cast(),
                data.len(),
                libc::MSG_NOSIGNAL,
            )
        };
        assert_eq!(
            n,
            data.len() as isize,
            "attach send: {}",
            std::io::Error::last_os_error()
        );
    }

    /// Closes the writing half: the shim sees the client's stdin end.
    pub fn shutdown_write(&self) {
        // SAFETY: shutdown on our own socket.
        unsafe { libc::shutdown(self.fd.as_raw_fd(), libc::SHUT_WR) };
    }
}

fn connect_unix(fd: RawFd, path: &[u8]) -> std::io::Result<()> {
    // SAFETY: sockaddr_un is plain old data; zeroed is a valid value.
    let mut addr: libc::sockaddr_un = unsafe { std::mem::zeroed() };
    addr.sun_family = libc::AF_UNIX as libc::sa_family_t;
    if path.len() >= addr.sun_path.len() {
        return Err(std::io::Error::other("socket path too long"));
    }
    for (d, s) in addr.sun_path.iter_mut().zip(path) {
        *d = *s as libc::c_char;
    }
    let len = std::mem::size_of::<libc::sockaddr_un>() as libc::socklen_t;
    // SAFETY: addr is a valid sockaddr_un of size len.
    let r = unsafe { libc::connect(fd, (&addr as *const libc::sockaddr_un).cast(), len) };
    if r == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// True if `fd` is readable (or at EOF) within `timeout`.
pub(crate) fn poll_in(fd: RawFd, timeout: Duration) -> bool {
    let mut p = libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    let ms = timeout.as_millis().min(i32::MAX as u128) as libc::c_int;
    // SAFETY: one valid pollfd.
    let r = unsafe { libc::poll(&mut p, 1, ms) };
    r > 0
}
