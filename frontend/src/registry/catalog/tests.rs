use super::*;

#[test]
fn next_page_links_stay_on_the_registry() {
    assert_eq!(
        next_link(r#"</v2/a/tags/list?n=2&last=b>; rel="next""#),
        Some("v2/a/tags/list?n=2&last=b".to_string())
    );
    assert_eq!(next_link(r#"<https://elsewhere/v2/x>; rel="next""#), None);
    assert_eq!(next_link(r#"<//elsewhere/v2/x>; rel="next""#), None);
    assert_eq!(next_link(r#"</\\elsewhere/v2/x>; rel="next""#), None);
    assert_eq!(next_link(r#"</\elsewhere/v2/x>; rel="next""#), None);
    assert_eq!(next_link(r#"</v2/a>; rel="prev""#), None);
    assert_eq!(next_link("garbage"), None);
}

#[test]
fn query_values_are_percent_encoded() {
    assert_eq!(encode_query("a/b c&d"), "a%2Fb%20c%26d");
}

#[test]
fn list_fields() {
    assert_eq!(
        list_field(br#"{"tags":["a","b"]}"#, "tags"),
        Ok(vec!["a".to_string(), "b".to_string()])
    );
    assert_eq!(list_field(br#"{"tags":null}"#, "tags"), Ok(vec![]));
    assert!(list_field(br#"{"tags":3}"#, "tags").is_err());
}
