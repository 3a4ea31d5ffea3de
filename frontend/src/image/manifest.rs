//! The four manifest media types a registry serves (OCI index and manifest, Docker
//! manifest list and schema 2), read from untrusted bytes, and the choice of one
//! platform's manifest from an index.

use oci_spec::image::{Descriptor, ImageIndex, ImageManifest, MediaType};

use super::platform::Platform;

pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const DOCKER_MANIFEST_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
/// An uncompressed OCI layer: what berth itself writes (import, commit, save).
pub const OCI_LAYER: &str = "application/vnd.oci.image.layer.v1.tar";
const DOCKER_SCHEMA1: &[&str] = &[
    "application/vnd.docker.distribution.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v1+prettyjws",
];

/// What a pull sends as `Accept`: every manifest type berth reads.
pub const ACCEPTED: [&str; 4] = [
    OCI_INDEX,
    OCI_MANIFEST,
    DOCKER_MANIFEST_LIST,
    DOCKER_MANIFEST,
];

/// Docker marks the attestation entries of an index with this annotation.
const REFERENCE_TYPE: &str = "vnd.docker.reference.type";
const ATTESTATION: &str = "attestation-manifest";

/// A manifest as fetched: an index of per-platform manifests, or one image's.
#[derive(Debug, Clone)]
pub enum Manifest {
    Index(Box<ImageIndex>),
    Image(Box<ImageManifest>),
}

#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("manifest is not JSON of the kind its media type {media_type} says: {source}")]
    Malformed {
        media_type: &'static str,
        source: serde_json::Error,
    },
    #[error("manifest media type {0:?} is not one berth reads ({ACCEPTED:?})")]
    UnknownMediaType(String),
    #[error(
        "Docker schema 1 manifests are not supported (the registry should serve schema 2 or OCI)"
    )]
    Schema1,
    #[error("manifest schemaVersion is {0}, expected 2")]
    SchemaVersion(u32),
    #[error("no manifest for {wanted} in the index (it has: {available})")]
    NoPlatform { wanted: String, available: String },
    #[error("layer media type {0:?} is not a tar, tar+gzip or tar+zstd layer")]
    UnknownLayer(String),
}

/// How a layer blob is compressed, from its media type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Zstd,
}

impl Manifest {
    /// Reads a manifest body: its kind from `content_type` (the response's header) when
    /// that is one of the four, else from the body's own `mediaType`, else from its
    /// shape (`manifests` for an index, `layers` for an image).
    pub fn parse(body: &[u8], content_type: Option<&str>) -> Result<Manifest, ManifestError> {
        let header = content_type
            .map(|c| c.split(';').next().unwrap_or_default().trim())
            .filter(|c| !c.is_empty() && *c != "application/json" && *c != "text/plain");
        let kind = match header {
            Some(media_type) => kind_of(media_type)?,
            None => kind_from_body(body)?,
        };
        let malformed = |source| ManifestError::Malformed {
            media_type: kind.media_type(),
            source,
        };
        let manifest = match kind {
            Kind::Index(_) => Manifest::Index(serde_json::from_slice(body).map_err(malformed)?),
            Kind::Image(_) => Manifest::Image(serde_json::from_slice(body).map_err(malformed)?),
        };
        let version = match &manifest {
            Manifest::Index(i) => i.schema_version(),
            Manifest::Image(m) => m.schema_version(),
        };
        if version != 2 {
            return Err(ManifestError::SchemaVersion(version));
        }
        Ok(manifest)
    }
}

/// The entry of `index` for `wanted`: the first that matches, attestations skipped.
pub fn choose<'i>(
    index: &'i ImageIndex,
    wanted: &Platform,
) -> Result<&'i Descriptor, ManifestError> {
    let runnable = index.manifests().iter().filter(|d| !is_attestation(d));
    let mut available = Vec::new();
    for entry in runnable {
        let Some(platform) = entry.platform() else {
            continue;
        };
        let os = platform.os().to_string();
        let architecture = platform.architecture().to_string();
        let variant = platform.variant().as_deref();
        if wanted.matches(&os, &architecture, variant) {
            return Ok(entry);
        }
        let mut name = format!("{os}/{architecture}");
        if let Some(v) = variant {
            name.push('/');
            name.push_str(v);
        }
        available.push(name);
    }
    Err(ManifestError::NoPlatform {
        wanted: wanted.to_string(),
        available: if available.is_empty() {
            "no platform".to_string()
        } else {
            available.join(", ")
        },
    })
}

/// Buildx's provenance and SBOM entries: `unknown/unknown`, marked by an annotation.
fn is_attestation(entry: &Descriptor) -> bool {
    let marked = entry
        .annotations()
        .as_ref()
        .and_then(|a| a.get(REFERENCE_TYPE))
        .is_some_and(|t| t == ATTESTATION);
    let unknown = entry
        .platform()
        .as_ref()
        .is_some_and(|p| p.os().to_string() == "unknown");
    marked || unknown
}

/// A layer's compression, from its media type (OCI's and Docker's, distributable or
/// not).
pub fn layer_compression(media_type: &MediaType) -> Result<Compression, ManifestError> {
    match media_type {
        MediaType::ImageLayer | MediaType::ImageLayerNonDistributable => Ok(Compression::None),
        MediaType::ImageLayerGzip | MediaType::ImageLayerNonDistributableGzip => {
            Ok(Compression::Gzip)
        }
        MediaType::ImageLayerZstd | MediaType::ImageLayerNonDistributableZstd => {
            Ok(Compression::Zstd)
        }
        MediaType::Other(other) => match other.as_str() {
            "application/vnd.docker.image.rootfs.diff.tar.gzip"
            | "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip" => Ok(Compression::Gzip),
            "application/vnd.docker.image.rootfs.diff.tar" => Ok(Compression::None),
            "application/vnd.docker.image.rootfs.diff.tar.zstd" => Ok(Compression::Zstd),
            _ => Err(ManifestError::UnknownLayer(other.clone())),
        },
        other => Err(ManifestError::UnknownLayer(other.to_string())),
    }
}

#[derive(Debug, Clone, Copy)]
enum Kind {
    Index(&'static str),
    Image(&'static str),
}

impl Kind {
    fn media_type(self) -> &'static str {
        match self {
            Kind::Index(m) | Kind::Image(m) => m,
        }
    }
}

fn kind_of(media_type: &str) -> Result<Kind, ManifestError> {
    match media_type {
        OCI_INDEX => Ok(Kind::Index(OCI_INDEX)),
        DOCKER_MANIFEST_LIST => Ok(Kind::Index(DOCKER_MANIFEST_LIST)),
        OCI_MANIFEST => Ok(Kind::Image(OCI_MANIFEST)),
        DOCKER_MANIFEST => Ok(Kind::Image(DOCKER_MANIFEST)),
        m if DOCKER_SCHEMA1.contains(&m) => Err(ManifestError::Schema1),
        other => Err(ManifestError::UnknownMediaType(other.to_string())),
    }
}

fn kind_from_body(body: &[u8]) -> Result<Kind, ManifestError> {
    #[derive(serde::Deserialize)]
    struct Probe {
        #[serde(rename = "mediaType")]
        media_type: Option<String>,
        #[serde(rename = "schemaVersion")]
        schema_version: Option<u32>,
        manifests: Option<serde_json::Value>,
        layers: Option<serde_json::Value>,
    }
    let probe: Probe = serde_json::from_slice(body).map_err(|source| ManifestError::Malformed {
        media_type: "application/json",
        source,
    })?;
    if probe.schema_version == Some(1) {
        return Err(ManifestError::Schema1);
    }
    match (probe.media_type, probe.manifests, probe.layers) {
        (Some(media_type), _, _) => kind_of(&media_type),
        (None, Some(_), _) => Ok(Kind::Index(OCI_INDEX)),
        (None, None, Some(_)) => Ok(Kind::Image(OCI_MANIFEST)),
        (None, None, None) => Err(ManifestError::UnknownMediaType(
            "none (no mediaType, manifests or layers)".to_string(),
        )),
    }
}

#[cfg(test)]
mod tests;
