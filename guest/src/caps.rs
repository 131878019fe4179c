//! The privileges an exec'd process gets: the capability policy and the masks the child
//! applies between `fork` and `execve`.
//!
//! Boxes run as root without a user namespace, so a process with the agent's full capability
//! set could `mknod` the host's disk or remount things. Like Docker/runc, every process the
//! agent starts (execs and the main command) is cut down to the box's set (Docker's default
//! unless the box's `cap_add` / `cap_drop` change it) and gets `no_new_privs`; the agent itself keeps everything (it needs CAP_SETUID etc. to start them).
//!
//! Everything here runs before the fork: the child only gets plain integers.

pub use boxlite_protocol::capabilities::{names, DEFAULT_MASK};

const CAP_SETPCAP: u32 = 8;

/// Used when /proc/sys/kernel/cap_last_cap cannot be read (CAP_CHECKPOINT_RESTORE, Linux 5.9).
const FALLBACK_LAST_CAP: u32 = 40;

/// The highest capability a u64 mask (and capset's two u32 words) can hold.
const MAX_CAP: u32 = 63;

/// `_LINUX_CAPABILITY_VERSION_3`: 64-bit sets as two u32 words.
const CAPABILITY_VERSION_3: u32 = 0x2008_0522;

/// `struct __user_cap_header_struct`.
#[repr(C)]
pub struct CapHeader {
    pub version: u32,
    pub pid: libc::c_int,
}

/// `struct __user_cap_data_struct`; version 3 takes two of them (low and high 32 bits).
#[repr(C)]
#[derive(Clone, Copy, Default)]
pub struct CapData {
    pub effective: u32,
    pub permitted: u32,
    pub inheritable: u32,
}

/// What the child applies; plain integers, so it can use them after `fork`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Privileges {
    /// The kernel's highest capability number: the child walks 0..=last_cap.
    pub last_cap: u32,
    /// Bounding-set entries to drop (bit n: capability n).
    pub bounding_drop: u64,
    /// Effective and permitted set of the process. Inheritable is always empty.
    pub capabilities: u64,
}

impl Privileges {
    /// The privileges of a process that will run as `uid` in a box whose set is `allowed`,
    /// given what the agent itself holds.
    ///
    /// - Root target: effective = permitted = `allowed` (intersected with what the agent has:
    ///   capset cannot add to the permitted set, and a process never gets more than the agent).
    /// - Any other uid: nothing. `setuid` to a non-zero uid already clears permitted and
    ///   effective (the agent sets neither PR_SET_KEEPCAPS nor securebits); the explicit empty
    ///   capset also clears the inheritable set and makes that independent of securebits.
    /// - Inheritable: always empty, as Docker since CVE-2022-24769: a non-empty inheritable set
    ///   lets a program with inheritable file capabilities gain them.
    /// - Bounding set: every capability not in `allowed`. Dropping needs
    ///   CAP_SETPCAP in the agent's effective set; an agent without it (an unprivileged
    ///   development run) skips this step, which adds nothing: its children get at most its
    ///   own permitted set minus everything outside `allowed`, and `no_new_privs` stops
    ///   execve from raising it again, whatever the bounding set holds.
    pub fn for_uid(uid: libc::uid_t, allowed: u64) -> Self {
        Self::compute(uid, allowed, last_cap(), own_capabilities())
    }

    fn compute(uid: libc::uid_t, allowed: u64, last_cap: u32, own: Option<(u64, u64)>) -> Self {
        // capget cannot fail for our own pid; if it did, assume nothing: the capset of an empty
        // set always succeeds, so the process runs with less, never more.
        let (effective, permitted) = own.unwrap_or((0, 0));
        let capabilities = if uid == 0 { allowed & permitted } else { 0 };
        let every = if last_cap >= MAX_CAP { u64::MAX } else { (1 << (last_cap + 1)) - 1 };
        let bounding_drop = if effective & (1 << CAP_SETPCAP) != 0 { every & !allowed } else { 0 };
        Self { last_cap, bounding_drop, capabilities }
    }

    /// The capset payload: the two data words of version 3.
    pub fn capset_data(&self) -> [CapData; 2] {
        let word = |shift: u32| {
            let bits = (self.capabilities >> shift) as u32;
            CapData { effective: bits, permitted: bits, inheritable: 0 }
        };
        [word(0), word(32)]
    }

    /// The capset header (pid 0: the calling thread).
    pub fn capset_header() -> CapHeader {
        CapHeader { version: CAPABILITY_VERSION_3, pid: 0 }
    }
}

/// The running kernel's highest capability number.
fn last_cap() -> u32 {
    std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(FALLBACK_LAST_CAP)
        .min(MAX_CAP)
}

/// The agent's own (effective, permitted) sets.
fn own_capabilities() -> Option<(u64, u64)> {
    let mut header = Privileges::capset_header();
    let mut data = [CapData::default(); 2];
    // SAFETY: capget writes at most two data structs for version 3, which `data` holds.
    let rc = unsafe {
        libc::syscall(libc::SYS_capget, &mut header as *mut CapHeader, data.as_mut_ptr())
    };
    if rc != 0 {
        return None;
    }
    let join = |low: u32, high: u32| u64::from(low) | (u64::from(high) << 32);
    Some((join(data[0].effective, data[1].effective), join(data[0].permitted, data[1].permitted)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_keeps_the_default_set_and_others_get_nothing() {
        let full = (1u64 << 41) - 1;
        let root = Privileges::compute(0, DEFAULT_MASK, 40, Some((full, full)));
        assert_eq!(root.capabilities, DEFAULT_MASK);
        assert_eq!(root.bounding_drop, full & !DEFAULT_MASK);
        let user = Privileges::compute(1000, DEFAULT_MASK, 40, Some((full, full)));
        assert_eq!(user.capabilities, 0);
        assert_eq!(user.bounding_drop, root.bounding_drop);
        let [low, high] = root.capset_data();
        assert_eq!((low.effective, low.permitted, low.inheritable), (0xa004_25fb, 0xa004_25fb, 0));
        assert_eq!((high.effective, high.permitted, high.inheritable), (0, 0, 0));
    }

    #[test]
    fn a_box_set_replaces_the_default_in_both_sets() {
        let full = (1u64 << 41) - 1;
        let ptrace_no_raw = (DEFAULT_MASK | (1 << 19)) & !(1 << 13);
        let root = Privileges::compute(0, ptrace_no_raw, 40, Some((full, full)));
        assert_eq!(root.capabilities, ptrace_no_raw);
        assert_eq!(root.bounding_drop, full & !ptrace_no_raw);
        let none = Privileges::compute(0, 0, 40, Some((full, full)));
        assert_eq!((none.capabilities, none.bounding_drop), (0, full));
    }

    #[test]
    fn never_more_than_the_agent_has() {
        let some = (1 << 0) | (1 << 21);
        let p = Privileges::compute(0, DEFAULT_MASK, 40, Some((some, some)));
        assert_eq!(p.capabilities, 1);
        // Without CAP_SETPCAP the bounding set cannot be changed: nothing to attempt.
        assert_eq!(p.bounding_drop, 0);
        assert_eq!(Privileges::compute(0, DEFAULT_MASK, 40, None).capabilities, 0);
    }
}
