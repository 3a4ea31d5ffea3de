//! Docker's json-file format: one JSON object per line,
//! `{"log":"hello\n","stream":"stdout","time":"2026-12-05T12:11:17.909447435Z"}`.
//!
//! `log` keeps the line's `\n`; a line longer than [`PIECE_MAX`](super::lines::PIECE_MAX)
//! is written in pieces without it, and `docker logs` (or any reader) joins the `log`
//! strings. The string escaping is byte for byte that of Docker's writer (its own copy of
//! Go's encoding/json rules): `<`, `>`, `&` and every control byte but `\n` and `\r` as
//! `\u00XX`, U+2028 and U+2029 escaped, and each byte of invalid UTF-8 as `\ufffd`.

use super::file::RecordSink;
use super::lines::LineBuffer;
use super::timestamp::Timestamp;
use super::Stream;

/// Bytes that stop the copy: controls, `"`, `\`, `<`, `>`, `&`, and 0xE2 (the lead byte of
/// U+2028 and U+2029, which are escaped too).
const STOPS: [bool; 256] = {
    let mut stops = [false; 256];
    let mut b = 0;
    while b < 0x20 {
        stops[b] = true;
        b += 1;
    }
    let mut i = 0;
    let others = *b"\"\\<>&\xe2";
    while i < others.len() {
        stops[others[i] as usize] = true;
        i += 1;
    }
    stops
};

/// Go's encoding/json rules as Docker's json-file writer applies them, appended to `out`
/// with the surrounding quotes.
pub fn write_string(out: &mut Vec<u8>, text: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push(b'"');
    for chunk in text.utf8_chunks() {
        let valid = chunk.valid().as_bytes();
        let mut start = 0;
        let mut i = 0;
        loop {
            while i < valid.len() && !STOPS[usize::from(valid[i])] {
                i += 1;
            }
            let Some(&b) = valid.get(i) else { break };
            let escape: &[u8] = match b {
                b'"' => b"\\\"",
                b'\\' => b"\\\\",
                b'\n' => b"\\n",
                b'\r' => b"\\r",
                // U+2028 and U+2029 (E2 80 A8/A9) end a line in JavaScript.
                0xe2 => match valid.get(i + 1..i + 3) {
                    Some([0x80, 0xa8]) => b"\\u2028",
                    Some([0x80, 0xa9]) => b"\\u2029",
                    _ => {
                        i += 1;
                        continue;
                    }
                },
                _ => b"",
            };
            out.extend_from_slice(&valid[start..i]);
            if escape.is_empty() {
                out.extend_from_slice(b"\\u00");
                out.push(HEX[usize::from(b >> 4)]);
                out.push(HEX[usize::from(b & 0xf)]);
            } else {
                out.extend_from_slice(escape);
            }
            i += if b == 0xe2 { 3 } else { 1 };
            start = i;
        }
        out.extend_from_slice(&valid[start..]);
        // Go decodes invalid UTF-8 one byte at a time: one replacement per byte.
        for _ in chunk.invalid() {
            out.extend_from_slice(b"\\ufffd");
        }
    }
    out.push(b'"');
}

/// One record: `{"log":..,"stream":..,"time":..}\n`.
pub fn write_record(out: &mut Vec<u8>, stream: Stream, piece: &[u8], time: &[u8]) {
    out.extend_from_slice(b"{");
    // Docker leaves an empty log out altogether (omitempty); a piece is never empty here.
    if !piece.is_empty() {
        out.extend_from_slice(b"\"log\":");
        write_string(out, piece);
        out.push(b',');
    }
    out.extend_from_slice(b"\"stream\":\"");
    out.extend_from_slice(stream.name().as_bytes());
    out.extend_from_slice(b"\",\"time\":\"");
    out.extend_from_slice(time);
    out.extend_from_slice(b"\"}\n");
}

/// The json-file driver's state: the unfinished line of each stream.
#[derive(Debug)]
pub struct JsonEncoder {
    stdout: LineBuffer,
    stderr: LineBuffer,
}

impl JsonEncoder {
    pub fn new(piece_max: usize) -> JsonEncoder {
        JsonEncoder {
            stdout: LineBuffer::new(piece_max),
            stderr: LineBuffer::new(piece_max),
        }
    }

    fn buffer(&mut self, stream: Stream) -> &mut LineBuffer {
        match stream {
            Stream::Stdout => &mut self.stdout,
            Stream::Stderr => &mut self.stderr,
        }
    }

    /// Writes into `sink` each record `data` completes.
    pub fn encode(
        &mut self,
        stream: Stream,
        data: &[u8],
        now: Timestamp,
        sink: &mut impl RecordSink,
    ) {
        let time = time_text(now);
        self.buffer(stream).feed(data, |piece, complete| {
            sink.record(stream, complete, |out| {
                write_record(out, stream, piece, &time)
            })
        });
    }

    /// The stream ended: its unfinished line becomes a record without `\n`.
    pub fn flush(&mut self, stream: Stream, now: Timestamp, sink: &mut impl RecordSink) {
        let time = time_text(now);
        self.buffer(stream).flush(|piece, complete| {
            sink.record(stream, complete, |out| {
                write_record(out, stream, piece, &time)
            })
        });
    }
}

fn time_text(now: Timestamp) -> Vec<u8> {
    let mut time = Vec::with_capacity(32);
    now.write_rfc3339_nano(&mut time);
    time
}

#[cfg(test)]
mod tests {
    use super::*;

    fn escaped(text: &[u8]) -> String {
        let mut out = Vec::new();
        write_string(&mut out, text);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn escapes_html_characters_and_controls_as_docker_does() {
        assert_eq!(escaped(b"a<b>&c"), r#""a\u003cb\u003e\u0026c""#);
        assert_eq!(escaped(b"q\"b\\"), r#""q\"b\\""#);
        assert_eq!(
            escaped(b"\n\r\t\x00\x1f\x7f"),
            "\"\\n\\r\\u0009\\u0000\\u001f\x7f\""
        );
    }

    #[test]
    fn replaces_each_invalid_byte_as_go_does() {
        // Go's DecodeRune gives up one byte at a time: E2 82 is two errors, not one.
        assert_eq!(escaped(b"a\xe2\x82b"), r#""a\ufffd\ufffdb""#);
        assert_eq!(escaped(b"\xff\xfe"), r#""\ufffd\ufffd""#);
        // Surrogates and overlong forms are invalid to both.
        assert_eq!(escaped(b"\xed\xa0\x80"), r#""\ufffd\ufffd\ufffd""#);
        assert_eq!(escaped(b"\xc0\xaf"), r#""\ufffd\ufffd""#);
    }

    #[test]
    fn escapes_the_javascript_line_separators_and_keeps_other_unicode() {
        assert_eq!(
            escaped("x\u{2028}y\u{2029}z".as_bytes()),
            r#""x\u2028y\u2029z""#
        );
        assert_eq!(escaped("é€😀\u{2027}".as_bytes()), "\"é€😀\u{2027}\"");
    }

    #[test]
    fn every_escaped_string_is_json_that_decodes_to_the_lossy_input() {
        let inputs: [&[u8]; 5] = [
            b"plain",
            b"\x00\x01<tag>&amp;\"\\/",
            b"bad \xf0\x9f\x98 tail \xc3",
            "\u{2028}\u{feff}\u{10ffff}".as_bytes(),
            b"\xed\xbf\xbf\xf4\x90\x80\x80",
        ];
        for input in inputs {
            let text = escaped(input);
            let decoded: String = serde_json::from_str(&text).unwrap();
            assert_eq!(decoded, super::super::read::go_lossy(input), "{input:?}");
        }
    }

    #[test]
    fn record_has_docker_field_order_and_a_newline() {
        let mut out = Vec::new();
        write_record(&mut out, Stream::Stderr, b"hi\n", b"2026-12-05T12:11:17.5Z");
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "{\"log\":\"hi\\n\",\"stream\":\"stderr\",\"time\":\"2026-12-05T12:11:17.5Z\"}\n"
        );
    }

    #[test]
    fn a_line_split_across_chunks_is_one_record_and_a_long_one_is_pieces() {
        let mut encoder = JsonEncoder::new(8);
        let now = Timestamp { secs: 0, nanos: 0 };
        let mut records: Vec<Vec<u8>> = Vec::new();
        encoder.encode(Stream::Stdout, b"ab", now, &mut records);
        encoder.encode(Stream::Stdout, b"c\n0123456789", now, &mut records);
        encoder.flush(Stream::Stdout, now, &mut records);
        let records: Vec<String> = records
            .into_iter()
            .map(|r| String::from_utf8(r).unwrap())
            .collect();
        let logs: Vec<&str> = records
            .iter()
            .map(|r| r.split('"').nth(3).unwrap())
            .collect();
        assert_eq!(logs, ["abc\\n", "01234567", "89"]);
    }
}
