//! Content-addressed blobs: `blobs/<algorithm>/<hex>`, each one put there only once its
//! bytes have been counted and hashed to the digest they were asked for. What is being
//! written lives in `blobs/ingest/` until then: a download cut short leaves its bytes
//! there, never under a digest, and the next pull of the same blob goes on from them.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use nix::fcntl::Flock;
use sha2::{Digest as _, Sha256, Sha512};

use super::lock;
use crate::image::reference::Digest;

/// Names `put`'s partial files apart between threads of one process.
static PUT_COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error("blob {digest}: more than the {size} bytes its descriptor gives")]
    TooLong { digest: String, size: u64 },
    #[error("blob {digest}: {got} bytes, its descriptor gives {size}")]
    WrongSize { digest: String, size: u64, got: u64 },
    #[error("blob {expected}: its content hashes to {got}")]
    WrongDigest { expected: String, got: String },
}

/// The blob directory of a store.
#[derive(Debug, Clone)]
pub struct BlobStore {
    root: PathBuf,
}

/// One blob being written: bytes go to `blobs/ingest/`, hashed as they come.
pub struct Ingest {
    expected: Digest,
    size: Option<u64>,
    partial: PathBuf,
    final_path: PathBuf,
    /// Held until commit: a second writer of the same blob waits for the first.
    file: Flock<File>,
    hasher: Hasher,
    written: u64,
}

enum Hasher {
    Sha256(Sha256),
    Sha512(Sha512),
}

impl Hasher {
    fn for_digest(digest: &Digest) -> Hasher {
        match digest.algorithm() {
            "sha512" => Hasher::Sha512(Sha512::new()),
            // Digest::parse admits sha256 and sha512 only.
            _ => Hasher::Sha256(Sha256::new()),
        }
    }

    fn update(&mut self, bytes: &[u8]) {
        match self {
            Hasher::Sha256(h) => h.update(bytes),
            Hasher::Sha512(h) => h.update(bytes),
        }
    }

    fn finish(self) -> String {
        let bytes = match self {
            Hasher::Sha256(h) => h.finalize().to_vec(),
            Hasher::Sha512(h) => h.finalize().to_vec(),
        };
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }
}

fn io_error(path: &Path) -> impl FnOnce(io::Error) -> BlobError + '_ {
    move |source| BlobError::Io {
        path: path.to_path_buf(),
        source,
    }
}

impl BlobStore {
    /// Opens (making them if missing) `root/blobs/{sha256,sha512,ingest}`.
    pub fn open(root: &Path) -> Result<BlobStore, BlobError> {
        let root = root.join("blobs");
        for dir in ["sha256", "sha512", "ingest"] {
            let path = root.join(dir);
            fs::create_dir_all(&path).map_err(io_error(&path))?;
        }
        Ok(BlobStore { root })
    }

    pub fn path(&self, digest: &Digest) -> PathBuf {
        self.root.join(digest.algorithm()).join(digest.hex())
    }

    pub fn has(&self, digest: &Digest) -> bool {
        self.path(digest).is_file()
    }

    /// Starts (or, after an interrupted one, resumes) writing `digest`, of `size` bytes
    /// when the descriptor says; None when the store has it already. Waits while another
    /// process writes the same blob.
    pub fn ingest(&self, digest: &Digest, size: Option<u64>) -> Result<Option<Ingest>, BlobError> {
        let partial =
            self.root
                .join("ingest")
                .join(format!("{}-{}", digest.algorithm(), digest.hex()));
        if self.has(digest) {
            return Ok(None);
        }
        let mut open = OpenOptions::new();
        open.read(true).append(true).create(true);
        let mut file = lock::lock_with(&partial, &open, true).map_err(io_error(&partial))?;
        // While we waited, the writer before us may have moved its file under the
        // digest: the blob is there, and what we hold is a new, empty file that our
        // open just made, ours to remove (under its lock, so a third waiter sees it
        // gone and looks again).
        if self.has(digest) {
            let _ = fs::remove_file(&partial);
            return Ok(None);
        }
        // The bytes an earlier, interrupted ingest left are hashed again, not trusted.
        let mut hasher = Hasher::for_digest(digest);
        let mut written = 0u64;
        let mut chunk = vec![0u8; 64 * 1024];
        loop {
            let n = file.read(&mut chunk).map_err(io_error(&partial))?;
            if n == 0 {
                break;
            }
            hasher.update(&chunk[..n]);
            written += n as u64;
        }
        let mut ingest = Ingest {
            expected: digest.clone(),
            size,
            final_path: self.path(digest),
            partial,
            file,
            hasher,
            written,
        };
        if size.is_some_and(|s| written > s) {
            // Not this blob's bytes: start again.
            ingest.file.set_len(0).map_err(io_error(&ingest.partial))?;
            ingest.hasher = Hasher::for_digest(digest);
            ingest.written = 0;
        }
        Ok(Some(ingest))
    }

    /// Stores what `reader` gives as a sha256 blob whose digest is only known once it
    /// has been read (an imported tarball, a config or manifest we made): its digest
    /// and size.
    pub fn put(&self, reader: &mut impl Read) -> Result<(Digest, u64), BlobError> {
        let partial = self.root.join("ingest").join(format!(
            "put-{}-{}",
            std::process::id(),
            PUT_COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        ));
        let result = self.put_via(&partial, reader);
        if result.is_err() {
            let _ = fs::remove_file(&partial);
        }
        result
    }

    fn put_via(&self, partial: &Path, reader: &mut impl Read) -> Result<(Digest, u64), BlobError> {
        let mut file = File::create(partial).map_err(io_error(partial))?;
        let mut hasher = Sha256::new();
        let mut size = 0u64;
        let mut chunk = vec![0u8; 256 * 1024];
        loop {
            let n = match reader.read(&mut chunk) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(io_error(partial)(e)),
            };
            hasher.update(&chunk[..n]);
            file.write_all(&chunk[..n]).map_err(io_error(partial))?;
            size += n as u64;
        }
        file.sync_all().map_err(io_error(partial))?;
        let hex: String = hasher
            .finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let digest =
            Digest::parse(&format!("sha256:{hex}")).map_err(|_| BlobError::WrongDigest {
                expected: "sha256".to_string(),
                got: hex.clone(),
            })?;
        let final_path = self.path(&digest);
        fs::rename(partial, &final_path).map_err(io_error(&final_path))?;
        Ok((digest, size))
    }

    /// Stores `bytes` (a config or manifest) as a sha256 blob.
    pub fn put_bytes(&self, bytes: &[u8]) -> Result<(Digest, u64), BlobError> {
        self.put(&mut &bytes[..])
    }

    /// Removes a blob; false if it was not there.
    pub fn remove(&self, digest: &Digest) -> Result<bool, BlobError> {
        let path = self.path(digest);
        match fs::remove_file(&path) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(io_error(&path)(e)),
        }
    }
}

impl Ingest {
    /// Bytes already there: where a resumed download starts (an HTTP `Range`).
    pub fn offset(&self) -> u64 {
        self.written
    }

    /// Appends `bytes`; refuses to go past the descriptor's size.
    pub fn write(&mut self, bytes: &[u8]) -> Result<(), BlobError> {
        let after = self.written + bytes.len() as u64;
        if let Some(size) = self.size.filter(|&s| after > s) {
            return Err(BlobError::TooLong {
                digest: self.expected.to_string(),
                size,
            });
        }
        self.file
            .write_all(bytes)
            .map_err(io_error(&self.partial))?;
        self.hasher.update(bytes);
        self.written = after;
        Ok(())
    }

    /// Forgets the bytes written so far and starts the blob again: a server that
    /// ignored a `Range` request sends the whole blob.
    pub fn restart(&mut self) -> Result<(), BlobError> {
        self.file.set_len(0).map_err(io_error(&self.partial))?;
        self.hasher = Hasher::for_digest(&self.expected);
        self.written = 0;
        Ok(())
    }

    /// Throws the bytes away: they cannot be this blob's (more than its size came).
    pub fn discard(self) -> Result<(), BlobError> {
        match fs::remove_file(&self.partial) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io_error(&self.partial)(e)),
        }
    }

    /// Checks size and digest, then moves the bytes under their digest. On a mismatch
    /// the bytes are thrown away (a retry starts from nothing).
    pub fn commit(self) -> Result<PathBuf, BlobError> {
        let got = self.hasher.finish();
        let mismatch = if self.size.is_some_and(|s| s != self.written) {
            Some(BlobError::WrongSize {
                digest: self.expected.to_string(),
                size: self.size.unwrap_or_default(),
                got: self.written,
            })
        } else if got != self.expected.hex() {
            Some(BlobError::WrongDigest {
                expected: self.expected.to_string(),
                got: format!("{}:{got}", self.expected.algorithm()),
            })
        } else {
            None
        };
        if let Some(error) = mismatch {
            let _ = fs::remove_file(&self.partial);
            return Err(error);
        }
        self.file.sync_all().map_err(io_error(&self.partial))?;
        fs::rename(&self.partial, &self.final_path).map_err(io_error(&self.final_path))?;
        Ok(self.final_path)
    }
}

#[cfg(test)]
mod tests;
