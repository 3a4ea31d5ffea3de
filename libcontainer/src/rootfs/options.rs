//! Mount options of config.json, split the way the kernel wants them: flags
//! to set, flags to clear, propagation changes (each a separate call), the
//! recursive attributes runc and crun know (`rro`, `rnosuid`, ...: one
//! mount_setattr(AT_RECURSIVE) call), and the filesystem-specific data string.

use nix::mount::MsFlags;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountOptions {
    pub flags: MsFlags,
    /// Flags an option explicitly turned off (`rw`, `suid`, ...): a remount
    /// must not carry them over from the source.
    pub cleared: MsFlags,
    pub propagation: Vec<MsFlags>,
    pub data: Vec<String>,
    /// runc's `tmpcopyup`: a tmpfs starts with the content of what it covers.
    pub copy_up: bool,
    /// The `r*` options, for the mount and every mount below it.
    pub recursive: RecursiveAttrs,
}

/// MOUNT_ATTR_* bits of <linux/mount.h> to set and clear recursively.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RecursiveAttrs {
    pub set: u64,
    pub clear: u64,
}

impl RecursiveAttrs {
    pub fn is_empty(&self) -> bool {
        self.set == 0 && self.clear == 0
    }
}

pub const MOUNT_ATTR_RDONLY: u64 = 0x1;
pub const MOUNT_ATTR_NOSUID: u64 = 0x2;
pub const MOUNT_ATTR_NODEV: u64 = 0x4;
pub const MOUNT_ATTR_NOEXEC: u64 = 0x8;
/// The atime modes are a 3-bit field, not flags: setting one means clearing
/// the whole field (mount_setattr(2)).
pub const MOUNT_ATTR_ATIME_MASK: u64 = 0x70;
pub const MOUNT_ATTR_RELATIME: u64 = 0x0;
pub const MOUNT_ATTR_NOATIME: u64 = 0x10;
pub const MOUNT_ATTR_STRICTATIME: u64 = 0x20;
pub const MOUNT_ATTR_NODIRATIME: u64 = 0x80;
pub const MOUNT_ATTR_NOSYMFOLLOW: u64 = 0x20_0000;

enum Recursive {
    Set(u64),
    Clear(u64),
    Atime(u64),
}

/// The recursive options, named as runc and crun name them.
const RECURSIVE: &[(&str, Recursive)] = &[
    ("rro", Recursive::Set(MOUNT_ATTR_RDONLY)),
    ("rrw", Recursive::Clear(MOUNT_ATTR_RDONLY)),
    ("rnosuid", Recursive::Set(MOUNT_ATTR_NOSUID)),
    ("rsuid", Recursive::Clear(MOUNT_ATTR_NOSUID)),
    ("rnodev", Recursive::Set(MOUNT_ATTR_NODEV)),
    ("rdev", Recursive::Clear(MOUNT_ATTR_NODEV)),
    ("rnoexec", Recursive::Set(MOUNT_ATTR_NOEXEC)),
    ("rexec", Recursive::Clear(MOUNT_ATTR_NOEXEC)),
    ("rnodiratime", Recursive::Set(MOUNT_ATTR_NODIRATIME)),
    ("rdiratime", Recursive::Clear(MOUNT_ATTR_NODIRATIME)),
    ("rnoatime", Recursive::Atime(MOUNT_ATTR_NOATIME)),
    ("rstrictatime", Recursive::Atime(MOUNT_ATTR_STRICTATIME)),
    // Back to the kernel's default mode, as `atime` is for mount(8).
    ("ratime", Recursive::Atime(MOUNT_ATTR_RELATIME)),
    ("rrelatime", Recursive::Atime(MOUNT_ATTR_RELATIME)),
    ("rnorelatime", Recursive::Atime(MOUNT_ATTR_STRICTATIME)),
    ("rnostrictatime", Recursive::Atime(MOUNT_ATTR_RELATIME)),
    ("rnosymfollow", Recursive::Set(MOUNT_ATTR_NOSYMFOLLOW)),
    ("rsymfollow", Recursive::Clear(MOUNT_ATTR_NOSYMFOLLOW)),
];

impl RecursiveAttrs {
    fn apply(&mut self, option: &Recursive) {
        match *option {
            Recursive::Set(bit) => {
                self.set |= bit;
                self.clear &= !bit;
            }
            Recursive::Clear(bit) => {
                self.clear |= bit;
                self.set &= !bit;
            }
            Recursive::Atime(mode) => {
                self.clear |= MOUNT_ATTR_ATIME_MASK;
                self.set = (self.set & !MOUNT_ATTR_ATIME_MASK) | mode;
            }
        }
    }
}

impl Default for MountOptions {
    fn default() -> Self {
        MountOptions {
            flags: MsFlags::empty(),
            cleared: MsFlags::empty(),
            propagation: Vec::new(),
            data: Vec::new(),
            copy_up: false,
            recursive: RecursiveAttrs::default(),
        }
    }
}

impl MountOptions {
    pub fn is_bind(&self) -> bool {
        self.flags.contains(MsFlags::MS_BIND)
    }

    pub fn data_string(&self) -> Option<String> {
        (!self.data.is_empty()).then(|| self.data.join(","))
    }
}

/// (option, clears the flag?, flag)
const FLAGS: &[(&str, bool, MsFlags)] = &[
    ("defaults", false, MsFlags::empty()),
    ("ro", false, MsFlags::MS_RDONLY),
    ("rw", true, MsFlags::MS_RDONLY),
    ("suid", true, MsFlags::MS_NOSUID),
    ("nosuid", false, MsFlags::MS_NOSUID),
    ("dev", true, MsFlags::MS_NODEV),
    ("nodev", false, MsFlags::MS_NODEV),
    ("exec", true, MsFlags::MS_NOEXEC),
    ("noexec", false, MsFlags::MS_NOEXEC),
    ("sync", false, MsFlags::MS_SYNCHRONOUS),
    ("async", true, MsFlags::MS_SYNCHRONOUS),
    ("dirsync", false, MsFlags::MS_DIRSYNC),
    ("remount", false, MsFlags::MS_REMOUNT),
    ("mand", false, MsFlags::MS_MANDLOCK),
    ("nomand", true, MsFlags::MS_MANDLOCK),
    ("atime", true, MsFlags::MS_NOATIME),
    ("noatime", false, MsFlags::MS_NOATIME),
    ("diratime", true, MsFlags::MS_NODIRATIME),
    ("nodiratime", false, MsFlags::MS_NODIRATIME),
    ("relatime", false, MsFlags::MS_RELATIME),
    ("norelatime", true, MsFlags::MS_RELATIME),
    ("strictatime", false, MsFlags::MS_STRICTATIME),
    ("nostrictatime", true, MsFlags::MS_STRICTATIME),
    ("bind", false, MsFlags::MS_BIND),
    ("rbind", false, MsFlags::MS_BIND.union(MsFlags::MS_REC)),
    ("silent", false, MsFlags::MS_SILENT),
    ("loud", true, MsFlags::MS_SILENT),
    ("lazytime", false, MsFlags::MS_LAZYTIME),
    ("nolazytime", true, MsFlags::MS_LAZYTIME),
    ("iversion", false, MsFlags::MS_I_VERSION),
    ("noiversion", true, MsFlags::MS_I_VERSION),
];

const PROPAGATION: [&str; 8] = [
    "private",
    "rprivate",
    "shared",
    "rshared",
    "slave",
    "rslave",
    "unbindable",
    "runbindable",
];

/// Every option name understood as a flag, a propagation, a recursive
/// attribute or an extension (anything else is passed to the filesystem as
/// data).
pub fn known_options() -> Vec<&'static str> {
    FLAGS
        .iter()
        .map(|(name, _, _)| *name)
        .chain(PROPAGATION)
        .chain(RECURSIVE.iter().map(|(name, _)| *name))
        .chain(["tmpcopyup"])
        .collect()
}

/// Propagation option → the flags of its mount(2) call.
pub fn propagation(option: &str) -> Option<MsFlags> {
    Some(match option {
        "private" => MsFlags::MS_PRIVATE,
        "rprivate" => MsFlags::MS_PRIVATE | MsFlags::MS_REC,
        "shared" => MsFlags::MS_SHARED,
        "rshared" => MsFlags::MS_SHARED | MsFlags::MS_REC,
        "slave" => MsFlags::MS_SLAVE,
        "rslave" => MsFlags::MS_SLAVE | MsFlags::MS_REC,
        "unbindable" => MsFlags::MS_UNBINDABLE,
        "runbindable" => MsFlags::MS_UNBINDABLE | MsFlags::MS_REC,
        _ => return None,
    })
}

pub fn parse(options: &[String]) -> MountOptions {
    let mut parsed = MountOptions::default();
    for option in options {
        if let Some(&(_, clear, flag)) = FLAGS.iter().find(|(name, _, _)| name == option) {
            if clear {
                parsed.flags.remove(flag);
                parsed.cleared.insert(flag);
            } else {
                parsed.flags.insert(flag);
                parsed.cleared.remove(flag);
            }
        } else if let Some(flags) = propagation(option) {
            parsed.propagation.push(flags);
        } else if let Some((_, attr)) = RECURSIVE.iter().find(|(name, _)| name == option) {
            parsed.recursive.apply(attr);
        } else if option == "tmpcopyup" {
            parsed.copy_up = true;
        } else {
            parsed.data.push(option.clone());
        }
    }
    parsed
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(list: &[&str]) -> MountOptions {
        parse(&list.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn flags_data_and_propagation_are_split() {
        let parsed = opts(&["nosuid", "ro", "mode=755", "size=65536k", "rslave"]);
        assert_eq!(parsed.flags, MsFlags::MS_NOSUID | MsFlags::MS_RDONLY);
        assert_eq!(
            parsed.data_string().as_deref(),
            Some("mode=755,size=65536k")
        );
        assert_eq!(
            parsed.propagation,
            vec![MsFlags::MS_SLAVE | MsFlags::MS_REC]
        );
    }

    #[test]
    fn later_option_wins() {
        let parsed = opts(&["ro", "rw"]);
        assert!(!parsed.flags.contains(MsFlags::MS_RDONLY));
        assert!(parsed.cleared.contains(MsFlags::MS_RDONLY));
    }

    #[test]
    fn every_known_option_is_understood() {
        for name in known_options() {
            let parsed = opts(&[name]);
            assert!(parsed.data.is_empty(), "{name} would be passed as data");
        }
    }

    #[test]
    fn recursive_attributes_are_never_data() {
        let parsed = opts(&["rro", "rnosuid", "rnodev", "rnoexec", "rnosymfollow"]);
        assert!(parsed.data.is_empty());
        assert!(parsed.flags.is_empty(), "not mount(2) flags: {parsed:?}");
        assert_eq!(
            parsed.recursive.set,
            MOUNT_ATTR_RDONLY
                | MOUNT_ATTR_NOSUID
                | MOUNT_ATTR_NODEV
                | MOUNT_ATTR_NOEXEC
                | MOUNT_ATTR_NOSYMFOLLOW
        );
        assert_eq!(parsed.recursive.clear, 0);
    }

    #[test]
    fn later_recursive_option_wins() {
        let parsed = opts(&["rro", "rrw", "rnodev", "rdev", "rexec"]);
        assert_eq!(parsed.recursive.set, 0);
        assert_eq!(
            parsed.recursive.clear,
            MOUNT_ATTR_RDONLY | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC
        );
    }

    #[test]
    fn atime_modes_clear_the_whole_field() {
        let parsed = opts(&["rnoatime", "rstrictatime", "rnodiratime"]);
        assert_eq!(
            parsed.recursive.set,
            MOUNT_ATTR_STRICTATIME | MOUNT_ATTR_NODIRATIME
        );
        assert_eq!(parsed.recursive.clear, MOUNT_ATTR_ATIME_MASK);
        let parsed = opts(&["rnoatime", "ratime"]);
        assert_eq!(parsed.recursive.set, MOUNT_ATTR_RELATIME);
        assert_eq!(parsed.recursive.clear, MOUNT_ATTR_ATIME_MASK);
    }

    #[test]
    fn rbind_is_recursive_bind() {
        let parsed = opts(&["rbind"]);
        assert!(parsed.is_bind());
        assert!(parsed.flags.contains(MsFlags::MS_REC));
        assert!(opts(&["tmpcopyup"]).copy_up);
    }
}
