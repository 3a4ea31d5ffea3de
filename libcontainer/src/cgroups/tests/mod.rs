//! Tests on the host's real cgroup hierarchies (root required), one file per
//! concern. Each test makes its own cgroups under a unique path
//! (`/berth-unit-<pid>-<n>-<tag>`), puts only processes it forked there, and
//! a [`Fixture`] guard kills them and removes the cgroups even when an
//! assertion fails, so tests can run in parallel with each other and with
//! anything else on the machine.
//!
//! The checks go through the placement the code chose (v1 file or v2 file),
//! so the same tests run on this hybrid host and on a pure cgroup2 host.

mod bad_input;
mod devices;
mod effects;
mod lifecycle;
mod resources;

use std::os::fd::{AsFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use nix::fcntl::OFlag;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{kill, Signal};
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::{fork, pipe2, ForkResult, Pid};
use oci_spec::runtime::LinuxResources;

use super::{Cgroup, Place};

static COUNTER: AtomicUsize = AtomicUsize::new(0);

pub fn unique_path(tag: &str) -> PathBuf {
    let n = COUNTER.fetch_add(1, Ordering::SeqCst);
    PathBuf::from(format!("/berth-unit-{}-{n}-{tag}", std::process::id()))
}

/// A created cgroup and the children put in it; dropping it kills the
/// children, reaps them and destroys the cgroup.
pub struct Fixture {
    pub cg: Cgroup,
    pub children: Vec<Child>,
}

impl Fixture {
    pub fn new(tag: &str) -> Fixture {
        Fixture::at(&unique_path(tag))
    }

    pub fn at(path: &Path) -> Fixture {
        crate::test_support::require_root("a cgroup test (it makes cgroups on the host)");
        let mode = super::detect().unwrap();
        let mut cg = Cgroup::resolve(path, mode).unwrap();
        cg.create().unwrap();
        Fixture {
            cg,
            children: Vec::new(),
        }
    }

    /// Forks `body`, puts the child in the cgroup, then lets it run.
    pub fn run<F: FnOnce(RawFd) -> i32>(&mut self, body: F) -> usize {
        let mut child = spawn(body);
        self.cg.add_process(child.pid).unwrap();
        child.release();
        self.children.push(child);
        self.children.len() - 1
    }

    pub fn apply(&self, r: &LinuxResources) {
        self.cg.apply(r, &[]).unwrap();
    }

    /// The directory of `controller` and whether it is v1.
    pub fn dir_of(&self, controller: &str) -> Option<(PathBuf, bool)> {
        match self.cg.place(controller)? {
            Place::V1(dir) => Some((dir.to_path_buf(), true)),
            Place::V2(dir) => Some((dir.to_path_buf(), false)),
        }
    }

    /// Reads the file that holds a setting: `v1` in a v1 hierarchy, `v2`
    /// in the cgroup2 one.
    pub fn read(&self, controller: &str, v1: &str, v2: &str) -> String {
        let (dir, is_v1) = self
            .dir_of(controller)
            .unwrap_or_else(|| panic!("no {controller} controller"));
        let file = if is_v1 { v1 } else { v2 };
        std::fs::read_to_string(dir.join(file))
            .unwrap_or_else(|e| panic!("{}: {e}", dir.join(file).display()))
            .trim()
            .to_string()
    }

    pub fn has(&self, controller: &str) -> bool {
        self.cg.place(controller).is_some()
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let _ = self.cg.thaw();
        for child in &mut self.children {
            child.kill_and_reap();
        }
        if let Err(e) = self.cg.destroy() {
            eprintln!("fixture cleanup: {e}");
        }
    }
}

pub struct Child {
    pub pid: Pid,
    go: Option<OwnedFd>,
    ready: OwnedFd,
    reaped: bool,
}

/// Forks a child that waits for `release`, then runs `body` with an fd to
/// which it writes one byte when it wants to say "ready", and exits with
/// body's value. The child only makes raw system calls: the test harness is
/// multithreaded, and the child must not take a lock another thread held.
pub fn spawn<F: FnOnce(RawFd) -> i32>(body: F) -> Child {
    let (go_read, go_write) = pipe2(OFlag::O_CLOEXEC).unwrap();
    let (ready_read, ready_write) = pipe2(OFlag::O_CLOEXEC).unwrap();
    // SAFETY: the child runs only async-signal-safe calls (read, write,
    // mmap, open, fork, _exit) and never returns into the test harness.
    match unsafe { fork() }.unwrap() {
        ForkResult::Child => {
            use std::os::fd::AsRawFd;
            let mut byte = [0u8; 1];
            // SAFETY: plain read(2)/_exit(2) on fds this process owns.
            unsafe {
                libc::read(go_read.as_raw_fd(), byte.as_mut_ptr().cast(), 1);
                let code = body(ready_write.as_raw_fd());
                libc::_exit(code)
            }
        }
        ForkResult::Parent { child } => Child {
            pid: child,
            go: Some(go_write),
            ready: ready_read,
            reaped: false,
        },
    }
}

impl Child {
    fn release(&mut self) {
        if let Some(go) = self.go.take() {
            nix::unistd::write(go.as_fd(), b"g").unwrap();
        }
    }

    /// Waits (at most 10 s) for the child's "ready" byte.
    pub fn wait_ready(&self) {
        let mut fds = [PollFd::new(self.ready.as_fd(), PollFlags::POLLIN)];
        let n = poll(&mut fds, PollTimeout::from(10_000u16)).unwrap();
        assert_eq!(n, 1, "child {} never said ready", self.pid);
        let mut byte = [0u8; 1];
        nix::unistd::read(self.ready.as_fd(), &mut byte).unwrap();
    }

    pub fn wait(&mut self) -> WaitStatus {
        let status = waitpid(self.pid, None).unwrap();
        self.reaped = true;
        status
    }

    fn kill_and_reap(&mut self) {
        if !self.reaped {
            let _ = kill(self.pid, Signal::SIGKILL);
            let _ = waitpid(self.pid, None);
            self.reaped = true;
        }
    }
}

/// Child bodies: raw system calls only.
pub mod body {
    use std::os::fd::RawFd;

    pub fn say_ready(fd: RawFd) {
        // SAFETY: write(2) of one byte from a live buffer.
        unsafe { libc::write(fd, b"r".as_ptr().cast(), 1) };
    }

    pub fn sleep_forever() -> ! {
        loop {
            // SAFETY: pause(2) has no arguments.
            unsafe { libc::pause() };
        }
    }

    /// Maps and touches `bytes` of anonymous memory, a page at a time.
    pub fn touch(bytes: usize) {
        // SAFETY: a fresh private anonymous mapping; every write stays inside
        // it.
        unsafe {
            let p = libc::mmap(
                std::ptr::null_mut(),
                bytes,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            );
            if p == libc::MAP_FAILED {
                libc::_exit(90);
            }
            let p = p.cast::<u8>();
            for offset in (0..bytes).step_by(4096) {
                std::ptr::write_volatile(p.add(offset), 1);
            }
        }
    }

    /// Burns about `ms` of CPU time.
    pub fn burn(ms: u64) {
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        let now = |ts: &mut libc::timespec| {
            // SAFETY: clock_gettime writes one timespec to a live pointer.
            unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, ts) };
            ts.tv_sec as u64 * 1000 + ts.tv_nsec as u64 / 1_000_000
        };
        let start = now(&mut ts);
        while now(&mut ts) - start < ms {}
    }

    /// open(2) of a NUL-terminated path: 0, or the errno.
    pub fn open_errno(path: &[u8], flags: i32) -> i32 {
        // SAFETY: `path` is NUL-terminated (checked by the caller's literal).
        let fd = unsafe { libc::open(path.as_ptr().cast(), flags | libc::O_CLOEXEC) };
        if fd < 0 {
            // SAFETY: __errno_location returns this thread's errno slot.
            unsafe { *libc::__errno_location() }
        } else {
            // SAFETY: closing the fd just opened.
            unsafe { libc::close(fd) };
            0
        }
    }
}

/// A page shared between the test and a forked child (MAP_SHARED).
pub struct SharedCounter(*mut u64);

impl SharedCounter {
    pub fn new() -> SharedCounter {
        // SAFETY: a fresh shared anonymous page, unmapped in Drop.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                4096,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        assert_ne!(p, libc::MAP_FAILED);
        SharedCounter(p.cast())
    }

    pub fn get(&self) -> u64 {
        // SAFETY: the page is mapped for our lifetime; u64 reads are atomic
        // on the platforms we run.
        unsafe { std::ptr::read_volatile(self.0) }
    }

    /// For the child: counts up forever.
    pub fn count_forever(&self) -> ! {
        loop {
            // SAFETY: as in get; only the child writes.
            unsafe { std::ptr::write_volatile(self.0, std::ptr::read_volatile(self.0) + 1) };
        }
    }
}

impl Drop for SharedCounter {
    fn drop(&mut self) {
        // SAFETY: unmapping the page mapped in new.
        unsafe { libc::munmap(self.0.cast(), 4096) };
    }
}

pub fn settle() {
    std::thread::sleep(Duration::from_millis(100));
}

/// `LinuxResources` from runtime-spec JSON, as config.json would give it.
pub fn resources(json: &str) -> LinuxResources {
    serde_json::from_str(json).unwrap()
}
