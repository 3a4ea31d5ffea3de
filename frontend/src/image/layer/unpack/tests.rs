//! `unpack` on well-formed layers: what each kind of entry becomes.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{FileTypeExt, MetadataExt};

use tar::EntryType;

use super::*;
use crate::image::layer::test_support::*;

mod hostile;

fn meta(scratch: &Scratch, name: &str) -> fs::Metadata {
    fs::symlink_metadata(scratch.path(name)).unwrap()
}

#[test]
fn regular_files_keep_content_owner_mode_and_mtime() {
    let s = Scratch::new();
    let tar = Tar::new()
        .entry(EntryType::Regular, "bin/tool", "", b"#!/bin/sh\n", |h| {
            h.set_uid(1000);
            h.set_gid(2000);
            h.set_mode(0o750);
            h.set_mtime(1_234_567_890);
        })
        .bytes();
    let unpacked = s.unpack(&tar).unwrap();
    let m = meta(&s, "bin/tool");
    assert_eq!(fs::read(s.path("bin/tool")).unwrap(), b"#!/bin/sh\n");
    assert_eq!((m.uid(), m.gid(), m.mode() & 0o7777), (1000, 2000, 0o750));
    assert_eq!(m.mtime(), 1_234_567_890);
    assert_eq!((unpacked.size, unpacked.entries), (10, 1));
    s.assert_outside_untouched();
}

#[test]
fn setuid_setgid_and_sticky_bits_survive_the_chown() {
    let s = Scratch::new();
    let tar = Tar::new()
        .entry(EntryType::Regular, "usr/bin/su", "", b"x", |h| {
            h.set_uid(0);
            h.set_gid(42);
            h.set_mode(0o6755);
        })
        .entry(EntryType::Directory, "tmp/", "", b"", |h| {
            h.set_mode(0o1777)
        })
        .bytes();
    s.unpack(&tar).unwrap();
    assert_eq!(meta(&s, "usr/bin/su").mode() & 0o7777, 0o6755);
    assert_eq!(meta(&s, "usr/bin/su").gid(), 42);
    assert_eq!(meta(&s, "tmp").mode() & 0o7777, 0o1777);
}

#[test]
fn missing_parent_directories_are_made_root_owned_0755() {
    let s = Scratch::new();
    s.unpack(&Tar::new().file("a/b/c", b"deep").bytes())
        .unwrap();
    assert_eq!(fs::read(s.path("a/b/c")).unwrap(), b"deep");
    let m = meta(&s, "a/b");
    assert!(m.is_dir());
    assert_eq!((m.uid(), m.mode() & 0o7777), (0, 0o755));
}

#[test]
fn directory_mtimes_are_set_after_their_children_are_written() {
    let s = Scratch::new();
    let tar = Tar::new()
        .entry(EntryType::Directory, "etc/", "", b"", |h| {
            h.set_mtime(1_000_000)
        })
        .file("etc/hosts", b"127.0.0.1 localhost\n")
        .file("etc/passwd", b"root:x:0:0::/root:/bin/sh\n")
        .bytes();
    s.unpack(&tar).unwrap();
    assert_eq!(meta(&s, "etc").mtime(), 1_000_000);
}

#[test]
fn the_root_entry_sets_the_destination_metadata() {
    let s = Scratch::new();
    let tar = Tar::new()
        .entry(EntryType::Directory, "./", "", b"", |h| {
            h.set_mode(0o700);
            h.set_mtime(2_000_000);
        })
        .file("f", b"")
        .bytes();
    s.unpack(&tar).unwrap();
    let m = fs::metadata(&s.dest).unwrap();
    assert_eq!((m.mode() & 0o7777, m.mtime()), (0o700, 2_000_000));
}

#[test]
fn a_whiteout_becomes_an_overlay_char_device_0_0() {
    let s = Scratch::new();
    s.unpack(&Tar::new().dir("etc/").file("etc/.wh.motd", b"").bytes())
        .unwrap();
    let m = meta(&s, "etc/motd");
    assert!(m.file_type().is_char_device());
    assert_eq!(m.rdev(), 0);
    assert!(!s.path("etc/.wh.motd").exists());
}

#[test]
fn a_whiteout_of_a_directory_in_a_missing_parent_makes_the_parent() {
    let s = Scratch::new();
    s.unpack(&Tar::new().file("var/cache/.wh.apt", b"").bytes())
        .unwrap();
    assert!(meta(&s, "var/cache/apt").file_type().is_char_device());
}

#[test]
fn a_whiteout_leaves_this_layers_own_entry_of_that_name() {
    let s = Scratch::new();
    let tar = Tar::new().file("a", b"mine").file(".wh.a", b"").bytes();
    s.unpack(&tar).unwrap();
    assert_eq!(fs::read(s.path("a")).unwrap(), b"mine");
}

#[test]
fn a_later_entry_replaces_a_whiteout() {
    let s = Scratch::new();
    let tar = Tar::new().file(".wh.a", b"").file("a", b"back").bytes();
    s.unpack(&tar).unwrap();
    assert_eq!(fs::read(s.path("a")).unwrap(), b"back");
}

#[test]
fn an_opaque_marker_sets_trusted_overlay_opaque_on_its_directory() {
    let s = Scratch::new();
    let tar = Tar::new()
        .dir("usr/")
        .file("usr/.wh..wh..opq", b"")
        .file("usr/new", b"")
        .bytes();
    s.unpack(&tar).unwrap();
    let xattrs = xattrs_of(&s.path("usr"));
    assert_eq!(
        xattrs.get("trusted.overlay.opaque").map(Vec::as_slice),
        Some(&b"y"[..])
    );
    assert!(!s.path("usr/.wh..wh..opq").exists());
    assert!(s.path("usr/new").exists());
}

#[test]
fn an_opaque_marker_before_its_directory_still_marks_it() {
    let s = Scratch::new();
    let tar = Tar::new().file("opt/.wh..wh..opq", b"").dir("opt/").bytes();
    s.unpack(&tar).unwrap();
    assert!(xattrs_of(&s.path("opt")).contains_key("trusted.overlay.opaque"));
}

#[test]
fn aufs_metadata_entries_are_skipped() {
    let s = Scratch::new();
    s.unpack(&Tar::new().file(".wh..wh.aufs", b"").bytes())
        .unwrap();
    assert_eq!(fs::read_dir(&s.dest).unwrap().count(), 0);
}

#[test]
fn pax_xattrs_are_set_after_the_owner() {
    let s = Scratch::new();
    // A file capability: chown would clear it if it were set first.
    let cap = [
        1u8, 0, 0, 2, 0, 32, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    ];
    let tar = Tar::new()
        .pax(&[
            ("SCHILY.xattr.user.origin", b"layer"),
            ("SCHILY.xattr.security.capability", &cap),
        ])
        .entry(EntryType::Regular, "bin/ping", "", b"elf", |h| h.set_uid(7))
        .bytes();
    let unpacked = s.unpack(&tar).unwrap();
    let xattrs = xattrs_of(&s.path("bin/ping"));
    assert_eq!(xattrs["user.origin"], b"layer");
    assert_eq!(xattrs["security.capability"], cap);
    assert_eq!(unpacked.ignored_xattrs, 0);
}

#[test]
fn overlay_xattrs_from_a_layer_are_skipped_and_counted() {
    let s = Scratch::new();
    let tar = Tar::new()
        .pax(&[
            ("SCHILY.xattr.trusted.overlay.opaque", b"y"),
            ("SCHILY.xattr.trusted.overlay.redirect", b"/etc"),
            ("SCHILY.xattr.user.overlay.whiteout", b""),
        ])
        .dir("d/")
        .bytes();
    let unpacked = s.unpack(&tar).unwrap();
    assert!(xattrs_of(&s.path("d")).is_empty());
    assert_eq!(unpacked.ignored_xattrs, 3);
}

#[test]
fn hard_links_share_the_inode() {
    let s = Scratch::new();
    let tar = Tar::new()
        .file("bin/busybox", b"elf")
        .hardlink("bin/sh", "bin/busybox")
        .hardlink("/bin/ls", "/bin/busybox")
        .bytes();
    s.unpack(&tar).unwrap();
    let ino = meta(&s, "bin/busybox").ino();
    assert_eq!(meta(&s, "bin/sh").ino(), ino);
    assert_eq!(meta(&s, "bin/ls").ino(), ino);
    assert_eq!(meta(&s, "bin/busybox").nlink(), 3);
}

#[test]
fn a_hard_link_to_a_missing_target_names_both() {
    let s = Scratch::new();
    let error = s
        .unpack(&Tar::new().hardlink("bin/sh", "bin/nothing").bytes())
        .unwrap_err();
    let text = names(&error, "bin/sh");
    assert!(text.contains("bin/nothing"), "{text}");
}

#[test]
fn symlinks_keep_their_target_owner_and_mtime() {
    let s = Scratch::new();
    let tar = Tar::new()
        .entry(EntryType::Symlink, "lib", "usr/lib", b"", |h| {
            h.set_uid(5);
            h.set_mtime(3_000_000);
        })
        .symlink("etc/localtime", "/usr/share/zoneinfo/UTC")
        .bytes();
    s.unpack(&tar).unwrap();
    assert_eq!(
        fs::read_link(s.path("lib")).unwrap().to_str(),
        Some("usr/lib")
    );
    assert_eq!(
        fs::read_link(s.path("etc/localtime")).unwrap().to_str(),
        Some("/usr/share/zoneinfo/UTC")
    );
    assert_eq!(
        (meta(&s, "lib").uid(), meta(&s, "lib").mtime()),
        (5, 3_000_000)
    );
}

#[test]
fn entries_under_a_symlinked_directory_go_where_it_points_in_the_root() {
    let s = Scratch::new();
    let tar = Tar::new()
        .dir("usr/lib/")
        .symlink("lib", "/usr/lib")
        .file("lib/libc.so", b"elf")
        .bytes();
    s.unpack(&tar).unwrap();
    assert_eq!(fs::read(s.path("usr/lib/libc.so")).unwrap(), b"elf");
}

#[test]
fn char_and_block_devices_and_fifos_are_made() {
    let s = Scratch::new();
    let device = |major: u32, minor: u32| {
        move |h: &mut tar::Header| {
            h.set_device_major(major).unwrap();
            h.set_device_minor(minor).unwrap();
            h.set_mode(0o666);
        }
    };
    let tar = Tar::new()
        .entry(EntryType::Char, "dev/null", "", b"", device(1, 3))
        .entry(EntryType::Block, "dev/loop0", "", b"", device(7, 0))
        .entry(EntryType::Fifo, "run/fifo", "", b"", |h| h.set_mode(0o620))
        .bytes();
    s.unpack(&tar).unwrap();
    let null = meta(&s, "dev/null");
    assert!(null.file_type().is_char_device());
    assert_eq!(
        (null.rdev(), null.mode() & 0o7777),
        (nix::sys::stat::makedev(1, 3), 0o666)
    );
    let loop0 = meta(&s, "dev/loop0");
    assert!(loop0.file_type().is_block_device());
    assert_eq!(loop0.rdev(), nix::sys::stat::makedev(7, 0));
    let fifo = meta(&s, "run/fifo");
    assert!(fifo.file_type().is_fifo());
    assert_eq!(fifo.mode() & 0o7777, 0o620);
}

#[test]
fn a_later_file_replaces_an_earlier_one() {
    let s = Scratch::new();
    let tar = Tar::new().file("f", b"old").file("f", b"new").bytes();
    s.unpack(&tar).unwrap();
    assert_eq!(fs::read(s.path("f")).unwrap(), b"new");
}

#[test]
fn a_later_file_replaces_a_whole_directory() {
    let s = Scratch::new();
    let tar = Tar::new()
        .dir("d/")
        .file("d/a/b/c", b"")
        .symlink("d/a/link", "/")
        .file("d", b"now a file")
        .bytes();
    s.unpack(&tar).unwrap();
    assert_eq!(fs::read(s.path("d")).unwrap(), b"now a file");
}

#[test]
fn a_later_directory_replaces_a_file_or_symlink() {
    let s = Scratch::new();
    let tar = Tar::new()
        .file("a", b"")
        .symlink("b", "/etc")
        .dir("a/")
        .dir("b/")
        .bytes();
    s.unpack(&tar).unwrap();
    assert!(meta(&s, "a").is_dir());
    assert!(meta(&s, "b").is_dir());
}

#[test]
fn a_directory_over_a_directory_keeps_its_contents_and_takes_the_new_metadata() {
    let s = Scratch::new();
    let tar = Tar::new()
        .dir("d/")
        .file("d/kept", b"")
        .entry(EntryType::Directory, "d/", "", b"", |h| {
            h.set_mode(0o711);
            h.set_uid(3);
        })
        .bytes();
    s.unpack(&tar).unwrap();
    assert!(s.path("d/kept").exists());
    assert_eq!(
        (meta(&s, "d").mode() & 0o7777, meta(&s, "d").uid()),
        (0o711, 3)
    );
}

#[test]
fn long_names_and_pax_times_are_read() {
    let s = Scratch::new();
    let long = format!("{}/{}", "a".repeat(120), "b".repeat(120));
    let mut builder = tar::Builder::new(Vec::new());
    let mut header = tar::Header::new_gnu();
    header.set_size(2);
    header.set_mode(0o644);
    builder.append_data(&mut header, &long, &b"hi"[..]).unwrap();
    let mut tar = builder.into_inner().unwrap();
    tar.truncate(tar.len() - 1024);
    let mut rest = Tar::new()
        .pax(&[("mtime", b"1700000000.5")])
        .file("timed", b"")
        .bytes();
    tar.append(&mut rest);
    s.unpack(&tar).unwrap();
    assert_eq!(fs::read(s.path(&long)).unwrap(), b"hi");
    let timed = meta(&s, "timed");
    assert_eq!(
        (timed.mtime(), timed.mtime_nsec()),
        (1_700_000_000, 500_000_000)
    );
}

#[test]
fn the_diff_id_is_the_sha256_of_the_whole_uncompressed_stream() {
    let mut tar = Tar::new().file("f", b"content").bytes();
    // Padding to a 10240-byte record, as GNU tar writes, and bytes past the end blocks.
    tar.resize(10240, 0);
    tar.extend_from_slice(b"trailing");
    let want = sha256(&tar);
    let s = Scratch::new();
    assert_eq!(s.unpack(&tar).unwrap().diff_id.to_string(), want);

    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&tar).unwrap();
    let s = Scratch::new();
    let gzipped = unpack(
        &gz.finish().unwrap()[..],
        Compression::Gzip,
        &s.dest,
        &Limits::default(),
    );
    assert_eq!(gzipped.unwrap().diff_id.to_string(), want);

    let zstd = zstd::encode_all(&tar[..], 3).unwrap();
    let s = Scratch::new();
    let zstded = unpack(&zstd[..], Compression::Zstd, &s.dest, &Limits::default());
    assert_eq!(zstded.unwrap().diff_id.to_string(), want);
}

#[test]
fn a_multi_member_gzip_stream_is_read_to_its_end() {
    let tar = Tar::new().file("a", b"1").file("b", b"2").bytes();
    let (first, second) = tar.split_at(1024);
    let mut blob = Vec::new();
    for part in [first, second] {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(part).unwrap();
        blob.extend(gz.finish().unwrap());
    }
    let s = Scratch::new();
    let unpacked = unpack(&blob[..], Compression::Gzip, &s.dest, &Limits::default()).unwrap();
    assert_eq!(unpacked.diff_id.to_string(), sha256(&tar));
    assert!(s.path("b").exists());
}

#[test]
fn the_destination_must_be_empty() {
    let s = Scratch::new();
    fs::write(s.path("already"), b"").unwrap();
    let error = s.unpack(&Tar::new().file("f", b"").bytes()).unwrap_err();
    assert!(matches!(error, UnpackError::NotEmpty { .. }), "{error}");
}

#[test]
fn a_pax_global_header_is_skipped() {
    let mut tar = Vec::new();
    let mut header = tar::Header::new_ustar();
    let record = b"52 comment=0123456789012345678901234567890123456789\n";
    header.set_entry_type(EntryType::XGlobalHeader);
    header.set_size(record.len() as u64);
    header.set_path("pax_global_header").unwrap();
    header.set_cksum();
    let mut builder = tar::Builder::new(&mut tar);
    builder.append(&header, &record[..]).unwrap();
    builder.finish().unwrap();
    drop(builder);
    let s = Scratch::new();
    assert_eq!(s.unpack(&tar).unwrap().entries, 1);
    assert_eq!(fs::read_dir(&s.dest).unwrap().count(), 0);
}

#[test]
fn an_old_style_regular_entry_with_a_trailing_slash_is_a_directory() {
    let s = Scratch::new();
    let tar = Tar::new()
        .entry(EntryType::Regular, "olddir/", "", b"", |h| {
            h.as_old_mut().linkflag = [0];
        })
        .bytes();
    s.unpack(&tar).unwrap();
    assert!(meta(&s, "olddir").is_dir());
}

#[test]
fn runs_of_zeros_are_written_as_holes() {
    let s = Scratch::new();
    let mut data = vec![0u8; 4 << 20];
    data[0] = 1;
    s.unpack(&Tar::new().file("sparse", &data).bytes()).unwrap();
    assert_eq!(fs::read(s.path("sparse")).unwrap(), data);
    // 4 MiB long, a few KiB on disk.
    assert!(meta(&s, "sparse").blocks() * 512 < 1 << 20);
}
