//! Reading and writing cgroup files, making and removing cgroup directories.
//!
//! Writes that apply a `linux.resources` field report that field, the file
//! and the kernel's answer: `linux.resources.cpu.cpus: writing "99" to
//! /sys/fs/cgroup/cpuset/berth/x/cpuset.cpus: Invalid argument (os error 22)`.

use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::CgroupError;
use crate::error::{Error, IoContext, Result};

/// Writes `value` to `dir/file` on behalf of the spec field `field`.
pub fn write_field(dir: &Path, file: &str, value: &str, field: &str) -> Result<()> {
    let path = dir.join(file);
    write_path(&path, value).map_err(|e| field_error(field, &path, value, &e))
}

pub fn field_error(field: &str, path: &Path, value: &str, e: &std::io::Error) -> Error {
    let message = if e.kind() == ErrorKind::NotFound {
        format!(
            "{} does not exist: this host's kernel or cgroup setup does not offer it",
            path.display()
        )
    } else {
        format!("writing {value:?} to {}: {e}", path.display())
    };
    Error::field(field, message)
}

/// Writes a file that is not a spec field (cgroup.procs, freezer.state...).
pub fn write(dir: &Path, file: &str, value: &str) -> Result<()> {
    let path = dir.join(file);
    write_path(&path, value).io_ctx(|| format!("writing {value:?} to {}", path.display()))
}

/// One write(2) of the whole value: cgroup files act on each write call.
pub fn write_path(path: &Path, value: &str) -> std::io::Result<()> {
    let mut file = std::fs::OpenOptions::new().write(true).open(path)?;
    file.write_all(value.as_bytes())
}

pub fn read(dir: &Path, file: &str) -> Result<String> {
    let path = dir.join(file);
    std::fs::read_to_string(&path)
        .map(|s| s.trim().to_string())
        .io_ctx(|| format!("reading {}", path.display()))
}

/// Like `read`, but a missing file is `None` (the kernel lacks the feature).
pub fn read_opt(dir: &Path, file: &str) -> Result<Option<String>> {
    let path = dir.join(file);
    match std::fs::read_to_string(&path) {
        Ok(s) => Ok(Some(s.trim().to_string())),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io(format!("reading {}", path.display()), e)),
    }
}

/// A number, `max` (v2's "no limit") read as u64::MAX.
pub fn parse_u64(text: &str) -> Option<u64> {
    match text.trim() {
        "max" => Some(u64::MAX),
        t => t.parse().ok(),
    }
}

pub fn read_u64(dir: &Path, file: &str) -> Result<u64> {
    let text = read(dir, file)?;
    parse_u64(&text).ok_or_else(|| {
        CgroupError::NotANumber {
            file: dir.join(file),
            found: text.clone(),
        }
        .into()
    })
}

/// `read_u64`, with a missing file as `None`.
pub fn read_u64_opt(dir: &Path, file: &str) -> Result<Option<u64>> {
    Ok(read_opt(dir, file)?.and_then(|t| parse_u64(&t)))
}

/// The `key value` lines of memory.stat, cpu.stat, memory.events...
pub fn flat_keyed(text: &str) -> impl Iterator<Item = (&str, u64)> {
    text.lines().filter_map(|line| {
        let (key, value) = line.split_once(' ')?;
        Some((key, parse_u64(value)?))
    })
}

pub fn keyed_value(text: &str, key: &str) -> Option<u64> {
    flat_keyed(text).find(|(k, _)| *k == key).map(|(_, v)| v)
}

pub fn exists(dir: &Path, file: &str) -> bool {
    dir.join(file).exists()
}

/// `mkdir -p` of `dir` below `base` (which must exist); returns the
/// directories it made itself, parents first. Another runtime removing an
/// empty shared parent at the same moment shows as ENOENT: start again.
pub fn mkdir_below(base: &Path, dir: &Path) -> Result<Vec<PathBuf>> {
    let relative = dir.strip_prefix(base).map_err(|_| CgroupError::NotBelow {
        dir: dir.to_path_buf(),
        base: base.to_path_buf(),
    })?;
    let mut made = Vec::new();
    'attempt: for attempt in 0..3 {
        let mut current = base.to_path_buf();
        for part in relative.components() {
            current.push(part);
            match std::fs::create_dir(&current) {
                Ok(()) => made.push(current.clone()),
                Err(e) if e.kind() == ErrorKind::AlreadyExists => {}
                Err(e) if e.kind() == ErrorKind::NotFound && attempt < 2 => continue 'attempt,
                Err(e) => {
                    remove_made(&made);
                    return Err(Error::io(
                        format!("creating cgroup {}", current.display()),
                        e,
                    ));
                }
            }
        }
        return Ok(made);
    }
    Ok(made)
}

/// Undoes `mkdir_below` after a later failure (best effort: the error that
/// caused it is the one reported).
pub fn remove_made(made: &[PathBuf]) {
    for dir in made.iter().rev() {
        let _ = std::fs::remove_dir(dir);
    }
}

/// How long `rmdir` is retried while the kernel still counts dying tasks in
/// the cgroup (EBUSY right after the last process was reaped).
const DRAIN_TIMEOUT: Duration = Duration::from_secs(3);

/// rmdir, retried on EBUSY with a growing pause for at most DRAIN_TIMEOUT.
/// A directory already gone is fine: destroy may run twice.
pub fn rmdir_draining(dir: &Path) -> Result<()> {
    let deadline = Instant::now() + DRAIN_TIMEOUT;
    let mut pause = Duration::from_millis(2);
    loop {
        match std::fs::remove_dir(dir) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(()),
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) && Instant::now() < deadline => {
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_millis(100));
            }
            Err(e) => {
                return Err(Error::io(
                    format!(
                        "removing cgroup {} (processes still in it, or it has child cgroups)",
                        dir.display()
                    ),
                    e,
                ))
            }
        }
    }
}

/// Removes a parent cgroup this container made, unless another
/// container's cgroup is below it now: one may have been made there since
/// (a concurrent create under the same parent), which the kernel reports
/// as EBUSY on cgroup2 and ENOTEMPTY on v1. A parent holds no processes of
/// its own, so there is nothing to wait for.
pub fn remove_parent_if_unused(dir: &Path) -> Result<()> {
    match std::fs::remove_dir(dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
        Err(e) if matches!(e.raw_os_error(), Some(libc::EBUSY | libc::ENOTEMPTY)) => Ok(()),
        Err(e) => Err(Error::io(format!("removing cgroup {}", dir.display()), e)),
    }
}

/// The child cgroups of `dir` (its subdirectories).
pub fn children(dir: &Path) -> Result<Vec<PathBuf>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::io(format!("listing {}", dir.display()), e)),
    };
    let mut found = Vec::new();
    for entry in entries {
        let entry = entry.io_ctx(|| format!("listing {}", dir.display()))?;
        let is_dir = entry
            .file_type()
            .io_ctx(|| format!("listing {}", dir.display()))?
            .is_dir();
        if is_dir {
            found.push(entry.path());
        }
    }
    Ok(found)
}

/// Removes `dir` and the cgroups the container made below it, deepest first.
pub fn remove_tree(dir: &Path) -> Result<()> {
    for child in children(dir)? {
        remove_tree(&child)?;
    }
    rmdir_draining(dir)
}

/// The pids in `dir/cgroup.procs` and in every cgroup below it.
pub fn procs_recursive(dir: &Path, into: &mut Vec<i32>) -> Result<()> {
    let procs = match read_opt(dir, "cgroup.procs")? {
        Some(text) => text,
        None => return Ok(()),
    };
    into.extend(procs.lines().filter_map(|l| l.trim().parse::<i32>().ok()));
    for child in children(dir)? {
        procs_recursive(&child, into)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cgroups_flat_keyed_reads_max_as_u64_max() {
        let text = "oom 1\noom_kill 2\nmax max\nbad x";
        let pairs: Vec<_> = flat_keyed(text).collect();
        assert_eq!(pairs, [("oom", 1), ("oom_kill", 2), ("max", u64::MAX)]);
        assert_eq!(keyed_value(text, "oom_kill"), Some(2));
    }
}
