//! The container's console: a pty made inside the container (so its slave
//! lives in the container's devpts) whose master is handed to the caller over
//! the `--console-socket` with SCM_RIGHTS, as runc does. The message data is
//! the pty's name.

use std::io::{IoSlice, IoSliceMut};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

use nix::sys::socket::{recvmsg, sendmsg, ControlMessage, ControlMessageOwned, MsgFlags};

use crate::error::{Error, Result, SysContext};

/// Sends `fd` with `name` as data over a connected unix socket.
pub fn send_fd(socket: BorrowedFd<'_>, name: &str, fd: BorrowedFd<'_>) -> Result<()> {
    let fds = [fd.as_raw_fd()];
    let cmsg = [ControlMessage::ScmRights(&fds)];
    let iov = [IoSlice::new(name.as_bytes())];
    sendmsg::<()>(socket.as_raw_fd(), &iov, &cmsg, MsgFlags::empty(), None)
        .ctx(|| "sending the pty master over the console socket".to_string())?;
    Ok(())
}

/// Makes a pty from a just-opened `/dev/ptmx`: unlocks it, opens its peer
/// and gives it the size `process.consoleSize` asks for. Returns the peer
/// and its name in the devpts the master came from (`/dev/pts/N`).
pub fn open_peer(
    master: BorrowedFd<'_>,
    process: &oci_spec::runtime::Process,
) -> Result<(OwnedFd, String)> {
    crate::sys::unlock_pty(master).ctx(|| "unlocking the pty".to_string())?;
    let peer = crate::sys::open_pty_peer(master).ctx(|| "opening the pty slave".to_string())?;
    let number = crate::sys::pty_number(master).ctx(|| "reading the pty number".to_string())?;
    if let Some(size) = process.console_size() {
        crate::sys::set_window_size(peer.as_fd(), size.height() as u16, size.width() as u16)
            .ctx(|| "process.consoleSize: setting the window size".to_string())?;
    }
    Ok((peer, format!("/dev/pts/{number}")))
}

/// The window size of a terminal, as (rows, columns).
pub fn window_size(tty: BorrowedFd<'_>) -> Result<(u16, u16)> {
    crate::sys::window_size(tty).ctx(|| "TIOCGWINSZ".to_string())
}

pub fn set_window_size(tty: BorrowedFd<'_>, rows: u16, cols: u16) -> Result<()> {
    crate::sys::set_window_size(tty, rows, cols).ctx(|| "TIOCSWINSZ".to_string())
}

/// Receives one fd sent by [`send_fd`]; returns it with the name sent along.
pub fn recv_fd(socket: BorrowedFd<'_>) -> Result<(OwnedFd, String)> {
    let mut name = vec![0u8; 4096];
    let mut cmsg_space = nix::cmsg_space!([RawFd; 1]);
    let (received, bytes) = {
        let mut iov = [IoSliceMut::new(&mut name)];
        let msg = recvmsg::<()>(
            socket.as_raw_fd(),
            &mut iov,
            Some(&mut cmsg_space),
            MsgFlags::MSG_CMSG_CLOEXEC,
        )
        .ctx(|| "receiving the pty master from the console socket".to_string())?;
        let mut received = None;
        for cmsg in msg.cmsgs().ctx(|| "reading control message".to_string())? {
            if let ControlMessageOwned::ScmRights(fds) = cmsg {
                for fd in fds {
                    // SAFETY: the kernel installed this fd in our table for
                    // us with this message; nothing else refers to it.
                    let owned = unsafe { OwnedFd::from_raw_fd(fd) };
                    received.get_or_insert(owned);
                }
            }
        }
        (received, msg.bytes)
    };
    let fd = received.ok_or_else(|| Error::Protocol {
        channel: "console socket",
        message: "the message carried no fd".to_string(),
    })?;
    name.truncate(bytes);
    Ok((fd, String::from_utf8_lossy(&name).into_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use nix::sys::socket::{socketpair, AddressFamily, SockFlag, SockType};
    use std::os::fd::AsFd;

    #[test]
    fn fd_and_name_travel_together() {
        let (a, b) = socketpair(
            AddressFamily::Unix,
            SockType::Stream,
            None,
            SockFlag::SOCK_CLOEXEC,
        )
        .unwrap();
        let file = std::fs::File::open("/dev/null").unwrap();
        send_fd(a.as_fd(), "/dev/pts/7", file.as_fd()).unwrap();
        let (fd, name) = recv_fd(b.as_fd()).unwrap();
        assert_eq!(name, "/dev/pts/7");
        let target = std::fs::read_link(format!("/proc/self/fd/{}", fd.as_raw_fd())).unwrap();
        assert_eq!(target, std::path::Path::new("/dev/null"));
    }
}
