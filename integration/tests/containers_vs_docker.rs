//! `berth inspect --format` next to `docker inspect --format` for the same container
//! shape (the same image, command and flags): the templates of the Docker book render
//! the same text. Skips (passing) when dockerd is not installed.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use integration::engines::{Engine, Kind, DOCKER_RUNTIME_NAME};

fn berth_bin() -> PathBuf {
    if let Some(path) = std::env::var_os("BERTH_BIN") {
        return PathBuf::from(path);
    }
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/debug/berth")
}

/// berth on a store of the test's own; its containers go when dropped.
struct Berth {
    root: PathBuf,
}

impl Berth {
    fn run(&self, args: &[&str]) -> Output {
        Command::new(berth_bin())
            .arg("--root")
            .arg(&self.root)
            .args(args)
            .output()
            .expect("run berth (cargo build -p berth first)")
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "berth {args:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

impl Drop for Berth {
    fn drop(&mut self) {
        let ids = self.run(&["ps", "-a", "-q", "--no-trunc"]);
        let ids = String::from_utf8_lossy(&ids.stdout).into_owned();
        let mut args = vec!["rm", "-f"];
        args.extend(ids.split_whitespace());
        if args.len() > 2 {
            let _ = self.run(&args);
        }
    }
}

const TEMPLATES: &[&str] = &[
    "{{ .State.Running }}",
    "{{.State.Status}} {{.State.Paused}} {{.State.Restarting}} {{.State.ExitCode}}",
    "{{.Name}}",
    "{{.Path}} {{json .Args}}",
    "{{range .Args}}[{{.}}]{{end}}",
    "{{index .Args 0}}",
    "{{len .Id}} {{len .Config.Hostname}}",
    "{{json .Config.Cmd}} {{json .Config.Entrypoint}}",
    "{{.Config.Image}} {{.Config.WorkingDir}} {{.Config.User}} {{.Config.Tty}} {{.Config.OpenStdin}}",
    "{{index .Config.Labels \"book\"}}",
    "{{.HostConfig.RestartPolicy.Name}} {{.HostConfig.RestartPolicy.MaximumRetryCount}}",
    "{{.HostConfig.Privileged}} {{.HostConfig.ReadonlyRootfs}} {{.HostConfig.AutoRemove}}",
    "{{.HostConfig.LogConfig.Type}} {{.HostConfig.NetworkMode}}",
    "{{.RestartCount}} {{.Driver}} {{.Platform}}",
    "{{if .State.Running}}up{{else}}down{{end}}",
];

#[test]
fn the_books_templates_render_as_dockers_for_the_same_container() {
    let Some(docker) = Engine::start(Kind::Docker, "insp-docker") else {
        return;
    };
    let dir = docker.dir().to_path_buf();
    let berth = Berth {
        root: dir.join("berth-store"),
    };
    let archive = dir.join("busybox.tar");
    let archive = archive.to_str().unwrap();
    docker.ok(&docker.cli(&["save", "-o", archive, &docker.image]));
    berth.ok(&["load", "-i", archive]);
    let shape = [
        "-d",
        "--name",
        "shape",
        "-w",
        "/tmp",
        "--restart",
        "on-failure:3",
        "--label",
        "book=chapter3",
        "--network",
        "none",
    ];
    let mut docker_args = vec!["run", "--runtime", DOCKER_RUNTIME_NAME];
    docker_args.extend(shape);
    docker_args.extend([docker.image.as_str(), "sleep", "1000"]);
    docker.ok(&docker.cli(&docker_args));
    let mut berth_args = vec!["run"];
    berth_args.extend(shape);
    berth_args.extend([docker.image.as_str(), "sleep", "1000"]);
    berth.ok(&berth_args);
    for template in TEMPLATES {
        let from_docker = docker.ok(&docker.cli(&["inspect", "--format", template, "shape"]));
        let from_berth = berth.ok(&["inspect", "--format", template, "shape"]);
        assert_eq!(from_berth, from_docker, "template {template:?}");
    }
    docker.ok(&docker.cli(&["stop", "-t", "0", "shape"]));
    berth.ok(&["stop", "-t", "0", "shape"]);
    for template in [TEMPLATES[0], TEMPLATES[1], TEMPLATES[14]] {
        let from_docker = docker.ok(&docker.cli(&["inspect", "--format", template, "shape"]));
        let from_berth = berth.ok(&["inspect", "--format", template, "shape"]);
        assert_eq!(from_berth, from_docker, "stopped, template {template:?}");
    }
    docker.ok(&docker.cli(&["rm", "shape"]));
}
