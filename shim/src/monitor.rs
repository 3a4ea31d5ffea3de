//! The event loop, from the container's start to its last exit: output to the logs and
//! the attach clients, attach clients' input to stdin, control fifo lines, OOM events,
//! signals, the exit, and restarts by the policy.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{kill, Signal};
use nix::sys::wait::WaitStatus;
use nix::unistd::Pid;

use crate::attach::{AttachServer, ClientEvent, STDERR_ID, STDOUT_ID};
use crate::ctl::{Control, ControlFifo};
use crate::launch::ContainerIo;
use crate::logs::{Logs, Stream};
use crate::oom::OomWatch;
use crate::reaper::Reaper;
use crate::{diag, sys};

/// Bytes taken from the container per read.
const READ_CHUNK: usize = 64 * 1024;
/// Input for stdin the shim holds while the container does not read it; beyond it the
/// attach clients wait (their sockets fill), not the shim's memory.
const STDIN_PENDING_MAX: usize = 64 * 1024;

/// How long a container runs before the shim sheds its start-up memory: the shed reads
/// smaps and drops mappings, work that a container which is over in a moment (`run --rm
/// ... true`) never needs, and that would otherwise take the CPU from the caller just
/// told the container's pid.
const SHED_AFTER: Duration = Duration::from_millis(100);

/// How one run of the container ended.
pub struct Ended {
    pub status: WaitStatus,
    pub oom: bool,
    pub timed_out: bool,
    pub stopped_by_user: bool,
    pub up: Duration,
}

/// What outlives one run: the logs, the attach socket and the fifos are kept across
/// restarts.
pub struct Monitor {
    pub logs: Logs,
    pub attach: Option<AttachServer>,
    pub ctl: Option<ControlFifo>,
    pub winsz: Option<ControlFifo>,
    pub reaper: Reaper,
    /// `-i`: input from attach clients goes to the container.
    pub stdin_open: bool,
    pub leave_stdin_open: bool,
    pub timeout: Option<Duration>,
    /// Set by ctl `3` or a termination signal: no restart after this exit.
    pub stopped_by_user: bool,
}

/// The fds of one poll round, each with what it stands for.
#[derive(Clone, Copy)]
enum Source {
    Signals,
    Stdout,
    Stderr,
    StdinWritable,
    Listener,
    Client(usize),
    Ctl,
    Winsz,
    Oom,
    LogBacklog,
}

struct Run {
    pid: Pid,
    io: ContainerIo,
    /// The pty reported hang-up: polled again only after the exit.
    pty_hup: bool,
    pending_stdin: Vec<u8>,
    close_stdin_when_drained: bool,
    oom: Option<OomWatch>,
    oom_seen: bool,
}

impl Monitor {
    /// Watches the container `pid` until it exits; its output fully read by then.
    pub fn watch(&mut self, pid: Pid, io: ContainerIo) -> Ended {
        let started = Instant::now();
        let mut run = Run {
            pid,
            io,
            pty_hup: false,
            pending_stdin: Vec::new(),
            close_stdin_when_drained: false,
            oom: OomWatch::start(pid.as_raw()),
            oom_seen: false,
        };
        let deadline = self.timeout.map(|t| started + t);
        let mut timed_out = false;
        // Sized at the first read: a shim whose container prints nothing never pays for it.
        let mut buf = Vec::new();
        let mut shed_at = Some(started + SHED_AFTER);
        let status = loop {
            self.reaper.reap();
            if let Some(status) = self.reaper.take(pid) {
                break status;
            }
            if let Some(d) = deadline.filter(|d| Instant::now() >= *d) {
                let _ = d;
                timed_out = true;
                let _ = kill(pid, Signal::SIGKILL);
            }
            let now = Instant::now();
            let shed = shed_at.is_some_and(|at| now >= at);
            if shed {
                shed_at = None;
            }
            let wake = [deadline, shed_at].into_iter().flatten().min();
            let wait = wake.map_or(PollTimeout::NONE, |at| {
                let left = at.saturating_duration_since(now).as_millis();
                PollTimeout::try_from(left.min(60_000) as i32).unwrap_or(PollTimeout::NONE)
            });
            self.poll_once(&mut run, &mut buf, wait, shed);
        };
        // A stop the caller announced on ctl just before its kill may not have been read.
        let late = self.ctl.as_mut().map(|c| c.read()).unwrap_or_default();
        for control in late {
            self.control(&mut run, control);
        }
        // What the container wrote before it went is still in the pipes.
        self.drain(&mut run, &mut buf);
        if let Some(watch) = run.oom.as_mut() {
            run.oom_seen |= watch.check();
        }
        self.logs.flush();
        Ended {
            status,
            oom: run.oom_seen,
            timed_out,
            stopped_by_user: self.stopped_by_user,
            up: started.elapsed(),
        }
    }

    /// Serves attach clients and the fifos while nothing runs (the restart delay).
    pub fn idle(&mut self, duration: Duration) {
        let until = Instant::now() + duration;
        let mut none = Run {
            pid: Pid::from_raw(0),
            io: ContainerIo::default(),
            pty_hup: false,
            pending_stdin: Vec::new(),
            close_stdin_when_drained: false,
            oom: None,
            oom_seen: false,
        };
        let mut buf = Vec::new();
        while Instant::now() < until && !self.stopped_by_user {
            let left = until.saturating_duration_since(Instant::now()).as_millis();
            let wait = PollTimeout::try_from(left.max(1) as i32).unwrap_or(PollTimeout::NONE);
            self.poll_once(&mut none, &mut buf, wait, false);
            self.reaper.reap();
        }
    }

    /// One wait and what came of it; `shed` first gives back start-up memory
    /// (`sys::shed_startup_memory`), as late as can be before blocking.
    fn poll_once(&mut self, run: &mut Run, buf: &mut Vec<u8>, wait: PollTimeout, shed: bool) {
        let mut fds: Vec<(BorrowedFd<'_>, PollFlags, Source)> = Vec::new();
        fds.push((self.reaper.fd(), PollFlags::POLLIN, Source::Signals));
        if let (Some(fd), false) = (&run.io.stdout, run.pty_hup) {
            fds.push((fd.as_fd(), PollFlags::POLLIN, Source::Stdout));
        }
        if let Some(fd) = &run.io.stderr {
            fds.push((fd.as_fd(), PollFlags::POLLIN, Source::Stderr));
        }
        if let (Some(fd), false) = (&run.io.stdin, run.pending_stdin.is_empty()) {
            fds.push((fd.as_fd(), PollFlags::POLLOUT, Source::StdinWritable));
        }
        if let Some(attach) = &self.attach {
            fds.push((attach.listener(), PollFlags::POLLIN, Source::Listener));
            let accept_input = run.pending_stdin.len() < STDIN_PENDING_MAX;
            for (i, (fd, input, output)) in attach.client_fds(accept_input).into_iter().enumerate()
            {
                let mut flags = PollFlags::empty();
                if input {
                    flags |= PollFlags::POLLIN;
                }
                if output {
                    flags |= PollFlags::POLLOUT;
                }
                fds.push((fd, flags, Source::Client(i)));
            }
        }
        if let Some(ctl) = &self.ctl {
            fds.push((ctl.fd(), PollFlags::POLLIN, Source::Ctl));
        }
        if let Some(winsz) = &self.winsz {
            fds.push((winsz.fd(), PollFlags::POLLIN, Source::Winsz));
        }
        if let Some(oom) = &run.oom {
            fds.push((oom.fd(), PollFlags::POLLIN, Source::Oom));
        }
        for fd in self.logs.backlog_fds() {
            fds.push((fd, PollFlags::POLLOUT, Source::LogBacklog));
        }
        let mut pollfds: Vec<PollFd<'_>> =
            fds.iter().map(|(fd, f, _)| PollFd::new(*fd, *f)).collect();
        if shed {
            sys::shed_startup_memory();
        }
        match poll(&mut pollfds, wait) {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let ready: Vec<(Source, PollFlags)> = pollfds
            .iter()
            .zip(&fds)
            .filter_map(|(p, (_, _, s))| p.revents().filter(|r| !r.is_empty()).map(|r| (*s, r)))
            .collect();
        drop(pollfds);
        drop(fds);
        // Clients are removed while handling; handle them from the last so indexes hold.
        let mut ready = ready;
        ready.sort_by_key(|(s, _)| match s {
            Source::Client(i) => usize::MAX - i,
            _ => 0,
        });
        for (source, revents) in ready {
            let readable = revents.intersects(PollFlags::POLLIN);
            let hangup = revents.intersects(PollFlags::POLLHUP | PollFlags::POLLERR);
            match source {
                Source::Signals => {
                    for signal in self.reaper.take_signals() {
                        if signal != Signal::SIGHUP {
                            self.stopped_by_user = true;
                        }
                        if run.pid.as_raw() > 0 {
                            let _ = kill(run.pid, signal);
                        }
                    }
                }
                Source::Stdout => {
                    if !self.read_output(run, Stream::Stdout, buf) && run.io.pty {
                        run.pty_hup = true;
                    }
                }
                Source::Stderr => {
                    self.read_output(run, Stream::Stderr, buf);
                }
                Source::StdinWritable => write_stdin(run),
                Source::Listener => {
                    if let Some(a) = self.attach.as_mut() {
                        a.accept();
                    }
                }
                Source::Client(i) => {
                    let writable = revents.intersects(PollFlags::POLLOUT);
                    let event = self
                        .attach
                        .as_mut()
                        .and_then(|a| a.on_ready(i, readable, writable, hangup));
                    match event {
                        // A pty takes input with or without -i (podman's `run -it` passes
                        // only -t), as conmon's does.
                        Some(ClientEvent::Input(bytes)) if self.stdin_open || run.io.pty => {
                            run.pending_stdin.extend_from_slice(&bytes);
                            write_stdin(run);
                        }
                        Some(ClientEvent::InputClosed)
                            if self.stdin_open && !self.leave_stdin_open =>
                        {
                            run.close_stdin_when_drained = true;
                            write_stdin(run);
                        }
                        _ => {}
                    }
                }
                Source::Ctl | Source::Winsz => {
                    let fifo = match source {
                        Source::Ctl => self.ctl.as_mut(),
                        _ => self.winsz.as_mut(),
                    };
                    let controls = fifo.map(|f| f.read()).unwrap_or_default();
                    for control in controls {
                        self.control(run, control);
                    }
                }
                Source::Oom => {
                    if let Some(watch) = run.oom.as_mut() {
                        run.oom_seen |= watch.check();
                    }
                }
                Source::LogBacklog => self.logs.send_backlog(),
            }
        }
        for notice in self.logs.take_notices() {
            diag::warn(&notice);
        }
    }

    fn control(&mut self, run: &mut Run, control: Control) {
        match control {
            Control::Resize { rows, cols } => {
                if let (true, Some(fd)) = (run.io.pty, &run.io.stdout) {
                    if let Err(e) = sys::set_window_size(fd.as_fd(), rows, cols) {
                        diag::warn(&format!("resize to {rows}x{cols}: {e}"));
                    }
                }
            }
            Control::ReopenLogs => {
                if let Err(e) = self.logs.reopen() {
                    diag::warn(&e.to_string());
                }
            }
            Control::StoppedByUser => self.stopped_by_user = true,
        }
    }

    /// Reads one chunk of `stream`; false at its end (the fd is dropped, but a pty's is
    /// kept for the drain after the exit).
    fn read_output(&mut self, run: &mut Run, stream: Stream, buf: &mut Vec<u8>) -> bool {
        let slot = match stream {
            Stream::Stdout => &mut run.io.stdout,
            Stream::Stderr => &mut run.io.stderr,
        };
        let Some(fd) = slot.as_ref() else {
            return false;
        };
        buf.resize(READ_CHUNK, 0);
        match nix::unistd::read(fd.as_fd(), buf) {
            Ok(0) => {}
            Ok(n) => {
                self.logs.write(stream, &buf[..n]);
                if let Some(a) = self.attach.as_mut() {
                    let id = match stream {
                        Stream::Stdout => STDOUT_ID,
                        Stream::Stderr => STDERR_ID,
                    };
                    a.broadcast(id, &buf[..n]);
                }
                return true;
            }
            Err(Errno::EAGAIN | Errno::EINTR) => return true,
            // EIO: a pty whose other side is closed.
            Err(_) => {}
        }
        if !run.io.pty || stream == Stream::Stderr {
            *slot = None;
            // The other stream may go on: this one's unfinished line is written now.
            self.logs.flush_stream(stream);
        }
        false
    }

    /// Reads what is left in the container's output, without waiting for writers that
    /// outlive it (a daemonized child holding the pipe).
    fn drain(&mut self, run: &mut Run, buf: &mut Vec<u8>) {
        run.pty_hup = false;
        // A client that connected just before a quick exit still gets the output.
        if let Some(a) = self.attach.as_mut() {
            a.accept();
        }
        while run.io.stdout.is_some() && self.read_output(run, Stream::Stdout, buf) {
            if !readable_now(run.io.stdout.as_ref()) {
                break;
            }
        }
        while run.io.stderr.is_some() && self.read_output(run, Stream::Stderr, buf) {
            if !readable_now(run.io.stderr.as_ref()) {
                break;
            }
        }
    }
}

fn readable_now(fd: Option<&OwnedFd>) -> bool {
    let Some(fd) = fd else { return false };
    let mut fds = [PollFd::new(fd.as_fd(), PollFlags::POLLIN)];
    matches!(poll(&mut fds, PollTimeout::ZERO), Ok(n) if n > 0)
}

fn write_stdin(run: &mut Run) {
    let Some(fd) = run.io.stdin.as_ref() else {
        run.pending_stdin.clear();
        return;
    };
    let mut closed = false;
    while !run.pending_stdin.is_empty() {
        match nix::unistd::write(fd, &run.pending_stdin) {
            Ok(n) => {
                run.pending_stdin.drain(..n);
            }
            Err(Errno::EINTR) => continue,
            Err(Errno::EAGAIN) => return,
            Err(_) => {
                // The container closed its stdin: what it will not read is dropped.
                run.pending_stdin.clear();
                closed = true;
            }
        }
    }
    if closed || run.close_stdin_when_drained {
        run.io.stdin = None;
    }
}
