//! The store under `/var/lib/berth` (`--root`): content-addressed blobs, unpacked
//! layers, metadata.

pub mod blobs;
