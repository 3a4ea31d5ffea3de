//! Reading the shim's log files back (k8s-file, json-file), and the flood: a container
//! that prints mixed-length lines, and the check that they all arrived, whole and in order.

use std::collections::HashMap;
use std::fs::{self, File};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use serde_json::Value;

/// One line of the container's output, put back together from the log's records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    /// `stdout` or `stderr`.
    pub stream: String,
    /// The line without its newline.
    pub text: Vec<u8>,
    /// False for a line the container left without a newline (its last one).
    pub complete: bool,
}

impl LogLine {
    /// The text as a string (lossy).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.text).into_owned()
    }
}

/// Puts partial records back together, per stream, and hands out whole lines in the
/// order their last piece appears in the log.
#[derive(Default)]
struct Assembler {
    pending: HashMap<String, Vec<u8>>,
}

impl Assembler {
    fn piece(&mut self, stream: &str, data: &[u8], ends_line: bool) -> Option<LogLine> {
        let buf = self.pending.entry(stream.to_string()).or_default();
        buf.extend_from_slice(data);
        ends_line.then(|| LogLine {
            stream: stream.to_string(),
            text: std::mem::take(buf),
            complete: true,
        })
    }

    fn rest(self) -> Vec<LogLine> {
        let mut rest: Vec<LogLine> = self
            .pending
            .into_iter()
            .filter(|(_, b)| !b.is_empty())
            .map(|(stream, text)| LogLine {
                stream,
                text,
                complete: false,
            })
            .collect();
        rest.sort_by(|a, b| a.stream.cmp(&b.stream));
        rest
    }
}

/// Calls `f` with each line of a k8s-file log (`TIME STREAM P|F TEXT`), partial records
/// joined, in order; stops at the first error (from `f` or a malformed record).
pub fn for_each_k8s_line(
    path: &Path,
    mut f: impl FnMut(LogLine) -> Result<(), String>,
) -> Result<(), String> {
    let mut asm = Assembler::default();
    k8s_records(path, &mut asm, &mut f)?;
    asm.rest().into_iter().try_for_each(f)
}

fn k8s_records(
    path: &Path,
    asm: &mut Assembler,
    f: &mut dyn FnMut(LogLine) -> Result<(), String>,
) -> Result<(), String> {
    let file = File::open(path).map_err(|e| format!("open {}: {e}", path.display()))?;
    let mut reader = BufReader::with_capacity(1 << 20, file);
    let mut record = Vec::new();
    let mut n = 0u64;
    loop {
        record.clear();
        let got = reader
            .read_until(b'\n', &mut record)
            .map_err(|e| format!("read {}: {e}", path.display()))?;
        if got == 0 {
            return Ok(());
        }
        n += 1;
        let where_ = || format!("{} record {n}", path.display());
        let Some(body) = record.strip_suffix(b"\n") else {
            return Err(format!("{}: no newline at the end of the record", where_()));
        };
        let mut parts = body.splitn(4, |b| *b == b' ');
        let (time, stream, tag) = (parts.next(), parts.next(), parts.next());
        let text = parts.next().unwrap_or(b"");
        let (Some(time), Some(stream), Some(tag)) = (time, stream, tag) else {
            return Err(format!(
                "{}: not `TIME STREAM TAG TEXT`: {:?}",
                where_(),
                short(body)
            ));
        };
        let time = String::from_utf8_lossy(time);
        if !is_rfc3339_nano(&time) {
            return Err(format!("{}: bad timestamp {time:?}", where_()));
        }
        let stream = String::from_utf8_lossy(stream);
        if stream != "stdout" && stream != "stderr" {
            return Err(format!("{}: bad stream {stream:?}", where_()));
        }
        let ends_line = match tag {
            b"F" => true,
            b"P" => false,
            _ => return Err(format!("{}: tag {:?}, not P or F", where_(), short(tag))),
        };
        if let Some(line) = asm.piece(&stream, text, ends_line) {
            f(line)?;
        }
    }
}

/// Calls `f` with each line of a json-file log (Docker's `{"log","stream","time"}` per
/// record; a record whose `log` does not end in a newline is part of a longer line).
pub fn for_each_json_line(
    path: &Path,
    mut f: impl FnMut(LogLine) -> Result<(), String>,
) -> Result<(), String> {
    let mut asm = Assembler::default();
    json_records(path, &mut asm, &mut f)?;
    asm.rest().into_iter().try_for_each(f)
}

fn json_records(
    path: &Path,
    asm: &mut Assembler,
    f: &mut dyn FnMut(LogLine) -> Result<(), String>,
) -> Result<(), String> {
    let file = File::open(path).map_err(|e| format!("open {}: {e}", path.display()))?;
    let reader = BufReader::with_capacity(1 << 20, file);
    for (i, record) in reader.split(b'\n').enumerate() {
        let record = record.map_err(|e| format!("read {}: {e}", path.display()))?;
        let where_ = || format!("{} record {}", path.display(), i + 1);
        let v: Value = serde_json::from_slice(&record)
            .map_err(|e| format!("{}: not JSON ({e}): {:?}", where_(), short(&record)))?;
        let (Some(log), Some(stream), Some(time)) =
            (v["log"].as_str(), v["stream"].as_str(), v["time"].as_str())
        else {
            return Err(format!(
                "{}: lacks log/stream/time: {}",
                where_(),
                short(&record)
            ));
        };
        if !is_rfc3339_nano(time) {
            return Err(format!("{}: bad time {time:?}", where_()));
        }
        let (data, ends_line) = match log.strip_suffix('\n') {
            Some(d) => (d, true),
            None => (log, false),
        };
        if let Some(line) = asm.piece(stream, data.as_bytes(), ends_line) {
            f(line)?;
        }
    }
    Ok(())
}

/// Every line of a k8s-file log; panics on a malformed one.
#[track_caller]
pub fn k8s_lines(path: &Path) -> Vec<LogLine> {
    let mut all = Vec::new();
    let r = for_each_k8s_line(path, |l| {
        all.push(l);
        Ok(())
    });
    r.unwrap_or_else(|e| panic!("{e}"));
    all
}

/// Every line of a json-file log; panics on a malformed one.
#[track_caller]
pub fn json_lines(path: &Path) -> Vec<LogLine> {
    let mut all = Vec::new();
    let r = for_each_json_line(path, |l| {
        all.push(l);
        Ok(())
    });
    r.unwrap_or_else(|e| panic!("{e}"));
    all
}

/// `(stream, text)` of each line, for short comparisons.
pub fn stream_texts(lines: &[LogLine]) -> Vec<(String, String)> {
    lines.iter().map(|l| (l.stream.clone(), l.text())).collect()
}

/// A log file and its rotated copies, oldest first: `PATH.N` ... `PATH.1`, `PATH`
/// (Docker's json-file naming: `.1` is the newest rotated file).
pub fn log_with_rotated(path: &Path) -> Vec<PathBuf> {
    let dir = path.parent().expect("log dir");
    let base = path
        .file_name()
        .expect("log name")
        .to_string_lossy()
        .into_owned();
    let mut rotated: Vec<(u32, PathBuf)> = fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .filter_map(|e| {
                    let name = e.file_name().to_string_lossy().into_owned();
                    let n = name.strip_prefix(&base)?.strip_prefix('.')?.parse().ok()?;
                    Some((n, e.path()))
                })
                .collect()
        })
        .unwrap_or_default();
    rotated.sort_by_key(|r| std::cmp::Reverse(r.0));
    let mut all: Vec<PathBuf> = rotated.into_iter().map(|(_, p)| p).collect();
    if path.exists() {
        all.push(path.to_path_buf());
    }
    all
}

fn short(b: &[u8]) -> String {
    let s = String::from_utf8_lossy(&b[..b.len().min(120)]).into_owned();
    if b.len() > 120 {
        format!("{s}... ({} bytes)", b.len())
    } else {
        s
    }
}

/// `2026-12-05T12:11:17.909447435+00:00` or `...Z`: RFC 3339 with optional fraction.
pub fn is_rfc3339_nano(t: &str) -> bool {
    let b = t.as_bytes();
    let digits =
        |r: std::ops::Range<usize>| b.get(r).is_some_and(|s| s.iter().all(u8::is_ascii_digit));
    let shape = b.len() >= 20
        && digits(0..4)
        && b[4] == b'-'
        && digits(5..7)
        && b[7] == b'-'
        && digits(8..10)
        && b[10] == b'T'
        && digits(11..13)
        && b[13] == b':'
        && digits(14..16)
        && b[16] == b':'
        && digits(17..19);
    if !shape {
        return false;
    }
    let mut rest = &t[19..];
    if let Some(frac) = rest.strip_prefix('.') {
        let n = frac.bytes().take_while(u8::is_ascii_digit).count();
        if n == 0 {
            return false;
        }
        rest = &frac[n..];
    }
    rest == "Z"
        || (rest.len() == 6
            && (rest.starts_with('+') || rest.starts_with('-'))
            && &rest[3..4] == ":")
}

/// Line lengths the flood cycles through: around the 4 KiB and 8 KiB buffer sizes, and
/// past the 64 KiB pipe buffer.
pub const FLOOD_LENGTHS: [usize; 15] = [
    0, 1, 7, 80, 1000, 4095, 4096, 4097, 8191, 8192, 8193, 65535, 65536, 70000, 200_000,
];

/// Every this many stdout lines, one line goes to stderr.
const STDERR_EVERY: u64 = 100;

/// The flood's size in MiB: `$BERTH_SHIM_FLOOD_MB`, default 64 (`make shim-flood` asks
/// for 1024).
pub fn flood_mb() -> u64 {
    std::env::var("BERTH_SHIM_FLOOD_MB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(64)
}

/// Number of stdout lines for about `mb` MiB.
pub fn flood_lines(mb: u64) -> u64 {
    let cycle: usize = FLOOD_LENGTHS.iter().map(|l| l + 8).sum();
    (mb << 20) * FLOOD_LENGTHS.len() as u64 / cycle as u64
}

/// A busybox awk program (run it with `awk` linked into the rootfs) printing `n` stdout
/// lines `I:FILL` (FILL: `FLOOD_LENGTHS[I % 15]` copies of one letter per length), a
/// stderr line `eI` every 100th, then `N:end` and `err-end`, both without a newline.
pub fn flood_awk(n: u64) -> String {
    let lengths: Vec<String> = FLOOD_LENGTHS.iter().map(|l| l.to_string()).collect();
    format!(
        r#"BEGIN {{
  k = split("{}", L, " ")
  for (j = 1; j <= k; j++) {{
    s = sprintf("%c", 96 + j); while (length(s) < L[j]) s = s s; F[j] = substr(s, 1, L[j])
  }}
  for (i = 0; i < {n}; i++) {{
    printf "%d:%s\n", i, F[i % k + 1]
    if (i % {STDERR_EVERY} == 0) printf "e%d\n", i > "/dev/stderr"
  }}
  printf "%d:end", {n}
  printf "err-end" > "/dev/stderr"
}}"#,
        lengths.join(" ")
    )
}

/// Checks, line by line, that a log holds exactly what [`flood_awk`] printed.
pub struct FloodCheck {
    n: u64,
    next_out: u64,
    next_err: u64,
    out_ended: bool,
    err_ended: bool,
}

impl FloodCheck {
    pub fn new(n: u64) -> Self {
        FloodCheck {
            n,
            next_out: 0,
            next_err: 0,
            out_ended: false,
            err_ended: false,
        }
    }

    /// The next line of the log.
    pub fn line(&mut self, l: LogLine) -> Result<(), String> {
        match l.stream.as_str() {
            "stdout" => self.stdout(&l),
            _ => self.stderr(&l),
        }
    }

    fn stdout(&mut self, l: &LogLine) -> Result<(), String> {
        let i = self.next_out;
        if self.out_ended {
            return Err(format!(
                "stdout line after the last one: {:?}",
                short(&l.text)
            ));
        }
        if i == self.n {
            self.out_ended = true;
            return expect_eq(&l.text(), &format!("{i}:end"), "the last stdout line");
        }
        let k = (i % FLOOD_LENGTHS.len() as u64) as usize;
        let prefix = format!("{i}:");
        let ok = l.complete
            && l.text.starts_with(prefix.as_bytes())
            && l.text.len() == prefix.len() + FLOOD_LENGTHS[k]
            && l.text[prefix.len()..].iter().all(|b| *b == b'a' + k as u8);
        if !ok {
            return Err(format!(
                "stdout line {i}: expected {prefix}{{{} x {:?}}}, got {} bytes{}: {:?}",
                FLOOD_LENGTHS[k],
                (b'a' + k as u8) as char,
                l.text.len(),
                if l.complete { "" } else { " (no newline)" },
                short(&l.text)
            ));
        }
        self.next_out += 1;
        Ok(())
    }

    fn stderr(&mut self, l: &LogLine) -> Result<(), String> {
        if self.err_ended {
            return Err(format!(
                "stderr line after the last one: {:?}",
                short(&l.text)
            ));
        }
        if self.next_err >= self.n {
            self.err_ended = true;
            return expect_eq(&l.text(), "err-end", "the last stderr line");
        }
        let want = format!("e{}", self.next_err);
        expect_eq(&l.text(), &want, "stderr line")?;
        if !l.complete {
            return Err(format!("stderr line {want} lost its newline"));
        }
        self.next_err += STDERR_EVERY;
        Ok(())
    }

    /// After the last line: everything was there.
    pub fn finish(&self) -> Result<(), String> {
        if !self.out_ended {
            return Err(format!(
                "stdout ended after {} of {} lines (and the last, without newline)",
                self.next_out, self.n
            ));
        }
        if !self.err_ended {
            return Err(format!(
                "stderr ended before err-end (next expected e{})",
                self.next_err
            ));
        }
        Ok(())
    }
}

fn expect_eq(got: &str, want: &str, what: &str) -> Result<(), String> {
    if got == want {
        Ok(())
    } else {
        Err(format!(
            "{what}: expected {want:?}, got {:?}",
            short(got.as_bytes())
        ))
    }
}

/// The file log drivers, for tests that run over both.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    K8sFile,
    JsonFile,
}

impl LogFormat {
    /// The driver's name on the command line.
    pub fn driver(self) -> &'static str {
        match self {
            LogFormat::K8sFile => "k8s-file",
            LogFormat::JsonFile => "json-file",
        }
    }

    /// Calls `f` with each line of `files` (a log and its rotated copies, oldest first),
    /// read as one stream: a line whose pieces are in two files is still one line. Returns
    /// the lines split that way, as `file: stream, N bytes before the end` (rotation
    /// should never split a line that fits in a file).
    pub fn for_each_line_across(
        self,
        files: &[PathBuf],
        mut f: impl FnMut(LogLine) -> Result<(), String>,
    ) -> Result<Vec<String>, String> {
        let mut asm = Assembler::default();
        let mut splits = Vec::new();
        for (i, file) in files.iter().enumerate() {
            match self {
                LogFormat::K8sFile => k8s_records(file, &mut asm, &mut f)?,
                LogFormat::JsonFile => json_records(file, &mut asm, &mut f)?,
            }
            if i + 1 < files.len() {
                for (stream, pending) in asm.pending.iter().filter(|(_, p)| !p.is_empty()) {
                    splits.push(format!(
                        "{} ends inside a {stream} line ({} bytes of it so far)",
                        file.display(),
                        pending.len()
                    ));
                }
            }
        }
        asm.rest().into_iter().try_for_each(f)?;
        Ok(splits)
    }
}

/// Checks that `files` (a log and its rotated copies, oldest first) hold the flood of `n`
/// lines, all of them and in order; returns the lines split across two files (see
/// [`LogFormat::for_each_line_across`]).
pub fn check_flood(files: &[PathBuf], n: u64, format: LogFormat) -> Result<Vec<String>, String> {
    let mut check = FloodCheck::new(n);
    let splits = format.for_each_line_across(files, |l| check.line(l))?;
    check.finish()?;
    Ok(splits)
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: &str = "2026-12-05T12:11:17.909447435+00:00";

    /// The flood of `n` lines as k8s-file records, long lines cut in 8 KiB `P` pieces.
    fn flood_records(n: u64) -> Vec<String> {
        let mut out = Vec::new();
        let mut line = |stream: &str, text: String, ends: bool| {
            let bytes = text.as_bytes();
            let pieces: Vec<&[u8]> = if bytes.is_empty() {
                vec![b""]
            } else {
                bytes.chunks(8192).collect()
            };
            for (i, p) in pieces.iter().enumerate() {
                let tag = if ends && i + 1 == pieces.len() {
                    "F"
                } else {
                    "P"
                };
                out.push(format!(
                    "{T} {stream} {tag} {}\n",
                    String::from_utf8_lossy(p)
                ));
            }
        };
        for i in 0..n {
            let k = (i % FLOOD_LENGTHS.len() as u64) as usize;
            let fill = ((b'a' + k as u8) as char)
                .to_string()
                .repeat(FLOOD_LENGTHS[k]);
            line("stdout", format!("{i}:{fill}"), true);
            if i % STDERR_EVERY == 0 {
                line("stderr", format!("e{i}"), true);
            }
        }
        line("stdout", format!("{n}:end"), false);
        line("stderr", "err-end".into(), false);
        out
    }

    fn write(dir: &Path, name: &str, records: &[String]) -> PathBuf {
        let p = dir.join(name);
        fs::write(&p, records.concat()).unwrap();
        p
    }

    fn scratch(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("shim-logs-{name}-{}", std::process::id()));
        fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn the_whole_flood_passes_and_a_cut_between_files_is_reported() {
        let d = scratch("whole");
        let recs = flood_records(40);
        let one = write(&d, "one.log", &recs);
        assert_eq!(check_flood(&[one], 40, LogFormat::K8sFile), Ok(vec![]));
        // Cut inside the 200000-byte line (line 14): nothing lost, one split.
        let cut = recs.iter().position(|r| r.contains(" P 14:")).unwrap() + 1;
        let a = write(&d, "a.log", &recs[..cut]);
        let b = write(&d, "b.log", &recs[cut..]);
        let splits = check_flood(&[a, b], 40, LogFormat::K8sFile).unwrap();
        assert_eq!(splits.len(), 1, "{splits:?}");
        fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn a_lost_record_a_lost_line_or_a_reordering_fails() {
        let d = scratch("lost");
        let recs = flood_records(40);
        let piece = recs.iter().position(|r| r.contains(" P 13:")).unwrap();
        let mut lost_piece = recs.clone();
        lost_piece.remove(piece);
        let f = write(&d, "piece.log", &lost_piece);
        assert!(check_flood(&[f], 40, LogFormat::K8sFile)
            .unwrap_err()
            .contains("line 13"));
        let line = recs.iter().position(|r| r.contains(" F 3:")).unwrap();
        let mut lost_line = recs.clone();
        lost_line.remove(line);
        let f = write(&d, "line.log", &lost_line);
        assert!(check_flood(&[f], 40, LogFormat::K8sFile)
            .unwrap_err()
            .contains("line 3"));
        let mut swapped = recs.clone();
        swapped.swap(line, line + 1);
        let f = write(&d, "swap.log", &swapped);
        assert!(check_flood(&[f], 40, LogFormat::K8sFile).is_err());
        let f = write(&d, "short.log", &recs[..recs.len() - 2]);
        assert!(check_flood(&[f], 40, LogFormat::K8sFile)
            .unwrap_err()
            .contains("ended"));
        fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn timestamps_are_checked() {
        assert!(is_rfc3339_nano(T));
        assert!(is_rfc3339_nano("2026-12-05T12:11:17.9Z"));
        assert!(is_rfc3339_nano("2026-12-05T12:11:17Z"));
        assert!(!is_rfc3339_nano("stdout"));
        assert!(!is_rfc3339_nano("2026-12-05 12:11:17Z"));
        assert!(!is_rfc3339_nano("2026-12-05T12:11:17."));
    }
}
