//! `berth import`, `images`, `tag`, `rmi`, `inspect`, `history` and `image prune` on
//! a store of the test's own (root: layers keep ownership and whiteout devices).

mod support;

use serde_json::Value;
use support::{busybox_rootfs_tar, TestStore};

#[test]
fn import_makes_a_tagged_image_that_images_lists() {
    let store = TestStore::new();
    let id = store.import_busybox("busybox");
    assert!(id.starts_with("sha256:") && id.len() == 71, "{id}");
    let out = store.ok(&["images"]);
    let lines: Vec<&str> = out.lines().collect();
    assert!(
        lines[0].starts_with("REPOSITORY   TAG       IMAGE ID       CREATED"),
        "{out}"
    );
    assert!(lines[1].starts_with("busybox      latest    "), "{out}");
    assert!(lines[1].contains(&id[7..19]), "{out}");
    assert!(lines[1].contains("ago"), "{out}");
    assert_eq!(store.layer_dirs().len(), 1);
}

#[test]
fn images_quiet_no_trunc_digests_and_format() {
    let store = TestStore::new();
    let id = store.import_busybox("busybox");
    store.ok(&["tag", "busybox", "localhost:5000/team/app:v1"]);
    // One id however many names.
    assert_eq!(store.ok(&["images", "-q"]), format!("{}\n", &id[7..19]));
    assert_eq!(store.ok(&["images", "-q", "--no-trunc"]), format!("{id}\n"));
    let out = store.ok(&["images", "--digests"]);
    assert!(out.lines().next().unwrap().contains("DIGEST"), "{out}");
    let out = store.ok(&["images", "--format", "{{.Repository}}:{{.Tag}}"]);
    let mut names: Vec<&str> = out.lines().collect();
    names.sort();
    assert_eq!(names, ["busybox:latest", "localhost:5000/team/app:v1"]);
    let out = store.ok(&["images", "--format", "table {{.Repository}}\t{{.Size}}"]);
    assert!(out.starts_with("REPOSITORY"), "{out}");
    assert!(out.contains("SIZE"), "{out}");
    let out = store.ok(&["images", "--format", "json"]);
    for line in out.lines() {
        let item: Value = serde_json::from_str(line).unwrap();
        assert_eq!(item["ID"], Value::String(id[7..19].to_string()));
    }
}

#[test]
fn images_filters_by_reference_and_dangling() {
    let store = TestStore::new();
    store.import_busybox("busybox");
    let tar = busybox_rootfs_tar(store.dir.path());
    // A second, different image (another CMD) without a name: dangling.
    store.ok(&["import", "-c", "CMD [\"true\"]", tar.to_str().unwrap()]);
    let named = store.ok(&["images", "--format", "{{.Repository}}", "busy*"]);
    assert_eq!(named, "busybox\n");
    let dangling = store.ok(&[
        "images",
        "-f",
        "dangling=true",
        "--format",
        "{{.Repository}}:{{.Tag}}",
    ]);
    assert_eq!(dangling, "<none>:<none>\n");
    let err = store.fails(&["images", "-f", "colour=blue"]);
    assert!(err.contains("invalid filter 'colour'"), "{err}");
}

#[test]
fn inspect_prints_docker_shaped_json_and_fails_for_a_missing_image() {
    let store = TestStore::new();
    let id = store.import_busybox("busybox");
    let out = store.ok(&["image", "inspect", "busybox"]);
    let keys: Vec<&str> = out
        .lines()
        .filter(|l| l.starts_with("        \"") && !l.starts_with("         "))
        .map(|l| l.trim().split('"').nth(1).unwrap())
        .collect();
    assert_eq!(
        &keys[..6],
        [
            "Id",
            "RepoTags",
            "RepoDigests",
            "Parent",
            "Comment",
            "Created"
        ]
    );
    let parsed: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(parsed[0]["Id"], Value::String(id.clone()));
    assert_eq!(parsed[0]["RepoTags"][0], "busybox:latest");
    assert_eq!(parsed[0]["Config"]["Cmd"][0], "sh");
    assert_eq!(parsed[0]["Os"], "linux");
    assert_eq!(parsed[0]["RootFS"]["Layers"].as_array().unwrap().len(), 1);
    assert_eq!(
        store.ok(&["inspect", "-f", "{{.Id}}", &id[7..19]]),
        format!("{id}\n")
    );
    let out = store.berth(&["inspect", "busybox", "nosuch"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("No such object: nosuch"));
}

#[test]
fn history_shows_the_import_comment_and_layer_size() {
    let store = TestStore::new();
    let id = store.import_busybox("busybox");
    let out = store.ok(&["history", "busybox"]);
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].starts_with("IMAGE          CREATED"), "{out}");
    assert!(lines[1].starts_with(&id[7..19]), "{out}");
    assert!(lines[1].contains("Imported from"), "{out}");
    assert!(lines[1].contains("MB"), "{out}");
    assert_eq!(
        store.ok(&["history", "-q", "busybox"]),
        format!("{}\n", &id[7..19])
    );
}

#[test]
fn rmi_of_one_tag_of_several_only_untags() {
    let store = TestStore::new();
    store.import_busybox("busybox");
    store.ok(&["tag", "busybox", "mine:1"]);
    assert_eq!(store.ok(&["rmi", "mine:1"]), "Untagged: mine:1\n");
    assert_eq!(store.layer_dirs().len(), 1);
    assert_eq!(
        store.ok(&["images", "--format", "{{.Repository}}"]),
        "busybox\n"
    );
}

#[test]
fn rmi_of_the_last_name_deletes_the_image_its_layer_and_blobs() {
    let store = TestStore::new();
    let id = store.import_busybox("busybox");
    let out = store.ok(&["rmi", "busybox"]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "Untagged: busybox:latest");
    assert_eq!(lines[1], format!("Deleted: {id}"));
    assert!(lines[2].starts_with("Deleted: sha256:"), "{out}");
    assert!(store.layer_dirs().is_empty());
    assert_eq!(store.blob_count(), 0);
    assert_eq!(store.ok(&["images", "-q"]), "");
}

#[test]
fn rmi_by_id_of_an_image_in_two_repositories_needs_force() {
    let store = TestStore::new();
    let id = store.import_busybox("busybox");
    store.ok(&["tag", "busybox", "other"]);
    let err = store.fails(&["rmi", &id[7..19]]);
    assert!(
        err.contains("image is referenced in multiple repositories"),
        "{err}"
    );
    let out = store.ok(&["rmi", "-f", &id[7..19]]);
    assert!(out.contains("Untagged: busybox:latest"), "{out}");
    assert!(out.contains("Untagged: other:latest"), "{out}");
    assert!(out.contains(&format!("Deleted: {id}")), "{out}");
}

#[test]
fn rmi_refuses_an_image_a_container_uses_unless_forced() {
    let store = TestStore::new();
    let id = store.import_busybox("busybox");
    let db = rusqlite::Connection::open(store.root().join("berth.db")).unwrap();
    db.execute(
        "INSERT INTO containers (id, name, image_id) VALUES ('c0ffee00c0ffee00', 'web', ?1)",
        [&id],
    )
    .unwrap();
    let err = store.fails(&["rmi", "busybox"]);
    assert!(
        err.contains("container c0ffee00c0ff is using its referenced image"),
        "{err}"
    );
    // Forced, the name goes but the image stays: the container needs its layers.
    assert_eq!(
        store.ok(&["rmi", "-f", "busybox"]),
        "Untagged: busybox:latest\n"
    );
    assert_eq!(store.layer_dirs().len(), 1);
    assert_eq!(store.ok(&["images", "-q"]).trim(), &id[7..19]);
}

#[test]
fn rmi_of_a_missing_image_fails_naming_it() {
    let store = TestStore::new();
    let out = store.berth(&["rmi", "nosuch:1"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("No such image: nosuch:1"));
}

#[test]
fn image_prune_removes_dangling_images_and_reports_the_space() {
    let store = TestStore::new();
    store.import_busybox("busybox");
    let tar = busybox_rootfs_tar(store.dir.path());
    let dangling = store.ok(&["import", "-c", "CMD [\"true\"]", tar.to_str().unwrap()]);
    let out = store.ok(&["image", "prune", "-f"]);
    assert!(out.starts_with("Deleted Images:\n"), "{out}");
    assert!(
        out.contains(&format!("deleted: {}", dangling.trim())),
        "{out}"
    );
    // The layer is shared with busybox: nothing reclaimed.
    assert!(out.ends_with("Total reclaimed space: 0B\n"), "{out}");
    let out = store.ok(&["image", "prune", "-a", "-f"]);
    assert!(out.contains("untagged: busybox:latest"), "{out}");
    assert!(out.contains("Total reclaimed space: 1."), "{out}");
    assert!(store.layer_dirs().is_empty());
}

#[test]
fn import_shares_one_layer_between_images_with_the_same_tar() {
    let store = TestStore::new();
    store.import_busybox("one");
    let tar = busybox_rootfs_tar(store.dir.path());
    store.ok(&[
        "import",
        "-c",
        "CMD [\"true\"]",
        tar.to_str().unwrap(),
        "two",
    ]);
    assert_eq!(store.layer_dirs().len(), 1);
}

#[test]
fn import_reads_gzip_from_stdin() {
    let store = TestStore::new();
    let tar = busybox_rootfs_tar(store.dir.path());
    let gz = std::process::Command::new("gzip")
        .arg("-c")
        .arg(&tar)
        .output()
        .unwrap()
        .stdout;
    let out = store.berth_with_stdin(&["import", "-", "fromstdin:gz"], &gz);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(store.ok(&["images", "--format", "{{.Tag}}"]), "gz\n");
    // The store keeps the tar itself: its digest is the layer's diff_id.
    let inspect: Value = serde_json::from_str(&store.ok(&["inspect", "fromstdin:gz"])).unwrap();
    let diff_id = inspect[0]["RootFS"]["Layers"][0]
        .as_str()
        .unwrap()
        .to_string();
    let sha = std::process::Command::new("sha256sum")
        .arg(&tar)
        .output()
        .unwrap()
        .stdout;
    assert_eq!(
        &diff_id[7..],
        String::from_utf8_lossy(&sha).split(' ').next().unwrap()
    );
}

#[test]
fn import_of_a_bad_tarball_fails_and_leaves_the_store_as_it_was() {
    let store = TestStore::new();
    store.import_busybox("busybox");
    let blobs = store.blob_count();
    let bad = store.dir.path().join("bad.tar");
    // A tar header whose size field promises more bytes than follow.
    let mut header = tar::Header::new_gnu();
    header.set_path("big").unwrap();
    header.set_size(1 << 20);
    header.set_mode(0o644);
    header.set_cksum();
    let mut bytes = header.as_bytes().to_vec();
    bytes.extend_from_slice(&[7u8; 1000]);
    std::fs::write(&bad, &bytes).unwrap();
    let err = store.fails(&["import", bad.to_str().unwrap(), "bad"]);
    assert!(err.starts_with("Error: "), "{err}");
    assert!(err.contains("big"), "the error names the entry: {err}");
    assert_eq!(store.layer_dirs().len(), 1);
    assert_eq!(
        store.ok(&["images", "--format", "{{.Repository}}"]),
        "busybox\n"
    );
    // The tar's blob was stored before it was found bad; gc takes it.
    assert!(store.blob_count() >= blobs);
}

#[test]
fn import_refuses_a_bad_change_before_storing_anything() {
    let store = TestStore::new();
    let tar = busybox_rootfs_tar(store.dir.path());
    let err = store.fails(&["import", "-c", "RUN rm -rf /", tar.to_str().unwrap(), "x"]);
    assert!(err.contains("--change \"RUN rm -rf /\""), "{err}");
    assert_eq!(store.blob_count(), 0);
}

#[test]
fn bad_names_get_docker_style_errors_and_usage_errors_exit_125() {
    let store = TestStore::new();
    store.import_busybox("busybox");
    let err = store.fails(&["tag", "busybox", "Bad/Name"]);
    assert!(err.contains("invalid reference format"), "{err}");
    let out = store.berth(&["images", "--no-such-flag"]);
    assert_eq!(out.status.code(), Some(125));
}

#[test]
fn concurrent_imports_of_one_tarball_unpack_its_layer_once() {
    let store = TestStore::new();
    let tar = busybox_rootfs_tar(store.dir.path());
    let tar = tar.to_str().unwrap().to_string();
    let children: Vec<_> = (0..4)
        .map(|i| {
            std::process::Command::new(env!("CARGO_BIN_EXE_berth"))
                .arg("--root")
                .arg(store.root())
                .args([
                    "import",
                    "-c",
                    &format!("LABEL n={i}"),
                    &tar,
                    &format!("c:{i}"),
                ])
                .output()
        })
        .collect();
    for child in children {
        let out = child.unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert_eq!(store.layer_dirs().len(), 1);
    assert_eq!(store.ok(&["images", "-q"]).lines().count(), 4);
}
