//! Choosing a container's address on a network. Pure: the caller reads the addresses
//! in use and records the choice in one write transaction (see `networks::connect`),
//! which is what keeps two `berth` processes from choosing the same one.

use std::collections::HashSet;
use std::net::Ipv4Addr;

use super::subnet::Subnet;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IpamError {
    #[error("no available IPv4 addresses in {0}")]
    Full(Subnet),
    #[error("no configured subnet contains the IP address {address} (the subnet is {subnet})")]
    OutOfSubnet { address: Ipv4Addr, subnet: Subnet },
    #[error("Address already in use: {0}")]
    InUse(Ipv4Addr),
    #[error("{address} is the network, gateway or broadcast address of {subnet}")]
    Reserved { address: Ipv4Addr, subnet: Subnet },
}

/// `requested` if it is a free host address of `subnet`, else (none requested) the
/// lowest free one; never the network, gateway or broadcast address.
pub fn choose(
    subnet: &Subnet,
    gateway: Ipv4Addr,
    used: &HashSet<Ipv4Addr>,
    requested: Option<Ipv4Addr>,
) -> Result<Ipv4Addr, IpamError> {
    if let Some(address) = requested {
        if !subnet.contains(address) {
            return Err(IpamError::OutOfSubnet {
                address,
                subnet: *subnet,
            });
        }
        if !subnet.is_host(address) || address == gateway {
            return Err(IpamError::Reserved {
                address,
                subnet: *subnet,
            });
        }
        if used.contains(&address) {
            return Err(IpamError::InUse(address));
        }
        return Ok(address);
    }
    subnet
        .hosts()
        .find(|a| *a != gateway && !used.contains(a))
        .ok_or(IpamError::Full(*subnet))
}

/// Docker's MAC for an address: 02:42 and the address's four bytes, so a MAC never
/// changes while its address does not (and ARP caches stay right).
pub fn mac_for(address: Ipv4Addr) -> String {
    let [a, b, c, d] = address.octets();
    format!("02:42:{a:02x}:{b:02x}:{c:02x}:{d:02x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn subnet(text: &str) -> Subnet {
        Subnet::parse(text).unwrap()
    }

    fn ip(text: &str) -> Ipv4Addr {
        text.parse().unwrap()
    }

    #[test]
    fn the_lowest_free_host_is_chosen_past_the_gateway() {
        let s = subnet("172.18.0.0/16");
        let g = ip("172.18.0.1");
        let mut used = HashSet::new();
        assert_eq!(choose(&s, g, &used, None), Ok(ip("172.18.0.2")));
        used.insert(ip("172.18.0.2"));
        used.insert(ip("172.18.0.4"));
        assert_eq!(choose(&s, g, &used, None), Ok(ip("172.18.0.3")));
        // Released addresses are reused from the lowest.
        used.remove(&ip("172.18.0.2"));
        assert_eq!(choose(&s, g, &used, None), Ok(ip("172.18.0.2")));
    }

    #[test]
    fn a_gateway_in_the_middle_is_skipped() {
        let s = subnet("10.0.0.0/29");
        let g = ip("10.0.0.2");
        let used: HashSet<_> = [ip("10.0.0.1")].into();
        assert_eq!(choose(&s, g, &used, None), Ok(ip("10.0.0.3")));
    }

    #[test]
    fn a_slash_30_fits_one_container_then_is_full() {
        let s = subnet("10.0.0.0/30");
        let g = s.first_host();
        let mut used = HashSet::new();
        let first = choose(&s, g, &used, None).unwrap();
        assert_eq!(first, ip("10.0.0.2"));
        used.insert(first);
        let err = choose(&s, g, &used, None).unwrap_err();
        assert_eq!(err, IpamError::Full(s));
        assert!(err.to_string().contains("10.0.0.0/30"));
    }

    #[test]
    fn a_requested_address_must_be_a_free_host_of_the_subnet() {
        let s = subnet("10.1.0.0/24");
        let g = ip("10.1.0.1");
        let used: HashSet<_> = [ip("10.1.0.7")].into();
        assert_eq!(
            choose(&s, g, &used, Some(ip("10.1.0.9"))),
            Ok(ip("10.1.0.9"))
        );
        assert_eq!(
            choose(&s, g, &used, Some(ip("10.1.0.7"))),
            Err(IpamError::InUse(ip("10.1.0.7")))
        );
        assert!(matches!(
            choose(&s, g, &used, Some(ip("10.2.0.9"))),
            Err(IpamError::OutOfSubnet { .. })
        ));
        for reserved in ["10.1.0.0", "10.1.0.1", "10.1.0.255"] {
            assert!(matches!(
                choose(&s, g, &used, Some(ip(reserved))),
                Err(IpamError::Reserved { .. })
            ));
        }
    }

    #[test]
    fn macs_are_dockers_02_42_and_the_address() {
        assert_eq!(mac_for(ip("172.17.0.2")), "02:42:ac:11:00:02");
    }
}
