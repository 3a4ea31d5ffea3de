//! Bad command lines: the shim fails at once, non-zero, naming what was wrong, without a
//! panic; and `--version` in conmon's format (podman quietly uses its own conmon
//! otherwise).

use std::process::Command;

use integration::*;

/// Runs the shim with `args` (no pipes: it must fail before it needs them); returns its
/// stderr after checking it failed without a panic.
#[track_caller]
fn fails(t: &Test, args: &[&str]) -> String {
    let mut cmd = Command::new(shim_bin());
    cmd.args(args);
    let o = t.rt.output(cmd);
    let err = stderr(&o);
    assert!(
        !o.status.success(),
        "{args:?} succeeded\nstdout: {}\nstderr: {err}",
        stdout(&o)
    );
    assert!(!err.contains("panicked"), "a panic for {args:?}: {err}");
    err
}

#[test]
fn version_is_in_conmons_format() {
    let Some(t) = Test::new("shim_version") else {
        return;
    };
    let mut cmd = Command::new(shim_bin());
    cmd.arg("--version");
    let out = ok(&t.rt.output(cmd));
    let first = out.lines().next().unwrap_or_default();
    let version = first
        .strip_prefix("conmon version ")
        .unwrap_or_else(|| panic!("first line {first:?}"));
    let mut parts = version.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
    let (major, minor) = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    assert!(
        (major, minor) >= (2, 1),
        "podman 4.3 wants conmon 2.1 or newer: {first:?}"
    );
    assert!(
        out.lines().nth(1).is_some_and(|l| l.starts_with("commit:")),
        "{out:?}"
    );
}

#[test]
fn missing_container_id_is_named() {
    let Some(t) = Test::new("shim_no_cid") else {
        return;
    };
    let bundle = t.bundle();
    let runtime = runtime_bin();
    let err = fails(
        &t,
        &[
            "-r",
            runtime.to_str().unwrap(),
            "-b",
            bundle.path.to_str().unwrap(),
        ],
    );
    assert!(err.to_lowercase().contains("--cid"), "{err}");
}

#[test]
fn unknown_log_driver_is_named() {
    let Some(t) = Test::new("shim_bad_driver") else {
        return;
    };
    let b = t.bundle();
    let runtime = runtime_bin();
    let err = fails(
        &t,
        &[
            "-c",
            &b.id,
            "-u",
            &b.id,
            "-r",
            runtime.to_str().unwrap(),
            "-b",
            b.path.to_str().unwrap(),
            "-l",
            "bogusdriver:/tmp/x.log",
        ],
    );
    assert!(err.contains("bogusdriver"), "{err}");
}

#[test]
fn exec_without_a_process_spec_is_named() {
    let Some(t) = Test::new("shim_exec_no_spec") else {
        return;
    };
    let b = t.bundle();
    let runtime = runtime_bin();
    let err = fails(
        &t,
        &[
            "-e",
            "-c",
            &b.id,
            "-u",
            &b.id,
            "-r",
            runtime.to_str().unwrap(),
            "-b",
            b.path.to_str().unwrap(),
        ],
    );
    assert!(err.contains("--exec-process-spec"), "{err}");
}

#[test]
fn a_runtime_that_is_not_there_is_named() {
    let Some(t) = Test::new("shim_no_runtime") else {
        return;
    };
    let b = t.bundle();
    let err = fails(
        &t,
        &[
            "-c",
            &b.id,
            "-u",
            &b.id,
            "-r",
            "/no/such/runtime",
            "-b",
            b.path.to_str().unwrap(),
        ],
    );
    assert!(err.contains("/no/such/runtime"), "{err}");
}

#[test]
fn bad_restart_policy_is_named_in_one_line() {
    let Some(t) = Test::new("shim_bad_policy") else {
        return;
    };
    if integration::shim::skip_under_conmon("--restart-policy is berth-shim's") {
        return;
    }
    let err = fails(&t, &["-c", "x", "--restart-policy", "sometimes"]);
    let first = err.lines().next().unwrap_or_default();
    assert!(
        first.contains("sometimes") && first.contains("on-failure"),
        "{err}"
    );
}
