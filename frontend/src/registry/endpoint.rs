//! Where a registry is reached and how: Docker Hub's real host, which hosts may be
//! spoken to without TLS, and when two URLs are the same origin (credentials go only
//! to the registry's own).

use std::net::IpAddr;

use reqwest::Url;

use crate::image::reference::DEFAULT_DOMAIN;

/// Docker Hub's registry API is not served at `docker.io` itself.
const HUB_ENDPOINT: &str = "registry-1.docker.io";

/// The host (with its port) that serves the registry API of `domain`: Docker Hub's
/// `docker.io` is `registry-1.docker.io`; any other domain serves itself.
pub fn endpoint_host(domain: &str) -> &str {
    if domain == DEFAULT_DOMAIN || domain == "index.docker.io" {
        HUB_ENDPOINT
    } else {
        domain
    }
}

/// Whether `host` (`name`, `name:port`, `[v6]:port`) may be reached over plain http,
/// as Docker decides: loopback hosts (127.0.0.0/8, ::1, localhost) and hosts listed in
/// `insecure` (exactly, `host:port` or `host`, or by an IP range `10.0.0.0/8`).
/// Everything else is https only: a registry answer over plain http could be anyone's.
pub fn plain_http_allowed(host: &str, insecure: &[String]) -> bool {
    let name = host_name(host);
    if is_loopback(name) {
        return true;
    }
    let ip = name
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse::<IpAddr>()
        .ok();
    insecure.iter().any(|entry| {
        let entry = entry
            .trim()
            .trim_start_matches("https://")
            .trim_start_matches("http://")
            .trim_end_matches('/');
        if entry == host || entry == name {
            return true;
        }
        match (ip, entry.split_once('/')) {
            (Some(ip), Some((network, bits))) => in_network(ip, network, bits),
            _ => false,
        }
    })
}

/// The host name of `host[:port]`, brackets kept for IPv6: `[::1]:5000` → `[::1]`.
pub(crate) fn host_name(host: &str) -> &str {
    if host.starts_with('[') {
        return match host.find(']') {
            Some(end) => &host[..=end],
            None => host,
        };
    }
    match host.rsplit_once(':') {
        // A bare IPv6 address has more than one ':': no port to strip.
        Some((name, port)) if !name.contains(':') && port.bytes().all(|b| b.is_ascii_digit()) => {
            name
        }
        _ => host,
    }
}

fn is_loopback(name: &str) -> bool {
    let bare = name.trim_start_matches('[').trim_end_matches(']');
    if bare.eq_ignore_ascii_case("localhost") {
        return true;
    }
    bare.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

fn in_network(ip: IpAddr, network: &str, bits: &str) -> bool {
    let (Ok(network), Ok(bits)) = (network.parse::<IpAddr>(), bits.parse::<u32>()) else {
        return false;
    };
    match (ip, network) {
        (IpAddr::V4(ip), IpAddr::V4(net)) if bits <= 32 => {
            let mask = u32::MAX.checked_shl(32 - bits).unwrap_or(0);
            u32::from(ip) & mask == u32::from(net) & mask
        }
        (IpAddr::V6(ip), IpAddr::V6(net)) if bits <= 128 => {
            let mask = u128::MAX.checked_shl(128 - bits).unwrap_or(0);
            u128::from(ip) & mask == u128::from(net) & mask
        }
        _ => false,
    }
}

/// Whether a redirect or a token realm at `url` may be fetched: https always, plain
/// http only to a host that may be spoken to without TLS.
pub(crate) fn scheme_allowed(url: &Url, insecure: &[String]) -> bool {
    match url.scheme() {
        "https" => true,
        "http" => plain_http_allowed(&authority(url), insecure),
        _ => false,
    }
}

/// `host[:port]` of a URL, as a registry domain is written.
pub(crate) fn authority(url: &Url) -> String {
    // host_str keeps an IPv6 address in brackets, as a domain writes it.
    let host = url.host_str().unwrap_or_default();
    match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_string(),
    }
}

/// Same scheme, host and port: only then does a request carry the registry's
/// `Authorization` (a blob redirected to a storage host must not get it).
pub(crate) fn same_origin(a: &Url, b: &Url) -> bool {
    a.scheme() == b.scheme()
        && a.host_str() == b.host_str()
        && a.port_or_known_default() == b.port_or_known_default()
}

#[cfg(test)]
mod tests;
