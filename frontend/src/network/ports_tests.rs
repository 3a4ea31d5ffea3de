use super::*;

fn one(spec: &str) -> Vec<(String, String, String)> {
    parse_publish(spec)
        .unwrap()
        .into_iter()
        .map(|(k, b)| (k, b.host_ip, b.host_port))
        .collect()
}

fn s(k: &str, ip: &str, port: &str) -> (String, String, String) {
    (k.to_string(), ip.to_string(), port.to_string())
}

#[test]
fn publish_specs_parse_as_dockers() {
    assert_eq!(one("8080:80"), [s("80/tcp", "", "8080")]);
    assert_eq!(
        one("127.0.0.1:8080:80/udp"),
        [s("80/udp", "127.0.0.1", "8080")]
    );
    assert_eq!(one("127.0.0.1::80"), [s("80/tcp", "127.0.0.1", "")]);
    assert_eq!(one("80"), [s("80/tcp", "", "")]);
    assert_eq!(one("53/UDP"), [s("53/udp", "", "")]);
    assert_eq!(
        one("8000-8002:80-82"),
        [
            s("80/tcp", "", "8000"),
            s("81/tcp", "", "8001"),
            s("82/tcp", "", "8002")
        ]
    );
    assert_eq!(one("8000-8010:80"), [s("80/tcp", "", "8000-8010")]);
    assert_eq!(one("[::1]:8080:80"), [s("80/tcp", "::1", "8080")]);
}

#[test]
fn bad_publish_specs_give_dockers_errors() {
    let err = |spec: &str| parse_publish(spec).unwrap_err().to_string();
    assert_eq!(err("8080:"), "no port specified: 8080:<empty>");
    assert_eq!(err("80/sctpx"), "invalid proto: sctpx");
    assert_eq!(err("1.2.3:80:80"), "invalid IP address: 1.2.3");
    assert_eq!(err("8080:http"), "invalid containerPort: http");
    assert_eq!(err("8080:70000"), "invalid containerPort: 70000");
    assert_eq!(err("x:80"), "invalid hostPort: x");
    assert_eq!(
        err("8000-8001:80-82"),
        "invalid ranges specified for container and host Ports: 80-82 and 8000-8001"
    );
}

#[test]
fn expose_takes_ports_and_ranges() {
    assert_eq!(parse_expose("80").unwrap(), ["80/tcp"]);
    assert_eq!(parse_expose("53/udp").unwrap(), ["53/udp"]);
    assert_eq!(parse_expose("7-8").unwrap(), ["7/tcp", "8/tcp"]);
    assert_eq!(
        parse_expose("1:2").unwrap_err().to_string(),
        "invalid port format for --expose: 1:2"
    );
    assert!(parse_expose("x").is_err());
}

#[test]
fn bindings_combine_publish_and_publish_all() {
    let (exposed, port_bindings) = parse_publish_all(&[
        "127.0.0.1:8080:80".to_string(),
        "9000-9001:90-91/udp".to_string(),
    ])
    .unwrap();
    assert_eq!(exposed.len(), 3);
    let json = serde_json::to_value(&port_bindings).unwrap();
    assert_eq!(
        json["80/tcp"],
        serde_json::json!([{"HostIp": "127.0.0.1", "HostPort": "8080"}])
    );
    let mut host = HostConfig {
        port_bindings,
        ..HostConfig::default()
    };
    let config = Config {
        exposed_ports: Some(
            ["80/tcp", "443/tcp"]
                .map(|k| (k.to_string(), EmptyObject {}))
                .into(),
        ),
        ..Config::default()
    };
    let b = bindings(&config, &host).unwrap();
    assert_eq!(b.len(), 3);
    assert_eq!(b[0].host_port, HostPorts::Range(8080, 8080));
    assert_eq!(b[0].host_ip, Ipv4Addr::LOCALHOST);
    assert_eq!(b[2].container_port, 91);
    assert_eq!(b[2].host_port, HostPorts::Range(9001, 9001));
    host.publish_all_ports = true;
    let b = bindings(&config, &host).unwrap();
    assert_eq!(b.len(), 4);
    assert_eq!(
        b[3],
        Binding {
            protocol: Protocol::Tcp,
            container_port: 443,
            host_ip: Ipv4Addr::UNSPECIFIED,
            host_port: HostPorts::Any
        }
    );
}

fn store_with(ids: &[&str]) -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path()).unwrap();
    for id in ids {
        let row = crate::store::containers::ContainerRow {
            id: id.to_string(),
            name: format!("c-{id}"),
            image_id: "sha256:00".to_string(),
            image_name: "busybox".to_string(),
            created: "2026-12-06T00:00:00Z".to_string(),
            config: "{}".to_string(),
            host_config: "{}".to_string(),
            path: "sh".to_string(),
            args: "[]".to_string(),
            started_at: String::new(),
            complete: true,
        };
        assert!(store.insert_container(&row).unwrap());
    }
    (dir, store)
}

fn fixed(ip: Ipv4Addr, port: u16) -> Binding {
    Binding {
        protocol: Protocol::Tcp,
        container_port: 80,
        host_ip: ip,
        host_port: HostPorts::Range(port, port),
    }
}

/// A port no process holds now: the kernel's choice for a port-0 bind.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn a_host_port_is_published_by_one_container_at_a_time() {
    let (_dir, mut store) = store_with(&["aaaa", "bbbb"]);
    let port = free_port();
    let got = reserve_ports(&mut store, "aaaa", &[fixed(Ipv4Addr::UNSPECIFIED, port)]).unwrap();
    assert_eq!(got[0].host_port, port);
    let err = reserve_ports(&mut store, "bbbb", &[fixed(Ipv4Addr::LOCALHOST, port)])
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with(&format!(
            "Bind for 127.0.0.1:{port} failed: port is already allocated"
        )),
        "{err}"
    );
    assert!(err.contains("aaaa"), "{err}");
    // Nothing of the failed reservation stays.
    assert!(ports_of(&store, "bbbb").unwrap().is_empty());
    assert_eq!(release_ports(&mut store, "aaaa").unwrap().len(), 1);
    reserve_ports(&mut store, "bbbb", &[fixed(Ipv4Addr::LOCALHOST, port)]).unwrap();
}

#[test]
fn a_port_a_process_listens_on_is_refused() {
    let (_dir, mut store) = store_with(&["aaaa"]);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let err = reserve_ports(&mut store, "aaaa", &[fixed(Ipv4Addr::LOCALHOST, port)])
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with(&format!("Bind for 127.0.0.1:{port} failed")),
        "{err}"
    );
    drop(listener);
}

#[test]
fn random_ports_come_from_the_ephemeral_range_and_differ() {
    let (_dir, mut store) = store_with(&["aaaa"]);
    let any = Binding {
        protocol: Protocol::Tcp,
        container_port: 80,
        host_ip: Ipv4Addr::LOCALHOST,
        host_port: HostPorts::Any,
    };
    let mut other = any;
    other.container_port = 81;
    let got = reserve_ports(&mut store, "aaaa", &[any, other]).unwrap();
    let range = ephemeral_range();
    assert!(range.contains(&got[0].host_port) && range.contains(&got[1].host_port));
    assert_ne!(got[0].host_port, got[1].host_port);
    let map = port_map(&ports_of(&store, "aaaa").unwrap(), None);
    assert_eq!(
        serde_json::to_value(&map).unwrap()["80/tcp"],
        serde_json::json!([{"HostIp": "127.0.0.1", "HostPort": got[0].host_port.to_string()}])
    );
}

#[test]
fn exposed_ports_without_a_binding_map_to_null() {
    let exposed: BTreeMap<String, EmptyObject> = [("443/tcp".to_string(), EmptyObject {})].into();
    let map = port_map(&[], Some(&exposed));
    assert_eq!(serde_json::to_string(&map).unwrap(), r#"{"443/tcp":null}"#);
}
