//! Watching containers through the CLI: `logs` (-f, --tail, -t, --since, the syslog
//! driver read back), `top`, `stats`.

mod support;

use std::io::{BufRead, BufReader};
use std::os::unix::net::UnixDatagram;
use std::process::Stdio;
use std::time::{Duration, Instant};

use support::TestStore;

fn store() -> TestStore {
    let store = TestStore::new();
    store.import_busybox("busybox");
    store
}

fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn logs_show_what_a_daemon_wrote_and_follow_it_while_it_writes() {
    let store = store();
    store.ok(&[
        "run", "-d", "--name", "daemon_dave", "busybox", "sh", "-c",
        "i=0; while [ $i -lt 40 ]; do echo hello world $i; echo oops $i >&2; i=$((i+1)); sleep 0.05; done",
    ]);
    wait_for("some output", || {
        store.ok(&["logs", "daemon_dave"]).lines().count() >= 3
    });
    // -f while it writes: every line, in order, and the command ends with the container.
    let mut follow = store
        .command()
        .args(["logs", "-f", "daemon_dave"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let lines: Vec<String> = BufReader::new(follow.stdout.take().unwrap())
        .lines()
        .map(|l| l.unwrap())
        .collect();
    assert!(follow.wait().unwrap().success());
    let want: Vec<String> = (0..40).map(|i| format!("hello world {i}")).collect();
    assert_eq!(lines, want);
    // Each stream to its own; --tail counts the lines of both, as Docker's.
    let out = store.berth(&["logs", "--tail", "4", "daemon_dave"]);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "hello world 38\nhello world 39\n"
    );
    assert_eq!(String::from_utf8_lossy(&out.stderr), "oops 38\noops 39\n");
    let stamped = store.ok(&["logs", "-t", "--tail", "2", "daemon_dave"]);
    let (time, line) = stamped.trim_end().split_once(' ').unwrap();
    assert_eq!(line, "hello world 39");
    assert!(
        time.starts_with("20") && time.ends_with('Z') && time.len() == 30,
        "{time}"
    );
    assert!(store
        .ok(&["logs", "--since", "2099-01-01T00:00:00Z", "daemon_dave"])
        .is_empty());
    assert_eq!(store.ok(&["logs", "--until", "1h", "daemon_dave"]), "");
    let err = store.fails(&["logs", "--since", "yesterday", "daemon_dave"]);
    assert!(err.contains("yesterday"), "{err}");
    // Rotation: a small max-size keeps several files, and logs reads them all.
    store.ok(&[
        "run",
        "--name",
        "rotated",
        "--log-opt",
        "max-size=1k",
        "--log-opt",
        "max-file=50",
        "busybox",
        "sh",
        "-c",
        "i=0; while [ $i -lt 300 ]; do echo line $i; i=$((i+1)); done",
    ]);
    let all = store.ok(&["logs", "rotated"]);
    assert_eq!(all.lines().count(), 300);
    assert_eq!(all.lines().last(), Some("line 299"));
    store.ok(&[
        "run",
        "--name",
        "silent",
        "--log-driver",
        "none",
        "busybox",
        "true",
    ]);
    let err = store.fails(&["logs", "silent"]);
    assert!(err.contains("does not support reading"), "{err}");
}

#[test]
fn the_syslog_driver_sends_each_line_and_logs_still_reads_it_back() {
    let store = store();
    let socket = store.dir.path().join("syslog.sock");
    let receiver = UnixDatagram::bind(&socket).unwrap();
    receiver
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let address = format!("syslog-address=unixgram://{}", socket.display());
    store.ok(&[
        "run",
        "--name",
        "sys",
        "--log-driver",
        "syslog",
        "--log-opt",
        &address,
        "--log-opt",
        "tag=booklog",
        "busybox",
        "echo",
        "to syslog",
    ]);
    let mut buf = [0u8; 4096];
    let n = receiver.recv(&mut buf).unwrap();
    let datagram = String::from_utf8_lossy(&buf[..n]);
    assert!(datagram.starts_with("<30>"), "{datagram}");
    assert!(
        datagram.contains("booklog[") && datagram.trim_end().ends_with("to syslog"),
        "{datagram}"
    );
    assert_eq!(store.ok(&["logs", "sys"]), "to syslog\n");
}

#[test]
fn top_and_stats_show_the_containers_processes_and_figures() {
    let store = store();
    store.ok(&[
        "run", "-d", "--name", "busy", "--memory", "64m", "busybox", "sleep", "1000",
    ]);
    let top = store.ok(&["top", "busy"]);
    let mut lines = top.lines();
    let header = lines.next().unwrap();
    assert!(
        header.starts_with("UID") && header.contains("PID") && header.contains("CMD"),
        "{header}"
    );
    let rows: Vec<&str> = lines.collect();
    assert_eq!(rows.len(), 1, "{top}");
    assert!(rows[0].ends_with("sleep 1000"), "{top}");
    let top = store.ok(&["top", "busy", "-o", "pid,comm"]);
    assert!(
        top.lines().any(|l| l.trim_end().ends_with("sleep")),
        "{top}"
    );

    let stats = store.ok(&["stats", "--no-stream"]);
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
        assert!(header.contains(column), "{header}");
    }
    let row = lines.next().unwrap();
    assert!(row.contains("busy") && row.contains("/ 64MiB"), "{row}");
    assert!(row.trim_end().ends_with(" 1"), "one process: {row}");
    let formatted = store.ok(&[
        "stats",
        "--no-stream",
        "--format",
        "{{.Name}} {{.PIDs}}",
        "busy",
    ]);
    assert_eq!(formatted, "busy 1\n");
    store.ok(&["stop", "-t", "0", "busy"]);
    let err = store.fails(&["top", "busy"]);
    assert!(err.contains("is not running"), "{err}");
}
