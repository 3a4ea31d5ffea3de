//! Detach keys: Docker's `--detach-keys` syntax, and the matcher that watches our stdin
//! for the sequence.

use super::AttachError;

/// Docker's default: ctrl-p then ctrl-q.
pub const DEFAULT_DETACH_KEYS: &str = "ctrl-p,ctrl-q";

/// The keys a `ctrl-` may name, in the order of their codes after ctrl-@ (0).
const CTRL_KEYS: &[u8] = b"@abcdefghijklmnopqrstuvwxyz[\\]^_";

/// Parses Docker's `--detach-keys`: comma-separated keys, each one character or `ctrl-X`
/// (X one of a-z, @, [, \, ], ^, _) or `DEL`. The empty string disables detaching.
pub fn parse_detach_keys(spec: &str) -> Result<Vec<u8>, AttachError> {
    if spec.is_empty() {
        return Ok(Vec::new());
    }
    spec.split(',')
        .map(|key| {
            key_code(key).ok_or_else(|| AttachError::DetachKey {
                spec: spec.to_string(),
                key: key.to_string(),
            })
        })
        .collect()
}

fn key_code(key: &str) -> Option<u8> {
    match key.as_bytes() {
        [c] if c.is_ascii() => Some(*c),
        b"DEL" => Some(0x7f),
        [b'c', b't', b'r', b'l', b'-', x] => CTRL_KEYS
            .iter()
            .position(|k| k == x)
            .and_then(|code| u8::try_from(code).ok()),
        _ => None,
    }
}

/// Watches input for the detach sequence. Bytes that may start it are held back; when
/// the next byte breaks the sequence they are passed on, so typing ctrl-p alone still
/// reaches the container.
#[derive(Debug, Clone)]
pub struct DetachMatcher {
    keys: Vec<u8>,
    /// How many bytes of `keys` the input ends with (held back, not yet passed on).
    held: usize,
}

/// What one chunk of input came to.
#[derive(Debug, PartialEq, Eq)]
pub enum Matched {
    /// Pass these bytes on.
    Input(Vec<u8>),
    /// The whole sequence was typed: pass `before` on (what came before it in this
    /// chunk), then detach. What came after it is dropped.
    Detach { before: Vec<u8> },
}

impl DetachMatcher {
    /// `keys` empty: nothing is ever held and the input never detaches.
    pub fn new(keys: &[u8]) -> DetachMatcher {
        DetachMatcher {
            keys: keys.to_vec(),
            held: 0,
        }
    }

    pub fn feed(&mut self, input: &[u8]) -> Matched {
        let mut out = Vec::with_capacity(input.len() + self.held);
        if self.keys.is_empty() {
            out.extend_from_slice(input);
            return Matched::Input(out);
        }
        for &b in input {
            if self.keys[self.held] == b {
                self.held += 1;
                if self.held == self.keys.len() {
                    self.held = 0;
                    return Matched::Detach { before: out };
                }
                continue;
            }
            // The sequence broke: the held bytes and `b` are input, except the longest
            // tail of them that may still start the sequence (e.g. ctrl-p ctrl-p ctrl-q).
            let mut pending = self.keys[..self.held].to_vec();
            pending.push(b);
            let keep = (0..pending.len())
                .find(|&start| self.keys.starts_with(&pending[start..]))
                .unwrap_or(pending.len());
            out.extend_from_slice(&pending[..keep]);
            self.held = pending.len() - keep;
        }
        Matched::Input(out)
    }

    /// At the end of input: the bytes still held back, for the container after all.
    pub fn take_held(&mut self) -> Vec<u8> {
        let held = self.keys[..self.held].to_vec();
        self.held = 0;
        held
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const P: u8 = 0x10;
    const Q: u8 = 0x11;

    #[test]
    fn default_keys_are_ctrl_p_ctrl_q() {
        assert_eq!(parse_detach_keys(DEFAULT_DETACH_KEYS).unwrap(), [P, Q]);
    }

    #[test]
    fn every_ctrl_key_docker_names_has_its_code() {
        assert_eq!(parse_detach_keys("ctrl-@").unwrap(), [0]);
        assert_eq!(parse_detach_keys("ctrl-a,ctrl-z").unwrap(), [1, 26]);
        assert_eq!(
            parse_detach_keys("ctrl-[,ctrl-\\,ctrl-],ctrl-^,ctrl-_").unwrap(),
            [27, 28, 29, 30, 31]
        );
        assert_eq!(parse_detach_keys("DEL").unwrap(), [127]);
    }

    #[test]
    fn single_characters_stand_for_themselves() {
        assert_eq!(parse_detach_keys("a,b,Z,1,+").unwrap(), b"abZ1+");
    }

    #[test]
    fn an_empty_spec_disables_detaching() {
        assert_eq!(parse_detach_keys("").unwrap(), Vec::<u8>::new());
    }

    #[test]
    fn a_bad_key_is_named_in_the_error() {
        for (spec, bad) in [
            ("ctrl-p,ctrl-1", "ctrl-1"),
            ("ctrl-P", "ctrl-P"),
            ("ctrl-p,,ctrl-q", ""),
            ("ab", "ab"),
            ("é", "é"),
            ("ctrl-", "ctrl-"),
            ("ctrl-p,", ""),
        ] {
            let err = parse_detach_keys(spec).unwrap_err();
            match &err {
                AttachError::DetachKey { key, .. } => assert_eq!(key, bad, "{spec:?}"),
                other => panic!("{spec:?}: {other}"),
            }
            let text = err.to_string();
            assert!(text.contains(&format!("{bad:?}")), "{text}");
        }
    }

    #[test]
    fn plain_input_passes_through() {
        let mut m = DetachMatcher::new(&[P, Q]);
        assert_eq!(m.feed(b"echo hi\n"), Matched::Input(b"echo hi\n".to_vec()));
    }

    #[test]
    fn the_sequence_detaches_and_is_not_sent() {
        let mut m = DetachMatcher::new(&[P, Q]);
        assert_eq!(
            m.feed(&[b'x', P, Q, b'y']),
            Matched::Detach {
                before: b"x".to_vec()
            }
        );
    }

    #[test]
    fn the_sequence_split_across_reads_detaches() {
        let mut m = DetachMatcher::new(&[P, Q]);
        assert_eq!(m.feed(&[b'a', P]), Matched::Input(b"a".to_vec()));
        assert_eq!(m.feed(&[Q]), Matched::Detach { before: vec![] });
    }

    #[test]
    fn a_broken_sequence_sends_what_was_held() {
        let mut m = DetachMatcher::new(&[P, Q]);
        assert_eq!(m.feed(&[P]), Matched::Input(vec![]));
        assert_eq!(m.feed(b"a"), Matched::Input(vec![P, b'a']));
        assert_eq!(m.feed(&[P, b'b', Q]), Matched::Input(vec![P, b'b', Q]));
    }

    #[test]
    fn a_repeated_first_key_still_starts_the_sequence() {
        let mut m = DetachMatcher::new(&[P, Q]);
        assert_eq!(m.feed(&[P, P, Q]), Matched::Detach { before: vec![P] });
        let mut m = DetachMatcher::new(b"aab");
        assert_eq!(
            m.feed(b"aaab"),
            Matched::Detach {
                before: b"a".to_vec()
            }
        );
    }

    #[test]
    fn held_bytes_are_given_back_at_the_end_of_input() {
        let mut m = DetachMatcher::new(&[P, Q]);
        assert_eq!(m.feed(&[b'z', P]), Matched::Input(b"z".to_vec()));
        assert_eq!(m.take_held(), [P]);
        assert_eq!(m.take_held(), Vec::<u8>::new());
    }

    #[test]
    fn no_keys_never_detach() {
        let mut m = DetachMatcher::new(&[]);
        assert_eq!(m.feed(&[P, Q]), Matched::Input(vec![P, Q]));
        assert_eq!(m.take_held(), Vec::<u8>::new());
    }
}
