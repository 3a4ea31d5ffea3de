//! What an Engine API client sends berth's daemon: create bodies, network create
//! and connect bodies, exec create and start bodies, `filters` queries and `-H`
//! values. Each input is a 400 with a
//! message, or a value; never a panic. The first byte picks the parser.

use berth_engine::api::bodies::{
    parse_body, parse_filters, ContainerCreate, ExecCreate, ExecStart, NetworkConnect,
    NetworkCreate,
};
use berth_engine::api::listen::Host;

pub fn run(data: &[u8]) {
    let Some((&kind, body)) = data.split_first() else {
        return;
    };
    match kind % 7 {
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
        5 => match ExecCreate::parse(body) {
            Ok(config) => assert!(!config.cmd.is_empty()),
            Err(e) => {
                assert_eq!(e.status.as_u16(), 400);
                assert!(!e.message.is_empty());
            }
        },
        6 => {
            if let Err(e) = ExecStart::parse(body) {
                assert_eq!(e.status.as_u16(), 400);
            }
        }
        _ => {
            let text = String::from_utf8_lossy(body);
            if let Err(e) = Host::parse(&text) {
                assert!(e.to_string().contains("-H"));
            }
        }
    }
}
