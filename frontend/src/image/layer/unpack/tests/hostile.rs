//! `unpack` on layers built to escape the destination or exhaust the host: each must end
//! in an error naming the entry (or in a file placed inside the root), never in a change
//! next to the destination.

use super::*;

#[test]
fn names_climbing_out_with_dot_dot_are_refused() {
    for name in ["../outside/planted", "a/../../outside/planted", "./../../x"] {
        let s = Scratch::new();
        let error = s
            .unpack(&Tar::new().file(name, b"pwned").bytes())
            .unwrap_err();
        let text = names(&error, name);
        assert!(text.contains("climb"), "{text}");
        s.assert_outside_untouched();
    }
}

#[test]
fn absolute_names_are_placed_inside_the_root() {
    let s = Scratch::new();
    let name = format!("{}/planted", s.outside_abs());
    s.unpack(&Tar::new().file(&name, b"pwned").bytes()).unwrap();
    assert_eq!(fs::read(s.dest.join(&name[1..])).unwrap(), b"pwned");
    s.assert_outside_untouched();
}

#[test]
fn a_write_through_a_planted_absolute_symlink_stays_in_the_root() {
    let s = Scratch::new();
    let tar = Tar::new()
        .symlink("etc", &s.outside_abs())
        .file("etc/secret", b"overwritten")
        .bytes();
    // The symlink means `dest/<outside>` inside the root, which does not exist there.
    let error = s.unpack(&tar).unwrap_err();
    names(&error, "etc/secret");
    s.assert_outside_untouched();
}

#[test]
fn a_write_through_a_planted_root_symlink_lands_in_the_root() {
    let s = Scratch::new();
    let tar = Tar::new()
        .symlink("etc", "/")
        .file("etc/passwd", b"root::0:0::/:/bin/sh\n")
        .bytes();
    s.unpack(&tar).unwrap();
    assert_eq!(
        fs::read(s.path("passwd")).unwrap(),
        b"root::0:0::/:/bin/sh\n"
    );
    s.assert_outside_untouched();
}

#[test]
fn a_write_through_a_planted_climbing_symlink_is_clamped_to_the_root() {
    let s = Scratch::new();
    let tar = Tar::new()
        .symlink("up", "../../../../../..")
        .file("up/planted", b"x")
        .dir("up/outside/")
        .file("up/outside/secret", b"overwritten")
        .bytes();
    s.unpack(&tar).unwrap();
    assert_eq!(fs::read(s.path("planted")).unwrap(), b"x");
    assert_eq!(fs::read(s.path("outside/secret")).unwrap(), b"overwritten");
    s.assert_outside_untouched();
}

#[test]
fn a_directory_swapped_for_a_symlink_does_not_redirect_later_entries() {
    let s = Scratch::new();
    let tar = Tar::new()
        .dir("d/")
        .file("d/first", b"")
        .symlink("d", &s.outside_abs())
        .file("d/secret", b"overwritten")
        .bytes();
    let error = s.unpack(&tar).unwrap_err();
    names(&error, "d/secret");
    s.assert_outside_untouched();
}

#[test]
fn a_symlink_as_the_last_component_is_replaced_not_written_through() {
    let s = Scratch::new();
    let target = format!("{}/secret", s.outside_abs());
    let tar = Tar::new()
        .symlink("passwd", &target)
        .file("passwd", b"overwritten")
        .entry(EntryType::Directory, "dir", "", b"", |_| {})
        .symlink("dir", &s.outside_abs())
        .entry(EntryType::Directory, "dir", "", b"", |h| h.set_mode(0o777))
        .bytes();
    s.unpack(&tar).unwrap();
    assert!(meta(&s, "passwd").is_file());
    assert!(meta(&s, "dir").is_dir());
    s.assert_outside_untouched();
}

#[test]
fn metadata_of_a_symlink_entry_is_never_applied_to_its_target() {
    let s = Scratch::new();
    let target = format!("{}/secret", s.outside_abs());
    let tar = Tar::new()
        .entry(EntryType::Symlink, "s", &target, b"", |h| {
            h.set_uid(1234);
            h.set_mode(0o4777);
        })
        .bytes();
    s.unpack(&tar).unwrap();
    assert_eq!(meta(&s, "s").uid(), 1234);
    s.assert_outside_untouched();
}

#[test]
fn a_hard_link_climbing_out_is_refused() {
    let s = Scratch::new();
    let tar = Tar::new().hardlink("h", "../outside/secret").bytes();
    let error = s.unpack(&tar).unwrap_err();
    let text = names(&error, "\"h\"");
    assert!(
        text.contains("../outside/secret") && text.contains("climb"),
        "{text}"
    );
    assert!(!s.path("h").exists());
    s.assert_outside_untouched();
}

#[test]
fn a_hard_link_to_an_absolute_host_path_is_resolved_in_the_root() {
    let s = Scratch::new();
    let target = format!("{}/secret", s.outside_abs());
    let error = s
        .unpack(&Tar::new().hardlink("h", &target).bytes())
        .unwrap_err();
    names(&error, "\"h\"");
    assert!(!s.path("h").exists());
    s.assert_outside_untouched();
}

#[test]
fn a_hard_link_through_a_planted_symlink_stays_in_the_root() {
    let s = Scratch::new();
    let tar = Tar::new()
        .symlink("s", &s.outside_abs())
        .hardlink("h", "s/secret")
        .bytes();
    let error = s.unpack(&tar).unwrap_err();
    names(&error, "s/secret");
    assert!(!s.path("h").exists());
    s.assert_outside_untouched();
}

#[test]
fn a_hard_link_to_a_symlink_links_the_symlink_itself() {
    let s = Scratch::new();
    let target = format!("{}/secret", s.outside_abs());
    let tar = Tar::new().symlink("s", &target).hardlink("h", "s").bytes();
    s.unpack(&tar).unwrap();
    assert!(meta(&s, "h").file_type().is_symlink());
    assert_eq!(meta(&s, "h").ino(), meta(&s, "s").ino());
    s.assert_outside_untouched();
}

#[test]
fn a_whiteout_climbing_out_is_refused() {
    let s = Scratch::new();
    let error = s
        .unpack(&Tar::new().file("../outside/.wh.secret", b"").bytes())
        .unwrap_err();
    names(&error, "../outside/.wh.secret");
    s.assert_outside_untouched();
}

#[test]
fn a_whiteout_through_a_planted_symlink_stays_in_the_root() {
    let s = Scratch::new();
    let tar = Tar::new()
        .symlink("o", &s.outside_abs())
        .file("o/.wh.secret", b"")
        .bytes();
    let error = s.unpack(&tar).unwrap_err();
    names(&error, "o/.wh.secret");
    s.assert_outside_untouched();
}

#[test]
fn an_opaque_marker_through_a_planted_symlink_stays_in_the_root() {
    let s = Scratch::new();
    let tar = Tar::new()
        .symlink("o", "/")
        .file("o/.wh..wh..opq", b"")
        .bytes();
    s.unpack(&tar).unwrap();
    assert!(xattrs_of(&s.dest).contains_key("trusted.overlay.opaque"));
    assert!(xattrs_of(&s.outside).is_empty());
    s.assert_outside_untouched();
}

#[test]
fn a_file_naming_the_root_is_refused() {
    let s = Scratch::new();
    let error = s.unpack(&Tar::new().file("./", b"x").bytes()).unwrap_err();
    names(&error, "./");
    s.assert_outside_untouched();
}

#[test]
fn a_declared_size_over_max_bytes_is_refused_before_it_is_read() {
    let s = Scratch::new();
    let limits = Limits {
        max_bytes: 4096,
        ..Limits::default()
    };
    let tar = Tar::new()
        .file("small", b"ok")
        .file("bomb", &[0; 8192])
        .bytes();
    let error = s.unpack_with(&tar, &limits).unwrap_err();
    let text = names(&error, "bomb");
    assert!(text.contains("max_bytes"), "{text}");
    assert!(!s.path("bomb").exists());
    s.assert_outside_untouched();
}

#[test]
fn a_gzip_bomb_stops_at_max_bytes() {
    // 64 MiB of zeros after a small file: the gzip is a few KiB.
    let mut tar = Tar::new().file("a", b"x").bytes();
    tar.resize(64 << 20, 0);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    gz.write_all(&tar).unwrap();
    let blob = gz.finish().unwrap();
    assert!(blob.len() < 1 << 20);
    let s = Scratch::new();
    let limits = Limits {
        max_bytes: 1 << 20,
        ..Limits::default()
    };
    let error = unpack(&blob[..], Compression::Gzip, &s.dest, &limits).unwrap_err();
    assert!(
        matches!(
            error,
            UnpackError::Limit {
                limit: Limit::Bytes(_),
                ..
            }
        ),
        "{error}"
    );
    s.assert_outside_untouched();
}

#[test]
fn more_entries_than_max_entries_are_refused_at_the_first_over() {
    let s = Scratch::new();
    let limits = Limits {
        max_entries: 2,
        ..Limits::default()
    };
    let tar = Tar::new()
        .file("1", b"")
        .file("2", b"")
        .file("3", b"")
        .bytes();
    let error = s.unpack_with(&tar, &limits).unwrap_err();
    let text = names(&error, "\"3\"");
    assert!(text.contains("max_entries"), "{text}");
}

#[test]
fn a_name_longer_than_max_path_len_is_refused() {
    let s = Scratch::new();
    let limits = Limits {
        max_path_len: 16,
        ..Limits::default()
    };
    let error = s
        .unpack_with(
            &Tar::new().file("a/very/long/name/indeed", b"").bytes(),
            &limits,
        )
        .unwrap_err();
    let text = names(&error, "a/very/long/name/indeed");
    assert!(text.contains("max_path_len"), "{text}");
}

#[test]
fn a_pax_record_larger_than_max_header_bytes_is_refused() {
    let s = Scratch::new();
    let limits = Limits {
        max_header_bytes: 64 * 1024,
        ..Limits::default()
    };
    let huge = vec![b'v'; 200 * 1024];
    let tar = Tar::new()
        .file("before", b"")
        .pax(&[("SCHILY.xattr.user.big", &huge)])
        .file("after", b"")
        .bytes();
    let error = s.unpack_with(&tar, &limits).unwrap_err();
    let text = names(&error, "before");
    assert!(text.contains("max_header_bytes"), "{text}");
}

#[test]
fn a_stream_cut_inside_a_file_is_truncated_data_naming_the_entry() {
    let s = Scratch::new();
    let mut tar = Tar::new().file("cut", &[7; 1000]).bytes();
    tar.truncate(512 + 100);
    let error = s.unpack(&tar).unwrap_err();
    let text = names(&error, "cut");
    assert!(text.contains("1000") && text.contains("100"), "{text}");
}

#[test]
fn a_size_larger_than_the_data_is_truncated_data() {
    let s = Scratch::new();
    // The header claims 5000 bytes; 512 follow, then the stream ends.
    let mut tar = Tar::new()
        .entry(EntryType::Regular, "liar", "", &[1; 512], |h| {
            h.set_size(5000)
        })
        .open_bytes();
    tar.truncate(1024);
    let error = s.unpack(&tar).unwrap_err();
    names(&error, "liar");
}

#[test]
fn a_size_smaller_than_the_data_breaks_at_the_next_header_with_its_offset() {
    let s = Scratch::new();
    let tar = Tar::new()
        .entry(EntryType::Regular, "liar", "", &[b'A'; 2048], |h| {
            h.set_size(10)
        })
        .bytes();
    let error = s.unpack(&tar).unwrap_err();
    let text = names(&error, "after entry \"liar\"");
    assert!(text.contains("byte 1536"), "{text}");
}

#[test]
fn a_symlink_with_data_cut_short_is_truncated_not_an_early_end() {
    let s = Scratch::new();
    let mut tar = Tar::new()
        .entry(EntryType::Symlink, "l", "t", &[0; 1024], |_| {})
        .open_bytes();
    tar.truncate(512 + 10);
    let error = s.unpack(&tar).unwrap_err();
    names(&error, "\"l\"");
}

#[test]
fn garbage_headers_are_an_error_with_the_byte_offset() {
    let s = Scratch::new();
    let mut tar = Tar::new().file("good", b"data").open_bytes();
    tar.extend_from_slice(&[0x5a; 512]);
    let error = s.unpack(&tar).unwrap_err();
    let text = names(&error, "good");
    assert!(
        text.contains("byte 1536") && text.contains("cksum"),
        "{text}"
    );
}

#[test]
fn a_corrupt_gzip_stream_is_an_error_not_a_partial_success() {
    let tar = Tar::new().file("f", &[3; 100_000]).bytes();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&tar).unwrap();
    let blob = gz.finish().unwrap();

    let mut flipped = blob.clone();
    let middle = flipped.len() / 2;
    flipped[middle] ^= 0xff;
    let mut cut = blob.clone();
    cut.truncate(blob.len() - 6);
    let mut bad_crc = blob;
    let at = bad_crc.len() - 8;
    bad_crc[at] ^= 1;
    for (what, bytes) in [("flipped", flipped), ("cut", cut), ("crc", bad_crc)] {
        let s = Scratch::new();
        let result = unpack(&bytes[..], Compression::Gzip, &s.dest, &Limits::default());
        let error = result.expect_err(what);
        assert!(
            matches!(
                error,
                UnpackError::Stream { .. } | UnpackError::Entry { .. }
            ),
            "{what}: {error}"
        );
        assert!(error.to_string().contains("byte"), "{what}: {error}");
        s.assert_outside_untouched();
    }
}

#[test]
fn a_corrupt_zstd_stream_is_an_error() {
    let s = Scratch::new();
    let error = unpack(
        &b"\x28\xb5\x2f\xfdgarbage"[..],
        Compression::Zstd,
        &s.dest,
        &Limits::default(),
    )
    .unwrap_err();
    assert!(matches!(error, UnpackError::Stream { .. }), "{error}");
}

#[test]
fn an_unknown_entry_type_is_refused_by_name() {
    let s = Scratch::new();
    let tar = Tar::new()
        .entry(EntryType::new(b'V'), "volume", "", b"", |_| {})
        .bytes();
    let error = s.unpack(&tar).unwrap_err();
    let text = names(&error, "volume");
    assert!(text.contains("'V'"), "{text}");
}

#[test]
fn a_dangling_symlink_parent_is_an_error_naming_the_entry() {
    let s = Scratch::new();
    let tar = Tar::new().symlink("p", "nowhere").file("p/f", b"").bytes();
    let error = s.unpack(&tar).unwrap_err();
    names(&error, "p/f");
}

#[test]
fn a_whiteout_name_as_a_parent_directory_is_refused() {
    let s = Scratch::new();
    let error = s
        .unpack(&Tar::new().file("var/.wh../etc", b"").bytes())
        .unwrap_err();
    names(&error, "var/.wh../etc");
    assert!(!s.path("var").exists());
}
