//! What an Engine API client sends berth's daemon: create bodies, network create
//! and connect bodies, exec create and start bodies, `filters` queries, `-H` values,
//! `X-Registry-Auth` headers, `/auth` bodies and the image endpoints' query values
//! (references, limits, search filters, platforms). Each input is a 400 with a message, or a value; never a
//! panic. The first byte picks the parser; two-part inputs split at the first `\n`.

use berth_engine::api::bodies::{
    parse_body, parse_filters, ContainerCreate, ExecCreate, ExecStart, NetworkConnect,
    NetworkCreate,
};
use berth_engine::api::error::ApiError;
use berth_engine::api::listen::Host;
use berth_engine::api::queries::{
    new_image_name, platform, pull_reference, push_target, registry_auth, search_limit, Login,
    SearchFilters,
};

fn refused<T>(result: Result<T, ApiError>) {
    if let Err(e) = result {
        assert_eq!(e.status.as_u16(), 400);
        assert!(!e.message.is_empty());
    }
}

/// `first\nsecond` as two query values; an empty one is absent.
fn two_values(text: &str) -> (Option<&str>, Option<&str>) {
    let (first, second) = text.split_once('\n').unwrap_or((text, ""));
    (
        Some(first).filter(|v| !v.is_empty()),
        Some(second).filter(|v| !v.is_empty()),
    )
}

pub fn run(data: &[u8]) {
    let Some((&kind, body)) = data.split_first() else {
        return;
    };
    match kind % 14 {
        0 => {
            if let Ok(create) = ContainerCreate::parse(body) {
                if let Err(e) = create.into_parts() {
                    assert_eq!(e.status.as_u16(), 400);
                    assert!(!e.message.is_empty());
                }
            }
        }
        1 => {
            if let Ok(network) = parse_body::<NetworkCreate>(body) {
                let _ = network.into_request();
            }
        }
        2 => {
            if let Ok(connect) = parse_body::<NetworkConnect>(body) {
                let _ = connect.endpoint();
            }
        }
        3 => {
            let text = String::from_utf8_lossy(body);
            if let Err(e) = parse_filters(Some(&text)) {
                assert_eq!(e.status.as_u16(), 400);
                assert!(!e.message.is_empty());
            }
        }
        4 => {
            let text = String::from_utf8_lossy(body);
            if let Err(e) = Host::parse(&text) {
                assert!(e.to_string().contains("-H"));
            }
        }
        5 => {
            if let Err(e) = registry_auth(Some(body)) {
                assert_eq!(e.status.as_u16(), 400);
                assert!(e.message.contains("X-Registry-Auth"), "{}", e.message);
            }
        }
        6 => refused(Login::parse(body)),
        7 | 8 | 9 => {
            let text = String::from_utf8_lossy(body);
            let (first, second) = two_values(&text);
            match kind % 14 {
                7 => refused(pull_reference(first.unwrap_or_default(), second)),
                8 => refused(push_target(first.unwrap_or_default(), second)),
                _ => refused(new_image_name(first, second)),
            }
        }
        10 => {
            let text = String::from_utf8_lossy(body);
            let (limit, filters) = two_values(&text);
            refused(search_limit(limit));
            match SearchFilters::parse(filters) {
                Ok(filters) => {
                    let _ = filters.keep(0, false, false);
                }
                Err(e) => refused::<()>(Err(e)),
            }
        }
        11 => {
            let text = String::from_utf8_lossy(body);
            refused(platform(Some(&text)));
        }
        12 => match ExecCreate::parse(body) {
            Ok(config) => assert!(!config.cmd.is_empty()),
            Err(e) => {
                assert_eq!(e.status.as_u16(), 400);
                assert!(!e.message.is_empty());
            }
        },
        _ => refused(ExecStart::parse(body)),
    }
}
