//! TEMPORARY stub (replaced by the kernel layer).
pub use super::netns::NetError;
use std::net::Ipv4Addr;
use std::path::Path;
pub struct Bridge<'a> {
    pub name: &'a str,
    pub gateway: Ipv4Addr,
    pub prefix_len: u8,
    pub mtu: u32,
}
pub fn ensure_bridge(_b: &Bridge) -> Result<bool, NetError> {
    Ok(false)
}
pub struct EndpointConfig<'a> {
    pub netns: &'a Path,
    pub bridge: &'a str,
    pub host_ifname: &'a str,
    pub ifname: &'a str,
    pub address: Ipv4Addr,
    pub prefix_len: u8,
    pub gateway: Option<Ipv4Addr>,
    pub mac: [u8; 6],
    pub mtu: u32,
}
pub fn add_endpoint(_c: &EndpointConfig) -> Result<(), NetError> {
    Ok(())
}
pub fn remove_endpoint(_h: &str) -> Result<(), NetError> {
    Ok(())
}
