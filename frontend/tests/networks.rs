//! `berth network …` end to end: Docker's output shapes and errors, containers put on
//! networks and taken off, and addresses that concurrent `berth` processes never
//! share. Nothing here makes an interface: the store side only.

mod support;

use std::collections::HashSet;

use support::TestStore;

fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

/// `network ls` rows as (name, driver, scope), with the header checked.
fn ls_rows(store: &TestStore) -> Vec<(String, String, String)> {
    let out = store.ok(&["network", "ls"]);
    let mut lines = out.lines();
    let header: Vec<&str> = lines.next().unwrap().split("   ").map(str::trim).collect();
    assert_eq!(
        header
            .into_iter()
            .filter(|h| !h.is_empty())
            .collect::<Vec<_>>(),
        ["NETWORK ID", "NAME", "DRIVER", "SCOPE"]
    );
    lines
        .map(|l| {
            let cells: Vec<&str> = l.split_whitespace().collect();
            assert_eq!(cells[0].len(), 12, "ids are cut to 12: {l}");
            (
                cells[1].to_string(),
                cells[2].to_string(),
                cells[3].to_string(),
            )
        })
        .collect()
}

fn row(name: &str, driver: &str) -> (String, String, String) {
    (name.to_string(), driver.to_string(), "local".to_string())
}

#[test]
fn a_new_store_lists_bridge_host_and_none_as_docker_does() {
    let store = TestStore::new();
    assert_eq!(
        ls_rows(&store),
        [
            row("bridge", "bridge"),
            row("host", "host"),
            row("none", "null")
        ]
    );
    let bridge = json(&store.ok(&["network", "inspect", "bridge"]));
    let bridge = &bridge[0];
    assert_eq!(bridge["Driver"], "bridge");
    assert_eq!(bridge["IPAM"]["Config"][0]["Subnet"], "172.17.0.0/16");
    assert_eq!(bridge["IPAM"]["Config"][0]["Gateway"], "172.17.0.1");
    assert_eq!(
        bridge["Options"]["com.docker.network.bridge.name"],
        "berth0"
    );
    let host = json(&store.ok(&["network", "inspect", "host"]));
    assert_eq!(host[0]["Driver"], "host");
    assert_eq!(host[0]["Scope"], "local");
}

#[test]
fn create_prints_the_id_and_inspect_shows_dockers_fields_in_order() {
    let store = TestStore::new();
    let id = store.ok(&[
        "network",
        "create",
        "--subnet",
        "10.77.0.0/24",
        "--gateway",
        "10.77.0.254",
        "--internal",
        "--label",
        "team=web",
        "backend",
    ]);
    let id = id.trim();
    assert_eq!(id.len(), 64, "{id}");
    assert!(id.bytes().all(|b| b.is_ascii_hexdigit()));
    let text = store.ok(&["network", "inspect", &id[..6]]);
    let keys: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("        \"") && !l.starts_with("         "))
        .filter_map(|l| l.trim().split('"').nth(1))
        .collect();
    assert_eq!(
        keys,
        [
            "Name",
            "Id",
            "Created",
            "Scope",
            "Driver",
            "EnableIPv6",
            "IPAM",
            "Internal",
            "Attachable",
            "Ingress",
            "ConfigFrom",
            "ConfigOnly",
            "Containers",
            "Options",
            "Labels"
        ]
    );
    let net = &json(&text)[0];
    assert_eq!(net["Name"], "backend");
    assert_eq!(net["Id"], id);
    assert_eq!(net["Internal"], true);
    assert_eq!(net["Labels"]["team"], "web");
    assert_eq!(net["IPAM"]["Driver"], "default");
    assert_eq!(net["IPAM"]["Config"][0]["Gateway"], "10.77.0.254");
    assert_eq!(net["ConfigFrom"]["Network"], "");
    let created = net["Created"].as_str().unwrap();
    assert!(
        created.ends_with('Z') && created.len() == "2026-12-06T11:13:42.172610517Z".len(),
        "{created}"
    );
    assert_eq!(
        store.ok(&[
            "network",
            "inspect",
            "-f",
            "{{.Name}} {{.Driver}} {{range .IPAM.Config}}{{.Subnet}}{{end}}",
            "backend"
        ]),
        "backend bridge 10.77.0.0/24\n"
    );
    assert!(ls_rows(&store).contains(&row("backend", "bridge")));
}

#[test]
fn user_networks_without_a_subnet_take_dockers_pools_in_order() {
    let store = TestStore::new();
    store.ok(&["network", "create", "one"]);
    store.ok(&["network", "create", "two"]);
    let subnets = store.ok(&[
        "network",
        "inspect",
        "-f",
        "{{range .IPAM.Config}}{{.Subnet}} {{.Gateway}}{{end}}",
        "one",
        "two",
    ]);
    assert_eq!(
        subnets,
        "172.18.0.0/16 172.18.0.1\n172.19.0.0/16 172.19.0.1\n"
    );
}

#[test]
fn bad_creates_fail_with_dockers_errors() {
    let store = TestStore::new();
    store.ok(&["network", "create", "--subnet", "10.88.0.0/16", "taken"]);
    let cases: &[(&[&str], &str)] = &[
        (
            &["network", "create", "taken"],
            "Error: network with name taken already exists",
        ),
        (
            &["network", "create", "bridge"],
            "Error: network with name bridge already exists",
        ),
        (
            &["network", "create", "--subnet", "10.99.0.0/40", "x"],
            "Error: invalid CIDR address: 10.99.0.0/40",
        ),
        (
            &["network", "create", "--subnet", "banana", "x"],
            "Error: invalid CIDR address: banana",
        ),
        (
            &["network", "create", "--subnet", "10.88.4.0/24", "x"],
            "Error: invalid pool request: Pool overlaps with other one on this address space",
        ),
        (
            &[
                "network",
                "create",
                "--subnet",
                "10.98.0.0/16",
                "--gateway",
                "10.97.0.1",
                "x",
            ],
            "Error: no matching subnet for gateway 10.97.0.1",
        ),
        (
            &["network", "create", "-d", "overlay", "x"],
            "Error: network driver \"overlay\" is not supported",
        ),
    ];
    for (args, message) in cases {
        let out = store.berth(args);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.starts_with(message), "{args:?}: {err}");
    }
    let names: Vec<String> = ls_rows(&store).into_iter().map(|r| r.0).collect();
    assert_eq!(names, ["bridge", "host", "none", "taken"]);
}

#[test]
fn rm_removes_each_named_network_and_refuses_predefined_and_unknown_ones() {
    let store = TestStore::new();
    store.ok(&["network", "create", "a"]);
    store.ok(&["network", "create", "b"]);
    let out = store.berth(&["network", "rm", "a", "bridge", "nope", "b", "host"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "a\nb\n");
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "Error: bridge is a pre-defined network and cannot be removed\n\
         Error: network nope not found\n\
         Error: host is a pre-defined network and cannot be removed\n"
    );
    assert_eq!(ls_rows(&store).len(), 3);
}

#[test]
fn prune_asks_first_and_removes_only_unused_custom_networks() {
    let store = TestStore::new();
    store.ok(&["network", "create", "idle1"]);
    store.ok(&["network", "create", "idle2"]);
    let out = store.berth_with_stdin(&["network", "prune"], b"n\n");
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "WARNING! This will remove all custom networks not used by at least one container.\n\
         Are you sure you want to continue? [y/N] "
    );
    assert_eq!(ls_rows(&store).len(), 5);
    assert_eq!(
        store.ok(&["network", "prune", "-f"]),
        "Deleted Networks:\nidle1\nidle2\n\n"
    );
    assert_eq!(ls_rows(&store).len(), 3);
    assert_eq!(store.ok(&["network", "prune", "-f"]), "");
}

#[test]
fn ls_filters_quiet_and_formats() {
    let store = TestStore::new();
    let id = store.ok(&["network", "create", "--label", "env=prod", "prodnet"]);
    store.ok(&["network", "create", "devnet"]);
    let names = |args: &[&str]| {
        let mut full = vec!["network", "ls", "--format", "{{.Name}}"];
        full.extend_from_slice(args);
        store.ok(&full)
    };
    assert_eq!(names(&["-f", "type=custom"]), "devnet\nprodnet\n");
    assert_eq!(names(&["-f", "type=builtin"]), "bridge\nhost\nnone\n");
    assert_eq!(names(&["-f", "label=env=prod"]), "prodnet\n");
    assert_eq!(
        names(&["-f", "name=net", "-f", "driver=bridge"]),
        "devnet\nprodnet\n"
    );
    assert_eq!(names(&["-f", "driver=null"]), "none\n");
    assert_eq!(names(&["-f", "dangling=true"]), "devnet\nprodnet\n");
    assert_eq!(names(&["-f", &format!("id={}", &id[..10])]), "prodnet\n");
    let quiet = store.ok(&["network", "ls", "-q", "--no-trunc", "-f", "name=prodnet"]);
    assert_eq!(quiet.trim(), id.trim());
    let line = store.ok(&["network", "ls", "--format", "json", "-f", "name=prodnet"]);
    let item = json(line.trim());
    assert_eq!(item["Labels"], "env=prod");
    assert_eq!(item["Scope"], "local");
    let err = store.fails(&["network", "ls", "-f", "colour=blue"]);
    assert!(err.contains("invalid filter 'colour'"), "{err}");
}

#[test]
fn connect_gives_a_container_an_address_and_rm_is_refused_until_disconnect() {
    let store = TestStore::new();
    store.import_busybox("busybox");
    let cid = store.ok(&["create", "--name", "netted", "busybox", "true"]);
    let cid = cid.trim();
    let nid = store.ok(&["network", "create", "--subnet", "10.66.0.0/24", "app"]);
    let nid = nid.trim();
    store.ok(&["network", "connect", "--alias", "db", "app", "netted"]);
    let net = &json(&store.ok(&["network", "inspect", "app"]))[0];
    let endpoint = &net["Containers"][cid];
    assert_eq!(endpoint["Name"], "netted");
    assert_eq!(endpoint["IPv4Address"], "10.66.0.2/24");
    assert_eq!(endpoint["MacAddress"], "02:42:0a:42:00:02");
    assert_eq!(endpoint["IPv6Address"], "");
    assert_eq!(endpoint["EndpointID"].as_str().unwrap().len(), 64);
    let err = store.fails(&["network", "connect", "app", "netted"]);
    assert!(
        err.starts_with("Error: endpoint with name netted already exists in network app"),
        "{err}"
    );
    let err = store.fails(&["network", "rm", "app"]);
    assert_eq!(
        err,
        format!("Error: error while removing network: network app id {nid} has active endpoints\n")
    );
    assert_eq!(store.ok(&["network", "prune", "-f"]), "");
    let err = store.fails(&["network", "connect", "app", "ghost"]);
    assert!(err.starts_with("Error: No such container: ghost"), "{err}");
    let err = store.fails(&[
        "network",
        "connect",
        "--ip",
        "10.66.0.2",
        "bridge",
        "netted",
    ]);
    assert!(err.contains("user defined networks only"), "{err}");
    store.ok(&["network", "disconnect", "app", "netted"]);
    let err = store.fails(&["network", "disconnect", "app", "netted"]);
    assert!(err.contains("is not connected to network app"), "{err}");
    store.ok(&["network", "connect", "--ip", "10.66.0.77", "app", "netted"]);
    let addr = store.ok(&[
        "network",
        "inspect",
        "-f",
        "{{range .Containers}}{{.IPv4Address}}{{end}}",
        "app",
    ]);
    assert_eq!(addr, "10.66.0.77/24\n");
    store.ok(&["network", "disconnect", "app", "netted"]);
    assert_eq!(store.ok(&["network", "rm", "app"]), "app\n");
}

#[test]
fn fifty_concurrent_connects_get_fifty_distinct_addresses() {
    let store = TestStore::new();
    store.import_busybox("busybox");
    store.ok(&["network", "create", "--subnet", "10.55.0.0/24", "crowd"]);
    // Created, not started: connect only records the endpoint.
    let ids: Vec<String> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..5)
            .map(|_| {
                let store = &store;
                scope.spawn(move || {
                    (0..10)
                        .map(|_| store.ok(&["create", "busybox", "true"]).trim().to_string())
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    });
    let children: Vec<_> = ids
        .iter()
        .map(|id| {
            store
                .command()
                .args(["network", "connect", "crowd", id])
                .spawn()
                .unwrap()
        })
        .collect();
    for mut child in children {
        assert!(child.wait().unwrap().success());
    }
    let addresses = store.ok(&[
        "network",
        "inspect",
        "-f",
        "{{range .Containers}}{{.IPv4Address}} {{end}}",
        "crowd",
    ]);
    let addresses: HashSet<&str> = addresses.split_whitespace().collect();
    assert_eq!(addresses.len(), 50, "{addresses:?}");
    let expected: HashSet<String> = (2..52).map(|i| format!("10.55.0.{i}/24")).collect();
    assert_eq!(
        addresses,
        expected.iter().map(String::as_str).collect::<HashSet<_>>()
    );
}
