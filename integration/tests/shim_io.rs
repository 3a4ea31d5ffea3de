//! The rest of the shim's I/O contract: OOM kills recorded, the log reopened on ctl
//! message 2, a client that never reads not blocking the container, `--leave-stdin-open`,
//! the syslog and passthrough drivers.

use std::fs;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::symlink;
use std::path::Path;
use std::time::Duration;

use integration::shim::*;
use integration::*;
use serde_json::json;

const TIMEOUT: Duration = Duration::from_secs(30);

#[test]
fn oom_kill_leaves_an_oom_file_in_the_persist_dir() {
    let Some(t) = Test::new("shim_oom") else {
        return;
    };
    let b = t
        .bundle()
        .edit(|c| {
            c["linux"]["resources"] = json!({"memory": {"limit": 16 << 20}});
        })
        // dd allocates its block in one piece: 256 MiB in a 16 MiB cgroup.
        .sh("dd if=/dev/zero of=/dev/null bs=256M count=1");
    symlink("busybox", b.rootfs().join("bin/dd")).unwrap();
    let s = t.shim(&b).persist().spawn();
    s.run();
    assert_eq!(s.exit_code(TIMEOUT), 137, "killed by the OOM killer");
    assert!(s.wait_gone(TIMEOUT));
    let oom = s.persist_dir().join("oom");
    assert!(oom.exists(), "no {}", oom.display());
    assert_eq!(
        fs::metadata(&oom).unwrap().len(),
        0,
        "the oom file is empty"
    );
}

#[test]
fn a_plain_exit_leaves_no_oom_file() {
    let Some(t) = Test::new("shim_no_oom") else {
        return;
    };
    let b = t.bundle().sh("exit 137");
    let s = t.shim(&b).persist().spawn();
    s.run();
    assert_eq!(s.exit_code(TIMEOUT), 137);
    assert!(s.wait_gone(TIMEOUT));
    assert!(!s.persist_dir().join("oom").exists());
}

#[test]
fn ctl_2_reopens_the_log_after_it_was_moved_away() {
    let Some(t) = Test::new("shim_log_reopen") else {
        return;
    };
    let out = t.host_dir("out");
    let b = t.bundle().bind(&out, "/out", &["bind"]).sh(
        "i=0; while [ ! -e /out/go ]; do echo tick-$i; i=$((i+1)); sleep 0.02; done; echo last",
    );
    let s = t.shim(&b).log("k8s-file").spawn();
    s.run();
    let log = s.log_file("k8s-file");
    assert!(
        wait_until(TIMEOUT, || k8s_lines(&log).len() >= 5),
        "no ticks logged"
    );
    // What logrotate does: move the file away, then tell the shim.
    let moved = log.with_extension("log.old");
    fs::rename(&log, &moved).unwrap();
    s.ctl("2 0 0");
    assert!(
        wait_until(TIMEOUT, || log.exists() && k8s_lines(&log).len() >= 5),
        "no new log file after ctl 2\n{}",
        s.diagnostics()
    );
    fs::write(out.join("go"), "").unwrap();
    assert_eq!(s.exit_code(TIMEOUT), 0);
    assert!(s.wait_gone(TIMEOUT));
    let mut texts: Vec<String> = k8s_lines(&moved).iter().map(|l| l.text()).collect();
    texts.extend(k8s_lines(&log).iter().map(|l| l.text()));
    let last = texts.pop();
    assert_eq!(last.as_deref(), Some("last"));
    let want: Vec<String> = (0..texts.len()).map(|i| format!("tick-{i}")).collect();
    assert_eq!(texts, want, "every line in one of the two files, in order");
}

#[test]
fn a_client_that_never_reads_does_not_block_the_container() {
    let Some(t) = Test::new("shim_slow_client") else {
        return;
    };
    if skip_under_conmon("conmon writes to attach clients with blocking writes") {
        return;
    }
    // 16 MiB of output, far more than the socket buffers of a client that never reads.
    let b = t
        .bundle()
        .sh("i=0; while [ $i -lt 4096 ]; do head -c 4095 /dev/zero | tr '\\0' z; echo; i=$((i+1)); done; echo done");
    let s = t.shim(&b).log("k8s-file").spawn();
    s.created();
    let _idle = s.attach();
    s.start();
    assert_eq!(s.exit_code(TIMEOUT), 0, "the container finished");
    assert!(s.wait_gone(TIMEOUT));
    let lines = k8s_lines(&s.log_file("k8s-file"));
    assert_eq!(lines.len(), 4097, "the log got everything");
}

#[test]
fn leave_stdin_open_keeps_stdin_for_the_next_client() {
    let Some(t) = Test::new("shim_stdin_open") else {
        return;
    };
    let b = t.bundle().args(&["cat"]);
    let s = t.shim(&b).stdin().args(&["--leave-stdin-open"]).spawn();
    s.created();
    let mut first = s.attach();
    s.start();
    first.send(b"one\n");
    first.read_until(STDOUT, "one\n", TIMEOUT);
    first.shutdown_write();
    drop(first);
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        !s.exit_file().exists(),
        "cat ended: stdin was closed with the first client"
    );
    let mut second = s.attach();
    second.send(b"two\n");
    second.read_until(STDOUT, "two\n", TIMEOUT);
}

/// A unixgram socket bound at `path`, receiving what the shim sends to syslog.
fn syslog_socket(path: &Path) -> OwnedFd {
    // SAFETY: plain socket(2); the fd is owned right away.
    let raw = unsafe { libc::socket(libc::AF_UNIX, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    assert!(raw >= 0);
    // SAFETY: raw is a fresh fd we own.
    let fd = unsafe { OwnedFd::from_raw_fd(raw) };
    // SAFETY: sockaddr_un is plain old data; zeroed is a valid value.
    let mut addr: libc::sockaddr_un = unsafe { std::mem::zeroed() };
    addr.sun_family = libc::AF_UNIX as libc::sa_family_t;
    let bytes = path.as_os_str().as_bytes();
    assert!(bytes.len() < addr.sun_path.len(), "socket path too long");
    for (d, s) in addr.sun_path.iter_mut().zip(bytes) {
        *d = *s as libc::c_char;
    }
    let len = std::mem::size_of::<libc::sockaddr_un>() as libc::socklen_t;
    // SAFETY: addr is a valid sockaddr_un of size len.
    let r = unsafe {
        libc::bind(
            fd.as_raw_fd(),
            (&addr as *const libc::sockaddr_un).cast(),
            len,
        )
    };
    assert_eq!(
        r,
        0,
        "bind {}: {}",
        path.display(),
        std::io::Error::last_os_error()
    );
    fd
}

fn datagrams(fd: &OwnedFd, want: usize) -> Vec<String> {
    let mut got = Vec::new();
    let mut buf = [0u8; 65536];
    while got.len() < want {
        let mut p = libc::pollfd {
            fd: fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd.
        if unsafe { libc::poll(&mut p, 1, TIMEOUT.as_millis() as i32) } <= 0 {
            break;
        }
        // SAFETY: recv into a valid buffer of its size.
        let n = unsafe { libc::recv(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
        if n > 0 {
            got.push(String::from_utf8_lossy(&buf[..n as usize]).into_owned());
        }
    }
    got
}

#[test]
fn syslog_driver_sends_each_line_with_dockers_priorities_and_tag() {
    let Some(t) = Test::new("shim_syslog") else {
        return;
    };
    if skip_under_conmon("the syslog log driver is berth-shim's") {
        return;
    }
    let sock_path = t.dir.join("syslog.sock");
    let sock = syslog_socket(&sock_path);
    let b = t.bundle().sh("echo to-out; echo to-err >&2");
    let s = t
        .shim(&b)
        .args(&["-l", &format!("syslog:unixgram://{}", sock_path.display())])
        .args(&["--log-tag", "mytag"])
        .spawn();
    s.run();
    assert_eq!(s.exit_code(TIMEOUT), 0);
    let mut got = datagrams(&sock, 2);
    got.sort();
    assert_eq!(got.len(), 2, "{got:?}");
    // daemon.err (3*8+3) for stderr, daemon.info (3*8+6) for stdout.
    assert!(got[0].starts_with("<27>"), "{got:?}");
    assert!(got[1].starts_with("<30>"), "{got:?}");
    for (g, text) in got.iter().zip(["to-err", "to-out"]) {
        assert!(g.contains("mytag"), "tag in {g:?}");
        assert!(g.trim_end().ends_with(text), "{text} in {g:?}");
    }
}

#[test]
fn passthrough_gives_the_container_the_callers_stdio() {
    let Some(t) = Test::new("shim_passthrough") else {
        return;
    };
    let b = t.bundle().sh("echo straight-through; echo err-through >&2");
    let s = t.shim(&b).args(&["-l", "passthrough"]).spawn();
    s.run();
    assert_eq!(s.exit_code(TIMEOUT), 0);
    assert!(s.wait_gone(TIMEOUT));
    let out = fs::read_to_string(s.dir.join("launch.stdout")).unwrap();
    let err = fs::read_to_string(s.dir.join("launch.stderr")).unwrap();
    assert!(
        out.contains("straight-through\n"),
        "caller's stdout: {out:?}"
    );
    assert!(err.contains("err-through\n"), "caller's stderr: {err:?}");
}

#[test]
fn a_syslog_receiver_that_never_reads_does_not_block_the_container() {
    let Some(t) = Test::new("shim_syslog_stuck") else {
        return;
    };
    if skip_under_conmon("the syslog log driver is berth-shim's") {
        return;
    }
    let sock_path = t.dir.join("syslog.sock");
    let _never_read = syslog_socket(&sock_path);
    let b = t
        .bundle()
        .sh("i=0; while [ $i -lt 20000 ]; do echo line-$i; i=$((i+1)); done");
    let s = t
        .shim(&b)
        .args(&["-l", &format!("syslog:unixgram://{}", sock_path.display())])
        .log("k8s-file")
        .spawn();
    s.run();
    assert_eq!(s.exit_code(TIMEOUT), 0, "the container finished");
    assert!(s.wait_gone(TIMEOUT));
    assert_eq!(
        k8s_lines(&s.log_file("k8s-file")).len(),
        20000,
        "the file driver got everything"
    );
}
