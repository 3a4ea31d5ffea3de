use super::*;

fn one(header: &str) -> Challenge {
    let mut all = parse(header);
    assert_eq!(all.len(), 1, "{header}: {all:?}");
    all.remove(0)
}

#[test]
fn a_bearer_challenge_as_docker_hub_sends_it() {
    let c = one(
        r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull""#,
    );
    assert!(c.is_bearer());
    assert_eq!(c.param("realm"), Some("https://auth.docker.io/token"));
    assert_eq!(c.param("service"), Some("registry.docker.io"));
    assert_eq!(c.param("scope"), Some("repository:library/busybox:pull"));
}

#[test]
fn basic_and_case_and_spacing() {
    let c = one(r#"basic   REALM = "Registry Realm" "#);
    assert!(c.is_basic());
    assert_eq!(c.param("realm"), Some("Registry Realm"));
    assert!(one("Basic").params.is_empty());
}

#[test]
fn commas_and_escapes_inside_quotes_stay_in_the_value() {
    let c = one(
        r#"Bearer realm="https://a/token?x=1,y=2",scope="repository:a:pull,push",error="say \"no\" \\ ok""#,
    );
    assert_eq!(c.param("realm"), Some("https://a/token?x=1,y=2"));
    assert_eq!(c.param("scope"), Some("repository:a:pull,push"));
    assert_eq!(c.param("error"), Some(r#"say "no" \ ok"#));
}

#[test]
fn several_challenges_in_one_header() {
    let all = parse(r#"Basic realm="r1", Bearer realm="https://t/token",service=s , Negotiate"#);
    let schemes: Vec<&str> = all.iter().map(|c| c.scheme.as_str()).collect();
    assert_eq!(schemes, ["basic", "bearer", "negotiate"]);
    assert_eq!(all[1].param("service"), Some("s"));
    assert_eq!(all[1].param("realm"), Some("https://t/token"));
}

#[test]
fn unquoted_urls_and_token68() {
    let c = one("Bearer realm=https://auth.example/token,service=reg");
    assert_eq!(c.param("realm"), Some("https://auth.example/token"));
    assert_eq!(c.param("service"), Some("reg"));
    let c = one("Basic token=abc==");
    assert_eq!(c.param("token"), Some("abc=="));
}

#[test]
fn garbage_is_skipped_never_a_panic() {
    for header in [
        "",
        ",,,",
        "=",
        "\"",
        "Bearer realm=\"unterminated",
        "Bearer realm=\"ends in a backslash\\",
        "Bearer ,,, realm=",
        "=== Basic",
        "Bearer \u{e9}t\u{e9}=\"caf\u{e9}\"",
        "@@@ Bearer realm=\"x\"",
    ] {
        let all = parse(header);
        for c in &all {
            assert!(!c.scheme.is_empty());
        }
    }
    assert_eq!(
        one("Bearer realm=\"unterminated").param("realm"),
        Some("unterminated")
    );
    assert_eq!(parse("@@@ Bearer realm=\"x\"")[0].param("realm"), Some("x"));
}

#[test]
fn a_challenge_written_out_reads_back_the_same() {
    let c = Challenge {
        scheme: "bearer".into(),
        params: vec![
            ("realm".into(), "https://a/t?x=\"1\",y=\\".into()),
            ("scope".into(), String::new()),
        ],
    };
    assert_eq!(parse(&c.to_string()), vec![c]);
}
