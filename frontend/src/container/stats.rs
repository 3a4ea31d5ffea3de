//! The figures of `docker stats` for one container, read from its cgroup (the spec's
//! `linux.cgroupsPath`) and its init's network namespace, and printed in Docker's units.
//!
//! The cgroup layout is found at run time from /proc/self/mountinfo: v1 controllers each
//! on their own hierarchy (`cpu,cpuacct` may share one), or one cgroup2 hierarchy for all.
//! A host with both (v1 controllers plus a cgroup2 mount holding none of them, as
//! systemd's hybrid layout) is read as v1.
//!
//! | figure | v1 | v2 |
//! | --- | --- | --- |
//! | CPU ns | cpuacct.usage | cpu.stat usage_usec |
//! | memory | memory.usage_in_bytes − total_inactive_file | memory.current − inactive_file |
//! | limit | memory.limit_in_bytes | memory.max |
//! | block I/O | blkio io_service_bytes_recursive (CFQ/BFQ, else throttle) | io.stat rbytes/wbytes |
//! | pids | pids.current | pids.current |
//!
//! CPU % is Docker's: the container's CPU time over the host's (/proc/stat) between two
//! samples, times the CPUs online, times 100. The limit is the host's memory when the
//! cgroup has none (or a larger one). Net I/O sums every interface of the container's
//! network namespace but `lo`; a container in the host's namespace shows 0B / 0B, as
//! Docker shows it.

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum StatsError {
    #[error("reading {}: {source}", path.display())]
    Read { path: PathBuf, source: io::Error },
    #[error("{}: {what}", path.display())]
    Parse { path: PathBuf, what: String },
    #[error("no cgroup hierarchy found in /proc/self/mountinfo (neither cgroup v1 nor v2)")]
    NoCgroups,
    #[error("the cgroup {cgroup} does not exist (under {})", dir.display())]
    NoCgroup { cgroup: String, dir: PathBuf },
}

/// The host's cgroup hierarchies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cgroups {
    /// Each controller's mount point (and the cgroup shown at it, `/` on a host).
    V1(BTreeMap<String, (PathBuf, String)>),
    /// The unified hierarchy's mount point (and the cgroup shown at it).
    V2(PathBuf, String),
}

const CONTROLLERS: &[&str] = &["cpu", "cpuacct", "memory", "blkio", "pids"];

impl Cgroups {
    /// From /proc/self/mountinfo.
    pub fn detect() -> Result<Cgroups, StatsError> {
        let path = Path::new("/proc/self/mountinfo");
        let text = fs::read_to_string(path).map_err(|source| StatsError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Cgroups::from_mountinfo(&text).ok_or(StatsError::NoCgroups)
    }

    /// Parses mountinfo lines: `ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTS... - TYPE SRC SUPER`.
    pub fn from_mountinfo(text: &str) -> Option<Cgroups> {
        let mut v1: BTreeMap<String, (PathBuf, String)> = BTreeMap::new();
        let mut v2: Option<(PathBuf, String)> = None;
        for line in text.lines() {
            let Some((left, right)) = line.split_once(" - ") else {
                continue;
            };
            let fields: Vec<&str> = left.split(' ').collect();
            let mut right = right.split(' ');
            let (Some(fs_type), Some(_source), Some(options)) =
                (right.next(), right.next(), right.next())
            else {
                continue;
            };
            let (Some(root), Some(mount_point)) = (fields.get(3), fields.get(4)) else {
                continue;
            };
            let mount = (PathBuf::from(unescape(mount_point)), unescape(root));
            match fs_type {
                "cgroup" => {
                    for c in options.split(',').filter(|o| CONTROLLERS.contains(o)) {
                        // The first mount of a hierarchy wins; later ones are bind mounts.
                        v1.entry(c.to_string()).or_insert_with(|| mount.clone());
                    }
                }
                "cgroup2" if v2.is_none() || mount.0 == Path::new("/sys/fs/cgroup") => {
                    v2 = Some(mount);
                }
                _ => {}
            }
        }
        if !v1.is_empty() {
            Some(Cgroups::V1(v1))
        } else {
            v2.map(|(mount, root)| Cgroups::V2(mount, root))
        }
    }

    /// The directory of `cgroup` (`/berth/ID`) for `controller`, None when the host has
    /// no such controller.
    pub fn dir(&self, controller: &str, cgroup: &str) -> Option<PathBuf> {
        let (mount, root) = match self {
            Cgroups::V1(map) => {
                let (mount, root) = map.get(controller)?;
                (mount, root)
            }
            Cgroups::V2(mount, root) => (mount, root),
        };
        // A mount showing a subtree (inside a container) has the cgroups below it.
        let relative = Path::new(cgroup)
            .strip_prefix(root)
            .unwrap_or(Path::new(cgroup));
        let relative = relative.strip_prefix("/").unwrap_or(relative);
        Some(mount.join(relative))
    }

    /// Every directory of `cgroup`, one per hierarchy (one on v2).
    pub fn dirs(&self, cgroup: &str) -> Vec<PathBuf> {
        let mut dirs: Vec<PathBuf> = match self {
            Cgroups::V1(map) => map.keys().filter_map(|c| self.dir(c, cgroup)).collect(),
            Cgroups::V2(..) => self.dir("", cgroup).into_iter().collect(),
        };
        dirs.dedup();
        dirs
    }
}

/// mountinfo escapes spaces, tabs, newlines and backslashes as `\OOO`.
fn unescape(field: &str) -> String {
    let b = field.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let octal = b.get(i + 1..i + 4);
        if b[i] == b'\\' && octal.is_some_and(|o| o.iter().all(|c| (b'0'..=b'7').contains(c))) {
            let n = octal
                .unwrap_or_default()
                .iter()
                .fold(0u32, |n, c| n * 8 + u32::from(c - b'0'));
            out.push(n as u8);
            i += 4;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// One reading of a container's figures.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Sample {
    /// CPU time the container's processes used, ns.
    pub cpu_ns: u64,
    /// CPU time the whole host used (busy and idle, /proc/stat), ns.
    pub system_ns: u64,
    pub online_cpus: u32,
    /// In use without the inactive page cache (Docker's figure), bytes.
    pub memory: u64,
    /// The cgroup's limit, or the host's memory if that is less; bytes.
    pub memory_limit: u64,
    pub pids: u64,
    pub block_read: u64,
    pub block_write: u64,
    pub net_rx: u64,
    pub net_tx: u64,
}

/// Reads the figures of the container in `cgroup` (its spec's `linux.cgroupsPath`), whose
/// init is `pid` (for its network namespace; None: no network figures).
pub fn sample(cgroups: &Cgroups, cgroup: &str, pid: Option<i32>) -> Result<Sample, StatsError> {
    let v2 = matches!(cgroups, Cgroups::V2(..));
    let dir = |controller: &str| cgroups.dir(controller, cgroup);
    // The container's own cgroup must be there; a controller the host lacks reads as 0.
    let main = dir("memory")
        .or_else(|| dir("pids"))
        .or_else(|| dir("cpuacct"))
        .ok_or(StatsError::NoCgroups)?;
    if !main.is_dir() {
        return Err(StatsError::NoCgroup {
            cgroup: cgroup.to_string(),
            dir: main,
        });
    }
    let (system_ns, online_cpus) = host_cpu()?;
    let host_memory = host_memory()?;
    let mut s = Sample {
        system_ns,
        online_cpus,
        memory_limit: u64::MAX,
        ..Sample::default()
    };
    if v2 {
        let d = main;
        s.cpu_ns = keyed(&d.join("cpu.stat"))?
            .get("usage_usec")
            .map_or(0, |us| us.saturating_mul(1000));
        let usage = number(&d.join("memory.current"))?.unwrap_or(0);
        let inactive = keyed(&d.join("memory.stat"))?.get("inactive_file").copied();
        s.memory = without_cache(usage, inactive);
        s.memory_limit = number(&d.join("memory.max"))?.unwrap_or(u64::MAX);
        s.pids = number(&d.join("pids.current"))?.unwrap_or(0);
        (s.block_read, s.block_write) = io_stat(&d.join("io.stat"))?;
    } else {
        if let Some(d) = dir("cpuacct") {
            s.cpu_ns = number(&d.join("cpuacct.usage"))?.unwrap_or(0);
        }
        if let Some(d) = dir("memory") {
            let usage = number(&d.join("memory.usage_in_bytes"))?.unwrap_or(0);
            let inactive = keyed(&d.join("memory.stat"))?
                .get("total_inactive_file")
                .copied();
            s.memory = without_cache(usage, inactive);
            s.memory_limit = number(&d.join("memory.limit_in_bytes"))?.unwrap_or(u64::MAX);
        }
        if let Some(d) = dir("pids") {
            s.pids = number(&d.join("pids.current"))?.unwrap_or(0);
        }
        if let Some(d) = dir("blkio") {
            (s.block_read, s.block_write) = blkio_v1(&d)?;
        }
    }
    // Unlimited reads as a huge number (v1) or `max` (v2): the host's memory is the bound.
    s.memory_limit = s.memory_limit.min(host_memory);
    if let Some(pid) = pid {
        (s.net_rx, s.net_tx) = net_io(pid)?;
    }
    Ok(s)
}

/// The figures of `container`: zeros when it is not running or its cgroup cannot be
/// read (it may have exited between the look at its state and the reading).
pub fn sample_container(cgroups: &Cgroups, container: &super::lifecycle::Container) -> Sample {
    let state = container.state();
    if !state.status.is_up() {
        return Sample::default();
    }
    let pid = (state.pid > 0).then_some(state.pid);
    container
        .cgroup_path()
        .ok()
        .and_then(|cgroup| sample(cgroups, &cgroup, pid).ok())
        .unwrap_or_default()
}

/// Docker's memory figure: usage without the inactive file cache, when that is smaller.
fn without_cache(usage: u64, inactive_file: Option<u64>) -> u64 {
    match inactive_file {
        Some(inactive) if inactive < usage => usage - inactive,
        _ => usage,
    }
}

fn read_opt(path: &Path) -> Result<Option<String>, StatsError> {
    match fs::read_to_string(path) {
        Ok(text) => Ok(Some(text)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(StatsError::Read {
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// A file holding one number (`max` reads as None); None when the file is absent.
fn number(path: &Path) -> Result<Option<u64>, StatsError> {
    let Some(text) = read_opt(path)? else {
        return Ok(None);
    };
    let text = text.trim();
    if text == "max" {
        return Ok(None);
    }
    text.parse().map(Some).map_err(|_| StatsError::Parse {
        path: path.to_path_buf(),
        what: format!("{text:?} is not a number"),
    })
}

/// `KEY VALUE` lines (memory.stat, cpu.stat); empty when the file is absent.
fn keyed(path: &Path) -> Result<BTreeMap<String, u64>, StatsError> {
    Ok(read_opt(path)?
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let (k, v) = l.split_once(' ')?;
            Some((k.to_string(), v.trim().parse().ok()?))
        })
        .collect())
}

/// v2 `io.stat`: `MAJ:MIN rbytes=N wbytes=N rios=N ...` per device.
fn io_stat(path: &Path) -> Result<(u64, u64), StatsError> {
    let text = read_opt(path)?.unwrap_or_default();
    let (mut read, mut write) = (0u64, 0u64);
    for field in text.split_whitespace() {
        if let Some((key, value)) = field.split_once('=') {
            let value: u64 = value.parse().unwrap_or(0);
            match key {
                "rbytes" => read = read.saturating_add(value),
                "wbytes" => write = write.saturating_add(value),
                _ => {}
            }
        }
    }
    Ok((read, write))
}

/// v1 blkio: `MAJ:MIN OP BYTES` lines; Docker counts the ops starting with r/R and w/W.
/// The CFQ/BFQ files count I/O that the throttle files may not; they come first where
/// the scheduler keeps them.
fn blkio_v1(dir: &Path) -> Result<(u64, u64), StatsError> {
    for file in [
        "blkio.io_service_bytes_recursive",
        "blkio.bfq.io_service_bytes_recursive",
        "blkio.throttle.io_service_bytes_recursive",
    ] {
        let Some(text) = read_opt(&dir.join(file))? else {
            continue;
        };
        let (mut read, mut write) = (0u64, 0u64);
        let mut entries = 0;
        for line in text.lines() {
            let f: Vec<&str> = line.split_whitespace().collect();
            let [_, op, value] = f[..] else { continue };
            let value: u64 = value.parse().unwrap_or(0);
            entries += 1;
            match op.as_bytes().first() {
                Some(b'r' | b'R') => read = read.saturating_add(value),
                Some(b'w' | b'W') => write = write.saturating_add(value),
                _ => {}
            }
        }
        if entries > 0 || file.contains("throttle") {
            return Ok((read, write));
        }
    }
    Ok((0, 0))
}

/// The host's CPU time from /proc/stat's `cpu` line (user nice system idle iowait irq
/// softirq, as Docker sums them; USER_HZ is 100 on Linux), and the CPUs this process may
/// run on (Docker's "online CPUs").
fn host_cpu() -> Result<(u64, u32), StatsError> {
    let path = Path::new("/proc/stat");
    let text = read_opt(path)?.unwrap_or_default();
    let bad = || StatsError::Parse {
        path: path.to_path_buf(),
        what: "no `cpu` line with seven numbers".to_string(),
    };
    let line = text
        .lines()
        .find(|l| l.starts_with("cpu "))
        .ok_or_else(bad)?;
    let ticks: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .take(7)
        .map(str::parse)
        .collect::<Result<_, _>>()
        .map_err(|_| bad())?;
    if ticks.len() < 7 {
        return Err(bad());
    }
    let total: u64 = ticks.iter().sum();
    let online = nix::sched::sched_getaffinity(nix::unistd::Pid::from_raw(0))
        .map(|set| {
            (0..nix::sched::CpuSet::count())
                .filter(|&i| set.is_set(i).unwrap_or(false))
                .count() as u32
        })
        .unwrap_or(1);
    Ok((total.saturating_mul(10_000_000), online.max(1)))
}

/// MemTotal of /proc/meminfo in bytes.
fn host_memory() -> Result<u64, StatsError> {
    let path = Path::new("/proc/meminfo");
    let text = read_opt(path)?.unwrap_or_default();
    text.lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map(|kb| kb * 1024)
        .ok_or_else(|| StatsError::Parse {
            path: path.to_path_buf(),
            what: "no MemTotal line".to_string(),
        })
}

/// Bytes received and sent on every interface of `pid`'s network namespace but `lo`;
/// 0 and 0 when it is the host's (`--network host`) or the process is gone.
fn net_io(pid: i32) -> Result<(u64, u64), StatsError> {
    let ns = |p: &str| fs::read_link(format!("/proc/{p}/ns/net")).ok();
    let theirs = ns(&pid.to_string());
    if theirs.is_none() || theirs == ns("self") {
        return Ok((0, 0));
    }
    let path = PathBuf::from(format!("/proc/{pid}/net/dev"));
    let Some(text) = read_opt(&path)? else {
        return Ok((0, 0));
    };
    Ok(parse_net_dev(&text))
}

/// `/proc/net/dev`: two header lines, then `IFACE: RX_BYTES PACKETS ... (8 receive
/// fields) TX_BYTES ...`.
fn parse_net_dev(text: &str) -> (u64, u64) {
    let (mut rx, mut tx) = (0u64, 0u64);
    for line in text.lines().skip(2) {
        let Some((iface, counters)) = line.split_once(':') else {
            continue;
        };
        if iface.trim() == "lo" {
            continue;
        }
        let c: Vec<u64> = counters
            .split_whitespace()
            .map(|v| v.parse().unwrap_or(0))
            .collect();
        if c.len() >= 9 {
            rx = rx.saturating_add(c[0]);
            tx = tx.saturating_add(c[8]);
        }
    }
    (rx, tx)
}

/// A row of `docker stats`: the container and two samples (the first may be missing:
/// CPU % is then 0, as Docker shows it before its second reading).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatsEntry {
    /// The full id (cut to 12 characters unless `--no-trunc`).
    pub id: String,
    /// Without Docker's leading slash.
    pub name: String,
    pub previous: Option<Sample>,
    pub current: Sample,
}

impl StatsEntry {
    /// Docker's CPU %: (Δ container / Δ host) × online CPUs × 100.
    pub fn cpu_percent(&self) -> f64 {
        let Some(prev) = &self.previous else {
            return 0.0;
        };
        let cpu = self.current.cpu_ns as f64 - prev.cpu_ns as f64;
        let system = self.current.system_ns as f64 - prev.system_ns as f64;
        if cpu > 0.0 && system > 0.0 {
            cpu / system * f64::from(self.current.online_cpus) * 100.0
        } else {
            0.0
        }
    }

    pub fn memory_percent(&self) -> f64 {
        if self.current.memory_limit == 0 {
            return 0.0;
        }
        self.current.memory as f64 / self.current.memory_limit as f64 * 100.0
    }

    /// The columns by the names `--format` templates use (`{{.CPUPerc}}`...), formatted
    /// as Docker formats them.
    pub fn fields(&self, truncate: bool) -> BTreeMap<&'static str, String> {
        let s = &self.current;
        let id = if truncate {
            self.id.chars().take(12).collect()
        } else {
            self.id.clone()
        };
        let name = if self.name.is_empty() {
            "--".to_string()
        } else {
            self.name.clone()
        };
        BTreeMap::from([
            ("Container", id.clone()),
            ("ID", id),
            ("Name", name),
            ("CPUPerc", percent(self.cpu_percent())),
            (
                "MemUsage",
                format!(
                    "{} / {}",
                    bytes_size(s.memory as f64),
                    bytes_size(s.memory_limit as f64)
                ),
            ),
            ("MemPerc", percent(self.memory_percent())),
            (
                "NetIO",
                format!(
                    "{} / {}",
                    human_size(s.net_rx as f64, 3),
                    human_size(s.net_tx as f64, 3)
                ),
            ),
            (
                "BlockIO",
                format!(
                    "{} / {}",
                    human_size(s.block_read as f64, 3),
                    human_size(s.block_write as f64, 3)
                ),
            ),
            ("PIDs", s.pids.to_string()),
        ])
    }
}

/// The columns of Docker's default `docker stats` table, by header and field.
pub const TABLE_COLUMNS: &[(&str, &str)] = &[
    ("CONTAINER ID", "ID"),
    ("NAME", "Name"),
    ("CPU %", "CPUPerc"),
    ("MEM USAGE / LIMIT", "MemUsage"),
    ("MEM %", "MemPerc"),
    ("NET I/O", "NetIO"),
    ("BLOCK I/O", "BlockIO"),
    ("PIDS", "PIDs"),
];

/// Docker's default `docker stats` table (header included), aligned as its tabwriter
/// aligns it: columns at least 10 wide, 3 spaces apart.
pub fn table(entries: &[StatsEntry], truncate: bool) -> String {
    let mut rows = vec![TABLE_COLUMNS.iter().map(|(h, _)| h.to_string()).collect()];
    for e in entries {
        let mut f = e.fields(truncate);
        rows.push(
            TABLE_COLUMNS
                .iter()
                .map(|(_, k)| f.remove(k).unwrap_or_default())
                .collect(),
        );
    }
    super::top::align_columns(&rows, 10)
}

/// `12.34%`: two decimals, as Docker's `formatPercentage`.
pub fn percent(value: f64) -> String {
    format!("{value:.2}%")
}

/// go-units' `BytesSize`: binary units, `%.4g` (`1.5MiB`, `7.755GiB`, `0B`).
pub fn bytes_size(bytes: f64) -> String {
    scaled(bytes, 1024.0, &BINARY, 4)
}

/// go-units' `HumanSizeWithPrecision`: decimal units, `%.{precision}g` (`1.23kB`).
pub fn human_size(bytes: f64, precision: usize) -> String {
    scaled(bytes, 1000.0, &DECIMAL, precision)
}

const BINARY: [&str; 9] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB"];
const DECIMAL: [&str; 9] = ["B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"];

fn scaled(mut size: f64, base: f64, units: &[&str; 9], precision: usize) -> String {
    let mut unit = 0;
    while size >= base && unit < units.len() - 1 {
        size /= base;
        unit += 1;
    }
    format!("{}{}", go_g(size, precision), units[unit])
}

/// Go's `%.{precision}g`: `precision` significant digits, trailing zeros dropped, an
/// exponent (`1e+03`) when it is below -4 or not below the precision.
pub fn go_g(value: f64, precision: usize) -> String {
    let precision = precision.max(1);
    if value == 0.0 {
        return "0".to_string();
    }
    // Rounded to `precision` digits first: the exponent is the rounded number's.
    let sci = format!("{:.*e}", precision - 1, value);
    let Some((mantissa, exp)) = sci.split_once('e') else {
        return sci;
    };
    let exp: i32 = exp.parse().unwrap_or(0);
    if exp < -4 || exp >= precision as i32 {
        let sign = if exp < 0 { '-' } else { '+' };
        return format!("{}e{sign}{:02}", trim_fraction(mantissa), exp.abs());
    }
    let decimals = (precision as i32 - 1 - exp).max(0) as usize;
    trim_fraction(&format!("{value:.decimals$}"))
}

fn trim_fraction(text: &str) -> String {
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        text.to_string()
    }
}

#[cfg(test)]
mod tests;
