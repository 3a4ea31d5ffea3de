//! diff, export, commit, cp and port on real containers (busybox from Debian's
//! busybox-static), as root.

mod support;

use std::fs;
use std::path::Path;

use support::TestStore;

/// A store with the busybox image and a container `name` running `sleep 1000`.
fn running(name: &str) -> TestStore {
    let store = TestStore::new();
    store.import_busybox("busybox");
    store.ok(&["run", "-d", "--name", name, "busybox", "sleep", "1000"]);
    store
}

fn exec(store: &TestStore, name: &str, script: &str) -> String {
    store.ok(&["exec", name, "sh", "-c", script])
}

fn tar_names(bytes: &[u8]) -> Vec<String> {
    let mut archive = tar::Archive::new(bytes);
    archive
        .entries()
        .expect("tar")
        .map(|e| {
            e.expect("entry")
                .path()
                .expect("path")
                .to_string_lossy()
                .into_owned()
        })
        .collect()
}

#[test]
fn diff_lists_added_changed_and_deleted_files() {
    let store = running("files-diff");
    exec(
        &store,
        "files-diff",
        "echo hi > /etc/new && rm /bin/ls && mkdir -p /srv/data && touch /srv/data/f \
         && rm -r /tmp && mkdir /tmp && touch /tmp/t",
    );
    let out = store.ok(&["diff", "files-diff"]);
    let lines: Vec<&str> = out.lines().collect();
    for expected in [
        "C /etc",
        "A /etc/new",
        "C /bin",
        "D /bin/ls",
        "A /srv/data",
        "A /srv/data/f",
        // /tmp removed and made again: an opaque directory over the image's /tmp.
        "D /tmp",
        "A /tmp/t",
    ] {
        assert!(lines.contains(&expected), "{expected} missing in:\n{out}");
    }
    let etc = lines.iter().position(|l| *l == "C /etc").expect("C /etc");
    let new = lines.iter().position(|l| *l == "A /etc/new").expect("A");
    assert!(etc < new, "a directory comes before its contents:\n{out}");
    // `docker container diff` is the same command.
    assert_eq!(store.ok(&["container", "diff", "files-diff"]), out);
}

#[test]
fn diff_of_a_stopped_container_reads_its_upper_dir() {
    let store = running("files-diff-stopped");
    exec(&store, "files-diff-stopped", "touch /root-file");
    store.ok(&["stop", "-t", "0", "files-diff-stopped"]);
    let out = store.ok(&["diff", "files-diff-stopped"]);
    assert!(out.lines().any(|l| l == "A /root-file"), "{out}");
}

#[test]
fn export_writes_the_whole_filesystem_as_a_tar() {
    let store = running("files-export");
    exec(&store, "files-export", "echo exported > /marker");
    let out = store.berth(&["export", "files-export"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let names = tar_names(&out.stdout);
    for expected in ["bin/", "bin/busybox", "marker", "etc/"] {
        assert!(
            names.iter().any(|n| n == expected),
            "{expected} not in {names:?}"
        );
    }
    // With -o, to a file; the container stopped (its rootfs mounted for the command).
    store.ok(&["stop", "-t", "0", "files-export"]);
    let file = store.dir.path().join("export.tar");
    store.ok(&["export", "-o", file.to_str().unwrap(), "files-export"]);
    let names = tar_names(&fs::read(&file).expect("tar written"));
    assert!(names.iter().any(|n| n == "marker"), "{names:?}");
}

#[test]
fn commit_makes_an_image_with_the_changes_and_the_new_cmd() {
    let store = running("files-commit");
    exec(&store, "files-commit", "echo committed > /hello");
    let id = store.ok(&[
        "commit",
        "-a",
        "Tester <t@example.com>",
        "-m",
        "a test",
        "-c",
        r#"CMD ["cat", "/hello"]"#,
        "-c",
        "ENV GREETING=hi",
        "files-commit",
        "committed:v1",
    ]);
    let id = id.trim();
    assert!(id.starts_with("sha256:") && id.len() == 71, "{id}");
    // The container is still running: it was paused and resumed, not stopped.
    let status = store.ok(&["inspect", "-f", "{{.State.Status}}", "files-commit"]);
    assert_eq!(status.trim(), "running");
    let out = store.ok(&["run", "--rm", "committed:v1"]);
    assert_eq!(out, "committed\n");
    let env = store.ok(&["run", "--rm", "committed:v1", "sh", "-c", "echo $GREETING"]);
    assert_eq!(env, "hi\n");
    let author = store.ok(&["inspect", "-f", "{{.Author}}", "committed:v1"]);
    assert_eq!(author.trim(), "Tester <t@example.com>");
}

#[test]
fn commit_refuses_an_unknown_change() {
    let store = running("files-commit-bad");
    let err = store.fails(&["commit", "-c", "RUN true", "files-commit-bad"]);
    assert_eq!(err.trim(), "Error: RUN is not a valid change command");
}

#[test]
fn cp_copies_a_file_in_and_out() {
    let store = running("files-cp");
    let host = store.dir.path().join("host.txt");
    fs::write(&host, "from the host\n").expect("write");
    store.ok(&["cp", host.to_str().unwrap(), "files-cp:/tmp/"]);
    assert_eq!(
        exec(&store, "files-cp", "cat /tmp/host.txt"),
        "from the host\n"
    );
    // Owned by the container's root without -a.
    assert_eq!(
        exec(&store, "files-cp", "stat -c %u:%g /tmp/host.txt"),
        "0:0\n"
    );

    exec(
        &store,
        "files-cp",
        "mkdir -p /data/sub && echo deep > /data/sub/f",
    );
    let out_dir = store.dir.path().join("out");
    fs::create_dir(&out_dir).expect("mkdir");
    store.ok(&["cp", "files-cp:/data", out_dir.to_str().unwrap()]);
    assert_eq!(
        fs::read_to_string(out_dir.join("data/sub/f")).expect("copied"),
        "deep\n"
    );
    // `/.`: the contents, not the directory.
    let contents = store.dir.path().join("contents");
    fs::create_dir(&contents).expect("mkdir");
    store.ok(&["cp", "files-cp:/data/.", contents.to_str().unwrap()]);
    assert!(contents.join("sub/f").is_file());
    // A file to a new name.
    let renamed = store.dir.path().join("renamed");
    store.ok(&["cp", "files-cp:/data/sub/f", renamed.to_str().unwrap()]);
    assert_eq!(fs::read_to_string(&renamed).expect("copied"), "deep\n");
}

#[test]
fn cp_to_and_from_a_tar_stream() {
    let store = running("files-cp-tar");
    exec(&store, "files-cp-tar", "echo streamed > /s");
    let out = store.berth(&["cp", "files-cp-tar:/s", "-"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(tar_names(&out.stdout), ["s"]);

    let mut builder = tar::Builder::new(Vec::new());
    let mut header = tar::Header::new_gnu();
    header.set_size(3);
    header.set_mode(0o644);
    header.set_cksum();
    builder
        .append_data(&mut header, "in-tar", &b"abc"[..])
        .expect("tar");
    let tar = builder.into_inner().expect("tar");
    let out = store.berth_with_stdin(&["cp", "-", "files-cp-tar:/tmp"], &tar);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(exec(&store, "files-cp-tar", "cat /tmp/in-tar"), "abc");
}

#[test]
fn cp_through_a_hostile_symlink_stays_inside_the_container() {
    let store = running("files-cp-evil");
    exec(&store, "files-cp-evil", "ln -s /etc /tmp/evil");
    let marker = format!("berth-cp-evil-{}", std::process::id());
    let host = store.dir.path().join(&marker);
    fs::write(&host, "inside\n").expect("write");
    let dest = format!("files-cp-evil:/tmp/evil/{marker}");
    store.ok(&["cp", host.to_str().unwrap(), &dest]);
    assert!(
        !Path::new("/etc").join(&marker).exists(),
        "cp wrote through the container's symlink onto the host"
    );
    let inside = exec(&store, "files-cp-evil", &format!("cat /etc/{marker}"));
    assert_eq!(inside, "inside\n");

    // And out: a link to the host's /etc/shadow-like file reads the container's own.
    exec(
        &store,
        "files-cp-evil",
        "echo container-passwd > /etc/passwd && ln -s /etc/passwd /tmp/pw",
    );
    let out = store.dir.path().join("pw");
    store.ok(&["cp", "-L", "files-cp-evil:/tmp/pw", out.to_str().unwrap()]);
    assert_eq!(
        fs::read_to_string(&out).expect("copied"),
        "container-passwd\n"
    );
    // Without -L the link itself is copied.
    let link = store.dir.path().join("pw-link");
    store.ok(&["cp", "files-cp-evil:/tmp/pw", link.to_str().unwrap()]);
    assert_eq!(
        fs::read_link(&link).expect("a link"),
        Path::new("/etc/passwd")
    );
}

#[test]
fn cp_works_on_a_stopped_container() {
    let store = running("files-cp-stopped");
    store.ok(&["stop", "-t", "0", "files-cp-stopped"]);
    let host = store.dir.path().join("late.txt");
    fs::write(&host, "late\n").expect("write");
    store.ok(&["cp", host.to_str().unwrap(), "files-cp-stopped:/late.txt"]);
    let back = store.dir.path().join("back.txt");
    store.ok(&["cp", "files-cp-stopped:/late.txt", back.to_str().unwrap()]);
    assert_eq!(fs::read_to_string(&back).expect("copied"), "late\n");
    let out = store.ok(&["diff", "files-cp-stopped"]);
    assert!(out.lines().any(|l| l == "A /late.txt"), "{out}");
}

#[test]
fn errors_are_one_line_with_a_failing_status() {
    let store = running("files-errors");
    for args in [
        vec!["diff", "no-such-container"],
        vec!["export", "no-such-container"],
        vec!["commit", "no-such-container"],
        vec!["port", "no-such-container"],
        vec!["cp", "no-such-container:/etc", "/tmp"],
    ] {
        let err = store.fails(&args);
        assert_eq!(
            err.trim(),
            "Error: No such container: no-such-container",
            "{args:?}"
        );
    }
    let out = store.dir.path().join("nothing");
    let err = store.fails(&["cp", "files-errors:/no/such/path", out.to_str().unwrap()]);
    assert_eq!(
        err.trim(),
        "Error: Could not find the file /no/such/path in container files-errors"
    );
    let err = store.fails(&["port", "files-errors", "80"]);
    assert_eq!(
        err.trim(),
        "Error: No public port '80/tcp' published for files-errors"
    );
}

#[test]
fn port_lists_no_bindings_without_publishing() {
    let store = running("files-port");
    assert_eq!(store.ok(&["port", "files-port"]), "");
}

#[test]
fn cp_archive_mode_keeps_owners() {
    use std::os::unix::fs::MetadataExt;
    let store = running("files-cp-owner");
    let host = store.dir.path().join("owned");
    fs::write(&host, "x").expect("write");
    nix::unistd::chown(
        &host,
        Some(nix::unistd::Uid::from_raw(1234)),
        Some(nix::unistd::Gid::from_raw(5678)),
    )
    .expect("chown");
    store.ok(&["cp", "-a", host.to_str().unwrap(), "files-cp-owner:/owned"]);
    assert_eq!(
        exec(&store, "files-cp-owner", "stat -c %u:%g /owned"),
        "1234:5678\n"
    );
    store.ok(&[
        "container",
        "cp",
        host.to_str().unwrap(),
        "files-cp-owner:/plain",
    ]);
    assert_eq!(
        exec(&store, "files-cp-owner", "stat -c %u:%g /plain"),
        "0:0\n"
    );
    // Out: with -a the container's owner, without it the caller's (root here).
    let kept = store.dir.path().join("kept");
    store.ok(&["cp", "-a", "files-cp-owner:/owned", kept.to_str().unwrap()]);
    let meta = fs::metadata(&kept).expect("copied");
    assert_eq!((meta.uid(), meta.gid()), (1234, 5678));
    let mine = store.dir.path().join("mine");
    store.ok(&["cp", "files-cp-owner:/owned", mine.to_str().unwrap()]);
    let meta = fs::metadata(&mine).expect("copied");
    assert_eq!(
        (meta.uid(), meta.gid()),
        (
            nix::unistd::geteuid().as_raw(),
            nix::unistd::getegid().as_raw()
        )
    );
}

#[test]
fn cp_into_a_read_only_rootfs_is_refused() {
    let store = TestStore::new();
    store.import_busybox("busybox");
    store.ok(&[
        "run",
        "-d",
        "--read-only",
        "--name",
        "files-ro",
        "busybox",
        "sleep",
        "1000",
    ]);
    let host = store.dir.path().join("f");
    fs::write(&host, "x").expect("write");
    let err = store.fails(&["cp", host.to_str().unwrap(), "files-ro:/f"]);
    assert_eq!(err.trim(), "Error: container rootfs is marked read-only");
}
