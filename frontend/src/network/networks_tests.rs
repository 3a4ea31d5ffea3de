use super::*;
use crate::store::containers::ContainerRow;

fn store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    (dir, store)
}

fn add_container(store: &mut Store, id: &str) {
    let row = ContainerRow {
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

fn request(name: &str, subnet: Option<&str>) -> CreateRequest {
    CreateRequest {
        name: name.to_string(),
        subnet: subnet.map(str::to_string),
        ..CreateRequest::default()
    }
}

#[test]
fn the_default_bridge_is_made_once_on_first_use() {
    let (_dir, mut store) = store();
    let first = ensure_default(&mut store).unwrap();
    let again = ensure_default(&mut store).unwrap();
    assert_eq!(first, again);
    assert_eq!(first.bridge, "berth0");
    assert_eq!(first.subnet.to_string(), "172.17.0.0/16");
    assert_eq!(first.gateway.to_string(), "172.17.0.1");
    assert_eq!(list(&mut store).unwrap().len(), 1);
}

#[test]
fn user_networks_get_the_next_free_pool_and_a_bridge_named_after_their_id() {
    let (_dir, mut store) = store();
    let a = create(&mut store, &request("a", None)).unwrap();
    let b = create(&mut store, &request("b", None)).unwrap();
    assert_eq!(a.subnet.to_string(), "172.18.0.0/16");
    assert_eq!(a.gateway.to_string(), "172.18.0.1");
    assert_eq!(b.subnet.to_string(), "172.19.0.0/16");
    assert_eq!(a.bridge, format!("br-{}", &a.id[..12]));
    assert_eq!(a.id.len(), 64);
    remove(&mut store, "a").unwrap();
    let c = create(&mut store, &request("c", None)).unwrap();
    assert_eq!(c.subnet.to_string(), "172.18.0.0/16");
}

#[test]
fn names_subnets_and_drivers_are_checked() {
    let (_dir, mut store) = store();
    create(&mut store, &request("n", Some("10.10.0.0/16"))).unwrap();
    let err = |r: CreateRequest, store: &mut Store| create(store, &r).unwrap_err().to_string();
    assert_eq!(
        err(request("n", None), &mut store),
        "network with name n already exists"
    );
    assert_eq!(
        err(request("host", None), &mut store),
        "network with name host already exists"
    );
    let overlap = err(request("m", Some("10.10.5.0/24")), &mut store);
    assert!(
        overlap.starts_with(
            "invalid pool request: Pool overlaps with other one on this address space"
        ),
        "{overlap}"
    );
    assert!(overlap.contains("network n"), "{overlap}");
    assert!(err(request("m", Some("172.17.0.0/24")), &mut store).contains("network bridge"));
    assert_eq!(
        err(request("m", Some("10.20.0.0/33")), &mut store),
        "invalid CIDR address: 10.20.0.0/33"
    );
    let mut gw = request("m", Some("10.20.0.0/16"));
    gw.gateway = Some("10.21.0.1".to_string());
    assert_eq!(
        err(gw.clone(), &mut store),
        "no matching subnet for gateway 10.21.0.1"
    );
    gw.subnet = None;
    assert!(matches!(
        create(&mut store, &gw),
        Err(NetworkError::GatewayWithoutSubnet)
    ));
    let mut driver = request("m", None);
    driver.driver = Some("macvlan".to_string());
    assert!(matches!(
        create(&mut store, &driver),
        Err(NetworkError::UnsupportedDriver(_))
    ));
    assert!(matches!(
        create(&mut store, &request("-bad", None)),
        Err(NetworkError::InvalidName(_))
    ));
    let mut good = request("m", Some("10.20.0.0/16"));
    good.gateway = Some("10.20.255.254".to_string());
    assert_eq!(
        create(&mut store, &good).unwrap().gateway.to_string(),
        "10.20.255.254"
    );
}

#[test]
fn networks_are_found_by_id_name_and_unique_prefix() {
    let (_dir, mut store) = store();
    let n = create(&mut store, &request("web", None)).unwrap();
    assert_eq!(find(&mut store, &n.id).unwrap().id(), n.id);
    assert_eq!(find(&mut store, "web").unwrap().id(), n.id);
    assert_eq!(find(&mut store, &n.id[..5]).unwrap().id(), n.id);
    assert_eq!(
        find(&mut store, "host").unwrap(),
        Found::Builtin(Builtin::Host)
    );
    assert_eq!(
        find(&mut store, &Builtin::None.id()).unwrap(),
        Found::Builtin(Builtin::None)
    );
    assert_eq!(
        find(&mut store, "nope").unwrap_err().to_string(),
        "network nope not found"
    );
}

#[test]
fn removal_is_refused_for_predefined_networks_and_while_in_use() {
    let (_dir, mut store) = store();
    add_container(&mut store, "c1");
    let n = create(&mut store, &request("busy", None)).unwrap();
    connect(&mut store, "busy", "c1", &[], None).unwrap();
    for name in ["bridge", "host", "none"] {
        assert_eq!(
            remove(&mut store, name).unwrap_err().to_string(),
            format!("{name} is a pre-defined network and cannot be removed")
        );
    }
    assert_eq!(
        remove(&mut store, "busy").unwrap_err().to_string(),
        format!(
            "error while removing network: network busy id {} has active endpoints",
            n.id
        )
    );
    assert_eq!(prune(&mut store).unwrap(), Vec::<String>::new());
    disconnect(&mut store, "busy", "c1").unwrap();
    create(&mut store, &request("idle", None)).unwrap();
    assert_eq!(prune(&mut store).unwrap(), ["busy", "idle"]);
    assert_eq!(list(&mut store).unwrap().len(), 1);
}

#[test]
fn endpoints_take_the_lowest_free_address_and_free_it_on_disconnect() {
    let (_dir, mut store) = store();
    for id in ["c1", "c2", "c3"] {
        add_container(&mut store, id);
    }
    let e1 = connect(&mut store, "bridge", "c1", &[], None).unwrap();
    let e2 = connect(&mut store, "bridge", "c2", &["db".to_string()], None).unwrap();
    assert_eq!(e1.address.to_string(), "172.17.0.2");
    assert_eq!(e1.mac, "02:42:ac:11:00:02");
    assert_eq!(e1.bridge, "berth0");
    assert_eq!(e1.prefix, 16);
    assert!(e1.host_interface.starts_with("veth") && e1.host_interface.len() == 15);
    assert_eq!(e2.address.to_string(), "172.17.0.3");
    assert_eq!(e2.aliases, ["db"]);
    assert_eq!(
        endpoints_of(&store, "c2").unwrap(),
        std::slice::from_ref(&e2)
    );
    assert!(matches!(
        connect(&mut store, "bridge", "c1", &[], None),
        Err(NetworkError::AlreadyConnected { .. })
    ));
    disconnect(&mut store, "bridge", "c1").unwrap();
    let e3 = connect(&mut store, "bridge", "c3", &[], None).unwrap();
    assert_eq!(e3.address.to_string(), "172.17.0.2");
    assert!(matches!(
        disconnect(&mut store, "bridge", "c1"),
        Err(NetworkError::NotConnected { .. })
    ));
    assert!(matches!(
        connect(&mut store, "host", "c1", &[], None),
        Err(NetworkError::NotConnectable(_))
    ));
    assert!(matches!(
        connect(&mut store, "bridge", "nope", &[], None),
        Err(NetworkError::NoSuchContainer(_))
    ));
}

#[test]
fn a_requested_address_is_honoured_on_user_networks_only() {
    let (_dir, mut store) = store();
    add_container(&mut store, "c1");
    add_container(&mut store, "c2");
    create(&mut store, &request("u", Some("10.30.0.0/24"))).unwrap();
    let ip: Ipv4Addr = "10.30.0.50".parse().unwrap();
    assert!(matches!(
        connect(
            &mut store,
            "bridge",
            "c1",
            &[],
            Some("172.17.0.9".parse().unwrap())
        ),
        Err(NetworkError::AddressOnDefaultBridge)
    ));
    assert_eq!(
        connect(&mut store, "u", "c1", &[], Some(ip))
            .unwrap()
            .address,
        ip
    );
    let taken = connect(&mut store, "u", "c2", &[], Some(ip))
        .unwrap_err()
        .to_string();
    assert_eq!(taken, "network u: Address already in use: 10.30.0.50");
    let outside = connect(
        &mut store,
        "u",
        "c2",
        &[],
        Some("10.31.0.5".parse().unwrap()),
    );
    assert!(outside.unwrap_err().to_string().contains("10.31.0.5"));
}

#[test]
fn a_full_subnet_is_an_error_naming_the_network() {
    let (_dir, mut store) = store();
    add_container(&mut store, "c1");
    add_container(&mut store, "c2");
    create(&mut store, &request("tiny", Some("10.40.0.0/30"))).unwrap();
    let e = connect(&mut store, "tiny", "c1", &[], None).unwrap();
    assert_eq!(e.address.to_string(), "10.40.0.2");
    let full = connect(&mut store, "tiny", "c2", &[], None)
        .unwrap_err()
        .to_string();
    assert_eq!(
        full,
        "network tiny: no available IPv4 addresses in 10.40.0.0/30"
    );
}

#[test]
fn releasing_a_container_frees_its_endpoints_and_ports_so_its_row_can_go() {
    let (_dir, mut store) = store();
    add_container(&mut store, "c1");
    connect(&mut store, "bridge", "c1", &[], None).unwrap();
    let binding = crate::network::ports::Binding {
        protocol: crate::network::ports::Protocol::Tcp,
        container_port: 80,
        host_ip: Ipv4Addr::LOCALHOST,
        host_port: crate::network::ports::HostPorts::Any,
    };
    crate::network::ports::reserve_ports(&mut store, "c1", &[binding]).unwrap();
    let (endpoints, ports) = release_container(&mut store, "c1").unwrap();
    assert_eq!((endpoints.len(), ports.len()), (1, 1));
    assert!(store.remove_container("c1").unwrap());
}

#[test]
fn fifty_handles_allocating_at_once_get_fifty_addresses() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path()).unwrap();
    let ids: Vec<String> = (0..50).map(|i| format!("c{i:02}")).collect();
    for id in &ids {
        add_container(&mut store, id);
    }
    drop(store);
    let barrier = std::sync::Arc::new(std::sync::Barrier::new(ids.len()));
    let threads: Vec<_> = ids
        .iter()
        .map(|id| {
            let (root, id, barrier) = (dir.path().to_path_buf(), id.clone(), barrier.clone());
            std::thread::spawn(move || {
                let mut store = Store::open(&root).unwrap();
                barrier.wait();
                connect(&mut store, "bridge", &id, &[], None)
                    .unwrap()
                    .address
            })
        })
        .collect();
    let addresses: HashSet<Ipv4Addr> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    assert_eq!(addresses.len(), 50);
    let store = Store::open(dir.path()).unwrap();
    let networks = rows::networks(store.db.conn()).unwrap();
    assert_eq!(networks.len(), 1, "one default bridge, made once");
}
