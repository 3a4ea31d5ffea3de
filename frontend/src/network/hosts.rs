//! Name resolution on user networks, by hosts files kept current: each container's
//! /etc/hosts lists every other container on its networks, rewritten as containers
//! come and go. No resolver process has to run beside daemonless berth (nothing to
//! outlive, crash or restart), at the price of names being known only to the hosts
//! file, not to DNS queries (`nslookup` asks the host's servers).

use std::fs::OpenOptions;
use std::io::{self, Write};
use std::net::Ipv4Addr;
use std::path::Path;

/// One line of a hosts file: an address and the names that resolve to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostEntry {
    pub address: Ipv4Addr,
    pub names: Vec<String>,
}

/// A container's hosts file: `base` (localhost and `--add-host` lines), its own
/// address under its hostname (as Docker writes it), then its peers.
pub fn render(base: &str, own: &[HostEntry], peers: &[HostEntry]) -> String {
    let mut text = base.to_string();
    if !text.is_empty() && !text.ends_with('\n') {
        text.push('\n');
    }
    for entry in own.iter().chain(peers) {
        if entry.names.is_empty() {
            continue;
        }
        text.push_str(&format!("{}\t{}\n", entry.address, entry.names.join(" ")));
    }
    text
}

/// Replaces the contents of a running container's hosts file in place: it is bind
/// mounted, so a file renamed over it would not be the one the container sees.
pub fn rewrite_in_place(path: &Path, text: &str) -> io::Result<()> {
    let mut file = OpenOptions::new().write(true).truncate(true).open(path)?;
    file.write_all(text.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_line_then_peers_after_the_base() {
        let own = [HostEntry {
            address: Ipv4Addr::new(172, 18, 0, 2),
            names: vec!["abc123".into()],
        }];
        let peers = [
            HostEntry {
                address: Ipv4Addr::new(172, 18, 0, 3),
                names: vec!["web".into(), "def456".into(), "www".into()],
            },
            HostEntry {
                address: Ipv4Addr::new(172, 18, 0, 4),
                names: vec![],
            },
        ];
        assert_eq!(
            render("127.0.0.1\tlocalhost", &own, &peers),
            "127.0.0.1\tlocalhost\n172.18.0.2\tabc123\n172.18.0.3\tweb def456 www\n"
        );
    }

    #[test]
    fn in_place_keeps_the_inode() {
        use std::os::unix::fs::MetadataExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hosts");
        std::fs::write(&path, "a much longer first version\n").unwrap();
        let before = std::fs::metadata(&path).unwrap().ino();
        rewrite_in_place(&path, "short\n").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "short\n");
        assert_eq!(std::fs::metadata(&path).unwrap().ino(), before);
    }
}
