//! CRI's log format, the one conmon writes and `podman logs` reads:
//! `2026-12-05T12:11:17.909447435+00:00 stdout F hello\n`.
//!
//! `F` marks a record that ends its line (the text keeps its `\n`, which also ends the
//! record); `P` a piece of a line, followed by a `\n` that is not the container's. The tail
//! of a chunk without its newline is written at once as `P`, as conmon does: the rest of the
//! line comes in later records, and nothing waits in memory. A line longer than
//! [`PIECE_MAX`](super::lines::PIECE_MAX) is cut into `P` records too (conmon writes it
//! whole, which makes a record as long as the container likes).

use super::file::RecordSink;
use super::lines::split_chunk;
use super::timestamp::Timestamp;
use super::Stream;

/// Writes into `sink` a record per line (or piece) of `data`, every one stamped `now`.
pub fn encode(
    stream: Stream,
    data: &[u8],
    now: Timestamp,
    piece_max: usize,
    sink: &mut impl RecordSink,
) {
    let mut prefix = Vec::with_capacity(48);
    now.write_k8s(&mut prefix);
    prefix.push(b' ');
    prefix.extend_from_slice(stream.name().as_bytes());
    prefix.push(b' ');
    split_chunk(data, piece_max, |piece, complete| {
        sink.record(stream, complete, |out| {
            out.extend_from_slice(&prefix);
            out.extend_from_slice(if complete { b"F " } else { b"P " });
            out.extend_from_slice(piece);
            if !complete {
                out.push(b'\n');
            }
        })
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logs::lines::PIECE_MAX;

    const NOW: Timestamp = Timestamp {
        secs: 1_796_472_677,
        nanos: 909_447_435,
    };

    fn records(stream: Stream, data: &[u8], piece_max: usize) -> Vec<String> {
        let mut out: Vec<Vec<u8>> = Vec::new();
        encode(stream, data, NOW, piece_max, &mut out);
        out.into_iter()
            .map(|r| String::from_utf8_lossy(&r).into_owned())
            .collect()
    }

    #[test]
    fn a_whole_line_is_one_f_record_as_conmon_writes_it() {
        assert_eq!(
            records(Stream::Stdout, b"hello\n", PIECE_MAX),
            ["2026-12-05T12:11:17.909447435+00:00 stdout F hello\n"]
        );
    }

    #[test]
    fn the_unfinished_tail_of_a_chunk_is_a_p_record_with_its_own_newline() {
        assert_eq!(
            records(Stream::Stderr, b"one\ntw", PIECE_MAX),
            [
                "2026-12-05T12:11:17.909447435+00:00 stderr F one\n",
                "2026-12-05T12:11:17.909447435+00:00 stderr P tw\n"
            ]
        );
    }

    #[test]
    fn an_empty_line_is_an_f_record_with_nothing_but_its_newline() {
        assert_eq!(
            records(Stream::Stdout, b"\n", PIECE_MAX),
            ["2026-12-05T12:11:17.909447435+00:00 stdout F \n"]
        );
    }

    #[test]
    fn a_long_line_is_cut_into_p_records_at_the_piece_size() {
        let got = records(Stream::Stdout, b"abcdefg\n", 3);
        let texts: Vec<&str> = got.iter().map(|r| &r[43..]).collect();
        assert_eq!(texts, ["P abc\n", "P def\n", "F g\n"]);
    }

    #[test]
    fn invalid_utf8_and_control_bytes_are_written_as_they_came() {
        let mut out: Vec<Vec<u8>> = Vec::new();
        encode(
            Stream::Stdout,
            b"\xff\x00\r\x1b[m\n",
            NOW,
            PIECE_MAX,
            &mut out,
        );
        assert!(out[0].ends_with(b" stdout F \xff\x00\r\x1b[m\n"));
    }
}
