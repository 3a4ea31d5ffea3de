use super::*;

const SHA: &str = "sha256:9ae97d36d26566ff84e8893c64a6dc4fe8ca6d1144bf5b87b2b85a32def253c7";

fn parse(text: &str) -> Reference {
    Reference::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"))
}

fn problem(text: &str) -> Problem {
    match Reference::parse(text) {
        Ok(r) => panic!("{text} parsed as {r}"),
        Err(e) => {
            assert_eq!(e.input, text);
            e.problem
        }
    }
}

#[test]
fn a_bare_name_is_an_official_hub_image_at_latest() {
    let r = parse("busybox");
    assert_eq!(r.to_string(), "docker.io/library/busybox:latest");
    assert_eq!(r.domain(), "docker.io");
    assert_eq!(r.path(), "library/busybox");
    assert_eq!(r.tag(), Some("latest"));
    assert_eq!(r.familiar(), "busybox:latest");
    assert_eq!(r.familiar_name(), "busybox");
}

#[test]
fn hub_user_images_and_the_legacy_hub_name() {
    assert_eq!(
        parse("jamtur01/static_web:v1").to_string(),
        "docker.io/jamtur01/static_web:v1"
    );
    assert_eq!(
        parse("jamtur01/static_web").familiar(),
        "jamtur01/static_web:latest"
    );
    assert_eq!(
        parse("index.docker.io/ubuntu:12.04").to_string(),
        "docker.io/library/ubuntu:12.04"
    );
    assert_eq!(
        parse("docker.io/library/ubuntu").familiar(),
        "ubuntu:latest"
    );
    // A Hub path that starts like a host keeps docker.io/ (Docker's familiar form would
    // name the registry example.com).
    let r = parse("docker.io/example.com/app");
    assert_eq!(r.familiar(), "docker.io/example.com/app:latest");
    assert_eq!(parse(&r.familiar()), r);
    // library/ is dropped only from one-component official names.
    assert_eq!(parse("library/a/b").familiar_name(), "library/a/b");
}

#[test]
fn a_registry_host_with_a_port_is_not_a_tag() {
    let r = parse("localhost:5000/team/app:1.0");
    assert_eq!(r.domain(), "localhost:5000");
    assert_eq!(r.path(), "team/app");
    assert_eq!(r.tag(), Some("1.0"));
    assert_eq!(r.familiar(), "localhost:5000/team/app:1.0");
    assert_eq!(
        parse("127.0.0.1:5000/app").to_string(),
        "127.0.0.1:5000/app:latest"
    );
    assert_eq!(parse("localhost/app").domain(), "localhost");
    assert_eq!(
        parse("registry.example.com/app").domain(),
        "registry.example.com"
    );
    assert_eq!(parse("[::1]:5000/app").domain(), "[::1]:5000");
    // Docker's rule: without '.', ':' or localhost the first component is a Hub user.
    assert_eq!(
        parse("myhost/app").to_string(),
        "docker.io/myhost/app:latest"
    );
    // A tag alone after a one-component name: `localhost:5000` is library/localhost.
    assert_eq!(
        parse("localhost:5000").to_string(),
        "docker.io/library/localhost:5000"
    );
}

#[test]
fn digests_with_and_without_a_tag() {
    let r = parse(&format!("busybox@{SHA}"));
    assert_eq!(r.tag(), None);
    assert_eq!(r.digest().map(|d| d.to_string()), Some(SHA.to_string()));
    assert_eq!(r.familiar(), format!("busybox@{SHA}"));
    let r = parse(&format!("localhost:5000/app:v2@{SHA}"));
    assert_eq!(r.tag(), Some("v2"));
    assert_eq!(r.to_string(), format!("localhost:5000/app:v2@{SHA}"));
    let d = r
        .digest()
        .map(|d| (d.algorithm().to_string(), d.hex().len()));
    assert_eq!(d, Some(("sha256".to_string(), 64)));
    let sha512 = format!("sha512:{}", "ab".repeat(64));
    assert_eq!(
        parse(&format!("app@{sha512}"))
            .digest()
            .map(|d| d.to_string()),
        Some(sha512)
    );
}

#[test]
fn separators_inside_path_components() {
    for good in ["a.b", "a_b", "a__b", "a-b", "a---b", "a0/b1.c_d__e-f"] {
        parse(good);
    }
    for bad in [
        "a..b", "a___b", "a._b", "a.", "_a", "-a", "a-", "a//b", "/a", "a/",
    ] {
        assert!(
            matches!(problem(bad), Problem::Component { .. }),
            "{bad}: {:?}",
            problem(bad)
        );
    }
}

#[test]
fn uppercase_repositories_are_refused_uppercase_hosts_are_not() {
    assert_eq!(
        problem("Busybox"),
        Problem::Uppercase {
            repository: "library/Busybox".into()
        }
    );
    assert!(matches!(problem("user/App"), Problem::Uppercase { .. }));
    assert_eq!(
        parse("Registry.Example.com/app").domain(),
        "Registry.Example.com"
    );
}

#[test]
fn bad_tags() {
    assert_eq!(problem("busybox:"), Problem::Tag { tag: String::new() });
    assert!(matches!(problem("busybox:.x"), Problem::Tag { .. }));
    assert!(matches!(problem("busybox:-x"), Problem::Tag { .. }));
    assert!(matches!(problem("busybox:a+b"), Problem::Tag { .. }));
    assert!(matches!(
        problem(&format!("busybox:{}", "t".repeat(129))),
        Problem::Tag { .. }
    ));
    parse(&format!("busybox:{}", "t".repeat(128)));
    parse("busybox:Latest_1.0-rc");
}

#[test]
fn bad_digests() {
    let digest = |text: &str| match problem(text) {
        Problem::Digest(d) => d,
        other => panic!("{text}: {other:?}"),
    };
    assert_eq!(digest("busybox@"), DigestProblem::NoAlgorithm);
    assert_eq!(digest("busybox@abc"), DigestProblem::NoAlgorithm);
    assert_eq!(
        digest("busybox@md5:abc"),
        DigestProblem::UnsupportedAlgorithm("md5".into())
    );
    assert!(matches!(
        digest("busybox@sha256:abc"),
        DigestProblem::Hex { length: 64, .. }
    ));
    let upper = format!("busybox@sha256:{}", "A".repeat(64));
    assert!(matches!(digest(&upper), DigestProblem::Hex { .. }));
}

#[test]
fn empty_image_ids_bad_hosts_and_long_names() {
    assert_eq!(problem(""), Problem::Empty);
    assert_eq!(problem(":tag"), Problem::Empty);
    assert_eq!(problem(&"0123456789abcdef".repeat(4)), Problem::ImageId);
    assert!(matches!(
        problem("bad_host.com/app"),
        Problem::Domain { .. }
    ));
    assert!(matches!(problem("-host.com/app"), Problem::Domain { .. }));
    assert!(matches!(
        problem("host.com:port/app"),
        Problem::Domain { .. }
    ));
    assert!(matches!(problem("[::zz]:5000/app"), Problem::Domain { .. }));
    assert!(matches!(problem("[::1]x/app"), Problem::Domain { .. }));
    let long = format!("a/{}", "b".repeat(250));
    assert!(matches!(problem(&long), Problem::TooLong { length: 262 }));
    assert!(matches!(problem("busy box"), Problem::Component { .. }));
}

#[test]
fn errors_name_the_reference_in_one_line() {
    let e = Reference::parse("Busybox:latest").map(|_| ()).unwrap_err();
    let text = e.to_string();
    assert_eq!(
        text,
        "invalid reference format \"Busybox:latest\": repository name (library/Busybox) must be lowercase"
    );
    for bad in ["", "a..b", "busybox:", "x@md5:1", "bad_host.com/x"] {
        let text = Reference::parse(bad).map(|_| ()).unwrap_err().to_string();
        assert!(!text.contains('\n'), "{text}");
        assert!(text.contains(&format!("{bad:?}")), "{text}");
    }
}

#[test]
fn with_tag_keeps_the_repository_and_drops_the_digest() {
    let r = parse(&format!("localhost:5000/app:v1@{SHA}"));
    let t = r.with_tag("v2").map(|t| t.to_string());
    assert_eq!(t, Ok("localhost:5000/app:v2".to_string()));
    assert!(r.with_tag("bad tag").is_err());
    assert_eq!("busybox".parse::<Reference>(), Ok(parse("busybox")));
}
