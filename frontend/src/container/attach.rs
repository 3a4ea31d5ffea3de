//! Attaching to a container through its shim: `run -it`, `attach` and `start -a -i`.
//!
//! The shim's contract (README, "Using berth-shim"): `BUNDLE/attach` is a SOCK_SEQPACKET
//! socket; each packet from the shim is one stream-id byte (2 stdout, 3 stderr) and at
//! most 8192 bytes of data; what we send is the container's stdin, raw; our
//! `shutdown(SHUT_WR)` closes the container's stdin (unless the shim runs with
//! `--leave-stdin-open`); the shim closes the socket once the container exited and its
//! output is out. `BUNDLE/ctl` takes `1 ROWS COLS` lines that resize the pty.
//!
//! One thread, one poll loop, as the shim's: the socket, our stdin, and SIGWINCH.
//!
//! What the shim does when a client goes matters to the caller: a detach closes the
//! socket, which the shim takes as the end of input like a shutdown, so a container
//! whose stdin must outlive a detach runs under a shim with `--leave-stdin-open`
//! (Docker's `-i` without stdin-once) or with `-t` alone (a pty takes input without
//! `-i`, as podman runs it).

mod keys;
mod terminal;

pub use keys::{parse_detach_keys, DetachMatcher, Matched, DEFAULT_DETACH_KEYS};

use std::collections::VecDeque;
use std::fs::File;
use std::io::Write;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;

use nix::errno::Errno;
use nix::fcntl::{fcntl, open, FcntlArg, OFlag};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::socket::{
    connect, recv, send, shutdown, socket, AddressFamily, MsgFlags, Shutdown, SockFlag, SockType,
    UnixAddr,
};
use nix::sys::stat::Mode;

use super::ContainerPaths;
use terminal::{window_size, RawMode, WinchWatch};

/// Stream ids of the shim's output packets (conmon's numbering).
const STDOUT_ID: u8 = 2;
const STDERR_ID: u8 = 3;
/// Data bytes per packet the shim sends at most; we send no more per packet either
/// (conmon reads its clients' input in buffers of this size).
const PACKET_DATA_MAX: usize = 8192;
/// Our stdin is read this much at a time.
const STDIN_CHUNK: usize = 32 * 1024;
/// Input waiting for the socket before we stop reading our stdin.
const OUTGOING_MAX: usize = 256 * 1024;
/// How long the input typed just before the detach keys may take to go out.
const DETACH_FLUSH_MS: u16 = 1000;

/// What Docker's `attach` prints on stderr (and exits 1) when the user detaches; its
/// `run` and `start -a` print nothing and exit 0. [`attach`] itself prints nothing.
pub const DETACHED_MESSAGE: &str = "read escape sequence";

#[derive(Debug, thiserror::Error)]
pub enum AttachError {
    #[error(
        "invalid detach keys {spec:?}: {key:?} is not a key (one character, ctrl-a to ctrl-z, \
         ctrl-@, ctrl-[, ctrl-\\, ctrl-], ctrl-^, ctrl-_ or DEL, separated by commas)"
    )]
    DetachKey { spec: String, key: String },
    #[error("container {dir}: no shim serves it ({path}: {source})")]
    NoShim {
        dir: PathBuf,
        path: PathBuf,
        source: Errno,
    },
    #[error("container {dir}: {source}")]
    Dir { dir: PathBuf, source: Errno },
    #[error("attach socket {path}: {op}: {source}")]
    Socket {
        path: PathBuf,
        op: &'static str,
        source: Errno,
    },
    #[error("control fifo {path}: {source}")]
    Ctl {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{op}: {source}")]
    Stdio { op: &'static str, source: Errno },
    #[error("terminal: {op}: {source}")]
    Terminal { op: &'static str, source: Errno },
}

/// How to attach.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttachOptions {
    /// Our stdin goes to the container (`-i`); it is watched for `detach_keys`.
    pub stdin: bool,
    /// The container has a pty (`-t`): our terminal goes raw while attached (when
    /// `stdin` and it is one) and the pty follows its size.
    pub tty: bool,
    /// The detach sequence, as [`parse_detach_keys`] gives it; empty: no detaching.
    pub detach_keys: Vec<u8>,
}

impl Default for AttachOptions {
    fn default() -> AttachOptions {
        AttachOptions {
            stdin: false,
            tty: false,
            detach_keys: vec![0x10, 0x11],
        }
    }
}

/// How an attach ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttachEnd {
    /// The user typed the detach keys; the container runs on.
    Detached,
    /// The shim closed the socket: the container exited and all its output was copied.
    Ended,
    /// The caller hung up ([`AttachIo::hangup`]); the container runs on.
    HungUp,
}

/// Our side of the attach: stdin, stdout, stderr. Tests pass pipes.
#[derive(Debug, Clone, Copy)]
pub struct AttachIo<'a> {
    pub stdin: BorrowedFd<'a>,
    pub stdout: BorrowedFd<'a>,
    pub stderr: BorrowedFd<'a>,
    /// Readable (or hung up) once whoever the session serves has gone: the read end
    /// of a pipe whose write end they hold. Without it only the container's end
    /// or the detach keys end the session.
    pub hangup: Option<BorrowedFd<'a>>,
}

impl AttachIo<'static> {
    /// The process's own fds 0, 1 and 2.
    pub fn std() -> AttachIo<'static> {
        // SAFETY: fds 0-2 stay open for the whole process: Rust's runtime opens
        // /dev/null on any that were closed at start, and berth never closes them.
        unsafe {
            AttachIo {
                stdin: BorrowedFd::borrow_raw(0),
                stdout: BorrowedFd::borrow_raw(1),
                stderr: BorrowedFd::borrow_raw(2),
                hangup: None,
            }
        }
    }
}

/// A connection to a container's attach socket. Connect before `RUNTIME start` (`run
/// -it`, `start -a`) so no output is missed, then [`AttachSocket::attach`].
#[derive(Debug)]
pub struct AttachSocket {
    fd: OwnedFd,
    path: PathBuf,
}

impl AttachSocket {
    /// Connects through `/proc/self/fd/<dir fd>/attach`: a socket address holds 107
    /// bytes, and the container's directory under any `--root` may be longer.
    pub fn connect(paths: &ContainerPaths) -> Result<AttachSocket, AttachError> {
        let path = paths.attach_socket();
        let dir = open(
            paths.bundle(),
            OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .map_err(|source| AttachError::Dir {
            dir: paths.dir.clone(),
            source,
        })?;
        let err = |op, source| AttachError::Socket {
            path: path.clone(),
            op,
            source,
        };
        let fd = socket(
            AddressFamily::Unix,
            SockType::SeqPacket,
            SockFlag::SOCK_CLOEXEC,
            None,
        )
        .map_err(|e| err("socket", e))?;
        let addr = UnixAddr::new(format!("/proc/self/fd/{}/attach", dir.as_raw_fd()).as_str())
            .map_err(|e| err("address", e))?;
        loop {
            match connect(fd.as_raw_fd(), &addr) {
                Ok(()) => break,
                Err(Errno::EINTR) => continue,
                // No socket, or one nobody listens on: the shim is gone.
                Err(source @ (Errno::ENOENT | Errno::ECONNREFUSED)) => {
                    return Err(AttachError::NoShim {
                        dir: paths.dir.clone(),
                        path,
                        source,
                    })
                }
                Err(e) => return Err(err("connect", e)),
            }
        }
        // Non-blocking from here: a shim that does not take our input must not stop
        // us from copying its output.
        set_nonblocking(fd.as_fd()).map_err(|e| err("fcntl", e))?;
        Ok(AttachSocket { fd, path })
    }

    /// Copies the container's output to `io.stdout`/`io.stderr` and (with
    /// `options.stdin`) `io.stdin` to the container until the container ends or the
    /// user detaches. Prints nothing of its own.
    pub fn attach(
        self,
        paths: &ContainerPaths,
        options: &AttachOptions,
        io: AttachIo<'_>,
    ) -> Result<AttachEnd, AttachError> {
        let is_tty = |fd: BorrowedFd<'_>| nix::unistd::isatty(fd).unwrap_or(false);
        // Dropped last: the terminal is back as it was on every way out.
        let _raw = if options.tty && options.stdin && is_tty(io.stdin) {
            let raw = RawMode::enter(io.stdin).map_err(|source| AttachError::Terminal {
                op: "raw mode",
                source,
            })?;
            Some(raw)
        } else {
            None
        };
        let terminal = if options.tty {
            [io.stdout, io.stdin].into_iter().find(|fd| is_tty(*fd))
        } else {
            None
        };
        let resizer = match terminal {
            Some(term) => Some(Resizer::start(paths, term)?),
            None => None,
        };
        let mut session = Session {
            socket: self,
            io,
            matcher: DetachMatcher::new(&options.detach_keys),
            stdin_open: options.stdin,
            outgoing: VecDeque::new(),
            outgoing_bytes: 0,
            shutdown_pending: false,
        };
        session.run(resizer.as_ref())
    }
}

/// [`AttachSocket::connect`] then [`AttachSocket::attach`].
pub fn attach(
    paths: &ContainerPaths,
    options: &AttachOptions,
    io: AttachIo<'_>,
) -> Result<AttachEnd, AttachError> {
    AttachSocket::connect(paths)?.attach(paths, options, io)
}

/// Resizes the container's pty to `rows` x `cols` through its shim's `ctl` fifo.
/// Never blocks: a fifo that no shim reads is an error naming the container.
pub fn resize(paths: &ContainerPaths, rows: u16, cols: u16) -> Result<(), AttachError> {
    let ctl = open_ctl(paths)?;
    write_resize(&ctl, rows, cols).map_err(|source| AttachError::Ctl {
        path: paths.ctl(),
        source,
    })
}

/// `ctl` for writing, without waiting for a reader: ENXIO (nobody reads) and ENOENT
/// (no fifo) both mean no shim.
fn open_ctl(paths: &ContainerPaths) -> Result<File, AttachError> {
    let path = paths.ctl();
    std::fs::OpenOptions::new()
        .write(true)
        .custom_flags(nix::libc::O_NONBLOCK | nix::libc::O_CLOEXEC)
        .open(&path)
        .map_err(|e| match e.raw_os_error().map(Errno::from_raw) {
            Some(source @ (Errno::ENXIO | Errno::ENOENT)) => AttachError::NoShim {
                dir: paths.dir.clone(),
                path: path.clone(),
                source,
            },
            _ => AttachError::Ctl {
                path: path.clone(),
                source: e,
            },
        })
}

/// One line, one write: under PIPE_BUF, so the shim never sees half of it.
fn write_resize(mut ctl: &File, rows: u16, cols: u16) -> std::io::Result<()> {
    ctl.write_all(format!("1 {rows} {cols}\n").as_bytes())
}

/// Keeps the pty at our terminal's size.
struct Resizer<'a> {
    ctl: File,
    terminal: BorrowedFd<'a>,
    winch: WinchWatch,
}

impl<'a> Resizer<'a> {
    fn start(paths: &ContainerPaths, terminal: BorrowedFd<'a>) -> Result<Self, AttachError> {
        let winch = WinchWatch::start().map_err(|source| AttachError::Terminal {
            op: "SIGWINCH handler",
            source,
        })?;
        let resizer = Resizer {
            ctl: open_ctl(paths)?,
            terminal,
            winch,
        };
        // First one row and column more, then the size, as Docker's attach does: the
        // size changes even when it is the one the pty had, so a shell that was
        // detached from redraws its prompt on SIGWINCH.
        if let Ok((rows, cols)) = window_size(terminal) {
            if rows > 0 && cols > 0 {
                let _ = write_resize(&resizer.ctl, rows.saturating_add(1), cols.saturating_add(1));
            }
        }
        resizer.update();
        Ok(resizer)
    }

    /// Sends the terminal's size. A shim that is slow to read its fifo (EAGAIN) or gone
    /// (EPIPE) loses the line: the next SIGWINCH sends the size again, and the end of
    /// the container shows on the socket.
    fn update(&self) {
        if let Ok((rows, cols)) = window_size(self.terminal) {
            if rows > 0 && cols > 0 {
                let _ = write_resize(&self.ctl, rows, cols);
            }
        }
    }
}

/// The copying between our fds and the socket.
struct Session<'a> {
    socket: AttachSocket,
    io: AttachIo<'a>,
    matcher: DetachMatcher,
    stdin_open: bool,
    /// Packets for the container's stdin that the socket did not take yet.
    outgoing: VecDeque<Vec<u8>>,
    outgoing_bytes: usize,
    /// Our stdin ended: shut the socket's writing side once `outgoing` is out.
    shutdown_pending: bool,
}

#[derive(Clone, Copy)]
enum Source {
    Socket,
    Stdin,
    Winch,
    HangUp,
}

impl Session<'_> {
    fn run(&mut self, resizer: Option<&Resizer<'_>>) -> Result<AttachEnd, AttachError> {
        let mut buf = vec![0u8; PACKET_DATA_MAX + 1 + 1024];
        loop {
            let mut fds: Vec<(BorrowedFd<'_>, PollFlags, Source)> = Vec::with_capacity(3);
            let mut socket_flags = PollFlags::POLLIN;
            if !self.outgoing.is_empty() {
                socket_flags |= PollFlags::POLLOUT;
            }
            fds.push((self.socket.fd.as_fd(), socket_flags, Source::Socket));
            if self.stdin_open && self.outgoing_bytes < OUTGOING_MAX {
                fds.push((self.io.stdin, PollFlags::POLLIN, Source::Stdin));
            }
            if let Some(r) = resizer {
                fds.push((r.winch.fd(), PollFlags::POLLIN, Source::Winch));
            }
            if let Some(fd) = self.io.hangup {
                fds.push((fd, PollFlags::POLLIN, Source::HangUp));
            }
            let mut pollfds: Vec<PollFd<'_>> =
                fds.iter().map(|(fd, f, _)| PollFd::new(*fd, *f)).collect();
            match poll(&mut pollfds, PollTimeout::NONE) {
                Ok(_) | Err(Errno::EINTR) => {}
                Err(source) => {
                    return Err(AttachError::Socket {
                        path: self.socket.path.clone(),
                        op: "poll",
                        source,
                    })
                }
            }
            let ready: Vec<(Source, PollFlags)> = pollfds
                .iter()
                .zip(&fds)
                .filter_map(|(p, (_, _, s))| p.revents().filter(|r| !r.is_empty()).map(|r| (*s, r)))
                .collect();
            drop(pollfds);
            drop(fds);
            for (source, revents) in ready {
                match source {
                    Source::Socket => {
                        if revents.intersects(PollFlags::POLLOUT) {
                            self.flush()?;
                        }
                        let input = PollFlags::POLLIN | PollFlags::POLLHUP | PollFlags::POLLERR;
                        if revents.intersects(input) && self.read_socket(&mut buf)? {
                            return Ok(AttachEnd::Ended);
                        }
                    }
                    Source::Stdin => {
                        if self.read_stdin()? {
                            self.flush_before_detach();
                            return Ok(AttachEnd::Detached);
                        }
                    }
                    Source::Winch => {
                        if let Some(r) = resizer {
                            r.winch.drain();
                            r.update();
                        }
                    }
                    Source::HangUp => return Ok(AttachEnd::HungUp),
                }
            }
        }
    }

    /// Copies what the shim sent; true once it closed the socket.
    fn read_socket(&mut self, buf: &mut [u8]) -> Result<bool, AttachError> {
        loop {
            let n = match recv(self.socket.fd.as_raw_fd(), buf, MsgFlags::MSG_DONTWAIT) {
                Ok(0) => return Ok(true),
                Ok(n) => n,
                Err(Errno::EINTR) => continue,
                Err(Errno::EAGAIN) => return Ok(false),
                // The shim died rather than closing: its container's output ends here too.
                Err(Errno::ECONNRESET) => return Ok(true),
                Err(source) => {
                    return Err(AttachError::Socket {
                        path: self.socket.path.clone(),
                        op: "recv",
                        source,
                    })
                }
            };
            let (target, op) = match buf[0] {
                STDOUT_ID => (self.io.stdout, "writing stdout"),
                STDERR_ID => (self.io.stderr, "writing stderr"),
                // Not a stream we copy (conmon's protocol numbers stdin 1).
                _ => continue,
            };
            write_all(target, &buf[1..n]).map_err(|source| AttachError::Stdio { op, source })?;
        }
    }

    /// Reads our stdin into `outgoing`; true when the detach keys were typed.
    fn read_stdin(&mut self) -> Result<bool, AttachError> {
        let mut buf = vec![0u8; STDIN_CHUNK];
        let n = match nix::unistd::read(self.io.stdin, &mut buf) {
            Ok(n) => n,
            Err(Errno::EINTR | Errno::EAGAIN) => return Ok(false),
            // A terminal that went away (EIO) ends our input as EOF does.
            Err(Errno::EIO) => 0,
            Err(source) => {
                return Err(AttachError::Stdio {
                    op: "reading stdin",
                    source,
                })
            }
        };
        if n == 0 {
            self.stdin_open = false;
            let held = self.matcher.take_held();
            self.queue(&held);
            self.shutdown_pending = true;
            self.flush()?;
            return Ok(false);
        }
        match self.matcher.feed(&buf[..n]) {
            Matched::Input(bytes) => {
                self.queue(&bytes);
                self.flush()?;
                Ok(false)
            }
            Matched::Detach { before } => {
                self.queue(&before);
                Ok(true)
            }
        }
    }

    fn queue(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(PACKET_DATA_MAX) {
            self.outgoing_bytes += chunk.len();
            self.outgoing.push_back(chunk.to_vec());
        }
    }

    /// Sends what the socket takes now; shuts its writing side once all is out after
    /// our stdin ended.
    fn flush(&mut self) -> Result<(), AttachError> {
        while let Some(packet) = self.outgoing.front() {
            match send(
                self.socket.fd.as_raw_fd(),
                packet,
                MsgFlags::MSG_DONTWAIT | MsgFlags::MSG_NOSIGNAL,
            ) {
                Ok(_) => {
                    self.outgoing_bytes -= packet.len();
                    self.outgoing.pop_front();
                }
                Err(Errno::EINTR) => continue,
                Err(Errno::EAGAIN) => return Ok(()),
                // The shim is gone or stopped reading for good: what it did not take is
                // lost, and its closing the socket ends the attach.
                Err(Errno::EPIPE | Errno::ECONNRESET) => {
                    self.outgoing.clear();
                    self.outgoing_bytes = 0;
                    self.shutdown_pending = false;
                    return Ok(());
                }
                Err(source) => {
                    return Err(AttachError::Socket {
                        path: self.socket.path.clone(),
                        op: "send",
                        source,
                    })
                }
            }
        }
        if std::mem::take(&mut self.shutdown_pending) {
            match shutdown(self.socket.fd.as_raw_fd(), Shutdown::Write) {
                Ok(()) | Err(Errno::ENOTCONN) => {}
                Err(source) => {
                    return Err(AttachError::Socket {
                        path: self.socket.path.clone(),
                        op: "shutdown",
                        source,
                    })
                }
            }
        }
        Ok(())
    }

    /// The input typed before the detach keys goes out if the shim takes it soon;
    /// a shim that does not read must not keep the user attached.
    fn flush_before_detach(&mut self) {
        while !self.outgoing.is_empty() {
            if self.flush().is_err() || self.outgoing.is_empty() {
                return;
            }
            let mut fds = [PollFd::new(self.socket.fd.as_fd(), PollFlags::POLLOUT)];
            match poll(&mut fds, PollTimeout::from(DETACH_FLUSH_MS)) {
                Ok(n) if n > 0 => {}
                _ => return,
            }
        }
    }
}

fn set_nonblocking(fd: BorrowedFd<'_>) -> nix::Result<()> {
    let flags = OFlag::from_bits_truncate(fcntl(fd, FcntlArg::F_GETFL)?);
    fcntl(fd, FcntlArg::F_SETFL(flags | OFlag::O_NONBLOCK))?;
    Ok(())
}

/// Writes all of `data`, waiting while `fd` is full (it may be non-blocking: a file
/// description we share with whoever started us).
fn write_all(fd: BorrowedFd<'_>, mut data: &[u8]) -> Result<(), Errno> {
    while !data.is_empty() {
        match nix::unistd::write(fd, data) {
            Ok(n) => data = &data[n..],
            Err(Errno::EINTR) => {}
            Err(Errno::EAGAIN) => {
                let mut fds = [PollFd::new(fd, PollFlags::POLLOUT)];
                match poll(&mut fds, PollTimeout::NONE) {
                    Ok(_) | Err(Errno::EINTR) => {}
                    Err(e) => return Err(e),
                }
            }
            Err(e) => return Err(e),
        }
    }
    Ok(())
}
