//! Running OCI hooks: the container state on stdin, the hook's own args and
//! env, a timeout after which it is killed, and its output in the error.

use std::io::{Read, Write};
use std::os::fd::AsFd;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use oci_spec::runtime::Hook;

use crate::error::{Error, Result};

/// At most this much of a hook's output is kept for the error message; the
/// rest is drained and dropped so a flooding hook can neither block on a full
/// pipe nor exhaust memory.
const OUTPUT_LIMIT: usize = 16 * 1024;

/// Runs each hook in order; the first failure stops the list.
pub fn run_all(kind: &'static str, hooks: &[Hook], state_json: &[u8]) -> Result<()> {
    hooks
        .iter()
        .try_for_each(|hook| run(kind, hook, state_json))
}

pub fn run(kind: &'static str, hook: &Hook, state_json: &[u8]) -> Result<()> {
    let fail = |message: String| Error::Hook {
        hook: kind,
        path: hook.path().clone(),
        message,
    };
    let mut command = command_for(hook.path(), hook.args().as_deref(), hook.env().as_deref());
    // Its own process group, so a timeout kills what it forked too.
    command
        .process_group(0)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command
        .spawn()
        .map_err(|e| fail(format!("cannot start: {e}")))?;
    let pid = Pid::from_raw(child.id() as i32);

    if let Some(mut stdin) = child.stdin.take() {
        // A hook may exit without reading its stdin: EPIPE is not a failure.
        let _ = stdin.write_all(state_json);
    }
    let deadline = hook
        .timeout()
        .map(|secs| Instant::now() + Duration::from_secs(secs as u64));
    let (output, timed_out) = collect_output(&mut child, deadline);
    if timed_out {
        let _ = kill(Pid::from_raw(-pid.as_raw()), Signal::SIGKILL);
        let _ = child.wait();
        return Err(fail(format!(
            "timed out after {} s{}",
            hook.timeout().unwrap_or_default(),
            describe_output(&output)
        )));
    }
    let status = child.wait().map_err(|e| fail(format!("wait: {e}")))?;
    if status.success() {
        return Ok(());
    }
    let how = match (
        status.code(),
        std::os::unix::process::ExitStatusExt::signal(&status),
    ) {
        (Some(code), _) => format!("exit status {code}"),
        (None, Some(signal)) => format!("killed by signal {signal}"),
        _ => status.to_string(),
    };
    Err(fail(format!("{how}{}", describe_output(&output))))
}

fn command_for(path: &Path, args: Option<&[String]>, env: Option<&[String]>) -> Command {
    let mut command = Command::new(path);
    if let Some((argv0, rest)) = args.and_then(|a| a.split_first()) {
        command.arg0(argv0).args(rest);
    }
    command.env_clear();
    for entry in env.unwrap_or_default() {
        match entry.split_once('=') {
            Some((key, value)) => command.env(key, value),
            None => command.env(entry, ""),
        };
    }
    command
}

fn describe_output(output: &[u8]) -> String {
    // One error line, whatever the hook printed.
    let text = String::from_utf8_lossy(output);
    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if text.is_empty() {
        String::new()
    } else {
        format!(": {text}")
    }
}

/// Reads stdout and stderr until both close or the deadline passes. Returns
/// the kept output and whether the deadline passed.
fn collect_output(child: &mut std::process::Child, deadline: Option<Instant>) -> (Vec<u8>, bool) {
    let mut kept = Vec::new();
    let mut stdout = child.stdout.take();
    let mut stderr = child.stderr.take();
    let mut buf = [0u8; 4096];
    while stdout.is_some() || stderr.is_some() {
        let timeout = match deadline {
            None => PollTimeout::NONE,
            Some(deadline) => {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return (kept, true);
                }
                PollTimeout::try_from(left.as_millis().min(i32::MAX as u128) as i32 + 1)
                    .unwrap_or(PollTimeout::MAX)
            }
        };
        let mut fds = Vec::with_capacity(2);
        if let Some(out) = &stdout {
            fds.push(PollFd::new(out.as_fd(), PollFlags::POLLIN));
        }
        if let Some(err) = &stderr {
            fds.push(PollFd::new(err.as_fd(), PollFlags::POLLIN));
        }
        match poll(&mut fds, timeout) {
            Ok(0) => continue,
            Ok(_) => {}
            Err(nix::errno::Errno::EINTR) => continue,
            Err(_) => break,
        }
        let ready: Vec<bool> = fds.iter().map(|fd| fd.any().unwrap_or(true)).collect();
        drop(fds);
        let mut index = 0;
        for stream in [&mut stdout as &mut dyn ReadSlot, &mut stderr] {
            if !stream.present() {
                continue;
            }
            if ready[index] {
                match stream.read_into(&mut buf) {
                    Some(0) | None => stream.close(),
                    Some(n) => {
                        let room = OUTPUT_LIMIT.saturating_sub(kept.len());
                        kept.extend_from_slice(&buf[..n.min(room)]);
                    }
                }
            }
            index += 1;
        }
    }
    (kept, false)
}

/// One of a child's output pipes, which may already be closed.
trait ReadSlot {
    fn present(&self) -> bool;
    fn read_into(&mut self, buf: &mut [u8]) -> Option<usize>;
    fn close(&mut self);
}

impl<R: Read> ReadSlot for Option<R> {
    fn present(&self) -> bool {
        self.is_some()
    }
    fn read_into(&mut self, buf: &mut [u8]) -> Option<usize> {
        self.as_mut()?.read(buf).ok()
    }
    fn close(&mut self) {
        *self = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::HookBuilder;

    fn sh(script: &str, timeout: Option<i64>) -> Hook {
        let mut builder = HookBuilder::default()
            .path("/bin/sh")
            .args(vec!["sh".into(), "-c".into(), script.into()])
            .env(vec!["GREETING=hello".to_string()]);
        if let Some(t) = timeout {
            builder = builder.timeout(t);
        }
        builder.build().unwrap()
    }

    #[test]
    fn hook_reads_state_and_env() {
        let hook = sh(
            r#"read line; [ "$line" = '{"id":"x"}' ] && [ "$GREETING" = hello ]"#,
            None,
        );
        run("poststop", &hook, b"{\"id\":\"x\"}\n").unwrap();
    }

    #[test]
    fn failing_hook_reports_status_and_stderr() {
        let hook = sh("echo broken >&2; exit 3", None);
        let err = run("createRuntime", &hook, b"{}").unwrap_err().to_string();
        assert!(err.contains("createRuntime"), "{err}");
        assert!(err.contains("exit status 3"), "{err}");
        assert!(err.contains("broken"), "{err}");
    }

    #[test]
    fn hanging_hook_is_killed_at_timeout() {
        let hook = sh("exec sleep 30", Some(1));
        let started = Instant::now();
        let err = run("prestart", &hook, b"{}").unwrap_err().to_string();
        assert!(err.contains("timed out"), "{err}");
        assert!(started.elapsed() < Duration::from_secs(10));
    }

    #[test]
    fn flooding_hook_does_not_block() {
        let hook = sh("head -c 10000000 /dev/zero; exit 1", None);
        let err = run("poststart", &hook, b"{}").unwrap_err().to_string();
        assert!(err.len() < OUTPUT_LIMIT + 512);
    }

    #[test]
    fn missing_hook_binary_is_an_error() {
        let hook = HookBuilder::default()
            .path("/nonexistent/hook")
            .build()
            .unwrap();
        let err = run("poststop", &hook, b"{}").unwrap_err().to_string();
        assert!(err.contains("/nonexistent/hook"), "{err}");
    }
}
