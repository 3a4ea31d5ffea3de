//! The command line around the lifecycle: `--log` lines, `spec --rootless`,
//! `--version`, `features`, the cgroup mount of the default spec.

use std::fs;

use integration::*;
use serde_json::{json, Value};

#[test]
fn log_json_records_the_error_as_runc_does() {
    let Some(t) = Test::new("cli_log_json") else {
        return;
    };
    let log = t.host_dir("log").join("runtime.json");
    let log_arg = log.to_string_lossy().to_string();
    let o = t.rt.exec(&[
        "--log",
        &log_arg,
        "--log-format",
        "json",
        "state",
        "no-such-id",
    ]);
    fails_with(&o, 1);
    let text = fs::read_to_string(&log).expect("log file written");
    let line: Value = serde_json::from_str(text.lines().last().expect("a log line")).unwrap();
    assert_eq!(line["level"], "error", "{text}");
    assert!(
        line["msg"].as_str().unwrap().contains("does not exist"),
        "{text}"
    );
    assert!(line["time"].is_string(), "{text}");
}

#[test]
fn log_text_format_is_key_value() {
    let Some(t) = Test::new("cli_log_text") else {
        return;
    };
    let log = t.host_dir("log").join("runtime.log");
    let log_arg = log.to_string_lossy().to_string();
    fails_with(&t.rt.exec(&["--log", &log_arg, "kill", "no-such-id"]), 1);
    let text = fs::read_to_string(&log).expect("log file written");
    assert!(text.contains("level=error"), "{text}");
    assert!(text.contains("msg="), "{text}");
}

#[test]
fn version_names_the_runtime_and_spec() {
    let Some(t) = Test::new("cli_version") else {
        return;
    };
    let out = ok(&t.rt.exec(&["--version"]));
    assert!(out.contains("version"), "{out}");
    assert!(out.contains("spec: 1."), "{out}");
}

#[test]
fn spec_refuses_to_overwrite_config() {
    let Some(t) = Test::new("cli_spec_exists") else {
        return;
    };
    let b = t.bundle();
    let o = t.rt.spec(&["--bundle", &b.path.to_string_lossy()]);
    fails_with(&o, 1);
}

#[test]
fn spec_writes_runcs_template() {
    let Some(t) = Test::new("cli_spec_template") else {
        return;
    };
    let dir = t.host_dir("template");
    ok(&t.rt.spec(&["--bundle", &dir.to_string_lossy()]));
    let config = read_json(&dir.join("config.json"));
    let namespaces: Vec<&str> = config["linux"]["namespaces"]
        .as_array()
        .expect("linux.namespaces")
        .iter()
        .filter_map(|n| n["type"].as_str())
        .collect();
    assert_eq!(namespaces, ["pid", "network", "ipc", "uts", "mount"]);
    assert_eq!(
        config["linux"]["resources"]["devices"],
        json!([{"allow": false, "access": "rwm"}])
    );
    assert!(config["linux"].get("seccomp").is_none(), "{config}");
    // An interactive shell, as runc's: `run` hands it the terminal.
    assert_eq!(config["process"]["terminal"], true);
    assert_eq!(config["process"]["args"], json!(["sh"]));
    assert_eq!(config["root"], json!({"path": "rootfs", "readonly": true}));
}

#[test]
fn rootless_spec_runs_with_a_user_namespace() {
    let Some(t) = Test::new("cli_spec_rootless") else {
        return;
    };
    if skip_under_runc("runc 1.1.5 refuses a rootless spec run by root without --rootless") {
        return;
    }
    let b = t.bundle();
    fs::remove_file(b.path.join("config.json")).unwrap();
    ok(&t
        .rt
        .spec(&["--bundle", &b.path.to_string_lossy(), "--rootless"]));
    let mut rootless = read_json(&b.path.join("config.json"));
    assert!(rootless["linux"]["uidMappings"].is_array());
    rootless["process"]["terminal"] = json!(false);
    rootless["root"]["readonly"] = json!(false);
    rootless["process"]["args"] = json!(["sh", "-c", "cat /proc/self/uid_map; id -u"]);
    fs::write(b.path.join("config.json"), rootless.to_string()).unwrap();
    let out = ok(&t.run(&b));
    let mapping: Vec<&str> = out.lines().next().unwrap().split_whitespace().collect();
    assert_eq!(mapping, ["0", "0", "1"], "{out}");
    assert_eq!(out.lines().last(), Some("0"), "{out}");
}

#[test]
fn cgroup_mount_shows_each_hierarchy_read_only() {
    let Some(t) = Test::new("cli_cgroup_mount") else {
        return;
    };
    let b = t.bundle().mount(json!({
        "destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
        "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]
    }));
    let out = t.sh(
        b,
        "ls /sys/fs/cgroup; grep ' /sys/fs/cgroup' /proc/self/mountinfo; \
         for d in /sys/fs/cgroup/*/; do mkdir $d/x 2>/dev/null && echo WRITABLE $d; done; true",
    );
    assert!(!out.contains("WRITABLE"), "{out}");
    // The hierarchies themselves (runc leaves the tmpfs holding them writable).
    let hierarchies = out
        .lines()
        .filter(|l| l.contains(" /sys/fs/cgroup") && !l.contains(" - tmpfs "));
    for line in hierarchies {
        let options = line.split_whitespace().nth(5).unwrap_or_default();
        assert!(
            options.split(',').any(|o| o == "ro"),
            "not read-only: {line}"
        );
    }
    let v1 = std::path::Path::new("/sys/fs/cgroup/memory").is_dir();
    if v1 {
        assert!(out.lines().any(|l| l == "memory"), "{out}");
        assert!(out.contains(" /sys/fs/cgroup/memory "), "{out}");
    } else {
        assert!(out.contains("cgroup.procs"), "{out}");
    }
}

#[test]
fn features_tell_what_is_supported() {
    let Some(t) = Test::new("cli_features") else {
        return;
    };
    if skip_under_runc("runc 1.1.5 has no features command") {
        return;
    }
    let doc: Value = serde_json::from_str(&ok(&t.rt.exec(&["features"]))).unwrap();
    assert_eq!(doc["ociVersionMin"], "1.0.0");
    let namespaces = doc["linux"]["namespaces"].as_array().unwrap();
    assert!(namespaces.iter().any(|n| n == "time"), "{doc}");
    let actions = doc["linux"]["seccomp"]["actions"].as_array().unwrap();
    assert!(actions.iter().any(|a| a == "SCMP_ACT_NOTIFY"), "{doc}");
    let options = doc["mountOptions"].as_array().unwrap();
    assert!(options.iter().any(|o| o == "rbind") && options.iter().any(|o| o == "rslave"));
    let caps = doc["linux"]["capabilities"].as_array().unwrap();
    assert!(caps.iter().any(|c| c == "CAP_SYS_ADMIN"));
}

#[test]
fn events_json_keys_in_runcs_order() {
    let Some(t) = Test::new("cli_events_order") else {
        return;
    };
    let b = t.bundle().args(&["sleep", "300"]);
    ok(&t.rt.run_with(&b.id, &b.path, &["-d"]));
    let out = ok(&t.rt.exec(&["events", "--stats", &b.id]));
    let line = out.lines().next().unwrap_or_default();
    let prefix = format!("{{\"type\":\"stats\",\"id\":\"{}\",\"data\":{{", b.id);
    assert!(line.starts_with(&prefix), "{line}");
    // The stats in runc's field order too: cpu first, as its struct.
    assert!(line[prefix.len()..].starts_with("\"cpu\":"), "{line}");
}

/// The shell block of the README's "Using berth-runtime" section.
fn readme_example() -> String {
    let readme = fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md"))
        .expect("README.md");
    let section = readme
        .split("A bundle is a directory with `config.json`")
        .nth(1)
        .expect("the README's example section");
    let block = section.split("```sh\n").nth(1).expect("its ```sh block");
    block.split("```").next().unwrap_or_default().to_string()
}

/// The README's containers use the default cgroupsPath, `/berth/<id>`:
/// the `/berth` parents that were not there before the test go after it
/// (dropped after the test's own cleanup, when they are empty again).
struct DefaultCgroupParents(Vec<std::path::PathBuf>);

impl DefaultCgroupParents {
    fn missing_now() -> DefaultCgroupParents {
        let hierarchies = fs::read_dir("/sys/fs/cgroup")
            .into_iter()
            .flatten()
            .flatten();
        DefaultCgroupParents(
            hierarchies
                .map(|h| h.path().join("berth"))
                .filter(|p| !p.exists())
                .collect(),
        )
    }
}

impl Drop for DefaultCgroupParents {
    fn drop(&mut self) {
        for parent in &self.0 {
            let _ = fs::remove_dir(parent);
        }
    }
}

#[test]
fn readme_example_runs_as_written() {
    let _parents = DefaultCgroupParents::missing_now();
    let Some(t) = Test::new("cli_readme") else {
        return;
    };
    if skip_under_runc("the README documents berth-runtime (runc 1.1.5's run needs a tty)") {
        return;
    }
    // `berth-runtime` on PATH, with this test's state root; the ids are the
    // test's own, so cleanup finds them whatever happens.
    let bin_dir = t.host_dir("bin");
    let wrapper = bin_dir.join("berth-runtime");
    fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\nexec {} --root {} \"$@\"\n",
            t.rt.bin.display(),
            t.rt.root.display()
        ),
    )
    .unwrap();
    fs::set_permissions(
        &wrapper,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let (demo, c1) = (t.id(), t.id());
    let script = readme_example()
        .replace(" run demo", &format!(" run {demo}"))
        .replace(" c1", &format!(" {c1}"));
    let work = t.host_dir("readme");
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    // The user at `run demo`'s shell types `exit`.
    let input = t.dir.join("typed");
    fs::write(&input, "exit\n").unwrap();
    let (out_path, err_path) = (t.dir.join("readme.out"), t.dir.join("readme.err"));
    let mut child = std::process::Command::new("bash")
        .args(["-euxc", &script])
        .current_dir(&work)
        .env("PATH", path)
        .stdin(fs::File::open(&input).unwrap())
        .stdout(fs::File::create(&out_path).unwrap())
        .stderr(fs::File::create(&err_path).unwrap())
        .spawn()
        .expect("bash");
    let mut status = None;
    wait_until(std::time::Duration::from_secs(60), || {
        status = child.try_wait().ok().flatten();
        status.is_some()
    });
    if status.is_none() {
        let _ = child.kill();
        let _ = child.wait();
    }
    let out = fs::read_to_string(&out_path).unwrap_or_default();
    let err = fs::read_to_string(&err_path).unwrap_or_default();
    assert!(
        status.is_some_and(|s| s.success()),
        "{status:?}\n{script}\nstdout: {out}\nstderr: {err}"
    );
    assert!(out.contains("\"status\": \"running\""), "{out}");
}

#[test]
fn a_test_without_root_fails_instead_of_skipping() {
    let Some(_t) = Test::new("cli_no_skip") else {
        return;
    };
    // This very test binary, one of its tests, as nobody.
    let me = std::env::current_exe().expect("the test binary");
    let o = std::process::Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(&me)
        .args([
            "--exact",
            "version_names_the_runtime_and_spec",
            "--test-threads=1",
        ])
        .stdin(std::process::Stdio::null())
        .output()
        .expect("setpriv (util-linux)");
    let text = format!("{}{}", stdout(&o), stderr(&o));
    assert!(!o.status.success(), "passed without root:\n{text}");
    assert!(text.contains("not root"), "{text}");
    assert!(text.contains("1 failed"), "{text}");
}
