//! Shared by the front-end's tests: a busybox rootfs tarball made from Debian's
//! busybox-static, and the `berth` binary run on a store of the test's own.

#![allow(dead_code)]

pub mod certs;
pub mod daemon;
pub mod tmux;

use std::fs;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

/// A store in a fresh temp dir, removed (mounts first) when dropped. Its berth
/// commands run in a network namespace of the store's own (loopback only, until
/// berth makes its bridge there), so that no test touches the host's interfaces or
/// firewall and two stores' bridges never meet.
pub struct TestStore {
    pub dir: tempfile::TempDir,
    netns: Option<PathBuf>,
    env: std::sync::Mutex<Vec<(String, String)>>,
}

impl TestStore {
    pub fn new() -> TestStore {
        let mut store = TestStore::on_host();
        let netns = store.dir.path().join("netns");
        fs::write(&netns, "").expect("netns file");
        let status = Command::new("unshare")
            .arg(format!("--net={}", netns.display()))
            .args(["ip", "link", "set", "lo", "up"])
            .status()
            .expect("run unshare");
        assert!(status.success(), "unshare --net={}", netns.display());
        store.netns = Some(netns);
        store
    }

    /// A store whose berth runs in the test's own network namespace: for image
    /// tests that reach a registry the test started on the host's 127.0.0.1.
    pub fn on_host() -> TestStore {
        TestStore {
            dir: tempfile::Builder::new()
                .prefix("berth-test-")
                .tempdir()
                .expect("temp dir"),
            netns: None,
            env: Default::default(),
        }
    }

    pub fn root(&self) -> PathBuf {
        self.dir.path().join("store")
    }

    /// The store's network namespace, if it has one.
    pub fn netns(&self) -> Option<&Path> {
        self.netns.as_deref()
    }

    /// The command line that runs berth on this store (in its namespace), for a
    /// shell (tmux) or a `Command`.
    pub fn berth_argv(&self) -> Vec<String> {
        let mut argv = Vec::new();
        if let Some(netns) = &self.netns {
            argv.push("nsenter".to_string());
            argv.push(format!("--net={}", netns.display()));
            argv.push("--".to_string());
        }
        argv.push(env!("CARGO_BIN_EXE_berth").to_string());
        argv.push("--root".to_string());
        argv.push(self.root().display().to_string());
        argv
    }

    /// A `Command` for berth on this store; the caller adds the arguments.
    pub fn command(&self) -> Command {
        let argv = self.berth_argv();
        let mut command = Command::new(&argv[0]);
        command.args(&argv[1..]);
        command.envs(self.env.lock().unwrap_or_else(|e| e.into_inner()).clone());
        command
    }

    /// Environment every later berth command of this store gets.
    pub fn set_env(&self, env: &[(&str, &str)]) {
        *self.env.lock().unwrap_or_else(|e| e.into_inner()) = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
    }

    pub fn berth(&self, args: &[&str]) -> Output {
        self.berth_with_stdin(args, &[])
    }

    pub fn berth_with_stdin(&self, args: &[&str], stdin: &[u8]) -> Output {
        self.berth_with_env(args, stdin, &[])
    }

    pub fn berth_with_env(&self, args: &[&str], stdin: &[u8], env: &[(&str, &str)]) -> Output {
        use std::io::Write;
        let mut child = self
            .command()
            .envs(env.iter().copied())
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run berth");
        let mut input = child.stdin.take().expect("stdin");
        let _ = input.write_all(stdin);
        drop(input);
        child.wait_with_output().expect("berth output")
    }

    /// Runs berth and returns its stdout, failing the test on a non-zero exit.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.berth(args);
        assert!(
            out.status.success(),
            "berth {args:?} failed ({:?}):\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// For a failure message: the processes working on this store (berth, its shims
    /// and their runtimes) with what each waits in, so a hang names its holder.
    pub fn processes(&self) -> String {
        let root = self.root().display().to_string();
        let out = Command::new("ps")
            .args([
                "-eo",
                "pid,ppid,stat,etimes,wchan:24,args",
                "--width",
                "400",
            ])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default();
        let mut lines: Vec<&str> = out.lines().take(1).collect();
        lines.extend(out.lines().filter(|l| l.contains(&root)));
        lines.join("\n")
    }

    /// Runs berth expecting failure; its stderr.
    pub fn fails(&self, args: &[&str]) -> String {
        let out = self.berth(args);
        assert!(
            !out.status.success(),
            "berth {args:?} should have failed:\n{}",
            String::from_utf8_lossy(&out.stdout)
        );
        String::from_utf8_lossy(&out.stderr).into_owned()
    }

    /// Imports the busybox rootfs as `name`; the image id.
    pub fn import_busybox(&self, name: &str) -> String {
        let tar = busybox_rootfs_tar(self.dir.path());
        self.ok(&["import", "-c", "CMD [\"sh\"]", tar.to_str().unwrap(), name])
            .trim()
            .to_string()
    }

    /// Names of entries in `layers/` that are layer directories.
    pub fn layer_dirs(&self) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(self.root().join("layers"))
            .map(|d| {
                d.filter_map(|e| e.ok())
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .filter(|n| !n.contains('-'))
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        names
    }

    pub fn blob_count(&self) -> usize {
        fs::read_dir(self.root().join("blobs/sha256"))
            .map(|d| d.count())
            .unwrap_or(0)
    }
}

impl TestStore {
    /// Removes every container of the store: `rm -f` of each, then any shim left
    /// (by the pid it wrote) is killed and the runtime's state of its container goes.
    pub fn remove_containers(&self) {
        if !self.root().join("berth.db").exists() {
            return;
        }
        let out = self.berth(&["ps", "-a", "-q", "--no-trunc"]);
        let ids: Vec<String> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::to_string)
            .collect();
        if !ids.is_empty() {
            let mut args = vec!["rm", "-f"];
            args.extend(ids.iter().map(String::as_str));
            let _ = self.berth(&args);
        }
        let Ok(dirs) = fs::read_dir(self.root().join("containers")) else {
            return;
        };
        for dir in dirs.flatten() {
            let pid = fs::read_to_string(dir.path().join("shim.pid"))
                .ok()
                .and_then(|p| p.trim().parse::<i32>().ok());
            if let Some(pid) = pid {
                let cmdline = fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
                let id = dir.file_name().to_string_lossy().into_owned();
                if String::from_utf8_lossy(&cmdline).contains(&id) {
                    let _ = nix::sys::signal::kill(
                        nix::unistd::Pid::from_raw(pid),
                        nix::sys::signal::Signal::SIGKILL,
                    );
                }
            }
        }
    }
}

impl TestStore {
    /// The store's own cgroup parent in every hierarchy, once its containers' cgroups
    /// are gone (the runtime removes those at delete; a shim's last delete may still
    /// be under way, so a few tries).
    fn remove_cgroup_parent(&self) {
        let parent = berth_engine::container::spec::default_cgroup_parent(&self.root());
        let parent = parent.trim_start_matches('/');
        let Ok(hierarchies) = fs::read_dir("/sys/fs/cgroup") else {
            return;
        };
        let mut dirs: Vec<PathBuf> = hierarchies
            .flatten()
            .map(|h| h.path().join(parent))
            .chain([Path::new("/sys/fs/cgroup").join(parent)])
            .filter(|d| d.is_dir())
            .collect();
        for _ in 0..40 {
            dirs.retain(|d| fs::remove_dir(d).is_err() && d.exists());
            if dirs.is_empty() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for TestStore {
    fn drop(&mut self) {
        self.remove_containers();
        self.remove_cgroup_parent();
        // Unmount anything a test left mounted under its dir before the dir goes.
        if let Ok(mounts) = fs::read_to_string("/proc/self/mountinfo") {
            let prefix = self.dir.path().to_string_lossy().into_owned();
            let mut targets: Vec<&str> = mounts
                .lines()
                .filter_map(|l| l.split(' ').nth(4))
                .filter(|t| t.starts_with(&prefix))
                .collect();
            targets.sort_by_key(|t| std::cmp::Reverse(t.len()));
            for target in targets {
                let _ = nix::mount::umount2(target, nix::mount::MntFlags::MNT_DETACH);
            }
        }
    }
}

/// A rootfs of Debian's busybox-static (bin/busybox and its applets as relative
/// links), as a tarball under `dir`.
pub fn busybox_rootfs_tar(dir: &Path) -> PathBuf {
    let tar = dir.join("busybox-rootfs.tar");
    if tar.exists() {
        return tar;
    }
    let rootfs = dir.join("busybox-rootfs");
    for sub in ["bin", "etc", "proc", "sys", "dev", "tmp"] {
        fs::create_dir_all(rootfs.join(sub)).unwrap();
    }
    fs::copy("/bin/busybox", rootfs.join("bin/busybox"))
        .expect("Debian's busybox-static at /bin/busybox");
    let list = Command::new("/bin/busybox").arg("--list").output().unwrap();
    for applet in String::from_utf8_lossy(&list.stdout).lines() {
        if applet != "busybox" {
            let _ = symlink("busybox", rootfs.join("bin").join(applet));
        }
    }
    fs::write(rootfs.join("etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n").unwrap();
    let status = Command::new("tar")
        .arg("-C")
        .arg(&rootfs)
        .arg("-cf")
        .arg(&tar)
        .arg(".")
        .status()
        .unwrap();
    assert!(status.success());
    fs::remove_dir_all(&rootfs).unwrap();
    tar
}

/// Now as Unix seconds with nanoseconds, as `--since` and `--until` take it.
pub fn unix_now() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("a clock after 1970");
    format!("{}.{:09}", now.as_secs(), now.subsec_nanos())
}

/// `events` of either CLI (`command` is berth on a store or the docker CLI on a
/// daemon), following containers' events as `ACTION NAME` lines; ended when dropped.
#[allow(dead_code)] // Not every test binary that has `support` follows events.
pub struct ContainerEvents {
    child: std::process::Child,
    lines: std::io::Lines<std::io::BufReader<std::process::ChildStdout>>,
}

#[allow(dead_code)]
impl ContainerEvents {
    pub fn follow(mut command: Command) -> ContainerEvents {
        use std::io::BufRead;
        let mut child = command
            .args(["events", "--filter", "type=container", "--format"])
            .arg("{{.Action}} {{.Actor.Attributes.name}}")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start events");
        let stdout = child.stdout.take().expect("events' stdout");
        // It reports what comes after it has opened the log: a moment for that.
        std::thread::sleep(std::time::Duration::from_millis(500));
        ContainerEvents {
            child,
            lines: std::io::BufReader::new(stdout).lines(),
        }
    }

    /// The lines up to and with `last`.
    pub fn until(&mut self, last: &str) -> Vec<String> {
        let mut seen = Vec::new();
        for line in self.lines.by_ref() {
            let line = line.expect("an events line");
            let done = line == last;
            seen.push(line);
            if done {
                break;
            }
        }
        seen
    }
}

impl Drop for ContainerEvents {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
