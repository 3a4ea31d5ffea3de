//! Bridges and veth pairs, through netlink (rtnetlink): a network's bridge with its
//! gateway address, and per container a veth pair with one end on the bridge and
//! the other in the container's namespace, addressed and routed from in there.

use std::future::Future;
use std::net::{IpAddr, Ipv4Addr};
use std::os::fd::AsRawFd;
use std::path::Path;

use futures_util::TryStreamExt;
use rtnetlink::packet_route::link::{InfoData, InfoVeth, LinkAttribute, LinkInfo, LinkMessage};
use rtnetlink::{Handle, LinkBridge, LinkUnspec, LinkVeth, RouteMessageBuilder};

use super::netns::{self, NetError};
use super::sys;

const EEXIST: i32 = nix::libc::EEXIST;
const ENODEV: i32 = nix::libc::ENODEV;

/// A network's bridge: its name and the gateway address it holds.
pub struct Bridge<'a> {
    pub name: &'a str,
    pub gateway: Ipv4Addr,
    pub prefix_len: u8,
    pub mtu: u32,
}

/// One container interface: the veth pair between `bridge` and the namespace.
pub struct EndpointConfig<'a> {
    pub netns: &'a Path,
    pub bridge: &'a str,
    pub host_ifname: &'a str,
    pub ifname: &'a str,
    pub address: Ipv4Addr,
    pub prefix_len: u8,
    /// The default route's gateway, for the container's first network.
    pub gateway: Option<Ipv4Addr>,
    pub mac: [u8; 6],
    pub mtu: u32,
}

/// Runs `work` with a netlink handle of the calling thread's namespace, on a
/// current-thread runtime: the requests are a handful, in order.
fn with_netlink<T, F, Fut>(work: F) -> Result<T, NetError>
where
    F: FnOnce(Handle) -> Fut,
    Fut: Future<Output = Result<T, NetError>>,
{
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
        .map_err(|e| NetError::new("netlink", e))?;
    runtime.block_on(async {
        let (connection, handle, _) =
            rtnetlink::new_connection().map_err(|e| NetError::new("netlink socket", e))?;
        tokio::spawn(connection);
        work(handle).await
    })
}

/// The errno of a netlink failure, if the kernel gave one.
fn errno(error: &rtnetlink::Error) -> Option<i32> {
    match error {
        rtnetlink::Error::NetlinkError(message) => Some(message.raw_code().abs()),
        _ => None,
    }
}

async fn index_of(handle: &Handle, name: &str) -> Result<Option<u32>, rtnetlink::Error> {
    let mut links = handle.link().get().match_name(name.to_string()).execute();
    match links.try_next().await {
        Ok(link) => Ok(link.map(|l| l.header.index)),
        Err(e) if errno(&e) == Some(ENODEV) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Makes the bridge if it is missing (up, with the gateway address, forwarding on);
/// true when this call made it. Two berths racing both succeed, one of them making it.
pub fn ensure_bridge(bridge: &Bridge) -> Result<bool, NetError> {
    let what = || format!("bridge {}", bridge.name);
    let made = with_netlink(|handle| async move {
        if index_of(&handle, bridge.name)
            .await
            .map_err(|e| NetError::new(what(), e))?
            .is_some()
        {
            return Ok(false);
        }
        let message = LinkBridge::new(bridge.name).mtu(bridge.mtu).up().build();
        match handle.link().add(message).execute().await {
            Ok(()) => {}
            Err(e) if errno(&e) == Some(EEXIST) => return Ok(false),
            Err(e) => return Err(NetError::new(what(), e)),
        }
        let index = index_of(&handle, bridge.name)
            .await
            .map_err(|e| NetError::new(what(), e))?
            .ok_or_else(|| NetError::new(what(), "gone right after it was made"))?;
        match handle
            .address()
            .add(index, IpAddr::V4(bridge.gateway), bridge.prefix_len)
            .execute()
            .await
        {
            Ok(()) => {}
            Err(e) if errno(&e) == Some(EEXIST) => {}
            Err(e) => {
                return Err(NetError::new(
                    format!("{} address {}", what(), bridge.gateway),
                    e,
                ))
            }
        }
        Ok(true)
    })?;
    // Routing between the bridge and the rest, and published ports reached from the
    // host's loopback (DNAT of 127.0.0.1 towards the bridge).
    sys::sysctl("net.ipv4.ip_forward", "1").map_err(|e| NetError::new("net.ipv4.ip_forward", e))?;
    let localnet = format!("net.ipv4.conf.{}.route_localnet", bridge.name);
    sys::sysctl(&localnet, "1").map_err(|e| NetError::new(localnet.clone(), e))?;
    Ok(made)
}

/// Deletes interface `name` (a bridge, or a veth, whose peer goes with it); a
/// missing one is fine.
pub fn delete_link(name: &str) -> Result<(), NetError> {
    with_netlink(|handle| async move {
        let Some(index) = index_of(&handle, name)
            .await
            .map_err(|e| NetError::new(format!("interface {name}"), e))?
        else {
            return Ok(());
        };
        match handle.link().del(index).execute().await {
            Ok(()) => Ok(()),
            Err(e) if errno(&e) == Some(ENODEV) => Ok(()),
            Err(e) => Err(NetError::new(format!("deleting interface {name}"), e)),
        }
    })
}

/// The host end of a container's veth pair goes, and the container's end with it.
pub fn remove_endpoint(host_ifname: &str) -> Result<(), NetError> {
    delete_link(host_ifname)
}

/// Makes the container's interface: the pair, its peer born inside the namespace
/// with its name, MAC and MTU (moving an interface between namespaces costs the
/// kernel ~20 ms), the host end on the bridge and up; then, from inside, the
/// address, up, and the default route.
pub fn add_endpoint(config: &EndpointConfig) -> Result<(), NetError> {
    let what = format!("veth {} on bridge {}", config.host_ifname, config.bridge);
    let netns_file =
        std::fs::File::open(config.netns).map_err(|e| NetError::new(what.clone(), e))?;
    let made = with_netlink(|handle| {
        let what = what.clone();
        async move {
            let bridge = index_of(&handle, config.bridge)
                .await
                .map_err(|e| NetError::new(what.clone(), e))?
                .ok_or_else(|| NetError::new(what.clone(), "the bridge does not exist"))?;
            let pair = || {
                let mut pair = LinkVeth::new(config.host_ifname, config.ifname)
                    .mtu(config.mtu)
                    .controller(bridge)
                    .up()
                    .build();
                peer_settings(&mut pair, config.mtu, &config.mac, netns_file.as_raw_fd());
                pair
            };
            match handle.link().add(pair()).execute().await {
                Err(e) if errno(&e) == Some(EEXIST) => {}
                added => return added.map_err(|e| NetError::new(what.clone(), e)),
            }
            // The last run's host end, still there: its namespace was let go, and the
            // kernel removes the pair in its own time (a restart right after an exit).
            if let Some(stale) = index_of(&handle, config.host_ifname)
                .await
                .map_err(|e| NetError::new(what.clone(), e))?
            {
                match handle.link().del(stale).execute().await {
                    Err(e) if errno(&e) != Some(ENODEV) => {
                        return Err(NetError::new(what.clone(), e));
                    }
                    _ => {}
                }
            }
            handle
                .link()
                .add(pair())
                .execute()
                .await
                .map_err(|e| NetError::new(what.clone(), e))
        }
    });
    if let Err(e) = made {
        let _ = delete_link(config.host_ifname);
        return Err(e);
    }
    let inside = InsideConfig {
        ifname: config.ifname.to_string(),
        address: config.address,
        prefix_len: config.prefix_len,
        gateway: config.gateway,
    };
    let configured = netns::run_in(config.netns, move || configure_inside(inside));
    if let Err(e) = configured {
        let _ = delete_link(config.host_ifname);
        return Err(e);
    }
    Ok(())
}

/// The veth peer's own attributes: MTU, MAC and the namespace it is born in.
fn peer_settings(message: &mut LinkMessage, mtu: u32, mac: &[u8; 6], netns_fd: i32) {
    for attribute in message.attributes.iter_mut() {
        if let LinkAttribute::LinkInfo(infos) = attribute {
            for info in infos.iter_mut() {
                if let LinkInfo::Data(InfoData::Veth(InfoVeth::Peer(peer))) = info {
                    peer.attributes.push(LinkAttribute::Mtu(mtu));
                    peer.attributes.push(LinkAttribute::Address(mac.to_vec()));
                    peer.attributes.push(LinkAttribute::NetNsFd(netns_fd));
                }
            }
        }
    }
}

struct InsideConfig {
    ifname: String,
    address: Ipv4Addr,
    prefix_len: u8,
    gateway: Option<Ipv4Addr>,
}

/// Inside the container's namespace: the address, up, and the default route.
fn configure_inside(c: InsideConfig) -> Result<(), NetError> {
    let what = format!("{} in the container", c.ifname);
    with_netlink(|handle| async move {
        let index = index_of(&handle, &c.ifname)
            .await
            .map_err(|e| NetError::new(what.clone(), e))?
            .ok_or_else(|| NetError::new(what.clone(), "the veth's peer is missing"))?;
        handle
            .address()
            .add(index, IpAddr::V4(c.address), c.prefix_len)
            .execute()
            .await
            .map_err(|e| NetError::new(format!("{what}: address {}", c.address), e))?;
        handle
            .link()
            .set(LinkUnspec::new_with_index(index).up().build())
            .execute()
            .await
            .map_err(|e| NetError::new(what.clone(), e))?;
        if let Some(gateway) = c.gateway {
            let route = RouteMessageBuilder::<Ipv4Addr>::new()
                .gateway(gateway)
                .output_interface(index)
                .build();
            handle
                .route()
                .add(route)
                .execute()
                .await
                .map_err(|e| NetError::new(format!("{what}: default route via {gateway}"), e))?;
        }
        Ok(())
    })
}
