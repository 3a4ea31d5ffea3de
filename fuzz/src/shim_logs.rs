//! The `shim_logs` target: berth-shim's k8s-file and json-file drivers, with rotation,
//! fed arbitrary chunks of both streams, then read back.
//!
//! Input: three bytes of settings, then operations.
//! - byte 0: the piece size (4..=63 bytes, or Docker's 16 KiB from 240 up);
//! - byte 1: `--log-size-max` (0: none, else 64 * b bytes);
//! - byte 2: `--log-max-files` (b % 4: 0 for 16, else 1, 2 or 3);
//! - then, per operation byte `op`: `op < 0x80` writes the next `op >> 1` bytes of input
//!   (up to 63) to stdout (`op & 1 == 0`) or stderr; `0x80..` picks by `op & 3`: end one
//!   stream (`op & 4`), reopen the files, end both streams, or write the next
//!   `u16` little-endian bytes of input (a long chunk).
//!
//! Properties: every file holds whole records only, each valid for its format, and no more
//! than the size unless it is a single record; with every file kept, the records put back
//! together give exactly what was written (k8s-file) or Go's lossy text of it
//! (json-file); when rotation may have removed files (the last slot is taken), what is
//! left is the end of it. (Each rotation renames every kept file, Docker's naming: more
//! than 16 files would spend the fuzzer's time in rename.)

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use berth_shim::logs::file::numbered;
use berth_shim::logs::read::{files_oldest_first, go_lossy, json_output, k8s_output};
use berth_shim::logs::{Limits, LogConfig, LogTarget, Logs, Stream};

const MOST_FILES: u32 = 16;

fn work_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        // tmpfs when there is one: rotation is a handful of renames per record here.
        let shm = Path::new("/dev/shm");
        let base = if shm.is_dir() {
            shm.to_path_buf()
        } else {
            std::env::temp_dir()
        };
        remove_stale_dirs(&base);
        base.join(format!("berth-fuzz-shim-logs-{}", std::process::id()))
    })
}

/// Work directories of earlier processes that are gone (libFuzzer may stop one in the
/// middle of an input, or after a failed check).
fn remove_stale_dirs(base: &Path) {
    let Ok(entries) = std::fs::read_dir(base) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_prefix("berth-fuzz-shim-logs-"))
        else {
            continue;
        };
        if pid.parse::<u32>().is_ok() && !Path::new("/proc").join(pid).exists() {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

pub fn run(data: &[u8]) {
    let [piece, size, files, ops @ ..] = data else {
        return;
    };
    let piece_max = if *piece >= 240 {
        Limits::default().piece_max
    } else {
        4 + usize::from(*piece % 60)
    };
    let size_max = (*size > 0).then(|| u64::from(*size) * 64);
    let max_files = match files % 4 {
        0 => MOST_FILES,
        n => u32::from(n),
    };
    let dir = work_dir();
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).expect("the work directory");
    let k8s = dir.join("ctr.log");
    let json = dir.join("ctr.json");
    let targets = [
        format!("k8s-file:{}", k8s.display()),
        format!("json-file:{}", json.display()),
    ];
    let config = LogConfig {
        targets: targets
            .iter()
            .map(|t| t.parse::<LogTarget>().expect("a target"))
            .collect(),
        size_max,
        max_files: Some(max_files),
        tag: None,
        cid: "fuzz".into(),
        name: None,
    };
    let limits = Limits {
        piece_max,
        ..Limits::default()
    };
    let mut logs = Logs::open_with_limits(&config, limits).expect("the logs open");

    // What went in, per stream; json-file's expectation is Go's lossy text of each run of
    // output between two ends of the stream (a character cut by an end stays cut).
    let mut written = [Vec::new(), Vec::new()];
    let mut since_end = [Vec::new(), Vec::new()];
    let mut json_want = [Vec::new(), Vec::new()];
    let mut end_of = |i: usize, since_end: &mut [Vec<u8>; 2]| {
        json_want[i].extend_from_slice(go_lossy(&since_end[i]).as_bytes());
        since_end[i].clear();
    };
    let stream_of = |stderr: bool| {
        if stderr {
            Stream::Stderr
        } else {
            Stream::Stdout
        }
    };
    let mut rest = ops;
    while let [op, tail @ ..] = rest {
        rest = tail;
        let (stream, len) = match op {
            0..=0x7f => (stream_of(op & 1 != 0), usize::from(op >> 1)),
            _ => match op & 3 {
                0 => {
                    let stream = stream_of(op & 4 != 0);
                    logs.flush_stream(stream);
                    end_of(usize::from(stream == Stream::Stderr), &mut since_end);
                    continue;
                }
                1 => {
                    logs.reopen().expect("reopen of files in place");
                    continue;
                }
                2 => {
                    logs.flush();
                    end_of(0, &mut since_end);
                    end_of(1, &mut since_end);
                    continue;
                }
                _ => {
                    let [lo, hi, tail @ ..] = rest else { break };
                    rest = tail;
                    (
                        stream_of(op & 4 != 0),
                        usize::from(u16::from_le_bytes([*lo, *hi])),
                    )
                }
            },
        };
        let (chunk, tail) = rest.split_at(len.min(rest.len()));
        rest = tail;
        logs.write(stream, chunk);
        let i = usize::from(stream == Stream::Stderr);
        written[i].extend_from_slice(chunk);
        since_end[i].extend_from_slice(chunk);
    }
    logs.flush();
    end_of(0, &mut since_end);
    end_of(1, &mut since_end);
    let notices = logs.take_notices();
    assert!(notices.is_empty(), "{notices:?}");
    drop(logs);

    let check = |path: &Path, parse: fn(&[u8]) -> bool| -> Vec<u8> {
        let mut all = Vec::new();
        for file in files_oldest_first(path, max_files) {
            let data = std::fs::read(&file).expect("a log file reads");
            let records: Vec<&[u8]> = data.split_inclusive(|&b| b == b'\n').collect();
            assert!(
                data.is_empty() || data.ends_with(b"\n"),
                "{} ends inside a record",
                file.display()
            );
            assert!(
                records.iter().all(|r| parse(r)),
                "{} holds a broken record",
                file.display()
            );
            if let Some(max) = size_max {
                // A line that fits in one file is not split at rotation, so a file may grow
                // to twice the size while such a line is open.
                assert!(
                    data.len() as u64 <= max.saturating_mul(2) || records.len() == 1,
                    "{} is over the size",
                    file.display()
                );
            }
            all.extend_from_slice(&data);
        }
        all
    };
    let k8s_text = check(&k8s, |r| {
        berth_shim::logs::read::parse_k8s_record(r).is_ok()
    });
    let json_text = check(&json, |r| json_output(r).is_ok());
    let got = k8s_output(&k8s_text).expect("k8s-file reads back");
    let got_json = json_output(&json_text).expect("json-file reads back");
    // The oldest slot, once taken, stays taken: only then may a file have been removed.
    let oldest_slot = |path: &Path| numbered(path, max_files.saturating_sub(1).max(1));
    let every_file_kept = size_max.is_none()
        || (max_files > 1 && !oldest_slot(&k8s).exists() && !oldest_slot(&json).exists());
    for (i, (k8s_got, json_got)) in [
        (&got.stdout, &got_json.stdout),
        (&got.stderr, &got_json.stderr),
    ]
    .into_iter()
    .enumerate()
    {
        let want = &written[i];
        let want_json = &json_want[i];
        if every_file_kept {
            assert!(k8s_got == want, "k8s-file stream {i} differs");
            assert!(json_got == want_json, "json-file stream {i} differs");
        } else {
            assert!(
                want.ends_with(k8s_got),
                "k8s-file stream {i} is not the end of the input"
            );
            assert!(
                want_json.ends_with(json_got),
                "json-file stream {i} is not the end of the input"
            );
        }
    }
    // Left in place after a failed check (libFuzzer aborts), for a look at the files.
    let _ = std::fs::remove_dir_all(dir);
}
