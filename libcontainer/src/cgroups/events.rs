//! OOM notifications for `events`: a pollable fd that becomes readable when
//! the container's memory cgroup runs out of memory.
//!
//! - v1: an eventfd registered for memory.oom_control through
//!   cgroup.event_control; each read returns how many OOM situations
//!   happened since the last one. The kernel also signals it when the cgroup
//!   is removed, which [`OomWatcher::wait`] reports as [`OomEvent::Gone`].
//! - v2: inotify on memory.events and cgroup.events; a change is an OOM
//!   when memory.events' `oom_kill` counter grew, and the end when the
//!   cgroup is gone or `populated 0` (no process left to run out of memory).

use std::fs::File;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};
use std::time::Duration;

use nix::errno::Errno;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};

use super::fs;
use crate::error::{Error, IoContext, Result, SysContext};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OomEvent {
    /// This many OOM kills (v2) or OOM situations (v1) since the last wait.
    Oom(u64),
    /// Nothing happened before the timeout.
    Timeout,
    /// The cgroup is gone (on v2 also: no process is left in it): no more
    /// events will come.
    Gone,
}

enum Source {
    V1 {
        eventfd: OwnedFd,
        /// Kept open for the registration's lifetime, like runc does.
        _oom_control: File,
    },
    V2 {
        inotify: OwnedFd,
        last_oom_kills: u64,
    },
}

pub struct OomWatcher {
    source: Source,
    dir: PathBuf,
    /// Readable when the watch should end although the cgroup stays: the
    /// container init's pidfd ([`OomWatcher::end_with`]).
    end: Option<OwnedFd>,
}

fn eventfd() -> nix::Result<OwnedFd> {
    // SAFETY: eventfd takes two integers and returns a new fd or -1.
    let fd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC) };
    if fd < 0 {
        return Err(Errno::last());
    }
    // SAFETY: a fresh fd from the kernel, owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn inotify() -> nix::Result<OwnedFd> {
    // SAFETY: inotify_init1 takes flags and returns a new fd or -1.
    let fd = unsafe { libc::inotify_init1(libc::IN_CLOEXEC | libc::IN_NONBLOCK) };
    if fd < 0 {
        return Err(Errno::last());
    }
    // SAFETY: a fresh fd from the kernel, owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn watch_modify(inotify: BorrowedFd<'_>, path: &Path) -> nix::Result<()> {
    let c_path =
        std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).map_err(|_| Errno::EINVAL)?;
    // SAFETY: a valid inotify fd and a NUL-terminated path that outlives the
    // call.
    let wd =
        unsafe { libc::inotify_add_watch(inotify.as_raw_fd(), c_path.as_ptr(), libc::IN_MODIFY) };
    if wd < 0 {
        return Err(Errno::last());
    }
    Ok(())
}

/// read(2) into `buf`: the eventfd counter or queued inotify events.
fn read_fd(fd: BorrowedFd<'_>, buf: &mut [u8]) -> nix::Result<usize> {
    nix::unistd::read(fd, buf)
}

impl OomWatcher {
    /// Registers for OOM notifications of the v1 memory cgroup `dir`.
    pub fn v1(dir: &Path) -> Result<OomWatcher> {
        let oom_control = File::open(dir.join("memory.oom_control"))
            .io_ctx(|| format!("opening {}/memory.oom_control", dir.display()))?;
        let eventfd = eventfd().ctx(|| "creating an eventfd for OOM notifications".to_string())?;
        let line = format!("{} {}", eventfd.as_raw_fd(), oom_control.as_raw_fd());
        fs::write(dir, "cgroup.event_control", &line)?;
        Ok(OomWatcher {
            source: Source::V1 {
                eventfd,
                _oom_control: oom_control,
            },
            dir: dir.to_path_buf(),
            end: None,
        })
    }

    /// Watches memory.events of the v2 cgroup `dir`.
    pub fn v2(dir: &Path) -> Result<OomWatcher> {
        let inotify = inotify().ctx(|| "creating an inotify fd".to_string())?;
        for file in ["memory.events", "cgroup.events"] {
            let path = dir.join(file);
            watch_modify(inotify.as_fd(), &path)
                .ctx(|| format!("watching {} with inotify", path.display()))?;
        }
        let last_oom_kills = oom_kills(dir)?.unwrap_or(0);
        Ok(OomWatcher {
            source: Source::V2 {
                inotify,
                last_oom_kills,
            },
            dir: dir.to_path_buf(),
            end: None,
        })
    }

    /// Readable when [`OomWatcher::wait`] has something to say; for callers
    /// that poll it with other fds.
    pub fn fd(&self) -> BorrowedFd<'_> {
        match &self.source {
            Source::V1 { eventfd, .. } => eventfd.as_fd(),
            Source::V2 { inotify, .. } => inotify.as_fd(),
        }
    }

    /// Makes [`OomWatcher::wait`] report [`OomEvent::Gone`] once `fd`
    /// becomes readable: a pidfd, when its process exits. A stopped
    /// container's cgroup stays until `delete`, and v1 says nothing when
    /// its last process goes.
    pub fn end_with(&mut self, fd: OwnedFd) {
        self.end = Some(fd);
    }

    /// Waits up to `timeout` (forever with `None`) for the next OOM.
    pub fn wait(&mut self, timeout: Option<Duration>) -> Result<OomEvent> {
        let timeout = match timeout {
            None => PollTimeout::NONE,
            Some(t) => PollTimeout::try_from(t.as_millis().min(i32::MAX as u128) as i32)
                .unwrap_or(PollTimeout::MAX),
        };
        loop {
            // Checked first: the kernel's notice that the cgroup went may
            // come late, or have been consumed by an earlier wake-up.
            if !self.dir.exists() {
                return Ok(OomEvent::Gone);
            }
            let mut fds = vec![PollFd::new(self.fd(), PollFlags::POLLIN)];
            if let Some(end) = &self.end {
                fds.push(PollFd::new(end.as_fd(), PollFlags::POLLIN));
            }
            match poll(&mut fds, timeout) {
                Ok(0) => return Ok(OomEvent::Timeout),
                Ok(_) => {}
                Err(Errno::EINTR) => continue,
                Err(e) => return Err(Error::sys("waiting for OOM notifications", e)),
            }
            let oom_ready = fds[0].revents().is_some_and(|r| !r.is_empty());
            let ended = fds
                .get(1)
                .is_some_and(|fd| fd.revents().is_some_and(|r| !r.is_empty()));
            // An OOM that killed the init is reported before the end.
            if !oom_ready && ended {
                return Ok(OomEvent::Gone);
            }
            if let Some(event) = self.take()? {
                return Ok(event);
            }
            // An inotify wake-up that was not an OOM: wait on.
        }
    }

    /// Consumes what made the fd readable.
    fn take(&mut self) -> Result<Option<OomEvent>> {
        let alive = self.dir.exists();
        match &mut self.source {
            Source::V1 { eventfd, .. } => {
                let mut count = [0u8; 8];
                read_fd(eventfd.as_fd(), &mut count)
                    .ctx(|| "reading the OOM eventfd".to_string())?;
                // The kernel signals the eventfd when the cgroup goes away.
                if !alive {
                    return Ok(Some(OomEvent::Gone));
                }
                Ok(Some(OomEvent::Oom(u64::from_ne_bytes(count))))
            }
            Source::V2 {
                inotify,
                last_oom_kills,
            } => {
                let mut buf = [0u8; 4096];
                loop {
                    match read_fd(inotify.as_fd(), &mut buf) {
                        Ok(_) => continue,
                        Err(Errno::EAGAIN) => break,
                        Err(e) => return Err(Error::sys("reading inotify events", e)),
                    }
                }
                let Some(now) = (if alive { oom_kills(&self.dir)? } else { None }) else {
                    return Ok(Some(OomEvent::Gone));
                };
                let new = now.saturating_sub(*last_oom_kills);
                *last_oom_kills = now;
                if new > 0 {
                    return Ok(Some(OomEvent::Oom(new)));
                }
                let events = fs::read_opt(&self.dir, "cgroup.events")?.unwrap_or_default();
                if fs::keyed_value(&events, "populated") == Some(0) {
                    return Ok(Some(OomEvent::Gone));
                }
                Ok(None)
            }
        }
    }
}

impl std::fmt::Debug for OomWatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let raw: RawFd = self.fd().as_raw_fd();
        f.debug_struct("OomWatcher")
            .field("dir", &self.dir)
            .field("fd", &raw)
            .finish()
    }
}

fn oom_kills(dir: &Path) -> Result<Option<u64>> {
    Ok(fs::read_opt(dir, "memory.events")?.map(|t| fs::keyed_value(&t, "oom_kill").unwrap_or(0)))
}
