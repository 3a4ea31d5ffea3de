//! The control fifos in the bundle, conmon's: `ctl` takes lines `TYPE HEIGHT WIDTH`
//! (1 resize the pty, 2 reopen the logs; ours: 3 the caller stops the container, do not
//! restart it), `winsz` takes lines `HEIGHT WIDTH`.

use std::fs::File;
use std::io::{self, Read};
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use nix::sys::stat::Mode;

/// The largest window conmon accepts; anything bigger is a garbled line.
const MAX_SIDE: u16 = 1000;
/// A line longer than this is garbage: dropped, and reading starts afresh.
const LINE_MAX: usize = 200;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Control {
    Resize { rows: u16, cols: u16 },
    ReopenLogs,
    StoppedByUser,
}

#[derive(Debug, thiserror::Error)]
#[error("control fifo {path}: {source}")]
pub struct FifoError {
    path: PathBuf,
    source: io::Error,
}

/// Which grammar a fifo speaks.
#[derive(Debug, Clone, Copy)]
pub enum Kind {
    Ctl,
    Winsz,
}

pub struct ControlFifo {
    kind: Kind,
    reader: File,
    /// Our own writer: without one, the reader sees POLLHUP whenever the last caller
    /// closes, and would spin.
    _writer: File,
    pending: Vec<u8>,
}

impl ControlFifo {
    pub fn create(bundle: &Path, kind: Kind) -> Result<ControlFifo, FifoError> {
        let path = bundle.join(match kind {
            Kind::Ctl => "ctl",
            Kind::Winsz => "winsz",
        });
        let err = |source: io::Error| FifoError {
            path: path.clone(),
            source,
        };
        let _ = std::fs::remove_file(&path);
        nix::unistd::mkfifo(&path, Mode::from_bits_truncate(0o660)).map_err(|e| err(e.into()))?;
        let reader = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
            .open(&path)
            .map_err(err)?;
        let writer = std::fs::OpenOptions::new()
            .write(true)
            .custom_flags(libc::O_CLOEXEC)
            .open(&path)
            .map_err(err)?;
        Ok(ControlFifo {
            kind,
            reader,
            _writer: writer,
            pending: Vec::new(),
        })
    }

    pub fn fd(&self) -> BorrowedFd<'_> {
        self.reader.as_fd()
    }

    /// Reads what is there and returns the complete lines' controls (garbled lines dropped).
    pub fn read(&mut self) -> Vec<Control> {
        let mut buf = [0u8; 512];
        loop {
            match self.reader.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => self.pending.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => break,
            }
        }
        let mut controls = Vec::new();
        while let Some(end) = self.pending.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = self.pending.drain(..=end).collect();
            if let Some(c) = parse(self.kind, &String::from_utf8_lossy(&line)) {
                controls.push(c);
            }
        }
        if self.pending.len() > LINE_MAX {
            self.pending.clear();
        }
        controls
    }
}

/// One line of a fifo.
pub fn parse(kind: Kind, line: &str) -> Option<Control> {
    let numbers: Vec<i64> = line
        .split_whitespace()
        .map(|w| w.parse().ok())
        .collect::<Option<_>>()?;
    let side = |n: i64| u16::try_from(n).ok().filter(|&s| s <= MAX_SIDE);
    match (kind, numbers.as_slice()) {
        (Kind::Ctl, &[1, rows, cols]) | (Kind::Winsz, &[rows, cols]) => Some(Control::Resize {
            rows: side(rows)?,
            cols: side(cols)?,
        }),
        (Kind::Ctl, &[2, _, _]) => Some(Control::ReopenLogs),
        (Kind::Ctl, &[3, _, _]) => Some(Control::StoppedByUser),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ctl_lines_as_podman_writes_them() {
        assert_eq!(
            parse(Kind::Ctl, "1 24 80\n"),
            Some(Control::Resize { rows: 24, cols: 80 })
        );
        assert_eq!(parse(Kind::Ctl, "2 0 0\n"), Some(Control::ReopenLogs));
        assert_eq!(parse(Kind::Ctl, "3 0 0\n"), Some(Control::StoppedByUser));
        assert_eq!(
            parse(Kind::Winsz, "50 132\n"),
            Some(Control::Resize {
                rows: 50,
                cols: 132
            })
        );
    }

    #[test]
    fn garbled_lines_change_nothing() {
        for line in [
            "",
            "1 24\n",
            "9 1 1\n",
            "1 -3 80\n",
            "1 24 5000\n",
            "x y z\n",
        ] {
            assert_eq!(parse(Kind::Ctl, line), None, "{line:?}");
        }
        assert_eq!(parse(Kind::Winsz, "1 24 80\n"), None);
    }

    #[test]
    fn lines_split_across_writes_are_put_together() {
        let dir = std::env::temp_dir().join(format!("ctl-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut fifo = ControlFifo::create(&dir, Kind::Ctl).unwrap();
        let mut w = std::fs::OpenOptions::new()
            .write(true)
            .open(dir.join("ctl"))
            .unwrap();
        use std::io::Write;
        w.write_all(b"1 30 ").unwrap();
        assert!(fifo.read().is_empty());
        w.write_all(b"100\n2 0 0\n").unwrap();
        assert_eq!(
            fifo.read(),
            [
                Control::Resize {
                    rows: 30,
                    cols: 100
                },
                Control::ReopenLogs
            ]
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
