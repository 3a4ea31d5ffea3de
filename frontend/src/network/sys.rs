//! The two calls of the network code that no crate wraps: the interface-flags
//! ioctls (loopback up without a netlink connection) and per-namespace sysctls.

use std::os::fd::AsRawFd;

use nix::sys::socket::{socket, AddressFamily, SockFlag, SockType};

/// Brings `lo` of the calling thread's network namespace up (a new one has it down).
pub fn loopback_up() -> nix::Result<()> {
    let sock = socket(
        AddressFamily::Inet,
        SockType::Datagram,
        SockFlag::SOCK_CLOEXEC,
        None,
    )?;
    // SAFETY: ifreq is a plain C struct (a name and a union of integers and
    // addresses); all-zero is a valid value.
    let mut request: nix::libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, src) in request.ifr_name.iter_mut().zip(b"lo\0") {
        *dst = *src as nix::libc::c_char;
    }
    // SAFETY: SIOCGIFFLAGS reads the name and writes the flags of the ifreq, which
    // lives for the call.
    let ret = unsafe { nix::libc::ioctl(sock.as_raw_fd(), nix::libc::SIOCGIFFLAGS, &mut request) };
    nix::errno::Errno::result(ret)?;
    // SAFETY: the kernel just filled ifru_flags, the union member SIOCGIFFLAGS uses.
    let flags = unsafe { request.ifr_ifru.ifru_flags };
    request.ifr_ifru.ifru_flags = flags | nix::libc::IFF_UP as nix::libc::c_short;
    // SAFETY: SIOCSIFFLAGS reads the name and flags of the ifreq, which lives for the
    // call.
    let ret = unsafe { nix::libc::ioctl(sock.as_raw_fd(), nix::libc::SIOCSIFFLAGS, &request) };
    nix::errno::Errno::result(ret).map(drop)
}

/// Sets `/proc/sys/<key>` (dots as slashes) to `value` if it is not that already:
/// /proc/sys/net shows the namespace of the thread that opens it.
pub fn sysctl(key: &str, value: &str) -> std::io::Result<()> {
    let path = format!("/proc/sys/{}", key.replace('.', "/"));
    if std::fs::read_to_string(&path).is_ok_and(|v| v.trim() == value) {
        return Ok(());
    }
    std::fs::write(&path, value)
}
