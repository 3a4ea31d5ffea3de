//! Typed errors. Each variant carries the place it is about (a file, a field,
//! a container id) so the binary can print one line that says what went wrong
//! and where.

use std::path::PathBuf;

pub type Result<T> = std::result::Result<T, Error>;

/// How an [`Error::InvalidField`] reads before its field.
pub const CONFIG_PREFIX: &str = "invalid configuration: config.json: ";

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// config.json is missing, unreadable or not valid JSON for the spec.
    #[error("{path}: {message}")]
    Config { path: PathBuf, message: String },

    /// A field of config.json has a value the runtime cannot honour. The
    /// words `invalid configuration` are runc's: callers match them.
    #[error("invalid configuration: config.json: {field}: {message}")]
    InvalidField { field: String, message: String },

    /// A command-line value the caller passed (a flag of the runtime), not
    /// config.json, is what was wrong.
    #[error("{flag}: {message}")]
    Flag { flag: &'static str, message: String },

    #[error("invalid container id {id:?}: {reason}")]
    InvalidId { id: String, reason: &'static str },

    #[error("container with id {0:?} already exists")]
    AlreadyExists(String),

    #[error("container {0:?} does not exist")]
    NotFound(String),

    /// An operation that the container's current status forbids.
    #[error("container {id:?}: {message}")]
    WrongStatus { id: String, message: String },

    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },

    /// A system call failed; `context` names what was being done to what.
    #[error("{context}: {errno}")]
    Sys {
        context: String,
        errno: nix::errno::Errno,
    },

    /// runc's words ("error running hook #N"), which callers grep for.
    #[error("error running hook #{index} ({hook} {path:?}): {message}")]
    Hook {
        hook: &'static str,
        /// The hook's place in its list, from 0 as runc counts.
        index: usize,
        path: PathBuf,
        message: String,
    },

    /// An error raised inside the container's init, carried back over the
    /// sync channel with its context.
    #[error("{0}")]
    Init(String),

    #[error("state of container {id:?} ({path}): {message}")]
    State {
        id: String,
        path: PathBuf,
        message: String,
    },

    /// A message between the runtime and a process of its own (the sync
    /// channel, the console socket) that does not follow the protocol.
    #[error("{channel}: {message}")]
    Protocol {
        channel: &'static str,
        message: String,
    },

    #[error(
        "unknown signal {0:?}; expected a name like TERM or SIGKILL, or a number from 0 to {max}",
        max = libc::SIGRTMAX()
    )]
    UnknownSignal(String),

    /// A path that must be on procfs (sysctls, /proc itself) is not.
    #[error("{} is not on procfs", .0.display())]
    NotProcfs(PathBuf),

    #[error("{action} capabilities: {source}")]
    Capabilities {
        action: String,
        #[source]
        source: caps::errors::CapsError,
    },

    #[error(transparent)]
    Cgroup(#[from] crate::cgroups::CgroupError),

    #[error(transparent)]
    Rootfs(#[from] crate::rootfs::RootfsError),

    /// A field of a process given to `exec` (flags or `--process`), not
    /// of config.json.
    #[error("exec: {field}: {message}")]
    ExecField { field: String, message: String },

    /// criu, run for `checkpoint` or `restore`, failed.
    #[error("criu {action}: {message}")]
    Criu {
        action: &'static str,
        message: String,
    },

    /// Injected by a failpoint (the fault tests' build only).
    #[error("failpoint {0}")]
    Failpoint(String),
}

impl Error {
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io {
            context: context.into(),
            source,
        }
    }

    pub fn sys(context: impl Into<String>, errno: nix::errno::Errno) -> Self {
        Error::Sys {
            context: context.into(),
            errno,
        }
    }

    pub fn field(field: impl Into<String>, message: impl Into<String>) -> Self {
        Error::InvalidField {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// Adds context to a nix result: `mount(...).ctx(|| format!("mount {dest}"))`.
pub(crate) trait SysContext<T> {
    fn ctx<F: FnOnce() -> String>(self, what: F) -> Result<T>;
}

impl<T> SysContext<T> for nix::Result<T> {
    fn ctx<F: FnOnce() -> String>(self, what: F) -> Result<T> {
        self.map_err(|errno| Error::sys(what(), errno))
    }
}

pub(crate) trait IoContext<T> {
    fn io_ctx<F: FnOnce() -> String>(self, what: F) -> Result<T>;
}

impl<T> IoContext<T> for std::io::Result<T> {
    fn io_ctx<F: FnOnce() -> String>(self, what: F) -> Result<T> {
        self.map_err(|e| Error::io(what(), e))
    }
}

/// The error a failpoint injects (fault tests only).
#[cfg_attr(not(feature = "failpoints"), allow(dead_code))]
pub(crate) fn failpoint<T>(name: &str) -> Result<T> {
    Err(Error::Failpoint(name.to_string()))
}
