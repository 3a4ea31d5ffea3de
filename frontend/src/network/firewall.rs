//! Firewall rules for bridge networks and published ports: nftables (`table ip berth`) when
//! `nft` is installed, else iptables (`BERTH-*` chains jumped to from the built-in ones).
//! Every change is one batch through one process (`nft -f -` / `iptables-restore --noflush`).
//! Rules carry a comment, `net:<bridge>` or `ctr:<container id>`, so removal is exact and
//! leftovers of a crashed berth can be found.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::io::Write as _;
use std::net::Ipv4Addr;
use std::path::Path;
use std::process::{Command, Stdio};

use super::netns::NetError;

/// Which tool programs the rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Firewall {
    Nft,
    Iptables,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    Tcp,
    Udp,
}

impl Protocol {
    fn as_str(self) -> &'static str {
        match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
        }
    }
}

/// The rules one bridge network needs, installed once when its bridge is created.
#[derive(Debug, Clone)]
pub struct NetworkRules<'a> {
    pub bridge: &'a str,
    pub subnet: Ipv4Addr,
    pub prefix_len: u8,
    pub internal: bool,
}

/// One published port: `host_ip:host_port -> container_ip:container_port`.
#[derive(Debug, Clone)]
pub struct PortForward {
    pub protocol: Protocol,
    pub host_ip: Option<Ipv4Addr>,
    pub host_port: u16,
    pub container_ip: Ipv4Addr,
    pub container_port: u16,
}

/// `nft` when its binary is on the usual paths, else iptables.
pub fn detect() -> Firewall {
    // BERTH_FIREWALL=iptables picks iptables where both are installed (the tests run
    // both; a host whose other rules are all iptables may want it too).
    if std::env::var_os("BERTH_FIREWALL").is_some_and(|v| v == "iptables") {
        return Firewall::Iptables;
    }
    let nft = ["/usr/sbin/nft", "/sbin/nft", "/usr/bin/nft"];
    if nft.iter().any(|p| Path::new(p).exists()) {
        Firewall::Nft
    } else {
        Firewall::Iptables
    }
}

/// Turns on forwarding in berth's netns (the sysctl is per netns), and `route_localnet` on a
/// bridge so DNAT of 127.0.0.1 towards it is routed.
pub fn enable_forwarding(bridge: &str) -> Result<(), NetError> {
    write_sysctl("/proc/sys/net/ipv4/ip_forward")?;
    write_sysctl(&format!("/proc/sys/net/ipv4/conf/{bridge}/route_localnet"))
}

fn write_sysctl(path: &str) -> Result<(), NetError> {
    if std::fs::read_to_string(path).is_ok_and(|v| v.trim() == "1") {
        return Ok(());
    }
    std::fs::write(path, "1").map_err(|source| NetError::Io {
        what: format!("writing 1 to {path}"),
        source,
    })
}

fn net_tag(bridge: &str) -> String {
    format!("net:{bridge}")
}

fn ctr_tag(id: &str) -> String {
    format!("ctr:{id}")
}

// ---- nftables text ----

const NFT_BASE: &str = "add table ip berth
add chain ip berth prerouting { type nat hook prerouting priority dstnat; policy accept; }
add chain ip berth output { type nat hook output priority -100; policy accept; }
add chain ip berth postrouting { type nat hook postrouting priority srcnat; policy accept; }
add chain ip berth ports
add chain ip berth forward { type filter hook forward priority filter; policy accept; }
add chain ip berth fwd_in
add chain ip berth fwd_out
add rule ip berth prerouting fib daddr type local jump ports
add rule ip berth output fib daddr type local jump ports
add rule ip berth forward ct state established,related accept
add rule ip berth forward jump fwd_in
add rule ip berth forward jump fwd_out
";

/// The nft batch for one network: masquerade out, loopback and hairpin masquerade towards the
/// bridge, forwarding within the bridge and of published ports, everything else into the
/// bridge dropped (isolation from other bridges), and out of it accepted unless internal.
pub fn nft_network_rules(n: &NetworkRules) -> String {
    let (br, net, tag) = (
        n.bridge,
        format!("{}/{}", n.subnet, n.prefix_len),
        net_tag(n.bridge),
    );
    let mut s = String::new();
    let mut rule = |chain: &str, body: String| {
        let _ = writeln!(s, "add rule ip berth {chain} {body} comment \"{tag}\"");
    };
    if !n.internal {
        rule(
            "postrouting",
            format!("ip saddr {net} oifname != \"{br}\" masquerade"),
        );
    }
    rule(
        "postrouting",
        format!("oifname \"{br}\" ip saddr 127.0.0.0/8 masquerade"),
    );
    rule(
        "postrouting",
        format!("oifname \"{br}\" ip saddr {net} ct status dnat masquerade"),
    );
    rule(
        "fwd_in",
        format!("oifname \"{br}\" iifname \"{br}\" accept"),
    );
    if !n.internal {
        rule("fwd_in", format!("oifname \"{br}\" ct status dnat accept"));
    }
    rule("fwd_in", format!("oifname \"{br}\" drop"));
    let verdict = if n.internal { "drop" } else { "accept" };
    rule("fwd_out", format!("iifname \"{br}\" {verdict}"));
    s
}

pub fn nft_port_rules(container_id: &str, ports: &[PortForward]) -> String {
    let tag = ctr_tag(container_id);
    let mut s = String::new();
    for p in ports {
        let daddr = p
            .host_ip
            .map(|ip| format!("ip daddr {ip} "))
            .unwrap_or_default();
        let _ = writeln!(
            s,
            "add rule ip berth ports {daddr}{proto} dport {hp} dnat to {cip}:{cp} comment \"{tag}\"",
            proto = p.protocol.as_str(),
            hp = p.host_port,
            cip = p.container_ip,
            cp = p.container_port,
        );
    }
    s
}

/// (chain, handle, comment) of every commented rule in `nft -a list table ip berth` output.
fn nft_tagged_rules(listing: &str) -> Vec<(String, u64, String)> {
    let mut chain = String::new();
    let mut out = Vec::new();
    for line in listing.lines().map(str::trim) {
        if let Some(rest) = line.strip_prefix("chain ") {
            chain = rest
                .split_whitespace()
                .next()
                .unwrap_or_default()
                .to_string();
            continue;
        }
        let Some((_, after)) = line.split_once("comment \"") else {
            continue;
        };
        let Some((comment, tail)) = after.split_once('"') else {
            continue;
        };
        let handle = tail
            .trim()
            .strip_prefix("# handle ")
            .and_then(|h| h.trim().parse().ok());
        if let Some(h) = handle {
            out.push((chain.clone(), h, comment.to_string()));
        }
    }
    out
}

// ---- iptables text ----

const IPT_BASE_NAT: &str = ":BERTH-PORTS - [0:0]
:BERTH-POSTROUTING - [0:0]
-A PREROUTING -m addrtype --dst-type LOCAL -j BERTH-PORTS
-A OUTPUT -m addrtype --dst-type LOCAL -j BERTH-PORTS
-A POSTROUTING -j BERTH-POSTROUTING
";
const IPT_BASE_FILTER: &str = ":BERTH-FORWARD - [0:0]
:BERTH-FWD-IN - [0:0]
:BERTH-FWD-OUT - [0:0]
-I FORWARD -j BERTH-FORWARD
-A BERTH-FORWARD -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A BERTH-FORWARD -j BERTH-FWD-IN
-A BERTH-FORWARD -j BERTH-FWD-OUT
";

/// The same rules as [`nft_network_rules`], as (nat, filter) iptables-restore lines.
pub fn ipt_network_rules(n: &NetworkRules) -> (String, String) {
    let (br, net, tag) = (
        n.bridge,
        format!("{}/{}", n.subnet, n.prefix_len),
        net_tag(n.bridge),
    );
    let c = format!("-m comment --comment {tag}");
    let mut nat = String::new();
    if !n.internal {
        let _ = writeln!(
            nat,
            "-A BERTH-POSTROUTING -s {net} ! -o {br} {c} -j MASQUERADE"
        );
    }
    let _ = writeln!(
        nat,
        "-A BERTH-POSTROUTING -s 127.0.0.0/8 -o {br} {c} -j MASQUERADE"
    );
    let _ = writeln!(
        nat,
        "-A BERTH-POSTROUTING -s {net} -o {br} -m conntrack --ctstate DNAT {c} -j MASQUERADE"
    );
    let mut filter = String::new();
    let _ = writeln!(filter, "-A BERTH-FWD-IN -i {br} -o {br} {c} -j ACCEPT");
    if !n.internal {
        let _ = writeln!(
            filter,
            "-A BERTH-FWD-IN -o {br} -m conntrack --ctstate DNAT {c} -j ACCEPT"
        );
    }
    let _ = writeln!(filter, "-A BERTH-FWD-IN -o {br} {c} -j DROP");
    let verdict = if n.internal { "DROP" } else { "ACCEPT" };
    let _ = writeln!(filter, "-A BERTH-FWD-OUT -i {br} {c} -j {verdict}");
    (nat, filter)
}

pub fn ipt_port_rules(container_id: &str, ports: &[PortForward]) -> String {
    let tag = ctr_tag(container_id);
    let mut s = String::new();
    for p in ports {
        let d = p
            .host_ip
            .map(|ip| format!("-d {ip}/32 "))
            .unwrap_or_default();
        let proto = p.protocol.as_str();
        let _ = writeln!(
            s,
            "-A BERTH-PORTS {d}-p {proto} -m {proto} --dport {} -m comment --comment {tag} -j DNAT --to-destination {}:{}",
            p.host_port, p.container_ip, p.container_port
        );
    }
    s
}

/// (table, rule line, comment) of every commented `-A` line of iptables-save output.
fn ipt_tagged_rules(save: &str) -> Vec<(String, String, String)> {
    let mut table = String::new();
    let mut out = Vec::new();
    for line in save.lines() {
        if let Some(t) = line.strip_prefix('*') {
            table = t.to_string();
        } else if line.starts_with("-A ") {
            let mut words = line.split_whitespace();
            if words.any(|w| w == "--comment") {
                if let Some(c) = words.next() {
                    out.push((
                        table.clone(),
                        line.to_string(),
                        c.trim_matches('"').to_string(),
                    ));
                }
            }
        }
    }
    out
}

fn ipt_batch(nat: &str, filter: &str) -> String {
    let mut s = String::new();
    for (t, body) in [("nat", nat), ("filter", filter)] {
        if !body.is_empty() {
            let _ = write!(s, "*{t}\n{body}COMMIT\n");
        }
    }
    s
}

// ---- running the tools ----

fn run_tool(
    tool: &'static str,
    args: &[&str],
    stdin: Option<&str>,
    what: &str,
) -> Result<String, NetError> {
    let fail = |stderr: String| NetError::Firewall {
        tool,
        what: what.to_string(),
        stderr,
    };
    let mut child = Command::new(tool)
        .args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| fail(format!("running {tool}: {e}")))?;
    if let (Some(input), Some(mut pipe)) = (stdin, child.stdin.take()) {
        pipe.write_all(input.as_bytes())
            .map_err(|e| fail(format!("writing to {tool}: {e}")))?;
    }
    let out = child
        .wait_with_output()
        .map_err(|e| fail(format!("waiting for {tool}: {e}")))?;
    if !out.status.success() {
        return Err(fail(
            String::from_utf8_lossy(&out.stderr).trim().to_string(),
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

impl Firewall {
    fn tool(self) -> &'static str {
        match self {
            Firewall::Nft => "nft",
            Firewall::Iptables => "iptables",
        }
    }

    /// berth's table listing (nft -a) or the whole iptables-save; `None` when berth has no
    /// rules yet.
    fn listing(self) -> Result<Option<String>, NetError> {
        match self {
            Firewall::Nft => match run_tool(
                "nft",
                &["-a", "list", "table", "ip", "berth"],
                None,
                "listing table ip berth",
            ) {
                Ok(s) => Ok(Some(s)),
                Err(NetError::Firewall { stderr, .. }) if stderr.contains("No such file") => {
                    Ok(None)
                }
                Err(e) => Err(e),
            },
            Firewall::Iptables => {
                let s = run_tool("iptables-save", &[], None, "listing rules")?;
                Ok(s.contains(":BERTH-PORTS").then_some(s))
            }
        }
    }

    fn apply(self, batch: &str, what: &str) -> Result<(), NetError> {
        if batch.is_empty() {
            return Ok(());
        }
        match self {
            Firewall::Nft => run_tool("nft", &["-f", "-"], Some(batch), what),
            Firewall::Iptables => run_tool("iptables-restore", &["--noflush"], Some(batch), what),
        }
        .map(|_| ())
        .map_err(|e| match e {
            NetError::Firewall { stderr, what, .. } => NetError::Firewall {
                tool: self.tool(),
                what,
                stderr,
            },
            e => e,
        })
    }

    fn tags(self, listing: &str) -> Vec<String> {
        match self {
            Firewall::Nft => nft_tagged_rules(listing).into_iter().map(|r| r.2).collect(),
            Firewall::Iptables => ipt_tagged_rules(listing).into_iter().map(|r| r.2).collect(),
        }
    }

    /// Installs a network's rules (and berth's base chains the first time) unless already
    /// there: two processes at most, called when the bridge is created or on an explicit ensure.
    pub fn ensure_network(self, n: &NetworkRules) -> Result<(), NetError> {
        let listing = self.listing()?;
        let tag = net_tag(n.bridge);
        if listing
            .as_ref()
            .is_some_and(|l| self.tags(l).contains(&tag))
        {
            return Ok(());
        }
        let what = format!("adding rules of network {}", n.bridge);
        let batch = match self {
            Firewall::Nft => {
                let base = if listing.is_none() { NFT_BASE } else { "" };
                format!("{base}{}", nft_network_rules(n))
            }
            Firewall::Iptables => {
                let (nat, filter) = ipt_network_rules(n);
                if listing.is_none() {
                    ipt_batch(
                        &format!("{IPT_BASE_NAT}{nat}"),
                        &format!("{IPT_BASE_FILTER}{filter}"),
                    )
                } else {
                    ipt_batch(&nat, &filter)
                }
            }
        };
        self.apply(&batch, &what)
    }

    /// Removes the rules tagged `tag`, in one batch.
    fn remove_tagged(self, tag: &str, what: &str) -> Result<(), NetError> {
        let Some(listing) = self.listing()? else {
            return Ok(());
        };
        let batch = match self {
            Firewall::Nft => nft_tagged_rules(&listing)
                .into_iter()
                .filter(|r| r.2 == tag)
                .map(|(chain, handle, _)| format!("delete rule ip berth {chain} handle {handle}\n"))
                .collect::<String>(),
            Firewall::Iptables => {
                let (mut nat, mut filter) = (String::new(), String::new());
                for (table, line, _) in ipt_tagged_rules(&listing)
                    .into_iter()
                    .filter(|r| r.2 == tag)
                {
                    let del = format!("-D{}\n", &line[2..]);
                    match table.as_str() {
                        "nat" => nat.push_str(&del),
                        _ => filter.push_str(&del),
                    }
                }
                ipt_batch(&nat, &filter)
            }
        };
        self.apply(&batch, what)
    }

    /// Removes a network's rules; berth's base chains stay (they are empty without networks).
    pub fn remove_network(self, bridge: &str) -> Result<(), NetError> {
        self.remove_tagged(
            &net_tag(bridge),
            &format!("removing rules of network {bridge}"),
        )
    }

    /// DNATs a container's published ports, in one batch.
    pub fn add_ports(self, container_id: &str, ports: &[PortForward]) -> Result<(), NetError> {
        if ports.is_empty() {
            return Ok(());
        }
        if self.listing()?.is_none() {
            return Err(NetError::Firewall {
                tool: self.tool(),
                what: format!("publishing ports of {container_id}"),
                stderr: "berth's chains are missing: ensure_network first".into(),
            });
        }
        let batch = match self {
            Firewall::Nft => nft_port_rules(container_id, ports),
            Firewall::Iptables => ipt_batch(&ipt_port_rules(container_id, ports), ""),
        };
        self.apply(&batch, &format!("publishing ports of {container_id}"))
    }

    pub fn remove_ports(self, container_id: &str) -> Result<(), NetError> {
        self.remove_tagged(
            &ctr_tag(container_id),
            &format!("removing ports of {container_id}"),
        )
    }

    /// Ids of the containers that have rules, to remove the leftovers of a crashed berth.
    pub fn containers_with_rules(self) -> Result<Vec<String>, NetError> {
        let Some(listing) = self.listing()? else {
            return Ok(Vec::new());
        };
        let ids: BTreeSet<String> = self
            .tags(&listing)
            .into_iter()
            .filter_map(|t| t.strip_prefix("ctr:").map(str::to_string))
            .collect();
        Ok(ids.into_iter().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(internal: bool) -> NetworkRules<'static> {
        NetworkRules {
            bridge: "berth0",
            subnet: Ipv4Addr::new(172, 17, 0, 0),
            prefix_len: 16,
            internal,
        }
    }

    fn port() -> PortForward {
        PortForward {
            protocol: Protocol::Udp,
            host_ip: Some(Ipv4Addr::LOCALHOST),
            host_port: 5353,
            container_ip: Ipv4Addr::new(172, 17, 0, 2),
            container_port: 53,
        }
    }

    #[test]
    fn nft_network_masquerades_unless_internal() {
        let open = nft_network_rules(&net(false));
        assert!(open.contains(
            "add rule ip berth postrouting ip saddr 172.17.0.0/16 oifname != \"berth0\" masquerade comment \"net:berth0\"\n"
        ));
        assert!(open.contains("fwd_out iifname \"berth0\" accept"));
        let internal = nft_network_rules(&net(true));
        assert!(!internal.contains("oifname != \"berth0\" masquerade"));
        assert!(internal.contains("fwd_out iifname \"berth0\" drop"));
        assert!(internal
            .lines()
            .all(|l| l.ends_with("comment \"net:berth0\"")));
    }

    #[test]
    fn port_rules_name_host_ip_and_container() {
        assert_eq!(
            nft_port_rules("abc", &[port()]),
            "add rule ip berth ports ip daddr 127.0.0.1 udp dport 5353 dnat to 172.17.0.2:53 comment \"ctr:abc\"\n"
        );
        assert_eq!(
            ipt_port_rules("abc", &[port()]),
            "-A BERTH-PORTS -d 127.0.0.1/32 -p udp -m udp --dport 5353 -m comment --comment ctr:abc -j DNAT --to-destination 172.17.0.2:53\n"
        );
    }

    #[test]
    fn listings_yield_tagged_rules() {
        let nft = "table ip berth {\n\tchain ports { # handle 4\n\t\tudp dport 5353 dnat to 172.17.0.2:53 comment \"ctr:abc\" # handle 17\n\t}\n}\n";
        assert_eq!(
            nft_tagged_rules(nft),
            vec![("ports".to_string(), 17, "ctr:abc".to_string())]
        );
        let save = "*nat\n:BERTH-PORTS - [0:0]\n-A BERTH-PORTS -p udp -m comment --comment ctr:abc -j DNAT --to-destination 172.17.0.2:53\nCOMMIT\n";
        let rules = ipt_tagged_rules(save);
        assert_eq!(rules.len(), 1);
        assert_eq!(
            (rules[0].0.as_str(), rules[0].2.as_str()),
            ("nat", "ctr:abc")
        );
    }
}
