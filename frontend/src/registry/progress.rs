//! Progress of a pull or a push, as data: the CLI turns these into bars or Docker's
//! plain lines, the API into Docker's JSON progress stream. Layers are named by their
//! short id, the first 12 hex digits of the digest, as Docker shows them.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::image::reference::Digest;

/// Byte counts of one blob are reported at most every this many bytes (and at its
/// start and end): a bar moves smoothly, a pipe is not flooded.
const PROGRESS_STEP: u64 = 512 * 1024;

/// Decides which byte counts of one transfer are worth reporting: the first, the
/// last, and one at least every [`PROGRESS_STEP`] bytes. Shared by a transfer's
/// callback, which may run on any thread.
#[derive(Debug)]
pub(crate) struct Throttle {
    /// The count last reported; u64::MAX before the first.
    last: AtomicU64,
}

impl Throttle {
    pub(crate) fn new() -> Throttle {
        Throttle {
            last: AtomicU64::new(u64::MAX),
        }
    }

    /// Whether `current` of `total` bytes is to be reported (and, if so, it counts
    /// as reported).
    pub(crate) fn due(&self, current: u64, total: u64) -> bool {
        let previous = self.last.load(Ordering::Relaxed);
        let due = previous == u64::MAX
            || current >= total
            || current >= previous.saturating_add(PROGRESS_STEP);
        if due {
            self.last.store(current, Ordering::Relaxed);
        }
        due
    }
}

/// Docker's short id of a blob: the first 12 hex digits of its digest.
pub fn short_id(digest: &Digest) -> String {
    digest.hex().chars().take(12).collect()
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PullEvent {
    /// The pull starts: `latest: Pulling from library/busybox`.
    Pulling {
        /// The tag, or the digest when pulling by digest.
        tag: String,
        repository: String,
    },
    /// The manifest was resolved: `Digest: sha256:...` (the digest of what the
    /// reference names: the index when it is one).
    Resolved {
        digest: Digest,
    },
    /// The platform manifest chosen from an index.
    Platform {
        digest: Digest,
        platform: String,
    },
    Layer {
        id: String,
        state: LayerState,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LayerState {
    /// The store has it: nothing to download.
    AlreadyExists,
    /// Queued behind the layers being downloaded.
    Waiting,
    /// `current` counts the bytes in the store's ingest, resumed ones included.
    Downloading {
        current: u64,
        total: u64,
    },
    /// A download failed and is tried again (`Retrying in N seconds`).
    Retrying {
        attempt: u32,
        delay_ms: u64,
        error: String,
    },
    Verifying,
    DownloadComplete,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PushEvent {
    /// `The push refers to repository [host/repo]`.
    Repository {
        name: String,
    },
    Layer {
        id: String,
        state: PushState,
    },
    /// `latest: digest: sha256:... size: 528`.
    Pushed {
        tag: Option<String>,
        digest: Digest,
        size: u64,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PushState {
    Preparing,
    Waiting,
    Pushing {
        current: u64,
        total: u64,
    },
    Pushed,
    /// `Layer already exists`.
    AlreadyExists,
    /// `Mounted from library/busybox`.
    MountedFrom {
        repository: String,
    },
    Retrying {
        attempt: u32,
        delay_ms: u64,
        error: String,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throttle_reports_the_first_every_step_and_the_last() {
        let throttle = Throttle::new();
        let total = 3 * PROGRESS_STEP;
        let reported: Vec<u64> = (0..=total)
            .step_by(64 * 1024)
            .filter(|&current| throttle.due(current, total))
            .collect();
        assert_eq!(
            reported,
            vec![0, PROGRESS_STEP, 2 * PROGRESS_STEP, 3 * PROGRESS_STEP]
        );
    }

    #[test]
    fn throttle_reports_every_count_when_the_total_is_unknown() {
        // total 0: the size is unknown, and every count may be the last.
        let throttle = Throttle::new();
        assert!(throttle.due(10, 0));
        assert!(throttle.due(20, 0));
    }
}
