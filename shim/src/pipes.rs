//! The caller's pipes, named by environment variables as conmon's: `_OCI_SYNCPIPE` (the
//! shim reports the pid, errors and an exec's exit code), `_OCI_STARTPIPE` (the caller
//! says go) and `_OCI_ATTACHPIPE` (the shim says its attach socket listens). Each carries
//! JSON lines `{"data": N}` or `{"data": N, "message": "..."}`.

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, OwnedFd};

use nix::fcntl::{fcntl, FcntlArg, FdFlag};

use crate::sys;

#[derive(Debug, thiserror::Error)]
pub enum PipeError {
    #[error("environment variable {var}={value:?}: expected the number of an open fd")]
    BadFd { var: &'static str, value: String },
    #[error("{var}: {source}")]
    Io {
        var: &'static str,
        source: io::Error,
    },
}

/// One of the caller's pipes (in practice a socketpair end).
pub struct CallerPipe {
    var: &'static str,
    file: File,
}

impl CallerPipe {
    /// The pipe named by `var`, if the caller set it. Made close-on-exec: the runtime and
    /// the container must not inherit it.
    pub fn from_env(var: &'static str) -> Result<Option<CallerPipe>, PipeError> {
        let Ok(value) = std::env::var(var) else {
            return Ok(None);
        };
        let bad = || PipeError::BadFd {
            var,
            value: value.clone(),
        };
        let number: i32 = value.trim().parse().map_err(|_| bad())?;
        let fd: OwnedFd = sys::adopt_fd(number).ok_or_else(bad)?;
        fcntl(fd.as_fd(), FcntlArg::F_SETFD(FdFlag::FD_CLOEXEC)).map_err(|e| PipeError::Io {
            var,
            source: e.into(),
        })?;
        Ok(Some(CallerPipe {
            var,
            file: File::from(fd),
        }))
    }

    /// Blocks until the caller writes (anything) or closes its end.
    pub fn wait(&mut self) -> Result<(), PipeError> {
        let mut buf = [0u8; 256];
        loop {
            match self.file.read(&mut buf) {
                Ok(_) => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(source) => {
                    return Err(PipeError::Io {
                        var: self.var,
                        source,
                    })
                }
            }
        }
    }

    /// Sends `{"data": N}` (and the message, when there is one). A caller that went away
    /// is not an error: the shim outlives it by design.
    pub fn send(&mut self, data: i64, message: Option<&str>) {
        let line = encode(data, message);
        let _ = self.file.write_all(line.as_bytes());
    }
}

fn encode(data: i64, message: Option<&str>) -> String {
    let mut value = serde_json::json!({ "data": data });
    if let Some(m) = message.filter(|m| !m.is_empty()) {
        value["message"] = m.into();
    }
    format!("{value}\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_conmons_json_lines() {
        assert_eq!(encode(4242, None), "{\"data\":4242}\n");
        assert_eq!(encode(-1, Some("")), "{\"data\":-1}\n");
        let with = encode(-1, Some("exec: \"nope\": not found\n"));
        let parsed: serde_json::Value = serde_json::from_str(&with).unwrap();
        assert_eq!(parsed["data"], -1);
        assert_eq!(parsed["message"], "exec: \"nope\": not found\n");
    }
}
