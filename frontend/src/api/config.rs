//! What the daemon runs with: its flags merged with daemon.json as dockerd merges them
//! (a key given both ways is an error, never a silent override; an unknown key is an
//! error), and the part of it that SIGHUP reloads.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{bail, Context};
use serde_json::{Map, Value};

use super::listen::{Host, DEFAULT_SOCKET};
use super::tls::TlsFiles;

/// Read when it exists and no `--config-file` is given. Not /etc/docker/daemon.json:
/// that file is dockerd's, and its keys berth lacks would refuse the start.
pub const DEFAULT_CONFIG_FILE: &str = "/etc/berth/daemon.json";

/// dockerd's default TCP ports, plain and with TLS.
const PLAIN_PORT: u16 = 2375;
const TLS_PORT: u16 = 2376;

/// daemon.json's keys that berth has, with dockerd's names.
const KEYS: &[&str] = &[
    "hosts",
    "debug",
    "pidfile",
    "data-root",
    "group",
    "tls",
    "tlsverify",
    "tlscacert",
    "tlscert",
    "tlskey",
];

/// The flags as given on the command line: `None` (or empty) is "not given".
#[derive(Debug, Clone, Default)]
pub struct Flags {
    pub hosts: Vec<String>,
    pub debug: Option<bool>,
    pub pidfile: Option<PathBuf>,
    pub data_root: Option<PathBuf>,
    pub group: Option<String>,
    pub tls: Option<bool>,
    pub tlsverify: Option<bool>,
    pub tlscacert: Option<PathBuf>,
    pub tlscert: Option<PathBuf>,
    pub tlskey: Option<PathBuf>,
    pub config_file: Option<PathBuf>,
}

/// daemon.json's keys, each `None` when the file does not set it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FileConfig {
    pub hosts: Option<Vec<String>>,
    pub debug: Option<bool>,
    pub pidfile: Option<PathBuf>,
    pub data_root: Option<PathBuf>,
    pub group: Option<String>,
    pub tls: Option<bool>,
    pub tlsverify: Option<bool>,
    pub tlscacert: Option<PathBuf>,
    pub tlscert: Option<PathBuf>,
    pub tlskey: Option<PathBuf>,
}

/// How the TCP listeners are secured.
#[derive(Debug, Clone, PartialEq)]
pub enum Tls {
    /// No TLS: a TCP listener beyond loopback is refused.
    Off,
    /// `--tls=false`: plain TCP beyond loopback too, with a warning.
    OffExplicitly,
    On(TlsFiles),
}

/// Where SIGHUP reads the configuration again, and the flags it is checked against.
#[derive(Debug, Clone)]
pub struct ReloadSource {
    file: PathBuf,
    /// Named by `--config-file`: a missing file is then an error, not "no file".
    explicit: bool,
    flags: Flags,
}

/// What the daemon runs with.
#[derive(Debug, Clone)]
pub struct DaemonOptions {
    pub hosts: Vec<Host>,
    pub root: PathBuf,
    pub runroot: Option<PathBuf>,
    pub debug: bool,
    pub pidfile: Option<PathBuf>,
    /// The unix sockets' group (mode 0660); none leaves them root's only.
    pub group: Option<String>,
    pub tls: Tls,
    pub reload: ReloadSource,
}

/// Merges `flags` with the configuration file (the named one, else the default one
/// when it exists). `root` is the global `--root`, used when neither sets data-root.
pub fn resolve(flags: Flags, root: &Path, runroot: Option<&Path>) -> anyhow::Result<DaemonOptions> {
    let reload = ReloadSource {
        file: flags
            .config_file
            .clone()
            .unwrap_or_else(|| PathBuf::from(DEFAULT_CONFIG_FILE)),
        explicit: flags.config_file.is_some(),
        flags,
    };
    let file = reload.read()?;
    let flags = &reload.flags;
    let tls = tls_mode(flags, &file)?;
    let default_port = if matches!(tls, Tls::On(_)) {
        TLS_PORT
    } else {
        PLAIN_PORT
    };
    let host_texts = match (&file.hosts, flags.hosts.is_empty()) {
        (Some(hosts), true) => hosts.clone(),
        _ => flags.hosts.clone(),
    };
    let mut hosts = host_texts
        .iter()
        .map(|h| Host::parse_with_port(h, default_port))
        .collect::<Result<Vec<_>, _>>()?;
    if hosts.is_empty() {
        hosts.push(Host::Unix(PathBuf::from(DEFAULT_SOCKET)));
    }
    Ok(DaemonOptions {
        hosts,
        root: flags
            .data_root
            .clone()
            .or(file.data_root)
            .unwrap_or_else(|| root.to_path_buf()),
        runroot: runroot.map(PathBuf::from),
        debug: flags.debug.or(file.debug).unwrap_or(false),
        pidfile: flags.pidfile.clone().or(file.pidfile),
        group: flags.group.clone().or(file.group),
        tls,
        reload,
    })
}

impl ReloadSource {
    /// The file's configuration, checked against the flags; an absent default file
    /// is an empty configuration.
    pub fn read(&self) -> anyhow::Result<FileConfig> {
        let text = match std::fs::read(&self.file) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !self.explicit => {
                return Ok(FileConfig::default())
            }
            Err(e) => bail!("unable to read {}: {e}", self.file.display()),
        };
        check_file(&text, &self.flags).with_context(|| {
            format!(
                "unable to configure the berth daemon with file {}",
                self.file.display()
            )
        })
    }

    pub fn file(&self) -> &Path {
        &self.file
    }
}

/// Parses daemon.json and refuses what dockerd refuses: unknown keys, then keys the
/// command line also gives.
fn check_file(text: &[u8], flags: &Flags) -> anyhow::Result<FileConfig> {
    let object: Map<String, Value> = serde_json::from_slice(text)?;
    let mut unknown: Vec<&str> = object
        .keys()
        .map(String::as_str)
        .filter(|k| !KEYS.contains(k))
        .collect();
    if !unknown.is_empty() {
        unknown.sort_unstable();
        bail!(
            "the following directives don't match any configuration option: {}",
            unknown.join(", ")
        );
    }
    let conflicts: Vec<String> = flag_values(flags)
        .into_iter()
        .filter_map(|(key, flag)| {
            let file = object.get(key)?;
            Some(format!(
                "{key}: (from flag: {flag}, from file: {})",
                go_format(file)
            ))
        })
        .collect();
    if !conflicts.is_empty() {
        bail!(
            "the following directives are specified both as a flag and in the configuration \
             file: {}",
            conflicts.join(", ")
        );
    }
    Ok(FileConfig {
        hosts: typed(&object, "hosts")?,
        debug: typed(&object, "debug")?,
        pidfile: typed(&object, "pidfile")?,
        data_root: typed(&object, "data-root")?,
        group: typed(&object, "group")?,
        tls: typed(&object, "tls")?,
        tlsverify: typed(&object, "tlsverify")?,
        tlscacert: typed(&object, "tlscacert")?,
        tlscert: typed(&object, "tlscert")?,
        tlskey: typed(&object, "tlskey")?,
    })
}

/// One key's value as its type, or an error naming the key.
fn typed<T: serde::de::DeserializeOwned>(
    object: &Map<String, Value>,
    key: &str,
) -> anyhow::Result<Option<T>> {
    match object.get(key) {
        None => Ok(None),
        Some(value) => serde_json::from_value(value.clone())
            .map(Some)
            .with_context(|| format!("\"{key}\": {value} is not of the expected type")),
    }
}

/// The flags that were given, by their daemon.json key, as dockerd prints them.
fn flag_values(flags: &Flags) -> Vec<(&'static str, String)> {
    let mut given = Vec::new();
    if !flags.hosts.is_empty() {
        given.push(("hosts", format!("[{}]", flags.hosts.join(" "))));
    }
    let mut add = |key: &'static str, value: Option<String>| {
        if let Some(value) = value {
            given.push((key, value));
        }
    };
    let path = |p: &Option<PathBuf>| p.as_ref().map(|p| p.display().to_string());
    add("debug", flags.debug.map(|b| b.to_string()));
    add("pidfile", path(&flags.pidfile));
    add("data-root", path(&flags.data_root));
    add("group", flags.group.clone());
    add("tls", flags.tls.map(|b| b.to_string()));
    add("tlsverify", flags.tlsverify.map(|b| b.to_string()));
    add("tlscacert", path(&flags.tlscacert));
    add("tlscert", path(&flags.tlscert));
    add("tlskey", path(&flags.tlskey));
    given
}

/// A JSON value as Go's `%v` prints the decoded value: strings bare, lists in brackets.
fn go_format(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Array(items) => format!(
            "[{}]",
            items.iter().map(go_format).collect::<Vec<_>>().join(" ")
        ),
        Value::Object(map) => format!(
            "map[{}]",
            map.iter()
                .map(|(k, v)| format!("{k}:{}", go_format(v)))
                .collect::<Vec<_>>()
                .join(" ")
        ),
        Value::Null => "<nil>".to_string(),
        other => other.to_string(),
    }
}

/// dockerd's rule: `tlsverify` given at all (even false) turns TLS on; clients must
/// then show a certificate signed by the CA unless it is false. `tls` alone encrypts
/// without asking clients for one.
fn tls_mode(flags: &Flags, file: &FileConfig) -> anyhow::Result<Tls> {
    let verify = flags.tlsverify.or(file.tlsverify);
    let tls = flags.tls.or(file.tls);
    let on = verify.is_some() || tls == Some(true);
    if !on {
        return Ok(if tls == Some(false) {
            Tls::OffExplicitly
        } else {
            Tls::Off
        });
    }
    let cert_dir = default_cert_dir();
    let pick = |flag: &Option<PathBuf>, file: &Option<PathBuf>, name: &str| {
        flag.clone()
            .or_else(|| file.clone())
            .unwrap_or_else(|| cert_dir.join(name))
    };
    Ok(Tls::On(TlsFiles {
        ca: pick(&flags.tlscacert, &file.tlscacert, "ca.pem"),
        cert: pick(&flags.tlscert, &file.tlscert, "cert.pem"),
        key: pick(&flags.tlskey, &file.tlskey, "key.pem"),
        verify_clients: verify.unwrap_or(false),
    }))
}

/// Where dockerd looks for ca.pem, cert.pem and key.pem by default: DOCKER_CERT_PATH,
/// else the docker CLI's config dir (DOCKER_CONFIG, else ~/.docker).
fn default_cert_dir() -> PathBuf {
    let from_env = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
    if let Some(dir) = from_env("DOCKER_CERT_PATH").or_else(|| from_env("DOCKER_CONFIG")) {
        return PathBuf::from(dir);
    }
    let home = from_env("HOME").map(PathBuf::from).unwrap_or_else(|| {
        nix::unistd::User::from_uid(nix::unistd::geteuid())
            .ok()
            .flatten()
            .map(|u| u.dir)
            .unwrap_or_else(|| PathBuf::from("/root"))
    });
    home.join(".docker")
}

/// What SIGHUP changes while the daemon runs (dockerd reloads these without a
/// restart); the rest of daemon.json takes effect at the next start.
#[derive(Debug, Default)]
pub struct Live {
    debug: AtomicBool,
}

impl Live {
    pub fn new(options: &DaemonOptions) -> Live {
        Live {
            debug: AtomicBool::new(options.debug),
        }
    }

    pub fn debug(&self) -> bool {
        self.debug.load(Ordering::Relaxed)
    }

    /// Applies a reloaded file: as dockerd, a key the file leaves out keeps its value.
    pub fn apply(&self, file: &FileConfig) {
        if let Some(debug) = file.debug {
            self.debug.store(debug, Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flags() -> Flags {
        Flags::default()
    }

    #[test]
    fn unknown_keys_are_named() {
        let err = check_file(br#"{"debug": true, "zeta": 1, "alpha": 2}"#, &flags())
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "the following directives don't match any configuration option: alpha, zeta"
        );
    }

    #[test]
    fn a_key_given_both_ways_is_a_conflict() {
        let flags = Flags {
            hosts: vec!["unix:///a.sock".into()],
            debug: Some(true),
            ..flags()
        };
        let err = check_file(
            br#"{"hosts": ["tcp://127.0.0.1:2375", "unix:///b.sock"], "debug": false}"#,
            &flags,
        )
        .unwrap_err()
        .to_string();
        assert_eq!(
            err,
            "the following directives are specified both as a flag and in the configuration \
             file: hosts: (from flag: [unix:///a.sock], from file: [tcp://127.0.0.1:2375 \
             unix:///b.sock]), debug: (from flag: true, from file: false)"
        );
    }

    #[test]
    fn wrong_types_name_the_key() {
        let err = format!(
            "{:#}",
            check_file(br#"{"debug": "yes"}"#, &flags()).unwrap_err()
        );
        assert!(err.contains("\"debug\""), "{err}");
        assert!(check_file(b"[1]", &flags()).is_err());
        assert!(check_file(b"{", &flags()).is_err());
    }

    #[test]
    fn tlsverify_given_at_all_turns_tls_on() {
        let off = FileConfig::default();
        assert_eq!(tls_mode(&flags(), &off).unwrap(), Tls::Off);
        let explicit_off = Flags {
            tls: Some(false),
            ..flags()
        };
        assert_eq!(tls_mode(&explicit_off, &off).unwrap(), Tls::OffExplicitly);
        let verify_false = Flags {
            tlsverify: Some(false),
            tlscert: Some("/c.pem".into()),
            ..flags()
        };
        let Tls::On(files) = tls_mode(&verify_false, &off).unwrap() else {
            panic!("tlsverify=false should still be TLS");
        };
        assert!(!files.verify_clients);
        assert_eq!(files.cert, PathBuf::from("/c.pem"));
        let from_file = FileConfig {
            tlsverify: Some(true),
            ..FileConfig::default()
        };
        let Tls::On(files) = tls_mode(&flags(), &from_file).unwrap() else {
            panic!("tlsverify in the file turns TLS on");
        };
        assert!(files.verify_clients);
    }

    #[test]
    fn the_file_gives_what_no_flag_gives() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("daemon.json");
        std::fs::write(
            &file,
            r#"{"hosts": ["tcp://127.0.0.1", "unix:///x.sock"], "debug": true,
                "data-root": "/srv/berth", "tls": true}"#,
        )
        .unwrap();
        let options = resolve(
            Flags {
                config_file: Some(file),
                tlscert: Some("/c.pem".into()),
                ..flags()
            },
            Path::new("/var/lib/berth"),
            None,
        )
        .unwrap();
        assert_eq!(
            options.hosts,
            vec![
                Host::Tcp("127.0.0.1:2376".parse().unwrap()),
                Host::Unix("/x.sock".into())
            ]
        );
        assert!(options.debug);
        assert_eq!(options.root, PathBuf::from("/srv/berth"));
    }

    #[test]
    fn a_named_file_must_exist_and_the_default_need_not() {
        let missing = ReloadSource {
            file: "/nonexistent/daemon.json".into(),
            explicit: true,
            flags: flags(),
        };
        assert!(missing.read().is_err());
        let default = ReloadSource {
            explicit: false,
            ..missing
        };
        assert_eq!(default.read().unwrap(), FileConfig::default());
    }
}
