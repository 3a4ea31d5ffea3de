use super::*;

#[test]
fn sizes_have_three_significant_digits_in_decimal_units() {
    assert_eq!(human_size(0), "0B");
    assert_eq!(human_size(999), "999B");
    assert_eq!(human_size(1_240), "1.24kB");
    assert_eq!(human_size(4_261_550), "4.26MB");
    assert_eq!(human_size(12_345_678), "12.3MB");
    assert_eq!(human_size(100_000_000), "100MB");
    assert_eq!(human_size(2_000_000_000), "2GB");
}

#[test]
fn ages_read_as_docker_words_them() {
    assert_eq!(human_duration(0), "Less than a second");
    assert_eq!(human_duration(1), "1 second");
    assert_eq!(human_duration(59), "59 seconds");
    assert_eq!(human_duration(60), "About a minute");
    assert_eq!(human_duration(59 * 60), "59 minutes");
    assert_eq!(human_duration(3600), "About an hour");
    assert_eq!(human_duration(47 * 3600), "47 hours");
    assert_eq!(human_duration(3 * 86400), "3 days");
    assert_eq!(human_duration(20 * 86400), "2 weeks");
    assert_eq!(human_duration(90 * 86400), "3 months");
    assert_eq!(human_duration(3 * 365 * 86400), "3 years");
}

#[test]
fn columns_are_at_least_ten_wide_with_three_spaces_of_padding() {
    let table = align("REPOSITORY\tTAG\tSIZE\nbusybox\tlatest\t4.26MB\n");
    assert_eq!(
        table,
        "REPOSITORY   TAG       SIZE\nbusybox      latest    4.26MB\n"
    );
}

#[test]
fn long_text_is_cut_with_an_ellipsis() {
    assert_eq!(ellipsis("abcdef", 4), "abc…");
    assert_eq!(ellipsis("abc", 4), "abc");
}

#[test]
fn rfc3339_round_trips_and_reads_offsets() {
    assert_eq!(unix_seconds("1970-01-01T00:00:00Z"), Some(0));
    assert_eq!(
        unix_seconds("2024-02-29T12:34:56.789Z"),
        Some(1_709_210_096)
    );
    assert_eq!(
        unix_seconds("2024-02-29T13:34:56+01:00"),
        Some(1_709_210_096)
    );
    assert_eq!(rfc3339(1_709_210_096), "2024-02-29T12:34:56Z");
    assert_eq!(unix_seconds("yesterday"), None);
}

#[test]
fn table_templates_get_a_header_from_the_field_names() {
    let format = Format::parse(
        "table {{.Repository}}\\t{{.Tag}}",
        &[("Repository", "REPOSITORY"), ("Tag", "TAG")],
    )
    .unwrap();
    let out = format
        .render(&[serde_json::json!({"Repository": "busybox", "Tag": "latest"})])
        .unwrap();
    assert_eq!(out, "REPOSITORY   TAG\nbusybox      latest\n");
}

#[test]
fn plain_templates_render_one_line_per_item_with_json_and_join() {
    let format = Format::parse("{{.ID}} {{json .Tags}} {{join .Tags \",\"}}", &[]).unwrap();
    let out = format
        .render(&[serde_json::json!({"ID": "abc", "Tags": ["a", "b"]})])
        .unwrap();
    assert_eq!(out, "abc [\"a\",\"b\"] a,b\n");
}

#[test]
fn a_broken_template_is_an_error_not_a_panic() {
    assert!(Format::parse("{{.ID", &[]).is_err());
}
