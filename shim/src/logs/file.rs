//! A log file (k8s-file, json-file): whole records in, rotation by size and count, reopen.
//!
//! Records are gathered in a batch and written with one `write` per chunk of container
//! output. Before a record would take the live file past `size_max`, the records before it
//! are written, the file is rotated and the record starts the new file: a record is never
//! split between two files, and none is lost (conmon truncates the live file instead).
//!
//! Rotation keeps Docker's names, `path` (live), `path.1` (the newest old one) ...
//! `path.<max_files-1>` (the oldest, removed at the next rotation). The new live file is
//! made first as `path.tmp` and exchanged with the old one in one `renameat2`, so a reader
//! that opens `path` by name always finds a file. With `max_files` 1 or unset the live file
//! is started afresh, as conmon does.

use std::ffi::OsString;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use super::{LogError, Notices, Stream};

/// Records are written out once the batch holds this much, so that a chunk of many short
/// lines (each record is ~45 bytes of header around them) does not grow it far.
const BATCH_MAX: usize = 64 * 1024;

/// Where the encoders put records: a log file, or a list of them in tests.
pub trait RecordSink {
    /// `write` appends exactly one record to the buffer it is given; the record is a piece
    /// of `stream`'s output that ends its line (`complete`) or leaves it open.
    fn record(&mut self, stream: Stream, complete: bool, write: impl FnOnce(&mut Vec<u8>));
}

/// Each record as its own buffer: for tests and the fuzz target.
impl RecordSink for Vec<Vec<u8>> {
    fn record(&mut self, _: Stream, _: bool, write: impl FnOnce(&mut Vec<u8>)) {
        let mut record = Vec::new();
        write(&mut record);
        self.push(record);
    }
}

/// `--log-size-max` and `--log-max-files`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Rotation {
    /// Rotate before the live file would pass this many bytes (`None`: never).
    pub size_max: Option<u64>,
    /// Files kept, the live one included; 0 and 1 both mean: start the live file afresh.
    pub max_files: u32,
}

/// `path.N`: Docker's name for the Nth newest rotated file.
pub fn numbered(path: &Path, n: u32) -> PathBuf {
    let mut name = OsString::from(path.as_os_str());
    name.push(format!(".{n}"));
    PathBuf::from(name)
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = OsString::from(path.as_os_str());
    name.push(suffix);
    PathBuf::from(name)
}

pub struct LogFile {
    path: PathBuf,
    mode: u32,
    file: File,
    /// Bytes in the live file, as far as we wrote them (or found them at open).
    on_disk: u64,
    batch: Vec<u8>,
    rotation: Rotation,
    /// A failed rotation is tried again only once the file has grown this far.
    retry_rotation_at: u64,
    rotation_failing: bool,
    /// Bytes that could not be written since the last report (the disk is full...).
    lost: u64,
    failing: bool,
    notices: Notices,
    /// Per stream (stdout, stderr): bytes of records of a line not ended yet. Rotation
    /// waits for such a line to end while it could still fit in one file.
    open_line: [u64; 2],
}

impl LogFile {
    /// Opens (creating with `mode`) the live file for appending; an existing file is kept.
    pub fn open(path: &Path, mode: u32, rotation: Rotation) -> Result<LogFile, LogError> {
        let file = open_append(path, mode).map_err(|source| LogError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let metadata = file.metadata().ok();
        let on_disk = metadata.as_ref().map_or(0, |m| m.len());
        // Only a regular file is rotated: `-l k8s-file:/dev/stdout` or a fifo must never be
        // renamed away (or replaced by a file) because it had a size limit.
        let regular = metadata.is_some_and(|m| m.file_type().is_file());
        let size_max = rotation.size_max.filter(|&max| max > 0 && regular);
        Ok(LogFile {
            path: path.to_path_buf(),
            mode,
            file,
            on_disk,
            batch: Vec::new(),
            rotation: Rotation {
                size_max,
                max_files: rotation.max_files,
            },
            retry_rotation_at: 0,
            rotation_failing: false,
            lost: 0,
            failing: false,
            notices: Notices::default(),
            open_line: [0; 2],
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes out the batch. Called after each chunk of container output.
    pub fn commit(&mut self) {
        self.write_out(self.batch.len());
    }

    /// The ctl fifo's "reopen": the live file was moved away (logrotate) or removed; write
    /// from now on to whatever `path` names, creating it.
    pub fn reopen(&mut self) -> Result<(), LogError> {
        self.commit();
        let file = open_append(&self.path, self.mode).map_err(|source| LogError::Io {
            path: self.path.clone(),
            source,
        })?;
        self.on_disk = file.metadata().map(|m| m.len()).unwrap_or(0);
        self.file = file;
        self.retry_rotation_at = 0;
        Ok(())
    }

    /// Writes out the batch and asks the disk to keep it.
    pub fn sync(&mut self) {
        self.commit();
        if let Err(e) = self.file.sync_data() {
            self.notices
                .push(format!("log file {}: sync: {e}", self.path.display()));
        }
    }

    pub fn take_notices(&mut self) -> Vec<String> {
        self.notices.take()
    }

    /// Writes `batch[..end]` and drops it from the batch.
    fn write_out(&mut self, end: usize) {
        if end == 0 {
            return;
        }
        match self.file.write_all(&self.batch[..end]) {
            Ok(()) => {
                self.on_disk += end as u64;
                if self.failing {
                    self.failing = false;
                    self.notices.push(format!(
                        "log file {}: writing again; {} bytes of records were lost",
                        self.path.display(),
                        self.lost
                    ));
                    self.lost = 0;
                }
            }
            Err(e) => {
                // Cut off whatever part of a record made it, so that the file holds whole
                // records only and the next write starts a line.
                let _ = self.file.set_len(self.on_disk);
                self.lost += end as u64;
                if !self.failing {
                    self.failing = true;
                    self.notices.push(format!(
                        "log file {}: {e}; dropping records until writing works again",
                        self.path.display()
                    ));
                }
            }
        }
        self.batch.drain(..end);
    }

    /// Rotates now, whatever the size. Errors leave the live file as it was: records keep
    /// going to it, and nothing is lost.
    fn rotate(&mut self) -> io::Result<()> {
        let tmp = with_suffix(&self.path, ".tmp");
        let fresh = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .custom_flags(libc::O_APPEND)
            .mode(self.mode)
            .open(&tmp)?;
        let result = if self.rotation.max_files <= 1 {
            std::fs::rename(&tmp, &self.path)
        } else {
            self.shift_and_exchange(&tmp)
        };
        if let Err(e) = result {
            let _ = std::fs::remove_file(&tmp);
            return Err(e);
        }
        self.file = fresh;
        self.on_disk = 0;
        Ok(())
    }

    /// `path.(n-1)` removed, `path.k` → `path.(k+1)`, `path` → `path.1`, `tmp` → `path`.
    /// Only the run `path.1`, `path.2`, ... up to the first missing one moves: that is all
    /// the files a rotation made, and a gap someone else left stops the shift cheaply.
    fn shift_and_exchange(&self, tmp: &Path) -> io::Result<()> {
        let last = self.rotation.max_files - 1;
        let mut run = 0;
        while run < last && numbered(&self.path, run + 1).symlink_metadata().is_ok() {
            run += 1;
        }
        if run == last {
            std::fs::remove_file(numbered(&self.path, last))?;
            run -= 1;
        }
        for k in (1..=run).rev() {
            std::fs::rename(numbered(&self.path, k), numbered(&self.path, k + 1))?;
        }
        match exchange(tmp, &self.path) {
            // tmp now names the old live file.
            Ok(()) => std::fs::rename(tmp, numbered(&self.path, 1)),
            // Nothing at `path`: someone moved the live file away.
            Err(e) if e.kind() == io::ErrorKind::NotFound => std::fs::rename(tmp, &self.path),
            // A filesystem without RENAME_EXCHANGE: two renames, a moment without `path`.
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {
                std::fs::rename(&self.path, numbered(&self.path, 1))?;
                std::fs::rename(tmp, &self.path)
            }
            Err(e) => Err(e),
        }
    }
}

impl RecordSink for LogFile {
    fn record(&mut self, stream: Stream, complete: bool, write: impl FnOnce(&mut Vec<u8>)) {
        let start = self.batch.len();
        write(&mut self.batch);
        let size = (self.batch.len() - start) as u64;
        let index = stream as usize;
        let line_so_far = self.open_line[index] + size;
        if let Some(max) = self.rotation.size_max {
            let before = self.on_disk + start as u64;
            let after = before + size;
            // A line that fits in a file is not cut between two: while one is open (this
            // stream's, with this record, or the other's), the file grows past the size
            // and rotates once the line has ended, but never past twice the size (two
            // streams can keep lines open in turn forever). A longer line is cut where it
            // must.
            let splits_a_line = |open: u64| open > 0 && open <= max;
            let other = self.open_line[1 - index];
            let mid_line = ((self.open_line[index] > 0 && splits_a_line(line_so_far))
                || splits_a_line(other))
                && after <= max.saturating_mul(2);
            // An empty file takes any record, however long: a record is never split.
            if after > max && before > 0 && before >= self.retry_rotation_at && !mid_line {
                self.write_out(start);
                match self.rotate() {
                    Ok(()) if self.rotation_failing => {
                        self.rotation_failing = false;
                        self.notices
                            .push(format!("log file {}: rotating again", self.path.display()));
                    }
                    Ok(()) => {}
                    Err(e) => {
                        self.retry_rotation_at = self.on_disk + max;
                        if !self.rotation_failing {
                            self.rotation_failing = true;
                            self.notices.push(format!(
                                "log file {}: rotation failed: {e}; writing on to the live \
                                 file, trying again each time it grows by the size",
                                self.path.display()
                            ));
                        }
                    }
                }
            }
        }
        self.open_line[index] = if complete { 0 } else { line_so_far };
        if self.batch.len() >= BATCH_MAX {
            self.commit();
        }
    }
}

fn open_append(path: &Path, mode: u32) -> io::Result<File> {
    OpenOptions::new()
        .append(true)
        .create(true)
        .mode(mode)
        .open(path)
}

/// Swaps two names in one step (renameat2 RENAME_EXCHANGE).
fn exchange(a: &Path, b: &Path) -> io::Result<()> {
    use nix::fcntl::{renameat2, RenameFlags, AT_FDCWD};
    renameat2(AT_FDCWD, a, AT_FDCWD, b, RenameFlags::RENAME_EXCHANGE)
        .map_err(|errno| io::Error::from_raw_os_error(errno as i32))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logs::testutil::TempDir;

    fn record(file: &mut LogFile, text: &str) {
        file.record(Stream::Stdout, text.ends_with('\n'), |out| {
            out.extend_from_slice(text.as_bytes())
        });
    }

    fn read(path: &Path) -> String {
        std::fs::read_to_string(path).unwrap_or_else(|_| "<missing>".into())
    }

    #[test]
    fn records_are_appended_to_an_existing_file() {
        let dir = TempDir::new("file-append");
        let path = dir.path().join("ctr.log");
        std::fs::write(&path, "old\n").unwrap();
        let mut file = LogFile::open(&path, 0o600, Rotation::default()).unwrap();
        record(&mut file, "new\n");
        file.commit();
        assert_eq!(read(&path), "old\nnew\n");
    }

    #[test]
    fn rotation_starts_a_new_file_before_a_record_would_pass_the_size() {
        let dir = TempDir::new("file-rotate");
        let path = dir.path().join("ctr.log");
        let rotation = Rotation {
            size_max: Some(10),
            max_files: 3,
        };
        let mut file = LogFile::open(&path, 0o600, rotation).unwrap();
        for text in [
            "aaaa\n", "bbbb\n", "cccc\n", "dddd\n", "eeee\n", "ffff\n", "gggg\n",
        ] {
            record(&mut file, text);
        }
        file.commit();
        assert_eq!(read(&path), "gggg\n");
        assert_eq!(read(&numbered(&path, 1)), "eeee\nffff\n");
        assert_eq!(read(&numbered(&path, 2)), "cccc\ndddd\n");
        assert!(!numbered(&path, 3).exists(), "the oldest is removed");
        assert!(!with_suffix(&path, ".tmp").exists());
    }

    #[test]
    fn a_record_longer_than_the_size_gets_a_file_of_its_own_whole() {
        let dir = TempDir::new("file-long");
        let path = dir.path().join("ctr.log");
        let rotation = Rotation {
            size_max: Some(4),
            max_files: 4,
        };
        let mut file = LogFile::open(&path, 0o600, rotation).unwrap();
        record(&mut file, "a\n");
        record(&mut file, "0123456789\n");
        record(&mut file, "b\n");
        file.commit();
        assert_eq!(read(&numbered(&path, 2)), "a\n");
        assert_eq!(read(&numbered(&path, 1)), "0123456789\n");
        assert_eq!(read(&path), "b\n");
    }

    #[test]
    fn one_file_only_starts_afresh_as_conmon() {
        let dir = TempDir::new("file-afresh");
        let path = dir.path().join("ctr.log");
        let rotation = Rotation {
            size_max: Some(6),
            max_files: 1,
        };
        let mut file = LogFile::open(&path, 0o600, rotation).unwrap();
        record(&mut file, "one\n");
        record(&mut file, "two\n");
        file.commit();
        assert_eq!(read(&path), "two\n");
        assert!(!numbered(&path, 1).exists());
    }

    #[test]
    fn an_existing_file_counts_toward_the_size() {
        let dir = TempDir::new("file-existing");
        let path = dir.path().join("ctr.log");
        std::fs::write(&path, "12345678\n").unwrap();
        let rotation = Rotation {
            size_max: Some(10),
            max_files: 2,
        };
        let mut file = LogFile::open(&path, 0o600, rotation).unwrap();
        record(&mut file, "new\n");
        file.commit();
        assert_eq!(read(&numbered(&path, 1)), "12345678\n");
        assert_eq!(read(&path), "new\n");
    }

    #[test]
    fn reopen_follows_the_name_after_the_file_was_moved_away() {
        let dir = TempDir::new("file-reopen");
        let path = dir.path().join("ctr.log");
        let moved = dir.path().join("ctr.log.moved");
        let mut file = LogFile::open(&path, 0o600, Rotation::default()).unwrap();
        record(&mut file, "before\n");
        file.commit();
        std::fs::rename(&path, &moved).unwrap();
        record(&mut file, "between\n");
        file.reopen().unwrap();
        record(&mut file, "after\n");
        file.commit();
        assert_eq!(read(&moved), "before\nbetween\n");
        assert_eq!(read(&path), "after\n");
    }

    #[test]
    fn rotation_after_the_live_file_was_removed_loses_nothing_written_since() {
        let dir = TempDir::new("file-removed");
        let path = dir.path().join("ctr.log");
        let rotation = Rotation {
            size_max: Some(8),
            max_files: 2,
        };
        let mut file = LogFile::open(&path, 0o600, rotation).unwrap();
        record(&mut file, "aaaa\n");
        file.commit();
        std::fs::remove_file(&path).unwrap();
        record(&mut file, "bbbb\n");
        file.commit();
        assert_eq!(read(&path), "bbbb\n");
    }

    #[test]
    fn a_failed_rotation_keeps_writing_to_the_live_file_and_says_so() {
        let dir = TempDir::new("file-rotfail");
        let path = dir.path().join("ctr.log");
        // A directory where path.1 should go: the renames fail.
        std::fs::create_dir(numbered(&path, 1)).unwrap();
        std::fs::write(numbered(&path, 1).join("x"), "").unwrap();
        let rotation = Rotation {
            size_max: Some(5),
            max_files: 2,
        };
        let mut file = LogFile::open(&path, 0o600, rotation).unwrap();
        for text in ["aaaa\n", "bbbb\n", "cccc\n"] {
            record(&mut file, text);
        }
        file.commit();
        assert_eq!(read(&path), "aaaa\nbbbb\ncccc\n");
        let notices = file.take_notices();
        assert_eq!(notices.len(), 1, "{notices:?}");
        assert!(notices[0].contains("rotation failed"), "{notices:?}");
    }

    #[test]
    fn a_failing_disk_is_reported_once_and_the_file_keeps_whole_records() {
        let full = Path::new("/dev/full");
        if !full.exists() {
            return;
        }
        let mut file = LogFile::open(full, 0o600, Rotation::default()).unwrap();
        for _ in 0..3 {
            record(&mut file, "x\n");
            file.commit();
        }
        let notices = file.take_notices();
        assert_eq!(notices.len(), 1, "{notices:?}");
        assert!(notices[0].contains("/dev/full"), "{notices:?}");
    }

    #[test]
    fn a_reader_always_finds_the_live_file_while_it_rotates() {
        use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
        use std::sync::Arc;
        let dir = TempDir::new("file-always-there");
        let path = dir.path().join("ctr.log");
        let rotation = Rotation {
            size_max: Some(4),
            max_files: 3,
        };
        let mut file = LogFile::open(&path, 0o600, rotation).unwrap();
        let done = Arc::new(AtomicBool::new(false));
        let missing = Arc::new(AtomicU32::new(0));
        let watcher = {
            let (done, missing, path) = (done.clone(), missing.clone(), path.clone());
            std::thread::spawn(move || {
                while !done.load(Ordering::Relaxed) {
                    if path.symlink_metadata().is_err() {
                        missing.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
        };
        for _ in 0..3000 {
            record(&mut file, "abc\n");
        }
        file.commit();
        done.store(true, Ordering::Relaxed);
        watcher.join().unwrap();
        assert_eq!(
            missing.load(Ordering::Relaxed),
            0,
            "the live file was missing"
        );
        assert_eq!(read(&path), "abc\n");
    }

    #[test]
    fn a_fifo_is_written_to_and_never_rotated() {
        use std::io::Read;
        use std::os::unix::fs::FileTypeExt;
        let dir = TempDir::new("file-fifo");
        let path = dir.path().join("ctr.fifo");
        nix::unistd::mkfifo(&path, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
        // A reader first, so that opening the writer does not wait.
        let mut reader = OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(&path)
            .unwrap();
        let rotation = Rotation {
            size_max: Some(4),
            max_files: 2,
        };
        let mut file = LogFile::open(&path, 0o600, rotation).unwrap();
        record(&mut file, "one\n");
        record(&mut file, "two\n");
        file.commit();
        let mut got = [0u8; 64];
        let n = reader.read(&mut got).unwrap();
        assert_eq!(&got[..n], b"one\ntwo\n");
        assert!(path.symlink_metadata().unwrap().file_type().is_fifo());
        assert!(!numbered(&path, 1).exists());
        assert!(file.take_notices().is_empty());
    }
}
