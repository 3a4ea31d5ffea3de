//! Where the container's output goes: the log drivers (`-l DRIVER:PATH`, several at once),
//! rotation by size and count, reopening on request.
//!
//! The event loop hands every chunk it reads from the container's stdout/stderr to
//! [`Logs::write`]; a chunk is whatever one `read` returned, so it may hold many lines, or
//! part of one. Nothing here may block the loop for long or grow without bound: the
//! container must never wait on a slow log reader.
//!
//! (Interface settled for the event loop; the drivers are filled in behind it.)

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::PathBuf;
use std::str::FromStr;

/// Which of the container's output streams a chunk came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

impl Stream {
    pub fn name(self) -> &'static str {
        match self {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
        }
    }
}

/// A log driver named on the command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Driver {
    /// CRI's format, podman's default: `TIME STREAM P|F TEXT`.
    K8sFile,
    /// Docker's json-file: `{"log":..,"stream":..,"time":..}` per line.
    JsonFile,
    /// RFC 3164 datagrams as Docker's syslog driver writes them.
    Syslog,
    /// The container's stdio are the shim caller's own fds.
    Passthrough,
    None,
}

/// One `-l/--log-path` argument: `DRIVER:PATH`, `DRIVER` alone where no path is needed,
/// or a bare path (k8s-file, as conmon).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogTarget {
    pub driver: Driver,
    /// The file (k8s-file, json-file) or the syslog address (`unixgram:///dev/log`).
    pub path: Option<PathBuf>,
}

#[derive(Debug, thiserror::Error)]
pub enum LogError {
    #[error("log path {0:?}: unknown log driver {1:?} (expected k8s-file, json-file, syslog, passthrough or none)")]
    UnknownDriver(String, String),
    #[error("log path {0:?}: the {1} driver needs a file path (DRIVER:PATH)")]
    MissingPath(String, &'static str),
    #[error("log file {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl FromStr for LogTarget {
    type Err = LogError;

    fn from_str(arg: &str) -> Result<Self, LogError> {
        let (name, path) = match arg.split_once(':') {
            Some((name, path)) => (name, Some(PathBuf::from(path))),
            None if arg.contains('/') => ("k8s-file", Some(PathBuf::from(arg))),
            None => (arg, None),
        };
        let driver = match name {
            "k8s-file" => Driver::K8sFile,
            "json-file" => Driver::JsonFile,
            "syslog" => Driver::Syslog,
            "passthrough" => Driver::Passthrough,
            "none" => Driver::None,
            other => return Err(LogError::UnknownDriver(arg.into(), other.into())),
        };
        if matches!(driver, Driver::K8sFile | Driver::JsonFile) && path.is_none() {
            return Err(LogError::MissingPath(arg.into(), "file"));
        }
        Ok(LogTarget { driver, path })
    }
}

/// Everything the drivers need to know, from the command line.
#[derive(Debug, Clone, Default)]
pub struct LogConfig {
    pub targets: Vec<LogTarget>,
    /// `--log-size-max`: rotate a file before it would pass this many bytes.
    pub size_max: Option<u64>,
    /// `--log-max-files` (ours, Docker's `max-file`): files kept, the live one included.
    pub max_files: Option<u32>,
    /// `--log-tag`: syslog's tag (default: the short container id).
    pub tag: Option<String>,
    pub cid: String,
    pub name: Option<String>,
}

/// The open drivers.
pub struct Logs {
    files: Vec<(PathBuf, File)>,
    passthrough: bool,
}

impl Logs {
    pub fn open(config: &LogConfig) -> Result<Logs, LogError> {
        let mut files = Vec::new();
        let mut passthrough = false;
        for target in &config.targets {
            match (&target.driver, &target.path) {
                (Driver::K8sFile | Driver::JsonFile, Some(path)) => {
                    let file = OpenOptions::new()
                        .create(true)
                        .append(true)
                        .open(path)
                        .map_err(|source| LogError::Io {
                            path: path.clone(),
                            source,
                        })?;
                    files.push((path.clone(), file));
                }
                (Driver::Passthrough, _) => passthrough = true,
                _ => {}
            }
        }
        Ok(Logs { files, passthrough })
    }

    /// True when the container is to get the caller's stdio directly.
    pub fn passthrough(&self) -> bool {
        self.passthrough
    }

    /// One chunk as read from the container.
    pub fn write(&mut self, stream: Stream, data: &[u8]) {
        for (_, file) in &mut self.files {
            let _ = file.write_all(stream.name().as_bytes());
            let _ = file.write_all(b" F ");
            let _ = file.write_all(data);
        }
    }

    /// The stream ended: a line left without its newline is written now.
    pub fn flush(&mut self) {}

    /// The ctl fifo asked for it (after an outside logrotate moved the files away).
    pub fn reopen(&mut self) -> Result<(), LogError> {
        Ok(())
    }

    /// At exit: the files reach the disk before the exit file says the container is gone.
    pub fn sync(&mut self) {
        for (_, file) in &mut self.files {
            let _ = file.sync_data();
        }
    }
}
