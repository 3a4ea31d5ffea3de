//! `run -it`, `attach` and `start -ai` through a real terminal (tmux): type into
//! the container's shell, read the screen, detach with the keys, exit.

mod support;

use std::time::{Duration, Instant};

use support::tmux::Tmux;
use support::TestStore;

fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn berth_command(store: &TestStore, args: &str) -> String {
    format!("{} {args}", store.berth_argv().join(" "))
}

fn status(store: &TestStore, name: &str) -> String {
    store
        .ok(&[
            "ps",
            "-a",
            "--filter",
            &format!("name={name}"),
            "--format",
            "{{.Status}}",
        ])
        .trim()
        .to_string()
}

#[test]
fn run_it_gives_a_shell_on_the_terminal_and_exit_ends_it() {
    let store = TestStore::new();
    store.import_busybox("busybox");
    // The pane's command ends with berth's exit status on the screen.
    let command = berth_command(
        &store,
        "run -i -t --name bob_the_container busybox /bin/sh; echo berth-exited-$?; sleep 600",
    );
    let tmux = Tmux::start("run-it", &command);
    let id = {
        let mut id = String::new();
        wait_for("the container", || {
            id = store.ok(&["ps", "-q", "--no-trunc"]).trim().to_string();
            !id.is_empty()
        });
        id
    };
    assert!(
        tmux.type_until("hostname", &id[..12]),
        "{}\n{}",
        tmux.history(),
        store.processes()
    );
    // The book's `ps -aux` (busybox's ps takes no options): the shell is pid 1 of
    // its own pid namespace.
    tmux.keys(&["ps", "Enter"]);
    wait_for("ps", || {
        tmux.screen()
            .lines()
            .any(|l| l.trim_start().starts_with("1 root") && l.ends_with("/bin/sh"))
    });
    tmux.keys(&["exit 7", "Enter"]);
    assert!(
        tmux.wait_text("berth-exited-7"),
        "{}\n{}",
        tmux.history(),
        store.processes()
    );
    assert!(status(&store, "bob_the_container").starts_with("Exited (7)"));
}

#[test]
fn attach_reaches_a_detached_shell_and_the_keys_detach_again() {
    let store = TestStore::new();
    store.import_busybox("busybox");
    store.ok(&[
        "run",
        "-d",
        "-i",
        "-t",
        "--name",
        "attachable",
        "busybox",
        "/bin/sh",
    ]);
    let command = berth_command(
        &store,
        "attach attachable; echo attach-exited-$?; sleep 600",
    );
    let tmux = Tmux::start("attach", &command);
    assert!(
        tmux.type_until("echo $((6*7))", "42"),
        "{}\n{}",
        tmux.history(),
        store.processes()
    );
    tmux.keys(&["C-p", "C-q"]);
    assert!(
        tmux.wait_text("read escape sequence"),
        "{}\n{}",
        tmux.history(),
        store.processes()
    );
    assert!(
        tmux.wait_text("attach-exited-1"),
        "{}\n{}",
        tmux.history(),
        store.processes()
    );
    assert!(status(&store, "attachable").starts_with("Up"));
    // The same container again, through start -ai after a stop.
    store.ok(&["stop", "-t", "0", "attachable"]);
    let command = berth_command(
        &store,
        "start -a -i attachable; echo start-exited-$?; sleep 600",
    );
    let tmux = Tmux::start("start-ai", &command);
    assert!(
        tmux.type_until("echo $((6*8))", "48"),
        "{}\n{}",
        tmux.history(),
        store.processes()
    );
    tmux.keys(&["exit 3", "Enter"]);
    assert!(
        tmux.wait_text("start-exited-3"),
        "{}\n{}",
        tmux.history(),
        store.processes()
    );
}
