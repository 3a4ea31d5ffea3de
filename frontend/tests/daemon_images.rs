//! `berth daemon`'s image and registry endpoints driven by the docker CLI and raw
//! HTTP: pull, push, login, search against Debian's docker-registry on 127.0.0.1
//! (plain and htpasswd), save and load, import, commit; and what bad requests get.
//! Each test has its own registry, store, daemon and Docker config dir.

mod support;

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;

use base64::Engine as _;
use integration::registry::{Compression, Flavour, ImageSpec, LayerSpec, Registry, PASSWORD, USER};
use support::daemon::Daemon;
use support::TestStore;

/// A store whose daemon reaches the host's 127.0.0.1, where the registries listen.
/// Containers of these tests run with `--network none`: no bridge on the host.
fn store() -> TestStore {
    TestStore::on_host()
}

fn stderr_of(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A request on the daemon's socket with extra headers and a body: the status and
/// the body, de-chunked.
fn request(
    daemon: &Daemon,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (u16, String) {
    let mut stream = UnixStream::connect(&daemon.socket).expect("connect");
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: berth\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).expect("send head");
    stream.write_all(body).expect("send body");
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).expect("read answer");
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a head");
    let head = String::from_utf8_lossy(&raw[..split]).to_ascii_lowercase();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("a status");
    let mut rest = &raw[split + 4..];
    if !head.contains("transfer-encoding: chunked") {
        return (status, String::from_utf8_lossy(rest).into_owned());
    }
    let mut body = Vec::new();
    loop {
        let end = rest
            .windows(2)
            .position(|w| w == b"\r\n")
            .expect("a chunk size");
        let size = usize::from_str_radix(std::str::from_utf8(&rest[..end]).unwrap().trim(), 16)
            .expect("a hex chunk size");
        if size == 0 {
            break;
        }
        body.extend_from_slice(&rest[end + 2..end + 2 + size]);
        rest = &rest[end + 4 + size..];
    }
    (status, String::from_utf8_lossy(&body).into_owned())
}

fn message(body: &str) -> String {
    let value: serde_json::Value =
        serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {body:?}"));
    value["message"].as_str().unwrap_or_default().to_string()
}

/// The tags a registry has of `repository`, asked over plain HTTP.
fn registry_tags(registry: &Registry, repository: &str, credentials: bool) -> String {
    let mut stream = std::net::TcpStream::connect(registry.host()).expect("registry");
    let auth = if credentials {
        let pair = base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{PASSWORD}"));
        format!("Authorization: Basic {pair}\r\n")
    } else {
        String::new()
    };
    write!(
        stream,
        "GET /v2/{repository}/tags/list HTTP/1.1\r\nHost: {}\r\n{auth}Connection: close\r\n\r\n",
        registry.host()
    )
    .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    answer
}

#[test]
fn docker_pull_prints_dockers_lines_and_a_second_pull_is_up_to_date() {
    let registry = Registry::start(Flavour::Plain);
    let seeded = registry.seed("busybox", "latest", &ImageSpec::busybox(Compression::Gzip));
    let layer = &seeded.images[0].layers[0].0[7..19];
    let host = registry.host();
    let store = store();
    let daemon = Daemon::start(&store, &[]);
    let name = format!("{host}/busybox");
    let out = daemon.docker_ok(&["pull", &name]);
    assert_eq!(
        out,
        format!(
            "Using default tag: latest\n\
             latest: Pulling from busybox\n\
             {layer}: Pulling fs layer\n\
             {layer}: Verifying Checksum\n\
             {layer}: Download complete\n\
             {layer}: Pull complete\n\
             Digest: {}\n\
             Status: Downloaded newer image for {name}:latest\n\
             {name}:latest\n",
            seeded.digest
        )
    );
    let again = daemon.docker_ok(&["pull", &name]);
    assert!(
        again.contains(&format!("Status: Image is up to date for {name}:latest\n")),
        "{again}"
    );
    // The berth CLI sees what the daemon pulled: one store.
    let images = store.ok(&["images", "--format", "{{.Repository}}:{{.Tag}}"]);
    assert!(images.contains(&format!("{name}:latest")), "{images}");
}

#[test]
fn a_pull_streams_json_progress_and_an_unknown_image_is_a_404() {
    let registry = Registry::start(Flavour::Plain);
    registry.seed("app", "v1", &ImageSpec::busybox(Compression::Zstd));
    let host = registry.host();
    let store = store();
    let daemon = Daemon::start(&store, &[]);
    let (status, body) = request(
        &daemon,
        "POST",
        &format!("/v1.41/images/create?fromImage={host}/app&tag=v1"),
        &[],
        b"",
    );
    assert_eq!(status, 200, "{body}");
    let messages: Vec<serde_json::Value> = body
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    assert_eq!(
        messages[0],
        serde_json::json!({"status": "Pulling from app", "id": "v1"})
    );
    let downloading = messages
        .iter()
        .find(|m| m["status"] == "Downloading")
        .expect("a Downloading message");
    assert!(downloading["progressDetail"]["total"].as_u64() > Some(0));
    assert!(downloading["progress"].as_str().unwrap().starts_with('['));
    assert_eq!(
        messages.last().unwrap()["status"],
        format!("Status: Downloaded newer image for {host}/app:v1")
    );

    let (status, body) = request(
        &daemon,
        "POST",
        &format!("/images/create?fromImage={host}/nothing&tag=v1"),
        &[],
        b"",
    );
    // What docker-registry says of a repository it does not have, as dockerd words it.
    assert_eq!(status, 404, "{body}");
    assert_eq!(
        message(&body),
        format!("manifest for {host}/nothing:v1 not found: manifest unknown: manifest unknown")
    );
    let out = daemon.docker(&["pull", &format!("{host}/app:nope")]);
    assert!(!out.status.success());
    assert!(
        stderr_of(&out).contains("manifest for") && stderr_of(&out).contains("not found"),
        "{}",
        stderr_of(&out)
    );
}

/// A registry holding `big:v1`: one layer of `mib` MiB of random bytes.
fn big_image(mib: usize) -> Registry {
    let registry = Registry::start(Flavour::Plain);
    let spec = ImageSpec {
        layers: vec![LayerSpec::Random {
            size: mib << 20,
            compression: Compression::None,
        }],
        ..ImageSpec::busybox(Compression::Gzip)
    };
    registry.seed("big", "v1", &spec);
    registry
}

/// A pull of `big:v1` begun through `daemon` on a raw connection: the connection,
/// once the answer has begun.
fn begin_pull(daemon: &Daemon, host: &str) -> UnixStream {
    let mut stream = UnixStream::connect(&daemon.socket).expect("connect");
    write!(
        stream,
        "POST /images/create?fromImage={host}/big&tag=v1 HTTP/1.1\r\nHost: berth\r\n\
         Content-Length: 0\r\n\r\n"
    )
    .unwrap();
    let mut first = [0u8; 64];
    let read = stream.read(&mut first).expect("the answer begins");
    assert!(String::from_utf8_lossy(&first[..read]).starts_with("HTTP/1.1 200"));
    stream
}

#[test]
fn a_client_gone_mid_pull_leaves_a_store_the_next_pull_completes() {
    let registry = big_image(24);
    let host = registry.host();
    let store = store();
    let daemon = Daemon::start(&store, &[]);
    drop(begin_pull(&daemon, &host));
    let out = daemon.docker_ok(&["pull", &format!("{host}/big:v1")]);
    assert!(out.contains(&format!("{host}/big:v1")), "{out}");
    let listed = daemon.docker_ok(&["images", "--format", "{{.Repository}}:{{.Tag}}"]);
    assert_eq!(listed, format!("{host}/big:v1\n"));
}

#[test]
fn a_daemon_killed_mid_pull_leaves_a_store_the_next_one_completes_the_pull_in() {
    let registry = big_image(48);
    let host = registry.host();
    let store = store();
    let mut daemon = Daemon::start(&store, &[]);
    let stream = begin_pull(&daemon, &host);
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(daemon.pid() as i32),
        nix::sys::signal::Signal::SIGKILL,
    );
    let _ = daemon.stop();
    drop(stream);
    // Nothing half-pulled is visible; the next daemon's pull completes it.
    assert_eq!(store.ok(&["images", "-q"]), "");
    let _ = std::fs::remove_file(&daemon.pidfile);
    let daemon = Daemon::start(&store, &[]);
    let out = daemon.docker_ok(&["pull", &format!("{host}/big:v1")]);
    assert!(out.contains(&format!("{host}/big:v1")), "{out}");
    let listed = store.ok(&["images", "--format", "{{.Repository}}:{{.Tag}}"]);
    assert_eq!(listed, format!("{host}/big:v1\n"));
    // Its one layer (random bytes, no programs) is whole: it makes a container.
    daemon.docker_ok(&["create", "--name", "whole", &format!("{host}/big:v1"), "x"]);
    daemon.docker_ok(&["rm", "whole"]);
}

#[test]
fn docker_tag_and_push_reach_the_registry() {
    let registry = Registry::start(Flavour::Plain);
    registry.seed("busybox", "latest", &ImageSpec::busybox(Compression::Gzip));
    let host = registry.host();
    let store = store();
    let daemon = Daemon::start(&store, &[]);
    daemon.docker_ok(&["pull", &format!("{host}/busybox:latest")]);
    let copy = format!("{host}/copies/busybox:v2");
    daemon.docker_ok(&["tag", &format!("{host}/busybox:latest"), &copy]);
    let out = daemon.docker_ok(&["push", &copy]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines[0],
        format!("The push refers to repository [{host}/copies/busybox]"),
        "{out}"
    );
    assert!(lines[1].ends_with(": Preparing"), "{out}");
    assert!(
        lines[2].ends_with(": Mounted from busybox") || lines[2].ends_with(": Pushed"),
        "{out}"
    );
    let last = lines.last().unwrap();
    assert!(
        last.starts_with("v2: digest: sha256:") && last.contains(" size: "),
        "{out}"
    );
    let tags = registry_tags(&registry, "copies/busybox", false);
    assert!(tags.contains("\"v2\""), "{tags}");

    // Without a tag every tag of the repository goes, as dockerd.
    daemon.docker_ok(&["tag", &copy, &format!("{host}/copies/busybox:v3")]);
    let (status, body) = request(
        &daemon,
        "POST",
        &format!("/images/{host}/copies/busybox/push"),
        &[],
        b"",
    );
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"Tag\":\"v3\""), "{body}");
    let tags = registry_tags(&registry, "copies/busybox", false);
    assert!(tags.contains("\"v3\""), "{tags}");
    // Each transfer is an event, named by the reference, as dockerd's.
    let told = daemon.docker_ok(&[
        "events",
        "--since",
        "0",
        "--until",
        &support::unix_now(),
        "--filter",
        "type=image",
        "--filter",
        "event=pull",
        "--filter",
        "event=push",
        "--format",
        "{{.Action}} {{.Actor.ID}}",
    ]);
    assert_eq!(
        told.lines().collect::<Vec<_>>(),
        [
            format!("pull {host}/busybox:latest"),
            format!("push {copy}"),
            // The push without a tag sent both tags.
            format!("push {copy}"),
            format!("push {host}/copies/busybox:v3"),
        ],
        "{told}"
    );
}

#[test]
fn docker_login_push_and_logout_against_a_registry_with_passwords() {
    let registry = Registry::start(Flavour::Htpasswd);
    registry.seed("busybox", "latest", &ImageSpec::busybox(Compression::Gzip));
    let host = registry.host();
    let store = store();
    let daemon = Daemon::start(&store, &[]);

    let refused = daemon.docker(&["login", "-u", USER, "-p", "wrong", &host]);
    assert!(!refused.status.success());
    assert!(
        stderr_of(&refused).contains(&format!(
            "login attempt to http://{host}/v2/ failed with status: 401 Unauthorized"
        )),
        "{}",
        stderr_of(&refused)
    );
    let anonymous = daemon.docker(&["pull", &format!("{host}/busybox")]);
    assert!(!anonymous.status.success(), "pulled without credentials");

    let out = daemon.docker_ok(&["login", "-u", USER, "-p", PASSWORD, &host]);
    assert!(out.contains("Login Succeeded"), "{out}");
    daemon.docker_ok(&["pull", &format!("{host}/busybox")]);
    let target = format!("{host}/mine:v1");
    daemon.docker_ok(&["tag", &format!("{host}/busybox"), &target]);
    let pushed = daemon.docker_ok(&["push", &target]);
    assert!(pushed.contains("v1: digest: sha256:"), "{pushed}");
    assert!(registry_tags(&registry, "mine", true).contains("\"v1\""));

    let out = daemon.docker_ok(&["logout", &host]);
    assert!(
        out.contains(&format!("Removing login credentials for {host}")),
        "{out}"
    );
    let after = daemon.docker(&["push", &target]);
    assert!(!after.status.success(), "pushed without credentials");
    assert!(
        stderr_of(&after).contains("unauthorized"),
        "{}",
        stderr_of(&after)
    );
}

#[test]
fn docker_search_lists_the_registrys_repositories() {
    let registry = Registry::start(Flavour::Plain);
    let spec = ImageSpec::busybox(Compression::Gzip);
    registry.seed("busybox", "latest", &spec);
    registry.seed("tools/busybox-extra", "latest", &spec);
    registry.seed("other", "latest", &spec);
    let host = registry.host();
    let store = store();
    let daemon = Daemon::start(&store, &[]);
    let out = daemon.docker_ok(&["search", "--format", "{{.Name}}", &format!("{host}/busy")]);
    assert_eq!(
        out,
        format!("{host}/busybox\n{host}/tools/busybox-extra\n"),
        "{out}"
    );
    let one = daemon.docker_ok(&[
        "search",
        "--limit",
        "1",
        "--format",
        "{{.Name}}",
        &format!("{host}/busy"),
    ]);
    assert_eq!(one, format!("{host}/busybox\n"));
    let official = daemon.docker_ok(&[
        "search",
        "--filter",
        "is-official=true",
        "--format",
        "{{.Name}}",
        &format!("{host}/busy"),
    ]);
    assert_eq!(official, "");
    let (status, body) = request(&daemon, "GET", "/images/search?term=x&limit=many", &[], b"");
    assert_eq!(status, 400, "{body}");
}

#[test]
fn docker_save_then_load_round_trips_an_image() {
    let store = store();
    let id = store.import_busybox("keep/busybox:v1");
    let daemon = Daemon::start(&store, &[]);
    let archive = store.dir.path().join("saved.tar");
    daemon.docker_ok(&["save", "-o", archive.to_str().unwrap(), "keep/busybox:v1"]);
    let listing = std::process::Command::new("tar")
        .arg("-tf")
        .arg(&archive)
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&listing.stdout).contains("manifest.json"),
        "not a docker-archive"
    );
    daemon.docker_ok(&["rmi", "keep/busybox:v1"]);
    let out = daemon.docker_ok(&["load", "-i", archive.to_str().unwrap()]);
    assert_eq!(out, "Loaded image: keep/busybox:v1\n");
    let inspected = daemon.docker_ok(&["inspect", "--format", "{{.Id}}", "keep/busybox:v1"]);
    assert_eq!(inspected.trim(), id);

    // Several names in one archive, by the query form.
    store.ok(&["tag", "keep/busybox:v1", "keep/other:v2"]);
    let (status, body) = request(
        &daemon,
        "GET",
        "/images/get?names=keep/busybox:v1&names=keep/other:v2",
        &[],
        b"",
    );
    assert_eq!(status, 200);
    assert!(body.contains("keep/other:v2"), "the second name is missing");
}

#[test]
fn docker_import_makes_an_image_of_a_tarball_with_changes() {
    let store = store();
    let tarball = support::busybox_rootfs_tar(store.dir.path());
    let daemon = Daemon::start(&store, &[]);
    let out = daemon.docker_ok(&[
        "import",
        "-c",
        "CMD [\"sh\"]",
        "-c",
        "ENV GREETING=hi",
        "-m",
        "from a test",
        tarball.to_str().unwrap(),
        "imported/busybox:v1",
    ]);
    let id = out.trim();
    assert!(id.starts_with("sha256:") && id.len() == 71, "{out}");
    let config = daemon.docker_ok(&[
        "inspect",
        "--format",
        "{{.Id}} {{json .Config.Cmd}} {{json .Config.Env}}",
        "imported/busybox:v1",
    ]);
    assert_eq!(config.trim(), format!("{id} [\"sh\"] [\"GREETING=hi\"]"));
    let history = daemon.docker_ok(&["history", "--format", "{{.Comment}}", id]);
    assert_eq!(history.trim(), "from a test");

    let bad = daemon.docker(&[
        "import",
        "-c",
        "RUN rm -rf /",
        tarball.to_str().unwrap(),
        "imported/bad:v1",
    ]);
    assert!(!bad.status.success());
    assert!(stderr_of(&bad).contains("RUN"), "{}", stderr_of(&bad));
}

#[test]
fn docker_commit_records_a_containers_changes_as_an_image() {
    let store = store();
    store.import_busybox("busybox");
    let daemon = Daemon::start(&store, &[]);
    let name = format!("commit-{}", std::process::id());
    daemon.docker_ok(&[
        "run",
        "-d",
        "--network",
        "none",
        "--name",
        &name,
        "busybox",
        "sh",
        "-c",
        "echo hello > /greeting; exec sleep 1000",
    ]);
    // The file is there once the shell has run: wait for it through the CLI.
    let mut attempts = 0;
    while !store
        .berth(&["exec", &name, "cat", "/greeting"])
        .status
        .success()
    {
        attempts += 1;
        assert!(attempts < 500, "the container never wrote /greeting");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let out = daemon.docker_ok(&[
        "commit",
        "-c",
        "ENV COMMITTED=yes",
        "-m",
        "a greeting",
        "-a",
        "tester",
        &name,
        "committed/busybox:v1",
    ]);
    let id = out.trim();
    assert!(id.starts_with("sha256:"), "{out}");
    let inspected = daemon.docker_ok(&[
        "inspect",
        "--format",
        "{{.Author}}|{{.Comment}}|{{json .Config.Env}}",
        "committed/busybox:v1",
    ]);
    assert!(
        inspected.starts_with("tester|a greeting|") && inspected.contains("COMMITTED=yes"),
        "{inspected}"
    );
    let status = daemon.docker_ok(&["inspect", "--format", "{{.State.Status}}", &name]);
    assert_eq!(status.trim(), "running", "the commit left it paused");
    let greeting = store.ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        "committed/busybox:v1",
        "cat",
        "/greeting",
    ]);
    assert_eq!(greeting, "hello\n");

    let (status, body) = request(&daemon, "POST", "/commit?container=nothing-here", &[], b"");
    assert_eq!(status, 404, "{body}");
    let (status, body) = request(
        &daemon,
        "POST",
        &format!("/commit?container={name}&changes=RUN%20true"),
        &[],
        b"",
    );
    assert_eq!(status, 400, "{body}");
}

#[test]
fn bad_requests_get_dockers_errors_and_leave_the_store_as_it_was() {
    let store = store();
    store.import_busybox("busybox");
    let daemon = Daemon::start(&store, &[]);
    let before = daemon.http("GET", "/images/json").body;

    let bad_auth = [("X-Registry-Auth", "%%% not base64")];
    let (status, body) = request(
        &daemon,
        "POST",
        "/images/create?fromImage=127.0.0.1:1/busybox&tag=latest",
        &bad_auth,
        b"",
    );
    assert_eq!(status, 400, "{body}");
    assert!(message(&body).contains("X-Registry-Auth"), "{body}");
    let not_json = base64::engine::general_purpose::URL_SAFE.encode("[1,2]");
    let (status, body) = request(
        &daemon,
        "POST",
        "/images/busybox/push?tag=latest",
        &[("X-Registry-Auth", &not_json)],
        b"",
    );
    assert_eq!(status, 400, "{body}");

    let (status, body) = request(&daemon, "POST", "/images/nothing/push?tag=latest", &[], b"");
    assert_eq!(status, 404, "{body}");
    assert_eq!(
        message(&body),
        "An image does not exist locally with the tag: nothing"
    );

    let (status, body) = request(
        &daemon,
        "POST",
        "/images/load?quiet=1",
        &[("Content-Type", "application/x-tar")],
        &[0x5a; 4096],
    );
    assert!(status == 400 || status == 500, "{status} {body}");
    assert!(!message(&body).is_empty(), "{body}");

    let (status, body) = request(
        &daemon,
        "POST",
        "/images/create?fromSrc=http://example.com/rootfs.tar",
        &[],
        b"",
    );
    assert_eq!(status, 400, "{body}");
    let (status, body) = request(
        &daemon,
        "POST",
        "/images/create?fromImage=UPPER&tag=latest",
        &[],
        b"",
    );
    assert_eq!(status, 400, "{body}");
    let (status, body) = request(&daemon, "POST", "/auth", &[], b"{not json");
    assert_eq!(status, 400, "{body}");
    let (status, body) = request(&daemon, "GET", "/images/nothing/get", &[], b"");
    assert_eq!(status, 404, "{body}");

    assert_eq!(daemon.http("GET", "/images/json").body, before);
    let (status, _) = request(&daemon, "GET", "/images/busybox/json", &[], b"");
    assert_eq!(status, 200);
}
