use super::*;

#[test]
fn next_page_links_stay_on_the_registry() {
    assert_eq!(
        next_link(r#"</v2/a/tags/list?n=2&last=b>; rel="next""#),
        Some("v2/a/tags/list?n=2&last=b".to_string())
    );
    assert_eq!(next_link(r#"<https://elsewhere/v2/x>; rel="next""#), None);
    assert_eq!(next_link(r#"<//elsewhere/v2/x>; rel="next""#), None);
    assert_eq!(next_link(r#"</v2/a>; rel="prev""#), None);
    assert_eq!(next_link("garbage"), None);
}

#[test]
fn manifest_media_type_from_header_or_body() {
    assert_eq!(
        manifest_media_type(Some(OCI_INDEX), b"{}"),
        OCI_INDEX.to_string()
    );
    let docker = crate::image::manifest::DOCKER_MANIFEST;
    assert_eq!(
        manifest_media_type(
            Some("application/json"),
            format!(r#"{{"mediaType":"{docker}"}}"#).as_bytes()
        ),
        docker
    );
    assert_eq!(manifest_media_type(None, br#"{"manifests":[]}"#), OCI_INDEX);
    assert_eq!(manifest_media_type(None, b"{}"), OCI_MANIFEST);
}

#[test]
fn digests_of_bytes() {
    assert_eq!(
        digest_of("sha256", b"").to_string(),
        "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    );
    assert_eq!(digest_of("sha512", b"x").algorithm(), "sha512");
}

#[test]
fn query_values_are_percent_encoded() {
    assert_eq!(encode_query("a/b c&d"), "a%2Fb%20c%26d");
}

#[test]
fn list_fields() {
    assert_eq!(
        list_field(br#"{"tags":["a","b"]}"#, "tags"),
        Ok(vec!["a".to_string(), "b".to_string()])
    );
    assert_eq!(list_field(br#"{"tags":null}"#, "tags"), Ok(vec![]));
    assert!(list_field(br#"{"tags":3}"#, "tags").is_err());
}

#[test]
fn a_client_for_docker_hub_talks_to_registry_1() {
    let client = Client::new("docker.io", ClientOptions::default()).unwrap();
    assert_eq!(client.host, "registry-1.docker.io");
    assert_eq!(client.domain(), "docker.io");
}
