//! Input layout: the first byte picks what the rest is: 0-3 a `WWW-Authenticate`
//! value (as one header, or split at newlines into several), 4 a registry's error
//! body, 5 a token server's response, 6 a `Link` header.

use berth_engine::registry::auth::token_from_body;
use berth_engine::registry::challenge::{self, Challenge};
use berth_engine::registry::{next_link, parse_error_body};

pub fn run(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    match mode % 8 {
        0 | 1 => challenges(&String::from_utf8_lossy(rest), false),
        2 | 3 => challenges(&String::from_utf8_lossy(rest), true),
        4 => error_body(rest),
        5 => {
            if let Ok(token) = token_from_body(rest) {
                assert!(!token.is_empty());
            }
        }
        _ => link(&String::from_utf8_lossy(rest)),
    }
}

fn is_tchar(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c)
}

fn challenges(text: &str, several_headers: bool) {
    let parsed: Vec<Challenge> = if several_headers {
        challenge::parse_all(text.split('\n'))
    } else {
        challenge::parse(text)
    };
    for c in &parsed {
        assert!(!c.scheme.is_empty(), "{parsed:?}");
        assert!(
            c.scheme
                .chars()
                .all(|ch| is_tchar(ch) && !ch.is_ascii_uppercase()),
            "{parsed:?}"
        );
        for (name, _) in &c.params {
            assert!(
                !name.is_empty()
                    && name
                        .chars()
                        .all(|ch| is_tchar(ch) && !ch.is_ascii_uppercase())
            );
        }
        // Written out, each challenge reads back as itself...
        let written = c.to_string();
        assert_eq!(challenge::parse(&written), vec![c.clone()], "{written:?}");
    }
    // ...and so does the whole list, in one header.
    let joined = parsed
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ");
    assert_eq!(challenge::parse(&joined), parsed, "{joined:?}");
}

fn error_body(body: &[u8]) {
    for e in parse_error_body(body) {
        for text in [&e.code, &e.message] {
            assert!(!text.chars().any(char::is_control), "{e:?}");
            assert!(text.chars().count() <= 203, "{e:?}");
        }
        assert!(!e.to_string().contains('\n'));
    }
}

fn link(header: &str) {
    if let Some(path) = next_link(header) {
        // Never another host: a path on the registry, not `//host` or a URL.
        assert!(!path.starts_with('/') && !path.contains('\\'), "{path:?}");
    }
}
