//! Images in the local store as a user names them: lookup by name, digest or (short)
//! id, tagging, removal with Docker's rules, pruning.

use std::collections::BTreeSet;

use sha2::{Digest as _, Sha256};

use super::reference::{familiar_of, Digest, Reference, ReferenceError};
use crate::store::images::ImageRecord;
use crate::store::{Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum LocalError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Reference(#[from] ReferenceError),
    #[error("No such image: {0}")]
    NoSuchImage(String),
    #[error("{name}: ambiguous image id prefix, it matches {count} images")]
    Ambiguous { name: String, count: usize },
    #[error("conflict: unable to remove repository reference \"{name}\" (must force) - container {container} is using its referenced image {image}")]
    ReferenceInUse {
        name: String,
        container: String,
        image: String,
    },
    #[error("conflict: unable to delete {image} (must be forced) - image is being used by container {container}")]
    ImageInUse { image: String, container: String },
    #[error("conflict: unable to delete {image} (must be forced) - image is referenced in multiple repositories")]
    MultipleRepositories { image: String },
}

/// The first 12 hex digits of an id, as Docker shows ids.
pub fn short_id(id: &str) -> String {
    let hex = id.split_once(':').map_or(id, |(_, hex)| hex);
    hex.chars().take(12).collect()
}

/// How the user named an image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Named {
    /// By a tag or a `name@digest`: the full name.
    Reference(Reference),
    /// By its id or a prefix of it.
    Id,
}

/// Finds the image `name` names, as Docker does: a full id (`sha256:…` or its 64 hex
/// digits), a tag (`busybox`, `busybox:1.36`), a `name@digest`, or an unambiguous
/// prefix of an id.
pub fn resolve(store: &Store, name: &str) -> Result<(ImageRecord, Named), LocalError> {
    let not_found = || LocalError::NoSuchImage(name.to_string());
    let by_id = |id: &str| -> Result<Option<ImageRecord>, LocalError> { Ok(store.image(id)?) };
    if let Ok(digest) = Digest::parse(name) {
        return by_id(&digest.to_string())?
            .map(|r| (r, Named::Id))
            .ok_or_else(not_found);
    }
    let hex_only = !name.is_empty() && name.bytes().all(|b| b.is_ascii_hexdigit());
    if hex_only && name.len() == 64 {
        return by_id(&format!("sha256:{name}"))?
            .map(|r| (r, Named::Id))
            .ok_or_else(not_found);
    }
    let reference = Reference::parse(name)?;
    let found = match reference.digest() {
        Some(digest) => store.image_by_digest(&reference, digest)?,
        None => store.image_by_tag(&reference)?,
    };
    if let Some(id) = found {
        if let Some(record) = store.image(&id)? {
            return Ok((record, Named::Reference(reference)));
        }
    }
    if hex_only {
        let ids = store.images_by_id_prefix(&name.to_ascii_lowercase())?;
        match ids.as_slice() {
            [] => {}
            [id] => {
                if let Some(record) = store.image(id)? {
                    return Ok((record, Named::Id));
                }
            }
            _ => {
                return Err(LocalError::Ambiguous {
                    name: name.to_string(),
                    count: ids.len(),
                })
            }
        }
    }
    // dockerd names a missing image by its reference, tag included: `nosuch:latest`.
    Err(LocalError::NoSuchImage(reference.familiar()))
}

/// `berth tag SOURCE TARGET`.
pub fn tag(store: &mut Store, source: &str, target: &str) -> Result<(), LocalError> {
    let (record, _) = resolve(store, source)?;
    let target = Reference::parse(target)?;
    if target.digest().is_some() {
        return Err(LocalError::Reference(ReferenceError {
            input: target.familiar(),
            problem: super::reference::Problem::Tag {
                tag: "a digest cannot be a tag".to_string(),
            },
        }));
    }
    store.tag(&record.id, &target)?;
    super::events::record(store, "tag", &record.id, &target.familiar());
    Ok(())
}

/// One line of `rmi`'s and `image prune`'s report, as Docker prints them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Removal {
    /// A name, in its familiar form.
    Untagged(String),
    /// An image id or a layer's chain id.
    Deleted(String),
}

/// The chain ids of layers with these diff ids, base first (the OCI image spec's
/// ChainID: what Docker prints for the layers it deletes).
pub fn chain_ids(diff_ids: &[String]) -> Vec<String> {
    let mut chain: Vec<String> = Vec::with_capacity(diff_ids.len());
    for diff_id in diff_ids {
        let next = match chain.last() {
            None => diff_id.clone(),
            Some(parent) => {
                let hash = Sha256::digest(format!("{parent} {diff_id}").as_bytes());
                format!(
                    "sha256:{}",
                    hash.iter().map(|b| format!("{b:02x}")).collect::<String>()
                )
            }
        };
        chain.push(next);
    }
    chain
}

fn repository_of(full: &str) -> String {
    Reference::parse(full).map_or_else(|_| full.to_string(), |r| r.name())
}

/// `berth rmi NAME`: removes a name, and the image once nothing names it and no
/// container uses it. With `force`, an image named in several repositories loses all
/// its names, and one a container uses loses its names but stays (the container still
/// needs its layers) where Docker would leave the container without an image.
pub fn remove(store: &mut Store, name: &str, force: bool) -> Result<Vec<Removal>, LocalError> {
    let (record, named) = resolve(store, name)?;
    let report = remove_record(store, &record, named, force)?;
    record_removals(store, &record.id, &report);
    Ok(report)
}

/// The events of an image's removal, in dockerd's order: its names, then itself.
fn record_removals(store: &Store, id: &str, report: &[Removal]) {
    for removal in report {
        if let Removal::Untagged(name) = removal {
            super::events::record(store, "untag", id, name);
        }
    }
    if report.contains(&Removal::Deleted(id.to_string())) {
        super::events::record(store, "delete", id, id);
    }
}

fn remove_record(
    store: &mut Store,
    record: &ImageRecord,
    named: Named,
    force: bool,
) -> Result<Vec<Removal>, LocalError> {
    let users = store.containers_using(&record.id)?;
    let mut report = Vec::new();
    let names: Vec<String> = record
        .tags
        .iter()
        .chain(&record.repo_digests)
        .cloned()
        .collect();
    match named {
        Named::Reference(reference) => {
            let full = match reference.digest() {
                Some(digest) => format!("{}@{digest}", reference.name()),
                None => reference.to_string(),
            };
            let others: Vec<&String> = names.iter().filter(|n| **n != full).collect();
            // Once the last tag goes, the digests it was pulled by go with it.
            let only_digests_of_same_repo = others
                .iter()
                .all(|n| n.contains('@') && repository_of(n) == reference.name());
            if let (Some(container), false, true) =
                (users.first(), force, only_digests_of_same_repo)
            {
                return Err(LocalError::ReferenceInUse {
                    name: reference.familiar(),
                    container: short_id(container),
                    image: short_id(&record.id),
                });
            }
            store.untag(&full)?;
            report.push(Removal::Untagged(reference.familiar()));
            if !only_digests_of_same_repo {
                return Ok(report);
            }
            for other in others {
                store.untag(other)?;
                report.push(Removal::Untagged(familiar_of(other)));
            }
        }
        Named::Id => {
            if let (Some(container), false) = (users.first(), force) {
                return Err(LocalError::ImageInUse {
                    image: short_id(&record.id),
                    container: short_id(container),
                });
            }
            let repositories: BTreeSet<String> =
                record.tags.iter().map(|t| repository_of(t)).collect();
            if repositories.len() > 1 && !force {
                return Err(LocalError::MultipleRepositories {
                    image: short_id(&record.id),
                });
            }
            for name in &names {
                store.untag(name)?;
                report.push(Removal::Untagged(familiar_of(name)));
            }
        }
    }
    if users.is_empty() {
        report.extend(delete(store, record)?);
    }
    Ok(report)
}

/// Forgets the image and collects what only it used: its id and the chain ids of
/// the layers removed, top first.
fn delete(store: &mut Store, record: &ImageRecord) -> Result<Vec<Removal>, LocalError> {
    let diff_ids: Vec<String> = store
        .image_layers(&record.id)?
        .into_iter()
        .map(|l| l.layer.diff_id)
        .collect();
    let chains = chain_ids(&diff_ids);
    store.forget_image(&record.id)?;
    let removed: BTreeSet<String> = store
        .collect_garbage()?
        .into_iter()
        .map(|l| l.diff_id)
        .collect();
    let mut report = vec![Removal::Deleted(record.id.clone())];
    for (diff_id, chain) in diff_ids.iter().zip(&chains).rev() {
        if removed.contains(diff_id) {
            report.push(Removal::Deleted(chain.clone()));
        }
    }
    Ok(report)
}

/// `berth image prune`: removes dangling images (no tag), or with `all` every image
/// no container uses. The report and the bytes of layers freed.
pub fn prune(store: &mut Store, all: bool) -> Result<(Vec<Removal>, u64), LocalError> {
    let mut report = Vec::new();
    let before: u64 = layer_bytes(store)?;
    for record in store.images()? {
        if !store.containers_using(&record.id)?.is_empty() {
            continue;
        }
        if !record.tags.is_empty() && !all {
            continue;
        }
        let mut removed = Vec::new();
        for name in record.tags.iter().chain(&record.repo_digests) {
            store.untag(name)?;
            removed.push(Removal::Untagged(familiar_of(name)));
        }
        removed.extend(delete(store, &record)?);
        record_removals(store, &record.id, &removed);
        report.extend(removed);
    }
    let after = layer_bytes(store)?;
    Ok((report, before.saturating_sub(after)))
}

fn layer_bytes(store: &Store) -> Result<u64, LocalError> {
    let sql = store.db.errors();
    let total: i64 = store
        .db
        .conn()
        .query_row("SELECT COALESCE(SUM(size), 0) FROM layers", [], |row| {
            row.get(0)
        })
        .map_err(|e| StoreError::from(sql(e)))?;
    Ok(total as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chain_ids_follow_the_image_spec() {
        let a = format!("sha256:{}", "a".repeat(64));
        let b = format!("sha256:{}", "b".repeat(64));
        let chains = chain_ids(&[a.clone(), b.clone()]);
        assert_eq!(chains[0], a);
        let expected = Sha256::digest(format!("{a} {b}").as_bytes());
        assert_eq!(
            chains[1],
            format!(
                "sha256:{}",
                expected
                    .iter()
                    .map(|b| format!("{b:02x}"))
                    .collect::<String>()
            )
        );
    }

    #[test]
    fn short_ids_drop_the_algorithm() {
        assert_eq!(short_id("sha256:0123456789abcdef"), "0123456789ab");
    }
}
