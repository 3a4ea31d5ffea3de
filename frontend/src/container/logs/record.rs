//! One record of a log file, parsed, and records put back together into lines.
//!
//! The shim cuts a line into several records (a k8s-file `P` record, a json-file `log`
//! without `\n`) when it is longer than 16 KiB, or (k8s-file) when a chunk of output ends
//! mid-line. Each stream has its own line in progress: stdout's pieces and stderr's may
//! come in turn.

use super::time::parse_rfc3339;
use super::{LogFormat, LogRecord, LogStream};

/// A joined line longer than this is handed out as it is, without its end: a container
/// that never writes a newline must not make the reader's memory grow without bound. The
/// bytes printed stay the same; only `-t` shows one stamp more.
pub(super) const LINE_MAX: usize = 1 << 20;

/// One parsed record: a piece of a line, or its end.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Piece {
    pub stream: LogStream,
    pub time: i64,
    pub bytes: Vec<u8>,
    /// True when `bytes` ends the line (and ends with its `\n`).
    pub ends_line: bool,
}

/// Parses one record, without its final `\n`; None when it is not a record of `format`.
pub(super) fn parse(format: LogFormat, record: &[u8]) -> Option<Piece> {
    match format {
        LogFormat::K8sFile => parse_k8s(record),
        LogFormat::JsonFile => parse_json(record),
    }
}

/// `TIME STREAM F|P TEXT`: an `F` record's text is a whole line (its `\n` is the one that
/// ended the record), a `P` record's is a piece.
fn parse_k8s(record: &[u8]) -> Option<Piece> {
    let mut fields = record.splitn(4, |&b| b == b' ');
    let time = std::str::from_utf8(fields.next()?).ok()?;
    let stream = stream_of(fields.next()?)?;
    let ends_line = match fields.next()? {
        b"F" => true,
        b"P" => false,
        _ => return None,
    };
    let mut bytes = fields.next().unwrap_or_default().to_vec();
    if ends_line {
        bytes.push(b'\n');
    }
    Some(Piece {
        stream,
        time: parse_rfc3339(time)?,
        bytes,
        ends_line,
    })
}

#[derive(serde::Deserialize)]
struct JsonRecord {
    log: String,
    stream: String,
    time: String,
}

/// `{"log":"hello\n","stream":"stdout","time":"…"}`: a `log` without `\n` is a piece.
fn parse_json(record: &[u8]) -> Option<Piece> {
    let r: JsonRecord = serde_json::from_slice(record).ok()?;
    if r.log.is_empty() {
        return None;
    }
    Some(Piece {
        stream: stream_of(r.stream.as_bytes())?,
        time: parse_rfc3339(&r.time)?,
        ends_line: r.log.ends_with('\n'),
        bytes: r.log.into_bytes(),
    })
}

fn stream_of(name: &[u8]) -> Option<LogStream> {
    match name {
        b"stdout" => Some(LogStream::Stdout),
        b"stderr" => Some(LogStream::Stderr),
        _ => None,
    }
}

/// Each stream's line in progress: its bytes so far and the time of its first piece.
#[derive(Default)]
pub(super) struct Assembler {
    open: [Option<(i64, Vec<u8>)>; 2],
}

impl Assembler {
    /// Adds a piece; the line it completes, if any. A line is stamped with the time its
    /// first piece was written.
    pub fn add(&mut self, piece: Piece) -> Option<LogRecord> {
        let slot = &mut self.open[piece.stream as usize];
        let (time, mut line) = match slot.take() {
            Some((time, mut line)) => {
                line.extend_from_slice(&piece.bytes);
                (time, line)
            }
            None => (piece.time, piece.bytes),
        };
        if piece.ends_line || line.len() >= LINE_MAX {
            line.shrink_to_fit();
            return Some(LogRecord {
                stream: piece.stream,
                time,
                line,
            });
        }
        *slot = Some((time, line));
        None
    }

    /// The lines left open (the container's last output without a newline), oldest first.
    pub fn finish(&mut self) -> Vec<LogRecord> {
        let mut rest: Vec<LogRecord> = [LogStream::Stdout, LogStream::Stderr]
            .into_iter()
            .filter_map(|stream| {
                let (time, line) = self.open[stream as usize].take()?;
                Some(LogRecord { stream, time, line })
            })
            .collect();
        rest.sort_by_key(|r| r.time);
        rest
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: i64 = 1_796_472_677_909_447_435;

    #[test]
    fn k8s_records_whole_and_pieces() {
        let f = parse(
            LogFormat::K8sFile,
            b"2026-12-05T12:11:17.909447435+00:00 stdout F hello",
        );
        assert_eq!(
            f,
            Some(Piece {
                stream: LogStream::Stdout,
                time: T,
                bytes: b"hello\n".to_vec(),
                ends_line: true
            })
        );
        let p = parse(
            LogFormat::K8sFile,
            b"2026-12-05T12:11:17.909447435+00:00 stderr P he llo",
        )
        .expect("a P record");
        assert_eq!(
            (p.stream, &p.bytes[..], p.ends_line),
            (LogStream::Stderr, &b"he llo"[..], false)
        );
        let empty = parse(
            LogFormat::K8sFile,
            b"2026-12-05T12:11:17.909447435+00:00 stdout F ",
        );
        assert_eq!(empty.map(|p| p.bytes), Some(b"\n".to_vec()));
    }

    #[test]
    fn json_records_whole_and_pieces() {
        let f = parse(
            LogFormat::JsonFile,
            br#"{"log":"a\u003cb\n","stream":"stdout","time":"2026-12-05T12:11:17.909447435Z"}"#,
        );
        assert_eq!(
            f,
            Some(Piece {
                stream: LogStream::Stdout,
                time: T,
                bytes: b"a<b\n".to_vec(),
                ends_line: true
            })
        );
        let p = parse(
            LogFormat::JsonFile,
            br#"{"log":"abc","stream":"stderr","time":"2026-12-05T12:11:17.9Z","attrs":{}}"#,
        )
        .expect("a piece");
        assert!(!p.ends_line);
    }

    #[test]
    fn garbage_is_not_a_record() {
        for (format, text) in [
            (LogFormat::K8sFile, &b""[..]),
            (LogFormat::K8sFile, b"hello world"),
            (
                LogFormat::K8sFile,
                b"2026-12-05T12:11:17.909447435+00:00 stdin F x",
            ),
            (
                LogFormat::K8sFile,
                b"2026-12-05T12:11:17.909447435+00:00 stdout X x",
            ),
            (LogFormat::K8sFile, b"yesterday stdout F x"),
            (LogFormat::JsonFile, b"{"),
            (LogFormat::JsonFile, br#"{"log":"x\n","stream":"stdout"}"#),
            (
                LogFormat::JsonFile,
                br#"{"log":"","stream":"stdout","time":"2026-12-05T12:11:17Z"}"#,
            ),
            (
                LogFormat::JsonFile,
                br#"{"log":"x","stream":"nope","time":"2026-12-05T12:11:17Z"}"#,
            ),
            (LogFormat::JsonFile, b"\xff\xfe"),
        ] {
            assert_eq!(
                parse(format, text),
                None,
                "{:?}",
                String::from_utf8_lossy(text)
            );
        }
    }

    fn piece(stream: LogStream, time: i64, text: &str) -> Piece {
        Piece {
            stream,
            time,
            bytes: text.as_bytes().to_vec(),
            ends_line: text.ends_with('\n'),
        }
    }

    #[test]
    fn pieces_of_each_stream_join_into_lines_stamped_with_their_first_piece() {
        let mut a = Assembler::default();
        assert_eq!(a.add(piece(LogStream::Stdout, 1, "he")), None);
        assert_eq!(a.add(piece(LogStream::Stderr, 2, "oops")), None);
        let out = a
            .add(piece(LogStream::Stdout, 3, "llo\n"))
            .expect("stdout line");
        assert_eq!((out.time, &out.line[..]), (1, &b"hello\n"[..]));
        let rest = a.finish();
        assert_eq!(rest.len(), 1);
        assert_eq!(
            (rest[0].stream, &rest[0].line[..]),
            (LogStream::Stderr, &b"oops"[..])
        );
    }

    #[test]
    fn a_line_without_end_is_handed_out_at_the_bound() {
        let mut a = Assembler::default();
        let chunk = "x".repeat(LINE_MAX / 2);
        assert_eq!(a.add(piece(LogStream::Stdout, 1, &chunk)), None);
        let out = a
            .add(piece(LogStream::Stdout, 2, &chunk))
            .expect("cut at the bound");
        assert_eq!(out.line.len(), LINE_MAX);
    }
}
