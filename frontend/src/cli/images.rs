//! `images`, `tag`, `rmi`, `inspect`, `history`, `image prune`, and the `image`
//! group that holds them.

use std::io::{BufRead, Write};
use std::path::Path;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use serde_json::{json, Value};

use super::format::{ellipsis, human_duration, human_size, now_unix, unix_seconds, Format};
use super::open_store;
use crate::image::import::{self, ImportOptions};
use crate::image::inspect::{self, HistoryEntry};
use crate::image::local::{self, short_id, Removal};
use crate::image::reference::Reference;
use crate::store::images::ImageRecord;

#[derive(Subcommand, Debug)]
pub enum ImageCommand {
    /// List images
    #[command(visible_alias = "list")]
    Ls(ImagesArgs),
    /// Display detailed information on one or more images
    Inspect(super::inspect::InspectArgs),
    /// Remove one or more images
    #[command(visible_alias = "remove")]
    Rm(RmiArgs),
    /// Remove unused images
    Prune(PruneArgs),
    /// Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE
    Tag(TagArgs),
    /// Show the history of an image
    History(HistoryArgs),
    /// Import the contents from a tarball to create a filesystem image
    Import(ImportArgs),
    /// Save one or more images to a tar archive (streamed to STDOUT by default)
    Save(super::archive::SaveArgs),
    /// Load an image from a tar archive or STDIN
    Load(super::archive::LoadArgs),
    /// Download an image from a registry
    Pull(super::registry::PullArgs),
    /// Upload an image to a registry
    Push(super::registry::PushArgs),
}

#[derive(Args, Debug)]
pub struct ImportArgs {
    /// Apply Dockerfile instruction to the created image
    #[arg(short, long, value_name = "list")]
    change: Vec<String>,
    /// Set commit message for imported image
    #[arg(short, long, value_name = "string")]
    message: Option<String>,
    /// Set platform if server is multi-platform capable
    #[arg(long, value_name = "string")]
    platform: Option<String>,
    /// A tarball (plain, gzip or zstd), or - for standard input
    #[arg(value_name = "file|-")]
    source: String,
    #[arg(value_name = "REPOSITORY[:TAG]")]
    repository: Option<String>,
}

#[derive(Args, Debug)]
pub struct ImagesArgs {
    /// Show all images (berth keeps no intermediate images: the same as without)
    #[arg(short, long)]
    all: bool,
    /// Show digests
    #[arg(long)]
    digests: bool,
    /// Filter output based on conditions provided (dangling=, reference=, before=,
    /// since=, label=)
    #[arg(short, long, value_name = "filter")]
    filter: Vec<String>,
    /// Format output using a custom template ('table', 'table TEMPLATE', 'json' or a
    /// Go template)
    #[arg(long, value_name = "string")]
    format: Option<String>,
    /// Don't truncate output
    #[arg(long)]
    no_trunc: bool,
    /// Only show image IDs
    #[arg(short, long)]
    quiet: bool,
    #[arg(value_name = "REPOSITORY[:TAG]")]
    repository: Option<String>,
}

#[derive(Args, Debug)]
pub struct TagArgs {
    #[arg(value_name = "SOURCE_IMAGE[:TAG]")]
    source: String,
    #[arg(value_name = "TARGET_IMAGE[:TAG]")]
    target: String,
}

#[derive(Args, Debug)]
pub struct RmiArgs {
    /// Force removal of the image
    #[arg(short, long)]
    force: bool,
    /// Do not delete untagged parents (berth keeps none: accepted for Docker's sake)
    #[arg(long)]
    no_prune: bool,
    #[arg(value_name = "IMAGE", required = true)]
    images: Vec<String>,
}

#[derive(Args, Debug)]
pub struct HistoryArgs {
    /// Format output using a custom template
    #[arg(long, value_name = "string")]
    format: Option<String>,
    /// Print sizes and dates in human readable format
    #[arg(short = 'H', long, default_value_t = true, action = clap::ArgAction::Set)]
    human: bool,
    /// Don't truncate output
    #[arg(long)]
    no_trunc: bool,
    /// Only show image IDs
    #[arg(short, long)]
    quiet: bool,
    #[arg(value_name = "IMAGE")]
    image: String,
}

#[derive(Args, Debug)]
pub struct PruneArgs {
    /// Remove all unused images, not just dangling ones
    #[arg(short, long)]
    all: bool,
    /// Do not prompt for confirmation
    #[arg(short, long)]
    force: bool,
}

pub fn image(
    root: &Path,
    registry: &crate::image::transfer::RegistryOptions,
    command: ImageCommand,
) -> anyhow::Result<ExitCode> {
    match command {
        ImageCommand::Ls(args) => images(root, args),
        ImageCommand::Inspect(args) => {
            super::inspect::inspect(root, None, super::inspect::Kinds::Images, args)
        }
        ImageCommand::Rm(args) => rmi(root, args),
        ImageCommand::Prune(args) => prune(root, args),
        ImageCommand::Tag(args) => tag(root, args),
        ImageCommand::History(args) => history(root, args),
        ImageCommand::Import(args) => import(root, args),
        ImageCommand::Save(args) => super::archive::save(root, args),
        ImageCommand::Load(args) => super::archive::load(root, args),
        ImageCommand::Pull(args) => super::registry::pull(root, registry, args),
        ImageCommand::Push(args) => super::registry::push(root, registry, args),
    }
}

const IMAGE_HEADERS: &[(&str, &str)] = &[
    ("Repository", "REPOSITORY"),
    ("Tag", "TAG"),
    ("Digest", "DIGEST"),
    ("ID", "IMAGE ID"),
    ("CreatedSince", "CREATED"),
    ("CreatedAt", "CREATED AT"),
    ("Size", "SIZE"),
    ("VirtualSize", "SIZE"),
    ("SharedSize", "SHARED SIZE"),
    ("UniqueSize", "UNIQUE SIZE"),
    ("Containers", "CONTAINERS"),
];

/// `2024-01-02 03:04:05 +0000 UTC`, as Go prints a time.
fn go_time(unix: i64) -> String {
    let rfc = super::format::rfc3339(unix);
    format!("{} {} +0000 UTC", &rfc[..10], &rfc[11..19])
}

/// Go's path.Match for `*` and `?` (neither crosses a `/`), the rest literal.
fn glob(pattern: &str, text: &str) -> bool {
    fn go(p: &[char], t: &[char]) -> bool {
        match p.first() {
            None => t.is_empty(),
            Some('*') => (0..=t.len())
                .take_while(|&i| i == 0 || t[i - 1] != '/')
                .any(|i| go(&p[1..], &t[i..])),
            Some('?') => t.first().is_some_and(|c| *c != '/') && go(&p[1..], &t[1..]),
            Some(c) => t.first() == Some(c) && go(&p[1..], &t[1..]),
        }
    }
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    go(&p, &t)
}

/// One row of `images`: a name (tag, or digest without a tag) of an image.
struct Row<'r> {
    record: &'r ImageRecord,
    repository: String,
    tag: String,
    digest: String,
}

fn rows(record: &ImageRecord) -> Vec<Row<'_>> {
    let digest_of = |repo: &str| {
        record
            .repo_digests
            .iter()
            .filter_map(|d| Reference::parse(d).ok())
            .find(|r| r.familiar_name() == repo)
            .and_then(|r| r.digest().map(ToString::to_string))
            .unwrap_or_else(|| "<none>".to_string())
    };
    let mut rows: Vec<Row> = Vec::new();
    for tag in &record.tags {
        let Ok(reference) = Reference::parse(tag) else {
            continue;
        };
        let repository = reference.familiar_name();
        rows.push(Row {
            record,
            digest: digest_of(&repository),
            repository,
            tag: reference.tag().unwrap_or("<none>").to_string(),
        });
    }
    for name in &record.repo_digests {
        let Ok(reference) = Reference::parse(name) else {
            continue;
        };
        let repository = reference.familiar_name();
        if rows.iter().any(|r| r.repository == repository) {
            continue;
        }
        rows.push(Row {
            record,
            repository,
            tag: "<none>".to_string(),
            digest: reference
                .digest()
                .map_or_else(|| "<none>".to_string(), ToString::to_string),
        });
    }
    if rows.is_empty() {
        rows.push(Row {
            record,
            repository: "<none>".to_string(),
            tag: "<none>".to_string(),
            digest: "<none>".to_string(),
        });
    }
    rows
}

fn created_unix(record: &ImageRecord) -> Option<i64> {
    record.created.as_deref().and_then(unix_seconds)
}

/// Applies `images`' filters; an unknown one is an error as in Docker.
fn keep(
    store: &crate::store::Store,
    row: &Row,
    filters: &[(String, String)],
) -> anyhow::Result<bool> {
    for (key, value) in filters {
        let keep = match key.as_str() {
            "dangling" => {
                let dangling = row.record.tags.is_empty();
                match value.as_str() {
                    "true" | "1" => dangling,
                    "false" | "0" => !dangling,
                    _ => anyhow::bail!("invalid filter 'dangling={value}': expected true or false"),
                }
            }
            "reference" => {
                glob(value, &row.repository)
                    || glob(value, &format!("{}:{}", row.repository, row.tag))
            }
            "before" | "since" => {
                let (other, _) = local::resolve(store, value)?;
                let (mine, theirs) = (created_unix(row.record), created_unix(&other));
                match (mine, theirs) {
                    (Some(mine), Some(theirs)) if key == "before" => mine < theirs,
                    (Some(mine), Some(theirs)) => mine > theirs,
                    _ => false,
                }
            }
            "label" => {
                let config = inspect::config(store, row.record)?;
                let labels = config
                    .pointer("/config/Labels")
                    .cloned()
                    .unwrap_or(Value::Null);
                match value.split_once('=') {
                    Some((k, v)) => labels.get(k).and_then(Value::as_str) == Some(v),
                    None => labels.get(value).is_some(),
                }
            }
            other => anyhow::bail!("invalid filter '{other}'"),
        };
        if !keep {
            return Ok(false);
        }
    }
    Ok(true)
}

fn parse_filters(filters: &[String]) -> anyhow::Result<Vec<(String, String)>> {
    filters
        .iter()
        .map(|f| {
            f.split_once('=')
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .ok_or_else(|| anyhow::anyhow!("bad format of filter (expected name=value): {f}"))
        })
        .collect()
}

pub fn images(root: &Path, args: ImagesArgs) -> anyhow::Result<ExitCode> {
    let store = open_store(root)?;
    let mut filters = parse_filters(&args.filter)?;
    if let Some(repository) = &args.repository {
        filters.push(("reference".to_string(), repository.clone()));
    }
    let records = store.images()?;
    let now = now_unix();
    let mut items: Vec<Value> = Vec::new();
    let mut ids: Vec<String> = Vec::new();
    for record in &records {
        for row in rows(record) {
            if !keep(&store, &row, &filters)? {
                continue;
            }
            let id = if args.no_trunc {
                record.id.clone()
            } else {
                short_id(&record.id)
            };
            let created = created_unix(record);
            if !ids.contains(&id) {
                ids.push(id.clone());
            }
            items.push(json!({
                "ID": id,
                "Repository": row.repository,
                "Tag": row.tag,
                "Digest": row.digest,
                "CreatedSince": created.map_or("N/A".to_string(), |c| format!("{} ago", human_duration(now - c))),
                "CreatedAt": created.map_or(String::new(), go_time),
                "Size": human_size(record.size),
                "VirtualSize": human_size(record.size),
                "SharedSize": "N/A",
                "UniqueSize": "N/A",
                "Containers": "N/A",
            }));
        }
    }
    let out = std::io::stdout();
    let mut out = out.lock();
    if args.quiet {
        for id in ids {
            writeln!(out, "{id}")?;
        }
        return Ok(ExitCode::SUCCESS);
    }
    let template = match args.format.as_deref() {
        Some("json") => "{{json .}}".to_string(),
        Some(format) if format != "table" => format.to_string(),
        _ if args.digests => {
            "table {{.Repository}}\t{{.Tag}}\t{{.Digest}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}"
                .to_string()
        }
        _ => "table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}".to_string(),
    };
    let format = Format::parse(&template, IMAGE_HEADERS)?;
    write!(out, "{}", format.render(&items)?)?;
    Ok(ExitCode::SUCCESS)
}

pub fn tag(root: &Path, args: TagArgs) -> anyhow::Result<ExitCode> {
    let mut store = open_store(root)?;
    local::tag(&mut store, &args.source, &args.target)?;
    Ok(ExitCode::SUCCESS)
}

fn print_removals(out: &mut impl Write, report: &[Removal], lower: bool) -> std::io::Result<()> {
    for line in report {
        let (word, what) = match line {
            Removal::Untagged(name) => ("Untagged", name),
            Removal::Deleted(id) => ("Deleted", id),
        };
        let word = if lower {
            word.to_lowercase()
        } else {
            word.to_string()
        };
        writeln!(out, "{word}: {what}")?;
    }
    Ok(())
}

pub fn rmi(root: &Path, args: RmiArgs) -> anyhow::Result<ExitCode> {
    let mut store = open_store(root)?;
    let mut code = ExitCode::SUCCESS;
    let stdout = std::io::stdout();
    for name in &args.images {
        match local::remove(&mut store, name, args.force) {
            Ok(report) => print_removals(&mut stdout.lock(), &report, false)?,
            Err(e) => {
                eprintln!("Error: {e}");
                code = ExitCode::FAILURE;
            }
        }
    }
    Ok(code)
}

const HISTORY_HEADERS: &[(&str, &str)] = &[
    ("ID", "IMAGE"),
    ("CreatedSince", "CREATED"),
    ("CreatedAt", "CREATED AT"),
    ("CreatedBy", "CREATED BY"),
    ("Size", "SIZE"),
    ("Comment", "COMMENT"),
];

pub fn history(root: &Path, args: HistoryArgs) -> anyhow::Result<ExitCode> {
    let store = open_store(root)?;
    let (record, _) = local::resolve(&store, &args.image)?;
    let entries: Vec<HistoryEntry> = inspect::history(&store, &record)?;
    let now = now_unix();
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let id_of = |entry: &HistoryEntry| match &entry.id {
        Some(id) if args.no_trunc => id.clone(),
        Some(id) => short_id(id),
        None => "<missing>".to_string(),
    };
    if args.quiet {
        for entry in &entries {
            writeln!(out, "{}", id_of(entry))?;
        }
        return Ok(ExitCode::SUCCESS);
    }
    let items: Vec<Value> = entries
        .iter()
        .map(|entry| {
            let created = entry.created.as_deref().and_then(unix_seconds);
            let created_by = entry.created_by.replace('\t', " ");
            json!({
                "ID": id_of(entry),
                "CreatedSince": match created {
                    Some(c) if args.human => format!("{} ago", human_duration(now - c)),
                    Some(_) => entry.created.clone().unwrap_or_default(),
                    None => "N/A".to_string(),
                },
                "CreatedAt": entry.created.clone().unwrap_or_default(),
                "CreatedBy": if args.no_trunc { created_by } else { ellipsis(&created_by, 45) },
                "Size": if args.human { human_size(entry.size) } else { entry.size.to_string() },
                "Comment": entry.comment,
                "Tags": entry.tags,
            })
        })
        .collect();
    let template = args.format.clone().unwrap_or_else(|| {
        "table {{.ID}}\t{{.CreatedSince}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}".to_string()
    });
    let format = Format::parse(&template, HISTORY_HEADERS)?;
    write!(out, "{}", format.render(&items)?)?;
    Ok(ExitCode::SUCCESS)
}

pub fn import(root: &Path, args: ImportArgs) -> anyhow::Result<ExitCode> {
    if args.source.contains("://") {
        anyhow::bail!(
            "{}: importing from a URL is not supported: download it and import the file",
            args.source
        );
    }
    let platform = args
        .platform
        .as_deref()
        .map(crate::image::platform::Platform::parse)
        .transpose()?;
    let options = ImportOptions {
        source_name: args.source.clone(),
        tag: args.repository.clone(),
        changes: args.change.clone(),
        message: args.message.clone(),
        platform,
        created: None,
    };
    let mut store = open_store(root)?;
    let record = if args.source == "-" {
        import::import(&mut store, std::io::stdin().lock(), &options)?
    } else {
        let file = std::fs::File::open(&args.source)
            .map_err(|e| anyhow::anyhow!("{}: {e}", args.source))?;
        import::import(&mut store, file, &options)?
    };
    println!("{}", record.id);
    Ok(ExitCode::SUCCESS)
}

fn confirm(question: &str) -> anyhow::Result<bool> {
    print!("{question} [y/N] ");
    std::io::stdout().flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes" | "Yes"))
}

pub fn prune(root: &Path, args: PruneArgs) -> anyhow::Result<ExitCode> {
    let warning = if args.all {
        "WARNING! This will remove all images without at least one container associated to them."
    } else {
        "WARNING! This will remove all dangling images."
    };
    if !args.force && !confirm(&format!("{warning}\nAre you sure you want to continue?"))? {
        return Ok(ExitCode::SUCCESS);
    }
    let mut store = open_store(root)?;
    let (report, reclaimed) = local::prune(&mut store, args.all)?;
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    if !report.is_empty() {
        writeln!(out, "Deleted Images:")?;
        print_removals(&mut out, &report, true)?;
        writeln!(out)?;
    }
    writeln!(out, "Total reclaimed space: {}", human_size(reclaimed))?;
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::glob;

    #[test]
    fn reference_patterns_match_as_go_path_match() {
        assert!(glob("busybox", "busybox"));
        assert!(glob("busy*", "busybox"));
        assert!(glob("*:1.3?", "busybox:1.36"));
        assert!(!glob("*", "library/busybox"));
        assert!(glob("*/*", "library/busybox"));
        assert!(!glob("busy", "busybox"));
    }
}
