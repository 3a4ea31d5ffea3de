//! `docker top CONTAINER [ps OPTIONS]`: the host's `ps` run with the options (`-ef` when
//! none), its header kept and its rows kept when their PID column is one of the
//! container's processes (the cgroup's `cgroup.procs`, sub-cgroups included). A row whose
//! PID is `-` (a thread line of `ps -m`) goes with the process row before it.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::stats::Cgroups;

#[derive(Debug, thiserror::Error)]
pub enum TopError {
    /// Docker's rule: a column other than `pid` may not be named PID (`-o user=PID`), or
    /// the rows would be matched on the wrong column.
    #[error("specifying \"{key}={value}\" is not allowed: only the pid column may be headed PID")]
    RenamedPid { key: String, value: String },
    #[error(
        "the ps output has no PID column (header: {header:?}): give ps options that print \
         the PID, such as -ef, aux or -o pid,comm"
    )]
    NoPidColumn { header: String },
    #[error("unexpected pid {value:?} in the PID column of the ps output")]
    BadPid { value: String },
    #[error("running ps {args}: {source}")]
    Spawn { args: String, source: io::Error },
    #[error("ps {args} failed ({status}): {stderr}")]
    Ps {
        args: String,
        status: std::process::ExitStatus,
        stderr: String,
    },
    #[error("reading {}: {source}", path.display())]
    Procs { path: PathBuf, source: io::Error },
    #[error("the cgroup {0} does not exist: the container is not running")]
    NoCgroup(String),
}

/// `ps`' header and the container's rows, each cut into as many cells as the header
/// has (the last cell keeps the rest of the line, spaces included: the command).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopOutput {
    pub titles: Vec<String>,
    pub processes: Vec<Vec<String>>,
}

/// Runs `ps ARGS` (`-ef` when `ps_args` is empty) and keeps the rows of the processes in
/// `cgroup` (the container's `linux.cgroupsPath`).
pub fn top(cgroups: &Cgroups, cgroup: &str, ps_args: &[String]) -> Result<TopOutput, TopError> {
    let default = ["-ef".to_string()];
    let args = if ps_args.is_empty() {
        &default[..]
    } else {
        ps_args
    };
    check_ps_args(args)?;
    let pids = container_pids(cgroups, cgroup)?;
    let shown = args.join(" ");
    let output = Command::new("ps")
        .args(args)
        .output()
        .map_err(|source| TopError::Spawn {
            args: shown.clone(),
            source,
        })?;
    if !output.status.success() {
        return Err(TopError::Ps {
            args: shown,
            status: output.status,
            stderr: String::from_utf8_lossy(&output.stderr).trim().to_string(),
        });
    }
    parse_ps_output(&String::from_utf8_lossy(&output.stdout), &pids)
}

fn check_ps_args(args: &[String]) -> Result<(), TopError> {
    for arg in args {
        for (at, _) in arg.match_indices('=') {
            let value = arg[at + 1..].trim_start();
            let key = &arg[..at];
            if value.starts_with("PID") && key != "pid" {
                return Err(TopError::RenamedPid {
                    key: key.to_string(),
                    value: value.split_whitespace().next().unwrap_or("").to_string(),
                });
            }
        }
    }
    Ok(())
}

/// The processes in `cgroup` and its sub-cgroups (an exec may have its own), sorted.
pub fn container_pids(cgroups: &Cgroups, cgroup: &str) -> Result<Vec<i32>, TopError> {
    // Any hierarchy holds every process; the pids and memory ones are the usual.
    let dir = ["pids", "memory", "cpuacct", "cpu", "blkio", ""]
        .iter()
        .filter_map(|c| cgroups.dir(c, cgroup))
        .find(|d| d.is_dir())
        .ok_or_else(|| TopError::NoCgroup(cgroup.to_string()))?;
    let mut pids = Vec::new();
    collect_procs(&dir, &mut pids)?;
    pids.sort_unstable();
    pids.dedup();
    Ok(pids)
}

fn collect_procs(dir: &Path, pids: &mut Vec<i32>) -> Result<(), TopError> {
    let procs = dir.join("cgroup.procs");
    let text = match fs::read_to_string(&procs) {
        Ok(t) => t,
        // Removed while we walk: its processes have gone.
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(source) => {
            return Err(TopError::Procs {
                path: procs,
                source,
            })
        }
    };
    pids.extend(text.lines().filter_map(|l| l.trim().parse::<i32>().ok()));
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(source) => {
            return Err(TopError::Procs {
                path: dir.to_path_buf(),
                source,
            })
        }
    };
    for entry in entries.flatten() {
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            collect_procs(&entry.path(), pids)?;
        }
    }
    Ok(())
}

/// Splits on ASCII whitespace only, as Docker does (a command's non-ASCII spaces stay).
fn fields(line: &str) -> Vec<&str> {
    line.split([' ', '\t', '\n', '\r', '\x0c'])
        .filter(|f| !f.is_empty())
        .collect()
}

/// Keeps the header of `ps` output and the rows of `pids`.
pub fn parse_ps_output(output: &str, pids: &[i32]) -> Result<TopOutput, TopError> {
    let mut lines = output.split('\n');
    let header = lines.next().unwrap_or("");
    let titles: Vec<String> = fields(header).into_iter().map(str::to_string).collect();
    let pid_index =
        titles
            .iter()
            .position(|t| t == "PID")
            .ok_or_else(|| TopError::NoPidColumn {
                header: header.to_string(),
            })?;
    let mut processes = Vec::new();
    let mut previous_kept = false;
    for line in lines.filter(|l| !l.is_empty()) {
        let cells = fields(line);
        let Some(&pid) = cells.get(pid_index) else {
            continue;
        };
        let keep = if pid == "-" {
            previous_kept
        } else {
            let pid: i32 = pid.parse().map_err(|_| TopError::BadPid {
                value: pid.to_string(),
            })?;
            previous_kept = pids.contains(&pid);
            previous_kept
        };
        if keep {
            processes.push(row(&cells, titles.len()));
        }
    }
    Ok(TopOutput { titles, processes })
}

/// `cells` as `n` cells: what overhangs the header goes into the last, joined by spaces.
fn row(cells: &[&str], n: usize) -> Vec<String> {
    let split = n.saturating_sub(1).min(cells.len());
    let mut row: Vec<String> = cells[..split].iter().map(|c| c.to_string()).collect();
    if split < cells.len() {
        row.push(cells[split..].join(" "));
    }
    row
}

/// As `docker top` prints it: a table with columns at least 20 wide, 3 spaces apart.
pub fn format_top(top: &TopOutput) -> String {
    let mut rows = vec![top.titles.clone()];
    rows.extend(top.processes.iter().cloned());
    align_columns(&rows, 20)
}

/// Aligns rows of cells as Go's tabwriter does with Docker's settings (padding 3, the
/// given minimum width, spaces): every cell but a row's last is padded to its column's
/// width; each row ends with a newline.
pub(crate) fn align_columns(rows: &[Vec<String>], min_width: usize) -> String {
    const PADDING: usize = 3;
    let mut widths: Vec<usize> = Vec::new();
    for cells in rows {
        for (i, cell) in cells.iter().enumerate().take(cells.len().saturating_sub(1)) {
            let width = (cell.chars().count() + PADDING).max(min_width);
            match widths.get_mut(i) {
                Some(w) => *w = (*w).max(width),
                None => widths.push(width),
            }
        }
    }
    let mut out = String::new();
    for cells in rows {
        for (i, cell) in cells.iter().enumerate() {
            out.push_str(cell);
            if i + 1 < cells.len() {
                let pad = widths[i].saturating_sub(cell.chars().count());
                out.extend(std::iter::repeat_n(' ', pad));
            }
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const PS_EF: &str = "\
UID          PID    PPID  C STIME TTY          TIME CMD
root           1       0  0 05:24 ?        00:00:01 /sbin/init
root        4242    4200  0 07:01 ?        00:00:00 sleep 100
root        4243    4242  0 07:01 ?        00:00:00 sh -c echo  two   spaces
";

    #[test]
    fn only_the_containers_rows_are_kept_with_the_command_whole() {
        let top = parse_ps_output(PS_EF, &[4242, 4243]).expect("parse");
        assert_eq!(top.titles.len(), 8);
        assert_eq!(top.processes.len(), 2);
        assert_eq!(top.processes[0][1], "4242");
        assert_eq!(top.processes[0][7], "sleep 100");
        assert_eq!(top.processes[1][7], "sh -c echo two spaces");
    }

    #[test]
    fn thread_lines_follow_their_process() {
        let ps = "\
  PID TTY      STAT   TIME COMMAND
    1 ?        -      0:01 /sbin/init
    - -        Ss     0:01 -
  500 ?        -      0:00 sleep 100
    - -        S      0:00 -
";
        let top = parse_ps_output(ps, &[500]).expect("parse");
        let pids: Vec<&str> = top.processes.iter().map(|p| p[0].as_str()).collect();
        assert_eq!(pids, ["500", "-"]);
    }

    #[test]
    fn output_without_a_pid_column_is_a_clear_error() {
        let err = parse_ps_output("USER COMMAND\nroot init\n", &[1]).expect_err("no PID");
        assert!(matches!(err, TopError::NoPidColumn { .. }));
        assert!(err.to_string().contains("no PID column"), "{err}");
        let err = parse_ps_output("PID CMD\nabc x\n", &[1]).expect_err("bad pid");
        assert!(err.to_string().contains("\"abc\""), "{err}");
    }

    #[test]
    fn only_the_pid_column_may_be_headed_pid() {
        let args = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(check_ps_args(&args(&["-o", "pid=PID,comm"])).is_ok());
        assert!(check_ps_args(&args(&["aux"])).is_ok());
        let err = check_ps_args(&args(&["-o", "user=PID"])).expect_err("renamed");
        assert!(err.to_string().contains("\"user=PID\""), "{err}");
    }

    #[test]
    fn the_table_is_aligned_as_docker_top_prints_it() {
        let top = TopOutput {
            titles: vec!["UID".into(), "PID".into(), "CMD".into()],
            processes: vec![vec!["root".into(), "4242".into(), "sleep 100".into()]],
        };
        assert_eq!(
            format_top(&top),
            "UID                 PID                 CMD\n\
             root                4242                sleep 100\n"
        );
    }

    #[test]
    fn pids_come_from_the_cgroup_and_its_sub_cgroups() {
        let root = tempfile::tempdir().expect("tempdir");
        let cg = Cgroups::V2(root.path().to_path_buf(), "/".to_string());
        let d = root.path().join("berth/c1");
        fs::create_dir_all(d.join("exec")).expect("mkdir");
        fs::write(d.join("cgroup.procs"), "12\n7\n").expect("write");
        fs::write(d.join("exec/cgroup.procs"), "30\n").expect("write");
        assert_eq!(container_pids(&cg, "/berth/c1").expect("pids"), [7, 12, 30]);
        let err = container_pids(&cg, "/berth/none").expect_err("no cgroup");
        assert!(err.to_string().contains("/berth/none"), "{err}");
    }
}
