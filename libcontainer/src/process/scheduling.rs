//! Scheduling attributes of a container process: `process.scheduler`
//! (sched_setattr), `process.ioPriority` (ioprio_set) and
//! `linux.personality` (personality).

use nix::errno::Errno;
use oci_spec::runtime::{
    IOPriorityClass, LinuxIOPriority, LinuxPersonality, LinuxPersonalityDomain, LinuxSchedulerFlag,
    LinuxSchedulerPolicy, Scheduler,
};

use crate::error::{Error, Result};

/// struct sched_attr of <linux/sched/types.h>, first version (48 bytes).
#[repr(C)]
struct SchedAttr {
    size: u32,
    sched_policy: u32,
    sched_flags: u64,
    sched_nice: i32,
    sched_priority: u32,
    sched_runtime: u64,
    sched_deadline: u64,
    sched_period: u64,
}

pub(crate) fn policy_number(policy: LinuxSchedulerPolicy) -> Result<u32> {
    Ok(match policy {
        LinuxSchedulerPolicy::SchedOther => 0,
        LinuxSchedulerPolicy::SchedFifo => 1,
        LinuxSchedulerPolicy::SchedRr => 2,
        LinuxSchedulerPolicy::SchedBatch => 3,
        LinuxSchedulerPolicy::SchedIdle => 5,
        LinuxSchedulerPolicy::SchedDeadline => 6,
        LinuxSchedulerPolicy::SchedIso => {
            return Err(Error::field(
                "process.scheduler.policy",
                "SCHED_ISO is not implemented by Linux",
            ))
        }
    })
}

fn flag_bits(flag: LinuxSchedulerFlag) -> u64 {
    match flag {
        LinuxSchedulerFlag::SchedResetOnFork => 0x01,
        LinuxSchedulerFlag::SchedFlagReclaim => 0x02,
        LinuxSchedulerFlag::SchedFlagDLOverrun => 0x04,
        LinuxSchedulerFlag::SchedFlagKeepPolicy => 0x08,
        LinuxSchedulerFlag::SchedFlagKeepParams => 0x10,
        LinuxSchedulerFlag::SchedFlagUtilClampMin => 0x20,
        LinuxSchedulerFlag::SchedFlagUtilClampMax => 0x40,
    }
}

pub(crate) fn apply_scheduler(scheduler: Option<&Scheduler>) -> Result<()> {
    let Some(scheduler) = scheduler else {
        return Ok(());
    };
    let attr = SchedAttr {
        size: std::mem::size_of::<SchedAttr>() as u32,
        sched_policy: policy_number(*scheduler.policy())?,
        sched_flags: scheduler
            .flags()
            .iter()
            .flatten()
            .fold(0, |bits, flag| bits | flag_bits(*flag)),
        sched_nice: scheduler.nice().unwrap_or(0),
        sched_priority: scheduler.priority().unwrap_or(0).max(0) as u32,
        sched_runtime: scheduler.runtime().unwrap_or(0),
        sched_deadline: scheduler.deadline().unwrap_or(0),
        sched_period: scheduler.period().unwrap_or(0),
    };
    // SAFETY: attr is a live sched_attr whose size field matches it; pid 0
    // is the calling thread; flags 0.
    let ret = unsafe { libc::syscall(libc::SYS_sched_setattr, 0, &attr as *const SchedAttr, 0) };
    Errno::result(ret).map(drop).map_err(|errno| {
        Error::field(
            "process.scheduler",
            format!("sched_setattr({:?}): {errno}", scheduler.policy()),
        )
    })
}

pub(crate) fn check_io_priority(priority: &LinuxIOPriority) -> Result<()> {
    if !(0..=7).contains(&priority.priority()) {
        return Err(Error::field(
            "process.ioPriority.priority",
            format!("{} is out of range; expected 0 to 7", priority.priority()),
        ));
    }
    Ok(())
}

pub(crate) fn apply_io_priority(priority: Option<&LinuxIOPriority>) -> Result<()> {
    const IOPRIO_WHO_PROCESS: libc::c_int = 1;
    const IOPRIO_CLASS_SHIFT: i64 = 13;
    let Some(priority) = priority else {
        return Ok(());
    };
    check_io_priority(priority)?;
    let class: i64 = match priority.class() {
        IOPriorityClass::IoprioClassRt => 1,
        IOPriorityClass::IoprioClassBe => 2,
        IOPriorityClass::IoprioClassIdle => 3,
    };
    let value = (class << IOPRIO_CLASS_SHIFT) | priority.priority();
    // SAFETY: ioprio_set takes three integers and touches no memory of ours.
    let ret = unsafe { libc::syscall(libc::SYS_ioprio_set, IOPRIO_WHO_PROCESS, 0, value) };
    Errno::result(ret)
        .map(drop)
        .map_err(|errno| Error::field("process.ioPriority", format!("ioprio_set: {errno}")))
}

fn personality_flag(name: &str) -> Option<libc::c_ulong> {
    Some(match name {
        "UNAME26" => 0x0020000,
        "ADDR_NO_RANDOMIZE" => 0x0040000,
        "FDPIC_FUNCPTRS" => 0x0080000,
        "MMAP_PAGE_ZERO" => 0x0100000,
        "ADDR_COMPAT_LAYOUT" => 0x0200000,
        "READ_IMPLIES_EXEC" => 0x0400000,
        "ADDR_LIMIT_32BIT" => 0x0800000,
        "SHORT_INODE" => 0x1000000,
        "WHOLE_SECONDS" => 0x2000000,
        "STICKY_TIMEOUTS" => 0x4000000,
        "ADDR_LIMIT_3GB" => 0x8000000,
        _ => return None,
    })
}

/// The personality value a spec asks for, checked.
pub(crate) fn personality_value(personality: &LinuxPersonality) -> Result<libc::c_ulong> {
    const PER_LINUX: libc::c_ulong = 0x0000;
    const PER_LINUX32: libc::c_ulong = 0x0008;
    let domain = match personality.domain() {
        LinuxPersonalityDomain::PerLinux => PER_LINUX,
        LinuxPersonalityDomain::PerLinux32 => PER_LINUX32,
    };
    personality
        .flags()
        .iter()
        .flatten()
        .try_fold(domain, |value, name| {
            personality_flag(name)
                .map(|bit| value | bit)
                .ok_or_else(|| {
                    Error::field("linux.personality.flags", format!("unknown flag {name:?}"))
                })
        })
}

/// Applied last before execve: it changes how the next program runs.
pub(crate) fn apply_personality(personality: Option<&LinuxPersonality>) -> Result<()> {
    let Some(personality) = personality else {
        return Ok(());
    };
    let value = personality_value(personality)?;
    // SAFETY: personality takes one integer and touches no memory of ours.
    let ret = unsafe { libc::personality(value) };
    Errno::result(ret).map(drop).map_err(|errno| {
        Error::field(
            "linux.personality",
            format!("personality({value:#x}): {errno}"),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn personality_flags_are_named_or_refused() {
        let p: LinuxPersonality =
            serde_json::from_str(r#"{"domain": "LINUX32", "flags": ["ADDR_NO_RANDOMIZE"]}"#)
                .unwrap();
        assert_eq!(personality_value(&p).unwrap(), 0x0008 | 0x0040000);
        let p: LinuxPersonality =
            serde_json::from_str(r#"{"domain": "LINUX", "flags": ["NOPE"]}"#).unwrap();
        assert!(personality_value(&p)
            .unwrap_err()
            .to_string()
            .contains("NOPE"));
    }

    #[test]
    fn sched_iso_is_refused() {
        assert!(policy_number(LinuxSchedulerPolicy::SchedIso).is_err());
        assert_eq!(policy_number(LinuxSchedulerPolicy::SchedBatch).unwrap(), 3);
    }
}
