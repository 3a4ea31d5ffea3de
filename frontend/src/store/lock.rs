//! File locks between `berth` processes sharing a store.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use nix::fcntl::{Flock, FlockArg};

/// Locks `path` (creating it), shared or exclusive, waiting for other holders. The
/// file may be unlinked by a holder that is done with it; the lock is taken again on
/// the new file then, or two processes would each hold a lock on a different inode.
pub fn lock(path: &Path, exclusive: bool) -> io::Result<Flock<File>> {
    let mut open = OpenOptions::new();
    open.read(true).write(true).create(true).truncate(false);
    lock_with(path, &open, exclusive)
}

/// [`lock`], the file opened with `open` (which must create it): a blob's ingest
/// appends to the file it locks.
pub fn lock_with(path: &Path, open: &OpenOptions, exclusive: bool) -> io::Result<Flock<File>> {
    let how = if exclusive {
        FlockArg::LockExclusive
    } else {
        FlockArg::LockShared
    };
    loop {
        let file = open.open(path)?;
        let locked = Flock::lock(file, how).map_err(|(_, errno)| io::Error::from(errno))?;
        let held = locked.metadata()?;
        match std::fs::metadata(path) {
            Ok(now) if now.ino() == held.ino() && now.dev() == held.dev() => return Ok(locked),
            Ok(_) => continue,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        }
    }
}
