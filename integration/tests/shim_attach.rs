//! The attach socket (SOCK_SEQPACKET, a stream-id byte then data), stdin through it, and
//! a pty container driven through it and resized through the ctl and winsz fifos.

use std::fs;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::time::Duration;

use integration::shim::*;
use integration::*;
use serde_json::json;

const TIMEOUT: Duration = Duration::from_secs(20);

/// A bundle that waits for `/out/go` (a host dir), then runs `script`.
fn gated(t: &Test, script: &str) -> (Bundle, std::path::PathBuf) {
    let out = t.host_dir("out");
    let b = t.bundle().bind(&out, "/out", &["bind"]).sh(&format!(
        "while [ ! -e /out/go ]; do sleep 0.05; done; {script}"
    ));
    (b, out.join("go"))
}

#[test]
fn stdout_and_stderr_arrive_with_their_stream_ids() {
    let Some(t) = Test::new("shim_attach_ids") else {
        return;
    };
    let (b, go) = gated(&t, "echo to-out; echo to-err >&2; echo more-out");
    let s = t.shim(&b).spawn();
    s.created();
    let mut a = s.attach();
    s.start();
    fs::write(go, "").unwrap();
    a.read_to_eof(TIMEOUT);
    assert_eq!(a.seen_text(STDOUT), "to-out\nmore-out\n");
    assert_eq!(a.seen_text(STDERR), "to-err\n");
}

#[test]
fn attach_socket_is_seqpacket_mode_0700() {
    let Some(t) = Test::new("shim_attach_mode") else {
        return;
    };
    let b = t.bundle().sh("exec sleep 600");
    let s = t.shim(&b).spawn();
    s.created();
    let path = s.attach_path();
    assert!(
        wait_until(TIMEOUT, || path.exists()),
        "no {}",
        path.display()
    );
    let md = fs::metadata(&path).unwrap();
    assert!(md.file_type().is_socket(), "{} is a socket", path.display());
    assert_eq!(
        md.permissions().mode() & 0o777,
        0o700,
        "mode of {}",
        path.display()
    );
    let ctl = fs::metadata(b.path.join("ctl")).unwrap();
    assert!(ctl.file_type().is_fifo(), "ctl is a fifo");
}

#[test]
fn socket_dir_path_links_cuuid_to_the_bundle() {
    let Some(t) = Test::new("shim_socket_dir") else {
        return;
    };
    let (b, go) = gated(&t, "echo via-socket-dir");
    let s = t.shim(&b).socket_dir().spawn();
    s.created();
    let link = s.dir.join("sock").join(&s.cuuid);
    assert_eq!(
        fs::read_link(&link).ok().as_deref(),
        Some(b.path.as_path()),
        "{}",
        link.display()
    );
    let mut a = s.attach();
    s.start();
    fs::write(go, "").unwrap();
    a.read_until(STDOUT, "via-socket-dir\n", TIMEOUT);
}

#[test]
fn large_output_comes_in_packets_of_at_most_8193_bytes() {
    let Some(t) = Test::new("shim_attach_packets") else {
        return;
    };
    // 100000 bytes in one line: many reads, each at most one packet's worth.
    let (b, go) = gated(&t, "head -c 100000 /dev/zero | tr '\\0' x; echo");
    let s = t.shim(&b).spawn();
    s.created();
    let mut a = s.attach();
    s.start();
    fs::write(go, "").unwrap();
    let mut packets = 0;
    loop {
        match a.recv(TIMEOUT) {
            Received::Data(_, d) => {
                assert!(d.len() < MAX_PACKET, "packet of {} data bytes", d.len());
                packets += 1;
            }
            Received::Eof => break,
            Received::Timeout => panic!("no EOF; got {} bytes", a.seen_text(STDOUT).len()),
        }
    }
    let text = a.seen_text(STDOUT);
    assert_eq!(text.len(), 100001, "all of it arrived");
    assert!(text[..100000].bytes().all(|c| c == b'x'));
    assert!(packets >= 13, "{packets} packets for 100001 bytes");
}

#[test]
fn stdin_written_to_the_socket_reaches_cat() {
    let Some(t) = Test::new("shim_attach_stdin") else {
        return;
    };
    let b = t.bundle().args(&["cat"]);
    let s = t.shim(&b).stdin().spawn();
    s.created();
    let mut a = s.attach();
    s.start();
    a.send(b"hello through the shim\n");
    a.read_until(STDOUT, "hello through the shim\n", TIMEOUT);
    a.send(b"second line\n");
    a.read_until(STDOUT, "second line\n", TIMEOUT);
    // The client's end of stdin closes the container's stdin: cat ends.
    a.shutdown_write();
    assert_eq!(s.exit_code(TIMEOUT), 0);
    assert_eq!(a.seen_text(STDOUT), "hello through the shim\nsecond line\n");
}

#[test]
fn two_clients_both_get_the_output() {
    let Some(t) = Test::new("shim_attach_two") else {
        return;
    };
    let (b, go) = gated(&t, "echo for-everyone");
    let s = t.shim(&b).spawn();
    s.created();
    let mut first = s.attach();
    let mut second = s.attach();
    s.start();
    fs::write(go, "").unwrap();
    first.read_until(STDOUT, "for-everyone\n", TIMEOUT);
    second.read_until(STDOUT, "for-everyone\n", TIMEOUT);
}

/// An interactive shell on a pty, under a shim with `-t -i`.
fn pty_shell(t: &Test) -> Bundle {
    t.bundle().args(&["sh"]).edit(|c| {
        c["process"]["terminal"] = json!(true);
        c["process"]["env"] = json!(["PATH=/bin", "TERM=dumb", "PS1=$ "]);
    })
}

#[test]
fn pty_container_runs_commands_sent_through_the_socket() {
    let Some(t) = Test::new("shim_pty_cmd") else {
        return;
    };
    let b = pty_shell(&t);
    let s = t.shim(&b).terminal().stdin().spawn();
    s.created();
    let mut a = s.attach();
    s.start();
    // Quoted so that the terminal's echo of the command line does not match.
    a.send(b"echo pty-''works; tty\n");
    let out = a.read_until(STDOUT, "pty-works\r\n", TIMEOUT);
    a.read_until(STDOUT, "/dev/pts/", TIMEOUT);
    assert!(
        !a.seen_text(STDERR).contains("pty-works"),
        "a pty has one stream: {out:?}"
    );
    a.send(b"exit 4\n");
    assert_eq!(s.exit_code(TIMEOUT), 4);
}

#[test]
fn ctl_resize_changes_stty_size_inside() {
    let Some(t) = Test::new("shim_pty_resize") else {
        return;
    };
    let b = pty_shell(&t);
    let s = t.shim(&b).terminal().stdin().spawn();
    s.created();
    let mut a = s.attach();
    s.start();
    a.send(b"echo rea''dy\n");
    a.read_until(STDOUT, "ready\r\n", TIMEOUT);
    // ctl message type 1: resize to H rows and W columns.
    s.ctl("1 37 111");
    a.retry_until(b"stty size\n", "37 111\r\n", TIMEOUT);
    s.ctl("1 12 40");
    a.retry_until(b"stty size\n", "12 40\r\n", TIMEOUT);
}

#[test]
fn winsz_fifo_resizes_the_pty() {
    let Some(t) = Test::new("shim_pty_winsz") else {
        return;
    };
    let b = pty_shell(&t);
    let s = t.shim(&b).terminal().stdin().spawn();
    s.created();
    let mut a = s.attach();
    s.start();
    a.send(b"echo rea''dy\n");
    a.read_until(STDOUT, "ready\r\n", TIMEOUT);
    s.winsz("25 90");
    a.retry_until(b"stty size\n", "25 90\r\n", TIMEOUT);
}

#[test]
fn pty_output_reaches_the_k8s_file() {
    let Some(t) = Test::new("shim_pty_log") else {
        return;
    };
    let b = t.bundle().sh("echo on-the-pty").edit(|c| {
        c["process"]["terminal"] = json!(true);
    });
    let s = t.shim(&b).terminal().log("k8s-file").spawn();
    s.run();
    assert_eq!(s.exit_code(TIMEOUT), 0);
    assert!(s.wait_gone(TIMEOUT));
    let lines = k8s_lines(&s.log_file("k8s-file"));
    let texts: Vec<String> = lines
        .iter()
        .map(|l| l.text().trim_end_matches('\r').to_string())
        .collect();
    assert_eq!(texts, ["on-the-pty"], "{lines:?}");
    assert!(lines.iter().all(|l| l.stream == "stdout"));
}

#[test]
fn two_clients_can_both_write_stdin() {
    let Some(t) = Test::new("shim_attach_two_stdin") else {
        return;
    };
    let b = t.bundle().args(&["cat"]);
    let s = t.shim(&b).stdin().spawn();
    s.created();
    let mut first = s.attach();
    let second = s.attach();
    s.start();
    first.send(b"from-one\n");
    first.read_until(STDOUT, "from-one\n", TIMEOUT);
    second.send(b"from-two\n");
    first.read_until(STDOUT, "from-two\n", TIMEOUT);
}

#[test]
fn full_attach_serves_a_bundle_path_longer_than_sun_path() {
    let Some(t) = Test::new("shim_attach_long") else {
        return;
    };
    let (mut b, go) = gated(&t, "echo long-path-ok");
    let long = t
        .dir
        .join("d".repeat(60))
        .join("e".repeat(60))
        .join("bundle");
    fs::create_dir_all(long.parent().unwrap()).unwrap();
    fs::rename(&b.path, &long).unwrap();
    b.path = long;
    assert!(
        b.path.join("attach").as_os_str().len() > 108,
        "longer than sun_path"
    );
    let s = t.shim(&b).spawn();
    s.created();
    let mut a = s.attach();
    s.start();
    fs::write(go, "").unwrap();
    a.read_until(STDOUT, "long-path-ok\n", TIMEOUT);
}
