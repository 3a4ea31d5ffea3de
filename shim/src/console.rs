//! The pty: the runtime makes it inside the container and sends its master to the
//! socket named by `--console-socket` (SCM_RIGHTS), as runc's protocol has it.

use std::fs;
use std::io::{self, IoSliceMut};
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::fs::DirBuilderExt;
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};

use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags};
use nix::sys::termios::{tcgetattr, tcsetattr, OutputFlags, SetArg};

#[derive(Debug, thiserror::Error)]
pub enum ConsoleError {
    #[error("console socket {path}: {source}")]
    Socket { path: PathBuf, source: io::Error },
    #[error("console socket: the runtime sent no pty master ({0})")]
    NoMaster(String),
}

/// The listening console socket, in a directory of its own that goes with it.
pub struct ConsoleSocket {
    dir: PathBuf,
    path: PathBuf,
    listener: UnixListener,
}

impl ConsoleSocket {
    pub fn bind() -> Result<ConsoleSocket, ConsoleError> {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        // Short on purpose: a socket path is limited to 107 bytes.
        let dir = std::env::temp_dir().join(format!("berth-shim-{}-{nanos:x}", std::process::id()));
        let err = |source| ConsoleError::Socket {
            path: dir.clone(),
            source,
        };
        fs::DirBuilder::new()
            .mode(0o700)
            .create(&dir)
            .map_err(err)?;
        let path = dir.join("console");
        let listener = UnixListener::bind(&path).map_err(|source| ConsoleError::Socket {
            path: path.clone(),
            source,
        })?;
        listener
            .set_nonblocking(true)
            .map_err(|source| ConsoleError::Socket {
                path: path.clone(),
                source,
            })?;
        Ok(ConsoleSocket {
            dir,
            path,
            listener,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn listener(&self) -> std::os::fd::BorrowedFd<'_> {
        self.listener.as_fd()
    }

    /// Takes the pty master from a runtime that connected, or `Ok(None)` when none has yet.
    pub fn try_receive(&self) -> Result<Option<OwnedFd>, ConsoleError> {
        let stream = match self.listener.accept() {
            Ok((stream, _)) => stream,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(None),
            Err(source) => {
                return Err(ConsoleError::Socket {
                    path: self.path.clone(),
                    source,
                })
            }
        };
        stream
            .set_nonblocking(false)
            .map_err(|e| ConsoleError::NoMaster(e.to_string()))?;
        let mut name = [0u8; 4096];
        let mut iov = [IoSliceMut::new(&mut name)];
        let mut space = nix::cmsg_space!([std::os::fd::RawFd; 1]);
        let msg = recvmsg::<()>(
            stream.as_raw_fd(),
            &mut iov,
            Some(&mut space),
            MsgFlags::MSG_CMSG_CLOEXEC,
        )
        .map_err(|e| ConsoleError::NoMaster(e.to_string()))?;
        let mut master = None;
        for cmsg in msg
            .cmsgs()
            .map_err(|e| ConsoleError::NoMaster(e.to_string()))?
        {
            if let ControlMessageOwned::ScmRights(fds) = cmsg {
                for fd in fds {
                    // SAFETY: SCM_RIGHTS just installed this fd in our table; we are its
                    // only owner.
                    let owned = unsafe { OwnedFd::from_raw_fd(fd) };
                    master.get_or_insert(owned);
                }
            }
        }
        let master = master.ok_or_else(|| ConsoleError::NoMaster("no fd in the message".into()))?;
        // As conmon: \n becomes \r\n on output, what a terminal reader expects.
        if let Ok(mut attrs) = tcgetattr(&master) {
            attrs.output_flags |= OutputFlags::ONLCR;
            let _ = tcsetattr(&master, SetArg::TCSANOW, &attrs);
        }
        Ok(Some(master))
    }
}

impl Drop for ConsoleSocket {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.path);
        let _ = fs::remove_dir(&self.dir);
    }
}
