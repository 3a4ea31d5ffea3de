//! [`DirWatch`]: inotify over a few dirs, for the order in which the shim's files land.

use std::fs;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::attach::poll_in;

/// Watches directories with inotify, to act the moment a file lands in one (an exit file
/// is the notification that everything else is in place: polling would miss the window),
/// and to see in which order files landed: one queue for all the dirs.
pub struct DirWatch {
    fd: OwnedFd,
    dirs: Vec<(i32, PathBuf)>,
    /// Every (dir, file name) created or renamed into a watched dir so far, in order.
    pub landed: Vec<(PathBuf, String)>,
}

impl DirWatch {
    /// Starts watching `dirs` for files created or renamed into them.
    #[track_caller]
    pub fn new(dirs: &[&Path]) -> DirWatch {
        // SAFETY: plain inotify_init1; the fd is owned right away.
        let raw = unsafe { libc::inotify_init1(libc::IN_CLOEXEC | libc::IN_NONBLOCK) };
        assert!(
            raw >= 0,
            "inotify_init1: {}",
            std::io::Error::last_os_error()
        );
        // SAFETY: raw is a fresh fd we own.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        let mut watched = Vec::new();
        for dir in dirs {
            fs::create_dir_all(dir).expect("watched dir");
            let c = std::ffi::CString::new(dir.as_os_str().as_encoded_bytes()).expect("no NUL");
            let mask = libc::IN_CREATE | libc::IN_MOVED_TO;
            // SAFETY: valid fd and C string.
            let wd = unsafe { libc::inotify_add_watch(fd.as_raw_fd(), c.as_ptr(), mask) };
            assert!(
                wd >= 0,
                "inotify_add_watch {}: {}",
                dir.display(),
                std::io::Error::last_os_error()
            );
            watched.push((wd, dir.to_path_buf()));
        }
        DirWatch {
            fd,
            dirs: watched,
            landed: Vec::new(),
        }
    }

    /// Returns as soon as `name` has landed in `dir`; false past `timeout`.
    pub fn wait_for(&mut self, dir: &Path, name: &str, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            if self.landed.iter().any(|(d, n)| d == dir && n == name) {
                return true;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() || !poll_in(self.fd.as_raw_fd(), left) {
                return false;
            }
            self.read_events();
        }
    }

    /// Position of the first landing of `name` in `dir` in [`DirWatch::landed`].
    pub fn position(&self, dir: &Path, name: &str) -> Option<usize> {
        self.landed.iter().position(|(d, n)| d == dir && n == name)
    }

    fn read_events(&mut self) {
        let mut buf = vec![0u8; 65536];
        // SAFETY: read into a valid buffer of its size (non-blocking fd).
        let n = unsafe { libc::read(self.fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
        let header = std::mem::size_of::<libc::inotify_event>();
        let mut at = 0;
        while n > 0 && at + header <= n as usize {
            // SAFETY: the kernel wrote whole events; read_unaligned copes with the byte buffer.
            let ev: libc::inotify_event =
                unsafe { std::ptr::read_unaligned(buf[at..].as_ptr().cast()) };
            let name_bytes = &buf[at + header..at + header + ev.len as usize];
            let name = String::from_utf8_lossy(name_bytes)
                .trim_end_matches('\0')
                .to_string();
            if let Some((_, dir)) = self.dirs.iter().find(|(wd, _)| *wd == ev.wd) {
                self.landed.push((dir.clone(), name));
            }
            at += header + ev.len as usize;
        }
    }
}
