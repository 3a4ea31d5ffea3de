//! Where the container's output goes: the log drivers (`-l DRIVER:PATH`, several at once),
//! rotation by size and count, reopening on request.
//!
//! The event loop hands every chunk it reads from the container's stdout/stderr to
//! [`Logs::write`]; a chunk is whatever one `read` returned, so it may hold many lines, or
//! part of one. Nothing here may block the loop for long or grow without bound: the
//! container must never wait on a slow log reader.
//!
//! - `k8s-file` ([`k8s`]): CRI's `TIME STREAM P|F TEXT`, what podman reads.
//! - `json-file` ([`json`]): Docker's `{"log":..,"stream":..,"time":..}`.
//! - `syslog` ([`syslog`]): datagrams as Docker's syslog driver sends them.
//! - `passthrough`: the container gets the caller's stdio; nothing comes here.
//! - `none`.
//!
//! Memory: a record holds at most [`lines::PIECE_MAX`] bytes of output; json-file and
//! syslog hold at most that much of an unfinished line per stream; a file's batch is
//! written after each chunk; syslog's queue is bounded ([`Limits::syslog_queue_max`]).
//! Files are rotated ([`file`]) between records, never inside one.
//!
//! How the event loop drives it: [`Logs::write`] for each chunk read; [`Logs::flush_stream`]
//! when one stream reaches EOF, [`Logs::flush`] when the container is gone (also before a
//! restart: the next run's first line is not the end of this run's last); [`Logs::sync`]
//! before the exit file is written; [`Logs::reopen`] on ctl message 2. While
//! [`Logs::backlog_fds`] gives sockets, poll them for POLLOUT and call
//! [`Logs::send_backlog`]. [`Logs::take_notices`] after each round, for the shim's own log.
//! Dropping `Logs` flushes what is left, as a safety net.

pub mod file;
pub mod json;
pub mod k8s;
pub mod lines;
pub mod read;
pub mod syslog;
#[cfg(test)]
mod testutil;
pub mod timestamp;

use std::os::fd::BorrowedFd;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use file::{LogFile, Rotation};
use json::JsonEncoder;
use syslog::Syslog;
use timestamp::Timestamp;

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
/// or a bare path or `:PATH` (k8s-file, as conmon).
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
    #[error("log path {0:?}: the syslog address must be unixgram:///ABSOLUTE/PATH")]
    BadSyslogAddress(String),
    #[error("log file {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("syslog socket {address}: {source}")]
    Syslog {
        address: PathBuf,
        source: std::io::Error,
    },
}

impl FromStr for LogTarget {
    type Err = LogError;

    fn from_str(arg: &str) -> Result<Self, LogError> {
        let (name, path) = match arg.split_once(':') {
            Some((name, "")) => (name, None),
            Some((name, path)) => (name, Some(PathBuf::from(path))),
            None if arg.contains('/') => ("k8s-file", Some(PathBuf::from(arg))),
            None => (arg, None),
        };
        let driver = match name {
            // conmon's `:PATH` is a k8s-file too.
            "k8s-file" | "" => Driver::K8sFile,
            "json-file" => Driver::JsonFile,
            "syslog" => Driver::Syslog,
            "passthrough" => Driver::Passthrough,
            // conmon's other names for none.
            "none" | "off" | "null" => Driver::None,
            other => return Err(LogError::UnknownDriver(arg.into(), other.into())),
        };
        if matches!(driver, Driver::K8sFile | Driver::JsonFile) && path.is_none() {
            return Err(LogError::MissingPath(arg.into(), "file"));
        }
        if driver == Driver::Syslog {
            if let Some(address) = &path {
                let address = address.to_string_lossy();
                if syslog::parse_address(&address).is_none() {
                    return Err(LogError::BadSyslogAddress(arg.into()));
                }
            }
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

/// Bounds the drivers keep to; the defaults are Docker's piece size and 1 MiB of syslog
/// backlog. Smaller values in tests and the fuzz target reach the edges with less data.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Most bytes of container output in one record ([`lines::PIECE_MAX`]).
    pub piece_max: usize,
    /// Most bytes of datagrams waiting for a slow syslog receiver, per syslog target.
    pub syslog_queue_max: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            piece_max: lines::PIECE_MAX,
            syslog_queue_max: 1 << 20,
        }
    }
}

/// Messages for the shim's own log, kept until taken: bounded, should nobody take them.
#[derive(Debug, Default)]
pub(crate) struct Notices {
    list: Vec<String>,
    missed: u64,
}

impl Notices {
    const MAX: usize = 64;

    pub(crate) fn push(&mut self, notice: String) {
        if self.list.len() < Self::MAX {
            self.list.push(notice);
        } else {
            self.missed += 1;
        }
    }

    pub(crate) fn take(&mut self) -> Vec<String> {
        let mut list = std::mem::take(&mut self.list);
        if self.missed > 0 {
            list.push(format!("{} more log notices were left out", self.missed));
            self.missed = 0;
        }
        list
    }
}

/// How long [`Logs::sync`] lets a syslog receiver take its backlog at exit.
const SYSLOG_PATIENCE_AT_EXIT: Duration = Duration::from_millis(250);

enum Format {
    K8s,
    Json(JsonEncoder),
}

struct FileDriver {
    format: Format,
    file: LogFile,
}

/// The open drivers.
pub struct Logs {
    files: Vec<FileDriver>,
    syslogs: Vec<Syslog>,
    passthrough: bool,
    piece_max: usize,
}

impl Logs {
    pub fn open(config: &LogConfig) -> Result<Logs, LogError> {
        Logs::open_with_limits(config, Limits::default())
    }

    pub fn open_with_limits(config: &LogConfig, limits: Limits) -> Result<Logs, LogError> {
        let rotation = Rotation {
            size_max: config.size_max,
            max_files: config.max_files.unwrap_or(1),
        };
        let mut logs = Logs {
            files: Vec::new(),
            syslogs: Vec::new(),
            passthrough: false,
            piece_max: limits.piece_max.max(4),
        };
        for target in &config.targets {
            match (&target.driver, &target.path) {
                // conmon's mode for k8s-file, Docker's for json-file.
                (Driver::K8sFile, Some(path)) => logs.files.push(FileDriver {
                    format: Format::K8s,
                    file: LogFile::open(path, 0o600, rotation)?,
                }),
                (Driver::JsonFile, Some(path)) => logs.files.push(FileDriver {
                    format: Format::Json(JsonEncoder::new(logs.piece_max)),
                    file: LogFile::open(path, 0o640, rotation)?,
                }),
                (Driver::K8sFile | Driver::JsonFile, None) => {
                    return Err(LogError::MissingPath(
                        format!("{:?}", target.driver),
                        "file",
                    ))
                }
                (Driver::Syslog, address) => {
                    let given = address.as_ref().map(|a| a.to_string_lossy().into_owned());
                    let path = match &given {
                        Some(address) => syslog::parse_address(address)
                            .ok_or_else(|| LogError::BadSyslogAddress(address.clone()))?,
                        None => PathBuf::from(syslog::DEFAULT_ADDRESS),
                    };
                    let tag = match config.tag.as_deref() {
                        Some(tag) if !tag.is_empty() => tag.to_string(),
                        _ => config.cid.chars().take(12).collect(),
                    };
                    logs.syslogs.push(Syslog::open(
                        &path,
                        tag,
                        logs.piece_max,
                        limits.syslog_queue_max,
                    )?);
                }
                (Driver::Passthrough, _) => logs.passthrough = true,
                (Driver::None, _) => {}
            }
        }
        Ok(logs)
    }

    /// True when the container is to get the caller's stdio directly.
    pub fn passthrough(&self) -> bool {
        self.passthrough
    }

    /// One chunk as read from the container.
    pub fn write(&mut self, stream: Stream, data: &[u8]) {
        if data.is_empty() {
            return;
        }
        let now = Timestamp::now();
        for driver in &mut self.files {
            match &mut driver.format {
                Format::K8s => k8s::encode(stream, data, now, self.piece_max, &mut driver.file),
                Format::Json(encoder) => encoder.encode(stream, data, now, &mut driver.file),
            }
            driver.file.commit();
        }
        for syslog in &mut self.syslogs {
            syslog.write(stream, data, now);
        }
    }

    /// The streams ended: a line left without its newline is written now.
    pub fn flush(&mut self) {
        self.flush_stream(Stream::Stdout);
        self.flush_stream(Stream::Stderr);
    }

    /// One stream ended (its pipe closed) while the other goes on.
    pub fn flush_stream(&mut self, stream: Stream) {
        let now = Timestamp::now();
        for driver in &mut self.files {
            if let Format::Json(encoder) = &mut driver.format {
                encoder.flush(stream, now, &mut driver.file);
            }
            driver.file.commit();
        }
        for syslog in &mut self.syslogs {
            syslog.flush(stream, now);
        }
    }

    /// The ctl fifo asked for it (after an outside logrotate moved the files away). Every
    /// file is tried; the first error is returned.
    pub fn reopen(&mut self) -> Result<(), LogError> {
        let mut first_error = None;
        for driver in &mut self.files {
            if let Err(e) = driver.file.reopen() {
                first_error.get_or_insert(e);
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    /// At exit, before the exit file says the container is gone: every record is in
    /// its file (for a reader, if not yet on the disk), and a syslog receiver gets a
    /// short while to take what waits.
    pub fn finish(&mut self) {
        for driver in &mut self.files {
            driver.file.commit();
        }
        for syslog in &mut self.syslogs {
            syslog.drain(SYSLOG_PATIENCE_AT_EXIT);
        }
    }

    /// The files reach the disk: after the exit file, so that whoever waits for the
    /// exit does not also wait for the disk.
    pub fn sync(&mut self) {
        for driver in &mut self.files {
            driver.file.sync();
        }
    }

    /// The sockets to poll for POLLOUT: syslog receivers that fell behind. When one is
    /// ready, call [`Logs::send_backlog`].
    pub fn backlog_fds(&self) -> impl Iterator<Item = BorrowedFd<'_>> {
        self.syslogs.iter().filter_map(Syslog::backlog_fd)
    }

    /// Sends what waits for slow syslog receivers, as far as they take it; never blocks.
    pub fn send_backlog(&mut self) {
        for syslog in &mut self.syslogs {
            syslog.send_backlog();
        }
    }

    /// What went wrong (or right again) since the last call, one line each, for the shim's
    /// own log: a full disk, a failed rotation, syslog lines dropped. Each trouble is told
    /// once when it starts and once when it ends, not once per line.
    pub fn take_notices(&mut self) -> Vec<String> {
        let mut notices = Vec::new();
        for driver in &mut self.files {
            notices.extend(driver.file.take_notices());
        }
        for syslog in &mut self.syslogs {
            notices.extend(syslog.take_notices());
        }
        notices
    }
}

impl Drop for Logs {
    /// A line still waiting for its newline is written rather than lost.
    fn drop(&mut self) {
        self.flush();
    }
}

#[cfg(test)]
mod tests;
