//! `read_logs` on hand-written files in both formats.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;

use super::files::numbered;
use super::*;

/// 2026-12-05T12:11:17Z
const T0: i64 = 1_796_472_677_000_000_000;

fn k8s(at: i64, stream: &str, tag: &str, text: &str) -> String {
    let stamp = format_timestamp(T0 + at * 1_000_000_000).replace('Z', "+00:00");
    format!("{stamp} {stream} {tag} {text}\n")
}

fn json(at: i64, stream: &str, log: &str) -> String {
    let time = format_timestamp(T0 + at * 1_000_000_000);
    format!(
        "{}\n",
        serde_json::json!({"log": log, "stream": stream, "time": time})
    )
}

fn read(path: &Path, format: LogFormat, options: &LogOptions) -> Vec<(LogStream, String)> {
    let mut got = Vec::new();
    read_logs(path, format, options, &|| false, &mut |r| {
        got.push((r.stream, String::from_utf8_lossy(&r.line).into_owned()));
        Ok(())
    })
    .expect("read_logs");
    got
}

fn texts(lines: &[(LogStream, String)]) -> Vec<&str> {
    lines.iter().map(|(_, t)| t.as_str()).collect()
}

fn append(path: &Path, text: &str) {
    let mut f = OpenOptions::new()
        .append(true)
        .create(true)
        .open(path)
        .expect("open log");
    f.write_all(text.as_bytes()).expect("write log");
}

fn log_path(dir: &tempfile::TempDir) -> PathBuf {
    dir.path().join("ctr.log")
}

#[test]
fn json_file_pieces_join_and_garbage_is_skipped() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = log_path(&dir);
    let text = [
        json(1, "stdout", "hello\n"),
        "not json at all\n".to_string(),
        json(2, "stdout", "a long "),
        json(2, "stderr", "oops\n"),
        "{\"log\":\"x\\n\",\"stream\":\"stdout\"}\n".to_string(),
        json(3, "stdout", "line\n"),
        json(4, "stderr", "unfinished"),
    ]
    .concat();
    fs::write(&path, text).expect("write");
    let got = read(&path, LogFormat::JsonFile, &LogOptions::default());
    assert_eq!(
        got,
        [
            (LogStream::Stdout, "hello\n".to_string()),
            (LogStream::Stderr, "oops\n".to_string()),
            (LogStream::Stdout, "a long line\n".to_string()),
            (LogStream::Stderr, "unfinished".to_string()),
        ]
    );
}

#[test]
fn k8s_file_pieces_join_and_garbage_is_skipped() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = log_path(&dir);
    let text = [
        k8s(1, "stdout", "F", "hello"),
        k8s(2, "stdout", "P", "a long "),
        "2026-12-05T12:11:17 stdout F bad time\n".to_string(),
        k8s(2, "stderr", "F", "oops"),
        "\n".to_string(),
        k8s(3, "stdout", "F", "line"),
        k8s(4, "stdout", "F", ""),
        "\u{0}\u{1}garbage\n".to_string(),
        // A record cut off by a crash: no newline at the end of the file.
        k8s(5, "stdout", "F", "cut").trim_end().to_string(),
    ]
    .concat();
    fs::write(&path, text).expect("write");
    let got = read(&path, LogFormat::K8sFile, &LogOptions::default());
    assert_eq!(texts(&got), ["hello\n", "oops\n", "a long line\n", "\n"]);
    assert_eq!(got[1].0, LogStream::Stderr);
}

#[test]
fn rotated_files_are_read_oldest_first_with_lines_across_them() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = log_path(&dir);
    fs::write(numbered(&path, 2), k8s(1, "stdout", "F", "one")).expect("write");
    let one = [k8s(2, "stdout", "F", "two"), k8s(3, "stdout", "P", "thr")].concat();
    fs::write(numbered(&path, 1), one).expect("write");
    fs::write(&path, k8s(4, "stdout", "F", "ee")).expect("write");
    // Past a gap: not a file of this log's rotation.
    fs::write(numbered(&path, 4), k8s(0, "stdout", "F", "stray")).expect("write");
    let got = read(&path, LogFormat::K8sFile, &LogOptions::default());
    assert_eq!(texts(&got), ["one\n", "two\n", "three\n"]);
}

#[test]
fn a_missing_log_is_empty() {
    let dir = tempfile::tempdir().expect("tempdir");
    let got = read(&log_path(&dir), LogFormat::JsonFile, &LogOptions::default());
    assert!(got.is_empty());
}

fn numbered_lines(path: &Path, n: i64) {
    let text: String = (0..n)
        .map(|i| json(i, "stdout", &format!("line {i}\n")))
        .collect();
    fs::write(path, text).expect("write");
}

#[test]
fn tail_counts_whole_lines_at_the_end() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = log_path(&dir);
    let text = [
        json(1, "stdout", "one\n"),
        json(2, "stdout", "tw"),
        json(2, "stdout", "o\n"),
        json(3, "stdout", "thr"),
        json(3, "stdout", "ee\n"),
    ]
    .concat();
    fs::write(&path, text).expect("write");
    let tail = |n| LogOptions {
        tail: Some(n),
        ..LogOptions::default()
    };
    assert_eq!(
        texts(&read(&path, LogFormat::JsonFile, &tail(2))),
        ["two\n", "three\n"]
    );
    assert!(read(&path, LogFormat::JsonFile, &tail(0)).is_empty());
    assert_eq!(read(&path, LogFormat::JsonFile, &tail(10)).len(), 3);
}

#[test]
fn since_and_until_bound_the_lines_by_time() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = log_path(&dir);
    numbered_lines(&path, 10);
    let s = |n: i64| T0 + n * 1_000_000_000;
    let options = LogOptions {
        since: Some(s(3)),
        until: Some(s(5)),
        ..LogOptions::default()
    };
    let got = read(&path, LogFormat::JsonFile, &options);
    assert_eq!(texts(&got), ["line 3\n", "line 4\n", "line 5\n"]);
    let options = LogOptions {
        until: Some(s(5)),
        tail: Some(2),
        ..LogOptions::default()
    };
    let got = read(&path, LogFormat::JsonFile, &options);
    assert_eq!(texts(&got), ["line 4\n", "line 5\n"]);
}

#[test]
fn timestamps_are_printed_before_the_line() {
    let record = LogRecord {
        stream: LogStream::Stdout,
        time: T0 + 5_000,
        line: b"hi\n".to_vec(),
    };
    let mut out = Vec::new();
    write_record(&mut out, &record, true).expect("write");
    assert_eq!(out, b"2026-12-05T12:11:17.000005000Z hi\n");
    out.clear();
    write_record(&mut out, &record, false).expect("write");
    assert_eq!(out, b"hi\n");
}

/// Swaps a fresh live file in as berth-shim does with several files kept.
fn rotate(path: &Path, kept: u32) {
    for k in (1..kept).rev() {
        let from = numbered(path, k);
        if from.exists() {
            fs::rename(&from, numbered(path, k + 1)).expect("shift");
        }
    }
    let tmp = path.with_extension("log.tmp");
    fs::write(&tmp, "").expect("fresh file");
    nix::fcntl::renameat2(
        nix::fcntl::AT_FDCWD,
        &tmp,
        nix::fcntl::AT_FDCWD,
        path,
        nix::fcntl::RenameFlags::RENAME_EXCHANGE,
    )
    .expect("exchange");
    fs::rename(&tmp, numbered(path, 1)).expect("old live file to .1");
}

/// Follows the log in a thread; the returned receiver gets each line as it is read.
fn follower(
    path: PathBuf,
    format: LogFormat,
    options: LogOptions,
    running: &'static AtomicBool,
) -> (
    mpsc::Receiver<String>,
    std::thread::JoinHandle<Result<(), LogError>>,
) {
    let (tx, rx) = mpsc::channel();
    let handle = std::thread::spawn(move || {
        read_logs(
            &path,
            format,
            &options,
            &|| running.load(Ordering::SeqCst),
            &mut |r| {
                let _ = tx.send(String::from_utf8_lossy(&r.line).into_owned());
                Ok(())
            },
        )
    });
    (rx, handle)
}

#[test]
fn follow_reads_on_across_rotations_until_the_container_stops() {
    static RUNNING: AtomicBool = AtomicBool::new(true);
    let dir = tempfile::tempdir().expect("tempdir");
    let path = log_path(&dir);
    append(&path, &k8s(0, "stdout", "F", "before"));
    let options = LogOptions {
        follow: true,
        ..LogOptions::default()
    };
    let (rx, handle) = follower(path.clone(), LogFormat::K8sFile, options, &RUNNING);
    assert_eq!(rx.recv().expect("first line"), "before\n");
    // Written once the follower is at the end of the live file: the rest of the old file,
    // a line cut across the rotation, two rotations in a row.
    append(&path, &k8s(1, "stdout", "F", "late in the old file"));
    append(&path, &k8s(1, "stdout", "P", "across "));
    rotate(&path, 5);
    append(&path, &k8s(2, "stdout", "F", "the rotation"));
    rotate(&path, 5);
    append(&path, &k8s(3, "stderr", "F", "third file"));
    assert_eq!(rx.recv().expect("line"), "late in the old file\n");
    assert_eq!(rx.recv().expect("line"), "across the rotation\n");
    assert_eq!(rx.recv().expect("line"), "third file\n");
    append(&path, &k8s(4, "stdout", "F", "last words"));
    append(&path, &k8s(4, "stdout", "P", "no newline"));
    RUNNING.store(false, Ordering::SeqCst);
    handle.join().expect("follower thread").expect("read_logs");
    let rest: Vec<String> = rx.iter().collect();
    assert_eq!(rest, ["last words\n", "no newline"]);
}

#[test]
fn follow_goes_on_when_one_file_is_kept_and_replaced() {
    static RUNNING: AtomicBool = AtomicBool::new(true);
    let dir = tempfile::tempdir().expect("tempdir");
    let path = log_path(&dir);
    let options = LogOptions {
        follow: true,
        tail: Some(1),
        ..LogOptions::default()
    };
    append(&path, &json(0, "stdout", "old, not in the tail\n"));
    append(&path, &json(0, "stdout", "the tail\n"));
    let (rx, handle) = follower(path.clone(), LogFormat::JsonFile, options, &RUNNING);
    assert_eq!(rx.recv().expect("line"), "the tail\n");
    append(&path, &json(1, "stdout", "new\n"));
    assert_eq!(rx.recv().expect("line"), "new\n");
    // conmon's way: the fresh file renamed over the live one.
    let tmp = path.with_extension("log.tmp");
    fs::write(&tmp, json(2, "stdout", "fresh\n")).expect("write");
    fs::rename(&tmp, &path).expect("rename over");
    assert_eq!(rx.recv().expect("line"), "fresh\n");
    RUNNING.store(false, Ordering::SeqCst);
    handle.join().expect("follower thread").expect("read_logs");
    assert!(rx.iter().next().is_none());
}

#[test]
fn follow_waits_for_a_log_that_is_not_there_yet() {
    static RUNNING: AtomicBool = AtomicBool::new(true);
    let dir = tempfile::tempdir().expect("tempdir");
    let path = log_path(&dir);
    let options = LogOptions {
        follow: true,
        ..LogOptions::default()
    };
    let (rx, handle) = follower(path.clone(), LogFormat::JsonFile, options, &RUNNING);
    append(&path, &json(1, "stdout", "first\n"));
    assert_eq!(rx.recv().expect("line"), "first\n");
    RUNNING.store(false, Ordering::SeqCst);
    handle.join().expect("follower thread").expect("read_logs");
}

#[test]
fn a_failing_output_stops_the_reader_with_its_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = log_path(&dir);
    numbered_lines(&path, 3);
    let err = read_logs(
        &path,
        LogFormat::JsonFile,
        &LogOptions::default(),
        &|| false,
        &mut |_| Err(std::io::Error::from(std::io::ErrorKind::BrokenPipe)),
    )
    .expect_err("the output failed");
    assert!(matches!(err, LogError::Output(e) if e.kind() == std::io::ErrorKind::BrokenPipe));
}
