//! `--console-socket` and pipes: receiving a pty master over SCM_RIGHTS.

use std::fs::File;
use std::io::Read;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// A unix socket listening for the runtime's `--console-socket` connection.
pub struct ConsoleSocket {
    /// Socket path to pass as `--console-socket`.
    pub path: PathBuf,
    fd: OwnedFd,
}

impl ConsoleSocket {
    /// Binds and listens on `path`.
    pub fn bind(path: &Path) -> ConsoleSocket {
        // SAFETY: plain socket(2); the fd is owned right away.
        let raw = unsafe { libc::socket(libc::AF_UNIX, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0) };
        assert!(raw >= 0, "socket: {}", std::io::Error::last_os_error());
        // SAFETY: raw is a fresh fd we own.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        // SAFETY: sockaddr_un is plain old data; zeroed is a valid value.
        let mut addr: libc::sockaddr_un = unsafe { std::mem::zeroed() };
        addr.sun_family = libc::AF_UNIX as libc::sa_family_t;
        let bytes = path.as_os_str().as_bytes();
        assert!(
            bytes.len() < addr.sun_path.len(),
            "socket path too long: {}",
            path.display()
        );
        for (d, s) in addr.sun_path.iter_mut().zip(bytes) {
            *d = *s as libc::c_char;
        }
        let len = std::mem::size_of::<libc::sockaddr_un>() as libc::socklen_t;
        // SAFETY: addr is a valid sockaddr_un of size len.
        let r = unsafe {
            libc::bind(
                fd.as_raw_fd(),
                (&addr as *const libc::sockaddr_un).cast(),
                len,
            )
        };
        assert_eq!(
            r,
            0,
            "bind {}: {}",
            path.display(),
            std::io::Error::last_os_error()
        );
        // SAFETY: listening on our own socket.
        let r = unsafe { libc::listen(fd.as_raw_fd(), 1) };
        assert_eq!(r, 0, "listen: {}", std::io::Error::last_os_error());
        ConsoleSocket {
            path: path.to_path_buf(),
            fd,
        }
    }

    /// Accepts one connection and receives the pty master sent with SCM_RIGHTS.
    pub fn recv_master(&self, timeout: Duration) -> OwnedFd {
        self.recv_fd(timeout).0
    }

    /// Accepts one connection and receives the fd sent with SCM_RIGHTS and
    /// the bytes sent along (the pty name, or a seccomp agent's state JSON).
    pub fn recv_fd(&self, timeout: Duration) -> (OwnedFd, Vec<u8>) {
        assert!(
            poll_in(self.fd.as_raw_fd(), timeout),
            "no connection on the console socket"
        );
        // SAFETY: accept on our listening socket.
        let conn = unsafe {
            libc::accept4(
                self.fd.as_raw_fd(),
                std::ptr::null_mut(),
                std::ptr::null_mut(),
                libc::SOCK_CLOEXEC,
            )
        };
        assert!(conn >= 0, "accept: {}", std::io::Error::last_os_error());
        // SAFETY: conn is a fresh fd we own.
        let conn = unsafe { OwnedFd::from_raw_fd(conn) };
        assert!(
            poll_in(conn.as_raw_fd(), timeout),
            "nothing received on the console socket"
        );
        let mut data = vec![0u8; 65536];
        let mut iov = libc::iovec {
            iov_base: data.as_mut_ptr().cast(),
            iov_len: data.len(),
        };
        let mut cbuf = [0u64; 64];
        // SAFETY: msghdr is plain old data; the pointers set below outlive the call.
        let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = cbuf.as_mut_ptr().cast();
        msg.msg_controllen = std::mem::size_of_val(&cbuf) as _;
        // SAFETY: msg points at valid buffers.
        let n = unsafe { libc::recvmsg(conn.as_raw_fd(), &mut msg, libc::MSG_CMSG_CLOEXEC) };
        assert!(n >= 0, "recvmsg: {}", std::io::Error::last_os_error());
        // SAFETY: walking the control messages the kernel filled in msg.
        unsafe {
            let mut cmsg = libc::CMSG_FIRSTHDR(&msg);
            while !cmsg.is_null() {
                if (*cmsg).cmsg_level == libc::SOL_SOCKET && (*cmsg).cmsg_type == libc::SCM_RIGHTS {
                    let fd = std::ptr::read_unaligned(libc::CMSG_DATA(cmsg) as *const RawFd);
                    data.truncate(n as usize);
                    return (OwnedFd::from_raw_fd(fd), data);
                }
                cmsg = libc::CMSG_NXTHDR(&msg, cmsg);
            }
        }
        panic!("no SCM_RIGHTS fd in the console socket message");
    }
}

fn poll_in(fd: RawFd, timeout: Duration) -> bool {
    let mut p = libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd.
    let r = unsafe { libc::poll(&mut p, 1, timeout.as_millis() as libc::c_int) };
    r > 0
}

/// Reads a pty master until the slave side is closed (EIO) or `timeout` passes.
pub fn read_pty(master: &OwnedFd, timeout: Duration) -> String {
    let deadline = Instant::now() + timeout;
    let mut f = File::from(master.try_clone().expect("dup master"));
    let mut out = Vec::new();
    let mut buf = [0u8; 1024];
    while Instant::now() < deadline {
        if !poll_in(f.as_raw_fd(), Duration::from_millis(100)) {
            continue;
        }
        match f.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Makes a pipe (both ends close-on-exec) and returns (read, write).
pub fn pipe() -> (File, File) {
    let mut fds = [0; 2];
    // SAFETY: fds has room for two descriptors.
    let r = unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) };
    assert_eq!(r, 0, "pipe2: {}", std::io::Error::last_os_error());
    // SAFETY: both fds are fresh and owned here.
    unsafe { (File::from_raw_fd(fds[0]), File::from_raw_fd(fds[1])) }
}
