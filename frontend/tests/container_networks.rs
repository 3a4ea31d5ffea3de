//! Containers on berth's networks, end to end: the default bridge and user networks,
//! addresses, names, published ports, and nothing left behind. Every store runs
//! berth in a network namespace of its own (see support::TestStore), so the
//! bridges, veths and rules made here never touch the host's.

mod support;

use std::process::{Command, Output};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use support::TestStore;

fn store() -> TestStore {
    let store = TestStore::new();
    store.import_busybox("busybox");
    store
}

fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Runs `argv` in the store's network namespace (where berth's bridge is).
fn in_store_netns(store: &TestStore, argv: &[&str]) -> Output {
    let netns = store.netns().expect("the store has a netns");
    Command::new("nsenter")
        .arg(format!("--net={}", netns.display()))
        .arg("--")
        .args(argv)
        .output()
        .expect("nsenter")
}

/// The interfaces of the store's namespace.
fn links(store: &TestStore) -> Vec<String> {
    let out = in_store_netns(store, &["ip", "-o", "link", "show"]);
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split(':').nth(1))
        .map(|name| name.trim().split('@').next().unwrap_or("").to_string())
        .collect()
}

/// Every firewall rule of the store's namespace, in whichever tool is installed.
fn ruleset(store: &TestStore) -> String {
    let nft = in_store_netns(store, &["nft", "list", "ruleset"]);
    let mut text = String::from_utf8_lossy(&nft.stdout).into_owned();
    let ipt = in_store_netns(store, &["iptables-save"]);
    text.push_str(&String::from_utf8_lossy(&ipt.stdout));
    text
}

/// Whether the store's namespace has no veth left (the kernel removes a veth whose
/// other end's namespace went in its own time).
fn no_veths(store: &TestStore) -> bool {
    !links(store).iter().any(|l| l.starts_with("veth"))
}

fn ip_of(store: &TestStore, name: &str) -> String {
    store
        .ok(&[
            "inspect",
            "--format",
            "{{ .NetworkSettings.IPAddress }}",
            name,
        ])
        .trim()
        .to_string()
}

fn exec(store: &TestStore, name: &str, argv: &[&str]) -> Output {
    let mut args = vec!["exec", name];
    args.extend_from_slice(argv);
    store.berth(&args)
}

#[test]
fn the_default_bridge_gives_each_container_an_address_and_a_way_to_the_others() {
    let store = store();
    let first = store
        .ok(&["run", "-d", "--name", "one", "busybox", "sleep", "1000"])
        .trim()
        .to_string();
    store.ok(&["run", "-d", "--name", "two", "busybox", "sleep", "1000"]);
    // Docker's docker0 shape: 172.17.0.0/16, the gateway at .1, the first at .2.
    assert_eq!(ip_of(&store, "one"), "172.17.0.2");
    assert_eq!(ip_of(&store, "two"), "172.17.0.3");
    let gateway = store.ok(&[
        "inspect",
        "--format",
        "{{ .NetworkSettings.Gateway }}",
        "one",
    ]);
    assert_eq!(gateway.trim(), "172.17.0.1");
    let mac = store.ok(&[
        "inspect",
        "--format",
        "{{ .NetworkSettings.MacAddress }}",
        "one",
    ]);
    assert_eq!(mac.trim(), "02:42:ac:11:00:02");
    // /etc/hosts ends with the container's address and short id, as the book shows.
    let hosts = exec(&store, "one", &["cat", "/etc/hosts"]);
    let hosts = String::from_utf8_lossy(&hosts.stdout);
    assert!(
        hosts
            .trim_end()
            .ends_with(&format!("172.17.0.2\t{}", &first[..12])),
        "{hosts}"
    );
    let route = exec(&store, "one", &["ip", "route"]);
    assert!(
        String::from_utf8_lossy(&route.stdout).contains("default via 172.17.0.1"),
        "{route:?}"
    );
    let ping = exec(&store, "one", &["ping", "-c", "1", "-W", "5", "172.17.0.3"]);
    assert!(ping.status.success(), "{ping:?}");
    // The host side reaches them too, through the bridge.
    let ping = in_store_netns(
        &store,
        &["busybox", "ping", "-c", "1", "-W", "5", "172.17.0.3"],
    );
    assert!(ping.status.success(), "{ping:?}");
    assert!(
        links(&store).iter().any(|l| l == "berth0"),
        "{:?}",
        links(&store)
    );
    // Traffic counted for stats.
    let stats = store.ok(&["stats", "--no-stream", "--format", "{{.NetIO}}", "one"]);
    assert!(!stats.trim().starts_with("0B /"), "{stats}");

    store.ok(&["rm", "-f", "one", "two"]);
    // No veth, no namespace file, no rule for them.
    wait_for("the veths to go", || no_veths(&store));
    let netns_dir = store.root().join("run/netns");
    let files = std::fs::read_dir(&netns_dir)
        .map(|d| d.count())
        .unwrap_or(0);
    assert_eq!(files, 0, "netns files left in {}", netns_dir.display());
    assert!(!ruleset(&store).contains(&first), "{}", ruleset(&store));
}

#[test]
fn user_networks_resolve_names_and_aliases() {
    let store = store();
    store.ok(&["network", "create", "backend"]);
    store.ok(&[
        "run",
        "-d",
        "--name",
        "db",
        "--network",
        "backend",
        "--network-alias",
        "database",
        "busybox",
        "sleep",
        "1000",
    ]);
    store.ok(&[
        "run",
        "-d",
        "--name",
        "app",
        "--network",
        "backend",
        "busybox",
        "sleep",
        "1000",
    ]);
    let db_ip = store.ok(&[
        "inspect",
        "--format",
        "{{ (index .NetworkSettings.Networks \"backend\").IPAddress }}",
        "db",
    ]);
    assert_eq!(db_ip.trim(), "172.18.0.2");
    for name in ["db", "database"] {
        let ping = exec(&store, "app", &["ping", "-c", "1", "-W", "5", name]);
        assert!(ping.status.success(), "ping {name}: {ping:?}");
    }
    // The one that came first learns of the one that came after.
    let ping = exec(&store, "db", &["ping", "-c", "1", "-W", "5", "app"]);
    assert!(ping.status.success(), "{ping:?}");
    // A running container joins: its new interface answers, and it knows the names.
    store.ok(&["run", "-d", "--name", "late", "busybox", "sleep", "1000"]);
    store.ok(&["network", "connect", "backend", "late"]);
    let addrs = exec(&store, "late", &["ip", "-o", "-4", "addr"]);
    let addrs = String::from_utf8_lossy(&addrs.stdout);
    assert!(
        addrs.contains("eth1") && addrs.contains("172.18.0.4"),
        "{addrs}"
    );
    let ping = exec(&store, "late", &["ping", "-c", "1", "-W", "5", "database"]);
    assert!(ping.status.success(), "{ping:?}");
    store.ok(&["network", "disconnect", "backend", "late"]);
    let addrs = exec(&store, "late", &["ip", "-o", "-4", "addr"]);
    assert!(!String::from_utf8_lossy(&addrs.stdout).contains("eth1"));
    store.ok(&["rm", "-f", "late"]);
    // In use: refused, as Docker refuses it.
    let refused = store.fails(&["network", "rm", "backend"]);
    assert!(refused.contains("has active endpoints"), "{refused}");
    store.ok(&["rm", "-f", "app"]);
    let hosts = exec(&store, "db", &["cat", "/etc/hosts"]);
    assert!(
        !String::from_utf8_lossy(&hosts.stdout).contains("app"),
        "a removed container stays in its peers' hosts files"
    );
    store.ok(&["rm", "-f", "db"]);
    store.ok(&["network", "rm", "backend"]);
    assert!(
        !links(&store).iter().any(|l| l.starts_with("br-")),
        "{:?}",
        links(&store)
    );
}

/// A busybox httpd serving `text` in a container, published as `publish`.
fn web_server(store: &TestStore, name: &str, publish: &str, text: &str) {
    store.ok(&[
        "run",
        "-d",
        "--name",
        name,
        "-p",
        publish,
        "busybox",
        "sh",
        "-c",
        &format!("mkdir -p /www && echo {text} > /www/index.html && exec httpd -f -p 80 -h /www"),
    ]);
}

fn fetch_in_store_netns(store: &TestStore, url: &str) -> Output {
    // curl: Debian's static busybox wget crashes on this machine kind.
    in_store_netns(store, &["curl", "-s", "-m", "5", url])
}

#[test]
fn a_published_port_is_reached_from_loopback_and_from_other_containers() {
    published_ports_with(&[]);
}

#[test]
fn published_ports_work_with_iptables_too() {
    published_ports_with(&[("BERTH_FIREWALL", "iptables")]);
}

fn published_ports_with(env: &[(&str, &str)]) {
    let store = store();
    store.set_env(env);
    web_server(&store, "web", "18080:80", "hello-from-berth");
    let iptables = in_store_netns(&store, &["iptables-save"]);
    let in_iptables = String::from_utf8_lossy(&iptables.stdout).contains("BERTH-PORTS");
    assert_eq!(in_iptables, !env.is_empty(), "rules made by the wrong tool");
    wait_for("httpd to answer", || {
        fetch_in_store_netns(&store, "http://127.0.0.1:18080/")
            .status
            .success()
    });
    let page = fetch_in_store_netns(&store, "http://127.0.0.1:18080/");
    assert_eq!(
        String::from_utf8_lossy(&page.stdout).trim(),
        "hello-from-berth"
    );
    assert_eq!(store.ok(&["port", "web"]).trim(), "80/tcp -> 0.0.0.0:18080");
    let ps = store.ok(&["ps", "--format", "{{.Ports}}"]);
    assert_eq!(ps.trim(), "0.0.0.0:18080->80/tcp");
    // From another container, through the host's side of the bridge.
    store.ok(&["run", "-d", "--name", "client", "busybox", "sleep", "1000"]);
    let page = exec(
        &store,
        "client",
        &[
            "sh",
            "-c",
            "printf 'GET / HTTP/1.0\r\n\r\n' | nc 172.17.0.1 18080",
        ],
    );
    let page = String::from_utf8_lossy(&page.stdout);
    assert!(page.trim_end().ends_with("hello-from-berth"), "{page}");

    // Taken: a clear error before anything starts, nothing left.
    let out = store.berth(&[
        "run", "-d", "--name", "clash", "-p", "18080:80", "busybox", "true",
    ]);
    assert_eq!(out.status.code(), Some(125));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("18080") && stderr.contains("already allocated"),
        "{stderr}"
    );
    // A random host port, shown by `port`.
    web_server(&store, "random", "80", "random-port");
    let port = store.ok(&["port", "random", "80"]);
    let port = port.trim().rsplit(':').next().unwrap().to_string();
    assert!(port.parse::<u16>().unwrap() > 1024, "{port}");
    let url = format!("http://127.0.0.1:{port}/");
    wait_for("the random port to answer", || {
        fetch_in_store_netns(&store, &url).status.success()
    });

    let ids = store.ok(&["ps", "-a", "-q", "--no-trunc"]);
    let mut args = vec!["rm", "-f"];
    args.extend(ids.lines());
    store.ok(&args);
    let rules = ruleset(&store);
    for id in ids.lines() {
        assert!(!rules.contains(id), "rules of {id} left:\n{rules}");
    }
    assert!(!fetch_in_store_netns(&store, "http://127.0.0.1:18080/")
        .status
        .success());
}

#[test]
fn concurrent_runs_get_distinct_addresses() {
    let store = store();
    const N: usize = 24;
    let ids: Vec<String> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..N)
            .map(|_| {
                let store = &store;
                scope.spawn(move || {
                    store
                        .ok(&["run", "-d", "busybox", "sleep", "1000"])
                        .trim()
                        .to_string()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut addresses: Vec<String> = ids.iter().map(|id| ip_of(&store, id)).collect();
    addresses.sort();
    addresses.dedup();
    assert_eq!(addresses.len(), N, "{addresses:?}");
    let mut args = vec!["rm", "-f"];
    args.extend(ids.iter().map(String::as_str));
    store.ok(&args);
    wait_for("the veths to go", || no_veths(&store));
}

#[test]
fn none_host_and_another_containers_network() {
    let store = store();
    store.ok(&[
        "run",
        "-d",
        "--name",
        "lonely",
        "--network",
        "none",
        "busybox",
        "sleep",
        "1000",
    ]);
    let out = exec(&store, "lonely", &["ip", "-o", "link"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(text.lines().count(), 1, "only lo: {text}");
    store.ok(&["run", "-d", "--name", "main", "busybox", "sleep", "1000"]);
    store.ok(&[
        "run",
        "-d",
        "--name",
        "side",
        "--network",
        "container:main",
        "busybox",
        "sleep",
        "1000",
    ]);
    let of = |name: &str| {
        let out = exec(&store, name, &["ip", "-o", "-4", "addr", "show", "eth0"]);
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    assert!(of("side").contains("172.17.0.2"), "{}", of("side"));
    assert_eq!(of("side"), of("main"));
    store.ok(&["rm", "-f", "side", "main", "lonely"]);
}

#[test]
fn a_crash_or_a_dead_shim_leaves_nothing_the_next_command_does_not_remove() {
    let store = store();
    // berth killed once the network is made, before the shim exists.
    let out = store.berth_with_env(
        &[
            "run", "-d", "--name", "crash", "-p", "18081:80", "busybox", "sleep", "1000",
        ],
        &[],
        &[("BERTH_CRASH_AT", "network-up")],
    );
    assert!(!out.status.success());
    store.ok(&["ps", "-a"]);
    wait_for("the veths to go", || no_veths(&store));
    store.ok(&["rm", "-f", "crash"]);
    // The shim killed: the container is down, and its network goes with the next
    // command.
    let id = store
        .ok(&["run", "-d", "-p", "18082:80", "busybox", "sleep", "1000"])
        .trim()
        .to_string();
    let shim: i32 =
        std::fs::read_to_string(store.root().join("containers").join(&id).join("shim.pid"))
            .unwrap()
            .trim()
            .parse()
            .unwrap();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(shim),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    wait_for("the shim to go", || {
        std::fs::read_to_string(format!("/proc/{shim}/stat")).map_or(true, |s| s.contains(") Z"))
    });
    store.ok(&["ps", "-a"]);
    wait_for("the veths to go", || no_veths(&store));
    assert!(!ruleset(&store).contains(&id));
    store.ok(&["rm", "-f", &id]);
}

#[test]
fn user_networks_are_isolated_from_each_other_and_internal_ones_from_everything() {
    let store = store();
    store.ok(&["network", "create", "front"]);
    store.ok(&["network", "create", "back"]);
    store.ok(&["network", "create", "--internal", "vault"]);
    for (name, network) in [("web", "front"), ("db", "back"), ("secret", "vault")] {
        store.ok(&[
            "run",
            "-d",
            "--name",
            name,
            "--network",
            network,
            "busybox",
            "sleep",
            "1000",
        ]);
    }
    let address = |name: &str, network: &str| {
        let template =
            format!("{{{{ (index .NetworkSettings.Networks \"{network}\").IPAddress }}}}");
        store
            .ok(&["inspect", "--format", &template, name])
            .trim()
            .to_string()
    };
    let db = address("db", "back");
    let web = address("web", "front");
    let ping = |from: &str, to: &str| exec(&store, from, &["ping", "-c", "1", "-W", "2", to]);
    // The host routes between the bridges; only the firewall keeps them apart.
    assert!(!ping("web", &db).status.success(), "front reached back");
    assert!(!ping("db", &web).status.success(), "back reached front");
    // An internal network has no way out at all: no default route.
    let routes = exec(&store, "secret", &["ip", "route"]);
    let routes = String::from_utf8_lossy(&routes.stdout).into_owned();
    assert!(!routes.contains("default"), "{routes}");
    assert!(
        !ping("secret", &web).status.success(),
        "vault reached front"
    );
    // A container on both networks reaches both.
    store.ok(&["network", "connect", "back", "web"]);
    let ping_db = ping("web", &db);
    assert!(ping_db.status.success(), "{ping_db:?}");
    assert!(
        ping("web", "db").status.success(),
        "by name, once connected"
    );
    store.ok(&["rm", "-f", "web", "db", "secret"]);
    for network in ["front", "back", "vault"] {
        store.ok(&["network", "rm", network]);
    }
    let rules = ruleset(&store);
    assert!(!rules.contains("br-"), "{rules}");
}

#[test]
fn a_restart_right_after_an_exit_gets_its_interface_back() {
    // The last run's veth goes with its namespace, in the kernel's own time: a start
    // that comes first must not trip over it. Namespaces with veths, made and let go
    // meanwhile, give the kernel the backlog a busy host has.
    let store = store();
    store.ok(&["run", "-d", "--name", "bouncer", "busybox", "sleep", "1000"]);
    let address = ip_of(&store, "bouncer");
    let busy = AtomicBool::new(true);
    std::thread::scope(|scope| {
        for _ in 0..4 {
            scope.spawn(|| {
                while busy.load(Ordering::Relaxed) {
                    let _ = Command::new("unshare")
                        .args(["--net", "ip", "link", "add", "a", "type", "veth"])
                        .args(["peer", "name", "b"])
                        .status();
                }
            });
        }
        // Ends the makers even when a start fails (the scope waits for them).
        let _stop = StopOnDrop(&busy);
        for _ in 0..10 {
            store.ok(&["restart", "-t", "0", "bouncer"]);
            store.ok(&["kill", "bouncer"]);
            store.ok(&["start", "bouncer"]);
        }
    });
    assert_eq!(ip_of(&store, "bouncer"), address);
    let ping = exec(&store, "bouncer", &["ping", "-c", "1", "-W", "5", &address]);
    assert!(ping.status.success(), "{ping:?}");
    store.ok(&["rm", "-f", "bouncer"]);
    wait_for("the veths to go", || no_veths(&store));
}

struct StopOnDrop<'a>(&'a AtomicBool);

impl Drop for StopOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Relaxed);
    }
}
