//! Signal names and numbers as `kill` accepts them: `KILL`, `SIGKILL`, `9`,
//! the real-time forms `RTMIN+3` / `SIGRTMAX-1`, and `0` (no signal: an
//! existence check, as kill(2) and runc take it).

use crate::error::{Error, Result};

const NAMES: &[(&str, i32)] = &[
    ("HUP", libc::SIGHUP),
    ("INT", libc::SIGINT),
    ("QUIT", libc::SIGQUIT),
    ("ILL", libc::SIGILL),
    ("TRAP", libc::SIGTRAP),
    ("ABRT", libc::SIGABRT),
    ("IOT", libc::SIGIOT),
    ("BUS", libc::SIGBUS),
    ("FPE", libc::SIGFPE),
    ("KILL", libc::SIGKILL),
    ("USR1", libc::SIGUSR1),
    ("SEGV", libc::SIGSEGV),
    ("USR2", libc::SIGUSR2),
    ("PIPE", libc::SIGPIPE),
    ("ALRM", libc::SIGALRM),
    ("TERM", libc::SIGTERM),
    ("STKFLT", libc::SIGSTKFLT),
    ("CHLD", libc::SIGCHLD),
    ("CLD", libc::SIGCHLD),
    ("CONT", libc::SIGCONT),
    ("STOP", libc::SIGSTOP),
    ("TSTP", libc::SIGTSTP),
    ("TTIN", libc::SIGTTIN),
    ("TTOU", libc::SIGTTOU),
    ("URG", libc::SIGURG),
    ("XCPU", libc::SIGXCPU),
    ("XFSZ", libc::SIGXFSZ),
    ("VTALRM", libc::SIGVTALRM),
    ("PROF", libc::SIGPROF),
    ("WINCH", libc::SIGWINCH),
    ("IO", libc::SIGIO),
    ("POLL", libc::SIGPOLL),
    ("PWR", libc::SIGPWR),
    ("SYS", libc::SIGSYS),
];

pub fn parse(text: &str) -> Result<i32> {
    let bad = || Error::UnknownSignal(text.to_string());
    if let Ok(number) = text.parse::<i32>() {
        // 0 sends nothing: `kill ID 0` asks whether the container lives.
        return if (0..=libc::SIGRTMAX()).contains(&number) {
            Ok(number)
        } else {
            Err(bad())
        };
    }
    let upper = text.to_ascii_uppercase();
    let name = upper.strip_prefix("SIG").unwrap_or(&upper);
    if let Some(&(_, number)) = NAMES.iter().find(|(n, _)| *n == name) {
        return Ok(number);
    }
    let realtime = |base: i32, rest: &str| -> Option<i32> {
        let number = match rest {
            "" => base,
            _ if rest.starts_with('+') => base.checked_add(rest[1..].parse::<i32>().ok()?)?,
            _ if rest.starts_with('-') => base.checked_sub(rest[1..].parse::<i32>().ok()?)?,
            _ => return None,
        };
        (libc::SIGRTMIN()..=libc::SIGRTMAX())
            .contains(&number)
            .then_some(number)
    };
    let parsed = if let Some(rest) = name.strip_prefix("RTMIN") {
        realtime(libc::SIGRTMIN(), rest)
    } else if let Some(rest) = name.strip_prefix("RTMAX") {
        realtime(libc::SIGRTMAX(), rest)
    } else {
        None
    };
    parsed.ok_or_else(bad)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_numbers_and_realtime() {
        assert_eq!(parse("KILL").unwrap(), 9);
        assert_eq!(parse("SIGKILL").unwrap(), 9);
        assert_eq!(parse("sigterm").unwrap(), 15);
        assert_eq!(parse("9").unwrap(), 9);
        assert_eq!(parse("RTMIN+1").unwrap(), libc::SIGRTMIN() + 1);
        assert_eq!(parse("SIGRTMAX").unwrap(), libc::SIGRTMAX());
        assert_eq!(parse("0").unwrap(), 0);
        for bad in ["", "65", "NOPE", "RTMIN+99", "-1"] {
            assert!(parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn realtime_offsets_that_overflow_are_refused_not_a_panic() {
        // Found by the hooks_input fuzz target
        // (fuzz/regressions/hooks_input/signal-rtmin-add-overflow): the
        // offset was added to SIGRTMIN unchecked, an overflow panic in
        // builds with overflow checks.
        for text in [
            "RTMIN+2147483624",
            "RTMIN+2147483647",
            "SIGRTMAX--2147483648",
            "RTMAX-2147483647",
        ] {
            let err = parse(text).unwrap_err().to_string();
            assert!(err.starts_with("unknown signal"), "{text}: {err}");
        }
    }
}
