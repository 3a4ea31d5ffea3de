//! `diff` of upper dirs: the reverse of `unpack`, and a round trip through both.

use std::ffi::CString;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::symlink;

use nix::sys::stat::{makedev, mknod, Mode, SFlag};
use tar::EntryType;

use super::*;
use crate::image::layer::test_support::*;
use crate::image::layer::{unpack, Limits};
use crate::image::manifest::Compression;

fn diffed(dir: &Path) -> (Vec<u8>, Diffed) {
    let mut out = Vec::new();
    let diffed = diff(dir, &mut out).unwrap();
    (out, diffed)
}

/// Each entry as (name, type, size, PAX keys).
fn listing(tar: &[u8]) -> Vec<(String, EntryType, u64, Vec<String>)> {
    let mut archive = tar::Archive::new(tar);
    archive
        .entries()
        .unwrap()
        .map(|entry| {
            let mut entry = entry.unwrap();
            let keys = match entry.pax_extensions().unwrap() {
                Some(records) => records
                    .map(|r| r.unwrap().key().unwrap().to_string())
                    .collect(),
                None => Vec::new(),
            };
            (
                String::from_utf8(entry.path_bytes().into_owned()).unwrap(),
                entry.header().entry_type(),
                entry.size(),
                keys,
            )
        })
        .collect()
}

fn set_xattr(path: &Path, name: &str, value: &[u8]) {
    let path = CString::new(path.as_os_str().as_bytes()).unwrap();
    let name = CString::new(name).unwrap();
    crate::image::layer::xattr::lset(&path, &name, value).unwrap();
}

fn whiteout(path: &Path) {
    mknod(path, SFlag::S_IFCHR, Mode::empty(), makedev(0, 0)).unwrap();
}

#[test]
fn a_layer_diffed_and_unpacked_again_is_the_same_tree() {
    // Times the layer does not carry (a whiteout's, a parent directory made on the
    // way) are the clock's at each unpack: the two may be a second apart.
    let started = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let device = |major: u32, minor: u32| {
        move |h: &mut tar::Header| {
            h.set_device_major(major).unwrap();
            h.set_device_minor(minor).unwrap();
        }
    };
    let cap = [
        1u8, 0, 0, 2, 0, 32, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    ];
    let layer = Tar::new()
        .entry(EntryType::Directory, "etc/", "", b"", |h| {
            h.set_mtime(1_000)
        })
        .entry(EntryType::Regular, "etc/shadow", "", b"root:*:", |h| {
            h.set_mode(0o640);
            h.set_gid(42);
        })
        .file("etc/.wh.motd", b"")
        .dir("var/")
        .file("var/.wh..wh..opq", b"")
        .entry(EntryType::Directory, "tmp/", "", b"", |h| {
            h.set_mode(0o1777)
        })
        .entry(EntryType::Regular, "usr/bin/su", "", b"elf", |h| {
            h.set_mode(0o4755);
            h.set_uid(0);
        })
        .pax(&[
            ("SCHILY.xattr.security.capability", &cap),
            ("SCHILY.xattr.user.note", b"kept"),
        ])
        .entry(EntryType::Regular, "usr/bin/ping", "", b"elf2", |h| {
            h.set_uid(1000)
        })
        .hardlink("usr/bin/su2", "usr/bin/su")
        .symlink("bin", "usr/bin")
        .entry(EntryType::Char, "dev/null", "", b"", device(1, 3))
        .entry(EntryType::Block, "dev/sda", "", b"", device(8, 0))
        .entry(EntryType::Fifo, "run/initctl", "", b"", |h| {
            h.set_mode(0o600)
        })
        .bytes();
    let first = Scratch::new();
    first.unpack(&layer).unwrap();
    let (tar, diffed) = diffed(&first.dest);
    assert_eq!(diffed.diff_id.to_string(), sha256(&tar));
    assert_eq!(diffed.size, tar.len() as u64);

    let second = Scratch::new();
    let unpacked = second.unpack(&tar).unwrap();
    assert_eq!(unpacked.diff_id, diffed.diff_id);
    let mut a = snapshot(&first.dest);
    let mut b = snapshot(&second.dest);
    // The upper dir itself is not an entry of a diff.
    a.remove("");
    b.remove("");
    for node in a.values_mut().chain(b.values_mut()) {
        if node.mtime >= started {
            node.mtime = 0;
        }
    }
    assert_eq!(a, b);
    assert_eq!(a["usr/bin/su2"].same_as.as_deref(), Some("usr/bin/su"));
    assert!(a["var"].xattrs.contains_key("trusted.overlay.opaque"));
}

#[test]
fn an_overlay_whiteout_becomes_a_wh_entry() {
    let upper = tempfile::tempdir().unwrap();
    fs::create_dir(upper.path().join("etc")).unwrap();
    whiteout(&upper.path().join("etc/motd"));
    let (tar, _) = diffed(upper.path());
    let entries = listing(&tar);
    assert_eq!(entries[1].0, "etc/.wh.motd");
    assert_eq!((entries[1].1, entries[1].2), (EntryType::Regular, 0));
}

#[test]
fn an_opaque_directory_is_followed_by_its_marker_and_overlay_xattrs_stay_out() {
    let upper = tempfile::tempdir().unwrap();
    let var = upper.path().join("var");
    fs::create_dir(&var).unwrap();
    fs::write(var.join("new"), b"").unwrap();
    set_xattr(&var, "trusted.overlay.opaque", b"y");
    set_xattr(&var, "trusted.overlay.origin", b"\x00\xfb");
    set_xattr(&var, "user.kept", b"1");
    let (tar, _) = diffed(upper.path());
    let entries = listing(&tar);
    let names: Vec<_> = entries.iter().map(|e| e.0.as_str()).collect();
    assert_eq!(names, ["var/", "var/.wh..wh..opq", "var/new"]);
    assert_eq!(entries[0].3, ["SCHILY.xattr.user.kept"]);
}

#[test]
fn a_second_path_of_an_inode_is_a_link_entry_to_the_first() {
    let upper = tempfile::tempdir().unwrap();
    fs::write(upper.path().join("a"), b"data").unwrap();
    fs::hard_link(upper.path().join("a"), upper.path().join("b")).unwrap();
    let (tar, _) = diffed(upper.path());
    let mut archive = tar::Archive::new(&tar[..]);
    let entries: Vec<_> = archive.entries().unwrap().map(Result::unwrap).collect();
    assert_eq!(entries[1].header().entry_type(), EntryType::Link);
    assert_eq!(
        entries[1].link_name_bytes().as_deref(),
        Some(b"a".as_slice())
    );
}

#[test]
fn the_tar_is_the_same_bytes_every_time_in_sorted_order() {
    let upper = tempfile::tempdir().unwrap();
    for name in ["zeta", "alpha", "Mid", "beta"] {
        fs::write(upper.path().join(name), name).unwrap();
    }
    fs::create_dir(upper.path().join("dir")).unwrap();
    fs::write(upper.path().join("dir/inner"), b"").unwrap();
    symlink("alpha", upper.path().join("link")).unwrap();
    let (first, _) = diffed(upper.path());
    let (second, _) = diffed(upper.path());
    assert_eq!(first, second);
    let names: Vec<_> = listing(&first).into_iter().map(|e| e.0).collect();
    assert_eq!(
        names,
        ["Mid", "alpha", "beta", "dir/", "dir/inner", "link", "zeta"]
    );
}

#[test]
fn sockets_are_left_out() {
    let upper = tempfile::tempdir().unwrap();
    let _socket = std::os::unix::net::UnixListener::bind(upper.path().join("sock")).unwrap();
    let (tar, _) = diffed(upper.path());
    assert!(listing(&tar).is_empty());
}

#[test]
fn a_tree_deeper_than_the_fd_limit_is_walked_and_replaced() {
    // 1500 levels: more than the usual 1024 descriptors if one were held per level.
    let upper = tempfile::tempdir().unwrap();
    let mut deep = upper.path().to_path_buf();
    for _ in 0..1500 {
        deep.push("d");
    }
    fs::create_dir_all(&deep).unwrap();
    fs::write(deep.join("leaf"), b"bottom").unwrap();
    let (tar, _) = diffed(upper.path());
    assert_eq!(listing(&tar).len(), 1501);

    // Unpacked, then replaced whole by a later file entry of the same name.
    let mut replaced = tar[..tar.len() - 1024].to_vec();
    replaced.extend(Tar::new().file("d", b"flat").bytes());
    let s = Scratch::new();
    unpack(
        &replaced[..],
        Compression::None,
        &s.dest,
        &Limits::default(),
    )
    .unwrap();
    assert_eq!(fs::read(s.path("d")).unwrap(), b"flat");
}

#[test]
fn a_name_that_would_read_as_a_whiteout_is_refused() {
    let upper = tempfile::tempdir().unwrap();
    fs::write(upper.path().join(".wh.looks-deleted"), b"").unwrap();
    let error = diff(upper.path(), Vec::new()).unwrap_err();
    assert!(error.to_string().contains(".wh.looks-deleted"), "{error}");
}
