//! Exec sessions (`-e --exec-process-spec`): the exec's pid, then its exit code, on the
//! sync pipe; with `--exec-attach`, the attach pipe and the second start message.

use std::fs;
use std::time::Duration;

use integration::shim::*;
use integration::*;
use serde_json::{json, Value};

const TIMEOUT: Duration = Duration::from_secs(20);

fn process(args: &[&str], terminal: bool) -> Value {
    json!({
        "args": args,
        "cwd": "/",
        "env": ["PATH=/bin", "TERM=dumb", "PS1=$ "],
        "terminal": terminal,
        "user": {"uid": 0, "gid": 0},
    })
}

#[test]
fn exec_reports_its_pid_then_its_exit_code() {
    let Some(t) = Test::new("shim_exec_code") else {
        return;
    };
    let b = t.bundle().sh("exec sleep 600");
    let c = t.shim(&b).spawn();
    c.run();
    let p = process(
        &["sh", "-c", "echo from-exec; echo exec-err >&2; exit 7"],
        false,
    );
    let e = t.exec_shim(&c, "sess1", &p).log("k8s-file").spawn();
    let pid = e.created();
    assert!(pid > 0);
    let m = e.sync_message();
    assert_eq!(
        m["data"], 7,
        "the exec's exit code is the second message: {m}"
    );
    assert_eq!(
        e.exit_code(TIMEOUT),
        7,
        "exit file named after the container id"
    );
    assert!(e.wait_gone(TIMEOUT), "the exec's shim exits");
    let lines = k8s_lines(&e.log_file("k8s-file"));
    let mut got = stream_texts(&lines);
    got.sort();
    assert_eq!(
        got,
        [
            ("stderr".to_string(), "exec-err".to_string()),
            ("stdout".to_string(), "from-exec".to_string())
        ]
    );
    assert_eq!(t.rt.status(&b.id), "running", "the container goes on");
}

#[test]
fn exec_of_a_missing_program_reports_the_runtime_error() {
    let Some(t) = Test::new("shim_exec_missing") else {
        return;
    };
    let b = t.bundle().sh("exec sleep 600");
    let c = t.shim(&b).spawn();
    c.run();
    let p = process(&["/no-such-exec-program"], false);
    let e = t.exec_shim(&c, "sess1", &p).spawn();
    let m = e.sync_message();
    assert_eq!(m["data"], -1, "{m}");
    assert!(
        m["message"]
            .as_str()
            .unwrap_or_default()
            .contains("/no-such-exec-program"),
        "the runtime's error names the program: {m}"
    );
}

#[test]
fn exec_attach_waits_for_the_second_start_message() {
    let Some(t) = Test::new("shim_exec_attach") else {
        return;
    };
    let out = t.host_dir("out");
    let b = t
        .bundle()
        .bind(&out, "/out", &["bind"])
        .sh("exec sleep 600");
    let c = t.shim(&b).spawn();
    c.run();
    let p = process(
        &["sh", "-c", "touch /out/ran; echo attached-exec; exit 3"],
        false,
    );
    let e = t.exec_shim(&c, "sess1", &p).exec_attach().spawn();
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        !out.join("ran").exists(),
        "the exec ran before the second start message"
    );
    let mut a = e.attach_exec();
    let pid = e.created();
    assert!(pid > 0);
    a.read_until(STDOUT, "attached-exec\n", TIMEOUT);
    assert_eq!(e.sync_message()["data"], 3);
    assert!(fs::metadata(out.join("ran")).is_ok());
}

#[test]
fn exec_attach_with_a_tty_runs_commands() {
    let Some(t) = Test::new("shim_exec_tty") else {
        return;
    };
    let b = t.bundle().sh("exec sleep 600");
    let c = t.shim(&b).spawn();
    c.run();
    let p = process(&["sh"], true);
    let e = t
        .exec_shim(&c, "sess1", &p)
        .terminal()
        .stdin()
        .exec_attach()
        .spawn();
    let mut a = e.attach_exec();
    e.created();
    a.send(b"echo exec-''tty; stty size\n");
    a.read_until(STDOUT, "exec-tty\r\n", TIMEOUT);
    e.ctl("1 21 77");
    a.retry_until(b"stty size\n", "21 77\r\n", TIMEOUT);
    a.send(b"exit 9\n");
    assert_eq!(e.sync_message()["data"], 9);
}
