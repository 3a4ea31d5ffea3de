use super::*;

fn parts(raw: &str) -> Vec<String> {
    InRoot::parse(raw.as_bytes())
        .unwrap()
        .components()
        .iter()
        .map(|c| String::from_utf8(c.clone()).unwrap())
        .collect()
}

#[test]
fn absolute_names_are_read_from_the_layer_root() {
    assert_eq!(parts("/etc/passwd"), ["etc", "passwd"]);
    assert_eq!(parts("./etc//passwd/"), ["etc", "passwd"]);
}

#[test]
fn dot_dot_inside_the_root_is_taken_back() {
    assert_eq!(parts("a/b/../c"), ["a", "c"]);
    assert_eq!(parts("a/.."), Vec::<String>::new());
}

#[test]
fn dot_dot_climbing_out_is_refused_not_clamped() {
    for name in [
        "..",
        "../x",
        "a/../../x",
        "/../etc/passwd",
        "./../../host/file",
    ] {
        assert_eq!(
            InRoot::parse(name.as_bytes()),
            Err(NameProblem::Climbs),
            "{name}"
        );
    }
}

#[test]
fn the_root_itself_has_no_components() {
    for name in [".", "./", "/", "//."] {
        assert!(InRoot::parse(name.as_bytes()).unwrap().is_root(), "{name}");
    }
}

#[test]
fn empty_and_nul_names_are_refused() {
    assert_eq!(InRoot::parse(b""), Err(NameProblem::Empty));
    assert_eq!(InRoot::parse(b"a\0b"), Err(NameProblem::NulByte));
}

#[test]
fn whiteouts_name_the_hidden_entry() {
    assert_eq!(
        Target::parse(b"usr/.wh.lib"),
        Ok(Target::Whiteout(InRoot::parse(b"usr/lib").unwrap()))
    );
    assert_eq!(
        Target::parse(b"usr/.wh..wh..opq"),
        Ok(Target::Opaque(InRoot::parse(b"usr").unwrap()))
    );
    assert_eq!(Target::parse(b".wh..wh.plnk/1.2"), Ok(Target::AufsMeta));
    assert_eq!(Target::parse(b"a/.wh..wh.aufs"), Ok(Target::AufsMeta));
}

#[test]
fn whiteouts_of_dot_and_dot_dot_are_refused() {
    for name in ["a/.wh.", "a/.wh..", "a/.wh..."] {
        assert_eq!(
            Target::parse(name.as_bytes()),
            Err(NameProblem::BadWhiteout),
            "{name}"
        );
    }
}

#[test]
fn long_names_are_cut_in_messages() {
    let long = "x".repeat(10_000);
    assert_eq!(shown(long.as_bytes()).len(), 259);
}

#[test]
fn a_whiteout_name_as_a_directory_on_the_way_is_refused() {
    // A fuzzing finding: `var/.wh../etc` made a directory `.wh..` that `diff` then wrote
    // back as a whiteout of `.`.
    for name in ["var/.wh../etc", "a/.wh.b/c", ".wh.x/.wh.y"] {
        assert_eq!(
            Target::parse(name.as_bytes()),
            Err(NameProblem::WhiteoutParent),
            "{name}"
        );
    }
}
