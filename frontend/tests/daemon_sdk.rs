//! Docker's Python SDK (`docker` on PyPI, in the venv `scripts/prereqs.sh` makes)
//! drives `berth daemon`: the scripts under `tests/sdk/` check what they get.

mod support;

use std::path::PathBuf;
use std::process::Command;

use integration::registry::{Compression, Flavour, ImageSpec, Registry};
use support::daemon::Daemon;
use support::TestStore;

/// The SDK's interpreter; missing means the set-up was skipped, which fails.
fn sdk_python() -> PathBuf {
    let python = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/sdk-venv/bin/python");
    let importable = Command::new(&python)
        .args(["-c", "import docker"])
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        importable,
        "Docker's Python SDK is not in {}: run scripts/prereqs.sh test (make test does)",
        python.display()
    );
    python
}

fn run_script(daemon: &Daemon, script: &str, env: &[(&str, &str)]) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/sdk")
        .join(script);
    let out = Command::new(sdk_python())
        .arg(&path)
        .env("DOCKER_HOST", format!("unix://{}", daemon.socket.display()))
        .envs(env.iter().copied())
        .output()
        .expect("run python");
    assert!(
        out.status.success()
            && String::from_utf8_lossy(&out.stdout)
                .trim_end()
                .ends_with("ok"),
        "{script} failed ({:?}):\n{}{}\ndaemon log:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        daemon.log()
    );
}

#[test]
fn the_python_sdk_runs_the_books_container_calls() {
    let store = TestStore::new();
    store.import_busybox("busybox");
    let daemon = Daemon::start(&store, &[]);
    run_script(&daemon, "containers.py", &[]);
}

#[test]
fn the_python_sdk_pulls_with_progress_and_pushes() {
    let registry = Registry::start(Flavour::Plain);
    registry.seed("busybox", "latest", &ImageSpec::busybox(Compression::Gzip));
    // On the host's network: the registry listens on its 127.0.0.1.
    let store = TestStore::on_host();
    let daemon = Daemon::start(&store, &[]);
    run_script(&daemon, "images.py", &[("REGISTRY", &registry.host())]);
}
