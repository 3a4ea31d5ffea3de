//! `/_ping`, `/version`, `/info` and `/system/df`.

use axum::extract::State;
use axum::http::header::{HeaderMap, HeaderName, HeaderValue, CACHE_CONTROL, PRAGMA};
use axum::http::Method;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use super::error::ApiError;
use super::routes::{blocking, Shared, API_VERSION, MIN_API_VERSION};
use crate::container::listing;

/// The headers dockerd sends on `/_ping`, from which clients negotiate the version.
fn ping_headers() -> HeaderMap {
    let mut headers = HeaderMap::new();
    let fixed = [
        ("api-version", API_VERSION),
        ("docker-experimental", "false"),
        ("ostype", "linux"),
    ];
    for (name, value) in fixed {
        headers.insert(
            HeaderName::from_static(name),
            HeaderValue::from_static(value),
        );
    }
    headers.insert(
        CACHE_CONTROL,
        HeaderValue::from_static("no-cache, no-store, must-revalidate"),
    );
    headers.insert(PRAGMA, HeaderValue::from_static("no-cache"));
    headers
}

pub async fn ping(method: Method) -> Response {
    let body = if method == Method::HEAD { "" } else { "OK" };
    (ping_headers(), body).into_response()
}

fn kernel_version() -> String {
    std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .unwrap_or_default()
        .trim()
        .to_string()
}

/// Go's names for the host's architecture, as Docker reports them in `/version`.
fn go_arch() -> String {
    crate::image::platform::Platform::host().architecture
}

pub async fn version() -> Json<Value> {
    let version = env!("CARGO_PKG_VERSION");
    Json(json!({
        "Platform": { "Name": "berth" },
        "Components": [{
            "Name": "Engine",
            "Version": version,
            "Details": {
                "ApiVersion": API_VERSION,
                "MinAPIVersion": MIN_API_VERSION,
                "Os": "linux",
                "Arch": go_arch(),
                "KernelVersion": kernel_version(),
            },
        }],
        "Version": version,
        "ApiVersion": API_VERSION,
        "MinAPIVersion": MIN_API_VERSION,
        "GitCommit": "",
        "GoVersion": "",
        "Os": "linux",
        "Arch": go_arch(),
        "KernelVersion": kernel_version(),
        "BuildTime": "",
    }))
}

pub async fn info(State(engine): State<Shared>) -> Result<Json<Value>, ApiError> {
    let debug = engine.live.debug();
    blocking(move || {
        let containers = engine.containers()?;
        let info = crate::system::info(&containers)?;
        let mut value = serde_json::to_value(&info).map_err(ApiError::internal)?;
        // Docker's shapes where berth's CLI keeps simpler ones: runtimes by name.
        let runtimes: serde_json::Map<String, Value> = info
            .runtimes
            .iter()
            .map(|name| (name.clone(), json!({ "path": name })))
            .collect();
        if let Some(object) = value.as_object_mut() {
            object.insert("Runtimes".into(), Value::Object(runtimes));
            object.insert("Swarm".into(), json!({ "LocalNodeState": "inactive" }));
            object.insert("Debug".into(), json!(debug));
            object.insert(
                "IndexServerAddress".into(),
                json!("https://index.docker.io/v1/"),
            );
            object.insert("RegistryConfig".into(), registry_config());
        }
        Ok(Json(value))
    })
    .await
}

/// The registries as berth's client treats them, in dockerd's shape: Docker Hub over
/// https, loopback hosts allowed plain http (dockerd's default insecure range); no
/// mirrors.
fn registry_config() -> Value {
    json!({
        "AllowNondistributableArtifactsCIDRs": [],
        "AllowNondistributableArtifactsHostnames": [],
        "InsecureRegistryCIDRs": ["127.0.0.0/8"],
        "IndexConfigs": {
            "docker.io": {
                "Name": "docker.io",
                "Mirrors": [],
                "Secure": true,
                "Official": true,
            },
        },
        "Mirrors": [],
    })
}

/// `GET /system/df`: the images with how many containers use each, the containers
/// with their writable layers' sizes; the docker CLI sums them up.
pub async fn df(State(engine): State<Shared>) -> Result<Json<Value>, ApiError> {
    blocking(move || {
        let containers = engine.containers()?;
        let usage = crate::system::disk_usage(&containers)?;
        let now = crate::time::now_unix();
        let images: Vec<Value> = usage
            .images
            .iter()
            .map(|(record, used)| {
                let mut image = super::images::summary(record);
                // Every image's layers are counted whole: none are shared in the sum.
                image["SharedSize"] = json!(0);
                image["Containers"] = json!(used);
                image
            })
            .collect();
        let container_rows: Vec<Value> = usage
            .containers
            .iter()
            .map(|(container, size_rw)| {
                let state = container.state();
                json!({
                    "Id": container.row.id,
                    "Names": [format!("/{}", container.row.name)],
                    "Image": container.row.image_name,
                    "ImageID": container.row.image_id,
                    "Command": listing::command_line(container),
                    "Created": crate::time::unix_seconds(&container.row.created).unwrap_or(0),
                    "State": state.status.as_str(),
                    "Status": listing::status_text(&state, now),
                    "SizeRw": size_rw,
                    "SizeRootFs": 0,
                    "Labels": container.config.labels,
                    "Mounts": [],
                })
            })
            .collect();
        Ok(Json(json!({
            "LayersSize": usage.image_bytes(),
            "Images": images,
            "Containers": container_rows,
            "Volumes": [],
            "BuildCache": [],
        })))
    })
    .await
}
