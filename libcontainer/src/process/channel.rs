//! The one protocol between the runtime (parent) and the container's init,
//! over a SOCK_SEQPACKET socketpair: each message is one packet of JSON.
//!
//! Stages, in order:
//! 1. parent → init `MappingsWritten` (only with a new user namespace): the
//!    uid/gid maps are in place, the init may take its root identity.
//! 2. init → parent `NamespacesReady`: every namespace exists; the parent
//!    places the init in its cgroup and runs prestart and createRuntime hooks.
//! 3. parent → init `BuildContainer { state }`: go on; `state` is the JSON
//!    that createContainer hooks read on stdin.
//! 4. init → parent `Ready`: the rootfs is built and pivoted, the process
//!    attributes applied; the init now blocks on `exec.fifo` until `start`.
//!
//! 5. `start` → init, over `exec.fifo` instead (the runtime that created the
//!    init is gone by then): opening the fifo's read end releases the init;
//!    the init answers with [`StartReply`]: `0` just before execve, or the
//!    text of the error that stopped it (a startContainer hook, say).
//!
//! For `exec` the parent sends `ExecGo` once the new process sits in the
//! container's cgroups; the process then joins the namespaces and execs.
//!
//! At any stage the init may send `Failed` instead and exit: its message
//! carries the context, and the parent reports it.

use std::os::fd::{AsFd, AsRawFd, OwnedFd};

use nix::errno::Errno;
use nix::sys::socket::{recv, send, socketpair, AddressFamily, MsgFlags, SockFlag, SockType};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result, SysContext};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Message {
    MappingsWritten,
    NamespacesReady,
    BuildContainer { state: String },
    Ready,
    ExecGo,
    Failed(String),
}

/// Largest packet accepted; a state document with many annotations fits.
const MAX_MESSAGE: usize = 1 << 20;

/// Longest failure text the init sends back to `start` through the exec
/// fifo: below PIPE_BUF, so it arrives in one write.
const START_REPLY_MAX: usize = 4000;

/// Stage 5: what the init tells `start` over the exec fifo.
#[derive(Debug, PartialEq, Eq)]
pub enum StartReply {
    /// The init is about to execve.
    Started,
    /// The init stopped with this error instead.
    Failed(String),
    /// The init went away without a word.
    Silent,
}

impl StartReply {
    pub fn encode(&self) -> Vec<u8> {
        match self {
            StartReply::Started => b"0".to_vec(),
            StartReply::Failed(message) => {
                let mut message = message.clone();
                let mut end = message.len().min(START_REPLY_MAX);
                while !message.is_char_boundary(end) {
                    end -= 1;
                }
                message.truncate(end);
                message.into_bytes()
            }
            StartReply::Silent => Vec::new(),
        }
    }

    /// Reads the init's one write from the fifo's read end.
    pub fn read(fifo: std::os::fd::BorrowedFd<'_>) -> StartReply {
        let mut reply = [0u8; START_REPLY_MAX];
        let len = nix::unistd::read(fifo, &mut reply).unwrap_or(0);
        match &reply[..len] {
            [] => StartReply::Silent,
            b"0" => StartReply::Started,
            message => StartReply::Failed(String::from_utf8_lossy(message).into_owned()),
        }
    }
}

pub struct Channel {
    fd: OwnedFd,
}

pub fn pair() -> Result<(Channel, Channel)> {
    let (a, b) = socketpair(
        AddressFamily::Unix,
        SockType::SeqPacket,
        None,
        SockFlag::SOCK_CLOEXEC,
    )
    .ctx(|| "creating the init sync socketpair".to_string())?;
    Ok((Channel { fd: a }, Channel { fd: b }))
}

impl AsFd for Channel {
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl Channel {
    pub fn send(&self, message: &Message) -> Result<()> {
        let bytes = serde_json::to_vec(message).map_err(|e| Error::Protocol {
            channel: "sync channel",
            message: format!("encoding a message: {e}"),
        })?;
        loop {
            match send(self.fd.as_raw_fd(), &bytes, MsgFlags::MSG_NOSIGNAL) {
                Err(Errno::EINTR) => continue,
                other => return other.map(drop).ctx(|| "sending sync message".to_string()),
            }
        }
    }

    /// The next message; `None` when the other side closed without one.
    pub fn recv(&self) -> Result<Option<Message>> {
        let mut buf = vec![0u8; MAX_MESSAGE];
        let len = loop {
            match recv(self.fd.as_raw_fd(), &mut buf, MsgFlags::empty()) {
                Err(Errno::EINTR) => continue,
                other => break other.ctx(|| "receiving sync message".to_string())?,
            }
        };
        if len == 0 {
            return Ok(None);
        }
        decode(&buf[..len]).map(Some)
    }
}

pub fn decode(bytes: &[u8]) -> Result<Message> {
    serde_json::from_slice(bytes).map_err(|e| Error::Protocol {
        channel: "sync channel",
        message: format!("malformed message: {e}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_cross_the_pair_and_eof_is_none() {
        let (parent, init) = pair().unwrap();
        init.send(&Message::Failed("mounting /proc: EPERM".into()))
            .unwrap();
        assert_eq!(
            parent.recv().unwrap(),
            Some(Message::Failed("mounting /proc: EPERM".into()))
        );
        parent
            .send(&Message::BuildContainer { state: "{}".into() })
            .unwrap();
        assert!(matches!(
            init.recv().unwrap(),
            Some(Message::BuildContainer { .. })
        ));
        drop(parent);
        assert_eq!(init.recv().unwrap(), None);
    }

    #[test]
    fn start_replies_cross_a_pipe() {
        use std::io::Write;
        for reply in [
            StartReply::Started,
            StartReply::Failed("error running hook #0".into()),
            StartReply::Silent,
        ] {
            let (read, write) = nix::unistd::pipe().unwrap();
            std::fs::File::from(write)
                .write_all(&reply.encode())
                .unwrap();
            assert_eq!(StartReply::read(read.as_fd()), reply);
        }
    }

    #[test]
    fn a_long_failure_is_cut_on_a_character_boundary() {
        let encoded = StartReply::Failed("é".repeat(START_REPLY_MAX)).encode();
        assert!(encoded.len() <= START_REPLY_MAX);
        assert!(String::from_utf8(encoded).is_ok());
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert!(decode(b"\xff\x00garbage").is_err());
        assert!(decode(b"{\"Unknown\":1}").is_err());
    }
}
