//! A tmux server of the test's own for tests that need a real terminal.

use std::process::Command;
use std::time::{Duration, Instant};

/// Long enough for a loaded machine; only ever reached when something hangs.
const HANG: Duration = Duration::from_secs(120);

fn wait_until(timeout: Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if done() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A tmux server of the test's own (`-L`), killed when dropped.
pub struct Tmux {
    socket: String,
}

impl Tmux {
    pub fn start(name: &str, command: &str) -> Tmux {
        let tmux = Tmux {
            socket: format!("berth-{name}-{}", std::process::id()),
        };
        let ok = tmux
            .cmd(&[
                "new-session",
                "-d",
                "-s",
                "main",
                "-x",
                "100",
                "-y",
                "30",
                command,
            ])
            .status()
            .unwrap()
            .success();
        assert!(ok, "tmux new-session");
        tmux
    }

    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new("tmux");
        c.args(["-L", &self.socket, "-f", "/dev/null"]).args(args);
        c
    }

    pub fn screen(&self) -> String {
        let out = self
            .cmd(&["capture-pane", "-p", "-t", "main"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The screen with what scrolled off it, for a failure message.
    pub fn history(&self) -> String {
        let out = self
            .cmd(&["capture-pane", "-p", "-S", "-1000", "-t", "main"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    pub fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", "main"];
        args.extend_from_slice(keys);
        let sent = self.cmd(&args).status().unwrap().success();
        assert!(sent, "send-keys {keys:?}: the pane's command ended (a ctrl-c that was not raw input kills it)");
    }

    /// Waits for `text` on the screen.
    pub fn wait_text(&self, text: &str) -> bool {
        wait_until(HANG, || self.screen().contains(text))
    }

    /// Types `command` until a screen line is `line`: what is typed may reach the
    /// container before a resize does, so each try gives it another chance.
    pub fn type_until(&self, command: &str, line: &str) -> bool {
        self.keys_until(&[command, "Enter"], line)
    }

    /// Sends `keys` until a screen line is `line`.
    pub fn keys_until(&self, keys: &[&str], line: &str) -> bool {
        for _ in 0..30 {
            self.keys(keys);
            if wait_until(Duration::from_secs(2), || {
                self.screen().lines().any(|l| l.trim_end() == line)
            }) {
                return true;
            }
        }
        false
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.cmd(&["kill-server"]).status();
    }
}
