//! OOM kills of the container, recorded as conmon does: an empty `oom` file in the persist
//! dir (and the bundle), which engines read to report `OOMKilled`.
//!
//! cgroup v1: the memory controller's eventfd notification (`cgroup.event_control` with
//! `memory.oom_control`). cgroup v2: `memory.events`, watched with inotify, its `oom_kill`
//! counter compared with what it was when the container started.

use std::fs;
use std::io::Write;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::path::{Path, PathBuf};

use nix::sys::eventfd::{EfdFlags, EventFd};
use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify};

enum Watch {
    /// The eventfd wakes us; the `oom_kill` line of `memory.oom_control` decides, since the
    /// eventfd also fires when the cgroup is removed.
    V1 {
        efd: EventFd,
        control: PathBuf,
        baseline: u64,
    },
    V2 {
        inotify: Inotify,
        events: PathBuf,
        baseline: u64,
    },
}

pub struct OomWatch {
    watch: Watch,
}

/// The `oom_kill` count of a cgroup v2 `memory.events` file.
pub fn oom_kills(memory_events: &str) -> Option<u64> {
    memory_events
        .lines()
        .find_map(|l| l.strip_prefix("oom_kill "))
        .and_then(|n| n.trim().parse().ok())
}

/// The cgroup path of `pid`: the v2 one (`0::/path`), or the v1 memory controller's.
fn cgroup_of(pid: i32, v2: bool) -> Option<String> {
    let text = fs::read_to_string(format!("/proc/{pid}/cgroup")).ok()?;
    text.lines().find_map(|line| {
        let mut parts = line.splitn(3, ':');
        let (_, controllers, path) = (parts.next()?, parts.next()?, parts.next()?);
        let wanted = if v2 {
            controllers.is_empty()
        } else {
            controllers.split(',').any(|c| c == "memory")
        };
        wanted.then(|| path.to_string())
    })
}

fn is_cgroup2_root() -> bool {
    nix::sys::statfs::statfs("/sys/fs/cgroup")
        .map(|s| s.filesystem_type() == nix::sys::statfs::CGROUP2_SUPER_MAGIC)
        .unwrap_or(false)
}

impl OomWatch {
    /// Watches the memory cgroup `pid` is in; `None` when it has none we can watch.
    pub fn start(pid: i32) -> Option<OomWatch> {
        if is_cgroup2_root() {
            let dir =
                Path::new("/sys/fs/cgroup").join(cgroup_of(pid, true)?.trim_start_matches('/'));
            let events = dir.join("memory.events");
            let baseline = oom_kills(&fs::read_to_string(&events).ok()?)?;
            let inotify = Inotify::init(InitFlags::IN_NONBLOCK | InitFlags::IN_CLOEXEC).ok()?;
            inotify.add_watch(&events, AddWatchFlags::IN_MODIFY).ok()?;
            return Some(OomWatch {
                watch: Watch::V2 {
                    inotify,
                    events,
                    baseline,
                },
            });
        }
        let dir =
            Path::new("/sys/fs/cgroup/memory").join(cgroup_of(pid, false)?.trim_start_matches('/'));
        let control_path = dir.join("memory.oom_control");
        let control = fs::File::open(&control_path).ok()?;
        let baseline = oom_kills(&fs::read_to_string(&control_path).ok()?).unwrap_or(0);
        let efd = EventFd::from_flags(EfdFlags::EFD_NONBLOCK | EfdFlags::EFD_CLOEXEC).ok()?;
        let mut register = fs::OpenOptions::new()
            .write(true)
            .open(dir.join("cgroup.event_control"))
            .ok()?;
        let line = format!("{} {}", efd.as_fd().as_raw_fd(), control.as_raw_fd());
        register.write_all(line.as_bytes()).ok()?;
        // The kernel holds its own reference to the control file once registered.
        Some(OomWatch {
            watch: Watch::V1 {
                efd,
                control: control_path,
                baseline,
            },
        })
    }

    pub fn fd(&self) -> BorrowedFd<'_> {
        match &self.watch {
            Watch::V1 { efd, .. } => efd.as_fd(),
            Watch::V2 { inotify, .. } => inotify.as_fd(),
        }
    }

    /// After the fd was readable (or at exit): whether an OOM kill happened since the
    /// container started.
    pub fn check(&mut self) -> bool {
        match &mut self.watch {
            Watch::V1 {
                efd,
                control,
                baseline,
            } => {
                let _ = efd.read();
                counter_passed(control, *baseline)
            }
            Watch::V2 {
                inotify,
                events,
                baseline,
            } => {
                let _ = inotify.read_events();
                counter_passed(events, *baseline)
            }
        }
    }
}

fn counter_passed(file: &Path, baseline: u64) -> bool {
    fs::read_to_string(file)
        .ok()
        .and_then(|t| oom_kills(&t))
        .is_some_and(|now| now > baseline)
}

/// Leaves the empty `oom` file in each of `dirs`.
pub fn record(dirs: &[&Path]) {
    for dir in dirs {
        let _ = fs::File::create(dir.join("oom"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oom_kill_counter_is_read_from_memory_events() {
        let text = "low 0\nhigh 0\nmax 12\noom 3\noom_kill 2\noom_group_kill 0\n";
        assert_eq!(oom_kills(text), Some(2));
        assert_eq!(oom_kills("low 0\n"), None);
    }
}
