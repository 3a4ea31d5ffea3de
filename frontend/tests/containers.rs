//! Containers end to end, in the order of the Docker book's chapter 3: run, ps,
//! names, stop and start, restart, kill, pause, rm, and the errors in between. Real
//! containers under the real berth-shim and berth-runtime (run as root).

mod support;

use std::time::{Duration, Instant};

use berth_engine::container::spec::default_cgroup_parent;
use support::TestStore;

/// A store with the local busybox image, and berth-shim / berth-runtime built next
/// to the berth under test (cargo builds the workspace's binaries together).
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

/// `ps -a` rows as (name, status) pairs.
fn statuses(store: &TestStore) -> Vec<(String, String)> {
    store
        .ok(&["ps", "-a", "--format", "{{.Names}}|{{.Status}}"])
        .lines()
        .filter_map(|l| l.split_once('|'))
        .map(|(n, s)| (n.to_string(), s.to_string()))
        .collect()
}

fn status_of(store: &TestStore, name: &str) -> String {
    statuses(store)
        .into_iter()
        .find(|(n, _)| n == name)
        .map(|(_, s)| s)
        .unwrap_or_else(|| panic!("{name} not in ps -a"))
}

#[test]
fn a_detached_container_runs_is_listed_stopped_started_and_removed() {
    let store = store();
    let id = store.ok(&[
        "run",
        "-d",
        "--name",
        "daemon_dave",
        "busybox",
        "sleep",
        "1000",
    ]);
    let id = id.trim();
    assert_eq!(id.len(), 64, "run -d prints the full id: {id}");

    let ps = store.ok(&["ps"]);
    let mut lines = ps.lines();
    let header = lines.next().unwrap();
    for column in [
        "CONTAINER ID",
        "IMAGE",
        "COMMAND",
        "CREATED",
        "STATUS",
        "PORTS",
        "NAMES",
    ] {
        assert!(header.contains(column), "{header}");
    }
    let row = lines.next().expect("one container listed");
    assert!(row.starts_with(&id[..12]), "{row}");
    assert!(
        row.contains("busybox") && row.contains("\"sleep 1000\""),
        "{row}"
    );
    assert!(row.contains("Up "), "{row}");
    assert!(row.trim_end().ends_with("daemon_dave"), "{row}");
    assert_eq!(store.ok(&["ps", "-q"]).trim(), &id[..12]);
    let sized = store.ok(&["ps", "-s"]);
    assert!(
        sized.lines().next().unwrap().trim_end().ends_with("SIZE"),
        "{sized}"
    );
    assert!(
        sized.lines().nth(1).unwrap().contains(" (virtual "),
        "{sized}"
    );
    assert_eq!(store.ok(&["ps", "-q", "--no-trunc"]).trim(), id);

    // By name, by id prefix: the argument is echoed as Docker does.
    assert_eq!(
        store.ok(&["stop", "-t", "1", "daemon_dave"]).trim(),
        "daemon_dave"
    );
    let status = status_of(&store, "daemon_dave");
    assert!(
        status.starts_with("Exited (137)") || status.starts_with("Exited (143)"),
        "{status}"
    );
    assert!(store.ok(&["ps", "-q"]).trim().is_empty());

    assert_eq!(store.ok(&["start", &id[..8]]).trim(), &id[..8]);
    assert!(status_of(&store, "daemon_dave").starts_with("Up "));
    store.ok(&["restart", "-t", "0", "daemon_dave"]);
    assert!(status_of(&store, "daemon_dave").starts_with("Up "));

    store.ok(&["pause", "daemon_dave"]);
    assert!(status_of(&store, "daemon_dave").ends_with("(Paused)"));
    store.ok(&["unpause", "daemon_dave"]);
    assert!(!status_of(&store, "daemon_dave").ends_with("(Paused)"));

    let err = store.fails(&["rm", "daemon_dave"]);
    assert!(
        err.contains("You cannot remove a running container ")
            && err.contains("Stop the container before attempting removal or force remove"),
        "{err}"
    );
    store.ok(&["kill", "-s", "KILL", "daemon_dave"]);
    wait_for("the kill", || {
        status_of(&store, "daemon_dave").starts_with("Exited (137)")
    });
    assert_eq!(store.ok(&["rm", "daemon_dave"]).trim(), "daemon_dave");
    assert!(statuses(&store).is_empty());
    assert!(!store.root().join("containers").join(id).exists());
}

#[test]
fn a_foreground_run_exits_with_the_containers_status_and_rm_removes_it() {
    let store = store();
    let out = store.berth(&["run", "--name", "three", "busybox", "sh", "-c", "exit 3"]);
    assert_eq!(out.status.code(), Some(3));
    assert!(status_of(&store, "three").starts_with("Exited (3)"));
    let out = store.berth(&["run", "--rm", "busybox", "true"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The --rm container is gone when run returns (Docker's run waits for the
    // removal too); the other stays. Several times, since the removal races run.
    assert_eq!(statuses(&store).len(), 1, "{:?}", statuses(&store));
    for _ in 0..5 {
        store.ok(&["run", "--rm", "busybox", "true"]);
        assert_eq!(statuses(&store).len(), 1, "{:?}", statuses(&store));
    }
    assert_eq!(store.ok(&["wait", "three"]).trim(), "3");
    // The shims' exit commands, which come after run removed each one, leave no
    // lock file behind for a container that is gone.
    let three = store.ok(&["inspect", "--format", "{{.Id}}", "three"]);
    let locks = store.root().join("run/locks");
    wait_for("the exit commands", || {
        std::fs::read_dir(&locks)
            .unwrap()
            .all(|e| e.unwrap().file_name().to_string_lossy() == three.trim())
    });
}

#[test]
fn names_are_generated_unique_and_renamed() {
    let store = store();
    store.ok(&["create", "--name", "web", "busybox", "true"]);
    let err = store.fails(&["create", "--name", "web", "busybox", "true"]);
    assert!(err.contains("\"/web\" is already in use"), "{err}");
    let id = store.ok(&["create", "busybox", "true"]);
    let rows = statuses(&store);
    assert_eq!(rows.len(), 2);
    let generated = rows.iter().find(|(n, _)| n != "web").unwrap().0.clone();
    assert!(generated.contains('_'), "{generated}");
    assert_eq!(status_of(&store, "web"), "Created");
    store.ok(&["rename", id.trim(), "api"]);
    assert_eq!(status_of(&store, "api"), "Created");
    let err = store.fails(&["rename", "api", "web"]);
    assert!(err.contains("already in use"), "{err}");
    let err = store.fails(&["create", "--name=-bad", "busybox", "true"]);
    assert!(err.contains("Invalid container name"), "{err}");
}

#[test]
fn errors_are_one_line_with_dockers_exit_codes_and_leave_nothing() {
    let store = store();
    for (args, code, words) in [
        (vec!["stop", "nope"], 1, "No such container: nope"),
        (vec!["rm", "nope"], 1, "No such container: nope"),
        (
            vec!["run", "--memory", "lots", "busybox", "true"],
            125,
            "invalid size",
        ),
        (
            vec!["run", "--restart", "sometimes", "busybox", "true"],
            125,
            "sometimes",
        ),
        (
            vec!["run", "--network", "nosuchnet", "busybox", "true"],
            125,
            "network nosuchnet not found",
        ),
        (
            vec!["run", "--runtime", "/nonexistent/rt", "busybox", "true"],
            125,
            "/nonexistent/rt",
        ),
        (vec!["run", "--bogus-flag", "busybox"], 125, "--bogus-flag"),
        // Not in the store: pulled first, as Docker does; nothing answers here.
        (
            vec!["run", "127.0.0.1:1/nothing", "true"],
            125,
            "Unable to find image '127.0.0.1:1/nothing:latest' locally",
        ),
    ] {
        let out = store.berth(&args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(code), "{args:?}: {stderr}");
        assert!(stderr.contains(words), "{args:?}: {stderr}");
    }
    // An image without a command.
    let tar = support::busybox_rootfs_tar(store.dir.path());
    store.ok(&["import", tar.to_str().unwrap(), "nocmd"]);
    let out = store.berth(&["run", "nocmd"]);
    assert_eq!(out.status.code(), Some(125));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no command specified"));
    // Nothing was made by any of them.
    assert!(statuses(&store).is_empty());
    let left = std::fs::read_dir(store.root().join("containers"))
        .map(|d| d.count())
        .unwrap_or(0);
    assert_eq!(left, 0);
}

#[test]
fn a_container_whose_shim_died_is_never_shown_up() {
    let store = store();
    let id = store.ok(&["run", "-d", "busybox", "sleep", "1000"]);
    let id = id.trim();
    let pid: i32 =
        std::fs::read_to_string(store.root().join("containers").join(id).join("shim.pid"))
            .unwrap()
            .trim()
            .parse()
            .unwrap();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    wait_for("the shim to go", || {
        !std::path::Path::new(&format!("/proc/{pid}")).exists()
            || std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| s.contains(") Z"))
    });
    let row = store.ok(&["ps", "-a"]);
    assert!(!row.contains("Up "), "{row}");
    assert!(row.contains("Exited (255)"), "{row}");
    store.ok(&["rm", "-f", id]);
}

#[test]
fn restart_policies_bring_a_container_back_until_it_is_stopped() {
    let store = store();
    store.ok(&[
        "run",
        "-d",
        "--name",
        "flaky",
        "--restart",
        "on-failure:2",
        "busybox",
        "sh",
        "-c",
        "exit 1",
    ]);
    let mut last = String::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !last.starts_with("Exited (1)") {
        assert!(
            Instant::now() < deadline,
            "no exit after two restarts: {last}; {}",
            store.ok(&["inspect", "flaky"])
        );
        std::thread::sleep(Duration::from_millis(50));
        last = status_of(&store, "flaky");
    }
    let count = store.ok(&["container", "ls", "-a", "--format", "{{.Names}}"]);
    assert!(count.contains("flaky"));
    let restarts = std::fs::read_to_string(
        std::fs::read_dir(store.root().join("containers"))
            .unwrap()
            .next()
            .unwrap()
            .unwrap()
            .path()
            .join("persist/restart-count"),
    )
    .unwrap();
    assert_eq!(restarts.trim(), "2");

    store.ok(&[
        "run",
        "-d",
        "--name",
        "always",
        "--restart",
        "always",
        "busybox",
        "sleep",
        "1000",
    ]);
    store.ok(&["stop", "-t", "0", "always"]);
    // Stopped by the user: it stays down.
    std::thread::sleep(Duration::from_millis(500));
    assert!(status_of(&store, "always").starts_with("Exited"));
}

#[test]
fn inspect_shows_dockers_shape_and_renders_templates_as_docker() {
    let store = store();
    let id = store.ok(&[
        "run", "-d", "--name", "insp", "-e", "A=1", "busybox", "sleep", "1000",
    ]);
    let id = id.trim();
    let json: serde_json::Value = serde_json::from_str(&store.ok(&["inspect", "insp"])).unwrap();
    let c = &json[0];
    assert_eq!(c["Id"], id);
    assert_eq!(c["Name"], "/insp");
    assert_eq!(c["State"]["Status"], "running");
    assert_eq!(c["State"]["Running"], true);
    assert!(c["State"]["Pid"].as_i64().unwrap() > 0);
    assert_eq!(c["Path"], "sleep");
    assert_eq!(c["Args"], serde_json::json!(["1000"]));
    assert_eq!(c["Config"]["Hostname"], &id[..12]);
    assert!(c["Config"]["Env"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e == "A=1"));
    assert_eq!(c["HostConfig"]["RestartPolicy"]["Name"], "no");
    // Keys in Docker's order.
    let text = store.ok(&["container", "inspect", id]);
    let order: Vec<usize> = [
        "\"Id\"",
        "\"Created\"",
        "\"Path\"",
        "\"State\"",
        "\"Image\"",
        "\"Name\"",
        "\"HostConfig\"",
        "\"Config\"",
        "\"NetworkSettings\"",
    ]
    .iter()
    .map(|k| text.find(k).unwrap_or_else(|| panic!("{k} missing")))
    .collect();
    assert!(order.windows(2).all(|w| w[0] < w[1]), "{order:?}");

    // The book's templates.
    assert_eq!(
        store.ok(&["inspect", "--format", "{{ .State.Running }}", "insp"]),
        "true\n"
    );
    assert_eq!(
        store.ok(&["inspect", "--format", "{{.Name}}", "insp"]),
        "/insp\n"
    );
    assert_eq!(
        store.ok(&[
            "inspect",
            "--format",
            "{{.Name}} {{.State.Running}}",
            "insp",
            "insp"
        ]),
        "/insp true\n/insp true\n"
    );
    assert_eq!(
        store.ok(&["inspect", "-f", "{{index .Args 0}}", "insp"]),
        "1000\n"
    );
    assert_eq!(
        store.ok(&["inspect", "-f", "{{range .Args}}[{{.}}]{{end}}", "insp"]),
        "[1000]\n"
    );
    let config = store.ok(&["inspect", "-f", "{{json .Config.Cmd}}", "insp"]);
    assert_eq!(config.trim(), "[\"sleep\",\"1000\"]");
    // An image through the same command; an unknown name is an error naming it.
    assert!(store
        .ok(&["inspect", "-f", "{{.Id}}", "busybox"])
        .starts_with("sha256:"));
    let out = store.berth(&["inspect", "insp", "nosuch"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("No such object: nosuch"));
    let err = store.fails(&["container", "inspect", "busybox"]);
    assert!(err.contains("No such container: busybox"), "{err}");
}

#[test]
fn exec_runs_in_the_container_with_dockers_exit_codes() {
    let store = store();
    store.ok(&["run", "-d", "--name", "ex", "busybox", "sleep", "1000"]);
    let out = store.berth(&[
        "exec",
        "-e",
        "X=1",
        "-w",
        "/tmp",
        "ex",
        "sh",
        "-c",
        "echo $X; pwd; hostname; exit 5",
    ]);
    assert_eq!(out.status.code(), Some(5));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let id = store.ok(&["inspect", "-f", "{{.Id}}", "ex"]);
    assert_eq!(stdout, format!("1\n/tmp\n{}\n", &id[..12]));
    assert_eq!(
        store
            .berth(&["exec", "ex", "no-such-program"])
            .status
            .code(),
        Some(127)
    );
    assert_eq!(
        store.ok(&["exec", "-u", "0:7", "ex", "id", "-g"]).trim(),
        "7"
    );
    let err = store.fails(&["exec", "-u", "ghost", "ex", "true"]);
    assert!(err.contains("unable to find user ghost"), "{err}");
    // Detached: it runs on after exec returns.
    store.ok(&["exec", "-d", "ex", "sleep", "77"]);
    let ps = store.ok(&["exec", "ex", "ps"]);
    assert!(ps.contains("sleep 77"), "{ps}");
    store.ok(&["stop", "-t", "0", "ex"]);
    let err = store.fails(&["exec", "ex", "true"]);
    assert!(err.contains("is not running"), "{err}");
}

#[test]
fn a_foreground_run_prints_each_stream_from_the_first_line() {
    let store = store();
    for _ in 0..10 {
        let out = store.berth(&[
            "run",
            "--rm",
            "busybox",
            "sh",
            "-c",
            "echo out; echo err >&2",
        ]);
        assert!(out.status.success());
        assert_eq!(String::from_utf8_lossy(&out.stdout), "out\n");
        assert_eq!(String::from_utf8_lossy(&out.stderr), "err\n");
    }
    let out = store.berth_with_stdin(
        &["run", "-i", "--rm", "busybox", "sh"],
        b"echo from-stdin; exit 2\n",
    );
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "from-stdin\n");
}

#[test]
fn info_version_and_df_count_what_the_store_holds() {
    let store = store();
    store.ok(&["run", "-d", "--name", "up", "busybox", "sleep", "1000"]);
    store.ok(&["create", "--name", "made", "busybox", "true"]);
    let info = store.ok(&["info"]);
    for line in [
        " Containers: 2",
        "  Running: 1",
        "  Stopped: 1",
        " Images: 1",
        " Storage Driver: overlay2",
        " Default Runtime: berth-runtime",
    ] {
        assert!(info.lines().any(|l| l == line), "{line:?} not in:\n{info}");
    }
    assert_eq!(
        store.ok(&["info", "--format", "{{.ContainersRunning}}/{{.Containers}}"]),
        "1/2\n"
    );
    assert!(store.ok(&["version"]).contains("API version:"));
    let df = store.ok(&["system", "df"]);
    assert!(df.starts_with("TYPE "), "{df}");
    assert!(
        df.lines()
            .any(|l| l.starts_with("Containers") && l.split_whitespace().nth(1) == Some("2")),
        "{df}"
    );
    // The book's `rm $(ps -a -q)`, -f for the running one.
    let ids = store.ok(&["ps", "-a", "-q"]);
    let mut args = vec!["rm", "-f"];
    args.extend(ids.split_whitespace());
    store.ok(&args);
    assert!(store.ok(&["ps", "-a", "-q"]).is_empty());
}

#[test]
fn another_runtime_runs_the_same_container() {
    let store = store();
    let out = store.ok(&[
        "run",
        "--rm",
        "--runtime",
        "runc",
        "busybox",
        "sh",
        "-c",
        "echo via-runc",
    ]);
    assert_eq!(out, "via-runc\n");
    store.ok(&[
        "run",
        "-d",
        "--name",
        "rc",
        "--runtime",
        "runc",
        "busybox",
        "sleep",
        "1000",
    ]);
    let runtime = store.ok(&["inspect", "-f", "{{.HostConfig.Runtime}}", "rc"]);
    assert_eq!(runtime.trim(), "runc");
    store.ok(&["stop", "-t", "0", "rc"]);
    store.ok(&["rm", "rc"]);
}

/// Mount points under the store.
fn mounts_under(store: &TestStore) -> Vec<String> {
    let root = store.root().display().to_string();
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .filter(|m| m.starts_with(&root))
        .map(str::to_string)
        .collect()
}

#[test]
fn berth_killed_at_each_step_of_run_leaves_what_the_next_command_repairs() {
    let store = store();
    // Killed before the container is whole: the next command removes every trace.
    for step in ["row-inserted", "rootfs-mounted", "config-written"] {
        let out = store.berth_with_env(
            &["run", "-d", "--name", "crash", "busybox", "sleep", "1000"],
            &[],
            &[("BERTH_CRASH_AT", step)],
        );
        assert!(!out.status.success(), "{step}: berth should have died");
        assert!(
            store.ok(&["ps", "-a", "-q"]).is_empty(),
            "{step}: a half-made container is listed"
        );
        assert!(
            mounts_under(&store).is_empty(),
            "{step}: {:?}",
            mounts_under(&store)
        );
        let left = std::fs::read_dir(store.root().join("containers"))
            .map(|d| d.count())
            .unwrap_or(0);
        assert_eq!(left, 0, "{step}: a container dir is left");
    }
    // Killed between the runtime's create and start: a created container, nothing
    // waiting for a start nobody sends; it starts normally.
    let out = store.berth_with_env(
        &["run", "-d", "--name", "crash", "busybox", "sleep", "1000"],
        &[],
        &[("BERTH_CRASH_AT", "shim-started")],
    );
    assert!(!out.status.success());
    let id = store
        .ok(&["ps", "-a", "-q", "--no-trunc"])
        .trim()
        .to_string();
    assert_eq!(status_of(&store, "crash"), "Created");
    let shim_pid =
        std::fs::read_to_string(store.root().join("containers").join(&id).join("shim.pid"))
            .unwrap();
    assert!(
        !std::path::Path::new(&format!("/proc/{}", shim_pid.trim())).exists()
            || std::fs::read_to_string(format!("/proc/{}/stat", shim_pid.trim()))
                .is_ok_and(|s| s.contains(") Z")),
        "the waiting shim was not stopped"
    );
    store.ok(&["start", "crash"]);
    assert!(status_of(&store, "crash").starts_with("Up"));
    store.ok(&["rm", "-f", "crash"]);
    // Killed after the start: the container runs, and says so.
    let out = store.berth_with_env(
        &["run", "-d", "--name", "crash", "busybox", "sleep", "1000"],
        &[],
        &[("BERTH_CRASH_AT", "runtime-started")],
    );
    assert!(!out.status.success());
    assert!(status_of(&store, "crash").starts_with("Up"));
    store.ok(&["rm", "-f", "crash"]);
    assert!(mounts_under(&store).is_empty());
}

#[test]
fn fifty_containers_at_once_are_listed_stopped_and_removed_without_a_trace() {
    let store = store();
    const N: usize = 50;
    let ids: Vec<String> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..N)
            .map(|i| {
                let store = &store;
                scope.spawn(move || {
                    let name = format!("many{i}");
                    store
                        .ok(&["run", "-d", "--name", &name, "busybox", "sleep", "1000"])
                        .trim()
                        .to_string()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let listed = store.ok(&["ps", "-q", "--no-trunc"]);
    let mut listed: Vec<&str> = listed.lines().collect();
    listed.sort();
    let mut want: Vec<&str> = ids.iter().map(String::as_str).collect();
    want.sort();
    assert_eq!(listed, want);
    let shims: Vec<String> = ids
        .iter()
        .map(|id| {
            std::fs::read_to_string(store.root().join("containers").join(id).join("shim.pid"))
                .unwrap()
        })
        .collect();
    let mut args = vec!["stop", "-t", "0"];
    args.extend(ids.iter().map(String::as_str));
    store.ok(&args);
    assert!(store.ok(&["ps", "-q"]).is_empty());
    args[0] = "rm";
    args.drain(1..3);
    store.ok(&args);
    assert!(store.ok(&["ps", "-a", "-q"]).is_empty());
    assert!(
        mounts_under(&store).is_empty(),
        "{:?}",
        mounts_under(&store)
    );
    let entries = |dir: std::path::PathBuf| std::fs::read_dir(dir).map(|d| d.count()).unwrap_or(0);
    assert_eq!(entries(store.root().join("containers")), 0);
    assert_eq!(entries(store.root().join("run/runtime")), 0);
    let parent = default_cgroup_parent(&store.root());
    for id in &ids {
        for controller in ["memory", "pids", "cpu,cpuacct", "freezer", "devices"] {
            let cgroup = std::path::Path::new("/sys/fs/cgroup")
                .join(controller)
                .join(parent.trim_start_matches('/'))
                .join(id);
            assert!(!cgroup.exists(), "{} left", cgroup.display());
        }
    }
    wait_for("every shim to exit", || {
        shims.iter().all(|pid| {
            let stat = std::fs::read_to_string(format!("/proc/{}/stat", pid.trim()));
            stat.is_err() || stat.is_ok_and(|s| s.contains(") Z"))
        })
    });
}

#[test]
fn each_store_has_a_cgroup_parent_of_its_own_which_goes_with_it() {
    let store = store();
    let parent = default_cgroup_parent(&store.root());
    assert_ne!(parent, "/berth");
    // runc leaves the parents it made (berth-runtime removes them with the last
    // child): the store's cleanup must take it away.
    let id = store.ok(&[
        "run",
        "-d",
        "--runtime",
        "runc",
        "--name",
        "own_parent",
        "busybox",
        "sleep",
        "1000",
    ]);
    let id = id.trim();
    let pid = store.ok(&["inspect", "-f", "{{.State.Pid}}", id]);
    let cgroups = std::fs::read_to_string(format!("/proc/{}/cgroup", pid.trim())).unwrap();
    let want = format!("{parent}/{id}");
    assert!(
        cgroups.lines().any(|l| l.ends_with(&format!(":{want}"))),
        "{want} not in\n{cgroups}"
    );
    // Paused is read from the container's own cgroup, wherever it is.
    store.ok(&["pause", id]);
    assert!(status_of(&store, "own_parent").ends_with("(Paused)"));
    store.ok(&["unpause", id]);
    store.ok(&["rm", "-f", id]);
    let hierarchies: Vec<std::path::PathBuf> = std::fs::read_dir("/sys/fs/cgroup")
        .unwrap()
        .flatten()
        .map(|h| h.path().join(parent.trim_start_matches('/')))
        .collect();
    assert!(hierarchies.iter().any(|d| d.is_dir()));
    drop(store);
    for dir in hierarchies {
        assert!(!dir.exists(), "{} left", dir.display());
    }
}

#[test]
fn concurrent_creates_are_never_taken_for_a_crashs_leftovers() {
    // Each `berth` first repairs what crashes left; a container another berth is
    // still creating must not look like one.
    let store = store();
    const THREADS: usize = 8;
    const EACH: usize = 5;
    std::thread::scope(|scope| {
        for t in 0..THREADS {
            let store = &store;
            scope.spawn(move || {
                for i in 0..EACH {
                    let name = format!("made{t}_{i}");
                    store.ok(&["create", "--name", &name, "busybox", "true"]);
                }
            });
        }
    });
    let listed = store.ok(&["ps", "-a", "-q"]);
    assert_eq!(listed.lines().count(), THREADS * EACH, "{listed}");
    let mut args = vec!["rm"];
    let ids: Vec<String> = listed.lines().map(str::to_string).collect();
    args.extend(ids.iter().map(String::as_str));
    store.ok(&args);
}
