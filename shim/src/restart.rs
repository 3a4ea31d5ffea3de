//! Restart policies, kept by the shim itself so that no daemon is needed: Docker's
//! `no`, `always`, `on-failure[:N]` and `unless-stopped`, with Docker's backoff.

use std::str::FromStr;
use std::time::Duration;

/// The first delay before a restart; it doubles with each quick failure.
const FIRST_DELAY: Duration = Duration::from_millis(100);
/// Docker's ceiling for the doubling delay.
const MAX_DELAY: Duration = Duration::from_secs(60);
/// A container that stayed up this long starts the doubling afresh.
const RESET_AFTER: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RestartPolicy {
    No,
    Always,
    /// Restart after a non-zero exit, at most this many times (`None`: no limit).
    OnFailure(Option<u32>),
    UnlessStopped,
}

#[derive(Debug, thiserror::Error)]
#[error("restart policy {0:?}: expected no, always, on-failure[:N] or unless-stopped")]
pub struct BadPolicy(String);

impl FromStr for RestartPolicy {
    type Err = BadPolicy;

    fn from_str(s: &str) -> Result<Self, BadPolicy> {
        let bad = || BadPolicy(s.to_string());
        match s.split_once(':') {
            None => match s {
                "no" | "" => Ok(RestartPolicy::No),
                "always" => Ok(RestartPolicy::Always),
                "on-failure" => Ok(RestartPolicy::OnFailure(None)),
                "unless-stopped" => Ok(RestartPolicy::UnlessStopped),
                _ => Err(bad()),
            },
            Some(("on-failure", n)) => {
                let n: u32 = n.parse().map_err(|_| bad())?;
                Ok(RestartPolicy::OnFailure(Some(n)))
            }
            Some(_) => Err(bad()),
        }
    }
}

/// What the shim knows when the container has exited, and the policy's verdict.
#[derive(Debug, Default)]
pub struct Restarts {
    /// Restarts done so far (Docker's RestartCount).
    pub count: u32,
    /// Quick failures in a row: the exponent of the delay.
    streak: u32,
}

impl Restarts {
    /// After an exit with `status` (128+N for a signal) of a container that ran for `up`:
    /// the delay before starting it again, or `None` to let it stay stopped.
    /// `stopped_by_user`: the caller asked for the stop (ctl message 3, or SIGTERM to the shim).
    pub fn next(
        &mut self,
        policy: RestartPolicy,
        status: i32,
        up: Duration,
        stopped_by_user: bool,
    ) -> Option<Duration> {
        if stopped_by_user {
            return None;
        }
        let restart = match policy {
            RestartPolicy::No => false,
            RestartPolicy::Always | RestartPolicy::UnlessStopped => true,
            RestartPolicy::OnFailure(max) => status != 0 && max.is_none_or(|m| self.count < m),
        };
        if !restart {
            return None;
        }
        if up >= RESET_AFTER {
            self.streak = 0;
        }
        let delay = FIRST_DELAY
            .checked_mul(1u32.checked_shl(self.streak).unwrap_or(u32::MAX))
            .unwrap_or(MAX_DELAY)
            .min(MAX_DELAY);
        self.streak = self.streak.saturating_add(1);
        self.count += 1;
        Some(delay)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const QUICK: Duration = Duration::from_millis(5);

    #[test]
    fn policies_parse_as_docker_spells_them() {
        assert_eq!("no".parse::<RestartPolicy>().unwrap(), RestartPolicy::No);
        assert_eq!(
            "on-failure:3".parse::<RestartPolicy>().unwrap(),
            RestartPolicy::OnFailure(Some(3))
        );
        assert_eq!(
            "unless-stopped".parse::<RestartPolicy>().unwrap(),
            RestartPolicy::UnlessStopped
        );
        for bad in ["sometimes", "on-failure:x", "always:2", "on-failure:-1"] {
            let err = bad.parse::<RestartPolicy>().unwrap_err().to_string();
            assert!(err.contains(bad), "{err}");
        }
    }

    #[test]
    fn delay_doubles_from_100ms_and_resets_after_10s_up() {
        let mut r = Restarts::default();
        let delays: Vec<_> = (0..4)
            .map(|_| r.next(RestartPolicy::Always, 1, QUICK, false).unwrap())
            .collect();
        assert_eq!(delays, [100, 200, 400, 800].map(Duration::from_millis));
        let after_long_run = r.next(RestartPolicy::Always, 1, RESET_AFTER, false);
        assert_eq!(after_long_run, Some(FIRST_DELAY));
        assert_eq!(r.count, 5);
    }

    #[test]
    fn delay_stops_doubling_at_a_minute() {
        let mut r = Restarts::default();
        let last = (0..40)
            .map(|_| r.next(RestartPolicy::Always, 0, QUICK, false).unwrap())
            .last();
        assert_eq!(last, Some(MAX_DELAY));
    }

    #[test]
    fn on_failure_counts_and_ignores_success() {
        let mut r = Restarts::default();
        let p = RestartPolicy::OnFailure(Some(2));
        assert!(r.next(p, 0, QUICK, false).is_none());
        assert!(r.next(p, 3, QUICK, false).is_some());
        assert!(r.next(p, 137, QUICK, false).is_some());
        assert!(r.next(p, 1, QUICK, false).is_none());
        assert_eq!(r.count, 2);
    }

    #[test]
    fn no_restart_after_a_stop_by_the_user() {
        let mut r = Restarts::default();
        for p in [RestartPolicy::Always, RestartPolicy::UnlessStopped] {
            assert!(r.next(p, 143, QUICK, true).is_none());
        }
        assert!(r.next(RestartPolicy::No, 1, QUICK, false).is_none());
    }
}
