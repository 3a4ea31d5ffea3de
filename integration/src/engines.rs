//! Real container engines on top of the runtime under test: Debian's containerd 1.6 (driven
//! with `ctr run --runc-binary`), dockerd 20.10 (`--add-runtime berth=RUNTIME`, `docker run
//! --runtime berth`) and podman 4.3 with conmon (`podman --runtime RUNTIME`), or with another
//! container monitor in conmon's place ([`Engine::start_podman`]: `podman --conmon PATH`).
//!
//! [`Engine::start`] gives one test its own engine: a [`Test`] (temp dir `T`, removed at the
//! end), a daemon with its root, state and sockets under `T` (containerd, dockerd; podman has
//! none), a cgroup parent of its own (`/berth-engines-<pid>-<n>`), no iptables, no bridge, no
//! network namespace setup beyond `none` ([`Engine::start_offline`] also puts the daemon in
//! a namespace of its own, loopback only), and a busybox image built locally from
//! `/bin/busybox` (a docker-archive with one layer) and loaded into the engine. It skips
//! (returns None after printing `skipped: <engine> not installed: <why>`) only when the
//! engine's binaries cannot be found.
//!
//! Dropping the engine removes its containers through the engine, stops the daemon by pid
//! (SIGTERM, then SIGKILL), kills by pid what is left of it (processes whose command line
//! names `T`, whose root is under `T`, or that sit in its cgroup parent), removes that cgroup
//! parent in every hierarchy (and the plain directories conmon makes on the
//! `/sys/fs/cgroup` tmpfs for controllers the host does not mount), and detaches the mounts
//! under `T`. What the engines create outside `T` whatever their flags (`/run/containerd/s`,
//! `/run/docker/plugins`, `/opt/containerd`, `/var/lib/containers/cache`, podman's use of the
//! runtime's default state dir `/run/<runtime>`...) is removed when the last engine of the
//! process ends, if it did not exist when the first one started.
//!
//! Every engine command runs under a timeout with stdin null and its output in files.
//!
//! The tests do not make this process a child subreaper (the harness's [`Test`] does): shims
//! and conmon double-fork and are meant to be reparented to init, as under systemd.

use std::cell::Cell;
use std::ffi::{CString, OsString};
use std::fs::{self, File};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::Mutex;
use std::thread::sleep;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::runtime::wait_child;
use crate::{next, pid_alive, runtime_bin, stderr, stdout, wait_until, Test};

/// How long one engine command (client call) may take.
pub const ENGINE_TIMEOUT: Duration = Duration::from_secs(60);

/// How long a daemon may take to answer after it is started.
const DAEMON_READY_TIMEOUT: Duration = Duration::from_secs(30);

/// How long a daemon may take to exit on SIGTERM before it is killed.
const DAEMON_STOP_TIMEOUT: Duration = Duration::from_secs(20);

/// The image every engine gets, as tagged in the archive.
const IMAGE_TAG: &str = "berth-busybox:test";

/// The containerd namespace of `ctr` (each test has its own containerd anyway).
const CTR_NAMESPACE: &str = "berth";

/// The name docker knows the runtime under test by (`--add-runtime berth=PATH`).
pub const DOCKER_RUNTIME_NAME: &str = "berth";

/// 64 MiB, the memory limit the tests set.
pub const MIB_64: u64 = 64 << 20;

/// Which engine.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// containerd 1.6 and `ctr`.
    Containerd,
    /// dockerd 20.10 (with its own managed containerd) and the docker CLI.
    Docker,
    /// podman 4.3 and conmon.
    Podman,
}

impl Kind {
    /// `containerd`, `docker` or `podman`.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Containerd => "containerd",
            Kind::Docker => "docker",
            Kind::Podman => "podman",
        }
    }

    fn package(self) -> &'static str {
        match self {
            Kind::Containerd => "containerd",
            Kind::Docker => "docker.io",
            Kind::Podman => "podman",
        }
    }

    /// The binaries the engine needs (the first is what the tests run as the client).
    fn binaries(self) -> &'static [&'static str] {
        match self {
            Kind::Containerd => &["ctr", "containerd", "containerd-shim-runc-v2"],
            Kind::Docker => &["docker", "dockerd", "containerd", "containerd-shim-runc-v2"],
            Kind::Podman => &["podman", "conmon"],
        }
    }

    /// The client binary, or why the engine cannot run here.
    fn find(self) -> Result<PathBuf, String> {
        for b in self.binaries() {
            if find_bin(b).is_none() {
                return Err(format!(
                    "{b} not found in PATH or /usr/sbin, /usr/bin, /sbin, /bin (apt-get install -y --no-install-recommends {})",
                    self.package()
                ));
            }
        }
        if self == Kind::Docker && is_executable(Path::new("/usr/bin/docker")) {
            // Debian's client, of the daemon's own version (another one may come first in PATH).
            return Ok(PathBuf::from("/usr/bin/docker"));
        }
        Ok(find_bin(self.binaries()[0]).expect("checked above"))
    }
}

fn is_executable(p: &Path) -> bool {
    fs::metadata(p)
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

fn find_bin(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/usr/bin", "/sbin", "/bin"].map(PathBuf::from))
        .map(|d| d.join(name))
        .find(|p| is_executable(p))
}

/// Options of a container started by [`Engine::run_detached`].
#[derive(Clone, Debug, Default)]
pub struct RunOpts {
    /// Memory limit in bytes (`--memory`, `ctr run --memory-limit`).
    pub memory: Option<u64>,
    /// A read-only root filesystem (`--read-only`); podman then also mounts
    /// tmpfs with `tmpcopyup` on /run, /tmp and /var/tmp.
    pub read_only: bool,
}

/// What `stats` reported for one container.
#[derive(Clone, Debug, PartialEq)]
pub struct Stats {
    /// Number of processes.
    pub pids: u64,
    /// Memory limit in bytes (parsed back from `64MiB` / `67.11MB` for docker and podman).
    pub mem_limit: f64,
    /// The engine's output, for messages.
    pub raw: String,
}

/// One engine for one test. See the module documentation.
pub struct Engine {
    /// Which engine.
    pub kind: Kind,
    /// The test's temp dir and harness resources.
    pub t: Test,
    /// Absolute path of the runtime under test.
    pub runtime: PathBuf,
    /// Absolute cgroup path the engine puts its containers under.
    pub cgroup_parent: String,
    /// The image reference as the engine names it after loading.
    pub image: String,
    /// The container monitor podman runs (`podman --conmon PATH`); None: podman's default.
    pub conmon: Option<PathBuf>,
    /// The network namespace the daemon runs in (see [`Engine::start_offline`]).
    netns: Option<PathBuf>,
    client: PathBuf,
    daemon: Option<Child>,
    seq: Cell<u32>,
}

impl Engine {
    /// Starts `kind` for a test named `name` (short: it names the temp dir, and unix socket
    /// paths under it must stay below 108 bytes) and loads the busybox image. Returns None
    /// (the test passes) when the engine is not installed; without root or busybox
    /// [`Test::new`] fails the test.
    pub fn start(kind: Kind, name: &str) -> Option<Engine> {
        Engine::start_with_conmon(kind, name, None, false)
    }

    /// [`Engine::start`] with the daemon in a network namespace of its own (`T/netns`,
    /// loopback only): it cannot reach a registry, and the bridges of the networks it is
    /// asked to create stay off the host.
    pub fn start_offline(kind: Kind, name: &str) -> Option<Engine> {
        Engine::start_with_conmon(kind, name, None, true)
    }

    /// [`Engine::start`] of podman with `conmon` as its container monitor (`podman --conmon
    /// PATH` on every command): conmon itself or a monitor that speaks its contract, such as
    /// berth-shim. Panics if `conmon` is not an executable file: podman would otherwise
    /// quietly fall back to the conmon it finds itself.
    pub fn start_podman(name: &str, conmon: &Path) -> Option<Engine> {
        assert!(
            is_executable(conmon),
            "container monitor {} is not an executable file",
            conmon.display()
        );
        let conmon =
            fs::canonicalize(conmon).unwrap_or_else(|e| panic!("{}: {e}", conmon.display()));
        Engine::start_with_conmon(Kind::Podman, name, Some(conmon), false)
    }

    fn start_with_conmon(
        kind: Kind,
        name: &str,
        conmon: Option<PathBuf>,
        offline: bool,
    ) -> Option<Engine> {
        let client = match kind.find() {
            Ok(c) => c,
            Err(why) => {
                eprintln!("skipped: {} not installed: {why}", kind.name());
                return None;
            }
        };
        let t = Test::new(name)?;
        // Test::new made this process a child subreaper; engines' shims and conmon are
        // meant to be reparented to init (nothing here waits for them).
        // SAFETY: plain prctl.
        unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0) };
        let bin = runtime_bin();
        let runtime =
            fs::canonicalize(&bin).unwrap_or_else(|e| panic!("runtime {}: {e}", bin.display()));
        host_state_enter(&runtime);
        let mut e = Engine {
            kind,
            t,
            runtime,
            cgroup_parent: format!("/berth-engines-{}-{}", std::process::id(), next()),
            image: String::new(),
            conmon,
            netns: None,
            client,
            daemon: None,
            seq: Cell::new(0),
        };
        // From here a panic drops `e`, which cleans up (the namespace's mount too).
        if offline {
            e.netns = Some(e.make_netns());
        }
        e.setup();
        Some(e)
    }

    /// The temp dir.
    pub fn dir(&self) -> &Path {
        &self.t.dir
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.t.dir.join(rel)
    }

    fn p(&self, rel: &str) -> String {
        self.path(rel).to_string_lossy().into_owned()
    }

    fn setup(&mut self) {
        for d in ["tmp", "fifo", "runc"] {
            fs::create_dir_all(self.path(d)).expect("engine dir");
        }
        let archive = shared_image().to_string_lossy().into_owned();
        match self.kind {
            Kind::Containerd => {
                let config = format!(
                    r#"version = 2
root = "{root}"
state = "{state}"
disabled_plugins = ["io.containerd.grpc.v1.cri"]

[grpc]
  address = "{sock}"

[ttrpc]
  address = "{sock}.ttrpc"

[plugins."io.containerd.internal.v1.opt"]
  path = "{opt}"
"#,
                    root = self.p("containerd/root"),
                    state = self.p("containerd/state"),
                    sock = self.p("containerd.sock"),
                    opt = self.p("containerd/opt"),
                );
                fs::write(self.path("containerd.toml"), config).expect("containerd.toml");
                let mut cmd = Command::new(find_bin("containerd").expect("containerd"));
                cmd.arg("--config").arg(self.path("containerd.toml"));
                self.spawn_daemon(cmd, &["version"]);
                self.image = format!("docker.io/library/{IMAGE_TAG}");
                self.ok(&self.cli(&["images", "import", &archive]));
            }
            Kind::Docker => {
                let config = json!({ "deprecated-key-path": self.p("docker-key.json") });
                fs::write(self.path("daemon.json"), config.to_string()).expect("daemon.json");
                let mut cmd = Command::new(find_bin("dockerd").expect("dockerd"));
                cmd.args(["-H", &format!("unix://{}", self.p("docker.sock"))])
                    .args(["--data-root", &self.p("docker")])
                    .args(["--exec-root", &self.p("x")])
                    .args(["--pidfile", &self.p("dockerd.pid")])
                    .args(["--config-file", &self.p("daemon.json")])
                    .args(["--storage-driver", "overlay2"])
                    .args(["--exec-opt", "native.cgroupdriver=cgroupfs"])
                    .args(["--cgroup-parent", &self.cgroup_parent])
                    .args([
                        "--iptables=false",
                        "--ip6tables=false",
                        "--ip-masq=false",
                        "--bridge=none",
                        "--userland-proxy=false",
                    ])
                    .arg("--add-runtime")
                    .arg(format!(
                        "{DOCKER_RUNTIME_NAME}={}",
                        self.runtime.to_string_lossy()
                    ));
                self.spawn_daemon(cmd, &["version", "--format", "{{.Server.Version}}"]);
                self.image = IMAGE_TAG.to_string();
                self.ok(&self.cli(&["load", "-i", &archive]));
            }
            Kind::Podman => {
                // podman decides by the runtime's name whether it takes --log-format=json:
                // give the runtime under test runc's treatment.
                let base = self
                    .runtime
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                let config = format!(
                    r#"[containers]
netns = "none"
log_driver = "k8s-file"
# podman asks for nofile=1048576 by default, above this machine kind's hard limit (20000),
# and CAP_SYS_RESOURCE is not in the bounding set: raising it fails with EPERM.
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]

[network]
network_backend = "cni"
network_config_dir = "{net}"

[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "{events}"
tmp_dir = "{tmp}"
volume_path = "{volumes}"
image_copy_tmp_dir = "{tmp}"
lock_type = "file"
runtime_supports_json = ["crun", "runc", "{base}"]
"#,
                    net = self.p("podman/net"),
                    events = self.p("podman/events.log"),
                    tmp = self.p("podman/tmp"),
                    volumes = self.p("podman/volumes"),
                );
                fs::create_dir_all(self.path("podman/net")).expect("podman dir");
                fs::write(self.path("containers.conf"), config).expect("containers.conf");
                // podman refuses a runroot longer than 50 characters: `T/run`.
                let storage = format!(
                    "[storage]\ndriver = \"overlay\"\ngraphroot = \"{}\"\nrunroot = \"{}\"\n",
                    self.p("podman/root"),
                    self.p("run")
                );
                fs::write(self.path("storage.conf"), storage).expect("storage.conf");
                fs::write(
                    self.path("registries.conf"),
                    "unqualified-search-registries = []\n",
                )
                .expect("registries.conf");
                self.image = format!("localhost/{IMAGE_TAG}");
                self.ok(&self.cli(&["load", "-i", &archive]));
            }
        }
    }

    /// `T/netns`: a network namespace with only loopback up, kept by a bind mount under `T`.
    fn make_netns(&self) -> PathBuf {
        let netns = self.path("netns");
        File::create(&netns).expect("netns file");
        tool(
            Command::new("unshare")
                .arg(format!("--net={}", netns.display()))
                .args(["ip", "link", "set", "lo", "up"]),
        );
        netns
    }

    /// Starts the daemon (output in `T/daemon.log`) and polls the client with `probe` until
    /// it answers.
    fn spawn_daemon(&mut self, cmd: Command, probe: &[&str]) {
        let mut cmd = match &self.netns {
            None => cmd,
            Some(netns) => {
                // nsenter execs the daemon: the child's pid stays the daemon's.
                let mut entered = Command::new("nsenter");
                entered
                    .arg(format!("--net={}", netns.display()))
                    .arg("--")
                    .arg(cmd.get_program())
                    .args(cmd.get_args());
                for (key, value) in cmd.get_envs() {
                    if let Some(value) = value {
                        entered.env(key, value);
                    }
                }
                entered
            }
        };
        let log = File::create(self.path("daemon.log")).expect("daemon.log");
        cmd.stdin(Stdio::null())
            .stdout(log.try_clone().expect("dup log"))
            .stderr(log)
            .env("TMPDIR", self.path("tmp"));
        let child = cmd.spawn().unwrap_or_else(|e| panic!("spawn {cmd:?}: {e}"));
        self.daemon = Some(child);
        let deadline = Instant::now() + DAEMON_READY_TIMEOUT;
        loop {
            if let Some(Ok(Some(status))) = self.daemon.as_mut().map(|c| c.try_wait()) {
                panic!(
                    "{} exited at startup with {status}:\n{}",
                    self.kind.name(),
                    self.daemon_log_tail(30)
                );
            }
            let o = self.try_cli(probe, Duration::from_secs(5));
            if o.as_ref().map(|o| o.status.success()).unwrap_or(false) {
                return;
            }
            if Instant::now() >= deadline {
                panic!(
                    "{} did not answer within {DAEMON_READY_TIMEOUT:?}:\n{}",
                    self.kind.name(),
                    self.daemon_log_tail(30)
                );
            }
            sleep(Duration::from_millis(50));
        }
    }

    /// The last `n` lines of the daemon's log (empty for podman).
    pub fn daemon_log_tail(&self, n: usize) -> String {
        let s = fs::read_to_string(self.path("daemon.log")).unwrap_or_default();
        let lines: Vec<&str> = s.lines().collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }

    /// The client command (`ctr`, `docker` or `podman`) with this engine's global flags and
    /// environment, then `args`.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(&self.client);
        c.stdin(Stdio::null()).env("TMPDIR", self.path("tmp"));
        match self.kind {
            Kind::Containerd => {
                c.arg("--address")
                    .arg(self.path("containerd.sock"))
                    .args(["--namespace", CTR_NAMESPACE]);
            }
            Kind::Docker => {
                c.env("DOCKER_HOST", format!("unix://{}", self.p("docker.sock")))
                    .env("DOCKER_CONFIG", self.path("docker-client"));
            }
            Kind::Podman => {
                c.env("CONTAINERS_CONF", self.path("containers.conf"))
                    .env("CONTAINERS_STORAGE_CONF", self.path("storage.conf"))
                    .env("CONTAINERS_REGISTRIES_CONF", self.path("registries.conf"))
                    .arg("--root")
                    .arg(self.path("podman/root"))
                    .arg("--runroot")
                    .arg(self.path("run"))
                    .arg("--runtime")
                    .arg(&self.runtime);
                if let Some(conmon) = &self.conmon {
                    c.arg("--conmon").arg(conmon);
                }
            }
        }
        c.args(args);
        c
    }

    /// Runs the client with `args` under [`ENGINE_TIMEOUT`]; panics if it does not finish.
    #[track_caller]
    pub fn cli(&self, args: &[&str]) -> Output {
        match self.try_cli(args, ENGINE_TIMEOUT) {
            Ok(o) => o,
            Err(e) => panic!("{e}"),
        }
    }

    fn try_cli(&self, args: &[&str], timeout: Duration) -> Result<Output, String> {
        run_bounded(self.command(args), timeout, &self.path("logs"))
    }

    /// Panics (with the command's output and the daemon log's tail) unless `o` succeeded;
    /// returns its stdout.
    #[track_caller]
    pub fn ok(&self, o: &Output) -> String {
        assert!(
            o.status.success(),
            "{} command failed ({:?})\nstdout: {}\nstderr: {}\ndaemon log (tail):\n{}",
            self.kind.name(),
            o.status,
            stdout(o),
            stderr(o),
            self.daemon_log_tail(15)
        );
        stdout(o)
    }

    fn new_name(&self, what: &str) -> String {
        let n = self.seq.get();
        self.seq.set(n + 1);
        format!("{what}{n}")
    }

    fn run_args(&self, name: &str, detach: bool, opts: &RunOpts, cmd: &[&str]) -> Vec<String> {
        let mut a: Vec<String> = vec!["run".into()];
        let mem = opts.memory;
        match self.kind {
            Kind::Containerd => {
                a.extend(
                    [
                        "--runc-binary",
                        &self.runtime.to_string_lossy(),
                        "--runc-root",
                        &self.p("runc"),
                        "--fifo-dir",
                        &self.p("fifo"),
                        "--cgroup",
                        &format!("{}/{name}", self.cgroup_parent),
                    ]
                    .map(String::from),
                );
                if detach {
                    a.extend(["--detach", "--null-io"].map(String::from));
                } else {
                    a.push("--rm".into());
                }
                if let Some(m) = mem {
                    a.extend(["--memory-limit".into(), m.to_string()]);
                }
                if opts.read_only {
                    a.push("--read-only".into());
                }
                a.extend([self.image.clone(), name.to_string()]);
            }
            Kind::Docker | Kind::Podman => {
                a.extend(["--name", name].map(String::from));
                a.push(if detach { "--detach" } else { "--rm" }.into());
                if self.kind == Kind::Docker {
                    a.extend(
                        ["--runtime", DOCKER_RUNTIME_NAME, "--network", "none"].map(String::from),
                    );
                } else {
                    a.extend(["--cgroup-parent".into(), self.cgroup_parent.clone()]);
                }
                if let Some(m) = mem {
                    a.extend(["--memory".into(), format!("{m}b")]);
                }
                if opts.read_only {
                    a.push("--read-only".into());
                }
                a.push(self.image.clone());
            }
        }
        a.extend(cmd.iter().map(|s| s.to_string()));
        a
    }

    /// `run --rm IMAGE CMD...` in the foreground: the container's output and exit status.
    pub fn run_rm(&self, cmd: &[&str]) -> Output {
        self.run_rm_with(&RunOpts::default(), cmd)
    }

    /// [`Engine::run_rm`] with options.
    pub fn run_rm_with(&self, opts: &RunOpts, cmd: &[&str]) -> Output {
        let name = self.new_name("rm");
        let args = self.run_args(&name, false, opts, cmd);
        self.cli(&args.iter().map(String::as_str).collect::<Vec<_>>())
    }

    /// `run --detach IMAGE CMD...`; panics with the engine's error if it fails. Returns the
    /// container's name.
    #[track_caller]
    pub fn run_detached(&self, opts: &RunOpts, cmd: &[&str]) -> String {
        let name = self.new_name("c");
        let args = self.run_args(&name, true, opts, cmd);
        self.ok(&self.cli(&args.iter().map(String::as_str).collect::<Vec<_>>()));
        name
    }

    /// `exec NAME CMD...` (`ctr task exec --exec-id ...`): the process's output and status.
    pub fn exec(&self, name: &str, cmd: &[&str]) -> Output {
        let mut a: Vec<String> = match self.kind {
            Kind::Containerd => vec![
                "task".into(),
                "exec".into(),
                "--exec-id".into(),
                self.new_name("exec"),
                "--fifo-dir".into(),
                self.p("fifo"),
                name.into(),
            ],
            _ => vec!["exec".into(), name.into()],
        };
        a.extend(cmd.iter().map(|s| s.to_string()));
        self.cli(&a.iter().map(String::as_str).collect::<Vec<_>>())
    }

    fn ctr_task(&self, name: &str) -> Option<(i32, String)> {
        let out = self.ok(&self.cli(&["task", "ls"]));
        out.lines().skip(1).find_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.len() >= 3 && f[0] == name).then(|| (f[1].parse().unwrap_or(0), f[2].to_lowercase()))
        })
    }

    fn inspect(&self, name: &str, format: &str) -> String {
        self.ok(&self.cli(&["inspect", "--format", format, name]))
            .trim()
            .to_string()
    }

    /// Host pid of the container's init.
    #[track_caller]
    pub fn pid(&self, name: &str) -> i32 {
        let pid = match self.kind {
            Kind::Containerd => self.ctr_task(name).map(|t| t.0).unwrap_or(0),
            _ => self.inspect(name, "{{.State.Pid}}").parse().unwrap_or(0),
        };
        assert!(pid > 0, "no pid for container {name}");
        pid
    }

    /// The container's status as the engine reports it, lowercase: `running`, `paused`,
    /// `exited` (containerd's `stopped`), or `none` for a containerd container without task.
    pub fn status(&self, name: &str) -> String {
        match self.kind {
            Kind::Containerd => match self.ctr_task(name) {
                Some((_, s)) if s == "stopped" => "exited".into(),
                Some((_, s)) => s,
                None => "none".into(),
            },
            _ => self.inspect(name, "{{.State.Status}}"),
        }
    }

    /// Exit code recorded by docker or podman; None for containerd (`ctr` 1.6 shows it
    /// only as a warning of `task rm`).
    pub fn exit_code(&self, name: &str) -> Option<i32> {
        match self.kind {
            Kind::Containerd => None,
            _ => self.inspect(name, "{{.State.ExitCode}}").parse().ok(),
        }
    }

    /// True while the engine knows the container.
    pub fn exists(&self, name: &str) -> bool {
        let args: &[&str] = match self.kind {
            Kind::Containerd => &["containers", "info", name],
            Kind::Docker => &["inspect", "--type", "container", name],
            Kind::Podman => &["container", "exists", name],
        };
        self.cli(args).status.success()
    }

    /// Names (containerd: ids) of every container the engine has.
    #[track_caller]
    pub fn containers(&self) -> Vec<String> {
        let args: &[&str] = match self.kind {
            Kind::Containerd => &["containers", "ls", "--quiet"],
            Kind::Docker | Kind::Podman => &["ps", "--all", "--format", "{{.Names}}"],
        };
        self.ok(&self.cli(args))
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(String::from)
            .collect()
    }

    /// `top NAME` (docker, podman) or `ctr task ps NAME`, as the command line of each
    /// process (for `ctr`, read from /proc by host pid). Panics with the engine's error.
    #[track_caller]
    pub fn processes(&self, name: &str) -> Vec<String> {
        match self.kind {
            Kind::Containerd => {
                let out = self.ok(&self.cli(&["task", "ps", name]));
                out.lines()
                    .skip(1)
                    .filter_map(|l| l.split_whitespace().next()?.parse::<i32>().ok())
                    .map(|pid| {
                        let c = fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
                        String::from_utf8_lossy(&c)
                            .split('\0')
                            .filter(|s| !s.is_empty())
                            .collect::<Vec<_>>()
                            .join(" ")
                    })
                    .collect()
            }
            // docker: UID PID PPID C STIME TTY TIME CMD; podman: USER PID PPID %CPU
            // ELAPSED TTY TIME COMMAND. The command is the 8th column onwards.
            _ => {
                let out = self.ok(&self.cli(&["top", name]));
                out.lines()
                    .skip(1)
                    .filter(|l| !l.trim().is_empty())
                    .map(|l| l.split_whitespace().skip(7).collect::<Vec<_>>().join(" "))
                    .collect()
            }
        }
    }

    /// `stats --no-stream` (docker, podman) or `ctr task metrics`, parsed. Panics with the
    /// engine's error.
    #[track_caller]
    pub fn stats(&self, name: &str) -> Stats {
        match self.kind {
            Kind::Containerd => {
                let raw = self.ok(&self.cli(&["task", "metrics", "--format", "json", name]));
                let v: Value = serde_json::from_str(&raw)
                    .unwrap_or_else(|e| panic!("ctr task metrics: not JSON ({e}): {raw}"));
                // cgroup v1: memory.usage.limit; v2: memory.usage_limit.
                let limit = v["memory"]["usage"]["limit"]
                    .as_u64()
                    .or(v["memory"]["usage_limit"].as_u64());
                Stats {
                    pids: v["pids"]["current"].as_u64().unwrap_or(0),
                    mem_limit: limit.unwrap_or(0) as f64,
                    raw,
                }
            }
            Kind::Docker => {
                let raw =
                    self.ok(&self.cli(&["stats", "--no-stream", "--format", "{{json .}}", name]));
                let v: Value = serde_json::from_str(raw.trim())
                    .unwrap_or_else(|e| panic!("docker stats: not JSON ({e}): {raw}"));
                Stats {
                    pids: v["PIDs"].as_str().and_then(|s| s.parse().ok()).unwrap_or(0),
                    mem_limit: mem_limit_of(v["MemUsage"].as_str().unwrap_or("")),
                    raw,
                }
            }
            Kind::Podman => {
                let raw = self.ok(&self.cli(&["stats", "--no-stream", "--format", "json", name]));
                let v: Value = serde_json::from_str(raw.trim())
                    .unwrap_or_else(|e| panic!("podman stats: not JSON ({e}): {raw}"));
                let v = &v[0];
                Stats {
                    pids: v["pids"].as_str().and_then(|s| s.parse().ok()).unwrap_or(0),
                    mem_limit: mem_limit_of(v["mem_usage"].as_str().unwrap_or("")),
                    raw,
                }
            }
        }
    }

    /// `pause NAME` (`ctr task pause`).
    pub fn pause(&self, name: &str) -> Output {
        match self.kind {
            Kind::Containerd => self.cli(&["task", "pause", name]),
            _ => self.cli(&["pause", name]),
        }
    }

    /// `unpause NAME` (`ctr task resume`).
    pub fn unpause(&self, name: &str) -> Output {
        match self.kind {
            Kind::Containerd => self.cli(&["task", "resume", name]),
            _ => self.cli(&["unpause", name]),
        }
    }

    /// `update --memory BYTES NAME` (docker: with `--memory-swap` twice that, the default
    /// of `docker run --memory`; dockerd 20.10 refuses a memory limit alone on a container
    /// started without one); None for containerd (`ctr` 1.6 has no update command).
    pub fn update_memory(&self, name: &str, bytes: u64) -> Option<Output> {
        let m = format!("{bytes}b");
        let swap = format!("{}b", 2 * bytes);
        match self.kind {
            Kind::Containerd => None,
            Kind::Docker => {
                Some(self.cli(&["update", "--memory", &m, "--memory-swap", &swap, name]))
            }
            Kind::Podman => Some(self.cli(&["update", "--memory", &m, name])),
        }
    }

    /// `stop --time SECS NAME`. For containerd: `ctr task kill` (SIGTERM), then SIGKILL if
    /// the task has not stopped after `secs`, as docker does.
    pub fn stop(&self, name: &str, secs: u64) -> Output {
        match self.kind {
            Kind::Containerd => {
                let o = self.cli(&["task", "kill", name]);
                if !o.status.success() {
                    return o;
                }
                if wait_until(Duration::from_secs(secs), || self.status(name) == "exited") {
                    return o;
                }
                self.cli(&["task", "kill", "--signal", "SIGKILL", name])
            }
            _ => self.cli(&["stop", "--time", &secs.to_string(), name]),
        }
    }

    /// `rm NAME` of a stopped container (containerd: `ctr task rm` then `ctr containers
    /// rm`; the output is both commands', the status the first failure's).
    pub fn rm(&self, name: &str) -> Output {
        match self.kind {
            Kind::Containerd => {
                let a = self.cli(&["task", "rm", name]);
                if !a.status.success() {
                    return a;
                }
                let b = self.cli(&["containers", "rm", name]);
                join_outputs(a, b)
            }
            _ => self.cli(&["rm", name]),
        }
    }

    /// `rm --force NAME` of a running container (podman: `--time 0`; containerd: `ctr task
    /// rm --force` then `ctr containers rm`).
    pub fn force_rm(&self, name: &str) -> Output {
        match self.kind {
            Kind::Containerd => {
                let a = self.cli(&["task", "rm", "--force", name]);
                if !a.status.success() {
                    return a;
                }
                let b = self.cli(&["containers", "rm", name]);
                join_outputs(a, b)
            }
            Kind::Docker => self.cli(&["rm", "--force", name]),
            Kind::Podman => self.cli(&["rm", "--force", "--time", "0", name]),
        }
    }

    // ---- cleanup ----

    fn remove_all_containers(&self) {
        let t = Duration::from_secs(30);
        let lines = |args: &[&str]| -> Vec<String> {
            self.try_cli(args, t)
                .map(|o| {
                    stdout(&o)
                        .lines()
                        .map(|l| l.trim().to_string())
                        .collect::<Vec<String>>()
                })
                .unwrap_or_default()
                .into_iter()
                .filter(|l: &String| !l.is_empty())
                .collect()
        };
        match self.kind {
            Kind::Containerd => {
                for id in lines(&["task", "ls", "--quiet"]) {
                    let _ = self.try_cli(&["task", "rm", "--force", &id], t);
                }
                for id in lines(&["containers", "ls", "--quiet"]) {
                    let _ = self.try_cli(&["containers", "rm", &id], t);
                }
            }
            Kind::Docker => {
                let ids = lines(&["ps", "--all", "--quiet"]);
                if !ids.is_empty() {
                    let mut args = vec!["rm", "--force"];
                    args.extend(ids.iter().map(String::as_str));
                    let _ = self.try_cli(&args, t);
                }
            }
            Kind::Podman => {
                let _ = self.try_cli(&["rm", "--all", "--force", "--time", "0"], t);
            }
        }
    }

    fn stop_daemon(&mut self) {
        let Some(mut child) = self.daemon.take() else {
            return;
        };
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        // SAFETY: signalling our own child, not yet reaped, by pid.
        unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
        if wait_child(&mut child, DAEMON_STOP_TIMEOUT).is_none() {
            eprintln!(
                "cleanup: {} did not stop on SIGTERM within {DAEMON_STOP_TIMEOUT:?}: killed",
                self.kind.name()
            );
        }
    }

    /// Processes left behind: command line naming the temp dir (daemons' children, shims,
    /// conmon), root under the temp dir (container processes), or in the cgroup parent.
    fn stray_pids(&self) -> Vec<i32> {
        let me = std::process::id() as i32;
        let mut needle = self.t.dir.as_os_str().as_bytes().to_vec();
        needle.push(b'/');
        let mut pids: Vec<i32> = Vec::new();
        if let Ok(rd) = fs::read_dir("/proc") {
            for e in rd.flatten() {
                let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
                    continue;
                };
                if pid == me {
                    continue;
                }
                let cmdline = fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
                let in_dir = cmdline
                    .windows(needle.len())
                    .any(|w| w == needle.as_slice());
                let root_in_dir = fs::read_link(format!("/proc/{pid}/root"))
                    .map(|r| r.starts_with(&self.t.dir))
                    .unwrap_or(false);
                if in_dir || root_in_dir {
                    pids.push(pid);
                }
            }
        }
        for root in cgroup_roots(&self.cgroup_parent) {
            walk_dirs(&root, &mut |d| {
                if let Ok(s) = fs::read_to_string(d.join("cgroup.procs")) {
                    pids.extend(s.lines().filter_map(|l| l.trim().parse::<i32>().ok()));
                }
            });
        }
        pids.sort_unstable();
        pids.dedup();
        pids.retain(|p| *p != me && pid_alive(*p));
        pids
    }

    fn kill_strays(&self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let pids = self.stray_pids();
            if pids.is_empty() {
                return;
            }
            if Instant::now() >= deadline {
                eprintln!("cleanup: processes survive SIGKILL: {pids:?}");
                return;
            }
            for pid in pids {
                // SAFETY: kill by pid of a process identified as this test's.
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
            // A task frozen by the v1 freezer dies of SIGKILL only once thawed.
            thaw(&self.cgroup_parent);
            sleep(Duration::from_millis(100));
        }
    }

    fn detach_mounts(&self) {
        let mut mounts: Vec<PathBuf> = fs::read_to_string("/proc/self/mountinfo")
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.split(' ').nth(4))
            .map(|p| PathBuf::from(p.replace("\\040", " ")))
            .filter(|p| p.starts_with(&self.t.dir))
            .collect();
        mounts.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
        mounts.dedup();
        for m in mounts {
            if let Ok(c) = CString::new(m.as_os_str().as_bytes()) {
                // SAFETY: valid C string; a mount under this test's own temp dir.
                unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) };
            }
        }
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        let alive = self
            .daemon
            .as_mut()
            .map(|c| matches!(c.try_wait(), Ok(None)))
            .unwrap_or(self.kind == Kind::Podman);
        if alive {
            self.remove_all_containers();
        }
        self.stop_daemon();
        self.kill_strays();
        remove_cgroup_tree(&self.cgroup_parent);
        self.detach_mounts();
        host_state_leave();
        // Then the Test drops: leaked mounts, temp dir.
    }
}

fn join_outputs(a: Output, b: Output) -> Output {
    let status = if a.status.success() {
        b.status
    } else {
        a.status
    };
    let mut out = a.stdout;
    out.extend(b.stdout);
    let mut err = a.stderr;
    err.extend(b.stderr);
    Output {
        status,
        stdout: out,
        stderr: err,
    }
}

/// Runs `cmd` with stdout/stderr in fresh files under `logs`, killing it after `timeout`.
fn run_bounded(mut cmd: Command, timeout: Duration, logs: &Path) -> Result<Output, String> {
    let n = next();
    let out = logs.join(format!("engine-{n}.stdout"));
    let err = logs.join(format!("engine-{n}.stderr"));
    let files = File::create(&out).and_then(|o| Ok((o, File::create(&err)?)));
    let (o, e) = files.map_err(|e| format!("output files in {}: {e}", logs.display()))?;
    cmd.stdout(o).stderr(e);
    let mut child = cmd.spawn().map_err(|e| format!("spawn {cmd:?}: {e}"))?;
    let status = wait_child(&mut child, timeout)
        .ok_or_else(|| format!("{cmd:?} did not finish in {timeout:?}"))?;
    Ok(Output {
        status,
        stdout: fs::read(&out).unwrap_or_default(),
        stderr: fs::read(&err).unwrap_or_default(),
    })
}

/// Runs a helper tool (tar, sha256sum, busybox) to completion; panics on failure.
#[track_caller]
fn tool(cmd: &mut Command) -> String {
    let o = cmd
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("spawn {cmd:?}: {e}"));
    assert!(
        o.status.success(),
        "{cmd:?}: {:?}\n{}",
        o.status,
        stderr(&o)
    );
    stdout(&o)
}

fn sha256(file: &Path) -> String {
    let out = tool(Command::new("sha256sum").arg(file));
    out.split_whitespace()
        .next()
        .expect("sha256sum output")
        .to_string()
}

/// Builds `DIR/busybox.tar`, a docker-archive (`docker save` layout, which `docker load`,
/// `podman load` and `ctr images import` all read) of `berth-busybox:test`: one layer with
/// `/bin/busybox`, a link per applet, `/etc/passwd` and `/etc/group`; `PATH=/bin`, `sh`.
pub fn build_image(dir: &Path) -> PathBuf {
    let rootfs = dir.join("rootfs");
    for d in ["bin", "etc", "proc", "sys", "dev", "tmp", "root"] {
        fs::create_dir_all(rootfs.join(d)).expect("image rootfs dir");
    }
    fs::set_permissions(rootfs.join("tmp"), fs::Permissions::from_mode(0o1777)).expect("chmod");
    fs::copy("/bin/busybox", rootfs.join("bin/busybox")).expect("copy busybox");
    for applet in tool(Command::new("/bin/busybox").arg("--list")).lines() {
        let applet = applet.trim();
        if applet.is_empty() || applet == "busybox" || applet.contains('/') {
            continue;
        }
        std::os::unix::fs::symlink("busybox", rootfs.join("bin").join(applet))
            .expect("applet link");
    }
    fs::write(rootfs.join("etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n").expect("passwd");
    fs::write(rootfs.join("etc/group"), "root:x:0:\n").expect("group");

    let archive = dir.join("archive");
    fs::create_dir_all(&archive).expect("archive dir");
    let layer = dir.join("layer.tar");
    tool(
        Command::new("tar")
            .args([
                "--sort=name",
                "--owner=0",
                "--group=0",
                "--numeric-owner",
                "--mtime=@0",
            ])
            .arg("-C")
            .arg(&rootfs)
            .arg("-cf")
            .arg(&layer)
            .arg("."),
    );
    let diff_id = sha256(&layer);
    fs::create_dir_all(archive.join(&diff_id)).expect("layer dir");
    fs::rename(&layer, archive.join(&diff_id).join("layer.tar")).expect("move layer");
    let config = json!({
        "architecture": std::env::consts::ARCH.replace("x86_64", "amd64").replace("aarch64", "arm64"),
        "os": "linux",
        "config": {"Env": ["PATH=/bin"], "Cmd": ["sh"]},
        "rootfs": {"type": "layers", "diff_ids": [format!("sha256:{diff_id}")]},
        "history": [{"created_by": "berth integration tests: /bin/busybox and its applets"}]
    });
    let config_file = dir.join("config.json");
    fs::write(&config_file, config.to_string()).expect("image config");
    let config_id = sha256(&config_file);
    let config_name = format!("{config_id}.json");
    fs::rename(&config_file, archive.join(&config_name)).expect("move config");
    let manifest = json!([{
        "Config": config_name,
        "RepoTags": [IMAGE_TAG],
        "Layers": [format!("{diff_id}/layer.tar")]
    }]);
    fs::write(archive.join("manifest.json"), manifest.to_string()).expect("manifest.json");
    let out = dir.join("busybox.tar");
    tool(
        Command::new("tar")
            .arg("-C")
            .arg(&archive)
            .arg("-cf")
            .arg(&out)
            .args(["manifest.json", &config_name, &diff_id]),
    );
    out
}

/// Bytes from the limit half of `USAGE / LIMIT` (`724KiB / 64MiB`, `593.9kB / 67.11MB`).
pub fn mem_limit_of(usage: &str) -> f64 {
    usage.split('/').nth(1).and_then(parse_size).unwrap_or(0.0)
}

/// `64MiB` → 67108864, `67.11MB` → 67110000, `12B` → 12.
pub fn parse_size(s: &str) -> Option<f64> {
    let s = s.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: f64 = num.parse().ok()?;
    let mult = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "kb" => 1e3,
        "mb" => 1e6,
        "gb" => 1e9,
        "tb" => 1e12,
        "kib" => 1024.0,
        "mib" => 1024.0 * 1024.0,
        "gib" => 1024.0 * 1024.0 * 1024.0,
        "tib" => 1024.0 * 1024.0 * 1024.0 * 1024.0,
        _ => return None,
    };
    Some(n * mult)
}

/// The memory cgroup of `pid` (its path as in /proc/PID/cgroup: the v1 `memory` line, or the
/// v2 `0::` line on a unified host) and that cgroup's limit in bytes (None for no limit).
pub fn memory_cgroup(pid: i32) -> (String, Option<u64>) {
    let s = fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap_or_default();
    let unified = Path::new("/sys/fs/cgroup/cgroup.controllers").exists();
    let path = s
        .lines()
        .find_map(|l| {
            let mut f = l.splitn(3, ':');
            let (_, ctrls, path) = (f.next()?, f.next()?, f.next()?);
            let hit = if unified {
                ctrls.is_empty()
            } else {
                ctrls.split(',').any(|c| c == "memory")
            };
            hit.then(|| path.to_string())
        })
        .unwrap_or_default();
    let rel = path.trim_start_matches('/');
    let file = if unified {
        Path::new("/sys/fs/cgroup").join(rel).join("memory.max")
    } else {
        Path::new("/sys/fs/cgroup/memory")
            .join(rel)
            .join("memory.limit_in_bytes")
    };
    let limit = fs::read_to_string(file)
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok())
        .filter(|v| *v < (1 << 62));
    (path, limit)
}

/// Where a cgroup path lives on the host: one dir per hierarchy (v1, hybrid: including
/// the entries of /sys/fs/cgroup that are plain directories), or one on a unified host.
fn cgroup_roots(cgroup: &str) -> Vec<PathBuf> {
    let rel = cgroup.trim_start_matches('/');
    let base = Path::new("/sys/fs/cgroup");
    if base.join("cgroup.controllers").exists() {
        return vec![base.join(rel)];
    }
    fs::read_dir(base)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.path().join(rel))
                .collect::<Vec<PathBuf>>()
        })
        .unwrap_or_default()
        .into_iter()
        .filter(|p: &PathBuf| p.is_dir())
        .collect()
}

fn walk_dirs(dir: &Path, f: &mut dyn FnMut(&Path)) {
    f(dir);
    if let Ok(rd) = fs::read_dir(dir) {
        for e in rd.flatten() {
            if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                walk_dirs(&e.path(), f);
            }
        }
    }
}

fn fs_magic(p: &Path) -> Option<i64> {
    let c = CString::new(p.as_os_str().as_bytes()).ok()?;
    // SAFETY: valid C string and a zeroed statfs for the kernel to fill.
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    let r = unsafe { libc::statfs(c.as_ptr(), &mut st) };
    (r == 0).then_some(st.f_type as i64)
}

const CGROUP_MAGIC: i64 = 0x0027_e0eb;
const CGROUP2_MAGIC: i64 = 0x6367_7270;
const TMPFS_MAGIC: i64 = 0x0102_1994;

fn is_cgroupfs(p: &Path) -> bool {
    matches!(fs_magic(p), Some(CGROUP_MAGIC) | Some(CGROUP2_MAGIC))
}

/// Thaws every frozen cgroup under `parent` (v1 freezer, v2 cgroup.freeze).
fn thaw(parent: &str) {
    for root in cgroup_roots(parent) {
        walk_dirs(&root, &mut |d| {
            let v1 = d.join("freezer.state");
            if v1.exists() {
                let _ = fs::write(&v1, "THAWED");
            }
            let v2 = d.join("cgroup.freeze");
            if v2.exists() {
                let _ = fs::write(&v2, "0");
            }
        });
    }
}

/// Removes the cgroup `parent` and everything below it in every hierarchy: rmdir depth
/// first on cgroupfs (retrying while the cgroups drain), and the plain directories (with
/// their `tasks` files) some engines make on the /sys/fs/cgroup tmpfs.
fn remove_cgroup_tree(parent: &str) {
    if !parent.starts_with("/berth-engines-") {
        eprintln!("cleanup: refusing to remove cgroup {parent}");
        return;
    }
    for root in cgroup_roots(parent) {
        if is_cgroupfs(&root) {
            let done = wait_until(Duration::from_secs(10), || {
                rmdir_depth_first(&root);
                !root.exists()
            });
            if !done {
                eprintln!("cleanup: cgroup {} could not be removed", root.display());
            }
        } else if fs_magic(&root) == Some(TMPFS_MAGIC) {
            if let Err(e) = fs::remove_dir_all(&root) {
                eprintln!("cleanup: removing {}: {e}", root.display());
            }
        } else {
            eprintln!(
                "cleanup: left {}: neither a cgroup nor a tmpfs",
                root.display()
            );
        }
    }
}

fn rmdir_depth_first(dir: &Path) {
    if let Ok(rd) = fs::read_dir(dir) {
        for e in rd.flatten() {
            if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                rmdir_depth_first(&e.path());
            }
        }
    }
    let _ = fs::remove_dir(dir);
}

// ---- host paths the engines create outside their temp dirs ----

/// Paths some engine creates whatever its flags, checked when the first engine of this
/// process starts and removed, if absent then, when the last one ends (dirs only if empty).
const SHARED_PATHS: &[&str] = &[
    // containerd shims' sockets (hard-coded), ctr's default fifo dir.
    "/run/containerd",
    "/run/containerd/s",
    "/run/containerd/fifo",
    // containerd's `opt` plugin (dockerd's managed containerd keeps the default).
    "/opt/containerd",
    "/opt/containerd/bin",
    "/opt/containerd/lib",
    // dockerd: plugin sockets (hard-coded), key.json without deprecated-key-path.
    "/run/docker",
    "/run/docker/plugins",
    "/etc/docker",
    // podman: the blob-info cache of image copies (root), shm locks (not with
    // lock_type=file, but `podman container cleanup` may read the system config).
    "/var/lib/containers",
    "/var/lib/containers/cache",
    "/dev/shm/libpod_lock",
];

struct HostState {
    /// Engines alive in this process.
    live: u32,
    /// [`SHARED_PATHS`] (and the runtime's default state dir) absent when `live` left 0.
    absent: Vec<PathBuf>,
    /// The entries of /sys/fs/cgroup then.
    cgroup_entries: Vec<OsString>,
    /// The dir of the image archive every engine of this process loads, built once.
    image: Option<PathBuf>,
}

static HOST: Mutex<HostState> = Mutex::new(HostState {
    live: 0,
    absent: Vec::new(),
    cgroup_entries: Vec::new(),
    image: None,
});

/// The busybox image archive (see [`build_image`]), built on first use and shared by the
/// engines of this process; removed with the last one. Call between [`host_state_enter`]
/// and [`host_state_leave`].
fn shared_image() -> PathBuf {
    let mut h = HOST.lock().unwrap_or_else(|e| e.into_inner());
    let dir = h
        .image
        .get_or_insert_with(|| {
            std::env::temp_dir().join(format!(
                "berth-engines-image-{}-{}",
                std::process::id(),
                next()
            ))
        })
        .clone();
    let archive = dir.join("busybox.tar");
    if !archive.exists() {
        // A build that panicked half-way left its pieces.
        let _ = fs::remove_dir_all(&dir);
        build_image(&dir);
    }
    archive
}

fn cgroup_entries() -> Vec<OsString> {
    fs::read_dir("/sys/fs/cgroup")
        .map(|rd| rd.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default()
}

fn host_state_enter(runtime: &Path) {
    let mut h = HOST.lock().unwrap_or_else(|e| e.into_inner());
    if h.live == 0 {
        let mut paths: Vec<PathBuf> = SHARED_PATHS.iter().map(PathBuf::from).collect();
        // podman passes no --root: the runtime keeps its state in its default dir, which
        // runc and berth-runtime name after themselves.
        if let Some(n) = runtime.file_name() {
            paths.push(Path::new("/run").join(n));
        }
        h.absent = paths
            .into_iter()
            .filter(|p| fs::symlink_metadata(p).is_err())
            .collect();
        h.cgroup_entries = cgroup_entries();
    }
    h.live += 1;
}

fn host_state_leave() {
    let mut h = HOST.lock().unwrap_or_else(|e| e.into_inner());
    h.live -= 1;
    if h.live > 0 {
        return;
    }
    let mut absent = std::mem::take(&mut h.absent);
    absent.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
    for p in absent {
        let Ok(md) = fs::symlink_metadata(&p) else {
            continue;
        };
        let r = if !md.is_dir() {
            fs::remove_file(&p)
        } else if p == Path::new("/var/lib/containers/cache") {
            fs::remove_dir_all(&p)
        } else {
            if p == Path::new("/run/containerd/s") {
                remove_dead_sockets(&p);
            }
            fs::remove_dir(&p)
        };
        if let Err(e) = r {
            eprintln!("cleanup: left {} (created by an engine): {e}", p.display());
        }
    }
    if let Some(dir) = h.image.take() {
        if let Err(e) = fs::remove_dir_all(&dir) {
            eprintln!("cleanup: removing {}: {e}", dir.display());
        }
    }
    let before = std::mem::take(&mut h.cgroup_entries);
    for name in cgroup_entries() {
        if before.contains(&name) {
            continue;
        }
        let p = Path::new("/sys/fs/cgroup").join(&name);
        // Only the plain directories an engine made on the tmpfs, once empty.
        if fs_magic(&p) == Some(TMPFS_MAGIC) {
            let _ = fs::remove_dir(&p);
        }
    }
}

/// Removes the unix sockets in `dir` nothing listens on any more (shims killed by a test's
/// cleanup leave theirs).
fn remove_dead_sockets(dir: &Path) {
    let Ok(rd) = fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let is_socket = e.file_type().map(|t| t.is_socket()).unwrap_or(false);
        if is_socket && std::os::unix::net::UnixStream::connect(e.path()).is_err() {
            let _ = fs::remove_file(e.path());
        }
    }
}

/// Size of a file of the container whose init is `pid`, read from the host through
/// /proc/PID/root (works while the container is frozen).
pub fn container_file_len(pid: i32, path: &str) -> Option<u64> {
    fs::metadata(format!("/proc/{pid}/root{path}"))
        .ok()
        .map(|m| m.len())
}
