//! Waiting for a file to grow or be replaced: what `logs -f` and `events` do between
//! reads. inotify on the file's directory wakes the reader early; a poll interval
//! bounds the wait where inotify is missing or misses something.

use std::path::Path;
use std::time::Duration;

/// Wakes a reader when something in a directory changes, or after its interval.
pub struct DirWaiter {
    inotify: Option<nix::sys::inotify::Inotify>,
    interval: Duration,
}

impl DirWaiter {
    /// Watches the directory `path` is in.
    pub fn new(path: &Path, interval: Duration) -> DirWaiter {
        use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify};
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        let flags = AddWatchFlags::IN_MODIFY
            | AddWatchFlags::IN_CREATE
            | AddWatchFlags::IN_MOVED_TO
            | AddWatchFlags::IN_MOVED_FROM
            | AddWatchFlags::IN_CLOSE_WRITE;
        // Without inotify (too many watches, a filesystem without it) the interval
        // alone paces the reader.
        let inotify = Inotify::init(InitFlags::IN_NONBLOCK | InitFlags::IN_CLOEXEC)
            .ok()
            .filter(|i| i.add_watch(dir, flags).is_ok());
        DirWaiter { inotify, interval }
    }

    /// Returns after a change, or after the interval.
    pub fn wait(&self) {
        use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
        use std::os::fd::AsFd;
        let Some(inotify) = &self.inotify else {
            std::thread::sleep(self.interval);
            return;
        };
        let timeout = PollTimeout::try_from(self.interval).unwrap_or(PollTimeout::MAX);
        let mut fds = [PollFd::new(inotify.as_fd(), PollFlags::POLLIN)];
        if poll(&mut fds, timeout).is_err() {
            std::thread::sleep(self.interval);
        }
        // Drop what queued up: the reader looks at the files themselves.
        while matches!(inotify.read_events(), Ok(events) if !events.is_empty()) {}
    }
}
