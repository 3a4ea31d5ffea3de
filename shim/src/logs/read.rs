//! Reading the log files back: parse every record, check its layout, and put the streams
//! together again (`P` pieces and json-file's pieces joined). What `podman logs` and
//! `docker logs` do, with the checks a test wants; used by the drivers' tests, the
//! `shim_logs` fuzz target and the end-to-end flood tests.

use std::path::{Path, PathBuf};

use super::file::numbered;
use super::Stream;

#[derive(Debug, thiserror::Error)]
#[error("log record {record}: {what}: {text:?}")]
pub struct ReadError {
    /// 1-based, counted over everything read.
    pub record: usize,
    pub what: &'static str,
    /// The start of the offending record (lossy).
    pub text: String,
}

/// Each stream's bytes, as the container wrote them (json-file: as Docker keeps them).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Output {
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

impl Output {
    pub fn stream(&mut self, stream: Stream) -> &mut Vec<u8> {
        match stream {
            Stream::Stdout => &mut self.stdout,
            Stream::Stderr => &mut self.stderr,
        }
    }
}

/// One k8s-file record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct K8sRecord<'a> {
    pub time: &'a str,
    pub stream: Stream,
    pub partial: bool,
    /// The container's bytes: an `F` record's text ends with the line's `\n`.
    pub text: &'a [u8],
}

/// Parses one k8s-file record, `line` with its final `\n`.
pub fn parse_k8s_record(line: &[u8]) -> Result<K8sRecord<'_>, &'static str> {
    let body = line.strip_suffix(b"\n").ok_or("no newline at the end")?;
    let mut fields = body.splitn(4, |&b| b == b' ');
    let time = fields.next().ok_or("no time")?;
    let stream = match fields.next() {
        Some(b"stdout") => Stream::Stdout,
        Some(b"stderr") => Stream::Stderr,
        _ => return Err("stream is not stdout or stderr"),
    };
    let partial = match fields.next() {
        Some(b"P") => true,
        Some(b"F") => false,
        _ => return Err("tag is not P or F"),
    };
    let text = fields.next().ok_or("no text field")?;
    let time = std::str::from_utf8(time).map_err(|_| "time is not text")?;
    if !is_k8s_time(time) {
        return Err("time is not RFC 3339 with 9 fraction digits and +00:00");
    }
    // The F record's own newline is the line's.
    let text = if partial {
        text
    } else {
        &line[line.len() - text.len() - 1..]
    };
    Ok(K8sRecord {
        time,
        stream,
        partial,
        text,
    })
}

/// Every record of a k8s-file (or of its rotated files, concatenated oldest first), joined.
pub fn k8s_output(data: &[u8]) -> Result<Output, ReadError> {
    let mut output = Output::default();
    for (n, line) in records(data).enumerate() {
        let record = parse_k8s_record(line).map_err(|what| bad(n, what, line))?;
        output.stream(record.stream).extend_from_slice(record.text);
    }
    Ok(output)
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct JsonRecord {
    #[serde(default)]
    log: String,
    stream: String,
    time: String,
}

/// Every record of a json-file (or its rotated files, oldest first), joined. Invalid UTF-8
/// came in as U+FFFD (one per byte): compare with [`go_lossy`] of the input.
pub fn json_output(data: &[u8]) -> Result<Output, ReadError> {
    let mut output = Output::default();
    for (n, line) in records(data).enumerate() {
        let body = line
            .strip_suffix(b"\n")
            .ok_or_else(|| bad(n, "no newline at the end", line))?;
        let record: JsonRecord =
            serde_json::from_slice(body).map_err(|_| bad(n, "not a json-file record", line))?;
        let stream = match record.stream.as_str() {
            "stdout" => Stream::Stdout,
            "stderr" => Stream::Stderr,
            _ => return Err(bad(n, "stream is not stdout or stderr", line)),
        };
        if !is_rfc3339_nano_utc(&record.time) {
            return Err(bad(n, "time is not Go's RFC3339Nano in UTC", line));
        }
        if record.log.is_empty() {
            return Err(bad(n, "empty log", line));
        }
        output
            .stream(stream)
            .extend_from_slice(record.log.as_bytes());
    }
    Ok(output)
}

/// The text Go (and so Docker) makes of bytes: each byte of invalid UTF-8 becomes U+FFFD.
pub fn go_lossy(bytes: &[u8]) -> String {
    let mut text = String::with_capacity(bytes.len());
    for chunk in bytes.utf8_chunks() {
        text.push_str(chunk.valid());
        for _ in chunk.invalid() {
            text.push('\u{fffd}');
        }
    }
    text
}

/// The files of a rotated log, oldest first: `path.N` .. `path.1`, `path` (those that exist,
/// `path.1` up to the first one missing, at most `max_files` in all).
pub fn files_oldest_first(path: &Path, max_files: u32) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = (1..max_files.max(1))
        .map(|n| numbered(path, n))
        .take_while(|p| p.exists())
        .collect();
    files.reverse();
    if path.exists() {
        files.push(path.to_path_buf());
    }
    files
}

/// Each record, with its `\n` (the last may lack it: the parsers say so).
fn records(data: &[u8]) -> impl Iterator<Item = &[u8]> {
    data.split_inclusive(|&b| b == b'\n')
}

fn bad(index: usize, what: &'static str, line: &[u8]) -> ReadError {
    ReadError {
        record: index + 1,
        what,
        text: String::from_utf8_lossy(&line[..line.len().min(120)]).into_owned(),
    }
}

/// `YYYY-MM-DDTHH:MM:SS.nnnnnnnnn+00:00`
fn is_k8s_time(time: &str) -> bool {
    let b = time.as_bytes();
    b.len() == 35 && time.ends_with("+00:00") && b[29] == b'+' && is_datetime(&b[..19]) && {
        b[19] == b'.' && b[20..29].iter().all(u8::is_ascii_digit)
    }
}

/// `YYYY-MM-DDTHH:MM:SS[.fraction without trailing zeros]Z`
fn is_rfc3339_nano_utc(time: &str) -> bool {
    let b = time.as_bytes();
    if b.len() < 20 || !is_datetime(&b[..19]) || !time.ends_with('Z') {
        return false;
    }
    let fraction = &b[19..b.len() - 1];
    match fraction {
        [] => true,
        [b'.', digits @ ..] => {
            (1..=9).contains(&digits.len())
                && digits.iter().all(u8::is_ascii_digit)
                && digits.last() != Some(&b'0')
        }
        _ => false,
    }
}

fn is_datetime(b: &[u8]) -> bool {
    b.len() == 19
        && b.iter().enumerate().all(|(i, c)| match i {
            4 | 7 => *c == b'-',
            10 => *c == b'T',
            13 | 16 => *c == b':',
            _ => c.is_ascii_digit(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_conmon_records() {
        let r = parse_k8s_record(b"2026-12-05T12:11:17.909447435+00:00 stdout F hello\n").unwrap();
        assert_eq!(r.stream, Stream::Stdout);
        assert!(!r.partial);
        assert_eq!(r.text, b"hello\n");
        let r = parse_k8s_record(b"2026-12-05T12:11:17.909447435+00:00 stderr P a b \n").unwrap();
        assert!(r.partial);
        assert_eq!(r.text, b"a b ");
        let r = parse_k8s_record(b"2026-12-05T12:11:17.909447435+00:00 stdout F \n").unwrap();
        assert_eq!(r.text, b"\n");
    }

    #[test]
    fn refuses_broken_records_saying_what_is_wrong() {
        let cases: [(&[u8], &str); 5] = [
            (
                b"2026-12-05T12:11:17.909447435+00:00 stdout F hello",
                "newline",
            ),
            (b"2026-12-05T12:11:17.909447435+00:00 stdin F x\n", "stream"),
            (b"2026-12-05T12:11:17.909447435+00:00 stdout X x\n", "tag"),
            (b"2026-12-05T12:11:17.9094474+00:00 stdout F x\n", "time"),
            (b"2026-12-05T12:11:17.909447435+00:00 stdout\n", "tag"),
        ];
        for (line, what) in cases {
            let err = k8s_output(line).unwrap_err();
            assert!(err.what.contains(what), "{err}");
            assert_eq!(err.record, 1);
        }
    }

    #[test]
    fn joins_pieces_per_stream() {
        let log = b"2026-12-05T12:11:17.000000000+00:00 stdout P he\n\
                    2026-12-05T12:11:17.000000000+00:00 stderr F err\n\
                    2026-12-05T12:11:17.000000001+00:00 stdout F llo\n";
        let output = k8s_output(log).unwrap();
        assert_eq!(output.stdout, b"hello\n");
        assert_eq!(output.stderr, b"err\n");
    }

    #[test]
    fn json_records_join_and_times_are_checked() {
        let log = b"{\"log\":\"he\",\"stream\":\"stdout\",\"time\":\"2026-12-05T12:11:17.5Z\"}\n\
                    {\"log\":\"llo\\n\",\"stream\":\"stdout\",\"time\":\"2026-12-05T12:11:17Z\"}\n";
        assert_eq!(json_output(log).unwrap().stdout, b"hello\n");
        let trailing_zero =
            b"{\"log\":\"x\",\"stream\":\"stdout\",\"time\":\"2026-12-05T12:11:17.50Z\"}\n";
        assert!(json_output(trailing_zero)
            .unwrap_err()
            .what
            .contains("time"));
    }

    #[test]
    fn go_lossy_replaces_byte_by_byte() {
        assert_eq!(go_lossy(b"a\xe2\x82b\xff"), "a\u{fffd}\u{fffd}b\u{fffd}");
    }
}
