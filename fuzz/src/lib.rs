//! The bodies of berth-runtime's fuzz targets, as plain functions.
//!
//! Each binary in `fuzz_targets/` is one line that hands libFuzzer's input to
//! one of these; `tests/replay.rs` runs every kept input (the seed corpora
//! and the crash regressions) through them with plain `cargo test`, without
//! libFuzzer. A function returns normally for every input: any panic, an
//! arithmetic overflow (the fuzz build keeps debug assertions), a hang or a
//! failed `assert!` below is a finding.
//!
//! Besides "no panic", the targets check a few properties where the code
//! makes a promise: errors name something, a valid config still validates
//! after a serialise/parse round trip, a compiled seccomp program is one the
//! kernel's checker accepts, documents round-trip, the console socket never
//! leaks an fd.

mod api_bodies;
pub mod bpf_check;
mod image_refs;
mod layer_unpack;
mod registry_auth;
pub mod seccomp_gen;
mod shim_logs;

#[allow(dead_code)]
#[path = "../../runtime/src/update.rs"]
mod update;

use std::collections::HashMap;

use libcontainer::cgroups::DeviceState;
use libcontainer::state::{OciState, State, Status};
use oci_spec::runtime::{LinuxResources, LinuxSeccomp, Spec};

/// The first line (at most 64 bytes) as a str (lossy), and what follows it.
fn split_line(data: &[u8]) -> (String, &[u8]) {
    let head = &data[..data.len().min(64)];
    let (line, rest) = match head.iter().position(|&b| b == b'\n') {
        Some(n) => (&data[..n], &data[n + 1..]),
        None => (head, &data[head.len()..]),
    };
    (String::from_utf8_lossy(line).into_owned(), rest)
}

// ---- 1. config.json ------------------------------------------------------

/// `spec::parse` then `spec::validate`, and for a valid config what `create`
/// computes from it before touching the host: mount options, device nodes,
/// cgroup device rules, the zero-means-unset resources, the seccomp program.
pub fn config(data: &[u8]) {
    let spec = match libcontainer::spec::parse(data) {
        Ok(spec) => spec,
        Err(message) => {
            assert!(!message.is_empty(), "empty parse error");
            return;
        }
    };
    if let Err(e) = libcontainer::spec::validate(&spec) {
        assert!(!e.to_string().is_empty(), "empty validation error");
        return;
    }
    after_validation(&spec);
    // What is valid stays valid once written out and read back (the runtime
    // keeps the raw text, but `spec` and front-ends re-serialise specs).
    let text = serde_json::to_vec(&spec).expect("a parsed spec serialises");
    let again = libcontainer::spec::parse(&text)
        .unwrap_or_else(|e| panic!("a valid spec, re-serialised, no longer parses: {e}"));
    libcontainer::spec::validate(&again)
        .unwrap_or_else(|e| panic!("a valid spec, re-serialised, no longer validates: {e}"));
}

fn after_validation(spec: &Spec) {
    for mount in spec.mounts().iter().flatten() {
        let options =
            libcontainer::rootfs::options::parse(mount.options().as_deref().unwrap_or_default());
        let _ = options.data_string();
        let _ = options.is_bind();
    }
    let Some(linux) = spec.linux() else { return };
    for (i, device) in linux.devices().iter().flatten().enumerate() {
        let _ = libcontainer::rootfs::devices::from_spec(i, device);
    }
    if let Some(resources) = linux.resources() {
        resources_checks(resources);
    }
    if let Some(seccomp) = linux.seccomp() {
        seccomp_compile(seccomp);
    }
}

fn resources_checks(resources: &LinuxResources) {
    let kept = libcontainer::cgroups::zeros_as_unset(resources);
    // Idempotent: nothing is left to remove the second time.
    let twice = libcontainer::cgroups::zeros_as_unset(&kept);
    assert_eq!(
        serde_json::to_value(&kept).ok(),
        serde_json::to_value(&twice).ok(),
        "zeros_as_unset is not idempotent"
    );
    if let Ok(state) = DeviceState::for_spec(resources.devices().as_deref(), &[]) {
        let writes = DeviceState::deny_all().transition(&state);
        let back = state.transition(&state);
        let _ = (writes, back);
    }
}

// ---- 2. seccomp ----------------------------------------------------------

/// A `linux.seccomp` profile → `seccomp::compile` (never installed). Input
/// starting with `{` is JSON; anything else is decoded into a profile
/// directly ([`seccomp_gen`]), so that the fuzzer spends its time on the
/// compiler rather than on JSON syntax.
pub fn seccomp(data: &[u8]) {
    let profile: LinuxSeccomp = if data.first() == Some(&b'{') {
        match libcontainer::json::from_slice(data) {
            Ok(profile) => profile,
            Err(message) => {
                assert!(!message.is_empty());
                return;
            }
        }
    } else {
        seccomp_gen::profile(data)
    };
    seccomp_compile(&profile);
}

fn seccomp_compile(profile: &LinuxSeccomp) {
    match libcontainer::seccomp::compile(profile) {
        Ok(compiled) => {
            let program = compiled.program();
            assert_eq!(program.len(), compiled.instruction_count());
            if let Err(problem) = bpf_check::check(program) {
                panic!(
                    "compile returned a program the kernel would refuse: {problem}\n{:?}",
                    program
                        .iter()
                        .map(|i| (i.code, i.jt, i.jf, i.k))
                        .collect::<Vec<_>>()
                );
            }
            bpf_check::run_samples(program);
            // The agent's message carries the metadata and state verbatim.
            let message = libcontainer::seccomp::agent_message(&compiled, "{}", 1);
            let value: serde_json::Value =
                serde_json::from_str(&message).expect("the agent message is JSON");
            assert_eq!(
                value["metadata"].as_str(),
                Some(profile.listener_metadata().as_deref().unwrap_or_default())
            );
        }
        Err(e) => assert!(!e.to_string().is_empty()),
    }
}

// ---- 3. state.json -------------------------------------------------------

/// state.json as `StateDir::load` reads it, then what every later command
/// computes from it: the config view (hooks, annotations, process, seccomp)
/// and the runtime-spec state for each status. Also the /proc/PID/stat
/// parser, whose `comm` field the container's process chooses.
pub fn state(data: &[u8]) {
    libcontainer::state::parse_proc_stat(&String::from_utf8_lossy(data));
    // cgroup.json, which `delete` reads when state.json is damaged.
    if let Ok(cgroup) = serde_json::from_slice::<libcontainer::cgroups::Cgroup>(data) {
        let text = serde_json::to_vec(&cgroup).expect("a cgroup record serialises");
        let _: libcontainer::cgroups::Cgroup =
            serde_json::from_slice(&text).expect("a saved cgroup record loads");
    }
    let state: State = match serde_json::from_slice(data) {
        Ok(state) => state,
        Err(_) => return,
    };
    let _ = libcontainer::state::validate_id(&state.id);
    let view = state.config_view();
    if let Some(linux) = &view.linux {
        if let Some(seccomp) = &linux.seccomp {
            seccomp_compile(seccomp);
        }
    }
    for status in [
        Status::Creating,
        Status::Created,
        Status::Running,
        Status::Paused,
        Status::Stopped,
    ] {
        let oci = state.oci(status);
        if status == Status::Stopped {
            assert_eq!(oci.pid, 0);
        }
        let text = serde_json::to_string(&oci).expect("OciState serialises");
        let back: OciState = serde_json::from_str(&text).expect("OciState reads back");
        assert_eq!(back, oci);
    }
    // What `save` writes, `load` reads.
    let text = serde_json::to_vec(&state).expect("State serialises");
    let back: State = serde_json::from_slice(&text).expect("a saved state loads");
    assert_eq!(back.id, state.id);
    assert_eq!(back.config.get(), state.config.get());
}

// ---- 4. hooks' input and the kill / update arguments ---------------------

/// Selected by the first byte:
/// - 0..=63: the state document hooks read on stdin (`OciState`): parse,
///   write, parse again, same value;
/// - 64..=127: `signal::parse` (`kill ID SIGNAL`);
/// - 128..=191: `update`: the byte-count parser of `--memory` and friends,
///   and a `--resources` document through `zeros_as_unset` (the text is
///   the first line, the document what follows);
/// - 192..=255: the process template `exec` reads (`--process FILE`) and the
///   id checks of every command (the id is the first line).
pub fn hooks_input(data: &[u8]) {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    match selector {
        0..=63 => {
            if let Ok(state) = serde_json::from_slice::<OciState>(rest) {
                let text = serde_json::to_string(&state).expect("OciState serialises");
                let back: OciState = serde_json::from_str(&text).expect("OciState reads back");
                assert_eq!(back, state);
            }
        }
        64..=127 => {
            let text = String::from_utf8_lossy(rest);
            if let Ok(number) = libcontainer::signal::parse(&text) {
                assert!(
                    (0..=libc::SIGRTMAX()).contains(&number),
                    "{text:?} parsed as signal {number}"
                );
            }
        }
        128..=191 => {
            let (text, rest) = split_line(rest);
            if let Ok(bytes) = update::parse_bytes(&text) {
                assert!(bytes >= -1, "{text:?} parsed as {bytes} bytes");
            }
            if let Ok(resources) = libcontainer::json::from_slice::<LinuxResources>(rest) {
                resources_checks(&resources);
                let args = update::UpdateArgs {
                    memory: Some(text),
                    ..Default::default()
                };
                let _ = update::resources(&args);
            }
        }
        _ => {
            let (id, rest) = split_line(rest);
            if libcontainer::state::validate_id(&id).is_ok() {
                assert!(!id.contains('/') && id != "." && id != "..");
            }
            if let Ok(process) = libcontainer::json::from_slice::<oci_spec::runtime::Process>(rest)
            {
                let _ = serde_json::to_string(&process);
            }
        }
    }
}

// ---- 5. console socket ---------------------------------------------------

/// `console::recv_fd` on a real socketpair: the peer sends the input as the
/// message data with 0, 1 or 2 fds attached (first byte), on a stream or a
/// seqpacket socket. Checks the name comes back (lossily) as sent, that a
/// message without an fd is an error, and that no fd is leaked either way.
/// Also the seccomp agent's message built from an arbitrary state document.
pub fn console_socket(data: &[u8]) {
    use nix::sys::socket::{
        sendmsg, socketpair, AddressFamily, ControlMessage, MsgFlags, SockFlag, SockType,
    };
    use std::io::IoSlice;
    use std::os::fd::{AsFd, AsRawFd};

    let Some((&mode, name)) = data.split_first() else {
        return;
    };
    let fds_sent = usize::from(mode % 3);
    let kind = if mode & 4 == 0 {
        SockType::Stream
    } else {
        SockType::SeqPacket
    };
    let lowest_free_fd = || {
        let probe = std::fs::File::open("/dev/null").expect("open /dev/null");
        probe.as_raw_fd()
    };
    let before = lowest_free_fd();
    {
        let (a, b) = socketpair(AddressFamily::Unix, kind, None, SockFlag::SOCK_CLOEXEC)
            .expect("socketpair");
        let null = std::fs::File::open("/dev/null").expect("open /dev/null");
        let raw = [null.as_raw_fd(), null.as_raw_fd()];
        let cmsg = [ControlMessage::ScmRights(&raw[..fds_sent])];
        let cmsgs: &[ControlMessage] = if fds_sent == 0 { &[] } else { &cmsg };
        // A stream socket cannot carry an empty message with an fd; send one
        // byte then, as a real sender of an empty name would have to.
        let payload: &[u8] = if name.is_empty() { b"\0" } else { name };
        let iov = [IoSlice::new(payload)];
        // Larger than the socket buffer: the runtime would fail to send;
        // nothing to receive then.
        if sendmsg::<()>(a.as_raw_fd(), &iov, cmsgs, MsgFlags::MSG_DONTWAIT, None).is_err() {
            return;
        }
        match libcontainer::console::recv_fd(b.as_fd()) {
            Ok((fd, received)) => {
                assert!(fds_sent > 0, "an fd was received where none was sent");
                let sent = String::from_utf8_lossy(&payload[..payload.len().min(4096)]);
                // A stream may split; what arrived is a prefix of what was sent.
                assert!(
                    sent.starts_with(received.trim_end_matches('\u{fffd}')),
                    "received name {received:?} is not what was sent"
                );
                drop(fd);
            }
            Err(e) => {
                assert!(!e.to_string().is_empty());
            }
        }
        drop((a, b, null));
    }
    assert_eq!(lowest_free_fd(), before, "recv_fd leaked an fd");

    // The seccomp agent's message: arbitrary state text and metadata.
    let text = String::from_utf8_lossy(name);
    let (metadata, state) = text.split_at(text.char_indices().nth(16).map_or(0, |(i, _)| i));
    let profile: LinuxSeccomp = serde_json::from_value(serde_json::json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "listenerPath": "/run/agent.sock",
        "listenerMetadata": metadata,
        "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_NOTIFY"}],
    }))
    .expect("notify profile");
    let compiled = libcontainer::seccomp::compile(&profile).expect("notify profile compiles");
    let message = libcontainer::seccomp::agent_message(&compiled, state, 42);
    let value: serde_json::Value = serde_json::from_str(&message).expect("agent message is JSON");
    assert_eq!(value["metadata"].as_str(), Some(metadata));
    assert_eq!(value["pid"], 42);
    // Embedded as parsed (compared as text: serde_json's float parsing does
    // not round-trip every last digit, which does not matter here).
    let parsed = serde_json::from_str::<serde_json::Value>(state).unwrap_or_default();
    assert!(
        message.contains(&format!("\"state\":{parsed}")),
        "{message}"
    );
}

// ---- 6. parent/init protocol ---------------------------------------------

/// `process::channel::decode`, what `Channel::recv` does with each packet;
/// a decoded message encodes back to one that decodes the same.
pub fn sync_channel(data: &[u8]) {
    use libcontainer::process::channel::decode;
    match decode(data) {
        Ok(message) => {
            let bytes = serde_json::to_vec(&message).expect("a message encodes");
            assert_eq!(decode(&bytes).expect("an encoded message decodes"), message);
        }
        Err(e) => assert!(!e.to_string().is_empty()),
    }
}

// ---- 7. json path finder -------------------------------------------------

/// `json::path_at` with arbitrary bytes and every kind of offset, and
/// `json::from_slice` (which calls it on a data error) into documents of
/// the shapes the runtime reads. The first two bytes pick the offset and the
/// type.
pub fn json_path(data: &[u8]) {
    if data.len() < 2 {
        return;
    }
    let (head, bytes) = data.split_at(2);
    let offset = match head[0] {
        0 => usize::MAX,
        1 => bytes.len(),
        n => usize::from(n) * bytes.len() / 255 + usize::from(head[1] & 3),
    };
    let _ = libcontainer::json::path_at(bytes, offset);
    for end in [0, 1, bytes.len() / 2, bytes.len().saturating_sub(1)] {
        let _ = libcontainer::json::path_at(bytes, end);
    }
    let error = match head[1] >> 2 {
        0..=15 => libcontainer::json::from_slice::<Spec>(bytes).err(),
        16..=31 => libcontainer::json::from_slice::<LinuxResources>(bytes).err(),
        32..=47 => libcontainer::json::from_slice::<LinuxSeccomp>(bytes).err(),
        _ => libcontainer::json::from_slice::<HashMap<String, Vec<u32>>>(bytes).err(),
    };
    if let Some(message) = error {
        assert!(
            message.starts_with("invalid JSON") || message.starts_with("invalid value"),
            "{message}"
        );
    }
}

// ---- 8. berth-shim's log drivers -----------------------------------------

/// berth-shim's k8s-file and json-file drivers with rotation, fed arbitrary
/// chunks of both streams: every record whole and valid, the files within
/// their size, and the streams read back equal to what was written (see
/// `shim_logs.rs` for the input layout).
pub fn shim_logs(data: &[u8]) {
    shim_logs::run(data);
}

// ---- 9. the front-end's image references and manifests -------------------

/// Image references, `--platform` values and manifest bodies (the four media
/// types, with or without a Content-Type) from untrusted bytes: a clear error
/// or a value that round-trips (see `image_refs.rs`).
pub fn image_refs(data: &[u8]) {
    image_refs::run(data);
}

// ---- 10. the front-end's registry client: what a registry sends ------------

/// `WWW-Authenticate` challenges (each reads back as itself once written
/// out), registry error bodies (one short line each), token responses and
/// `Link` headers (never a path to another host), from untrusted bytes (see
/// `registry_auth.rs`).
pub fn registry_auth_challenge(data: &[u8]) {
    registry_auth::run(data);
}

// ---- 11. the front-end's layer unpacking ----------------------------------

/// Arbitrary bytes as a layer tar (plain, gzip, or gzip-compressed here)
/// unpacked beside a sentinel directory that must stay untouched; a result
/// then diffed and unpacked again (see `layer_unpack.rs`).
pub fn layer_unpack(data: &[u8]) {
    layer_unpack::run(data);
}

// ---- 12. the front-end's API daemon: what a client sends -------------------

/// Create bodies, network bodies, `filters` and `-H` values from untrusted bytes:
/// a 400 with a message or a value (see `api_bodies.rs`).
pub fn api_bodies(data: &[u8]) {
    api_bodies::run(data);
}
