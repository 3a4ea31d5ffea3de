//! Deserialising JSON with errors that name where the bad value is, as a
//! path (`linux.namespaces[1].type`), without a path-tracking deserializer:
//! that would double the code run for every field of every document (the
//! runtime's resident memory is mostly its own code), so the path is worked
//! out from the error's position, and only once there is an error.

use serde::de::DeserializeOwned;

/// Parses `bytes`; the error says what was wrong and at which JSON path.
pub fn from_slice<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, String> {
    serde_json::from_slice(bytes).map_err(|e| describe(bytes, &e))
}

fn describe(bytes: &[u8], error: &serde_json::Error) -> String {
    let message = strip_position(&error.to_string());
    match error.classify() {
        serde_json::error::Category::Syntax | serde_json::error::Category::Eof => {
            format!("invalid JSON: {}", error)
        }
        _ => {
            let path = path_at(bytes, offset_of(bytes, error.line(), error.column()));
            if path.is_empty() {
                format!("invalid value: {message}")
            } else {
                format!("invalid value at {path}: {message}")
            }
        }
    }
}

/// serde_json appends " at line L column C"; the path says it better.
fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(at) => message[..at].to_string(),
        None => message.to_string(),
    }
}

/// Byte offset of a 1-based line and column.
fn offset_of(bytes: &[u8], line: usize, column: usize) -> usize {
    let mut offset = 0;
    for _ in 1..line {
        match bytes[offset..].iter().position(|&b| b == b'\n') {
            Some(newline) => offset += newline + 1,
            None => return bytes.len(),
        }
    }
    (offset + column).min(bytes.len())
}

enum Frame {
    Object { key: Option<String> },
    Array { index: usize },
}

/// The path of the value being read when `offset` bytes have been consumed.
pub fn path_at(bytes: &[u8], offset: usize) -> String {
    let mut stack: Vec<Frame> = Vec::new();
    let mut i = 0;
    let end = offset.min(bytes.len());
    while i < end {
        match bytes[i] {
            b'{' => stack.push(Frame::Object { key: None }),
            b'[' => stack.push(Frame::Array { index: 0 }),
            b'}' | b']' => {
                stack.pop();
            }
            b',' => match stack.last_mut() {
                Some(Frame::Array { index }) => *index += 1,
                Some(Frame::Object { key }) => *key = None,
                None => {}
            },
            b'"' => {
                let start = i + 1;
                i = start;
                while i < bytes.len() && bytes[i] != b'"' {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
                if let Some(Frame::Object { key }) = stack.last_mut() {
                    if key.is_none() {
                        let text = &bytes[start..i.min(bytes.len())];
                        *key = Some(String::from_utf8_lossy(text).into_owned());
                    }
                }
            }
            _ => {}
        }
        i += 1;
    }
    let mut path = String::new();
    for frame in &stack {
        match frame {
            Frame::Object { key: Some(key) } => {
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(key);
            }
            Frame::Object { key: None } => {}
            Frame::Array { index } => path.push_str(&format!("[{index}]")),
        }
    }
    path
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Inner {
        kind: u32,
    }

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Outer {
        name: String,
        items: Vec<Inner>,
    }

    #[test]
    fn names_the_path_of_a_wrong_type_in_an_array() {
        let text = b"{\"name\": \"x\", \"items\": [{\"kind\": 1}, {\"kind\": \"two\"}]}";
        let err = from_slice::<Outer>(text).unwrap_err();
        assert!(err.starts_with("invalid value at items[1].kind: "), "{err}");
    }

    #[test]
    fn keys_with_escapes_and_nested_strings_do_not_confuse_it() {
        let text = b"{\"name\": \"a\\\"b,[{\", \"items\": [{\"kind\": -1}]}";
        let err = from_slice::<Outer>(text).unwrap_err();
        assert!(err.starts_with("invalid value at items[0].kind: "), "{err}");
    }

    #[test]
    fn a_missing_field_names_its_object() {
        let err = from_slice::<Outer>(b"{\"name\": \"x\", \"items\": [{}]}").unwrap_err();
        assert!(
            err.contains("items[0]") && err.contains("missing field `kind`"),
            "{err}"
        );
    }

    #[test]
    fn syntax_errors_say_so() {
        let err = from_slice::<Outer>(b"{\"name\": ").unwrap_err();
        assert!(err.starts_with("invalid JSON"), "{err}");
    }
}
