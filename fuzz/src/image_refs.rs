//! Input layout: the first byte picks what the rest is, as text or bytes:
//! 0 a reference, 1 a `--platform`, 2.. a manifest body whose Content-Type is
//! one of the accepted four, none, or `application/json`.

use berth_engine::image::manifest::{self, Manifest, ACCEPTED};
use berth_engine::image::platform::Platform;
use berth_engine::image::reference::Reference;

pub fn run(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    match mode % 8 {
        0 => reference(&String::from_utf8_lossy(rest)),
        1 => platform(&String::from_utf8_lossy(rest)),
        n => {
            let header = match n {
                2 => None,
                3 => Some("application/json"),
                n => Some(ACCEPTED[usize::from(n - 4)]),
            };
            manifest_body(rest, header);
        }
    }
}

fn reference(text: &str) {
    match Reference::parse(text) {
        Err(e) => {
            let message = e.to_string();
            assert!(
                message.starts_with("invalid reference format "),
                "{message}"
            );
            assert!(!message.contains('\n') || text.contains('\n'), "{message}");
        }
        Ok(r) => {
            // The full and the familiar forms both read back as the same reference.
            let full = r.to_string();
            assert_eq!(Reference::parse(&full).as_ref(), Ok(&r), "{full}");
            let familiar = r.familiar();
            assert_eq!(Reference::parse(&familiar).as_ref(), Ok(&r), "{familiar}");
        }
    }
}

fn platform(text: &str) {
    if let Ok(p) = Platform::parse(text) {
        let shown = p.to_string();
        assert_eq!(Platform::parse(&shown).as_ref(), Ok(&p), "{shown}");
        assert!(
            p.matches(&p.os, &p.architecture, p.variant.as_deref()),
            "{shown}"
        );
    }
}

fn manifest_body(body: &[u8], header: Option<&str>) {
    match Manifest::parse(body, header) {
        Ok(Manifest::Index(index)) => {
            let _ = manifest::choose(&index, &Platform::host());
        }
        Ok(Manifest::Image(image)) => {
            for layer in image.layers() {
                let _ = manifest::layer_compression(layer.media_type());
            }
        }
        Err(e) => assert!(!e.to_string().is_empty()),
    }
}
