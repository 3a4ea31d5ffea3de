//! IPv4 subnets as berth's networks use them: parsing `--subnet`/`--gateway` with
//! Docker's errors, overlap, and the pools a network without `--subnet` draws from
//! (Docker's defaults: 172.17–172.31 as /16s, then 192.168.0.0/16 in /20s).

use std::fmt;
use std::net::Ipv4Addr;

/// The default `bridge` network's subnet and gateway, as docker0's.
pub const DEFAULT_BRIDGE_SUBNET: Subnet = Subnet {
    network: Ipv4Addr::new(172, 17, 0, 0),
    prefix: 16,
};
pub const DEFAULT_BRIDGE_GATEWAY: Ipv4Addr = Ipv4Addr::new(172, 17, 0, 1);

/// A bridge needs a gateway and one container address besides the network and
/// broadcast addresses: /30 is the smallest subnet that has them.
pub const MAX_PREFIX: u8 = 30;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SubnetError {
    #[error("invalid CIDR address: {0}")]
    InvalidCidr(String),
    #[error("invalid subnet {given}: it should be {normal}")]
    HostBitsSet { given: String, normal: String },
    #[error("invalid subnet {0}: a bridge network needs at least a /{MAX_PREFIX}")]
    TooSmall(String),
    #[error("invalid gateway address {0}")]
    InvalidGateway(String),
}

/// An IPv4 network: its first address and prefix length.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Subnet {
    network: Ipv4Addr,
    prefix: u8,
}

impl Subnet {
    /// `network` with its host bits cleared.
    pub fn new(address: Ipv4Addr, prefix: u8) -> Subnet {
        let prefix = prefix.min(32);
        Subnet {
            network: Ipv4Addr::from(u32::from(address) & mask(prefix)),
            prefix,
        }
    }

    /// `A.B.C.D/N` with no host bits set, at most /30.
    pub fn parse(text: &str) -> Result<Subnet, SubnetError> {
        let invalid = || SubnetError::InvalidCidr(text.to_string());
        let (address, prefix) = text.split_once('/').ok_or_else(invalid)?;
        let address: Ipv4Addr = address.parse().map_err(|_| invalid())?;
        // Go's ParseCIDR takes decimal digits only: no sign, no spaces.
        if prefix.is_empty() || !prefix.bytes().all(|b| b.is_ascii_digit()) {
            return Err(invalid());
        }
        let prefix: u8 = prefix.parse().map_err(|_| invalid())?;
        if prefix > 32 {
            return Err(invalid());
        }
        let subnet = Subnet::new(address, prefix);
        if subnet.network != address {
            return Err(SubnetError::HostBitsSet {
                given: text.to_string(),
                normal: subnet.to_string(),
            });
        }
        if prefix > MAX_PREFIX {
            return Err(SubnetError::TooSmall(text.to_string()));
        }
        Ok(subnet)
    }

    pub fn network(&self) -> Ipv4Addr {
        self.network
    }

    pub fn prefix(&self) -> u8 {
        self.prefix
    }

    pub fn broadcast(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.network) | !mask(self.prefix))
    }

    pub fn contains(&self, address: Ipv4Addr) -> bool {
        u32::from(address) & mask(self.prefix) == u32::from(self.network)
    }

    /// Whether an address can be a host's: inside, and neither the network nor the
    /// broadcast address.
    pub fn is_host(&self, address: Ipv4Addr) -> bool {
        self.contains(address) && address != self.network && address != self.broadcast()
    }

    pub fn overlaps(&self, other: &Subnet) -> bool {
        self.contains(other.network) || other.contains(self.network)
    }

    /// The first host address: where Docker puts the gateway when none is given.
    pub fn first_host(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.network) + 1)
    }

    /// Host addresses from the lowest up.
    pub fn hosts(&self) -> impl Iterator<Item = Ipv4Addr> {
        let first = u32::from(self.network) + 1;
        let last = u32::from(self.broadcast()).saturating_sub(1);
        (first..=last).map(Ipv4Addr::from)
    }
}

impl fmt::Display for Subnet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

fn mask(prefix: u8) -> u32 {
    match prefix {
        0 => 0,
        p => u32::MAX << (32 - u32::from(p.min(32))),
    }
}

/// Parses `--gateway` for `subnet`: an address inside it, not its network or
/// broadcast address. Docker's CLI says `no matching subnet` for one outside.
pub fn parse_gateway(text: &str, subnet: &Subnet) -> Result<Ipv4Addr, GatewayError> {
    let gateway: Ipv4Addr = text
        .parse()
        .map_err(|_| GatewayError::Invalid(text.to_string()))?;
    if !subnet.contains(gateway) {
        return Err(GatewayError::NoMatchingSubnet(text.to_string()));
    }
    if !subnet.is_host(gateway) {
        return Err(GatewayError::NotAHost {
            gateway: text.to_string(),
            subnet: subnet.to_string(),
        });
    }
    Ok(gateway)
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GatewayError {
    #[error("invalid gateway address {0}")]
    Invalid(String),
    #[error("no matching subnet for gateway {0}")]
    NoMatchingSubnet(String),
    #[error("gateway {gateway} is the network or broadcast address of {subnet}")]
    NotAHost { gateway: String, subnet: String },
}

/// The subnets a user network without `--subnet` may get, in order: Docker's
/// default address pools less 172.17.0.0/16, which the default bridge has.
pub fn default_pools() -> impl Iterator<Item = Subnet> {
    let sixteens = (18..=31).map(|b| Subnet::new(Ipv4Addr::new(172, b, 0, 0), 16));
    let twenties = (0..16).map(|i| Subnet::new(Ipv4Addr::new(192, 168, i * 16, 0), 20));
    sixteens.chain(twenties)
}

/// The first default pool that overlaps none of `taken`.
pub fn next_free(taken: &[Subnet]) -> Option<Subnet> {
    default_pools().find(|pool| !taken.iter().any(|t| t.overlaps(pool)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(text: &str) -> Subnet {
        Subnet::parse(text).unwrap()
    }

    #[test]
    fn subnets_parse_as_go_parses_cidrs() {
        assert_eq!(net("10.1.0.0/16").to_string(), "10.1.0.0/16");
        for bad in [
            "10.1.0.0",
            "10.1.0/16",
            "10.1.0.0/33",
            "10.1.0.0/+8",
            "x/8",
            "",
        ] {
            assert_eq!(
                Subnet::parse(bad),
                Err(SubnetError::InvalidCidr(bad.to_string())),
                "{bad}"
            );
        }
        assert_eq!(
            Subnet::parse("10.1.2.3/16").unwrap_err().to_string(),
            "invalid subnet 10.1.2.3/16: it should be 10.1.0.0/16"
        );
        assert!(matches!(
            Subnet::parse("10.0.0.0/31"),
            Err(SubnetError::TooSmall(_))
        ));
    }

    #[test]
    fn a_slash_30_has_one_host_besides_the_gateway() {
        let s = net("10.9.0.0/30");
        assert_eq!(s.broadcast(), Ipv4Addr::new(10, 9, 0, 3));
        let hosts: Vec<_> = s.hosts().collect();
        assert_eq!(
            hosts,
            [Ipv4Addr::new(10, 9, 0, 1), Ipv4Addr::new(10, 9, 0, 2)]
        );
        assert!(!s.is_host(Ipv4Addr::new(10, 9, 0, 0)));
        assert!(!s.is_host(Ipv4Addr::new(10, 9, 0, 3)));
    }

    #[test]
    fn gateways_must_be_hosts_of_their_subnet() {
        let s = net("10.1.0.0/16");
        assert_eq!(
            parse_gateway("10.1.0.254", &s),
            Ok(Ipv4Addr::new(10, 1, 0, 254))
        );
        assert_eq!(
            parse_gateway("10.2.0.1", &s).unwrap_err().to_string(),
            "no matching subnet for gateway 10.2.0.1"
        );
        assert!(matches!(
            parse_gateway("10.1.255.255", &s),
            Err(GatewayError::NotAHost { .. })
        ));
        assert!(matches!(
            parse_gateway("nope", &s),
            Err(GatewayError::Invalid(_))
        ));
    }

    #[test]
    fn overlap_is_containment_either_way() {
        assert!(net("10.0.0.0/8").overlaps(&net("10.1.2.0/24")));
        assert!(net("10.1.2.0/24").overlaps(&net("10.0.0.0/8")));
        assert!(!net("10.1.2.0/24").overlaps(&net("10.1.3.0/24")));
    }

    #[test]
    fn user_networks_take_dockers_default_pools_in_order() {
        assert_eq!(
            next_free(&[DEFAULT_BRIDGE_SUBNET]),
            Some(net("172.18.0.0/16"))
        );
        let taken = [
            DEFAULT_BRIDGE_SUBNET,
            net("172.18.0.0/16"),
            net("172.19.5.0/24"),
        ];
        assert_eq!(next_free(&taken), Some(net("172.20.0.0/16")));
        let mut all: Vec<Subnet> = (16..=31)
            .map(|b| Subnet::new(Ipv4Addr::new(172, b, 0, 0), 16))
            .collect();
        assert_eq!(next_free(&all), Some(net("192.168.0.0/20")));
        all.push(net("192.168.0.0/16"));
        assert_eq!(next_free(&all), None);
        assert_eq!(default_pools().count(), 14 + 16);
    }
}
