//! Progress of a pull or a push, as data: the CLI turns these into bars or Docker's
//! plain lines, the API into Docker's JSON progress stream. Layers are named by their
//! short id, the first 12 hex digits of the digest, as Docker shows them.

use crate::image::reference::Digest;

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
