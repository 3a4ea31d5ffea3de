//! Device access rules: `linux.resources.devices` → one normalised state,
//! written to a v1 `devices` cgroup or compiled to a v2 eBPF program
//! (`devices_bpf`).
//!
//! ## The rules applied, in order
//! 1. deny everything (`a *:* rwm`), as runc starts;
//! 2. the spec's `linux.resources.devices`, in order;
//! 3. [`DEFAULT_ALLOWED`], the devices every container gets (runc's list:
//!    mknod of any node, null, zero, full, random, urandom, tty, console,
//!    ptmx and /dev/pts/*). They live here, not in the caller, so that
//!    `create` and `update` cannot disagree; like runc they come last, so a
//!    spec cannot deny them, except that a default for a path the spec lists
//!    in `linux.devices` is left out (as runc does): the spec's own entry
//!    for that path wins, and its `linux.resources.devices` decide access.
//!
//! Access is a combination of `r`, `w` and `m`; an `a` in it is accepted
//! and grants nothing (runc ignores it too: `rwa` is `rw`).
//!
//! The rules are evaluated with the v1 kernel's semantics (an emulation of
//! security/device_cgroup.c), so a spec means the same on v1 and v2: a
//! default (allow or deny) and a list of exceptions, each an exact
//! `type major:minor` with access bits. An `a` rule resets everything; an
//! allow in deny-default mode adds an exception, a deny removes access from
//! the exception of exactly the same node. Like runc we refuse a deny that
//! would have to punch a hole into a wildcard exception (v1 silently
//! ignores it, which would leave the device open).

use std::collections::BTreeMap;
use std::path::Path;

use oci_spec::runtime::{LinuxDeviceCgroup, LinuxDeviceType};

use super::fs;
use crate::error::{Error, Result};

/// Access bits, with the values of both the v1 kernel and
/// `BPF_DEVCG_ACC_*`: mknod 1, read 2, write 4.
pub const ACC_MKNOD: u8 = 1;
pub const ACC_READ: u8 = 2;
pub const ACC_WRITE: u8 = 4;
pub const ACC_ALL: u8 = ACC_MKNOD | ACC_READ | ACC_WRITE;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum DevType {
    Block,
    Char,
}

impl DevType {
    fn letter(self) -> char {
        match self {
            DevType::Block => 'b',
            DevType::Char => 'c',
        }
    }
}

/// A device or a wildcard set of devices (`None` is `*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Node {
    pub typ: DevType,
    pub major: Option<u32>,
    pub minor: Option<u32>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    /// `a`: every device; resets the exceptions.
    All {
        allow: bool,
    },
    Node {
        allow: bool,
        node: Node,
        access: u8,
    },
}

/// The devices every container may use, appended after the spec's rules.
/// (runc 1.1 also allowed /dev/net/tun, 10:200; later runc dropped it, and
/// so do we: a spec that wants it says so.)
pub const DEFAULT_ALLOWED: &[(DevType, Option<u32>, Option<u32>, u8)] = &[
    (DevType::Char, None, None, ACC_MKNOD),
    (DevType::Block, None, None, ACC_MKNOD),
    (DevType::Char, Some(1), Some(3), ACC_ALL), // /dev/null
    (DevType::Char, Some(1), Some(5), ACC_ALL), // /dev/zero
    (DevType::Char, Some(1), Some(7), ACC_ALL), // /dev/full
    (DevType::Char, Some(1), Some(8), ACC_ALL), // /dev/random
    (DevType::Char, Some(1), Some(9), ACC_ALL), // /dev/urandom
    (DevType::Char, Some(5), Some(0), ACC_ALL), // /dev/tty
    (DevType::Char, Some(5), Some(1), ACC_ALL), // /dev/console
    (DevType::Char, Some(5), Some(2), ACC_ALL), // /dev/ptmx
    (DevType::Char, Some(136), None, ACC_ALL),  // /dev/pts/*
];

/// The default rules that stand for a device node the spec may list itself
/// in `linux.devices` (runc's default devices with a path).
const DEFAULT_NODE_PATHS: &[(&str, u32, u32)] = &[
    ("/dev/null", 1, 3),
    ("/dev/zero", 1, 5),
    ("/dev/full", 1, 7),
    ("/dev/random", 1, 8),
    ("/dev/urandom", 1, 9),
    ("/dev/tty", 5, 0),
];

/// The default rules, less those for the paths in `own_devices`.
pub fn default_rules<'a>(own_devices: &'a [&'a Path]) -> impl Iterator<Item = Rule> + 'a {
    let replaced = move |major: Option<u32>, minor: Option<u32>| {
        DEFAULT_NODE_PATHS.iter().any(|&(path, ma, mi)| {
            major == Some(ma)
                && minor == Some(mi)
                && own_devices.iter().any(|p| *p == Path::new(path))
        })
    };
    DEFAULT_ALLOWED
        .iter()
        .filter(move |&&(_, major, minor, _)| !replaced(major, minor))
        .map(|&(typ, major, minor, access)| Rule::Node {
            allow: true,
            node: Node { typ, major, minor },
            access,
        })
}

fn parse_access(text: &str) -> Option<u8> {
    let mut bits = 0;
    for c in text.chars() {
        bits |= match c {
            'r' => ACC_READ,
            'w' => ACC_WRITE,
            'm' => ACC_MKNOD,
            'a' => 0,
            _ => return None,
        };
    }
    Some(bits)
}

fn access_string(bits: u8) -> String {
    [(ACC_READ, 'r'), (ACC_WRITE, 'w'), (ACC_MKNOD, 'm')]
        .iter()
        .filter(|(bit, _)| bits & bit != 0)
        .map(|&(_, c)| c)
        .collect()
}

/// A major or minor number: absent or negative (runc's -1) is the wildcard.
/// Numbers above i32::MAX are refused: no kernel device has one, and the
/// eBPF program compares them as sign-extended 32-bit immediates.
fn parse_number(value: Option<i64>, field: &str) -> Result<Option<u32>> {
    match value {
        None => Ok(None),
        Some(n) if n < 0 => Ok(None),
        Some(n) if n <= i64::from(i32::MAX) => Ok(Some(n as u32)),
        Some(n) => Err(Error::field(field, format!("{n} is not a device number"))),
    }
}

/// Converts the spec's rules, naming `linux.resources.devices[i]` on error.
pub fn parse_rules(spec: &[LinuxDeviceCgroup]) -> Result<Vec<Rule>> {
    spec.iter()
        .enumerate()
        .map(|(i, d)| {
            let field = format!("linux.resources.devices[{i}]");
            let typ = match d.typ().unwrap_or_default() {
                LinuxDeviceType::A => return Ok(Rule::All { allow: d.allow() }),
                LinuxDeviceType::B => DevType::Block,
                LinuxDeviceType::C | LinuxDeviceType::U => DevType::Char,
                LinuxDeviceType::P => {
                    return Err(Error::field(
                        format!("{field}.type"),
                        "\"p\" (FIFO) cannot be a cgroup device rule; expected a, b, c or u",
                    ))
                }
            };
            let access_text = d.access().as_deref().unwrap_or("rwm");
            let access = match parse_access(access_text) {
                Some(bits) if bits != 0 => bits,
                _ => {
                    return Err(Error::field(
                        format!("{field}.access"),
                        format!("{access_text:?}: expected a combination of r, w and m (and a, which adds nothing)"),
                    ))
                }
            };
            Ok(Rule::Node {
                allow: d.allow(),
                node: Node {
                    typ,
                    major: parse_number(d.major(), &format!("{field}.major"))?,
                    minor: parse_number(d.minor(), &format!("{field}.minor"))?,
                },
                access,
            })
        })
        .collect()
}

/// The result of a rule list: a default and its exceptions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceState {
    /// true: everything but the exceptions is allowed (they are denials);
    /// false: only the exceptions are allowed.
    pub default_allow: bool,
    pub exceptions: BTreeMap<Node, u8>,
}

impl DeviceState {
    pub fn deny_all() -> DeviceState {
        DeviceState {
            default_allow: false,
            exceptions: BTreeMap::new(),
        }
    }

    /// deny-all, the spec's rules, then the defaults but those for the
    /// paths in `own_devices` (the spec's `linux.devices`).
    pub fn for_spec(
        spec: Option<&[LinuxDeviceCgroup]>,
        own_devices: &[&Path],
    ) -> Result<DeviceState> {
        let mut state = DeviceState::deny_all();
        let rules = parse_rules(spec.unwrap_or_default())?;
        for (i, rule) in rules.into_iter().enumerate() {
            state.apply(rule, &format!("linux.resources.devices[{i}]"))?;
        }
        for rule in default_rules(own_devices) {
            state.apply(rule, "default device rules")?;
        }
        Ok(state)
    }

    pub fn apply(&mut self, rule: Rule, field: &str) -> Result<()> {
        match rule {
            Rule::All { allow } => {
                self.default_allow = allow;
                self.exceptions.clear();
            }
            // An allow in allow-default mode and a deny in deny-default mode
            // take access away from an exception; the others add to one.
            Rule::Node {
                allow,
                node,
                access,
            } => {
                if allow == self.default_allow {
                    self.remove(node, access, field)?;
                } else {
                    *self.exceptions.entry(node).or_insert(0) |= access;
                }
            }
        }
        Ok(())
    }

    fn remove(&mut self, node: Node, access: u8, field: &str) -> Result<()> {
        let wider = [
            Node {
                major: None,
                ..node
            },
            Node {
                minor: None,
                ..node
            },
            Node {
                major: None,
                minor: None,
                ..node
            },
        ];
        for wide in wider.iter().filter(|w| **w != node) {
            if let Some(bits) = self.exceptions.get(wide) {
                if bits & access != 0 {
                    return Err(Error::field(
                        field,
                        format!(
                            "cannot take {:?} access to {} out of the wider rule {} {}: \
                             the devices cgroup only removes exact rules",
                            access_string(access),
                            node_string(node),
                            node_string(*wide),
                            access_string(*bits)
                        ),
                    ));
                }
            }
        }
        if let Some(bits) = self.exceptions.get_mut(&node) {
            *bits &= !access;
            if *bits == 0 {
                self.exceptions.remove(&node);
            }
        }
        Ok(())
    }

    /// Reads a v1 `devices.list`. It shows the exceptions of a deny-default
    /// cgroup, but only `a *:* rwm` for an allow-default one whatever its
    /// denials: such a state is read as allow-all, and `transition` then
    /// always starts from a reset.
    pub fn from_list(text: &str) -> Result<DeviceState> {
        let mut state = DeviceState::deny_all();
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            let bad = || {
                Error::from(super::CgroupError::DevicesList {
                    line: line.to_string(),
                })
            };
            let mut parts = line.split_whitespace();
            let (typ, numbers, access) = match (parts.next(), parts.next(), parts.next()) {
                (Some(t), Some(n), Some(a)) => (t, n, a),
                _ => return Err(bad()),
            };
            let typ = match typ {
                "a" => {
                    state.apply(Rule::All { allow: true }, "devices.list")?;
                    continue;
                }
                "b" => DevType::Block,
                "c" => DevType::Char,
                _ => return Err(bad()),
            };
            let (major, minor) = numbers.split_once(':').ok_or_else(bad)?;
            let number = |s: &str| match s {
                "*" => Ok(None),
                n => n.parse::<u32>().map(Some).map_err(|_| bad()),
            };
            let node = Node {
                typ,
                major: number(major)?,
                minor: number(minor)?,
            };
            let access = parse_access(access).ok_or_else(bad)?;
            *state.exceptions.entry(node).or_insert(0) |= access;
        }
        Ok(state)
    }

    /// The writes that take a v1 cgroup from `self` to `target` without
    /// opening a window: a reset only when the default changes (or is
    /// unknown because `self` allows by default), then exact removals and
    /// additions. Each item is (write to devices.allow?, line).
    pub fn transition(&self, target: &DeviceState) -> Vec<(bool, String)> {
        let mut writes = Vec::new();
        let empty = BTreeMap::new();
        let old = if self.default_allow || self.default_allow != target.default_allow {
            writes.push((target.default_allow, "a *:* rwm".to_string()));
            &empty
        } else {
            &self.exceptions
        };
        // An exception of a deny-default cgroup is an allow, and the other
        // way round; taking bits away is a write to the opposite file.
        for (node, bits) in old {
            let dropped = bits & !target.exceptions.get(node).copied().unwrap_or(0);
            if dropped != 0 {
                writes.push((target.default_allow, rule_line(*node, dropped)));
            }
        }
        for (node, bits) in &target.exceptions {
            let gained = bits & !old.get(node).copied().unwrap_or(0);
            if gained != 0 {
                writes.push((!target.default_allow, rule_line(*node, gained)));
            }
        }
        writes
    }
}

fn node_string(node: Node) -> String {
    let number = |n: Option<u32>| n.map_or_else(|| "*".to_string(), |n| n.to_string());
    format!(
        "{} {}:{}",
        node.typ.letter(),
        number(node.major),
        number(node.minor)
    )
}

fn rule_line(node: Node, access: u8) -> String {
    format!("{} {}", node_string(node), access_string(access))
}

/// Brings a v1 devices cgroup to `target`.
pub fn write_v1(dir: &Path, target: &DeviceState) -> Result<()> {
    let current = DeviceState::from_list(&fs::read(dir, "devices.list")?)?;
    for (allow, line) in current.transition(target) {
        let file = if allow {
            "devices.allow"
        } else {
            "devices.deny"
        };
        fs::write_field(dir, file, &line, "linux.resources.devices")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(
        allow: bool,
        typ: &str,
        major: Option<i64>,
        minor: Option<i64>,
        access: &str,
    ) -> LinuxDeviceCgroup {
        let typ = match typ {
            "a" => LinuxDeviceType::A,
            "b" => LinuxDeviceType::B,
            "p" => LinuxDeviceType::P,
            _ => LinuxDeviceType::C,
        };
        let mut d = LinuxDeviceCgroup::default();
        d.set_allow(allow);
        d.set_typ(Some(typ));
        d.set_major(major);
        d.set_minor(minor);
        d.set_access(Some(access.to_string()));
        d
    }

    #[test]
    fn cgroups_devices_start_denied_and_end_with_defaults() {
        let state = DeviceState::for_spec(None, &[]).unwrap();
        assert!(!state.default_allow);
        assert_eq!(state.exceptions.len(), DEFAULT_ALLOWED.len());
        let null = Node {
            typ: DevType::Char,
            major: Some(1),
            minor: Some(3),
        };
        assert_eq!(state.exceptions[&null], ACC_ALL);
    }

    #[test]
    fn cgroups_devices_deny_removes_exact_access_only() {
        let spec = [
            rule(true, "c", Some(10), Some(200), "rwm"),
            rule(false, "c", Some(10), Some(200), "w"),
        ];
        let state = DeviceState::for_spec(Some(&spec), &[]).unwrap();
        let tun = Node {
            typ: DevType::Char,
            major: Some(10),
            minor: Some(200),
        };
        assert_eq!(state.exceptions[&tun], ACC_READ | ACC_MKNOD);
    }

    #[test]
    fn cgroups_devices_privileged_spec_allows_all() {
        let spec = [rule(true, "a", None, None, "rwm")];
        let state = DeviceState::for_spec(Some(&spec), &[]).unwrap();
        assert!(state.default_allow);
        assert!(state.exceptions.is_empty());
    }

    #[test]
    fn cgroups_devices_hole_in_wildcard_is_refused() {
        let spec = [
            rule(true, "c", Some(1), None, "rwm"),
            rule(false, "c", Some(1), Some(5), "r"),
        ];
        let err = DeviceState::for_spec(Some(&spec), &[])
            .unwrap_err()
            .to_string();
        assert!(err.contains("linux.resources.devices[1]"), "{err}");
    }

    #[test]
    fn cgroups_devices_spec_node_replaces_the_default_rule_for_its_path() {
        let deny = [rule(false, "a", None, None, "rwm")];
        let full = Node {
            typ: DevType::Char,
            major: Some(1),
            minor: Some(7),
        };
        let state = DeviceState::for_spec(Some(&deny), &[Path::new("/dev/full")]).unwrap();
        assert!(!state.exceptions.contains_key(&full));
        assert_eq!(state.exceptions.len(), DEFAULT_ALLOWED.len() - 1);
        let state = DeviceState::for_spec(Some(&deny), &[Path::new("/dev/other")]).unwrap();
        assert_eq!(state.exceptions[&full], ACC_ALL);
    }

    #[test]
    fn cgroups_devices_access_a_is_accepted_and_adds_nothing() {
        let spec = [
            rule(false, "a", None, None, "rwm"),
            rule(true, "c", Some(10), Some(200), "rwa"),
        ];
        let state = DeviceState::for_spec(Some(&spec), &[]).unwrap();
        let tun = Node {
            typ: DevType::Char,
            major: Some(10),
            minor: Some(200),
        };
        assert_eq!(state.exceptions[&tun], ACC_READ | ACC_WRITE);
        let spec = [rule(true, "c", Some(10), Some(200), "a")];
        assert!(DeviceState::for_spec(Some(&spec), &[]).is_err());
    }

    #[test]
    fn cgroups_devices_fifo_rule_is_refused() {
        let spec = [rule(true, "p", Some(1), Some(5), "r")];
        let err = DeviceState::for_spec(Some(&spec), &[])
            .unwrap_err()
            .to_string();
        assert!(err.contains("linux.resources.devices[0].type"), "{err}");
        let spec = [rule(true, "c", Some(1), Some(5), "rx")];
        let err = DeviceState::for_spec(Some(&spec), &[])
            .unwrap_err()
            .to_string();
        assert!(err.contains("linux.resources.devices[0].access"), "{err}");
    }

    #[test]
    fn cgroups_devices_transition_without_reset_when_default_is_kept() {
        let current = DeviceState::from_list("c 1:3 rwm\nc 1:5 rwm\n").unwrap();
        let mut target = DeviceState::deny_all();
        target
            .apply(
                Rule::Node {
                    allow: true,
                    node: Node {
                        typ: DevType::Char,
                        major: Some(1),
                        minor: Some(3),
                    },
                    access: ACC_READ,
                },
                "t",
            )
            .unwrap();
        let writes = current.transition(&target);
        assert_eq!(
            writes,
            [
                (false, "c 1:3 wm".to_string()),
                (false, "c 1:5 rwm".to_string())
            ]
        );
        // From an allow-all cgroup (or one whose denials are unknown): reset.
        let open = DeviceState::from_list("a *:* rwm").unwrap();
        let writes = open.transition(&target);
        assert_eq!(writes[0], (false, "a *:* rwm".to_string()));
        assert_eq!(writes[1], (true, "c 1:3 r".to_string()));
        assert!(target.transition(&target).is_empty());
    }
}
