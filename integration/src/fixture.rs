//! [`Test`]: one test's resources and their cleanup.

use std::cell::{Cell, RefCell};
use std::ffi::CString;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

use crate::bundle::make_rootfs;
use crate::{
    become_subreaper, missing_prerequisite, next, ok, read_json, runtime_bin, Bundle, Runtime,
};
use crate::{CGROUP_PARENT, LIVE_TESTS};

/// One test's resources. Dropping it deletes its containers (`delete --force`), reaps their
/// inits, kills helper processes, detaches the host mounts it made, removes the cgroup dirs
/// named after its ids and its temp dir.
pub struct Test {
    /// Short name, used in ids and the temp dir.
    pub name: String,
    /// The test's temp dir (bundles, state root, logs, host dirs).
    pub dir: PathBuf,
    /// The runtime under test, with its own `--root`.
    pub rt: Runtime,
    ids: RefCell<Vec<String>>,
    helpers: RefCell<Vec<Child>>,
    mounts: RefCell<Vec<PathBuf>>,
    seq: Cell<u32>,
}

impl Test {
    /// Sets up a test. A missing prerequisite (root, `/bin/busybox`, the runtime binary)
    /// fails the test, saying which: a test never passes by skipping (`make test`
    /// installs what is missing). Always `Some`: the `Option` keeps the tests'
    /// `let Some(t) = Test::new(..) else { return };` opening valid.
    pub fn new(name: &str) -> Option<Test> {
        if let Some(missing) = missing_prerequisite() {
            panic!("{name}: {missing}; `make test` installs and checks the prerequisites");
        }
        let bin = runtime_bin();
        assert!(
            bin.is_file(),
            "runtime binary {} not found: build it (cargo build -p berth-runtime) or set BERTH_RUNTIME",
            bin.display()
        );
        become_subreaper();
        let short: String = name.chars().take(40).collect();
        let dir = std::env::temp_dir().join(format!(
            "berth-it-{short}-{}-{}",
            std::process::id(),
            next()
        ));
        fs::create_dir_all(dir.join("logs")).expect("create test dir");
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).expect("chmod test dir");
        let rt = Runtime::new(bin, dir.join("state"), dir.join("logs"));
        // Counted only once nothing can panic before Drop is armed.
        *LIVE_TESTS.lock().unwrap_or_else(|e| e.into_inner()) += 1;
        Some(Test {
            name: short,
            dir,
            rt,
            ids: RefCell::new(Vec::new()),
            helpers: RefCell::new(Vec::new()),
            mounts: RefCell::new(Vec::new()),
            seq: Cell::new(0),
        })
    }

    /// A fresh container id, unique across tests and processes: `<name>-<pid>-<n>`.
    pub fn id(&self) -> String {
        let n = self.seq.get();
        self.seq.set(n + 1);
        let id = format!("{}-{}-{}", self.name, std::process::id(), n);
        self.ids.borrow_mut().push(id.clone());
        id
    }

    /// A new bundle dir under the test dir with a busybox rootfs, a config.json made by
    /// `RUNTIME spec` and the harness defaults (see [`Bundle`]), with a fresh id.
    pub fn bundle(&self) -> Bundle {
        let id = self.id();
        let path = self.dir.join(format!("bundle-{}", self.seq.get()));
        fs::create_dir_all(&path).expect("bundle dir");
        make_rootfs(&path.join("rootfs"));
        let o = self.rt.spec(&["--bundle", &path.to_string_lossy()]);
        ok(&o);
        let mut b = Bundle {
            config: read_json(&path.join("config.json")),
            id,
            path,
        };
        b.apply_defaults();
        b.save();
        b
    }

    /// A host directory under the test dir, mode 0777 so any container user can write it.
    pub fn host_dir(&self, name: &str) -> PathBuf {
        let p = self.dir.join(name);
        fs::create_dir_all(&p).expect("host dir");
        fs::set_permissions(&p, fs::Permissions::from_mode(0o777)).expect("chmod host dir");
        p
    }

    /// Spawns a helper process on the host; it is killed (by pid) and reaped at cleanup.
    pub fn spawn_helper(&self, mut cmd: Command) -> u32 {
        cmd.stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let child = cmd.spawn().unwrap_or_else(|e| panic!("spawn {cmd:?}: {e}"));
        let pid = child.id();
        self.helpers.borrow_mut().push(child);
        pid
    }

    /// Kills (by pid) and reaps a helper from [`Test::spawn_helper`] now.
    pub fn kill_helper(&self, pid: u32) {
        let mut helpers = self.helpers.borrow_mut();
        if let Some(i) = helpers.iter().position(|c| c.id() == pid) {
            let mut child = helpers.remove(i);
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Mounts a tmpfs on `target` (under the test dir) on the host; detached at cleanup.
    pub fn host_tmpfs(&self, target: &Path) {
        assert!(
            target.starts_with(&self.dir),
            "host mounts stay inside the test dir"
        );
        fs::create_dir_all(target).expect("mount point");
        let src = CString::new("tmpfs").unwrap();
        let tgt = CString::new(target.as_os_str().as_bytes()).unwrap();
        // SAFETY: valid C strings; the mount is ours and detached in Drop.
        let r = unsafe {
            libc::mount(
                src.as_ptr(),
                tgt.as_ptr(),
                src.as_ptr(),
                0,
                c"size=1m".as_ptr().cast(),
            )
        };
        assert_eq!(
            r,
            0,
            "mount tmpfs on {}: {}",
            target.display(),
            std::io::Error::last_os_error()
        );
        self.mounts.borrow_mut().push(target.to_path_buf());
    }

    /// Runs the bundle's container in the foreground to completion (`run`, stdin null).
    pub fn run(&self, b: &Bundle) -> Output {
        self.rt.run(&b.id, &b.path)
    }

    /// Runs `sh -c SCRIPT` in the bundle and returns stdout, panicking if the exit is not 0.
    #[track_caller]
    pub fn sh(&self, b: Bundle, script: &str) -> String {
        let b = b.sh(script);
        ok(&self.run(&b))
    }
}

impl Drop for Test {
    fn drop(&mut self) {
        self.rt.cleanup();
        for child in self.helpers.borrow_mut().iter_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
        for m in self.mounts.borrow().iter().rev() {
            detach(m);
        }
        for id in self.ids.borrow().iter() {
            for_each_cgroup_controller(|c| {
                let _ = fs::remove_dir(c.join(CGROUP_PARENT).join(id));
            });
        }
        // Mounts a buggy runtime left on the host under our dir: detach before removing,
        // and never recurse into another filesystem.
        let mut leaked = host_mount_points_under(&self.dir);
        leaked.sort_by_key(|p| std::cmp::Reverse(p.as_os_str().len()));
        for m in &leaked {
            eprintln!("cleanup: detaching leaked host mount {}", m.display());
            detach(m);
        }
        if host_mount_points_under(&self.dir).is_empty() {
            if let Err(e) = remove_tree_same_fs(&self.dir) {
                eprintln!("cleanup: removing {}: {e}", self.dir.display());
            }
        } else {
            eprintln!(
                "cleanup: left {} in place: mounts remain under it",
                self.dir.display()
            );
        }
        let mut live = LIVE_TESTS.lock().unwrap_or_else(|e| e.into_inner());
        *live -= 1;
        if *live == 0 {
            for_each_cgroup_controller(|c| {
                let _ = fs::remove_dir(c.join(CGROUP_PARENT));
            });
        }
    }
}

fn for_each_cgroup_controller(mut f: impl FnMut(&Path)) {
    let base = Path::new("/sys/fs/cgroup");
    if base.join("cgroup.controllers").exists() {
        f(base);
        return;
    }
    if let Ok(rd) = fs::read_dir(base) {
        for e in rd.flatten() {
            f(&e.path());
        }
    }
}

fn detach(path: &Path) {
    if let Ok(c) = CString::new(path.as_os_str().as_bytes()) {
        // SAFETY: valid C string; only paths under this test's own dir get here.
        unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) };
    }
}

fn host_mount_points_under(dir: &Path) -> Vec<PathBuf> {
    fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(|p| PathBuf::from(p.replace("\\040", " ")))
        .filter(|p| p.starts_with(dir))
        .collect()
}

fn remove_tree_same_fs(dir: &Path) -> std::io::Result<()> {
    let dev = fs::symlink_metadata(dir)?.dev();
    fn walk(p: &Path, dev: u64) -> std::io::Result<()> {
        for e in fs::read_dir(p)? {
            let e = e?;
            let md = fs::symlink_metadata(e.path())?;
            if md.is_dir() {
                if md.dev() != dev {
                    return Err(std::io::Error::other(format!(
                        "{} is another filesystem",
                        e.path().display()
                    )));
                }
                walk(&e.path(), dev)?;
                fs::remove_dir(e.path())?;
            } else {
                fs::remove_file(e.path())?;
            }
        }
        Ok(())
    }
    walk(dir, dev)?;
    fs::remove_dir(dir)
}
