use super::*;

fn remote(code: &str, message: &str) -> RemoteError {
    RemoteError {
        code: code.into(),
        message: message.into(),
    }
}

#[test]
fn the_spec_error_body() {
    let body = br#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown","detail":{"Tag":"nope"}},{"code":"DENIED","message":"no"}]}"#;
    let errors = parse_error_body(body);
    assert_eq!(
        errors,
        vec![
            remote("MANIFEST_UNKNOWN", "manifest unknown"),
            remote("DENIED", "no")
        ]
    );
    assert_eq!(errors[0].to_string(), "manifest unknown: manifest unknown");
}

#[test]
fn token_server_bodies_and_text() {
    assert_eq!(
        parse_error_body(br#"{"details":"incorrect username or password"}"#),
        vec![remote("", "incorrect username or password")]
    );
    assert_eq!(
        parse_error_body(br#"{"error":"invalid_grant"}"#),
        vec![remote("", "invalid_grant")]
    );
    assert_eq!(
        parse_error_body(b"\n  <html>\r\n<body>bad gateway</body>"),
        vec![remote("", "<html>")]
    );
    assert!(parse_error_body(b"").is_empty());
    assert!(parse_error_body(b"{}").is_empty());
    assert!(parse_error_body(br#"{"errors":[{}]}"#).is_empty());
}

#[test]
fn odd_values_become_one_short_line() {
    let errors = parse_error_body(br#"{"errors":[{"code":7,"message":"a\nb\u0000c"}]}"#);
    assert_eq!(errors, vec![remote("7", "a b c")]);
    let long = format!(
        r#"{{"errors":[{{"code":"X","message":"{}"}}]}}"#,
        "y".repeat(5000)
    );
    let errors = parse_error_body(long.as_bytes());
    assert!(errors[0].message.chars().count() <= TEXT_MAX + 3);
}

#[test]
fn messages_read_as_dockers() {
    let e = RegistryError::PullAccessDenied {
        registry: "docker.io".into(),
        repository: "nope".into(),
        status: 401,
        remote: vec![remote("UNAUTHORIZED", "authentication required")],
    };
    assert_eq!(
        e.to_string(),
        "pull access denied for nope, repository does not exist or may require 'docker login': \
         unauthorized: authentication required"
    );
    let e = RegistryError::ManifestUnknown {
        registry: "r".into(),
        repository: "a".into(),
        reference: "a:nope".into(),
        remote: vec![remote("MANIFEST_UNKNOWN", "manifest unknown")],
    };
    assert_eq!(
        e.to_string(),
        "manifest for a:nope not found: manifest unknown: manifest unknown"
    );
    let e = RegistryError::Status {
        registry: "r:5000".into(),
        repository: Some("a".into()),
        action: "PUT manifest a:1".into(),
        status: 502,
        remote: vec![],
    };
    assert_eq!(
        e.to_string(),
        "r:5000: PUT manifest a:1 (repository a): 502 Bad Gateway"
    );
    assert!(e.is_transient());
}
