//! berth's packet filtering and address translation, in a table of its own (`ip
//! berth`) so that its rules are found and removed exactly: per network,
//! masquerading of what leaves its subnet, isolation from the other berth bridges
//! (and from everything for an internal one); per container, the DNAT of its
//! published ports, tagged with its id. Each change is one `nft -f -` batch.

use std::io::Write;
use std::net::Ipv4Addr;
use std::path::Path;
use std::process::{Command, Stdio};

use super::netns::NetError;
use super::ports::Protocol;

const TABLE: &str = "ip berth";

/// The chains, made idempotently (`add` of an existing chain changes nothing). The
/// DNAT chains take only traffic for the host's own addresses.
const SKELETON: &str = "add table ip berth
add chain ip berth prerouting { type nat hook prerouting priority -100; policy accept; }
add chain ip berth output { type nat hook output priority -100; policy accept; }
add chain ip berth postrouting { type nat hook postrouting priority 100; policy accept; }
add chain ip berth forward { type filter hook forward priority 0; policy accept; }
";

/// Where the rules go: nft, which berth needs for bridge networks.
pub struct Firewall {
    nft: Option<&'static str>,
}

/// A network's rules: its bridge and subnet, and whether it is internal.
pub struct NetworkRules<'a> {
    pub bridge: &'a str,
    pub subnet: (Ipv4Addr, u8),
    pub internal: bool,
}

/// One published port: host side (all addresses when `host_ip` is None) to the
/// container's address and port.
pub struct PortForward {
    pub protocol: Protocol,
    pub host_ip: Option<Ipv4Addr>,
    pub host_port: u16,
    pub container_ip: Ipv4Addr,
    pub container_port: u16,
}

pub fn detect() -> Firewall {
    let nft = ["/usr/sbin/nft", "/sbin/nft", "/usr/bin/nft"]
        .into_iter()
        .find(|p| Path::new(p).exists());
    Firewall { nft }
}

fn network_tag(bridge: &str) -> String {
    format!("berth-net:{bridge}")
}

fn container_tag(id: &str) -> String {
    format!("berth:{id}")
}

/// The rules of network `rules`, as nft commands.
pub fn network_rules(rules: &NetworkRules) -> String {
    let (address, prefix) = rules.subnet;
    let subnet = format!("{address}/{prefix}");
    let br = rules.bridge;
    let tag = network_tag(br);
    let mut text = String::new();
    let mut add = |chain: &str, rule: String| {
        text.push_str(&format!(
            "add rule {TABLE} {chain} {rule} comment \"{tag}\"\n"
        ));
    };
    // Published ports reached from the host's loopback or from a container of the
    // same bridge: the answer must come back through the host, so the source is
    // the bridge's address.
    add(
        "postrouting",
        format!("oifname \"{br}\" ct status dnat ip saddr {{ 127.0.0.0/8, {subnet} }} masquerade"),
    );
    // Other berth bridges are not reachable from this one, as Docker's bridges.
    add(
        "forward",
        format!("iifname \"{br}\" oifname \"br-*\" oifname != \"{br}\" drop"),
    );
    add(
        "forward",
        format!("iifname \"{br}\" oifname \"berth0\" oifname != \"{br}\" drop"),
    );
    if rules.internal {
        add(
            "forward",
            format!("iifname \"{br}\" oifname != \"{br}\" drop"),
        );
        add(
            "forward",
            format!("oifname \"{br}\" iifname != \"{br}\" drop"),
        );
    } else {
        add(
            "postrouting",
            format!("ip saddr {subnet} oifname != \"{br}\" masquerade"),
        );
    }
    text
}

/// The DNAT rules of container `id`'s ports, as nft commands.
pub fn port_rules(id: &str, forwards: &[PortForward]) -> String {
    let tag = container_tag(id);
    let mut text = String::new();
    for forward in forwards {
        let to_host = match forward.host_ip {
            Some(ip) => format!("ip daddr {ip} "),
            None => "fib daddr type local ".to_string(),
        };
        let rule = format!(
            "{to_host}{proto} dport {port} dnat to {ip}:{cport} comment \"{tag}\"",
            proto = forward.protocol.as_str(),
            port = forward.host_port,
            ip = forward.container_ip,
            cport = forward.container_port,
        );
        for chain in ["prerouting", "output"] {
            text.push_str(&format!("add rule {TABLE} {chain} {rule}\n"));
        }
    }
    text
}

/// `delete rule` commands for every rule of the listing `listing` (`nft -a list
/// table`) whose comment is `tag`.
pub fn deletions(listing: &str, tag: &str) -> String {
    let mut chain = "";
    let mut text = String::new();
    let wanted = format!("comment \"{tag}\"");
    for line in listing.lines() {
        let line = line.trim();
        if let Some(rest) = line.strip_prefix("chain ") {
            chain = rest.split_whitespace().next().unwrap_or("");
        } else if line.contains(&wanted) {
            if let Some(handle) = line
                .rsplit("# handle ")
                .next()
                .filter(|_| line.contains("# handle "))
            {
                text.push_str(&format!(
                    "delete rule {TABLE} {chain} handle {}\n",
                    handle.trim()
                ));
            }
        }
    }
    text
}

impl Firewall {
    fn nft(&self) -> Result<&'static str, NetError> {
        self.nft.ok_or_else(|| {
            NetError::new(
                "firewall",
                "nft not found: berth's bridge networks need nftables (apt-get install nftables)",
            )
        })
    }

    /// Applies `batch` atomically.
    fn apply(&self, what: &str, batch: &str) -> Result<(), NetError> {
        let mut child = Command::new(self.nft()?)
            .args(["-f", "-"])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| NetError::new(what, format!("nft: {e}")))?;
        if let Some(mut stdin) = child.stdin.take() {
            stdin
                .write_all(batch.as_bytes())
                .map_err(|e| NetError::new(what, format!("nft: {e}")))?;
        }
        let out = child
            .wait_with_output()
            .map_err(|e| NetError::new(what, format!("nft: {e}")))?;
        if !out.status.success() {
            let stderr = String::from_utf8_lossy(&out.stderr);
            return Err(NetError::new(what, format!("nft: {}", stderr.trim())));
        }
        Ok(())
    }

    /// berth's table with its handles, or "" when it does not exist yet.
    fn listing(&self) -> Result<String, NetError> {
        let Some(nft) = self.nft else {
            return Ok(String::new());
        };
        let out = Command::new(nft)
            .args(["-a", "list", "table", "ip", "berth"])
            .stderr(Stdio::null())
            .output()
            .map_err(|e| NetError::new("firewall", format!("nft: {e}")))?;
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// Installs network `rules` afresh: any earlier rules of its bridge go first.
    pub fn ensure_network(&self, rules: &NetworkRules) -> Result<(), NetError> {
        let what = format!("firewall rules of bridge {}", rules.bridge);
        let old = deletions(&self.listing()?, &network_tag(rules.bridge));
        self.apply(&what, &format!("{SKELETON}{old}{}", network_rules(rules)))
    }

    /// Removes network `bridge`'s rules.
    pub fn remove_network(&self, bridge: &str) -> Result<(), NetError> {
        let old = deletions(&self.listing()?, &network_tag(bridge));
        if old.is_empty() {
            return Ok(());
        }
        self.apply(&format!("firewall rules of bridge {bridge}"), &old)
    }

    /// Forwards container `id`'s published ports.
    pub fn add_ports(
        &self,
        id: &str,
        _bridge: &str,
        forwards: &[PortForward],
    ) -> Result<(), NetError> {
        if forwards.is_empty() {
            return Ok(());
        }
        let what = format!("published ports of container {id}");
        self.apply(&what, &format!("{SKELETON}{}", port_rules(id, forwards)))
    }

    /// Removes container `id`'s port rules; none is fine (and costs no nft process
    /// when berth has no table at all).
    pub fn remove_ports(&self, id: &str) -> Result<(), NetError> {
        if self.nft.is_none() {
            return Ok(());
        }
        let old = deletions(&self.listing()?, &container_tag(id));
        if old.is_empty() {
            return Ok(());
        }
        self.apply(&format!("published ports of container {id}"), &old)
    }

    /// Ids of the containers that have rules (to find what a crash left).
    pub fn containers_with_rules(&self) -> Result<Vec<String>, NetError> {
        let listing = self.listing()?;
        let mut ids: Vec<String> = listing
            .split("comment \"berth:")
            .skip(1)
            .filter_map(|rest| rest.split('"').next())
            .map(str::to_string)
            .collect();
        ids.sort();
        ids.dedup();
        Ok(ids)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_rules_take_the_hosts_addresses_or_one_of_them() {
        let text = port_rules(
            "abc",
            &[PortForward {
                protocol: Protocol::Tcp,
                host_ip: None,
                host_port: 8080,
                container_ip: Ipv4Addr::new(172, 17, 0, 2),
                container_port: 80,
            }],
        );
        assert_eq!(
            text,
            "add rule ip berth prerouting fib daddr type local tcp dport 8080 dnat to 172.17.0.2:80 comment \"berth:abc\"\n\
             add rule ip berth output fib daddr type local tcp dport 8080 dnat to 172.17.0.2:80 comment \"berth:abc\"\n"
        );
    }

    #[test]
    fn deletions_pick_the_tagged_rules_by_handle() {
        let listing = "table ip berth { # handle 1\n\tchain prerouting { # handle 2\n\t\ttype nat hook prerouting priority dstnat; policy accept;\n\t\tfib daddr type local tcp dport 8080 dnat to 172.17.0.2:80 comment \"berth:abc\" # handle 8\n\t\tfib daddr type local tcp dport 9090 dnat to 172.17.0.3:80 comment \"berth:abd\" # handle 9\n\t}\n\tchain output { # handle 3\n\t\tfib daddr type local tcp dport 8080 dnat to 172.17.0.2:80 comment \"berth:abc\" # handle 10\n\t}\n}\n";
        assert_eq!(
            deletions(listing, "berth:abc"),
            "delete rule ip berth prerouting handle 8\ndelete rule ip berth output handle 10\n"
        );
    }

    #[test]
    fn an_internal_network_has_no_way_out() {
        let rules = network_rules(&NetworkRules {
            bridge: "br-1",
            subnet: (Ipv4Addr::new(172, 18, 0, 0), 16),
            internal: true,
        });
        assert!(!rules.contains("oifname != \"br-1\" masquerade"));
        assert!(rules.contains("iifname \"br-1\" oifname != \"br-1\" drop"));
    }
}
