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

    fn write(&mut self, level: &str, message: &str) {
        let Some(file) = self.file.as_mut() else {
            return;
        };
        let time = libcontainer::time::now_rfc3339();
        let line = match self.format {
            Format::Json => {
                serde_json::json!({"level": level, "msg": message, "time": time}).to_string()
            }
            Format::Text => format!("time={time:?} level={level} msg={message:?}"),
        };
        let _ = writeln!(file, "{line}");
    }

    pub fn error(&mut self, message: &str) {
        self.write("error", message);
        eprintln!("berth-runtime: {message}");
    }

    pub fn warn(&mut self, message: &str) {
        self.write("warning", message);
        eprintln!("berth-runtime: warning: {message}");
    }

    pub fn debug(&mut self, message: &str) {
        if self.debug {
            self.write("debug", message);
        }
    }
}
