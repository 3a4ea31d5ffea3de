//! The attach client against a real busybox container under the real berth-shim: output
//! by stream, stdin and its end, detaching and attaching again, and on a terminal (tmux)
//! raw mode, resizing and the detach keys.

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

use berth_engine::container::attach::{
    attach, AttachEnd, AttachError, AttachIo, AttachOptions, AttachSocket,
};
use berth_engine::container::ContainerPaths;
use integration::shim::ShimRun;
use integration::{pid_alive, wait_until, Test};
use serde_json::json;

mod support;
use support::tmux::Tmux;

/// Long enough for a loaded machine; only ever reached when the attach hangs.
const HANG: Duration = Duration::from_secs(120);

fn paths_of(bundle: &Path) -> ContainerPaths {
    ContainerPaths {
        dir: bundle.to_path_buf(),
        runtime_state: None,
        netns: None,
    }
}

/// What one attach over pipes gave: how it ended, and what it wrote to stdout and stderr.
struct Attached {
    end: Result<AttachEnd, AttachError>,
    stdout: String,
    stderr: String,
}

/// Attaches `socket` with `input` already written to its stdin pipe (closed after it
/// when `close_stdin`), on a thread so that a hang fails the test instead of blocking it.
fn attach_with_pipes(
    socket: AttachSocket,
    dir: PathBuf,
    options: AttachOptions,
    input: &[u8],
    close_stdin: bool,
    s: &ShimRun<'_>,
) -> Attached {
    let (stdin_r, stdin_w) = nix::unistd::pipe().unwrap();
    let (stdout_r, stdout_w) = nix::unistd::pipe().unwrap();
    let (stderr_r, stderr_w) = nix::unistd::pipe().unwrap();
    let mut writer = File::from(stdin_w);
    writer.write_all(input).unwrap();
    let writer = (!close_stdin).then_some(writer);
    let (done, finished) = mpsc::channel();
    let worker = std::thread::spawn(move || {
        let io = AttachIo {
            stdin: stdin_r.as_fd(),
            stdout: stdout_w.as_fd(),
            stderr: stderr_w.as_fd(),
            hangup: None,
        };
        let end = socket.attach(&paths_of(&dir), &options, io);
        let _ = done.send(());
        drop((stdout_w, stderr_w));
        end
    });
    let (stdout, stderr) = (reader(stdout_r), reader(stderr_r));
    if finished.recv_timeout(HANG).is_err() {
        panic!("the attach did not end\n{}", s.diagnostics());
    }
    drop(writer);
    let end = worker.join().unwrap();
    Attached {
        end,
        stdout: stdout.join().unwrap(),
        stderr: stderr.join().unwrap(),
    }
}

fn reader(fd: OwnedFd) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut text = String::new();
        File::from(fd).read_to_string(&mut text).unwrap();
        text
    })
}

#[test]
fn attach_copies_stdin_in_and_each_stream_out_until_the_container_ends() {
    let Some(t) = Test::new("attach_pipes") else {
        return;
    };
    let b = t.bundle().args(&["sh"]);
    let s = t.shim(&b).stdin().spawn();
    s.created();
    // Connected before the start, as `run` does: nothing the container prints is missed.
    let socket = AttachSocket::connect(&paths_of(&b.path)).unwrap();
    s.start();
    let options = AttachOptions {
        stdin: true,
        ..AttachOptions::default()
    };
    let got = attach_with_pipes(
        socket,
        b.path.clone(),
        options,
        b"echo hi\necho oops >&2\nexit 3\n",
        true,
        &s,
    );
    assert_eq!(got.end.unwrap(), AttachEnd::Ended);
    assert_eq!(got.stdout, "hi\n");
    assert_eq!(got.stderr, "oops\n");
    assert_eq!(s.exit_code(HANG), 3);
}

#[test]
fn the_end_of_our_stdin_closes_the_containers_stdin() {
    let Some(t) = Test::new("attach_stdin_eof") else {
        return;
    };
    let b = t.bundle().sh("cat; echo cat-saw-eof");
    let s = t.shim(&b).stdin().spawn();
    s.run();
    let socket = AttachSocket::connect(&paths_of(&b.path)).unwrap();
    let options = AttachOptions {
        stdin: true,
        ..AttachOptions::default()
    };
    let got = attach_with_pipes(socket, b.path.clone(), options, b"line\n", true, &s);
    assert_eq!(got.end.unwrap(), AttachEnd::Ended);
    assert_eq!(got.stdout, "line\ncat-saw-eof\n");
}

#[test]
fn detach_keys_leave_the_container_running_and_it_can_be_attached_again() {
    let Some(t) = Test::new("attach_detach") else {
        return;
    };
    let out = t.host_dir("out");
    let b = t.bundle().bind(&out, "/out", &["bind"]).args(&["sh"]);
    // `run -d -i`'s shim: stdin outlives any one client.
    let s = t.shim(&b).stdin().args(&["--leave-stdin-open"]).spawn();
    let pid = s.run();
    let paths = paths_of(&b.path);
    let options = AttachOptions {
        stdin: true,
        ..AttachOptions::default()
    };

    // A lone ctrl-p is input; ctrl-p ctrl-q detaches, and what was typed before it arrives.
    let socket = AttachSocket::connect(&paths).unwrap();
    let first = attach_with_pipes(
        socket,
        b.path.clone(),
        options.clone(),
        b"echo \x10 > /out/first\n\x10\x11echo never > /out/after\n",
        false,
        &s,
    );
    assert_eq!(first.end.unwrap(), AttachEnd::Detached);
    assert_eq!(first.stdout, "");
    let first_file = out.join("first");
    assert!(
        wait_until(HANG, || first_file.exists()),
        "the input before the detach keys never ran"
    );
    assert!(pid_alive(pid), "the container ended with the detach");

    let socket = AttachSocket::connect(&paths).unwrap();
    let second = attach_with_pipes(
        socket,
        b.path.clone(),
        options,
        b"echo again\nexit\n",
        true,
        &s,
    );
    assert_eq!(second.end.unwrap(), AttachEnd::Ended);
    assert_eq!(second.stdout, "again\n");
    assert_eq!(std::fs::read(&first_file).unwrap(), b"\x10\n");
    assert!(
        !out.join("after").exists(),
        "input after the detach keys ran"
    );
    assert_eq!(s.exit_code(HANG), 0);
}

#[test]
fn attaching_without_a_shim_names_the_container() {
    let dir = tempfile::tempdir().unwrap();
    let err = attach(
        &paths_of(dir.path()),
        &AttachOptions::default(),
        AttachIo::std(),
    )
    .unwrap_err();
    assert!(matches!(err, AttachError::NoShim { .. }), "{err:?}");
    assert!(
        err.to_string().contains(&dir.path().display().to_string()),
        "{err}"
    );
    let err = berth_engine::container::attach::resize(&paths_of(dir.path()), 24, 80).unwrap_err();
    assert!(matches!(err, AttachError::NoShim { .. }), "{err:?}");
}

#[test]
fn resize_without_a_reader_fails_instead_of_blocking() {
    let dir = tempfile::tempdir().unwrap();
    nix::unistd::mkfifo(
        &dir.path().join("ctl"),
        nix::sys::stat::Mode::from_bits_truncate(0o600),
    )
    .unwrap();
    let err = berth_engine::container::attach::resize(&paths_of(dir.path()), 24, 80).unwrap_err();
    assert!(matches!(err, AttachError::NoShim { .. }), "{err:?}");
    assert!(err.to_string().contains("no shim"), "{err}");
}

const HELPER_ENV: &str = "BERTH_TEST_ATTACH_BUNDLE";

/// Run by `attach_on_a_terminal_...` in tmux: attaches this process's own terminal to
/// the pty container whose bundle is `$BERTH_TEST_ATTACH_BUNDLE`.
#[test]
#[ignore = "a helper process for attach_on_a_terminal_goes_raw_follows_resizes_and_detaches"]
fn tty_attach_helper() {
    let Some(dir) = std::env::var_os(HELPER_ENV) else {
        eprintln!("only run by the tmux test, with ${HELPER_ENV}");
        return;
    };
    let options = AttachOptions {
        stdin: true,
        tty: true,
        ..AttachOptions::default()
    };
    let end = attach(&paths_of(Path::new(&dir)), &options, AttachIo::std());
    println!("attach-end: {end:?}");
}

#[test]
fn attach_on_a_terminal_goes_raw_follows_resizes_and_detaches() {
    let Some(t) = Test::new("attach_tty") else {
        return;
    };
    let host = format!("tty-{}", std::process::id());
    let b = t
        .bundle()
        .args(&["sh"])
        .hostname(&host)
        .edit(|c| c["process"]["terminal"] = json!(true));
    // `-t` alone, as podman runs a pty container: its input survives a detach.
    let s = t.shim(&b).terminal().spawn();
    let pid = s.run();
    let me = std::env::current_exe().unwrap();
    let command = format!(
        "{HELPER_ENV}={} {} --exact tty_attach_helper --ignored --nocapture --test-threads=1; \
         echo helper-exit-$?; \
         if stty -a | tr ' ;' '\\n\\n' | grep -qx -- -echo; then echo terminal-raw; \
         else echo terminal-restored; fi; sleep 600",
        b.path.display(),
        me.display()
    );
    let tmux = Tmux::start("attach-tty", &command);

    assert!(
        tmux.type_until("hostname", &host),
        "no hostname on the screen:\n{}\n{}",
        tmux.screen(),
        s.diagnostics()
    );
    // Raw: ctrl-c is a byte for the container's pty (it ends the sleep there), not a
    // SIGINT for the attaching process.
    tmux.keys(&["sleep 600", "Enter"]);
    // Again with each try: a ctrl-c that comes before the shell gave the terminal to
    // `sleep` only clears the shell's line.
    assert!(
        tmux.keys_until(&["C-c", "echo still-$((40 + 2))", "Enter"], "still-42"),
        "ctrl-c did not reach the container:\n{}",
        tmux.screen()
    );
    let size = "echo size-$(stty size | tr ' ' x)";
    assert!(tmux.type_until(size, "size-30x100"), "{}", tmux.screen());
    assert!(
        tmux.cmd(&["resize-window", "-t", "main", "-x", "120", "-y", "40"])
            .status()
            .unwrap()
            .success(),
        "tmux resize-window"
    );
    assert!(
        tmux.type_until(size, "size-40x120"),
        "the pty did not follow the window:\n{}",
        tmux.screen()
    );

    tmux.keys(&["C-p", "C-q"]);
    assert!(
        tmux.wait_text("attach-end: Ok(Detached)"),
        "no detach:\n{}",
        tmux.screen()
    );
    assert!(tmux.wait_text("terminal-restored"), "{}", tmux.screen());
    assert!(pid_alive(pid), "the container ended with the detach");
}
