//! hooks: prestart, createRuntime, createContainer, startContainer, poststart, poststop.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use integration::*;
use serde_json::{json, Value};

/// A host hook: busybox sh running `script`.
fn host_hook(script: &str) -> Value {
    json!({"path": "/bin/busybox", "args": ["sh", "-c", script]})
}

/// A bundle with one hook per stage, each appending its stage name to `<log dir>/log` and
/// saving its stdin to `<log dir>/<stage>.json`. startContainer runs inside the container
/// (after pivot_root), so it uses the rootfs's /bin/sh and the bind-mounted /hooklog.
fn all_hooks_bundle(t: &Test, args: &[&str]) -> (Bundle, PathBuf) {
    let dir = t.host_dir("hooklog");
    let d = dir.display();
    let mut b = t.bundle().bind(&dir, "/hooklog", &["bind"]).args(args);
    for stage in [
        "prestart",
        "createRuntime",
        "createContainer",
        "poststart",
        "poststop",
    ] {
        b = b.hook(
            stage,
            host_hook(&format!("echo {stage} >> {d}/log; cat > {d}/{stage}.json")),
        );
    }
    let b = b.hook(
        "startContainer",
        json!({"path": "/bin/sh", "args": ["sh", "-c",
            "echo startContainer >> /hooklog/log; cat > /hooklog/startContainer.json"]}),
    );
    (b, dir)
}

fn log_lines(dir: &Path) -> Vec<String> {
    fs::read_to_string(dir.join("log"))
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn create_runs_prestart_create_runtime_create_container_in_order() {
    let Some(t) = Test::new("hooks_create_order") else {
        return;
    };
    let (b, dir) = all_hooks_bundle(&t, &["sleep", "60"]);
    ok(&t.rt.create(&b.id, &b.path));
    assert_eq!(
        log_lines(&dir)[..3],
        ["prestart", "createRuntime", "createContainer"]
    );
}

#[test]
fn create_does_not_run_start_hooks() {
    let Some(t) = Test::new("hooks_not_on_create") else {
        return;
    };
    // runc 1.1.5 runs poststart hooks at the end of `create` (fixed in runc 1.2); the spec
    // runs them after the user process started, before `start` returns.
    if skip_under_runc("runc 1.1.5 runs poststart during create") {
        return;
    }
    let (b, dir) = all_hooks_bundle(&t, &["sleep", "60"]);
    ok(&t.rt.create(&b.id, &b.path));
    assert_eq!(
        log_lines(&dir),
        ["prestart", "createRuntime", "createContainer"]
    );
}

#[test]
fn poststart_runs_before_start_returns() {
    let Some(t) = Test::new("hooks_poststart") else {
        return;
    };
    let (b, dir) = all_hooks_bundle(&t, &["sleep", "60"]);
    ok(&t.rt.create(&b.id, &b.path));
    ok(&t.rt.start(&b.id));
    assert!(
        log_lines(&dir).contains(&"poststart".to_string()),
        "{:?}",
        log_lines(&dir)
    );
    assert!(
        wait_until(Duration::from_secs(10), || log_lines(&dir).len() == 5),
        "{:?}",
        log_lines(&dir)
    );
    let mut started = log_lines(&dir)[3..].to_vec();
    started.sort();
    assert_eq!(started, ["poststart", "startContainer"]);
}

#[test]
fn start_container_hook_runs_before_poststart() {
    let Some(t) = Test::new("hooks_start_order") else {
        return;
    };
    // runc 1.1.5 runs poststart during create, before startContainer (see
    // create_does_not_run_start_hooks); the spec orders startContainer (before execve) first.
    if skip_under_runc("runc 1.1.5 runs poststart during create") {
        return;
    }
    let (b, dir) = all_hooks_bundle(&t, &["sleep", "60"]);
    ok(&t.rt.create(&b.id, &b.path));
    ok(&t.rt.start(&b.id));
    assert_eq!(
        log_lines(&dir),
        [
            "prestart",
            "createRuntime",
            "createContainer",
            "startContainer",
            "poststart"
        ]
    );
}

#[test]
fn poststop_runs_on_delete() {
    let Some(t) = Test::new("hooks_poststop") else {
        return;
    };
    let (b, dir) = all_hooks_bundle(&t, &["true"]);
    ok(&t.rt.create(&b.id, &b.path));
    ok(&t.rt.start(&b.id));
    t.rt.wait_status(&b.id, "stopped");
    assert!(
        !log_lines(&dir).contains(&"poststop".to_string()),
        "{:?}",
        log_lines(&dir)
    );
    ok(&t.rt.delete(&b.id));
    assert_eq!(log_lines(&dir).last().map(String::as_str), Some("poststop"));
    let state = read_json(&dir.join("poststop.json"));
    assert_eq!(state["status"], "stopped", "{state}");
}

#[test]
fn hooks_receive_state_on_stdin() {
    let Some(t) = Test::new("hooks_state_stdin") else {
        return;
    };
    let (b, dir) = all_hooks_bundle(&t, &["sleep", "60"]);
    ok(&t.rt.create(&b.id, &b.path));
    let pid = t.rt.state_json(&b.id)["pid"].clone();
    ok(&t.rt.start(&b.id));
    assert!(wait_until(Duration::from_secs(10), || dir
        .join("startContainer.json")
        .exists()));
    for stage in [
        "prestart",
        "createRuntime",
        "createContainer",
        "startContainer",
        "poststart",
    ] {
        let s = read_json(&dir.join(format!("{stage}.json")));
        assert_eq!(s["id"], b.id.as_str(), "{stage}: {s}");
        assert_eq!(s["bundle"], b.path.to_str().unwrap(), "{stage}: {s}");
        assert!(s["ociVersion"].is_string(), "{stage}: {s}");
        assert!(
            ["creating", "created", "running"].contains(&s["status"].as_str().unwrap_or("")),
            "{stage}: {s}"
        );
        assert!(s["pid"].as_i64().is_some_and(|p| p > 0), "{stage}: {s}");
    }
    // Hooks in the runtime namespace see the init's pid as the host sees it.
    for stage in ["prestart", "createRuntime", "poststart"] {
        let s = read_json(&dir.join(format!("{stage}.json")));
        assert_eq!(s["pid"], pid, "{stage}: {s}");
    }
}

#[test]
fn hook_env_is_exactly_the_given_env() {
    let Some(t) = Test::new("hooks_env") else {
        return;
    };
    let dir = t.host_dir("hooklog");
    let b = t.bundle().args(&["true"]).hook(
        "createRuntime",
        json!({"path": "/bin/busybox", "args": ["sh", "-c", format!("env > {}/env", dir.display())],
               "env": ["HOOKVAR=hook value", "OTHER=1"]}),
    );
    let mut cmd =
        t.rt.command(&["create", "--bundle", b.path.to_str().unwrap(), &b.id]);
    cmd.env("BERTH_RUNTIME_ONLY", "leaked");
    ok(&t.rt.create_from(&b.id, cmd));
    let env = fs::read_to_string(dir.join("env")).unwrap();
    let vars: Vec<&str> = env.lines().collect();
    assert!(vars.contains(&"HOOKVAR=hook value"), "{env}");
    assert!(vars.contains(&"OTHER=1"), "{env}");
    assert!(
        !env.contains("BERTH_RUNTIME_ONLY"),
        "the runtime's env leaked into the hook: {env}"
    );
}

#[test]
fn hook_args_are_passed() {
    let Some(t) = Test::new("hooks_args") else {
        return;
    };
    let dir = t.host_dir("hooklog");
    let script = format!("echo \"$0|$1|$2\" > {}/args", dir.display());
    let b = t.bundle().args(&["true"]).hook(
        "createRuntime",
        json!({"path": "/bin/busybox", "args": ["sh", "-c", script, "zero", "one two"]}),
    );
    ok(&t.rt.create(&b.id, &b.path));
    assert_eq!(
        fs::read_to_string(dir.join("args")).unwrap(),
        "zero|one two|\n"
    );
}

#[test]
fn create_container_hook_runs_in_container_namespaces() {
    let Some(t) = Test::new("hooks_create_container_ns") else {
        return;
    };
    let dir = t.host_dir("hooklog");
    let d = dir.display();
    let b = t.bundle().args(&["true"]).namespace("uts", None).hook(
        "createContainer",
        host_hook(&format!(
            "for n in mnt uts; do readlink /proc/self/ns/$n; done > {d}/ns"
        )),
    );
    ok(&t.rt.create(&b.id, &b.path));
    let pid = t.rt.state_json(&b.id)["pid"].to_string();
    let ns = fs::read_to_string(dir.join("ns")).unwrap();
    assert_eq!(
        ns,
        format!("{}\n{}\n", ns_of(&pid, "mnt"), ns_of(&pid, "uts"))
    );
    assert_ne!(ns.lines().next().unwrap(), host_ns("mnt"));
}

#[test]
fn start_container_hook_runs_inside_the_container() {
    let Some(t) = Test::new("hooks_start_container_inside") else {
        return;
    };
    let dir = t.host_dir("hooklog");
    let b = t.bundle().args(&["sleep", "60"]).bind(&dir, "/hooklog", &["bind"]).hook(
        "startContainer",
        json!({"path": "/bin/sh", "args": ["sh", "-c", "ls / > /hooklog/root; echo $$ > /hooklog/pid"]}),
    );
    ok(&t.rt.create(&b.id, &b.path));
    ok(&t.rt.start(&b.id));
    assert!(wait_until(Duration::from_secs(10), || dir
        .join("pid")
        .exists()));
    // Its / is the container's rootfs: it sees the bind-mounted /hooklog.
    let root = fs::read_to_string(dir.join("root")).unwrap();
    assert!(root.lines().any(|l| l == "hooklog"), "{root}");
}

#[test]
fn hook_timeout_kills_hook_and_fails_create() {
    let Some(t) = Test::new("hooks_timeout") else {
        return;
    };
    let dir = t.host_dir("hooklog");
    let b = t.bundle().args(&["true"]).hook(
        "createRuntime",
        json!({"path": "/bin/busybox",
               "args": ["sh", "-c", format!("echo $$ > {}/pid; exec sleep 60", dir.display())],
               "timeout": 1}),
    );
    let began = Instant::now();
    let o = t.rt.create(&b.id, &b.path);
    assert!(
        began.elapsed() < Duration::from_secs(20),
        "create waited {:?}",
        began.elapsed()
    );
    let line = single_error_line(&o);
    fails_with(&o, 1);
    assert!(
        line.contains("timeout") || line.contains("timed out"),
        "{line}"
    );
    let hook_pid: i32 = fs::read_to_string(dir.join("pid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(
        wait_until(Duration::from_secs(5), || !pid_alive(hook_pid)),
        "hook {hook_pid} still runs"
    );
    assert!(
        t.rt.state_entries().is_empty(),
        "{:?}",
        t.rt.state_entries()
    );
}

#[test]
fn failing_create_runtime_hook_fails_create_and_leaves_nothing() {
    let Some(t) = Test::new("hooks_failing") else {
        return;
    };
    let b = t
        .bundle()
        .args(&["true"])
        .hook("createRuntime", host_hook("echo hookboom >&2; exit 3"));
    let o = t.rt.create(&b.id, &b.path);
    let line = single_error_line(&o);
    fails_with(&o, 1);
    assert!(
        line.contains("hookboom"),
        "the hook's stderr is in the error: {line}"
    );
    assert!(
        t.rt.state_entries().is_empty(),
        "{:?}",
        t.rt.state_entries()
    );
    assert_eq!(ok(&t.rt.list(&["-q"])), "");
    assert!(host_mounts_mentioning(&b.path).is_empty());
    let cg = Path::new("/sys/fs/cgroup/pids")
        .join(CGROUP_PARENT)
        .join(&b.id);
    assert!(!cg.exists(), "cgroup {} left behind", cg.display());
}

/// As runc's init does: a createContainer hook runs in the rootfs (the old
/// root is still there for it) and, naming no env of its own, with the
/// container process's environment; a startContainer hook runs in the
/// process's cwd with the same environment.
#[test]
fn container_hooks_run_in_runc_s_cwd_with_the_process_env() {
    let Some(t) = Test::new("hooks_container_cwd_env") else {
        return;
    };
    let dir = t.host_dir("hooklog");
    let d = dir.display();
    let b = t
        .bundle()
        .args(&["true"])
        .env("BERTH_HOOK_TEST=from-process")
        .cwd("/tmp")
        .bind(&dir, "/hooklog", &["bind"])
        .hook(
            "createContainer",
            json!({"path": "/bin/busybox", "args": ["sh", "-c",
                format!("pwd > {d}/create; echo $BERTH_HOOK_TEST >> {d}/create")]}),
        )
        .hook(
            "startContainer",
            json!({"path": "/bin/sh", "args": ["sh", "-c",
                "pwd > /hooklog/start; echo $BERTH_HOOK_TEST >> /hooklog/start"]}),
        );
    let rootfs = fs::canonicalize(b.rootfs()).unwrap();
    ok(&t.rt.create(&b.id, &b.path));
    ok(&t.rt.start(&b.id));
    assert!(wait_until(Duration::from_secs(10), || dir
        .join("start")
        .exists()));
    assert_eq!(
        fs::read_to_string(dir.join("create")).unwrap(),
        format!("{}\nfrom-process\n", rootfs.display())
    );
    assert!(wait_until(Duration::from_secs(5), || fs::read_to_string(
        dir.join("start")
    )
    .unwrap_or_default()
    .ends_with('\n')
        && fs::read_to_string(dir.join("start"))
            .unwrap()
            .lines()
            .count()
            == 2));
    assert_eq!(
        fs::read_to_string(dir.join("start")).unwrap(),
        "/tmp\nfrom-process\n"
    );
}

/// A failing startContainer hook stops the container, which never runs its
/// program, and the container's stderr says so in runc's words. The
/// runtime-spec also asks the runtime to generate an error: berth's `start`
/// fails with it (runc 1.1.5's exits 0).
#[test]
fn failing_start_container_hook_stops_the_container() {
    let Some(t) = Test::new("hooks_start_container_fails") else {
        return;
    };
    let b = t
        .bundle()
        .args(&["echo", "program ran"])
        .hook("startContainer", json!({"path": "/bin/false"}));
    ok(&t.rt.create(&b.id, &b.path));
    let start = t.rt.start(&b.id);
    t.rt.wait_status(&b.id, "stopped");
    assert_eq!(t.rt.container_stdout(&b.id), "");
    let stderr = t.rt.container_stderr(&b.id);
    assert!(stderr.contains("error running hook #0"), "{stderr}");
    if !runtime_is_runc() {
        let line = single_error_line(&start);
        assert!(line.contains("error running hook #0"), "{line}");
        assert!(line.contains("startContainer"), "{line}");
        assert_eq!(start.status.code(), Some(1));
    }
}
