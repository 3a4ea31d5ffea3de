//! Container ids (64 hex digits from the kernel's random source) and generated names:
//! `adjective_noun`, from word lists of berth's own (a harbour's words).

use std::fs::File;
use std::io::{self, Read};

const ADJECTIVES: &[&str] = &[
    "amber",
    "ashen",
    "azure",
    "balmy",
    "blithe",
    "bold",
    "brave",
    "breezy",
    "bright",
    "brisk",
    "calm",
    "candid",
    "clever",
    "coral",
    "crisp",
    "daring",
    "deft",
    "eager",
    "earnest",
    "fabled",
    "fair",
    "fleet",
    "gallant",
    "gentle",
    "gleaming",
    "golden",
    "hardy",
    "hearty",
    "humble",
    "jaunty",
    "jolly",
    "keen",
    "kindly",
    "lively",
    "lucid",
    "mellow",
    "merry",
    "misty",
    "nimble",
    "noble",
    "placid",
    "plucky",
    "proud",
    "quiet",
    "radiant",
    "rapid",
    "restless",
    "rugged",
    "salty",
    "serene",
    "silver",
    "sleek",
    "snug",
    "spry",
    "stalwart",
    "steady",
    "stormy",
    "sturdy",
    "sunny",
    "swift",
    "tidy",
    "tranquil",
    "trusty",
    "valiant",
    "vivid",
    "wandering",
    "wary",
    "windy",
    "wise",
    "zealous",
];

const NOUNS: &[&str] = &[
    "anchor",
    "barge",
    "beacon",
    "bollard",
    "bosun",
    "breakwater",
    "buoy",
    "cabin",
    "capstan",
    "cargo",
    "channel",
    "clipper",
    "compass",
    "coracle",
    "cove",
    "crane",
    "current",
    "cutter",
    "davit",
    "dinghy",
    "dock",
    "estuary",
    "ferry",
    "fjord",
    "galley",
    "gangway",
    "harbour",
    "hawser",
    "helm",
    "hull",
    "inlet",
    "jetty",
    "keel",
    "ketch",
    "lagoon",
    "lantern",
    "lighthouse",
    "lock",
    "marina",
    "mast",
    "mooring",
    "narrows",
    "oar",
    "pier",
    "pilot",
    "port",
    "quay",
    "reef",
    "rigging",
    "rudder",
    "sail",
    "schooner",
    "shoal",
    "skiff",
    "slipway",
    "sloop",
    "sound",
    "spinnaker",
    "starboard",
    "tender",
    "tide",
    "tiller",
    "trawler",
    "tug",
    "wake",
    "wharf",
    "yawl",
];

/// `n` random bytes from the kernel.
fn random_bytes<const N: usize>() -> io::Result<[u8; N]> {
    let mut bytes = [0u8; N];
    File::open("/dev/urandom")?.read_exact(&mut bytes)?;
    Ok(bytes)
}

/// A new container id: 64 lowercase hex digits, as Docker's. Like Docker, an id that
/// is all digits is drawn again: its short form would read as a number.
pub fn new_id() -> io::Result<String> {
    loop {
        let id: String = random_bytes::<32>()?
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        if !id[..12].bytes().all(|b| b.is_ascii_digit()) {
            return Ok(id);
        }
    }
}

/// A generated name; `attempt` > 0 adds a digit, as Docker does after a collision.
pub fn generated_name(attempt: u32) -> io::Result<String> {
    let [a, b, c, d] = random_bytes::<4>()?;
    let adjective = ADJECTIVES[usize::from(u16::from_le_bytes([a, b])) % ADJECTIVES.len()];
    let noun = NOUNS[usize::from(u16::from_le_bytes([c, d])) % NOUNS.len()];
    Ok(if attempt == 0 {
        format!("{adjective}_{noun}")
    } else {
        format!("{adjective}_{noun}{}", c % 10)
    })
}

/// Docker's rule for a name given with `--name`: `[a-zA-Z0-9][a-zA-Z0-9_.-]+`, a
/// leading `/` allowed.
pub fn valid_name(name: &str) -> bool {
    let name = name.strip_prefix('/').unwrap_or(name);
    let mut bytes = name.bytes();
    matches!(bytes.next(), Some(b) if b.is_ascii_alphanumeric())
        && name.len() >= 2
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.' || b == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_64_hex_digits_and_differ() {
        let a = new_id().unwrap();
        let b = new_id().unwrap();
        assert_eq!(a.len(), 64);
        assert!(a
            .bytes()
            .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
        assert_ne!(a, b);
    }

    #[test]
    fn generated_names_are_valid_names() {
        for attempt in [0, 1, 2] {
            let name = generated_name(attempt).unwrap();
            assert!(valid_name(&name), "{name}");
            assert!(name.contains('_'), "{name}");
        }
        for words in [ADJECTIVES, NOUNS] {
            assert!(words
                .iter()
                .all(|w| w.bytes().all(|b| b.is_ascii_lowercase())));
        }
    }

    #[test]
    fn names_follow_dockers_rule() {
        for good in ["web", "/web", "a1", "my-app_2.0"] {
            assert!(valid_name(good), "{good}");
        }
        for bad in ["", "a", "-web", "_web", "web app", "wéb", "a/b"] {
            assert!(!valid_name(bad), "{bad}");
        }
    }
}
