//! The attach socket: any number of clients get the container's output live and may
//! write its stdin.
//!
//! Where it lives and what crosses it is conmon's: a SOCK_SEQPACKET socket at
//! `<bundle>/attach` (reached as `<socket-dir>/<cuuid>/attach` through a symlink to the
//! bundle unless `--full-attach`), output packets of one stream-id byte (2 stdout,
//! 3 stderr) and at most 8192 bytes of data, input packets of raw stdin bytes.
//!
//! Unlike conmon, a client that does not read never blocks the shim, and so never the
//! container: its packets queue up to a bound and then the client is cut off.

use std::collections::VecDeque;
use std::fs;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{open, OFlag};
use nix::sys::socket::{
    accept4, bind, listen, recv, send, socket, AddressFamily, Backlog, MsgFlags, SockFlag,
    SockType, UnixAddr,
};
use nix::sys::stat::Mode;

/// Stream ids on the socket, conmon's numbering.
pub const STDOUT_ID: u8 = 2;
pub const STDERR_ID: u8 = 3;
/// Data bytes per packet: podman reads packets into 8193-byte buffers, and a SEQPACKET
/// read truncates what does not fit.
pub const PACKET_DATA_MAX: usize = 8192;
/// Output a client may have waiting before it is cut off.
const CLIENT_QUEUE_MAX: usize = 4 << 20;

#[derive(Debug, thiserror::Error)]
#[error("attach socket {path}: {source}")]
pub struct AttachError {
    path: PathBuf,
    source: io::Error,
}

struct Client {
    fd: OwnedFd,
    queue: VecDeque<Vec<u8>>,
    queued: usize,
    reading: bool,
}

/// What a client did, for the event loop to act on.
pub enum ClientEvent {
    /// Bytes for the container's stdin.
    Input(Vec<u8>),
    /// The client closed its writing side.
    InputClosed,
}

pub struct AttachServer {
    listener: OwnedFd,
    path: PathBuf,
    symlink: Option<PathBuf>,
    clients: Vec<Client>,
}

impl AttachServer {
    pub fn bind(
        bundle: &Path,
        socket_dir: Option<&Path>,
        cuuid: &str,
        full_attach: bool,
    ) -> Result<AttachServer, AttachError> {
        let path = bundle.join("attach");
        let err = |source: io::Error| AttachError {
            path: path.clone(),
            source,
        };
        let mut symlink = None;
        if let (false, Some(dir)) = (full_attach, socket_dir) {
            // A short name for a long bundle path, as conmon: `<dir>/<cuuid>` -> bundle.
            let link = dir.join(cuuid);
            let _ = fs::remove_file(&link);
            std::os::unix::fs::symlink(bundle, &link).map_err(|source| AttachError {
                path: link.clone(),
                source,
            })?;
            symlink = Some(link);
        }
        let _ = fs::remove_file(&path);
        let listener = socket(
            AddressFamily::Unix,
            SockType::SeqPacket,
            SockFlag::SOCK_NONBLOCK | SockFlag::SOCK_CLOEXEC,
            None,
        )
        .map_err(|e| err(e.into()))?;
        // Bound through /proc/self/fd: the bundle path may be longer than the 107 bytes a
        // socket address holds.
        let dir = open(bundle, OFlag::O_PATH | OFlag::O_CLOEXEC, Mode::empty())
            .map_err(|e| err(e.into()))?;
        let addr = UnixAddr::new(&format!("/proc/self/fd/{}/attach", dir.as_raw_fd())[..])
            .map_err(|e| err(e.into()))?;
        bind(listener.as_raw_fd(), &addr).map_err(|e| err(e.into()))?;
        fs::set_permissions(&path, fs::Permissions::from_mode(0o700)).map_err(err)?;
        listen(&listener, Backlog::new(10).unwrap_or(Backlog::MAXCONN))
            .map_err(|e| err(e.into()))?;
        Ok(AttachServer {
            listener,
            path,
            symlink,
            clients: Vec::new(),
        })
    }

    pub fn listener(&self) -> BorrowedFd<'_> {
        self.listener.as_fd()
    }

    /// Accepts every client waiting.
    pub fn accept(&mut self) {
        loop {
            match accept4(
                self.listener.as_raw_fd(),
                SockFlag::SOCK_NONBLOCK | SockFlag::SOCK_CLOEXEC,
            ) {
                Ok(fd) => {
                    let fd = owned(fd);
                    self.clients.push(Client {
                        fd,
                        queue: VecDeque::new(),
                        queued: 0,
                        reading: true,
                    });
                }
                Err(Errno::EINTR) => continue,
                Err(_) => return,
            }
        }
    }

    /// Output for every client, cut into packets.
    pub fn broadcast(&mut self, stream_id: u8, data: &[u8]) {
        // A client whose connect completed before this output was written is owed it,
        // even if the poll loop has not come round to accepting it yet: a caller that
        // attaches and then starts the container must see its first line.
        self.accept();
        if self.clients.is_empty() {
            return;
        }
        for chunk in data.chunks(PACKET_DATA_MAX) {
            let mut packet = Vec::with_capacity(chunk.len() + 1);
            packet.push(stream_id);
            packet.extend_from_slice(chunk);
            for client in &mut self.clients {
                client.queued += packet.len();
                client.queue.push_back(packet.clone());
            }
        }
        for client in &mut self.clients {
            client.flush();
        }
        // A client that lets this much wait is not reading: it goes, the container doesn't wait.
        self.clients.retain(|c| c.queued <= CLIENT_QUEUE_MAX);
    }

    /// The fds to poll, each with whether it wants input and output events.
    pub fn client_fds(&self, accept_input: bool) -> Vec<(BorrowedFd<'_>, bool, bool)> {
        self.clients
            .iter()
            .map(|c| (c.fd.as_fd(), accept_input && c.reading, !c.queue.is_empty()))
            .collect()
    }

    /// Handles readiness of client `index` (as listed by [`client_fds`]).
    pub fn on_ready(
        &mut self,
        index: usize,
        readable: bool,
        writable: bool,
        hangup: bool,
    ) -> Option<ClientEvent> {
        let client = self.clients.get_mut(index)?;
        if writable {
            client.flush();
        }
        if readable {
            let mut buf = vec![0u8; 32 * 1024];
            match recv(client.fd.as_raw_fd(), &mut buf, MsgFlags::MSG_DONTWAIT) {
                Ok(0) => {
                    client.reading = false;
                    return Some(ClientEvent::InputClosed);
                }
                Ok(n) => {
                    buf.truncate(n);
                    return Some(ClientEvent::Input(buf));
                }
                Err(Errno::EAGAIN | Errno::EINTR) => {}
                Err(_) => {
                    self.clients.remove(index);
                    return Some(ClientEvent::InputClosed);
                }
            }
        } else if hangup {
            self.clients.remove(index);
            return Some(ClientEvent::InputClosed);
        }
        None
    }

    /// At exit: what is queued goes out (each client waits at most `patience`), then
    /// every client sees the socket close.
    pub fn finish(&mut self, patience: std::time::Duration) {
        for client in &mut self.clients {
            let deadline = std::time::Instant::now() + patience;
            while !client.queue.is_empty() && std::time::Instant::now() < deadline {
                client.flush();
                if !client.queue.is_empty() {
                    let fd = client.fd.as_fd();
                    let mut fds = [nix::poll::PollFd::new(fd, nix::poll::PollFlags::POLLOUT)];
                    let _ = nix::poll::poll(&mut fds, nix::poll::PollTimeout::from(100u8));
                }
            }
        }
        self.clients.clear();
    }
}

impl Client {
    fn flush(&mut self) {
        while let Some(packet) = self.queue.front() {
            match send(
                self.fd.as_raw_fd(),
                packet,
                MsgFlags::MSG_DONTWAIT | MsgFlags::MSG_NOSIGNAL,
            ) {
                Ok(_) => {
                    self.queued -= packet.len();
                    self.queue.pop_front();
                }
                Err(Errno::EINTR) => continue,
                Err(Errno::EAGAIN) => return,
                Err(_) => {
                    // Gone: mark it over the bound so the server drops it.
                    self.queue.clear();
                    self.queued = usize::MAX;
                    return;
                }
            }
        }
    }
}

impl Drop for AttachServer {
    fn drop(&mut self) {
        if let Some(link) = &self.symlink {
            let _ = fs::remove_file(link);
        }
        let _ = &self.path;
    }
}

fn owned(fd: std::os::fd::RawFd) -> OwnedFd {
    use std::os::fd::FromRawFd;
    // SAFETY: `fd` was just returned by accept4(2): open, and owned by nobody else.
    unsafe { OwnedFd::from_raw_fd(fd) }
}
