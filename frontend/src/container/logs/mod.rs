//! A container's log read back as `docker logs` shows it: the files berth-shim wrote
//! (k8s-file or json-file, rotated or not), their pieces joined into lines, filtered by
//! `--since`/`--until`, cut to `--tail`, and with `--follow` read on as the container
//! writes, across rotations, until it has stopped and all it wrote is out.
//!
//! A record that does not parse is skipped; a log that does not exist is an empty log
//! (a container made with `--log-driver none` has none: the caller says so, not this).

mod files;
mod record;
#[cfg(test)]
mod tests;
mod time;

use std::collections::VecDeque;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

pub use time::TimeArgError;
pub use time::{format_timestamp, now_nanos, parse_rfc3339, parse_time_arg, parse_time_arg_at};

/// The formats berth-shim writes (`-l k8s-file:PATH`, `-l json-file:PATH`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    JsonFile,
    K8sFile,
}

impl LogFormat {
    /// The file format a container's log driver leaves to read back; `None` for a
    /// driver that keeps nothing to read (`none`).
    pub fn of(host: &crate::container::config::HostConfig) -> Option<LogFormat> {
        match host.log_config.kind.as_str() {
            // The syslog driver also keeps a json-file, for this.
            "json-file" | "syslog" | "" => Some(LogFormat::JsonFile),
            "k8s-file" => Some(LogFormat::K8sFile),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LogStream {
    Stdout = 0,
    Stderr = 1,
}

/// One line of the container's output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogRecord {
    pub stream: LogStream,
    /// When its first piece was written: nanoseconds since the Unix epoch.
    pub time: i64,
    /// The bytes as the container wrote them, with the line's `\n` (absent only on a last
    /// line the container left unfinished).
    pub line: Vec<u8>,
}

/// `docker logs`' flags.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogOptions {
    /// `-f`: go on reading until the container has stopped.
    pub follow: bool,
    /// `--tail N`: only the last N lines written before the call (`None`: all). With
    /// `follow`, every line written after the call comes too.
    pub tail: Option<usize>,
    /// `-t`: for [`write_record`]; reading ignores it.
    pub timestamps: bool,
    /// `--since`: lines from this time on (nanoseconds since the epoch, see
    /// [`parse_time_arg`]).
    pub since: Option<i64>,
    /// `--until`: lines up to this time; a follower stops once it has passed.
    pub until: Option<i64>,
}

#[derive(Debug, thiserror::Error)]
pub enum LogError {
    #[error("reading the log {}: {source}", path.display())]
    Read { path: PathBuf, source: io::Error },
    /// The output callback failed (a closed pipe...).
    #[error("writing the log out: {0}")]
    Output(#[source] io::Error),
}

/// Reads the log at `path` (and its rotated files `PATH.1`, `PATH.2`...) and hands each
/// line to `out`, oldest first. With `options.follow`, keeps reading what is written
/// until `running()` returns false and everything written by then is read (or `until`
/// has passed); `running` must turn false only once the shim has written the last of
/// the output (as it does before its exit file).
pub fn read_logs(
    path: &Path,
    format: LogFormat,
    options: &LogOptions,
    running: &dyn Fn() -> bool,
    out: &mut dyn FnMut(LogRecord) -> io::Result<()>,
) -> Result<(), LogError> {
    let mut lines = Lines {
        format,
        options,
        assembler: record::Assembler::default(),
        tail: options.tail.map(|n| (n, VecDeque::new())),
        out,
    };
    let waiter = options
        .follow
        .then(|| crate::watch::DirWaiter::new(path, files::POLL));
    let mut cursor: Option<files::Cursor> = None;
    let mut first = true;
    loop {
        // Asked before reading: what a container wrote before it stopped is in the files
        // by the time it counts as stopped, so one more pass after a "no" reads it all.
        let go_on = options.follow
            && !first
            && running()
            && options.until.is_none_or(|until| time::now_nanos() <= until);
        read_all(path, &mut cursor, &mut lines)?;
        if first {
            first = false;
            if !options.follow {
                lines.finish()?;
                return lines.flush_tail();
            }
            // The tail is of what was there when we came; the rest comes as written.
            lines.flush_tail()?;
            continue;
        }
        if !go_on {
            return lines.finish();
        }
        if let Some(w) = &waiter {
            w.wait();
        }
    }
}

/// Reads from `cursor` on, through every newer file, to the end of the live one.
fn read_all(
    path: &Path,
    cursor: &mut Option<files::Cursor>,
    lines: &mut Lines<'_>,
) -> Result<(), LogError> {
    if cursor.is_none() {
        *cursor = files::open_oldest(path)?;
    }
    let Some(current) = cursor else {
        return Ok(());
    };
    let mut handle = |record: &[u8]| lines.record(record);
    loop {
        current.read_records(&mut handle)?;
        match files::newer(path, current)? {
            None => return Ok(()),
            Some(next) => {
                // `current` is no longer written to: what came after our last read is
                // its last records.
                current.read_records(&mut handle)?;
                *current = next;
            }
        }
    }
}

/// Records in, lines out: joined, filtered, and held back for `--tail`.
struct Lines<'a> {
    format: LogFormat,
    options: &'a LogOptions,
    assembler: record::Assembler,
    /// `--tail N`: the last N lines so far, until [`Lines::flush_tail`].
    tail: Option<(usize, VecDeque<LogRecord>)>,
    out: &'a mut dyn FnMut(LogRecord) -> io::Result<()>,
}

impl Lines<'_> {
    fn record(&mut self, bytes: &[u8]) -> Result<(), LogError> {
        let Some(piece) = record::parse(self.format, bytes) else {
            return Ok(());
        };
        match self.assembler.add(piece) {
            Some(line) => self.line(line),
            None => Ok(()),
        }
    }

    fn line(&mut self, line: LogRecord) -> Result<(), LogError> {
        if self.options.since.is_some_and(|since| line.time < since)
            || self.options.until.is_some_and(|until| line.time > until)
        {
            return Ok(());
        }
        match &mut self.tail {
            Some((n, kept)) => {
                if *n > 0 {
                    if kept.len() == *n {
                        kept.pop_front();
                    }
                    kept.push_back(line);
                }
                Ok(())
            }
            None => (self.out)(line).map_err(LogError::Output),
        }
    }

    /// The lines left unfinished: the output ended without their newline.
    fn finish(&mut self) -> Result<(), LogError> {
        for line in self.assembler.finish() {
            self.line(line)?;
        }
        Ok(())
    }

    fn flush_tail(&mut self) -> Result<(), LogError> {
        if let Some((_, kept)) = self.tail.take() {
            for line in kept {
                (self.out)(line).map_err(LogError::Output)?;
            }
        }
        Ok(())
    }
}

/// Writes a line as `docker logs` prints it: with `timestamps`, its time in Go's
/// RFC3339NanoFixed (`2026-12-05T12:11:17.909447435Z`) and a space first.
pub fn write_record(out: &mut dyn Write, record: &LogRecord, timestamps: bool) -> io::Result<()> {
    if timestamps {
        out.write_all(format_timestamp(record.time).as_bytes())?;
        out.write_all(b" ")?;
    }
    out.write_all(&record.line)
}
