//! `berth pull`, `push`, `login`, `logout` and `search` against Debian's docker-registry
//! on 127.0.0.1 (plain, htpasswd and token auth), each test with its own registry,
//! store and Docker config dir.

mod support;

use std::os::unix::fs::PermissionsExt;

use integration::registry::{Compression, Flavour, ImageSpec, Registry, PASSWORD, USER};
use support::TestStore;

/// A store whose berth uses a Docker config dir of its own.
fn store() -> TestStore {
    let store = TestStore::on_host();
    std::fs::create_dir_all(store.dir.path().join("docker")).unwrap();
    store
}

fn config_json(store: &TestStore) -> std::path::PathBuf {
    store.dir.path().join("docker/config.json")
}

trait WithConfig {
    fn run(&self, args: &[&str]) -> std::process::Output;
    fn ok_(&self, args: &[&str]) -> String;
    fn fails_(&self, args: &[&str]) -> String;
}

impl WithConfig for TestStore {
    fn run(&self, args: &[&str]) -> std::process::Output {
        std::process::Command::new(env!("CARGO_BIN_EXE_berth"))
            .env("DOCKER_CONFIG", self.dir.path().join("docker"))
            .arg("--root")
            .arg(self.root())
            .args(args)
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap()
    }

    fn ok_(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "berth {args:?}:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn fails_(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert_eq!(
            out.status.code(),
            Some(1),
            "berth {args:?} should fail:\n{}",
            String::from_utf8_lossy(&out.stdout)
        );
        String::from_utf8_lossy(&out.stderr).into_owned()
    }
}

#[test]
fn pull_prints_dockers_lines_and_a_second_pull_is_up_to_date() {
    let registry = Registry::start(Flavour::Plain);
    let seeded = registry.seed(
        "library/busybox",
        "1.36",
        &ImageSpec::busybox(Compression::Gzip),
    );
    let store = store();
    let name = format!("{}/library/busybox:1.36", registry.host());
    let out = store.ok_(&["pull", &name]);
    let layer = &seeded.images[0].layers[0].0[7..19];
    assert!(
        out.starts_with("1.36: Pulling from library/busybox\n"),
        "{out}"
    );
    assert!(
        out.contains(&format!("{layer}: Pulling fs layer\n")),
        "{out}"
    );
    assert!(
        out.contains(&format!("{layer}: Download complete\n")),
        "{out}"
    );
    assert!(out.contains(&format!("{layer}: Pull complete\n")), "{out}");
    assert!(
        out.contains(&format!("Digest: {}\n", seeded.digest)),
        "{out}"
    );
    assert!(
        out.contains(&format!("Status: Downloaded newer image for {name}\n")),
        "{out}"
    );
    assert!(out.ends_with(&format!("{name}\n")), "{out}");
    let again = store.ok_(&["pull", &name]);
    assert!(
        again.contains(&format!("{layer}: Already exists\n")),
        "{again}"
    );
    assert!(
        again.contains(&format!("Status: Image is up to date for {name}\n")),
        "{again}"
    );
    let digests = store.ok_(&["images", "--digests", "--format", "{{.Digest}}"]);
    assert_eq!(digests.trim(), seeded.digest);
    let layer_dir = store.root().join("layers").join(&store.layer_dirs()[0]);
    assert!(layer_dir.join("bin/busybox").is_file());
}

#[test]
fn pull_by_digest_records_the_digest_and_no_tag() {
    let registry = Registry::start(Flavour::Plain);
    let seeded = registry.seed("app", "v1", &ImageSpec::busybox(Compression::Zstd));
    let store = store();
    let name = format!("{}/app@{}", registry.host(), seeded.digest);
    store.ok_(&["pull", &name]);
    let out = store.ok_(&["images", "--format", "{{.Repository}} {{.Tag}} {{.Digest}}"]);
    assert_eq!(
        out,
        format!("{}/app <none> {}\n", registry.host(), seeded.digest)
    );
    store.ok_(&["image", "inspect", &name]);
}

#[test]
fn pull_of_a_missing_image_fails_with_dockers_words_and_leaves_nothing() {
    let registry = Registry::start(Flavour::Plain);
    let store = store();
    let err = store.fails_(&["pull", &format!("{}/nothing/here:1", registry.host())]);
    assert!(err.starts_with("Error: "), "{err}");
    assert!(err.contains("nothing/here"), "{err}");
    assert_eq!(store.ok_(&["images", "-q"]), "");
    assert_eq!(store.blob_count(), 0);
}

#[test]
fn push_then_pull_elsewhere_gives_the_same_image_and_a_second_repository_mounts() {
    let registry = Registry::start(Flavour::Plain);
    let one = store();
    let name = format!("{}/team/busybox:v1", registry.host());
    let id = one.import_busybox(&name);
    let out = one.ok_(&["push", &name]);
    assert!(
        out.starts_with(&format!(
            "The push refers to repository [{}/team/busybox]\n",
            registry.host()
        )),
        "{out}"
    );
    assert!(out.contains(": Pushed\n"), "{out}");
    assert!(out.contains("v1: digest: sha256:"), "{out}");
    let again = one.ok_(&["push", &name]);
    assert!(again.contains(": Layer already exists\n"), "{again}");
    let other = format!("{}/other/busybox:v2", registry.host());
    one.ok_(&["tag", &name, &other]);
    let mounted = one.ok_(&["push", &other]);
    assert!(
        mounted.contains(": Mounted from team/busybox\n"),
        "{mounted}"
    );

    let two = store();
    two.ok_(&["pull", &other]);
    assert_eq!(two.ok_(&["images", "-q", "--no-trunc"]), format!("{id}\n"));
}

#[test]
fn push_of_an_image_not_in_the_store_fails_naming_it() {
    let registry = Registry::start(Flavour::Plain);
    let store = store();
    let err = store.fails_(&["push", &format!("{}/absent:1", registry.host())]);
    assert!(
        err.contains("An image does not exist locally with the tag"),
        "{err}"
    );
}

#[test]
fn login_checks_the_password_keeps_it_0600_and_logout_forgets_it() {
    let registry = Registry::start(Flavour::Htpasswd);
    registry.seed("private", "1", &ImageSpec::busybox(Compression::Gzip));
    let store = store();
    let host = registry.host();
    let name = format!("{host}/private:1");
    let err = store.fails_(&["pull", &name]);
    assert!(err.contains("unauthorized"), "{err}");
    let err = store.fails_(&["login", "-u", USER, "-p", "wrong", &host]);
    assert!(err.contains("login to"), "{err}");
    assert!(
        !config_json(&store).exists(),
        "a refused login keeps nothing"
    );
    let out = store.ok_(&["login", "-u", USER, "-p", PASSWORD, &host]);
    assert_eq!(out, "Login Succeeded\n");
    let mode = std::fs::metadata(config_json(&store))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    let config: serde_json::Value =
        serde_json::from_slice(&std::fs::read(config_json(&store)).unwrap()).unwrap();
    assert!(config["auths"][&host]["auth"].is_string(), "{config}");
    store.ok_(&["pull", &name]);
    assert_eq!(
        store.ok_(&["logout", &host]),
        format!("Removing login credentials for {host}\n")
    );
    assert_eq!(
        store.ok_(&["logout", &host]),
        format!("Not logged in to {host}\n")
    );
}

#[test]
fn token_auth_pull_and_push_after_login() {
    let registry = Registry::start(Flavour::Token);
    registry.seed("secure/app", "1", &ImageSpec::busybox(Compression::Gzip));
    let store = store();
    let host = registry.host();
    let err = store.fails_(&["pull", &format!("{host}/secure/app:1")]);
    assert!(err.contains("secure/app"), "{err}");
    store.ok_(&["login", "-u", USER, "-p", PASSWORD, &host]);
    store.ok_(&["pull", &format!("{host}/secure/app:1")]);
    store.ok_(&[
        "tag",
        &format!("{host}/secure/app:1"),
        &format!("{host}/secure/copy:2"),
    ]);
    let out = store.ok_(&["push", &format!("{host}/secure/copy:2")]);
    assert!(out.contains("Mounted from secure/app"), "{out}");
}

#[test]
fn search_lists_the_registry_catalog_with_dockers_columns() {
    let registry = Registry::start(Flavour::Plain);
    registry.seed("tools/busybox", "1", &ImageSpec::busybox(Compression::Gzip));
    registry.seed("web/nginx-ish", "1", &ImageSpec::busybox(Compression::Gzip));
    let store = store();
    let out = store.ok_(&["search", &format!("{}/busy", registry.host())]);
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].starts_with("NAME"), "{out}");
    assert!(
        lines[0].contains("DESCRIPTION") && lines[0].contains("STARS"),
        "{out}"
    );
    assert_eq!(lines.len(), 2, "{out}");
    assert!(
        lines[1].starts_with(&format!("{}/tools/busybox", registry.host())),
        "{out}"
    );
}

#[test]
fn concurrent_pulls_of_one_image_into_one_store_both_succeed_and_share_its_layers() {
    use integration::registry::LayerSpec;
    let registry = Registry::start(Flavour::Plain);
    let spec = ImageSpec {
        layers: (0..4)
            .map(|i| LayerSpec::Random {
                size: (2 + i) << 20,
                compression: Compression::Gzip,
            })
            .collect(),
        platforms: vec!["linux/amd64".to_string()],
        docker_schema2: false,
    };
    registry.seed("many/layers", "1", &spec);
    let store = store();
    let name = format!("{}/many/layers:1", registry.host());
    let children: Vec<_> = (0..3)
        .map(|_| {
            std::process::Command::new(env!("CARGO_BIN_EXE_berth"))
                .env("DOCKER_CONFIG", store.dir.path().join("docker"))
                .arg("--root")
                .arg(store.root())
                .args(["pull", "-q", &name])
                .spawn()
                .unwrap()
        })
        .collect();
    for mut child in children {
        assert!(child.wait().unwrap().success());
    }
    assert_eq!(store.layer_dirs().len(), 4);
    assert_eq!(store.ok_(&["images", "-q"]).lines().count(), 1);
    let leftovers: Vec<_> = std::fs::read_dir(store.root().join("blobs/ingest"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(
        leftovers.is_empty(),
        "partial blobs stayed behind: {leftovers:?}"
    );
}

/// Kills a tmux session of the test's own when dropped.
struct TmuxSession(String);

impl Drop for TmuxSession {
    fn drop(&mut self) {
        let _ = std::process::Command::new("tmux")
            .args(["kill-session", "-t", &self.0])
            .status();
    }
}

#[test]
fn pull_on_a_terminal_draws_one_line_per_layer_that_ends_pull_complete() {
    let registry = Registry::start(Flavour::Plain);
    let seeded = registry.seed("tty/busybox", "1", &ImageSpec::busybox(Compression::Gzip));
    let store = store();
    let name = format!("{}/tty/busybox:1", registry.host());
    let session = TmuxSession(format!(
        "berth-pull-{}-{}",
        std::process::id(),
        store.dir.path().file_name().unwrap().to_string_lossy()
    ));
    let command = format!(
        "DOCKER_CONFIG={} {} --root {} pull {name}; echo pull-exit-$?; sleep 60",
        store.dir.path().join("docker").display(),
        env!("CARGO_BIN_EXE_berth"),
        store.root().display()
    );
    let started = std::process::Command::new("tmux")
        .args([
            "new-session",
            "-d",
            "-s",
            &session.0,
            "-x",
            "160",
            "-y",
            "40",
            &command,
        ])
        .status()
        .unwrap();
    assert!(started.success());
    let mut screen = String::new();
    for _ in 0..300 {
        let out = std::process::Command::new("tmux")
            .args(["capture-pane", "-p", "-t", &session.0])
            .output()
            .unwrap();
        screen = String::from_utf8_lossy(&out.stdout).into_owned();
        if screen.contains("pull-exit-") {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert!(screen.contains("pull-exit-0"), "{screen}");
    let layer = &seeded.images[0].layers[0].0[7..19];
    let lines: Vec<&str> = screen.lines().filter(|l| l.starts_with(layer)).collect();
    // A bar redrawn in place: one line for the layer, not one per state.
    assert_eq!(lines.len(), 1, "{screen}");
    assert!(lines[0].contains("Pull complete"), "{screen}");
    assert!(
        screen.contains(&format!("Digest: {}", seeded.digest)),
        "{screen}"
    );
}
