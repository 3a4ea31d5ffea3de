//! `WWW-Authenticate` challenges (RFC 7235) as registries send them:
//! `Bearer realm="https://auth.example/token",service="registry",scope="repository:a:pull"`
//! or `Basic realm="Registry Realm"`, possibly several in one header.
//!
//! The header comes from the network: the parser never fails and never panics; what
//! it cannot read is skipped, and a challenge that lacks what berth needs (a Bearer
//! without a realm) is refused where it is used, not here.

use std::fmt;

/// One challenge: its scheme, lowercased, and its parameters (names lowercased, values
/// unquoted), in the order sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    pub scheme: String,
    pub params: Vec<(String, String)>,
}

impl Challenge {
    /// The first value of parameter `name` (lowercase).
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn is_bearer(&self) -> bool {
        self.scheme == "bearer"
    }

    pub fn is_basic(&self) -> bool {
        self.scheme == "basic"
    }
}

impl fmt::Display for Challenge {
    /// The challenge as a header value, values quoted: what [`parse`] reads back.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.scheme)?;
        for (i, (name, value)) in self.params.iter().enumerate() {
            f.write_str(if i == 0 { " " } else { "," })?;
            write!(f, "{name}=\"")?;
            for c in value.chars() {
                if c == '"' || c == '\\' {
                    f.write_str("\\")?;
                }
                write!(f, "{c}")?;
            }
            f.write_str("\"")?;
        }
        Ok(())
    }
}

/// Every challenge of one `WWW-Authenticate` value.
pub fn parse(header: &str) -> Vec<Challenge> {
    let mut p = Parser {
        s: header.as_bytes(),
        i: 0,
    };
    let mut challenges = Vec::new();
    loop {
        p.skip(|b| b == b',' || is_space(b));
        if p.at_end() {
            break;
        }
        let scheme = p.token();
        if scheme.is_empty() {
            // Not a token where a scheme should start: skip the byte and resync.
            p.i += 1;
            continue;
        }
        let mut challenge = Challenge {
            scheme: scheme.to_ascii_lowercase(),
            params: Vec::new(),
        };
        loop {
            let before = p.i;
            p.skip(|b| b == b',' || is_space(b));
            let name = p.token();
            p.skip(is_space);
            if name.is_empty() || p.peek() != Some(b'=') {
                // Not `name=`: the next challenge's scheme (or garbage) starts here.
                p.i = before;
                break;
            }
            p.i += 1;
            p.skip(is_space);
            let value = if p.peek() == Some(b'"') {
                p.quoted()
            } else {
                p.bare_value()
            };
            challenge.params.push((name.to_ascii_lowercase(), value));
        }
        challenges.push(challenge);
    }
    challenges
}

/// Every challenge of every `WWW-Authenticate` header of a response.
pub fn parse_all<'h>(headers: impl IntoIterator<Item = &'h str>) -> Vec<Challenge> {
    headers.into_iter().flat_map(parse).collect()
}

struct Parser<'s> {
    s: &'s [u8],
    i: usize,
}

impl Parser<'_> {
    fn at_end(&self) -> bool {
        self.i >= self.s.len()
    }

    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn skip(&mut self, what: impl Fn(u8) -> bool) {
        while self.peek().is_some_and(&what) {
            self.i += 1;
        }
    }

    fn take(&mut self, what: impl Fn(u8) -> bool) -> String {
        let start = self.i;
        self.skip(what);
        // Stops only at ASCII bytes, so the slice is whole UTF-8 characters.
        String::from_utf8_lossy(&self.s[start..self.i]).into_owned()
    }

    fn token(&mut self) -> String {
        self.take(is_tchar)
    }

    /// An unquoted value. RFC 7235 allows a token (or token68, `abc==`); servers also
    /// send unquoted URLs, so it runs to the next comma or space.
    fn bare_value(&mut self) -> String {
        self.take(|b| b != b',' && !is_space(b))
    }

    /// A quoted string from its opening quote; an unterminated one runs to the end.
    fn quoted(&mut self) -> String {
        self.i += 1;
        let mut bytes = Vec::new();
        while let Some(b) = self.peek() {
            self.i += 1;
            match b {
                b'"' => break,
                b'\\' => {
                    if let Some(escaped) = self.peek() {
                        bytes.push(escaped);
                        self.i += 1;
                    }
                }
                _ => bytes.push(b),
            }
        }
        String::from_utf8_lossy(&bytes).into_owned()
    }
}

fn is_space(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

/// RFC 7230's tchar.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

#[cfg(test)]
mod tests;
