//! The Docker book's chapters 2–4, command by command in the book's order, with one
//! docker CLI (28.x where installed, else Debian's) against two daemons: a private
//! dockerd 20.10 (Debian's docker.io, runc, in a network namespace of its own, so it
//! cannot reach a registry) and `berth daemon` on a temp store. What is compared is
//! the shape of what the user sees: the tables' titles and columns, the keys of
//! `inspect`'s JSON (less the differences listed in [`KNOWN_DIFFERENCES`]), exit codes,
//! and error messages where dockerd's are fixed text. Every container runs with
//! `--network none`; only the `network` commands make a network.
//!
//! Both daemons get the same busybox image under the same tag, a rootfs tar of
//! Debian's busybox-static: `docker import` into dockerd, `berth import` into berth's
//! store (its daemon does not serve imports yet).

mod support;

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use integration::engines::{Engine, Kind};
use serde_json::Value;
use support::daemon::{docker_cli, Daemon};
use support::tmux::Tmux;
use support::TestStore;

/// Keys of `inspect`'s JSON that one daemon has and the other has not, and why.
/// `*` stands for a key that is data (a network's or a runtime's name).
const KNOWN_DIFFERENCES: &[(&str, &str, &str)] = &[
    (
        "info",
        "KernelMemory",
        "berth sets no kernel memory limits: false, which the docker CLI 28 leaves out",
    ),
    (
        "info",
        "KernelMemoryTCP",
        "berth sets no kernel memory limits: false, which the docker CLI 28 leaves out",
    ),
    ("info", "ContainerdCommit.Expected", NO_COMMITS),
    ("info", "RuncCommit.Expected", NO_COMMITS),
    ("container", "HostConfig.BlkioDeviceReadBps", BLKIO),
    ("container", "HostConfig.BlkioDeviceReadIOps", BLKIO),
    ("container", "HostConfig.BlkioDeviceWriteBps", BLKIO),
    ("container", "HostConfig.BlkioDeviceWriteIOps", BLKIO),
    ("container", "HostConfig.BlkioWeight", BLKIO),
    ("container", "HostConfig.BlkioWeightDevice", BLKIO),
    ("container", "HostConfig.IOMaximumBandwidth", WINDOWS),
    ("container", "HostConfig.IOMaximumIOps", WINDOWS),
    ("container", "HostConfig.CpuCount", WINDOWS),
    ("container", "HostConfig.CpuPercent", WINDOWS),
    ("container", "HostConfig.Isolation", WINDOWS),
    ("container", "HostConfig.CpuRealtimePeriod", NOT_TAKEN),
    ("container", "HostConfig.CpuRealtimeRuntime", NOT_TAKEN),
    ("container", "HostConfig.KernelMemory", NOT_TAKEN),
    ("container", "HostConfig.KernelMemoryTCP", NOT_TAKEN),
    ("container", "HostConfig.MemorySwappiness", NOT_TAKEN),
    ("container", "HostConfig.Devices", NOT_TAKEN),
    ("container", "HostConfig.DeviceCgroupRules", NOT_TAKEN),
    ("container", "HostConfig.DeviceRequests", NOT_TAKEN),
    ("container", "HostConfig.Cgroup", NOT_TAKEN),
    ("container", "HostConfig.CgroupnsMode", NOT_TAKEN),
    ("container", "HostConfig.UsernsMode", NOT_TAKEN),
    ("container", "HostConfig.Links", NOT_TAKEN),
    ("container", "HostConfig.VolumeDriver", NOT_TAKEN),
    ("container", "HostConfig.VolumesFrom", NOT_TAKEN),
    (
        "container",
        "HostConfig.ConsoleSize",
        "the terminal size a client sends at create is not kept; resize sets it",
    ),
    (
        "container",
        "NetworkSettings.Networks.*.DNSNames",
        "an API 1.44 field (docker CLI 28 reads it); berth shows it at every version",
    ),
    ("image", "GraphDriver.Data.LowerDir", IMAGE_LAYERS),
    ("image", "GraphDriver.Data.MergedDir", IMAGE_LAYERS),
    ("image", "GraphDriver.Data.UpperDir", IMAGE_LAYERS),
    ("image", "GraphDriver.Data.WorkDir", IMAGE_LAYERS),
];

const NO_COMMITS: &str = "no containerd, and berth-runtime is no runc build: no commit expected, \
     which the docker CLI 28 leaves out";
const BLKIO: &str = "berth sets no block I/O weights or limits";
const WINDOWS: &str = "Windows-only settings";
const NOT_TAKEN: &str = "a setting berth's run and create do not take";
const IMAGE_LAYERS: &str =
    "berth keeps an image's layers as plain dirs, nothing mounted for the image: \
     all of them are its LowerDir, where dockerd names the top layer's dirs apart";

/// Maps whose keys are data (names, ports), not fields: compared as `*`.
const DATA_MAPS: &[&str] = &[
    "Runtimes",
    "RegistryConfig.IndexConfigs",
    "Containers",
    "Labels",
    "Options",
    "Config.Labels",
    "Config.ExposedPorts",
    "Config.Volumes",
    "NetworkSettings.Networks",
    "NetworkSettings.Ports",
    "HostConfig.PortBindings",
    "HostConfig.LogConfig.Config",
    "HostConfig.Tmpfs",
    "IPAM.Options",
];

/// One of the two daemons, as the docker CLI reaches it.
struct Side {
    name: &'static str,
    socket: PathBuf,
    config: PathBuf,
}

impl Side {
    /// The docker CLI pointed at this daemon, as a shell command line (for tmux).
    fn docker_line(&self) -> String {
        format!(
            "DOCKER_CONFIG={} {} -H unix://{}",
            self.config.display(),
            docker_cli(),
            self.socket.display()
        )
    }

    /// `docker ARGS`, stopped after a minute should it hang.
    fn docker(&self, args: &[&str]) -> Output {
        Command::new("timeout")
            .arg("60")
            .arg(docker_cli())
            .arg("-H")
            .arg(format!("unix://{}", self.socket.display()))
            .args(args)
            .env("DOCKER_CONFIG", &self.config)
            .stdin(Stdio::null())
            .output()
            .expect("run the docker CLI")
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// One command's outputs from both daemons.
struct Both {
    args: String,
    dockerd: Output,
    berth: Output,
}

impl Both {
    fn report(&self) -> String {
        let one = |name: &str, o: &Output| {
            format!(
                "--- {name} ({:?}):\n{}{}",
                o.status.code(),
                text(&o.stdout),
                text(&o.stderr)
            )
        };
        format!(
            "docker {}\n{}\n{}",
            self.args,
            one("dockerd", &self.dockerd),
            one("berth", &self.berth)
        )
    }

    /// Both exited with the same code; it is returned.
    #[track_caller]
    fn same_code(&self) -> i32 {
        let code = self.dockerd.status.code();
        assert_eq!(
            self.berth.status.code(),
            code,
            "exit codes differ\n{}",
            self.report()
        );
        code.unwrap_or(-1)
    }

    /// Both succeeded; their stdouts.
    #[track_caller]
    fn ok(&self) -> [String; 2] {
        assert_eq!(self.same_code(), 0, "{}", self.report());
        [text(&self.dockerd.stdout), text(&self.berth.stdout)]
    }

    /// Both failed with `code` and the same message once ids are masked.
    #[track_caller]
    fn same_error(&self, code: i32) {
        assert_eq!(self.same_code(), code, "{}", self.report());
        assert_eq!(
            mask_ids(&text(&self.berth.stderr)),
            mask_ids(&text(&self.dockerd.stderr)),
            "error messages differ\n{}",
            self.report()
        );
    }

    /// Both printed a table with the same titles; both tables.
    #[track_caller]
    fn same_table(&self) -> [Table; 2] {
        let [d, b] = self.ok();
        let (d, b) = (Table::parse(&d), Table::parse(&b));
        assert_eq!(b.titles, d.titles, "table titles differ\n{}", self.report());
        for t in [&d, &b] {
            assert!(
                t.aligned,
                "rows not in the titles' columns\n{}",
                self.report()
            );
        }
        [d, b]
    }
}

/// The two daemons, and the docker CLI run on both at once.
struct Book {
    dockerd: Side,
    berth: Side,
}

impl Book {
    fn both(&self, args: &[&str]) -> Both {
        let (dockerd, berth) = std::thread::scope(|s| {
            let d = s.spawn(|| self.dockerd.docker(args));
            let b = self.berth.docker(args);
            (d.join().expect("the dockerd side's thread"), b)
        });
        Both {
            args: args.join(" "),
            dockerd,
            berth,
        }
    }

    /// `f` on both sides at once.
    fn each<T: Send>(&self, f: impl Fn(&Side) -> T + Sync) -> [T; 2] {
        std::thread::scope(|s| {
            let d = s.spawn(|| f(&self.dockerd));
            let b = f(&self.berth);
            [d.join().expect("the dockerd side's thread"), b]
        })
    }
}

/// A table as the docker CLI prints it: titles apart by two spaces or more, each row
/// cut at the titles' columns.
#[derive(Debug)]
struct Table {
    titles: Vec<String>,
    rows: Vec<Vec<String>>,
    /// Every cell of every row starts in its title's column.
    aligned: bool,
}

impl Table {
    fn parse(out: &str) -> Table {
        let mut lines = out.lines();
        let header: Vec<char> = lines.next().unwrap_or_default().chars().collect();
        let starts: Vec<usize> = (0..header.len())
            .filter(|&i| header[i] != ' ' && (i == 0 || (i >= 2 && header[i - 2..i] == [' ', ' '])))
            .collect();
        let cut = |line: &[char]| -> Vec<String> {
            let mut cells = Vec::new();
            for (n, &start) in starts.iter().enumerate() {
                let end = starts
                    .get(n + 1)
                    .copied()
                    .unwrap_or(usize::MAX)
                    .min(line.len());
                let cell: String = line
                    .get(start..end.max(start))
                    .unwrap_or(&[])
                    .iter()
                    .collect();
                cells.push(cell.trim().to_string());
            }
            cells
        };
        let mut aligned = true;
        let rows = lines
            .map(|l| {
                let line: Vec<char> = l.chars().collect();
                aligned &= starts
                    .iter()
                    .all(|&s| s == 0 || line.get(s - 1).is_none_or(|c| *c == ' '));
                cut(&line)
            })
            .collect();
        Table {
            titles: cut(&header),
            rows,
            aligned,
        }
    }

    fn column(&self, title: &str) -> Vec<&str> {
        let n = self
            .titles
            .iter()
            .position(|t| t == title)
            .unwrap_or_else(|| panic!("no column {title} in {:?}", self.titles));
        self.rows.iter().map(|r| r[n].as_str()).collect()
    }
}

/// `text` with container and image ids (64 or 12 hex digits) as `<id>`.
fn mask_ids(text: &str) -> String {
    let mut out = String::new();
    let mut run = String::new();
    let flush = |run: &mut String, out: &mut String| {
        if run.len() == 64 || run.len() == 12 {
            out.push_str("<id>");
        } else {
            out.push_str(run);
        }
        run.clear();
    };
    for c in text.chars() {
        if c.is_ascii_hexdigit() && !c.is_ascii_uppercase() {
            run.push(c);
        } else {
            flush(&mut run, &mut out);
            out.push(c);
        }
    }
    flush(&mut run, &mut out);
    out
}

fn is_id(line: &str, len: usize) -> bool {
    line.len() == len && line.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Every key path of `value` (`a.b.c`; `[]` for array elements, `*` in [`DATA_MAPS`]).
fn key_paths(value: &Value, prefix: &str, out: &mut BTreeSet<String>) {
    match value {
        Value::Object(map) => {
            let data = DATA_MAPS.contains(&prefix);
            for (key, child) in map {
                let key = if data { "*" } else { key.as_str() };
                let path = if prefix.is_empty() {
                    key.to_string()
                } else {
                    format!("{prefix}.{key}")
                };
                out.insert(path.clone());
                key_paths(child, &path, out);
            }
        }
        Value::Array(items) => {
            for item in items {
                key_paths(item, &format!("{prefix}[]"), out);
            }
        }
        _ => {}
    }
}

/// The same keys in `inspect`'s JSON of `object` (`kind` names it in
/// [`KNOWN_DIFFERENCES`]) from both daemons.
#[track_caller]
fn same_keys(book: &Book, kind: &str, inspect: &[&str]) {
    let both = book.both(inspect);
    let [d, b] = both.ok();
    let keys = |out: &str| {
        let parsed: Value = serde_json::from_str(out)
            .unwrap_or_else(|e| panic!("not JSON ({e})\n{}", both.report()));
        let mut paths = BTreeSet::new();
        let first = parsed.get(0).unwrap_or(&parsed);
        key_paths(first, "", &mut paths);
        paths
    };
    let (d, b) = (keys(&d), keys(&b));
    let allowed = |path: &String| {
        KNOWN_DIFFERENCES
            .iter()
            .any(|(k, p, _)| *k == kind && (path == p || path.starts_with(&format!("{p}."))))
    };
    let missing: Vec<&String> = d.difference(&b).filter(|p| !allowed(p)).collect();
    let extra: Vec<&String> = b.difference(&d).filter(|p| !allowed(p)).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "{kind} inspect: keys dockerd has and berth has not: {missing:?}; \
         keys berth has and dockerd has not: {extra:?}"
    );
}

/// Polls `done` for up to a minute (a guard against a hang, not a timing).
fn eventually(mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if done() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    false
}

/// `docker ARGS` on a tmux terminal: types `hostname` until the container's
/// hostname (12 hex digits) shows, then `exit`; the hostname and the CLI's exit code.
fn shell_session(side: &Side, session: &str, args: &str) -> (String, String) {
    let tmux = Tmux::start(
        &format!("book-{session}-{}", side.name),
        &format!(
            "{} {args}; echo book-exited-$?; sleep 600",
            side.docker_line()
        ),
    );
    let hostname = |screen: &str| {
        screen
            .lines()
            .map(str::trim_end)
            .find(|l| is_id(l, 12))
            .map(str::to_string)
    };
    let mut found = None;
    for _ in 0..30 {
        tmux.keys(&["hostname", "Enter"]);
        let deadline = Instant::now() + Duration::from_secs(2);
        while found.is_none() && Instant::now() < deadline {
            found = hostname(&tmux.screen());
            std::thread::sleep(Duration::from_millis(50));
        }
        if found.is_some() {
            break;
        }
    }
    let Some(found) = found else {
        panic!("{}: no hostname line:\n{}", side.name, tmux.history());
    };
    tmux.keys(&["exit", "Enter"]);
    assert!(
        tmux.wait_text("book-exited-"),
        "{}: docker {args} did not end:\n{}",
        side.name,
        tmux.history()
    );
    let screen = tmux.screen();
    let exited = screen
        .lines()
        .find_map(|l| l.trim_end().strip_prefix("book-exited-"))
        .unwrap_or_default()
        .to_string();
    (found, exited)
}

/// `docker ARGS` on a terminal on both daemons: each shows a hostname and exits 0.
#[track_caller]
fn on_terminals(book: &Book, session: &str, args: &str) {
    let [(d_host, d_exit), (b_host, b_exit)] = book.each(|side| shell_session(side, session, args));
    assert_eq!(
        (d_exit.as_str(), b_exit.as_str()),
        ("0", "0"),
        "docker {args}: exit codes (hostnames {d_host}, {b_host})"
    );
}

/// The private dockerd, with the busybox image as `busybox` and nothing else.
fn start_dockerd(tar: &std::path::Path) -> (Engine, Side) {
    let engine = Engine::start_offline(Kind::Docker, "book").unwrap_or_else(|| {
        panic!("this test compares berth with dockerd 20.10: apt-get install -y docker.io (see the line above)")
    });
    let config = engine.dir().join("docker-config");
    std::fs::create_dir_all(&config).expect("docker config dir");
    let side = Side {
        name: "dockerd",
        socket: engine.dir().join("docker.sock"),
        config,
    };
    let tar = tar.to_str().expect("a UTF-8 temp path");
    let import = side.docker(&["import", "-c", "CMD [\"sh\"]", tar, "busybox"]);
    assert!(import.status.success(), "docker import: {import:?}");
    let rmi = side.docker(&["rmi", &engine.image]);
    assert!(rmi.status.success(), "docker rmi {}: {rmi:?}", engine.image);
    (engine, side)
}

#[test]
fn the_books_chapters_2_to_4_look_the_same_on_berth_daemon_as_on_dockerd() {
    let store = TestStore::new();
    store.import_busybox("busybox");
    let tar = support::busybox_rootfs_tar(store.dir.path());
    let (dockerd, dockerd_side) = start_dockerd(&tar);
    let daemon = Daemon::start(&store, &[]);
    let book = Book {
        dockerd: dockerd_side,
        berth: Side {
            name: "berth",
            socket: daemon.socket.clone(),
            config: store.dir.path().join("docker-config"),
        },
    };

    // Chapter 2: the daemon.
    book.both(&["info"]).ok();
    same_keys(&book, "info", &["info", "--format", "{{json .}}"]);

    // Chapter 3: a first container, on a terminal; then named ones.
    on_terminals(&book, "run", "run -i -t --network none busybox sh");
    let [d, b] = book.both(&["ps", "-a"]).same_table();
    assert_eq!((d.rows.len(), b.rows.len()), (1, 1), "ps -a: {d:?} {b:?}");
    on_terminals(
        &book,
        "bob",
        "run --name bob -i -t --network none busybox sh",
    );
    let [d, b] = book.both(&["start", "bob"]).ok();
    assert_eq!((d.as_str(), b.as_str()), ("bob\n", "bob\n"));
    on_terminals(&book, "attach", "attach bob");

    // Daemonized containers.
    let loop_command = "while true; do echo hello world; sleep 1; done";
    let run_dave = [
        "run",
        "--network",
        "none",
        "--name",
        "daemon_dave",
        "-d",
        "busybox",
        "sh",
        "-c",
        loop_command,
    ];
    for id in book.both(&run_dave).ok() {
        assert!(is_id(id.trim(), 64), "run -d printed {id:?}");
    }
    let [d, b] = book.both(&["ps"]).same_table();
    for column in ["IMAGE", "COMMAND", "PORTS", "NAMES"] {
        assert_eq!(b.column(column), d.column(column), "ps: {column}");
    }
    let hello = |side: &Side| {
        eventually(|| {
            text(&side.docker(&["logs", "daemon_dave"]).stdout)
                .lines()
                .count()
                >= 2
        })
    };
    assert_eq!(
        book.each(hello),
        [true, true],
        "logs daemon_dave: fewer than 2 lines"
    );
    for out in book.both(&["logs", "daemon_dave"]).ok() {
        assert!(out.lines().all(|l| l == "hello world"), "{out}");
    }
    for out in book
        .both(&["logs", "-t", "--tail", "2", "daemon_dave"])
        .ok()
    {
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), 2, "{out}");
        for line in lines {
            let (time, rest) = line.split_once(' ').unwrap_or_default();
            assert_eq!(rest, "hello world", "{line}");
            assert!(
                time.len() >= 20 && time.ends_with('Z') && &time[10..11] == "T",
                "{line}"
            );
        }
    }
    let [d, b] = book.both(&["top", "daemon_dave"]).same_table();
    assert_eq!(
        b.column("CMD")[0],
        d.column("CMD")[0],
        "top's first process"
    );
    let [d, b] = book
        .both(&["stats", "--no-stream", "daemon_dave"])
        .same_table();
    assert_eq!(b.column("NAME"), d.column("NAME"));
    let [d, b] = book
        .both(&["exec", "-d", "daemon_dave", "touch", "/etc/new_config_file"])
        .ok();
    assert_eq!((d.as_str(), b.as_str()), ("", ""));
    let touched = |side: &Side| {
        eventually(|| {
            side.docker(&["exec", "daemon_dave", "ls", "/etc/new_config_file"])
                .status
                .success()
        })
    };
    assert_eq!(
        book.each(touched),
        [true, true],
        "exec -d's file never showed"
    );
    let [d, b] = book
        .both(&["exec", "daemon_dave", "ls", "/etc/new_config_file"])
        .ok();
    assert_eq!(
        (d.as_str(), b.as_str()),
        ("/etc/new_config_file\n", "/etc/new_config_file\n")
    );
    // Errors: a running container is not removed without -f; unknown containers.
    book.both(&["rm", "daemon_dave"]).same_error(1);
    book.both(&["stop", "book_nosuch"]).same_error(1);
    book.both(&["start", "book_nosuch"]).same_error(1);
    book.both(&["logs", "book_nosuch"]).same_error(1);
    same_keys(&book, "container", &["inspect", "daemon_dave"]);

    // sh as pid 1 ignores SIGTERM: both wait the 10 s and kill.
    let [d, b] = book.both(&["stop", "daemon_dave"]).ok();
    assert_eq!((d.as_str(), b.as_str()), ("daemon_dave\n", "daemon_dave\n"));
    let [d, b] = book.both(&["ps", "-n", "1"]).same_table();
    assert_eq!(b.column("NAMES"), d.column("NAMES"));
    for t in [&d, &b] {
        assert!(t.column("STATUS")[0].starts_with("Exited (137) "), "{t:?}");
    }

    // Restart policies.
    let run_alice = [
        "run",
        "--network",
        "none",
        "--restart=always",
        "--name",
        "alice",
        "-d",
        "busybox",
        "sh",
        "-c",
        "echo hi; sleep 1",
    ];
    book.both(&run_alice).ok();
    let restarted = |side: &Side| {
        eventually(|| {
            let out = side.docker(&["inspect", "--format", "{{ .RestartCount }}", "alice"]);
            text(&out.stdout).trim().parse::<u32>().is_ok_and(|n| n > 0)
        })
    };
    assert_eq!(book.each(restarted), [true, true], "alice never restarted");

    // Inspecting.
    let [d, b] = book
        .both(&["inspect", "--format", "{{ .State.Running }}", "daemon_dave"])
        .ok();
    assert_eq!((d.as_str(), b.as_str()), ("false\n", "false\n"));
    let two = [
        "inspect",
        "--format",
        "{{ .Name }} {{ .State.Running }}",
        "daemon_dave",
        "bob",
    ];
    let [d, b] = book.both(&two).ok();
    assert_eq!(b, d);
    assert_eq!(d, "/daemon_dave false\n/bob false\n");
    let with_unknown = [
        "inspect",
        "--format",
        "{{ .Name }}",
        "daemon_dave",
        "book_nosuch",
    ];
    let both = book.both(&with_unknown);
    both.same_error(1);
    assert_eq!(text(&both.berth.stdout), text(&both.dockerd.stdout));
    book.both(&["inspect", "book_nosuch"]).same_error(1);

    // Deleting.
    let [d, b] = book.both(&["rm", "-f", "daemon_dave", "bob", "alice"]).ok();
    assert_eq!(b, d);

    // Chapter 4: images.
    let [d, b] = book.both(&["images"]).same_table();
    for column in ["REPOSITORY", "TAG"] {
        assert_eq!(b.column(column), d.column(column), "images: {column}");
    }
    book.both(&["tag", "busybox", "busybox:book"]).ok();
    let [d, b] = book.both(&["history", "busybox"]).same_table();
    assert_eq!(b.rows.len(), d.rows.len(), "history rows");
    same_keys(&book, "image", &["image", "inspect", "busybox"]);
    let [d, b] = book.both(&["rmi", "busybox:book"]).ok();
    assert_eq!(
        (d.as_str(), b.as_str()),
        ("Untagged: busybox:book\n", "Untagged: busybox:book\n")
    );
    book.both(&["rmi", "book_nosuch:v9"]).same_error(1);
    book.both(&["history", "book_nosuch"]).same_error(1);
    // A missing image and no registry in reach: both fail as docker run fails.
    let offline = book.both(&["run", "--network", "none", "book_nosuch"]);
    assert_eq!(offline.same_code(), 125, "{}", offline.report());
    for stderr in [&offline.dockerd.stderr, &offline.berth.stderr] {
        let stderr = text(stderr);
        let mut lines = stderr.lines();
        assert_eq!(
            lines.next(),
            Some("Unable to find image 'book_nosuch:latest' locally"),
            "{}",
            offline.report()
        );
        assert!(
            lines
                .next()
                .is_some_and(|l| l.starts_with("docker: Error response from daemon: ")),
            "{}",
            offline.report()
        );
    }

    // Networks.
    let [d, b] = book.both(&["network", "ls"]).same_table();
    for t in [&d, &b] {
        let names = t.column("NAME");
        assert!(names.contains(&"none") && names.contains(&"host"), "{t:?}");
    }
    for id in book.both(&["network", "create", "app"]).ok() {
        assert!(is_id(id.trim(), 64), "network create printed {id:?}");
    }
    same_keys(&book, "network", &["network", "inspect", "app"]);
    let [d, b] = book.both(&["network", "rm", "app"]).ok();
    assert_eq!((d.as_str(), b.as_str()), ("app\n", "app\n"));
    book.both(&["network", "rm", "app"]).same_error(1);

    let [d, b] = book.both(&["system", "df"]).same_table();
    for column in ["TYPE", "TOTAL", "ACTIVE"] {
        assert_eq!(b.column(column), d.column(column), "system df: {column}");
    }
    drop(daemon);
    drop(dockerd);
}
