use super::*;

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
