//! process.terminal with --console-socket: the pty master travels over SCM_RIGHTS.

use std::time::Duration;

use integration::*;
use serde_json::json;

fn terminal_bundle(t: &Test, script: &str) -> Bundle {
    t.bundle().sh(script).edit(|c| {
        c["process"]["terminal"] = json!(true);
        c["process"]["consoleSize"] = json!({"height": 30, "width": 100});
    })
}

#[test]
fn console_socket_receives_pty_master_with_size() {
    let Some(t) = Test::new("console_socket") else {
        return;
    };
    let sock = ConsoleSocket::bind(&t.dir.join("console.sock"));
    let b = terminal_bundle(&t, "tty; stty size");
    let o = t.rt.create_with(
        &b.id,
        &b.path,
        &["--console-socket", sock.path.to_str().unwrap()],
    );
    ok(&o);
    let master = sock.recv_master(Duration::from_secs(10));
    ok(&t.rt.start(&b.id));
    let out = read_pty(&master, Duration::from_secs(10));
    let lines: Vec<&str> = out.lines().map(|l| l.trim_end_matches('\r')).collect();
    assert_eq!(lines, ["/dev/pts/0", "30 100"], "{out:?}");
}

#[test]
fn console_input_reaches_the_process() {
    let Some(t) = Test::new("console_input") else {
        return;
    };
    let sock = ConsoleSocket::bind(&t.dir.join("console.sock"));
    let b = terminal_bundle(&t, "read line; echo got:$line");
    ok(&t.rt.create_with(
        &b.id,
        &b.path,
        &["--console-socket", sock.path.to_str().unwrap()],
    ));
    let master = sock.recv_master(Duration::from_secs(10));
    ok(&t.rt.start(&b.id));
    let mut f = std::fs::File::from(master.try_clone().unwrap());
    std::io::Write::write_all(&mut f, b"hello\n").unwrap();
    let out = read_pty(&master, Duration::from_secs(10));
    assert!(out.contains("got:hello"), "{out:?}");
}

#[test]
fn terminal_without_console_socket_fails_create() {
    let Some(t) = Test::new("console_missing") else {
        return;
    };
    let b = terminal_bundle(&t, "true");
    let err = fails_with(&t.rt.create(&b.id, &b.path), 1);
    assert!(
        err.contains("console"),
        "names the missing console socket: {err}"
    );
    assert!(
        t.rt.state_entries().is_empty(),
        "{:?}",
        t.rt.state_entries()
    );
}

#[test]
fn foreground_run_relays_its_own_pty_without_a_console_socket() {
    let Some(t) = Test::new("console_run_relay") else {
        return;
    };
    if skip_under_runc("runc 1.1.5 needs /dev/tty for a foreground terminal") {
        return;
    }
    let b = terminal_bundle(&t, "tty; echo relayed; exit 4");
    let o = t.run(&b);
    assert_eq!(o.status.code(), Some(4), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("/dev/pts/0"), "{out:?}");
    assert!(out.contains("relayed"), "{out:?}");
}

#[test]
fn detached_run_with_terminal_needs_a_console_socket() {
    let Some(t) = Test::new("console_run_detach") else {
        return;
    };
    let b = terminal_bundle(&t, "true");
    let o = t.rt.run_with(&b.id, &b.path, &["--detach"]);
    fails_with(&o, 1);
    assert!(t.rt.state_entries().is_empty());
}

#[test]
fn the_pty_belongs_to_the_container_user() {
    let Some(t) = Test::new("console_owner") else {
        return;
    };
    let sock = ConsoleSocket::bind(&t.dir.join("console.sock"));
    let b = terminal_bundle(&t, "stat -c %u $(tty)")
        .edit(|c| c["process"]["user"] = json!({"uid": 1000, "gid": 1000}));
    ok(&t.rt.create_with(
        &b.id,
        &b.path,
        &["--console-socket", sock.path.to_str().unwrap()],
    ));
    let master = sock.recv_master(Duration::from_secs(10));
    ok(&t.rt.start(&b.id));
    let out = read_pty(&master, Duration::from_secs(10));
    assert_eq!(out.trim(), "1000", "{out:?}");
}
