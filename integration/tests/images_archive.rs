//! `berth save` / `berth load` against the engines users have: what `docker save` and
//! `podman save` write loads in berth, and what berth saves loads and runs in them.
//! Each test skips (passing) when its engine is not installed.

use std::path::{Path, PathBuf};
use std::process::Command;

use integration::engines::DOCKER_RUNTIME_NAME;
use integration::engines::{Engine, Kind};

fn berth_bin() -> PathBuf {
    if let Some(path) = std::env::var_os("BERTH_BIN") {
        return PathBuf::from(path);
    }
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/debug/berth")
}

/// Runs berth on the store under `dir`; its stdout, failing the test on an error.
fn berth(dir: &Path, args: &[&str]) -> String {
    let out = Command::new(berth_bin())
        .arg("--root")
        .arg(dir.join("berth-store"))
        .args(args)
        .output()
        .expect("run berth (cargo build -p berth first)");
    assert!(
        out.status.success(),
        "berth {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn path(p: &Path) -> &str {
    p.to_str().expect("utf-8 temp path")
}

#[test]
fn docker_save_loads_in_berth_and_berth_save_runs_in_docker() {
    let Some(docker) = Engine::start(Kind::Docker, "arch-docker") else {
        return;
    };
    let dir = docker.dir().to_path_buf();
    let from_docker = dir.join("from-docker.tar");
    docker.ok(&docker.cli(&["save", "-o", path(&from_docker), "berth-busybox:test"]));
    let loaded = berth(&dir, &["load", "-i", path(&from_docker)]);
    assert_eq!(loaded, "Loaded image: berth-busybox:test\n");
    let docker_id =
        docker.ok(&docker.cli(&["image", "inspect", "-f", "{{.Id}}", "berth-busybox:test"]));
    let berth_id = berth(
        &dir,
        &["image", "inspect", "-f", "{{.Id}}", "berth-busybox:test"],
    );
    assert_eq!(
        berth_id.trim(),
        docker_id.trim(),
        "the same config, the same id"
    );

    berth(&dir, &["tag", "berth-busybox:test", "roundtrip:1"]);
    let from_berth = dir.join("from-berth.tar");
    berth(&dir, &["save", "-o", path(&from_berth), "roundtrip:1"]);
    let out = docker.ok(&docker.cli(&["load", "-i", path(&from_berth)]));
    assert!(out.contains("Loaded image: roundtrip:1"), "{out}");
    let out = docker.ok(&docker.cli(&[
        "run",
        "--rm",
        "--runtime",
        DOCKER_RUNTIME_NAME,
        "roundtrip:1",
        "cat",
        "/etc/passwd",
    ]));
    assert!(out.starts_with("root:"), "{out}");
}

#[test]
fn podman_archives_load_in_berth_and_berth_save_runs_in_podman() {
    let Some(podman) = Engine::start(Kind::Podman, "arch-podman") else {
        return;
    };
    let dir = podman.dir().to_path_buf();
    for format in ["docker-archive", "oci-archive"] {
        let archive = dir.join(format!("{format}.tar"));
        podman.ok(&podman.cli(&[
            "save",
            "--format",
            format,
            "-o",
            path(&archive),
            "berth-busybox:test",
        ]));
        // podman names a short name under localhost/, and saves it so.
        let loaded = berth(&dir, &["load", "-i", path(&archive)]);
        assert_eq!(
            loaded, "Loaded image: localhost/berth-busybox:test\n",
            "{format}"
        );
    }
    berth(
        &dir,
        &[
            "tag",
            "localhost/berth-busybox:test",
            "localhost/roundtrip:2",
        ],
    );
    let from_berth = dir.join("from-berth.tar");
    berth(
        &dir,
        &["save", "-o", path(&from_berth), "localhost/roundtrip:2"],
    );
    podman.ok(&podman.cli(&["load", "-i", path(&from_berth)]));
    let out =
        podman.ok(&podman.cli(&["run", "--rm", "localhost/roundtrip:2", "cat", "/etc/passwd"]));
    assert!(out.starts_with("root:"), "{out}");
}
