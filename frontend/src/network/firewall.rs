//! TEMPORARY stub (replaced by the kernel layer).
pub use super::netns::NetError;
use super::ports::Protocol;
use std::net::Ipv4Addr;
pub struct Firewall;
pub fn detect() -> Firewall {
    Firewall
}
pub struct NetworkRules<'a> {
    pub bridge: &'a str,
    pub subnet: (Ipv4Addr, u8),
    pub internal: bool,
}
pub struct PortForward {
    pub protocol: Protocol,
    pub host_ip: Option<Ipv4Addr>,
    pub host_port: u16,
    pub container_ip: Ipv4Addr,
    pub container_port: u16,
}
impl Firewall {
    pub fn ensure_network(&self, _r: &NetworkRules) -> Result<(), NetError> {
        Ok(())
    }
    pub fn add_ports(&self, _id: &str, _bridge: &str, _p: &[PortForward]) -> Result<(), NetError> {
        Ok(())
    }
    pub fn remove_ports(&self, _id: &str) -> Result<(), NetError> {
        Ok(())
    }
}
