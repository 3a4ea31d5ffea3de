//! The `layer_unpack` target: arbitrary bytes through the front-end's
//! `image::layer::unpack` into a fresh directory, with a sentinel directory
//! beside it that must stay as it was.
//!
//! Input: the first byte picks how the rest is read:
//! - 0: as an uncompressed layer tar;
//! - 1: as a gzip stream (mostly corrupt ones: the decoder's errors);
//! - 2: gzip-compressed here, then unpacked as gzip: the outcome must be the
//!   one of mode 0 (same entries, same diff_id, same error kind);
//! - 3: as an uncompressed tar whose header checksums are first set right
//!   (`fix_checksums`): a mutation of a name, type or size almost always
//!   breaks the checksum, so without this mode the fuzzer spends nearly all
//!   its time on headers the reader refuses at once.
//!
//! Properties: no panic; nothing next to the destination is created or
//! changed (whatever the names, links and symlinks in the tar); errors are one
//! non-empty line; an unpacked tar's diff_id is the sha256 of the bytes given;
//! the unpacked tree `diff`s without panic, and a diff that succeeds unpacks
//! again to the same diff_id (what `commit` writes, `pull` must read).
//! Needs root (chown, mknod, trusted.* xattrs), as unpacking does.

use std::fs;
use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use berth_engine::image::layer::{diff, unpack, Limits, UnpackError, Unpacked};
use berth_engine::image::manifest::Compression;
use sha2::{Digest as _, Sha256};

const PREFIX: &str = "berth-fuzz-layer-unpack-";
const SECRET: &[u8] = b"host secret";

/// Small enough that a gzip bomb costs milliseconds, large enough for any
/// input libFuzzer makes.
fn limits() -> Limits {
    Limits {
        max_bytes: 8 << 20,
        max_entries: 4096,
        max_path_len: 4096,
        max_header_bytes: 1 << 20,
    }
}

fn work_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let shm = Path::new("/dev/shm");
        let base = if shm.is_dir() {
            shm.to_path_buf()
        } else {
            std::env::temp_dir()
        };
        remove_stale_dirs(&base);
        base.join(format!("{PREFIX}{}", std::process::id()))
    })
}

/// Work directories of fuzzer processes that are gone (a failed check aborts
/// libFuzzer with the directory in place).
fn remove_stale_dirs(base: &Path) {
    let Ok(entries) = fs::read_dir(base) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(|n| n.strip_prefix(PREFIX)) else {
            continue;
        };
        if pid.parse::<u32>().is_ok() && !Path::new("/proc").join(pid).exists() {
            let _ = fs::remove_dir_all(entry.path());
        }
    }
}

/// A fresh `dest` (empty) and `outside` (the sentinel) under the work dir.
fn fresh() -> (PathBuf, PathBuf) {
    let dir = work_dir();
    let _ = fs::remove_dir_all(dir);
    fs::create_dir_all(dir.join("dest")).expect("the work directory");
    fs::create_dir(dir.join("outside")).expect("the sentinel directory");
    fs::write(dir.join("outside/secret"), SECRET).expect("the sentinel");
    (dir.join("dest"), dir.join("outside"))
}

fn assert_nothing_escaped(outside: &Path) {
    let mut siblings: Vec<_> = fs::read_dir(work_dir())
        .expect("the work directory")
        .map(|e| e.expect("an entry").file_name())
        .collect();
    siblings.sort();
    assert_eq!(
        siblings,
        ["dest", "outside"],
        "something was made next to dest"
    );
    let inside: Vec<_> = fs::read_dir(outside)
        .expect("the sentinel directory")
        .map(|e| e.expect("an entry").file_name())
        .collect();
    assert_eq!(
        inside,
        ["secret"],
        "something was made in the sentinel directory"
    );
    let secret = outside.join("secret");
    let meta = fs::symlink_metadata(&secret).expect("the sentinel");
    assert!(
        meta.is_file() && meta.nlink() == 1 && meta.uid() == 0,
        "the sentinel changed"
    );
    assert_eq!(fs::read(&secret).expect("the sentinel"), SECRET);
    let dir_meta = fs::symlink_metadata(outside).expect("the sentinel directory");
    assert!(
        dir_meta.is_dir() && dir_meta.uid() == 0,
        "the sentinel directory changed"
    );
}

fn sha256(bytes: &[u8]) -> String {
    let hex: String = Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("sha256:{hex}")
}

fn check_error(error: &UnpackError) {
    let text = error.to_string();
    assert!(!text.is_empty(), "empty error");
    assert!(!text.contains('\n'), "a multi-line error: {text:?}");
}

/// Unpacks `stream` into a fresh dest and checks the sentinel.
fn unpack_checked(stream: &[u8], compression: Compression) -> Result<Unpacked, UnpackError> {
    let (dest, outside) = fresh();
    let result = unpack(stream, compression, &dest, &limits());
    assert_nothing_escaped(&outside);
    if let Err(e) = &result {
        check_error(e);
    }
    result
}

pub fn run(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    match mode % 4 {
        0 => plain(rest),
        3 => {
            let mut tar = rest.to_vec();
            fix_checksums(&mut tar);
            plain(&tar);
        }
        1 => {
            let _ = unpack_checked(rest, Compression::Gzip);
        }
        _ => {
            let plain = unpack_checked(rest, Compression::None);
            let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            gz.write_all(rest).expect("gzip into memory");
            let gzipped = gz.finish().expect("gzip into memory");
            let via_gzip = unpack_checked(&gzipped, Compression::Gzip);
            match (plain, via_gzip) {
                (Ok(a), Ok(b)) => assert_eq!(a, b, "gzip changed the outcome"),
                (Err(a), Err(b)) => assert_eq!(
                    std::mem::discriminant(&a),
                    std::mem::discriminant(&b),
                    "gzip changed the error: {a} / {b}"
                ),
                (a, b) => panic!("gzip changed the outcome: {a:?} / {b:?}"),
            }
        }
    }
    let _ = fs::remove_dir_all(work_dir());
}

fn plain(tar: &[u8]) {
    if let Ok(unpacked) = unpack_checked(tar, Compression::None) {
        assert_eq!(unpacked.diff_id.to_string(), sha256(tar));
        diff_again();
    }
}

/// Sets the checksum of every block a tar reader takes for a header: from the
/// start, each header is followed by its data (the octal or base-256 size
/// field, rounded up to 512) and then the next header, up to a zero block.
fn fix_checksums(tar: &mut [u8]) {
    let mut pos = 0usize;
    while let Some(block) = tar.get_mut(pos..pos.saturating_add(512)) {
        if block.iter().all(|&b| b == 0) {
            break;
        }
        block[148..156].fill(b' ');
        let sum: u32 = block.iter().map(|&b| u32::from(b)).sum();
        block[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
        let field = &block[124..136];
        let size = if field[0] & 0x80 != 0 {
            field[4..].iter().fold(0u64, |n, &b| {
                n.saturating_mul(256).saturating_add(u64::from(b))
            })
        } else {
            let text: String = field
                .iter()
                .take_while(|&&b| b != 0)
                .map(|&b| char::from(b))
                .collect();
            u64::from_str_radix(text.trim(), 8).unwrap_or(0)
        };
        let data = usize::try_from(size.div_ceil(512).saturating_mul(512)).unwrap_or(usize::MAX);
        pos = pos.saturating_add(512).saturating_add(data);
    }
}

/// `diff` of what was unpacked, and that tar unpacked again.
fn diff_again() {
    let dest = work_dir().join("dest");
    let mut tar = Vec::new();
    let Ok(diffed) = diff(&dest, &mut tar) else {
        // An upper dir may hold what a tar cannot say (a non-UTF-8 xattr name):
        // an error, which is fine; a panic is not.
        return;
    };
    assert_eq!(diffed.diff_id.to_string(), sha256(&tar));
    assert_eq!(diffed.size, tar.len() as u64);
    match unpack_checked(&tar, Compression::None) {
        Ok(again) => assert_eq!(again.diff_id, diffed.diff_id),
        Err(e) => panic!("a tar diff wrote does not unpack: {e}"),
    }
}
