//! Error lines that point at the real cause and that tools can find: the word
//! `error` in each (tools grep for it), an OS error once, a flag's value
//! blamed on the flag, a missing absolute program as what it is, and an init
//! killed by its memory limit said to be so.

use integration::*;
use serde_json::json;

#[test]
fn error_line_carries_the_word_error() {
    let Some(t) = Test::new("err_word") else {
        return;
    };
    for args in [
        &["state", "no-such-id"][..],
        &["kill", "no-such-id", "KILL"],
        &["delete", "no-such-id"],
    ] {
        let err = fails_with(&t.rt.exec(args), 1);
        for line in err.lines().filter(|l| !l.trim().is_empty()) {
            assert!(line.contains("error"), "{args:?}: {line}");
        }
    }
}

#[test]
fn os_error_is_printed_once() {
    let Some(t) = Test::new("err_os_once") else {
        return;
    };
    let b = t.bundle().args(&["true"]);
    let pid_file = t.dir.join("no-such-dir/pid");
    let o =
        t.rt.run_with(&b.id, &b.path, &["--pid-file", &pid_file.to_string_lossy()]);
    let err = fails_with(&o, 1).to_lowercase();
    assert_eq!(err.matches("no such file or directory").count(), 1, "{err}");
}

#[test]
fn missing_absolute_program_says_so_without_path_lookup() {
    let Some(t) = Test::new("err_abs_program") else {
        return;
    };
    let b = t.bundle().args(&["/no/such/program"]);
    let err = fails_with(&t.run(&b), 1);
    assert!(err.contains("/no/such/program"), "{err}");
    assert!(
        err.to_lowercase().contains("no such file or directory"),
        "{err}"
    );
    assert!(!err.contains("$PATH"), "{err}");
}

#[test]
fn exec_program_from_the_command_line_is_not_blamed_on_config_json() {
    let Some(t) = Test::new("err_exec_flag") else {
        return;
    };
    let b = t.bundle().args(&["sleep", "100"]);
    ok(&t.rt.run_with(&b.id, &b.path, &["--detach"]));
    let o = t.rt.exec(&["exec", &b.id, "/no/such/program"]);
    let err = stderr(&o);
    assert!(!o.status.success(), "{err}");
    assert!(err.contains("/no/such/program"), "{err}");
    assert!(!err.contains("config.json"), "{err}");
    assert!(!err.contains("$PATH"), "{err}");
}

#[test]
fn console_socket_without_terminal_blames_the_flag() {
    let Some(t) = Test::new("err_console_flag") else {
        return;
    };
    if skip_under_runc("runc 1.1.5 ignores --console-socket when process.terminal is false") {
        return;
    }
    let b = t.bundle().args(&["true"]);
    let socket = ConsoleSocket::bind(&t.dir.join("console.sock"));
    let o = t.rt.create_with(
        &b.id,
        &b.path,
        &["--console-socket", &socket.path.to_string_lossy()],
    );
    let line = single_error_line(&o);
    assert!(line.contains("error: --console-socket: "), "{line}");
}

#[test]
fn init_killed_by_its_memory_limit_says_the_limit_is_too_low() {
    let Some(t) = Test::new("err_oom_init") else {
        return;
    };
    if skip_under_runc("runc 1.1.5 refuses a limit below its usage, before its init runs") {
        return;
    }
    if !std::path::Path::new("/sys/fs/cgroup/memory").is_dir()
        && !std::fs::read_to_string("/sys/fs/cgroup/cgroup.controllers")
            .unwrap_or_default()
            .contains("memory")
    {
        panic!("no memory controller on this host: the test cannot check an OOM kill");
    }
    let b = t
        .bundle()
        .args(&["true"])
        .edit(|c| c["linux"]["resources"] = json!({"memory": {"limit": 65536}}));
    let err = fails_with(&t.run(&b), 1);
    assert!(err.contains("OOM"), "{err}");
    assert!(err.contains("too low"), "{err}");
}

#[test]
fn invalid_config_field_says_invalid_configuration() {
    let Some(t) = Test::new("err_invalid_config") else {
        return;
    };
    if skip_under_runc("runc 1.1.5's validation errors do not carry these words") {
        return;
    }
    let b = t.bundle().namespace("user", None);
    let line = single_error_line(&t.rt.create(&b.id, &b.path));
    assert!(line.contains("invalid configuration"), "{line}");
    assert!(line.contains("uidMappings"), "{line}");
}
