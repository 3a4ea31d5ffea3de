//! Cutting the container's output into log records.
//!
//! A chunk is whatever one `read` returned: many lines, or a piece of one. Every driver
//! writes one record per line, and no record carries more than [`PIECE_MAX`] bytes: a longer
//! line is cut into pieces marked partial (k8s-file's `P`, json-file's `log` without its
//! `\n`, one syslog datagram each), which a reader puts back together. Docker cuts at the
//! same 16 KiB.
//!
//! k8s-file writes the tail of a chunk at once, as a partial record (conmon does the same),
//! so it keeps nothing between chunks. json-file and syslog hold that tail in a
//! [`LineBuffer`] until the line is complete, as Docker does: bounded by [`PIECE_MAX`].

/// The most bytes of container output in one record (the `\n` included).
pub const PIECE_MAX: usize = 16 * 1024;

/// The index of the first `\n` in `data`. Eight bytes at a time: the flood of a chatty
/// container goes through here once per driver.
pub fn find_newline(data: &[u8]) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    const NEWLINES: u64 = ONES * b'\n' as u64;
    let mut words = data.chunks_exact(8);
    let mut offset = 0;
    for word in words.by_ref() {
        let mut bytes = [0u8; 8];
        bytes.copy_from_slice(word);
        let x = u64::from_ne_bytes(bytes) ^ NEWLINES;
        // Non-zero exactly when some byte of x is zero, that is a '\n' in the word.
        if x.wrapping_sub(ONES) & !x & HIGHS != 0 {
            return word.iter().position(|&b| b == b'\n').map(|i| offset + i);
        }
        offset += 8;
    }
    words
        .remainder()
        .iter()
        .position(|&b| b == b'\n')
        .map(|i| offset + i)
}

/// Where to cut `piece` (a full [`PIECE_MAX`] of one line) so that a UTF-8 character is not
/// split between two records: json-file would otherwise replace both halves with U+FFFD.
/// Returns `piece.len()` unless the piece ends inside a character; then the start of it.
pub fn utf8_cut(piece: &[u8]) -> usize {
    // A character is at most 4 bytes: only the last 3 can start an unfinished one.
    let from = piece.len().saturating_sub(3);
    for start in (from..piece.len()).rev() {
        let lead = piece[start];
        if lead & 0xC0 == 0x80 {
            continue; // a continuation byte: look further back for the lead
        }
        let tail = &piece[start..];
        return match std::str::from_utf8(tail) {
            // error_len() None: valid so far, only cut short by the end of the piece.
            Err(e) if e.valid_up_to() == 0 && e.error_len().is_none() => start,
            _ => piece.len(),
        };
    }
    piece.len()
}

/// Calls `emit(piece, complete)` for each record in `data`: whole lines (with their `\n`,
/// `complete`), and pieces of at most `piece_max` bytes of a longer line. The tail of `data`
/// without a `\n` is emitted too, as a partial piece (k8s-file's way).
pub fn split_chunk(data: &[u8], piece_max: usize, mut emit: impl FnMut(&[u8], bool)) {
    let mut rest = data;
    while !rest.is_empty() {
        let window = &rest[..rest.len().min(piece_max)];
        match find_newline(window) {
            Some(i) => {
                emit(&rest[..=i], true);
                rest = &rest[i + 1..];
            }
            None => {
                emit(window, false);
                rest = &rest[window.len()..];
            }
        }
    }
}

/// The unfinished line of one stream (json-file, syslog), and the cutting rules.
#[derive(Debug)]
pub struct LineBuffer {
    pending: Vec<u8>,
    piece_max: usize,
}

impl LineBuffer {
    pub fn new(piece_max: usize) -> LineBuffer {
        // Below 4 a piece could not hold a whole character and the UTF-8 cut would stall.
        let piece_max = piece_max.max(4);
        LineBuffer {
            pending: Vec::new(),
            piece_max,
        }
    }

    /// The bytes held back, waiting for the rest of their line.
    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    /// Calls `emit(piece, complete)` for each record `data` completes; keeps the rest.
    pub fn feed(&mut self, data: &[u8], mut emit: impl FnMut(&[u8], bool)) {
        let mut rest = data;
        while !rest.is_empty() {
            let room = self.piece_max - self.pending.len();
            let window = &rest[..rest.len().min(room)];
            if let Some(i) = find_newline(window) {
                if self.pending.is_empty() {
                    emit(&rest[..=i], true);
                } else {
                    self.pending.extend_from_slice(&rest[..=i]);
                    emit(&self.pending, true);
                    self.pending.clear();
                }
                rest = &rest[i + 1..];
            } else if window.len() == room {
                // A full piece and still no end of line: out it goes, partial.
                rest = &rest[window.len()..];
                if self.pending.is_empty() {
                    let cut = utf8_cut(window);
                    emit(&window[..cut], false);
                    self.pending.extend_from_slice(&window[cut..]);
                } else {
                    self.pending.extend_from_slice(window);
                    let cut = utf8_cut(&self.pending);
                    emit(&self.pending[..cut], false);
                    self.pending.drain(..cut);
                }
            } else {
                self.pending.extend_from_slice(window);
                rest = &[];
            }
        }
        if self.pending.capacity() > self.piece_max {
            self.pending.shrink_to(self.piece_max);
        }
    }

    /// The stream ended: what is left goes out as a partial piece.
    pub fn flush(&mut self, mut emit: impl FnMut(&[u8], bool)) {
        if !self.pending.is_empty() {
            emit(&self.pending, false);
            self.pending.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fed(buffer: &mut LineBuffer, chunks: &[&[u8]]) -> Vec<(Vec<u8>, bool)> {
        let mut out = Vec::new();
        for chunk in chunks {
            buffer.feed(chunk, |piece, complete| {
                out.push((piece.to_vec(), complete))
            });
        }
        out
    }

    #[test]
    fn find_newline_agrees_with_a_byte_scan_at_every_offset_and_length() {
        let mut data = [b'a'; 40];
        for nl in 0..40 {
            data.iter_mut().for_each(|b| *b = 0x8a); // high bit set, low bits of '\n'
            data[nl] = b'\n';
            for start in 0..=nl {
                for end in nl..=40 {
                    let slice = &data[start..end];
                    assert_eq!(
                        find_newline(slice),
                        slice.iter().position(|&b| b == b'\n'),
                        "start {start} end {end} nl {nl}"
                    );
                }
            }
        }
        assert_eq!(find_newline(&[0x0b; 33]), None);
        assert_eq!(find_newline(&[]), None);
    }

    #[test]
    fn utf8_cut_backs_off_to_the_start_of_an_unfinished_character() {
        assert_eq!(utf8_cut(b"abc"), 3);
        assert_eq!(utf8_cut("ab\u{e9}".as_bytes()), 4); // é complete
        assert_eq!(utf8_cut(b"ab\xc3"), 2); // é cut after its lead
        assert_eq!(utf8_cut(b"ab\xe2\x82"), 2); // € cut after 2 of 3
        assert_eq!(utf8_cut(b"ab\xf0\x9f\x98"), 2); // 😀 cut after 3 of 4
        assert_eq!(utf8_cut("a\u{1F600}".as_bytes()), 5);
        // Invalid bytes are no character to keep whole: cut anywhere.
        assert_eq!(utf8_cut(b"ab\xff"), 3);
        assert_eq!(utf8_cut(b"ab\x82\x82"), 4);
        assert_eq!(utf8_cut(b"ab\xc3\x28"), 4);
    }

    #[test]
    fn split_chunk_marks_the_unfinished_tail_partial_and_cuts_long_lines() {
        let mut out = Vec::new();
        split_chunk(b"one\ntwo\nthr", 5, |p, c| out.push((p.to_vec(), c)));
        assert_eq!(
            out,
            vec![
                (b"one\n".to_vec(), true),
                (b"two\n".to_vec(), true),
                (b"thr".to_vec(), false)
            ]
        );
        out.clear();
        split_chunk(b"abcdefghij\n\n", 4, |p, c| out.push((p.to_vec(), c)));
        assert_eq!(
            out,
            vec![
                (b"abcd".to_vec(), false),
                (b"efgh".to_vec(), false),
                (b"ij\n".to_vec(), true),
                (b"\n".to_vec(), true)
            ]
        );
    }

    #[test]
    fn line_buffer_joins_a_line_that_arrives_in_pieces() {
        let mut buffer = LineBuffer::new(PIECE_MAX);
        let out = fed(&mut buffer, &[b"hel", b"lo wor", b"ld\nnext"]);
        assert_eq!(out, vec![(b"hello world\n".to_vec(), true)]);
        assert_eq!(buffer.pending(), 4);
        let mut rest = Vec::new();
        buffer.flush(|p, c| rest.push((p.to_vec(), c)));
        assert_eq!(rest, vec![(b"next".to_vec(), false)]);
        assert_eq!(buffer.pending(), 0);
    }

    #[test]
    fn line_buffer_never_holds_more_than_a_piece() {
        let mut buffer = LineBuffer::new(8);
        let out = fed(&mut buffer, &[b"0123456", b"789abcdef", b"ghij\n"]);
        assert_eq!(
            out,
            vec![
                (b"01234567".to_vec(), false),
                (b"89abcdef".to_vec(), false),
                (b"ghij\n".to_vec(), true)
            ]
        );
        let mut buffer = LineBuffer::new(8);
        for _ in 0..1000 {
            buffer.feed(b"xyz", |_, _| {});
            assert!(buffer.pending() < 8);
        }
    }

    #[test]
    fn line_buffer_keeps_a_character_whole_across_a_cut() {
        let mut buffer = LineBuffer::new(4);
        let out = fed(&mut buffer, &["ab\u{20ac}cd\n".as_bytes()]);
        assert_eq!(
            out,
            vec![
                (b"ab".to_vec(), false),
                ("\u{20ac}c".as_bytes().to_vec(), false),
                (b"d\n".to_vec(), true)
            ]
        );
    }

    #[test]
    fn line_buffer_gives_back_the_input_whatever_the_chunking() {
        let input: Vec<u8> = (0..5000u32)
            .map(|i| match i % 37 {
                0 => b'\n',
                5 => 0xe2,
                6 => 0x82,
                7 => 0xac,
                _ => b'a' + (i % 26) as u8,
            })
            .collect();
        for piece_max in [4, 5, 7, 64, PIECE_MAX] {
            for step in [1, 2, 3, 17, 100, 5000] {
                let mut buffer = LineBuffer::new(piece_max);
                let mut out = Vec::new();
                for chunk in input.chunks(step) {
                    buffer.feed(chunk, |p, c| {
                        assert!(p.len() <= piece_max && !p.is_empty());
                        assert_eq!(c, p.ends_with(b"\n"));
                        out.extend_from_slice(p);
                    });
                }
                buffer.flush(|p, _| out.extend_from_slice(p));
                assert_eq!(out, input, "piece_max {piece_max} step {step}");
            }
        }
    }
}
