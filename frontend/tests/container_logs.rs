//! `container::logs` on the files the real berth-shim writes: a busybox container prints
//! numbered lines on both streams and a line long enough to be cut into pieces, into a
//! json-file or k8s-file log rotated every few KiB; a follower started with the container
//! reads every line whole and in order while it writes, and stops once it has exited.

use std::path::Path;
use std::time::Duration;

use berth_engine::container::logs::{read_logs, LogFormat, LogOptions, LogStream};
use integration::Test;

const TIMEOUT: Duration = Duration::from_secs(60);
const LONG: usize = 40_000;

/// Prints `out 0`..`out 199` (and `err N` on stderr every 50), a 40000-byte line, then
/// waits (20 s at most) for the follower to create /shared/go, says whether it came,
/// prints `out 200`..`out 399` and ends without a newline.
const SCRIPT: &str = r#"
i=0
while [ $i -lt 200 ]; do
  echo "out $i ................................................"
  if [ $((i % 50)) -eq 0 ]; then echo "err $i" >&2; fi
  i=$((i+1))
done
head -c 40000 /dev/zero | tr '\0' y; echo
n=0
while [ ! -e /shared/go ] && [ $n -lt 400 ]; do sleep 0.05; n=$((n+1)); done
if [ -e /shared/go ]; then echo "go seen"; else echo "go never came"; fi
while [ $i -lt 400 ]; do
  echo "out $i ................................................"
  i=$((i+1))
done
printf 'no newline'
"#;

fn out_line(i: usize) -> String {
    format!("out {i} ................................................\n")
}

fn follow_while_the_container_writes(name: &str, driver: &str, format: LogFormat) {
    let Some(t) = Test::new(name) else {
        return;
    };
    let shared = t.host_dir("shared");
    let b = t
        .bundle()
        .bind(&shared, "/shared", &["rbind", "rw"])
        .sh(SCRIPT);
    let s = t
        .shim(&b)
        .log(driver)
        .args(&["--log-size-max", "4096", "--log-max-files", "1000"])
        .spawn();
    s.run();
    let log = s.log_file(driver);
    let exit_file = s.exit_file();
    let go = shared.join("go");

    let mut got = Vec::new();
    let options = LogOptions {
        follow: true,
        ..LogOptions::default()
    };
    read_logs(&log, format, &options, &|| !exit_file.exists(), &mut |r| {
        // The long line is out: let the container go on, so that the rest is written
        // while we follow.
        if r.line.len() > LONG {
            std::fs::write(&go, "")?;
        }
        got.push(r);
        Ok(())
    })
    .expect("read_logs");
    assert_eq!(s.exit_code(TIMEOUT), 0, "{}", s.diagnostics());

    let rotated = Path::new(&format!("{}.3", log.display())).exists();
    assert!(rotated, "the log rotated at least three times");
    let stdout: Vec<String> = got
        .iter()
        .filter(|r| r.stream == LogStream::Stdout)
        .map(|r| String::from_utf8_lossy(&r.line).into_owned())
        .collect();
    let mut want: Vec<String> = (0..200).map(out_line).collect();
    want.push(format!("{}\n", "y".repeat(LONG)));
    want.push("go seen\n".to_string());
    want.extend((200..400).map(out_line));
    want.push("no newline".to_string());
    let missing: Vec<usize> = (0..want.len())
        .filter(|i| !stdout.contains(&want[*i]))
        .collect();
    assert_eq!(
        stdout.len(),
        want.len(),
        "stdout lines; missing {missing:?}"
    );
    for (i, (g, w)) in stdout.iter().zip(&want).enumerate() {
        assert_eq!(g, w, "stdout line {i}");
    }
    let stderr: Vec<&[u8]> = got
        .iter()
        .filter(|r| r.stream == LogStream::Stderr)
        .map(|r| &r.line[..])
        .collect();
    assert_eq!(
        stderr,
        [&b"err 0\n"[..], b"err 50\n", b"err 100\n", b"err 150\n"]
    );
    // Within a stream, times never go back (across the streams they may: a line is
    // stamped with its first piece, and handed out with its last).
    for stream in [LogStream::Stdout, LogStream::Stderr] {
        let times: Vec<i64> = got
            .iter()
            .filter(|r| r.stream == stream)
            .map(|r| r.time)
            .collect();
        assert!(
            times.windows(2).all(|w| w[0] <= w[1]),
            "{stream:?} times: {times:?}"
        );
    }

    // Read again once it is all written: the tail is the last lines, the last unfinished.
    let tail = LogOptions {
        tail: Some(3),
        ..LogOptions::default()
    };
    let mut last = Vec::new();
    read_logs(&log, format, &tail, &|| false, &mut |r| {
        last.push(String::from_utf8_lossy(&r.line).into_owned());
        Ok(())
    })
    .expect("read_logs --tail 3");
    assert_eq!(
        last,
        [out_line(398), out_line(399), "no newline".to_string()]
    );
}

#[test]
fn follow_reads_a_rotating_json_file_log_whole_and_in_order() {
    follow_while_the_container_writes("logs_follow_json", "json-file", LogFormat::JsonFile);
}

#[test]
fn follow_reads_a_rotating_k8s_file_log_whole_and_in_order() {
    follow_while_the_container_writes("logs_follow_k8s", "k8s-file", LogFormat::K8sFile);
}
