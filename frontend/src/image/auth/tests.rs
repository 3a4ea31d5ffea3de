use super::*;
use std::os::unix::fs::MetadataExt;

fn creds(user: &str, password: &str) -> Credentials {
    Credentials {
        username: user.into(),
        password: password.into(),
    }
}

#[test]
fn reads_what_docker_login_wrote() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.json");
    // dXNlcjpwYTpzcw== is "user:pa:ss": the password may hold a colon.
    fs::write(
        &path,
        r#"{"auths":{"https://index.docker.io/v1/":{"auth":"dXNlcjpwYTpzcw=="},
            "localhost:5000":{"auth":"YWxpY2U6c2VjcmV0"},
            "https://registry.example.com/v2/":{"auth":"Ym9iOnB3"}},
           "credsStore":"desktop","currentContext":"default"}"#,
    )
    .unwrap();
    let file = AuthFile::load(&path).unwrap();
    assert_eq!(file.credentials("docker.io"), Some(creds("user", "pa:ss")));
    assert_eq!(
        file.credentials("localhost:5000"),
        Some(creds("alice", "secret"))
    );
    assert_eq!(
        file.credentials("registry.example.com"),
        Some(creds("bob", "pw"))
    );
    assert_eq!(file.credentials("localhost:5001"), None);
}

#[test]
fn login_and_logout_keep_the_rest_of_the_file_and_mode_0600() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sub").join("config.json");
    let mut file = AuthFile::load(&path).unwrap();
    assert_eq!(file.credentials("docker.io"), None);
    file.set("docker.io", &creds("me", "one"));
    file.set("127.0.0.1:5000", &creds("you", "two"));
    file.save().unwrap();
    assert_eq!(fs::metadata(&path).unwrap().mode() & 0o777, 0o600);
    assert_eq!(
        fs::metadata(path.parent().unwrap()).unwrap().mode() & 0o777,
        0o700
    );
    let text = fs::read_to_string(&path).unwrap();
    assert!(text.contains("\"https://index.docker.io/v1/\""), "{text}");

    // Another tool's keys survive a login and a logout.
    let mut doc: Value = serde_json::from_str(&text).unwrap();
    doc["credHelpers"] = serde_json::json!({"gcr.io": "gcloud"});
    fs::write(&path, doc.to_string()).unwrap();
    let mut file = AuthFile::load(&path).unwrap();
    file.set("docker.io", &creds("me", "three"));
    assert!(file.remove("127.0.0.1:5000"));
    assert!(!file.remove("127.0.0.1:5000"));
    file.save().unwrap();
    let file = AuthFile::load(&path).unwrap();
    assert_eq!(file.credentials("docker.io"), Some(creds("me", "three")));
    assert_eq!(file.credentials("127.0.0.1:5000"), None);
    let doc: Value = serde_json::from_str(&fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(doc["credHelpers"]["gcr.io"], "gcloud");
    // No temp file left beside it.
    let names: Vec<_> = fs::read_dir(path.parent().unwrap())
        .unwrap()
        .flatten()
        .collect();
    assert_eq!(names.len(), 1);
}

#[test]
fn a_damaged_file_is_an_error_naming_it_and_is_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.json");
    for bad in ["{", "[]", r#"{"auths":[]}"#] {
        fs::write(&path, bad).unwrap();
        let err = AuthFile::load(&path).unwrap_err().to_string();
        assert!(err.starts_with(&path.display().to_string()), "{err}");
        assert_eq!(fs::read_to_string(&path).unwrap(), bad);
    }
    fs::write(&path, "  \n").unwrap();
    assert!(AuthFile::load(&path).is_ok());
}

#[test]
fn unreadable_entries_are_no_credentials() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.json");
    fs::write(
        &path,
        r#"{"auths":{"a.io":{"auth":"!!!"},"b.io":{"auth":"bm9jb2xvbg=="},"c.io":{}}}"#,
    )
    .unwrap();
    let file = AuthFile::load(&path).unwrap();
    for domain in ["a.io", "b.io", "c.io"] {
        assert_eq!(file.credentials(domain), None, "{domain}");
    }
}

#[test]
fn keys_name_their_registry() {
    assert_eq!(key_domain("https://index.docker.io/v1/"), "docker.io");
    assert_eq!(key_domain("index.docker.io"), "docker.io");
    assert_eq!(key_domain("http://localhost:5000"), "localhost:5000");
    assert_eq!(key_domain("localhost:5000"), "localhost:5000");
    assert_eq!(key_for("docker.io"), HUB_KEY);
    assert_eq!(key_for("localhost:5000"), "localhost:5000");
}

#[test]
fn a_login_names_its_registry_by_host() {
    assert_eq!(login_domain(None), "docker.io");
    assert_eq!(
        login_domain(Some("https://index.docker.io/v1/")),
        "docker.io"
    );
    assert_eq!(login_domain(Some("127.0.0.1:5000")), "127.0.0.1:5000");
    assert_eq!(
        login_domain(Some("http://127.0.0.1:5000/v2/")),
        "127.0.0.1:5000"
    );
    assert_eq!(login_domain(Some("")), "docker.io");
}
