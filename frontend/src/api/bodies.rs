//! What clients send, read into the engine's requests: JSON request bodies (Go's
//! `null` for an empty list or map reads as absent) and the `filters` query. Each
//! bad input is a 400 naming what is wrong; this is the untrusted-bytes boundary of
//! the daemon, and `fuzz/fuzz_targets/api_bodies.rs` drives it.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

use super::error::ApiError;
use crate::container::config::{Config, HostConfig};
use crate::container::networking::EndpointRequest;
use crate::network::networks::CreateRequest as NetworkCreateRequest;

/// A request body as JSON of type `T`, or Docker's 400 naming what is wrong.
pub fn parse_body<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    parse_value(body, |_| {})
}

fn bad_json(e: serde_json::Error) -> ApiError {
    ApiError::bad_request(format!("invalid JSON in the request body: {e}"))
}

fn parse_value<T: serde::de::DeserializeOwned>(
    body: &[u8],
    adjust: impl FnOnce(&mut Value),
) -> Result<T, ApiError> {
    let mut value: Value = serde_json::from_slice(body).map_err(bad_json)?;
    drop_nulls(&mut value);
    adjust(&mut value);
    serde_json::from_value(value).map_err(bad_json)
}

fn drop_nulls(value: &mut Value) {
    match value {
        Value::Object(map) => {
            map.retain(|_, v| !v.is_null());
            map.values_mut().for_each(drop_nulls);
        }
        Value::Array(items) => items.iter_mut().for_each(drop_nulls),
        _ => {}
    }
}

/// `filters={"status":["exited"]}` or the older `{"status":{"exited":true}}`, as
/// key-value pairs.
pub fn parse_filters(text: Option<&str>) -> Result<Vec<(String, String)>, ApiError> {
    let Some(text) = text.filter(|t| !t.is_empty()) else {
        return Ok(Vec::new());
    };
    let bad = |what: String| ApiError::bad_request(format!("invalid filter: {what}"));
    let value: Value = serde_json::from_str(text).map_err(|e| bad(e.to_string()))?;
    let Value::Object(keys) = value else {
        return Err(bad("expected a JSON object of filters".to_string()));
    };
    let mut pairs = Vec::new();
    for (key, values) in keys {
        match values {
            Value::Array(items) => {
                for item in items {
                    let Value::String(v) = item else {
                        return Err(bad(format!("values of {key:?} must be strings")));
                    };
                    pairs.push((key.clone(), v));
                }
            }
            Value::Object(set) => {
                for (v, on) in set {
                    if on == Value::Bool(true) {
                        pairs.push((key.clone(), v));
                    }
                }
            }
            _ => return Err(bad(format!("values of {key:?} must be a list"))),
        }
    }
    Ok(pairs)
}

/// The body of `POST /containers/create`: Docker's `Config` with the host's part and
/// the networks' beside it.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ContainerCreate {
    #[serde(flatten)]
    config: Config,
    host_config: HostConfig,
    networking_config: NetworkingConfig,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct NetworkingConfig {
    endpoints_config: BTreeMap<String, EndpointSettings>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct EndpointSettings {
    aliases: Vec<String>,
    #[serde(rename = "IPAMConfig")]
    ipam_config: EndpointIpam,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct EndpointIpam {
    #[serde(rename = "IPv4Address")]
    ipv4_address: String,
}

impl EndpointSettings {
    fn request(self) -> Result<EndpointRequest, ApiError> {
        let address = self.ipam_config.ipv4_address;
        let ipv4_address =
            if address.is_empty() {
                None
            } else {
                Some(address.parse().map_err(|_| {
                    ApiError::bad_request(format!("invalid IPv4 address: {address}"))
                })?)
            };
        Ok(EndpointRequest {
            aliases: self.aliases,
            ipv4_address,
        })
    }
}

impl ContainerCreate {
    /// A create body; a container that names no network goes on the default
    /// bridge, as with dockerd (berth's stored `HostConfig` defaults to `none`).
    pub fn parse(body: &[u8]) -> Result<ContainerCreate, ApiError> {
        parse_value(body, |value| {
            if let Value::Object(map) = value {
                let host = map
                    .entry("HostConfig")
                    .or_insert_with(|| Value::Object(Default::default()));
                if let Value::Object(host) = host {
                    host.entry("NetworkMode")
                        .or_insert_with(|| Value::String("default".to_string()));
                }
            }
        })
    }

    /// The container's config, its host config (Docker's defaults filled in) and its
    /// endpoint on its network; what Docker refuses, refused.
    pub fn into_parts(self) -> Result<(Config, HostConfig, EndpointRequest), ApiError> {
        if self.config.image.is_empty() {
            return Err(ApiError::bad_request(
                "no image given in the create request",
            ));
        }
        let mut host = self.host_config;
        if host.network_mode.is_empty() || host.network_mode == "default" {
            host.network_mode = "bridge".to_string();
        }
        if host.auto_remove && !matches!(host.restart_policy.name.as_str(), "" | "no") {
            return Err(ApiError::bad_request(
                "can't create 'AutoRemove' container with restart policy",
            ));
        }
        let mut endpoints = self.networking_config.endpoints_config;
        let endpoint = match endpoints.remove(&host.network_mode) {
            Some(settings) => settings.request()?,
            None => EndpointRequest::default(),
        };
        Ok((self.config, host, endpoint))
    }
}

/// The body of `POST /networks/create`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct NetworkCreate {
    name: String,
    driver: String,
    internal: bool,
    #[serde(rename = "IPAM")]
    ipam: Ipam,
    labels: BTreeMap<String, String>,
    options: BTreeMap<String, String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct Ipam {
    config: Vec<IpamPool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct IpamPool {
    subnet: String,
    gateway: String,
}

impl NetworkCreate {
    pub fn into_request(self) -> Result<NetworkCreateRequest, ApiError> {
        if self.name.is_empty() {
            return Err(ApiError::bad_request("network create: no name given"));
        }
        if self.ipam.config.len() > 1 {
            return Err(ApiError::bad_request(
                "berth networks take one IPAM config (one IPv4 subnet)",
            ));
        }
        let pool = self.ipam.config.into_iter().next().unwrap_or_default();
        Ok(NetworkCreateRequest {
            name: self.name,
            driver: (!self.driver.is_empty()).then_some(self.driver),
            subnet: (!pool.subnet.is_empty()).then_some(pool.subnet),
            gateway: (!pool.gateway.is_empty()).then_some(pool.gateway),
            internal: self.internal,
            labels: self.labels,
            options: self.options,
        })
    }
}

/// The body of `POST /networks/{id}/connect` and `/disconnect`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct NetworkConnect {
    pub container: String,
    endpoint_config: EndpointSettings,
    pub force: bool,
}

impl NetworkConnect {
    pub fn endpoint(self) -> Result<(String, EndpointRequest), ApiError> {
        if self.container.is_empty() {
            return Err(ApiError::bad_request("no container given"));
        }
        Ok((self.container, self.endpoint_config.request()?))
    }
}

/// The body of `POST /containers/{id}/exec`: Docker's `ExecConfig`.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ExecCreate {
    pub attach_stdin: bool,
    pub attach_stdout: bool,
    pub attach_stderr: bool,
    pub tty: bool,
    pub env: Vec<String>,
    pub cmd: Vec<String>,
    pub user: String,
    pub working_dir: String,
    pub privileged: bool,
    pub detach_keys: String,
}

impl ExecCreate {
    /// An exec create body; what dockerd refuses (no command, bad detach keys),
    /// refused with its words.
    pub fn parse(body: &[u8]) -> Result<ExecCreate, ApiError> {
        let config: ExecCreate = parse_body(body)?;
        if config.cmd.is_empty() {
            return Err(ApiError::bad_request("No exec command specified"));
        }
        if !config.detach_keys.is_empty()
            && crate::container::attach::parse_detach_keys(&config.detach_keys).is_err()
        {
            return Err(ApiError::bad_request(format!(
                "Invalid escape keys ({}) provided",
                config.detach_keys
            )));
        }
        Ok(config)
    }
}

/// The body of `POST /exec/{id}/start`; none at all reads as `{}`.
#[derive(Debug, Default, Clone, Copy, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ExecStart {
    pub detach: bool,
    pub tty: bool,
}

impl ExecStart {
    pub fn parse(body: &[u8]) -> Result<ExecStart, ApiError> {
        if body.iter().all(u8::is_ascii_whitespace) {
            return Ok(ExecStart::default());
        }
        parse_body(body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_nulls_read_as_absent() {
        let body = ContainerCreate::parse(
            br#"{"Image":"busybox","Env":null,"HostConfig":{"Binds":null,"Dns":null}}"#,
        )
        .unwrap();
        let (config, host, _) = body.into_parts().unwrap();
        assert_eq!(config.image, "busybox");
        assert_eq!(host.network_mode, "bridge");
    }

    #[test]
    fn filters_read_in_both_shapes() {
        let pairs = parse_filters(Some(
            r#"{"status":["exited"],"label":{"a=b":true,"c":false}}"#,
        ))
        .unwrap();
        assert_eq!(
            pairs,
            vec![
                ("label".to_string(), "a=b".to_string()),
                ("status".to_string(), "exited".to_string())
            ]
        );
        assert!(parse_filters(Some("[1]")).is_err());
        assert!(parse_filters(Some(r#"{"status":[1]}"#)).is_err());
    }

    #[test]
    fn endpoints_take_only_addresses() {
        let body = ContainerCreate::parse(
            br#"{"Image":"b","HostConfig":{"NetworkMode":"app"},"NetworkingConfig":{"EndpointsConfig":{"app":{"IPAMConfig":{"IPv4Address":"x"}}}}}"#,
        )
        .unwrap();
        assert!(body.into_parts().is_err());
    }

    #[test]
    fn exec_bodies_need_a_command_and_valid_keys() {
        let config =
            ExecCreate::parse(br#"{"Cmd":["sh","-c","exit 3"],"Env":null,"AttachStdout":true}"#)
                .unwrap();
        assert_eq!(config.cmd, ["sh", "-c", "exit 3"]);
        assert!(config.attach_stdout && !config.attach_stdin);
        let none = ExecCreate::parse(br#"{"Cmd":[]}"#).unwrap_err();
        assert_eq!(none.message, "No exec command specified");
        let keys = ExecCreate::parse(br#"{"Cmd":["sh"],"DetachKeys":"ctrl-"}"#).unwrap_err();
        assert_eq!(keys.message, "Invalid escape keys (ctrl-) provided");
        assert!(ExecCreate::parse(br#"{"Cmd":"sh"}"#).is_err());
        assert!(ExecStart::parse(b"").is_ok_and(|s| !s.detach));
        assert!(ExecStart::parse(br#"{"Detach":true}"#).is_ok_and(|s| s.detach));
        assert!(ExecStart::parse(br#"{"Detach":"yes"}"#).is_err());
    }
}
