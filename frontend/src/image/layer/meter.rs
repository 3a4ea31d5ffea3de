//! The uncompressed tar stream, hashed and counted as it passes: the diff_id is the
//! sha256 of every byte (trailing padding and all), and a fence stops the reading where a
//! limit says, before a tar bomb has been read into memory or onto disk.

use std::cell::{Cell, RefCell};
use std::io::{self, Read, Write};

use sha2::{Digest as _, Sha256};

use crate::image::reference::Digest;

/// Shared between the reader the tar parser owns and the unpacker that sets the fence.
pub(super) struct Meter {
    total: Cell<u64>,
    fence: Cell<u64>,
    tripped: Cell<bool>,
    hasher: RefCell<Sha256>,
}

impl Meter {
    pub(super) fn new(fence: u64) -> Meter {
        Meter {
            total: Cell::new(0),
            fence: Cell::new(fence),
            tripped: Cell::new(false),
            hasher: RefCell::new(Sha256::new()),
        }
    }

    /// Bytes of the uncompressed stream read so far.
    pub(super) fn total(&self) -> u64 {
        self.total.get()
    }

    /// From now on a read that would pass `fence` bytes in all fails.
    pub(super) fn set_fence(&self, fence: u64) {
        self.fence.set(fence);
    }

    /// Whether a read failed because of the fence (rather than the stream).
    pub(super) fn tripped(&self) -> bool {
        self.tripped.get()
    }

    pub(super) fn digest(&self) -> Digest {
        sha256_digest(self.hasher.borrow().clone())
    }

    fn count(&self, bytes: &[u8]) -> io::Result<()> {
        let total = self.total.get().saturating_add(bytes.len() as u64);
        if total > self.fence.get() {
            self.tripped.set(true);
            return Err(io::Error::other("over the limit"));
        }
        self.total.set(total);
        self.hasher.borrow_mut().update(bytes);
        Ok(())
    }
}

pub(super) fn sha256_digest(hasher: Sha256) -> Digest {
    let hex: String = hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    // 64 lowercase hex digits: always a valid sha256 digest.
    Digest::parse(&format!("sha256:{hex}")).unwrap_or_else(|_| unreachable!())
}

/// A reader that passes every byte through a [`Meter`].
pub(super) struct Metered<'m, R> {
    pub(super) inner: R,
    pub(super) meter: &'m Meter,
}

impl<R: Read> Read for Metered<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.meter.count(&buf[..n])?;
        Ok(n)
    }
}

/// A writer that hashes and counts what it passes on (the diff side's diff_id).
pub(super) struct HashingWriter<W> {
    pub(super) inner: W,
    pub(super) hasher: Sha256,
    pub(super) written: u64,
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.written += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}
