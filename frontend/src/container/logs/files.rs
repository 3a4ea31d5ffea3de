//! The files of a rotated log, read as one stream: `PATH.N` (oldest) … `PATH.1`, then
//! `PATH` (live), and on to whatever the live file becomes after a rotation.
//!
//! berth-shim rotates by swapping a fresh file in at `PATH` (renameat2 RENAME_EXCHANGE)
//! and renaming the old one to `PATH.1` after shifting the others up; with one file kept
//! it renames the fresh file over `PATH`. The shim writes nothing more to a file once it
//! is no longer `PATH`. So a reader at the end of its file checks whether `PATH` still
//! names it; if not, it drains the file (the last records went in before the swap) and
//! moves to the next newer one, found by where its own file went: from `PATH.K` the
//! next is `PATH.(K-1)`, from `PATH.1` it is `PATH`. Several rotations while the reader
//! was away are followed one by one, as long as the shim kept the files.

use std::ffi::OsString;
use std::fs::File;
use std::io::{self, Read};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::LogError;

/// A rotated log is never expected to have more files than this (Docker's `max-file`
/// is a small number); the bound only keeps a scan finite.
const MAX_SCAN: u32 = 100_000;

/// How long a follower sleeps at most between checks that the container still runs.
pub(super) const POLL: Duration = Duration::from_millis(200);

/// `PATH.N`.
pub(super) fn numbered(path: &Path, n: u32) -> PathBuf {
    let mut name = OsString::from(path.as_os_str());
    name.push(format!(".{n}"));
    PathBuf::from(name)
}

fn identity(path: &Path) -> Option<(u64, u64)> {
    std::fs::metadata(path).ok().map(|m| (m.dev(), m.ino()))
}

/// One open file of the log and what was read of it.
pub(super) struct Cursor {
    file: File,
    /// Where it was opened (for errors; it may have been renamed since).
    pub path: PathBuf,
    id: (u64, u64),
    /// The start of a record whose `\n` is not written yet.
    partial: Vec<u8>,
}

impl Cursor {
    fn open(path: &Path) -> io::Result<Cursor> {
        let file = File::open(path)?;
        let m = file.metadata()?;
        Ok(Cursor {
            file,
            path: path.to_path_buf(),
            id: (m.dev(), m.ino()),
            partial: Vec::new(),
        })
    }

    /// Reads to the end of the file, handing each whole record (without its `\n`) to
    /// `record`; an unfinished last record waits for the rest.
    pub fn read_records(
        &mut self,
        record: &mut dyn FnMut(&[u8]) -> Result<(), LogError>,
    ) -> Result<(), LogError> {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = match self.file.read(&mut buf) {
                Ok(0) => return Ok(()),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(source) => {
                    return Err(LogError::Read {
                        path: self.path.clone(),
                        source,
                    })
                }
            };
            let mut data = &buf[..n];
            while let Some(nl) = data.iter().position(|&b| b == b'\n') {
                if self.partial.is_empty() {
                    record(&data[..nl])?;
                } else {
                    self.partial.extend_from_slice(&data[..nl]);
                    let whole = std::mem::take(&mut self.partial);
                    record(&whole)?;
                }
                data = &data[nl + 1..];
            }
            self.partial.extend_from_slice(data);
        }
    }
}

/// The run `PATH.1`, `PATH.2`... up to the first name missing: the files the shim's
/// rotations made (a gap someone else left ends them, as it ends the shim's shift).
fn rotated(path: &Path) -> Vec<(u64, u64)> {
    (1..=MAX_SCAN)
        .map_while(|k| identity(&numbered(path, k)))
        .collect()
}

/// The name of the `n`th file: 0 the live one, else `PATH.n`.
fn name(path: &Path, n: usize) -> PathBuf {
    if n == 0 {
        path.to_path_buf()
    } else {
        numbered(path, n as u32)
    }
}

/// A rotation renames the files one by one: a name may be missing for a moment, or
/// name another file by the time it is opened. Each step is checked and tried again.
const TRIES: usize = 100;

fn pause() {
    std::thread::sleep(Duration::from_millis(1));
}

fn open_if_there(path: &Path) -> Result<Option<Cursor>, LogError> {
    match Cursor::open(path) {
        Ok(c) => Ok(Some(c)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(LogError::Read {
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// Whether a rotation is half-way: the old live file waits at `PATH.tmp`, or the
/// shift has moved `PATH.1` up and left its name empty for a moment. The run of
/// numbered files looks empty then, and the live file would pass for the oldest.
fn mid_rotation(path: &Path) -> bool {
    let mut tmp = OsString::from(path.as_os_str());
    tmp.push(".tmp");
    identity(Path::new(&tmp)).is_some()
        || (identity(&numbered(path, 1)).is_none() && identity(&numbered(path, 2)).is_some())
}

/// The oldest file of the log, open; None when there is no log at all (yet).
pub(super) fn open_oldest(path: &Path) -> Result<Option<Cursor>, LogError> {
    for _ in 0..TRIES {
        if mid_rotation(path) {
            pause();
            continue;
        }
        let oldest = rotated(path).len();
        let Some(cursor) = open_if_there(&name(path, oldest))? else {
            if oldest == 0 {
                return Ok(None);
            }
            pause();
            continue;
        };
        // Still the oldest after the open: no rotation shifted it away meanwhile.
        let now = rotated(path);
        if now.len() == oldest
            && (oldest == 0 || now[oldest - 1] == cursor.id)
            && !mid_rotation(path)
        {
            return Ok(Some(cursor));
        }
        pause();
    }
    open_if_there(path)
}

/// Where `id` is now: `Some(0)` the live file, `Some(k)` `PATH.k`, None elsewhere.
/// `PATH.tmp` counts as `PATH.1`: that is where the shim's exchange leaves the old live
/// file until its rename, and either way `PATH` is the file after it.
fn place(path: &Path, id: (u64, u64)) -> Option<usize> {
    if identity(path) == Some(id) {
        return Some(0);
    }
    let mut tmp = OsString::from(path.as_os_str());
    tmp.push(".tmp");
    if identity(Path::new(&tmp)) == Some(id) {
        return Some(1);
    }
    rotated(path).iter().position(|&f| f == id).map(|k| k + 1)
}

/// The file written after `current`, open, once `PATH` no longer names `current`; None
/// while `current` is the live file (or no newer one can be opened yet).
pub(super) fn newer(path: &Path, current: &Cursor) -> Result<Option<Cursor>, LogError> {
    for _ in 0..TRIES {
        if identity(path).is_none() {
            // The live file was removed or moved away: nothing newer to go on with.
            return Ok(None);
        }
        let Some(k) = place(path, current.id) else {
            // Under the shift's moving gap: for a moment in none of the names. Or gone for
            // good: renamed over (one file kept) or removed as the oldest (a reader that
            // fell behind); then the oldest file left is the next one.
            if (0..5).any(|_| {
                pause();
                place(path, current.id).is_some()
            }) {
                continue;
            }
            return open_oldest(path);
        };
        if k == 0 {
            return Ok(None);
        }
        let Some(next) = open_if_there(&name(path, k - 1))? else {
            pause();
            continue;
        };
        // Still at PATH.K: no rotation between the look and the open, so `next` is the
        // file right after ours and none was skipped.
        if place(path, current.id) == Some(k) {
            return Ok(Some(next));
        }
    }
    // Rotating faster than we can look: go on from the live file.
    open_if_there(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(path: &Path, text: &str) -> (u64, u64) {
        std::fs::write(path, text).expect("write");
        identity(path).expect("written")
    }

    fn text_of(c: &mut Cursor) -> String {
        let mut out = String::new();
        c.read_records(&mut |r: &[u8]| {
            out.push_str(&String::from_utf8_lossy(r));
            Ok(())
        })
        .expect("read");
        out
    }

    #[test]
    fn between_the_exchange_and_the_rename_the_next_file_is_the_live_one() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("ctr.log");
        file(&path, "a\n");
        let current = Cursor::open(&path).expect("open");
        std::fs::rename(&path, dir.path().join("ctr.log.tmp")).expect("rename");
        file(&path, "b\n");
        let mut next = newer(&path, &current)
            .expect("newer")
            .expect("a newer file");
        assert_eq!(text_of(&mut next), "b");
    }

    #[test]
    fn a_file_removed_as_the_oldest_is_followed_by_the_oldest_left() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("ctr.log");
        let gone = dir.path().join("gone");
        file(&gone, "a\n");
        let current = Cursor::open(&gone).expect("open");
        std::fs::remove_file(&gone).expect("remove");
        file(&numbered(&path, 2), "b\n");
        file(&numbered(&path, 1), "c\n");
        file(&path, "d\n");
        let mut next = newer(&path, &current)
            .expect("newer")
            .expect("a newer file");
        assert_eq!(text_of(&mut next), "b");
        let mut oldest = open_oldest(&path).expect("oldest").expect("a file");
        assert_eq!(text_of(&mut oldest), "b");
    }

    #[test]
    fn the_live_file_has_no_newer_one() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("ctr.log");
        file(&path, "a\n");
        let current = Cursor::open(&path).expect("open");
        assert!(newer(&path, &current).expect("newer").is_none());
    }
}
