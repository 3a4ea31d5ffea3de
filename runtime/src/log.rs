//! runc-compatible logging: one line on stderr for the person at the
//! terminal, and with `--log` a file of lines in text or JSON form
//! (`{"level":"error","msg":"...","time":"..."}`), which containerd and
//! Docker read to report a runtime's error.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::Path;

use anyhow::Context;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Text,
    Json,
}

pub struct Log {
    file: Option<File>,
    format: Format,
    debug: bool,
}

impl Log {
    pub fn open(path: Option<&Path>, format: Format, debug: bool) -> anyhow::Result<Log> {
        let file = path
            .map(|p| {
                OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(p)
                    .with_context(|| format!("opening log file {}", p.display()))
            })
            .transpose()?;
        Ok(Log {
            file,
            format,
            debug,
        })
    }

    fn line(format: Format, level: &str, message: &str) -> String {
        let time = libcontainer::time::now_rfc3339();
        match format {
            Format::Json => {
                serde_json::json!({"level": level, "msg": message, "time": time}).to_string()
            }
            Format::Text => format!("time={time:?} level={level} msg={message:?}"),
        }
    }

    fn write(&mut self, level: &str, message: &str) {
        let Some(file) = self.file.as_mut() else {
            return;
        };
        let _ = writeln!(file, "{}", Log::line(self.format, level, message));
    }

    /// The line carries the word `error`, as runc's do: tools and engines
    /// grep a runtime's stderr for it.
    pub fn error(&mut self, message: &str) {
        self.write("error", message);
        eprintln!("berth-runtime: error: {message}");
    }

    pub fn warn(&mut self, message: &str) {
        self.write("warning", message);
        eprintln!("berth-runtime: warning: {message}");
    }

    /// With `--debug`: a line in the log, which is stderr without `--log`
    /// (runc's default log is /dev/stderr).
    pub fn debug(&mut self, message: &str) {
        if !self.debug {
            return;
        }
        if self.file.is_some() {
            self.write("debug", message);
        } else {
            eprintln!("{}", Log::line(self.format, "debug", message));
        }
    }
}

/// An error and its causes on one line, each cause once: a typed error that
/// already quotes its source (`writing F: No such file`) is not followed by
/// that source again.
pub fn one_line(error: &anyhow::Error) -> String {
    let mut line = error.to_string();
    for cause in error.chain().skip(1) {
        let text = cause.to_string();
        if !line.ends_with(&text) {
            line.push_str(": ");
            line.push_str(&text);
        }
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cause_already_quoted_is_not_repeated() {
        let io = std::io::Error::from_raw_os_error(libc::ENOENT);
        let e = anyhow::Error::new(libcontainer::Error::io("writing /x/pid", io));
        let line = one_line(&e);
        assert_eq!(line.matches("os error 2").count(), 1, "{line}");
    }

    #[test]
    fn a_cause_not_quoted_is_kept() {
        let io = std::io::Error::from_raw_os_error(libc::ENOENT);
        let e = anyhow::Error::new(io).context("--process: reading /p");
        assert_eq!(
            one_line(&e),
            format!(
                "--process: reading /p: {}",
                std::io::Error::from_raw_os_error(libc::ENOENT)
            )
        );
    }
}
