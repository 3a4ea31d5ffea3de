//! Just enough of /proc/self/mountinfo and /proc/self/cgroup.

use std::path::PathBuf;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountInfo {
    /// Field 4: the path of the mount's root within its filesystem.
    pub root: PathBuf,
    pub mount_point: PathBuf,
    /// Optional fields, e.g. `shared:1 master:2`.
    pub optional: String,
    pub fs_type: String,
    pub super_options: String,
}

/// Decodes mountinfo's octal escapes (`\040` for a space).
fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\' && i + 3 < bytes.len() {
            if let Some(value) = std::str::from_utf8(&bytes[i + 1..i + 4])
                .ok()
                .and_then(|digits| u8::from_str_radix(digits, 8).ok())
            {
                out.push(value);
                i += 4;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

pub fn parse_line(line: &str) -> Option<MountInfo> {
    let (before, after) = line.split_once(" - ")?;
    let fields: Vec<&str> = before.split(' ').collect();
    let after: Vec<&str> = after.split(' ').collect();
    Some(MountInfo {
        root: PathBuf::from(unescape(fields.get(3)?)),
        mount_point: PathBuf::from(unescape(fields.get(4)?)),
        optional: fields.get(6..).map(|f| f.join(" ")).unwrap_or_default(),
        fs_type: after.first()?.to_string(),
        super_options: after.get(2).copied().unwrap_or_default().to_string(),
    })
}

pub fn read() -> std::io::Result<Vec<MountInfo>> {
    let text = std::fs::read_to_string("/proc/self/mountinfo")?;
    Ok(text.lines().filter_map(parse_line).collect())
}

/// One line of /proc/self/cgroup: `hierarchy-id:controllers:path`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CgroupMembership {
    pub controllers: Vec<String>,
    pub path: PathBuf,
}

pub fn own_cgroups() -> std::io::Result<Vec<CgroupMembership>> {
    parse_cgroups(&std::fs::read_to_string("/proc/self/cgroup")?)
}

pub fn cgroups_of(pid: nix::unistd::Pid) -> std::io::Result<Vec<CgroupMembership>> {
    parse_cgroups(&std::fs::read_to_string(format!("/proc/{pid}/cgroup"))?)
}

fn parse_cgroups(text: &str) -> std::io::Result<Vec<CgroupMembership>> {
    Ok(text
        .lines()
        .filter_map(|line| {
            let mut parts = line.splitn(3, ':');
            let _id = parts.next()?;
            let controllers = parts.next()?;
            let path = parts.next()?;
            Some(CgroupMembership {
                controllers: controllers
                    .split(',')
                    .filter(|c| !c.is_empty())
                    .map(str::to_string)
                    .collect(),
                path: PathBuf::from(path),
            })
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_fields_and_escapes() {
        let line =
            "36 35 98:0 /mnt1 /mnt\\040two rw,noatime master:1 - ext3 /dev/root rw,errors=continue";
        let info = parse_line(line).unwrap();
        assert_eq!(info.root, PathBuf::from("/mnt1"));
        assert_eq!(info.mount_point, PathBuf::from("/mnt two"));
        assert_eq!(info.optional, "master:1");
        assert_eq!(info.fs_type, "ext3");
        assert_eq!(info.super_options, "rw,errors=continue");
    }
}
