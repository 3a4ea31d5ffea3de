//! The shim's own warnings. After start-up its stderr is /dev/null (it must not hold the
//! caller's terminal or pipe open), so they go to syslog when `--syslog` asks for it, as
//! conmon's do, and nowhere otherwise.

use std::os::unix::net::UnixDatagram;
use std::sync::OnceLock;

static SYSLOG: OnceLock<Option<(UnixDatagram, String)>> = OnceLock::new();

/// Called once at start-up with `--syslog` and the container id.
pub fn init(syslog: bool, cid: &str) {
    let target = syslog
        .then(|| {
            let socket = UnixDatagram::unbound().ok()?;
            socket.connect("/dev/log").ok()?;
            socket.set_nonblocking(true).ok()?;
            Some((socket, format!("berth-shim[{}]", std::process::id())))
        })
        .flatten();
    let _ = SYSLOG.set(target.map(|(s, tag)| (s, format!("{tag}: {cid}: "))));
}

/// One warning line (facility daemon, severity warning).
pub fn warn(message: &str) {
    if let Some(Some((socket, prefix))) = SYSLOG.get() {
        let _ = socket.send(format!("<28>{prefix}{message}").as_bytes());
    }
}
