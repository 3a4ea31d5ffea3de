//! A container's networks through its life: an endpoint (an address) on its network
//! from `create` to `rm`, the namespace with its interfaces and published ports from
//! each start to the end of that run, another container's namespace joined for
//! `--network container:NAME`.

use super::etc_files;
use super::lifecycle::{Container, ContainerError, Containers};
use crate::network::networks;
use crate::network::sandbox::{self, Sandbox};

/// How a container joins its network at `create` (Docker's EndpointSettings).
#[derive(Debug, Clone, Default)]
pub struct EndpointRequest {
    pub aliases: Vec<String>,
    pub ipv4_address: Option<std::net::Ipv4Addr>,
}

impl Containers {
    /// At `create`: the container's endpoint on its network (its address).
    pub(super) fn connect_network(
        &mut self,
        container: &Container,
        request: &EndpointRequest,
    ) -> Result<(), ContainerError> {
        let mode = container.host.network_mode.as_str();
        if let Some(other) = mode.strip_prefix("container:") {
            // Checked now so that create fails as Docker's does; joined at start.
            self.find(other)?;
            return Ok(());
        }
        if !sandbox::has_endpoints(mode) {
            return Ok(());
        }
        let network = sandbox::primary_network(mode);
        networks::connect(
            &mut self.store,
            network,
            &container.row.id,
            &request.aliases,
            request.ipv4_address,
        )?;
        sandbox::membership_changed(&mut self.store, &container.row.id)?;
        Ok(())
    }

    /// Before a start: the namespace the spec names, with what goes in it.
    pub(super) fn network_up(&mut self, container: &Container) -> Result<(), ContainerError> {
        let mode = container.host.network_mode.as_str();
        let Some(netns) = container.paths.netns.as_deref() else {
            return Ok(());
        };
        if let Some(other) = mode.strip_prefix("container:") {
            let other = self.find(other)?;
            let state = other.state();
            if !state.status.is_up() || state.pid <= 0 {
                return Err(ContainerError::JoinNotRunning(other.row.name.clone()));
            }
            let _ = crate::network::netns::remove_netns(netns);
            let source = format!("/proc/{}/ns/net", state.pid);
            crate::network::netns::bind_netns(std::path::Path::new(&source), netns)
                .map_err(crate::network::networks::NetworkError::from)?;
            return Ok(());
        }
        if !sandbox::has_endpoints(mode) {
            return Ok(());
        }
        if netns.exists() {
            // What an earlier run left (a crash between its start and its end).
            sandbox::tear_down(&mut self.store, &container.row.id, netns)?;
        }
        let hosts_base = etc_files::hosts_base(&container.host)?;
        sandbox::set_up(
            &mut self.store,
            &Sandbox {
                id: &container.row.id,
                netns,
                config: &container.config,
                host: &container.host,
                hosts_file: &container.paths.hosts(),
                hosts_base: &hosts_base,
            },
        )?;
        Ok(())
    }

    /// After a run: the namespace and what was in it go; the addresses stay.
    pub(super) fn network_down(&mut self, container: &Container) -> Result<(), ContainerError> {
        let Some(netns) = container.paths.netns.as_deref() else {
            return Ok(());
        };
        if sandbox::has_endpoints(&container.host.network_mode) {
            sandbox::tear_down(&mut self.store, &container.row.id, netns)?;
        } else if netns.exists() {
            crate::network::netns::remove_netns(netns)
                .map_err(crate::network::networks::NetworkError::from)?;
        }
        Ok(())
    }

    /// At `rm` (or when a half-made container is repaired): the addresses go too.
    pub(super) fn forget_network(&mut self, id: &str) -> Result<(), ContainerError> {
        if let Some(netns) = self.paths(id).netns {
            if netns.exists() {
                sandbox::tear_down(&mut self.store, id, &netns)?;
            }
        }
        sandbox::release(&mut self.store, id)?;
        Ok(())
    }

    /// `network connect`: an endpoint on `network`, and for a running container its
    /// interface now (the next start makes it otherwise).
    pub fn connect(
        &mut self,
        container: &Container,
        network: &str,
        request: &EndpointRequest,
    ) -> Result<(), ContainerError> {
        let _lock = self.lock(&container.row.id)?;
        let mode = container.host.network_mode.as_str();
        if !sandbox::has_endpoints(mode) {
            return Err(ContainerError::NetworkMode {
                name: container.row.name.clone(),
                mode: mode.to_string(),
            });
        }
        let id = &container.row.id;
        let endpoint = networks::connect(
            &mut self.store,
            network,
            id,
            &request.aliases,
            request.ipv4_address,
        )?;
        if let Some(netns) = self.running_netns(container) {
            let index = networks::endpoints_of(&self.store, id)?
                .len()
                .saturating_sub(1);
            if let Err(e) = sandbox::add_interface(&netns, &endpoint, index) {
                let _ = networks::disconnect(&mut self.store, &endpoint.network_id, id);
                return Err(e.into());
            }
        }
        sandbox::membership_changed(&mut self.store, id)?;
        Ok(())
    }

    /// `network disconnect`: the interface of a running container goes, then the
    /// endpoint; with `force` the endpoint goes even if the interface could not.
    pub fn disconnect(
        &mut self,
        container: &Container,
        network: &str,
        force: bool,
    ) -> Result<(), ContainerError> {
        let _lock = self.lock(&container.row.id)?;
        let id = &container.row.id;
        let endpoint = networks::endpoint(&mut self.store, network, id)?;
        if self.running_netns(container).is_some() {
            if let Err(e) = crate::network::link::remove_endpoint(&endpoint.host_interface) {
                if !force {
                    return Err(crate::network::networks::NetworkError::from(e).into());
                }
            }
        }
        networks::disconnect(&mut self.store, &endpoint.network_id, id)?;
        sandbox::release_peer(&mut self.store, id, &endpoint)?;
        Ok(())
    }

    /// The namespace of a container that runs now with berth's own network.
    fn running_netns(&self, container: &Container) -> Option<std::path::PathBuf> {
        let netns = container.paths.netns.clone()?;
        (container.state().status.is_up() && netns.exists()).then_some(netns)
    }

    /// What `inspect`, `ps` and `port` show of a container's networks.
    pub fn network_of(&self, container: &Container) -> super::inspect::ContainerNetwork {
        let id = &container.row.id;
        let sandbox_key = self
            .running_netns(container)
            .map(|p| p.display().to_string())
            .unwrap_or_default();
        super::inspect::ContainerNetwork {
            endpoints: networks::endpoints_of(&self.store, id).unwrap_or_default(),
            published: crate::network::ports::ports_of(&self.store, id).unwrap_or_default(),
            sandbox_key,
        }
    }
}
