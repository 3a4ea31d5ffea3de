use super::*;

#[test]
fn digests_of_bytes() {
    assert_eq!(
        digest_of("sha256", b"").to_string(),
        "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    );
    assert_eq!(digest_of("sha512", b"x").algorithm(), "sha512");
}

#[test]
fn a_client_for_docker_hub_talks_to_registry_1() {
    let client = Client::new("docker.io", ClientOptions::default()).unwrap();
    assert_eq!(client.host, "registry-1.docker.io");
    assert_eq!(client.domain(), "docker.io");
}

#[test]
fn options_never_show_the_password() {
    let options = ClientOptions {
        credentials: CredentialSource::Explicit(Credentials {
            username: "alice".into(),
            password: "hunter2".into(),
        }),
        ..ClientOptions::default()
    };
    let shown = format!("{options:?}");
    assert!(
        shown.contains("alice") && !shown.contains("hunter2"),
        "{shown}"
    );
}
