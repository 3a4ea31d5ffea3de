use super::*;

fn none() -> Vec<String> {
    Vec::new()
}

#[test]
fn docker_hub_is_reached_at_registry_1() {
    assert_eq!(endpoint_host("docker.io"), "registry-1.docker.io");
    assert_eq!(endpoint_host("index.docker.io"), "registry-1.docker.io");
    assert_eq!(endpoint_host("quay.io"), "quay.io");
    assert_eq!(endpoint_host("localhost:5000"), "localhost:5000");
}

#[test]
fn loopback_hosts_may_use_plain_http() {
    for host in [
        "localhost",
        "localhost:5000",
        "LOCALHOST:5000",
        "127.0.0.1",
        "127.0.0.1:5000",
        "127.9.8.7:443",
        "[::1]",
        "[::1]:5000",
    ] {
        assert!(plain_http_allowed(host, &none()), "{host}");
    }
}

#[test]
fn plain_http_is_refused_for_a_host_neither_loopback_nor_insecure() {
    for host in [
        "registry-1.docker.io",
        "quay.io:443",
        "10.0.0.5:5000",
        "128.0.0.1",
        "localhost.example.com",
        "[::2]:5000",
        "127.0.0.1.nip.io",
    ] {
        assert!(!plain_http_allowed(host, &none()), "{host}");
    }
}

#[test]
fn insecure_registries_allow_plain_http_by_name_or_range() {
    let insecure = vec![
        "myregistry:5000".to_string(),
        "other.example".to_string(),
        "10.1.0.0/16".to_string(),
        "fd00::/8".to_string(),
    ];
    assert!(plain_http_allowed("myregistry:5000", &insecure));
    assert!(!plain_http_allowed("myregistry:5001", &insecure));
    assert!(plain_http_allowed("other.example:8080", &insecure));
    assert!(plain_http_allowed("10.1.200.3:5000", &insecure));
    assert!(!plain_http_allowed("10.2.0.1:5000", &insecure));
    assert!(plain_http_allowed("[fd12::1]:5000", &insecure));
    assert!(!plain_http_allowed("myregistry", &insecure));
}

#[test]
fn redirects_and_realms_keep_to_the_same_rule() {
    let url = |s: &str| Url::parse(s).unwrap();
    assert!(scheme_allowed(&url("https://s3.example/blob"), &none()));
    assert!(!scheme_allowed(&url("http://s3.example/blob"), &none()));
    assert!(scheme_allowed(&url("http://127.0.0.1:9/blob"), &none()));
    assert!(!scheme_allowed(&url("ftp://127.0.0.1/blob"), &none()));
    assert_eq!(authority(&url("http://[::1]:5000/v2/")), "[::1]:5000");
    assert_eq!(authority(&url("https://quay.io/v2/")), "quay.io");
}

#[test]
fn origins_differ_by_scheme_host_or_port() {
    let url = |s: &str| Url::parse(s).unwrap();
    assert!(same_origin(
        &url("https://r.example/v2/a"),
        &url("https://r.example:443/v2/b")
    ));
    assert!(!same_origin(
        &url("https://r.example/v2/a"),
        &url("http://r.example/v2/a")
    ));
    assert!(!same_origin(
        &url("http://127.0.0.1:5000/"),
        &url("http://127.0.0.1:5001/")
    ));
    assert!(!same_origin(
        &url("https://r.example/"),
        &url("https://storage.example/")
    ));
}
