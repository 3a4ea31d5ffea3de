//! `pull`, `push`, `login`, `logout`, `search`.

use std::io::{BufRead, IsTerminal, Read, Write};
use std::path::Path;
use std::process::ExitCode;

use clap::Args;

use super::format::{ellipsis, Format};
use super::open_store;
use super::progress::Display;
use crate::image::auth::{default_path, login_domain, AuthFile, Credentials};
use crate::image::platform::Platform;
use crate::image::reference::{Reference, DEFAULT_DOMAIN};
use crate::image::search;
use crate::image::transfer::{self, RegistryOptions};

#[derive(Args, Debug)]
pub struct PullArgs {
    /// Set platform if server is multi-platform capable
    #[arg(long, value_name = "string")]
    platform: Option<String>,
    /// Suppress verbose output
    #[arg(short, long)]
    quiet: bool,
    #[arg(value_name = "NAME[:TAG|@DIGEST]")]
    name: String,
}

#[derive(Args, Debug)]
pub struct PushArgs {
    /// Suppress verbose output
    #[arg(short, long)]
    quiet: bool,
    #[arg(value_name = "NAME[:TAG]")]
    name: String,
}

#[derive(Args, Debug)]
pub struct LoginArgs {
    /// Username
    #[arg(short, long, value_name = "string")]
    username: Option<String>,
    /// Password
    #[arg(short, long, value_name = "string")]
    password: Option<String>,
    /// Take the password from stdin
    #[arg(long)]
    password_stdin: bool,
    #[arg(value_name = "SERVER")]
    server: Option<String>,
}

#[derive(Args, Debug)]
pub struct LogoutArgs {
    #[arg(value_name = "SERVER")]
    server: Option<String>,
}

#[derive(Args, Debug)]
pub struct SearchArgs {
    /// Max number of search results
    #[arg(long, value_name = "int", default_value_t = 25)]
    limit: usize,
    /// Don't truncate output
    #[arg(long)]
    no_trunc: bool,
    /// Pretty-print search using a Go template
    #[arg(long, value_name = "string")]
    format: Option<String>,
    /// REGISTRY/TERM: the repositories of REGISTRY's catalog whose names hold TERM
    #[arg(value_name = "TERM")]
    term: String,
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?)
}

pub fn pull(root: &Path, registry: &RegistryOptions, args: PullArgs) -> anyhow::Result<ExitCode> {
    let reference = Reference::parse(&args.name)?;
    let platform = args.platform.as_deref().map(Platform::parse).transpose()?;
    let display = Display::new(std::io::stdout().is_terminal(), args.quiet);
    if !args.name.contains(':') && !args.name.contains('@') {
        display.say("Using default tag: latest");
    }
    let mut store = open_store(root)?;
    let pulled = runtime()?.block_on(transfer::pull(
        &mut store,
        &reference,
        platform.as_ref(),
        registry,
        &|event| display.pull_event(event),
        &mut |event| display.layer_event(event),
    ));
    display.finish();
    let pulled = pulled?;
    display.say(&format!("Digest: {}", pulled.digest));
    display.say(&pulled.status(&reference));
    println!("{reference}");
    Ok(ExitCode::SUCCESS)
}

pub fn push(root: &Path, registry: &RegistryOptions, args: PushArgs) -> anyhow::Result<ExitCode> {
    let target = Reference::parse(&args.name)?;
    let store = open_store(root)?;
    let record = transfer::image_to_push(&store, &target)?;
    let display = Display::new(std::io::stdout().is_terminal(), args.quiet);
    let pushed = runtime()?.block_on(transfer::push(
        &store,
        &record,
        &target,
        registry,
        &|event| display.push_event(event),
    ));
    display.finish();
    pushed?;
    if args.quiet {
        println!("{target}");
    }
    Ok(ExitCode::SUCCESS)
}

fn prompt(question: &str, echo: bool) -> anyhow::Result<String> {
    use nix::sys::termios::{tcgetattr, tcsetattr, LocalFlags, SetArg};
    print!("{question}");
    std::io::stdout().flush()?;
    let stdin = std::io::stdin();
    let saved = (!echo).then(|| tcgetattr(&stdin)).transpose()?;
    if let Some(saved) = &saved {
        let mut quiet = saved.clone();
        quiet.local_flags.remove(LocalFlags::ECHO);
        tcsetattr(&stdin, SetArg::TCSANOW, &quiet)?;
    }
    let mut line = String::new();
    let read = stdin.lock().read_line(&mut line);
    if let Some(saved) = &saved {
        let _ = tcsetattr(&stdin, SetArg::TCSANOW, saved);
        println!();
    }
    read?;
    Ok(line.trim_end_matches(['\r', '\n']).to_string())
}

pub fn login(registry: &RegistryOptions, args: LoginArgs) -> anyhow::Result<ExitCode> {
    let domain = login_domain(args.server.as_deref());
    let interactive = std::io::stdin().is_terminal();
    if args.password.is_some() {
        eprintln!("WARNING! Using --password via the CLI is insecure. Use --password-stdin.");
    }
    if args.password_stdin && args.password.is_some() {
        anyhow::bail!("--password and --password-stdin are mutually exclusive");
    }
    let username = match args.username {
        Some(u) => u,
        None if interactive && !args.password_stdin => prompt("Username: ", true)?,
        None => anyhow::bail!("Must provide --username with --password-stdin"),
    };
    let password = match (args.password, args.password_stdin) {
        (Some(p), _) => p,
        (None, true) => {
            let mut text = String::new();
            std::io::stdin().read_to_string(&mut text)?;
            text.trim_end_matches(['\r', '\n']).to_string()
        }
        (None, false) if interactive => prompt("Password: ", false)?,
        (None, false) => anyhow::bail!("Cannot perform an interactive login from a non TTY device"),
    };
    if username.is_empty() {
        anyhow::bail!("Username is required");
    }
    if password.is_empty() {
        anyhow::bail!("Password is required");
    }
    let credentials = Credentials { username, password };
    runtime()?
        .block_on(transfer::check_login(&domain, &credentials, registry))
        .map_err(|e| anyhow::anyhow!("login to {domain} failed: {e}"))?;
    let mut file = AuthFile::load(&default_path()?)?;
    file.set(&domain, &credentials);
    file.save()?;
    eprintln!(
        "WARNING! Your password will be stored unencrypted in {}.",
        file.path().display()
    );
    println!("Login Succeeded");
    Ok(ExitCode::SUCCESS)
}

pub fn logout(args: LogoutArgs) -> anyhow::Result<ExitCode> {
    let domain = login_domain(args.server.as_deref());
    let shown = if domain == DEFAULT_DOMAIN {
        "https://index.docker.io/v1/".to_string()
    } else {
        domain.clone()
    };
    let mut file = AuthFile::load(&default_path()?)?;
    if !file.remove(&domain) {
        println!("Not logged in to {shown}");
        return Ok(ExitCode::SUCCESS);
    }
    println!("Removing login credentials for {shown}");
    file.save()?;
    Ok(ExitCode::SUCCESS)
}

const SEARCH_HEADERS: &[(&str, &str)] = &[
    ("Name", "NAME"),
    ("Description", "DESCRIPTION"),
    ("StarCount", "STARS"),
    ("IsOfficial", "OFFICIAL"),
];

pub fn search(registry: &RegistryOptions, args: SearchArgs) -> anyhow::Result<ExitCode> {
    let names = runtime()?.block_on(search::search(registry, &args.term, args.limit))?;
    let items: Vec<serde_json::Value> = names
        .iter()
        .map(|name| {
            serde_json::json!({
                "Name": if args.no_trunc { name.clone() } else { ellipsis(name, 45) },
                "Description": "",
                "StarCount": "0",
                "IsOfficial": "",
                "IsAutomated": "",
            })
        })
        .collect();
    let template = args.format.clone().unwrap_or_else(|| {
        "table {{.Name}}\t{{.Description}}\t{{.StarCount}}\t{{.IsOfficial}}".to_string()
    });
    let format = Format::parse(&template, SEARCH_HEADERS)?;
    print!("{}", format.render(&items)?);
    Ok(ExitCode::SUCCESS)
}

/// The pull `run` and `create` make for an image the store lacks: Docker's closing
/// lines on stderr, which stays free of progress bars.
pub fn pull_quietly(
    store: &mut crate::store::Store,
    registry: &RegistryOptions,
    name: &str,
) -> anyhow::Result<crate::store::images::ImageRecord> {
    let reference = Reference::parse(name)?;
    let pulled = runtime()?.block_on(transfer::pull(
        store,
        &reference,
        None,
        registry,
        &|_| {},
        &mut |_| {},
    ))?;
    eprintln!("Digest: {}", pulled.digest);
    eprintln!(
        "Status: Downloaded newer image for {}",
        reference.familiar()
    );
    Ok(pulled.record)
}
