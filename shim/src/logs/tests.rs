//! The drivers together, as the event loop drives them: command-line targets, several
//! drivers at once, floods in random chunks with rotation, reopen.

use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};

use super::read::{files_oldest_first, go_lossy, json_output, k8s_output, Output};
use super::testutil::{Rng, TempDir};
use super::*;

fn target(arg: &str) -> Result<LogTarget, String> {
    arg.parse::<LogTarget>().map_err(|e| e.to_string())
}

fn config(targets: &[String], size_max: Option<u64>, max_files: Option<u32>) -> LogConfig {
    LogConfig {
        targets: targets.iter().map(|t| target(t).unwrap()).collect(),
        size_max,
        max_files,
        tag: None,
        cid: "0123456789abcdef0123".into(),
        name: None,
    }
}

fn concat(files: &[PathBuf]) -> Vec<u8> {
    files
        .iter()
        .flat_map(|f| std::fs::read(f).unwrap())
        .collect()
}

#[test]
fn targets_parse_as_conmon_and_docker_write_them() {
    let k8s = target("k8s-file:/run/ctr.log").unwrap();
    assert_eq!(k8s.driver, Driver::K8sFile);
    assert_eq!(k8s.path, Some(PathBuf::from("/run/ctr.log")));
    assert_eq!(target("/run/ctr.log").unwrap().driver, Driver::K8sFile);
    assert_eq!(target("json-file:/x").unwrap().driver, Driver::JsonFile);
    assert_eq!(target("syslog").unwrap().path, None);
    assert_eq!(
        target("syslog:unixgram:///dev/log").unwrap().path,
        Some(PathBuf::from("unixgram:///dev/log"))
    );
    assert_eq!(target("passthrough").unwrap().driver, Driver::Passthrough);
    assert_eq!(target("none").unwrap().driver, Driver::None);
    // conmon's spellings.
    assert_eq!(target(":/run/ctr.log").unwrap().driver, Driver::K8sFile);
    assert_eq!(target("off").unwrap().driver, Driver::None);
    assert_eq!(target("null").unwrap().driver, Driver::None);
}

#[test]
fn bad_targets_are_errors_that_name_the_argument() {
    for (arg, what) in [
        ("k8s-file:", "needs a file path"),
        ("json-file", "needs a file path"),
        ("journald", "unknown log driver"),
        ("syslog:udp://10.0.0.1:514", "unixgram:///"),
        ("syslog:unixgram://relative", "unixgram:///"),
    ] {
        let err = target(arg).unwrap_err();
        assert!(err.contains(what) && err.contains(arg), "{arg}: {err}");
    }
}

#[test]
fn every_driver_at_once_gets_every_line() {
    let dir = TempDir::new("all-drivers");
    let socket_path = dir.path().join("log.sock");
    let receiver = UnixDatagram::bind(&socket_path).unwrap();
    receiver.set_nonblocking(true).unwrap();
    let k8s = dir.path().join("ctr.log");
    let json = dir.path().join("ctr.json");
    let targets = [
        format!("k8s-file:{}", k8s.display()),
        format!("json-file:{}", json.display()),
        format!("syslog:unixgram://{}", socket_path.display()),
        "none".to_string(),
    ];
    let mut logs = Logs::open(&config(&targets, None, None)).unwrap();
    assert!(!logs.passthrough());
    logs.write(Stream::Stdout, b"out <1>\nout ");
    logs.write(Stream::Stderr, b"err\n");
    logs.write(Stream::Stdout, b"2\n");
    logs.flush();
    logs.sync();

    let k8s = k8s_output(&std::fs::read(k8s).unwrap()).unwrap();
    assert_eq!(k8s.stdout, b"out <1>\nout 2\n");
    assert_eq!(k8s.stderr, b"err\n");
    let json_text = std::fs::read_to_string(json).unwrap();
    assert!(
        json_text.contains(r#""log":"out \u003c1\u003e\n""#),
        "{json_text}"
    );
    assert_eq!(json_output(json_text.as_bytes()).unwrap(), k8s);
    let mut datagrams = Vec::new();
    let mut buf = [0u8; 1024];
    while let Ok(n) = receiver.recv(&mut buf) {
        let datagram = String::from_utf8_lossy(&buf[..n]).into_owned();
        datagrams.push(datagram.split_once("]: ").unwrap().1.to_string());
    }
    assert_eq!(datagrams, ["out <1>\n", "err\n", "out 2\n"]);
}

#[test]
fn syslog_tag_is_the_short_id_or_log_tag() {
    let dir = TempDir::new("syslog-tag");
    let socket_path = dir.path().join("log.sock");
    let receiver = UnixDatagram::bind(&socket_path).unwrap();
    let targets = [format!("syslog:unixgram://{}", socket_path.display())];
    let mut buf = [0u8; 1024];
    for (tag, expected) in [(None, "0123456789ab["), (Some("web"), "web[")] {
        let mut config = config(&targets, None, None);
        config.tag = tag.map(String::from);
        let mut logs = Logs::open(&config).unwrap();
        logs.write(Stream::Stdout, b"x\n");
        let n = receiver.recv(&mut buf).unwrap();
        let datagram = String::from_utf8_lossy(&buf[..n]).into_owned();
        assert!(datagram.contains(&format!(" {expected}")), "{datagram}");
    }
}

#[test]
fn passthrough_writes_nothing_and_says_so() {
    let mut logs = Logs::open(&config(&["passthrough".into()], None, None)).unwrap();
    assert!(logs.passthrough());
    logs.write(Stream::Stdout, b"nowhere\n");
    assert!(logs.take_notices().is_empty());
}

#[test]
fn an_unwritable_log_path_is_an_error_naming_it() {
    let targets = ["k8s-file:/nonexistent-dir/ctr.log".to_string()];
    let err = Logs::open(&config(&targets, None, None)).err().unwrap();
    assert!(
        err.to_string().contains("/nonexistent-dir/ctr.log"),
        "{err}"
    );
}

/// Lines of every length class (empty, short, around the piece size, far beyond it), with
/// invalid UTF-8, characters of every width, controls and JSON's special characters.
fn flood(rng: &mut Rng, bytes: usize) -> Vec<u8> {
    const ALPHABET: &[&[u8]] = &[
        b"a",
        b"Z",
        b" ",
        b"<",
        b">",
        b"&",
        b"\"",
        b"\\",
        b"\t",
        b"\r",
        b"\x00",
        b"\x1b",
        "é".as_bytes(),
        "€".as_bytes(),
        "😀".as_bytes(),
        "\u{2028}".as_bytes(),
        b"\xff",
        b"\xe2\x82",
        b"\xc3",
        b"\xed\xa0\x80",
    ];
    let mut out = Vec::with_capacity(bytes + 100_000);
    while out.len() < bytes {
        let len = match rng.below(10) {
            0 => 0,
            1..=5 => rng.below(120),
            6 | 7 => rng.below(4000),
            8 => lines::PIECE_MAX - 4 + rng.below(8),
            _ => rng.below(70_000),
        };
        let end = out.len() + len;
        while out.len() < end {
            out.extend_from_slice(ALPHABET[rng.below(ALPHABET.len())]);
        }
        out.push(b'\n');
    }
    // And an unfinished last line.
    out.extend_from_slice(b"no newline at the end \xe2\x82");
    out
}

/// Writes both streams in random chunk sizes, interleaved at random, the way pipes deliver.
fn write_interleaved(logs: &mut Logs, rng: &mut Rng, stdout: &[u8], stderr: &[u8]) {
    let (mut out, mut err) = (stdout, stderr);
    while !out.is_empty() || !err.is_empty() {
        let pick_out = err.is_empty() || (!out.is_empty() && rng.below(2) == 0);
        let (stream, rest) = if pick_out {
            (Stream::Stdout, &mut out)
        } else {
            (Stream::Stderr, &mut err)
        };
        let size = match rng.below(4) {
            0 => 1 + rng.below(16),
            1 => 1 + rng.below(4096),
            _ => 1 + rng.below(65_536),
        }
        .min(rest.len());
        logs.write(stream, &rest[..size]);
        *rest = &rest[size..];
    }
    logs.flush();
}

/// Every file holds whole records only, and no more than `size_max` bytes (twice that when
/// a line was open at the size) unless it holds a single record.
fn check_files(files: &[PathBuf], size_max: u64, parse: fn(&[u8]) -> bool) {
    for file in files {
        let data = std::fs::read(file).unwrap();
        assert!(
            data.ends_with(b"\n"),
            "{} ends inside a record",
            file.display()
        );
        let records: Vec<&[u8]> = data.split_inclusive(|&b| b == b'\n').collect();
        assert!(
            records.iter().all(|r| parse(r)),
            "{} holds a broken record",
            file.display()
        );
        assert!(
            data.len() as u64 <= 2 * size_max || records.len() == 1,
            "{} is {} bytes, over {size_max}",
            file.display(),
            data.len()
        );
    }
}

fn rotated_flood_gives_back_the_input(seed: u64, size_max: u64, bytes: usize) {
    let dir = TempDir::new("flood");
    let mut rng = Rng::new(seed);
    let stdout = flood(&mut rng, bytes * 3 / 4);
    let stderr = flood(&mut rng, bytes / 4);
    let k8s = dir.path().join("ctr.log");
    let json = dir.path().join("ctr.json");
    let targets = [
        format!("k8s-file:{}", k8s.display()),
        format!("json-file:{}", json.display()),
    ];
    let max_files = 10_000;
    let mut logs = Logs::open(&config(&targets, Some(size_max), Some(max_files))).unwrap();
    write_interleaved(&mut logs, &mut rng, &stdout, &stderr);
    logs.sync();
    assert!(logs.take_notices().is_empty());

    let k8s_files = files_oldest_first(&k8s, max_files);
    assert!(k8s_files.len() >= 2, "{} files", k8s_files.len());
    check_files(&k8s_files, size_max, |r| read::parse_k8s_record(r).is_ok());
    let got = k8s_output(&concat(&k8s_files)).unwrap();
    assert!(
        got.stdout == stdout,
        "k8s-file stdout differs (seed {seed})"
    );
    assert!(
        got.stderr == stderr,
        "k8s-file stderr differs (seed {seed})"
    );

    let json_files = files_oldest_first(&json, max_files);
    check_files(&json_files, size_max, |r| json_output(r).is_ok());
    let got = json_output(&concat(&json_files)).unwrap();
    let want = Output {
        stdout: go_lossy(&stdout).into_bytes(),
        stderr: go_lossy(&stderr).into_bytes(),
    };
    assert!(got == want, "json-file differs (seed {seed})");
}

#[test]
fn a_rotated_flood_in_random_chunks_reassembles_exactly_small_files() {
    rotated_flood_gives_back_the_input(1, 50_000, 2_000_000);
}

#[test]
fn a_rotated_flood_in_random_chunks_reassembles_exactly_files_smaller_than_a_piece() {
    rotated_flood_gives_back_the_input(2, 5_000, 500_000);
}

#[test]
fn a_rotated_flood_in_random_chunks_reassembles_exactly_large_files() {
    rotated_flood_gives_back_the_input(3, 700_000, 2_000_000);
}

#[test]
fn rotation_keeps_the_newest_files_and_removes_the_oldest() {
    let dir = TempDir::new("rotate-count");
    let path = dir.path().join("ctr.log");
    let targets = [format!("k8s-file:{}", path.display())];
    let mut logs = Logs::open(&config(&targets, Some(200), Some(3))).unwrap();
    let lines: Vec<String> = (0..100).map(|i| format!("line {i:03}\n")).collect();
    for line in &lines {
        logs.write(Stream::Stdout, line.as_bytes());
    }
    let files = files_oldest_first(&path, 100);
    assert_eq!(files.len(), 3, "{files:?}");
    let kept = k8s_output(&concat(&files)).unwrap().stdout;
    // What is kept is the newest lines, whole and in order, up to the last one.
    let all: Vec<u8> = lines.concat().into_bytes();
    assert!(
        all.ends_with(&kept) && kept.starts_with(b"line "),
        "{kept:?}"
    );
    // Two full files of three 52-byte records, and the live one.
    assert!(kept.len() >= 7 * 9, "{kept:?}");
}

#[test]
fn a_line_without_newline_never_piles_up_in_memory_or_in_one_record() {
    let dir = TempDir::new("endless-line");
    let k8s = dir.path().join("ctr.log");
    let json = dir.path().join("ctr.json");
    let targets = [
        format!("k8s-file:{}", k8s.display()),
        format!("json-file:{}", json.display()),
    ];
    let mut logs = Logs::open(&config(&targets, None, None)).unwrap();
    let chunk = [b'x'; 50_000];
    for _ in 0..40 {
        logs.write(Stream::Stdout, &chunk);
    }
    // Before the end of the stream, all but less than one piece is on disk already.
    for path in [&k8s, &json] {
        let data = std::fs::read(path).unwrap();
        let longest = data.split(|&b| b == b'\n').map(<[u8]>::len).max().unwrap();
        assert!(longest < lines::PIECE_MAX + 100, "{}", path.display());
    }
    let json_text = std::fs::read(&json).unwrap();
    let written = json_output(&json_text).unwrap().stdout.len();
    assert!(written > 40 * 50_000 - lines::PIECE_MAX, "{written}");
    logs.flush();
    let json_text = std::fs::read(&json).unwrap();
    assert_eq!(json_output(&json_text).unwrap().stdout.len(), 40 * 50_000);
}

#[test]
fn dropping_the_logs_writes_the_unfinished_lines() {
    let dir = TempDir::new("drop");
    let json = dir.path().join("ctr.json");
    let targets = [format!("json-file:{}", json.display())];
    let mut logs = Logs::open(&config(&targets, None, None)).unwrap();
    logs.write(Stream::Stdout, b"a prompt: ");
    logs.write(Stream::Stderr, b"half");
    drop(logs);
    let got = json_output(&std::fs::read(&json).unwrap()).unwrap();
    assert_eq!(got.stdout, b"a prompt: ");
    assert_eq!(got.stderr, b"half");
}

#[test]
fn reopen_after_logrotate_moved_the_files_loses_nothing() {
    let dir = TempDir::new("reopen");
    let k8s = dir.path().join("ctr.log");
    let json = dir.path().join("ctr.json");
    let targets = [
        format!("k8s-file:{}", k8s.display()),
        format!("json-file:{}", json.display()),
    ];
    let mut logs = Logs::open(&config(&targets, None, None)).unwrap();
    logs.write(Stream::Stdout, b"one\ntw");
    let moved = |p: &Path| PathBuf::from(format!("{}.moved", p.display()));
    std::fs::rename(&k8s, moved(&k8s)).unwrap();
    std::fs::rename(&json, moved(&json)).unwrap();
    logs.write(Stream::Stdout, b"o\n");
    logs.reopen().unwrap();
    logs.write(Stream::Stdout, b"three\n");

    let k8s_all = concat(&[moved(&k8s), k8s.clone()]);
    assert_eq!(k8s_output(&k8s_all).unwrap().stdout, b"one\ntwo\nthree\n");
    assert_eq!(
        k8s_output(&std::fs::read(&k8s).unwrap()).unwrap().stdout,
        b"three\n"
    );
    let json_all = concat(&[moved(&json), json.clone()]);
    assert_eq!(json_output(&json_all).unwrap().stdout, b"one\ntwo\nthree\n");
}

#[test]
fn reopen_reports_a_path_that_cannot_be_opened_and_keeps_writing() {
    let dir = TempDir::new("reopen-fail");
    let sub = dir.path().join("sub");
    std::fs::create_dir(&sub).unwrap();
    let k8s = sub.join("ctr.log");
    let targets = [format!("k8s-file:{}", k8s.display())];
    let mut logs = Logs::open(&config(&targets, None, None)).unwrap();
    let moved = dir.path().join("moved");
    std::fs::rename(&sub, &moved).unwrap();
    let err = logs.reopen().unwrap_err().to_string();
    assert!(err.contains("sub/ctr.log"), "{err}");
    logs.write(Stream::Stdout, b"still here\n");
    let kept = std::fs::read(moved.join("ctr.log")).unwrap();
    assert_eq!(k8s_output(&kept).unwrap().stdout, b"still here\n");
}

#[test]
fn notices_nobody_takes_stay_bounded() {
    let mut notices = Notices::default();
    for i in 0..10_000 {
        notices.push(format!("notice {i}"));
    }
    let taken = notices.take();
    assert_eq!(taken.len(), Notices::MAX + 1);
    assert!(taken.last().unwrap().contains("9936 more"), "{taken:?}");
    assert!(notices.take().is_empty());
}

/// MB/s of each file driver over a flood of ~100-byte lines in 64 KiB chunks, on tmpfs so
/// that the disk does not count: `cargo test --release -p berth-shim throughput -- --ignored
/// --nocapture`.
#[test]
#[ignore]
fn throughput() {
    let base = Path::new("/dev/shm");
    let dir = TempDir::new("throughput");
    let dir_path = if base.is_dir() {
        base.join(format!("berth-shim-throughput-{}", std::process::id()))
    } else {
        dir.path().join("x")
    };
    std::fs::create_dir_all(&dir_path).unwrap();
    let mut rng = Rng::new(7);
    let mut chunk = Vec::new();
    while chunk.len() < 64 * 1024 {
        let len = rng.below(200);
        chunk.extend((0..len).map(|i| b'a' + (i % 26) as u8));
        chunk.push(b'\n');
    }
    chunk.truncate(64 * 1024);
    let total = 512 << 20;
    for driver in ["k8s-file", "json-file"] {
        let path = dir_path.join(driver);
        let targets = [format!("{driver}:{}", path.display())];
        let mut logs = Logs::open(&config(&targets, Some(64 << 20), Some(2))).unwrap();
        let started = std::time::Instant::now();
        for _ in 0..total / chunk.len() {
            logs.write(Stream::Stdout, &chunk);
        }
        logs.flush();
        let seconds = started.elapsed().as_secs_f64();
        println!("{driver}: {:.0} MB/s", total as f64 / seconds / 1e6);
    }
    let _ = std::fs::remove_dir_all(&dir_path);
}

#[test]
fn syslog_without_an_address_goes_to_dev_log() {
    match Logs::open(&config(&["syslog".into()], None, None)) {
        Ok(_) => assert!(Path::new("/dev/log").exists()),
        Err(e) => assert!(e.to_string().contains("/dev/log"), "{e}"),
    }
}
