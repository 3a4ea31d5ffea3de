//! Lifecycle calls runc accepts: signal 0 as an existence check, pause of a
//! created container, and an `exec --process` file without a `user`.

use integration::*;

#[test]
fn kill_with_signal_0_checks_the_container_is_alive() {
    let Some(t) = Test::new("kill_zero") else {
        return;
    };
    let b = t.bundle().args(&["sleep", "300"]);
    ok(&t.rt.run_with(&b.id, &b.path, &["-d"]));
    ok(&t.rt.kill(&b.id, Some("0")));
    ok(&t.rt.exec(&["kill", "--all", &b.id, "0"]));
    assert_eq!(t.rt.status(&b.id), "running");
    ok(&t.rt.kill(&b.id, Some("KILL")));
    t.rt.wait_status(&b.id, "stopped");
    fails_with(&t.rt.kill(&b.id, Some("0")), 1);
}

#[test]
fn pause_of_a_created_container_and_resume_back_to_created() {
    let Some(t) = Test::new("pause_created") else {
        return;
    };
    let b = t.bundle().sh("echo started");
    ok(&t.rt.create(&b.id, &b.path));
    ok(&t.rt.exec(&["pause", &b.id]));
    assert_eq!(t.rt.status(&b.id), "paused");
    ok(&t.rt.exec(&["resume", &b.id]));
    assert_eq!(t.rt.status(&b.id), "created");
    ok(&t.rt.start(&b.id));
    t.rt.wait_status(&b.id, "stopped");
    assert_eq!(t.rt.container_stdout(&b.id), "started\n");
}

#[test]
fn exec_process_file_without_user_runs_as_root() {
    let Some(t) = Test::new("exec_no_user") else {
        return;
    };
    let b = t.bundle().args(&["sleep", "300"]);
    ok(&t.rt.run_with(&b.id, &b.path, &["-d"]));
    let file = t.dir.join("process.json");
    std::fs::write(
        &file,
        r#"{"args": ["id", "-u"], "cwd": "/", "env": ["PATH=/bin"]}"#,
    )
    .unwrap();
    let o =
        t.rt.exec(&["exec", "--process", &file.to_string_lossy(), &b.id]);
    assert_eq!(ok(&o), "0\n");
}
