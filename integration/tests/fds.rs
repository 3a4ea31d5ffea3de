//! File descriptors: the container gets stdio only, plus --preserve-fds N from fd 3 on.

use std::io::Read;
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;

use integration::*;

/// The process's open fds, as `ls -l /proc/self/fd` lines. `exec` so no shell keeps
/// saved or pipe fds around; [`fds`] drops the directory fd ls itself reads through.
const LIST_FDS: &str = "exec ls -l /proc/self/fd";

/// Fd numbers from [`LIST_FDS`] output, without ls's own fd on the /proc/N/fd directory.
fn fds(ls: &str) -> Vec<u32> {
    let mut v: Vec<u32> = ls
        .lines()
        .filter_map(|l| l.split_once(" -> "))
        .filter(|(_, target)| !(target.starts_with("/proc/") && target.ends_with("/fd")))
        .filter_map(|(left, _)| left.split_whitespace().last()?.parse().ok())
        .collect();
    v.sort();
    v
}

#[test]
fn container_sees_only_stdio() {
    let Some(t) = Test::new("fds_stdio_only") else {
        return;
    };
    let b = t.bundle();
    assert_eq!(fds(&t.sh(b, LIST_FDS)), [0, 1, 2]);
}

#[test]
fn inherited_fd_is_closed_without_preserve_fds() {
    let Some(t) = Test::new("fds_not_preserved") else {
        return;
    };
    let b = t.bundle().sh(LIST_FDS);
    let (_r, w) = pipe();
    let wfd = w.as_raw_fd();
    let o = t.rt.run_cmd(&b.id, &b.path, &[], |cmd| {
        // SAFETY: only dup2 and fcntl between fork and exec.
        unsafe {
            cmd.pre_exec(move || {
                if libc::dup2(wfd, 3) < 0 || libc::fcntl(3, libc::F_SETFD, 0) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
    });
    assert_eq!(fds(&ok(&o)), [0, 1, 2]);
}

#[test]
fn preserve_fds_passes_fd_3() {
    let Some(t) = Test::new("fds_preserved") else {
        return;
    };
    let b = t.bundle().sh(&format!("echo through-fd-3 >&3; {LIST_FDS}"));
    let (mut r, w) = pipe();
    let wfd = w.as_raw_fd();
    let o =
        t.rt.run_cmd(&b.id, &b.path, &["--preserve-fds", "1"], |cmd| {
            // SAFETY: only dup2 and fcntl between fork and exec.
            unsafe {
                cmd.pre_exec(move || {
                    if libc::dup2(wfd, 3) < 0 || libc::fcntl(3, libc::F_SETFD, 0) < 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    Ok(())
                });
            }
        });
    drop(w);
    assert_eq!(fds(&ok(&o)), [0, 1, 2, 3]);
    let mut got = String::new();
    r.read_to_string(&mut got).unwrap();
    assert_eq!(got, "through-fd-3\n");
}

#[test]
fn preserve_fds_passes_exactly_n_fds() {
    let Some(t) = Test::new("fds_preserved_n") else {
        return;
    };
    let b = t.bundle().sh(LIST_FDS);
    let (_r, w) = pipe();
    let wfd = w.as_raw_fd();
    let o =
        t.rt.run_cmd(&b.id, &b.path, &["--preserve-fds", "2"], |cmd| {
            // SAFETY: only dup2 and fcntl between fork and exec.
            unsafe {
                cmd.pre_exec(move || {
                    for fd in [3, 4, 5] {
                        // dup2 onto itself keeps close-on-exec: clear it.
                        if libc::dup2(wfd, fd) < 0 || libc::fcntl(fd, libc::F_SETFD, 0) < 0 {
                            return Err(std::io::Error::last_os_error());
                        }
                    }
                    Ok(())
                });
            }
        });
    assert_eq!(fds(&ok(&o)), [0, 1, 2, 3, 4]);
}
