//! The docker CLI against `berth daemon` for what it reads of a container: `stats`,
//! `diff`, `export`, `cp` both ways, and `system df`.

mod support;

use std::io::{BufRead, BufReader, Write};
use std::process::Stdio;

use support::daemon::Daemon;
use support::TestStore;

fn store_and_daemon() -> (TestStore, Daemon) {
    let store = TestStore::new();
    store.import_busybox("busybox");
    let daemon = Daemon::start(&store, &[]);
    daemon.docker_ok(&[
        "run", "-d", "--name", "box", "busybox", "sh", "-c",
        "mkdir /work && echo made > /work/note && rm /etc/hostname.bak 2>/dev/null; exec sleep 1000",
    ]);
    (store, daemon)
}

fn wait_for_diff(daemon: &Daemon) -> String {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let diff = daemon.docker_ok(&["diff", "box"]);
        if diff.contains("A /work/note") {
            return diff;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no change seen: {diff}"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

#[test]
fn stats_diff_export_and_df_through_the_docker_cli() {
    let (store, daemon) = store_and_daemon();
    let diff = wait_for_diff(&daemon);
    assert!(diff.lines().any(|l| l == "A /work"), "{diff}");
    assert_eq!(diff, store.ok(&["diff", "box"]), "the same as berth diff");

    let stats = daemon.docker_ok(&["stats", "--no-stream", "box"]);
    let mut lines = stats.lines();
    let header = lines.next().unwrap();
    for column in [
        "CONTAINER ID",
        "NAME",
        "CPU %",
        "MEM USAGE / LIMIT",
        "MEM %",
        "NET I/O",
        "BLOCK I/O",
        "PIDS",
    ] {
        assert!(header.contains(column), "{stats}");
    }
    let row = lines.next().unwrap();
    assert!(
        row.contains("box") && row.trim_end().ends_with('1'),
        "one process: {stats}"
    );
    let figures = daemon.docker_ok(&[
        "stats",
        "--no-stream",
        "--format",
        "{{.Name}} {{.PIDs}} {{.MemUsage}}",
        "box",
    ]);
    let fields: Vec<&str> = figures.split_whitespace().collect();
    assert_eq!(&fields[..2], ["box", "1"], "{figures}");
    assert!(
        fields[2].ends_with("iB") && fields[2] != "0B",
        "memory in use: {figures}"
    );

    // Streamed: a new reading each second, precpu the one before.
    let mut stream = std::os::unix::net::UnixStream::connect(&daemon.socket).unwrap();
    stream
        .write_all(b"GET /v1.41/containers/box/stats HTTP/1.1\r\nHost: d\r\n\r\n")
        .unwrap();
    let mut reader = BufReader::new(stream);
    let mut readings = Vec::new();
    let mut line = String::new();
    while readings.len() < 2 {
        line.clear();
        assert!(reader.read_line(&mut line).unwrap() > 0, "the stream ended");
        if let Ok(value) = serde_json::from_str::<serde_json::Value>(line.trim()) {
            readings.push(value);
        }
    }
    assert_eq!(
        readings[1]["precpu_stats"]["cpu_usage"]["total_usage"],
        readings[0]["cpu_stats"]["cpu_usage"]["total_usage"]
    );
    assert_eq!(readings[0]["name"], "/box");
    assert_eq!(readings[0]["pids_stats"]["current"], 1);
    drop(reader);

    let export = daemon
        .docker_command()
        .args(["export", "box"])
        .output()
        .unwrap();
    assert!(export.status.success());
    let mut archive = tar::Archive::new(&export.stdout[..]);
    let names: Vec<String> = archive
        .entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().display().to_string())
        .collect();
    assert!(
        names.iter().any(|n| n.trim_end_matches('/') == "work/note"),
        "{names:?}"
    );
    assert!(names.iter().any(|n| n == "bin/busybox"), "{names:?}");

    let df = daemon.docker_ok(&["system", "df"]);
    let images = df.lines().find(|l| l.starts_with("Images")).unwrap();
    let containers = df.lines().find(|l| l.starts_with("Containers")).unwrap();
    assert_eq!(images.split_whitespace().nth(1), Some("1"), "{df}");
    assert_eq!(images.split_whitespace().nth(2), Some("1"), "{df}");
    assert_eq!(containers.split_whitespace().nth(1), Some("1"), "{df}");
    assert_eq!(containers.split_whitespace().nth(2), Some("1"), "{df}");
}

#[test]
fn docker_cp_copies_both_ways_and_refuses_what_dockerd_refuses() {
    let (store, daemon) = store_and_daemon();
    wait_for_diff(&daemon);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    daemon.docker_ok(&["cp", "box:/work", out.to_str().unwrap()]);
    assert_eq!(std::fs::read_to_string(out.join("note")).unwrap(), "made\n");
    daemon.docker_ok(&[
        "cp",
        "box:/work/note",
        dir.path().join("single").to_str().unwrap(),
    ]);
    assert_eq!(
        std::fs::read_to_string(dir.path().join("single")).unwrap(),
        "made\n"
    );

    let local = dir.path().join("greeting");
    std::fs::write(&local, "hello from the host\n").unwrap();
    daemon.docker_ok(&["cp", local.to_str().unwrap(), "box:/work/"]);
    daemon.docker_ok(&["cp", local.to_str().unwrap(), "box:/work/renamed"]);
    let inside = store.ok(&["exec", "box", "cat", "/work/greeting", "/work/renamed"]);
    assert_eq!(inside, "hello from the host\nhello from the host\n");

    // A tar on stdin, as `docker cp - box:/dir`.
    let mut builder = tar::Builder::new(Vec::new());
    let mut header = tar::Header::new_gnu();
    header.set_size(4);
    header.set_mode(0o644);
    header.set_cksum();
    builder
        .append_data(&mut header, "from-tar", &b"tar\n"[..])
        .unwrap();
    let tar = builder.into_inner().unwrap();
    let mut child = daemon
        .docker_command()
        .args(["cp", "-", "box:/work"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(&tar).unwrap();
    assert!(child.wait().unwrap().success());
    assert_eq!(store.ok(&["exec", "box", "cat", "/work/from-tar"]), "tar\n");

    let missing = daemon.docker(&["cp", "box:/no/such", dir.path().to_str().unwrap()]);
    assert!(!missing.status.success());
    assert!(
        String::from_utf8_lossy(&missing.stderr)
            .contains("Could not find the file /no/such in container box"),
        "{missing:?}"
    );
    let response = daemon.http("HEAD", "/containers/box/archive?path=/work/note");
    assert_eq!(response.status, 200);
    let response = daemon.http("GET", "/containers/box/archive");
    assert_eq!(response.status, 400);
    let response = daemon.http("GET", "/containers/nobody/changes");
    assert_eq!(response.status, 404);
}
