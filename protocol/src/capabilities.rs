//! Linux capabilities by name, the default set a box's root processes keep, and how a box's
//! `cap_add` / `cap_drop` options change it. Core resolves the options into a mask when a box
//! is created (so a bad name is refused before anything runs) and hands the mask to the agent
//! in [`crate::launch::GuestConfig::capabilities`]; the agent applies it.

/// Every capability this version knows, by number (`linux/capability.h`, up to Linux 5.9's
/// CAP_CHECKPOINT_RESTORE).
pub const ALL: [&str; 41] = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
];

/// The capabilities a root process in a box keeps unless its options say otherwise: Docker's
/// default set minus CAP_MKNOD. `cap_add` may grant it: the box's device filter (the shim's
/// device cgroup) keeps a node it makes from being opened unless it is one of the box's own
/// devices; but few programs need it, and in a box with a user namespace it does nothing.
pub const DEFAULT: [u32; 13] = [0, 1, 3, 4, 5, 6, 7, 8, 10, 13, 18, 29, 31];

/// [`DEFAULT`] as a bit mask (bit n: capability n).
pub const DEFAULT_MASK: u64 = {
    let mut mask = 0u64;
    let mut i = 0;
    while i < DEFAULT.len() {
        mask |= 1 << DEFAULT[i];
        i += 1;
    }
    mask
};

/// The number of a capability named as Docker accepts it: `CAP_NET_ADMIN`, `NET_ADMIN` or
/// `net_admin`.
pub fn number(name: &str) -> Option<u32> {
    let upper = name.to_ascii_uppercase();
    let full = if upper.starts_with("CAP_") { upper } else { format!("CAP_{upper}") };
    ALL.iter().position(|&known| known == full).map(|n| n as u32)
}

/// The names of the capabilities in `mask`, comma-separated ("none" for none).
pub fn names(mask: u64) -> String {
    let names: Vec<&str> =
        (0..ALL.len()).filter(|&n| mask & (1 << n) != 0).map(|n| ALL[n]).collect();
    if names.is_empty() {
        "none".into()
    } else {
        names.join(",")
    }
}

/// The set of a box whose options add `add` and drop `drop` (names as [`number`] takes them,
/// or `ALL`), Docker's way: the default set, plus `add`, minus `drop`; `ALL` in `drop` starts
/// from nothing, so `drop: [ALL], add: [CHOWN]` keeps CAP_CHOWN alone. The error names the
/// option and the value at fault.
pub fn resolve(add: &[String], drop: &[String]) -> Result<u64, String> {
    let is_all = |name: &&String| name.eq_ignore_ascii_case("ALL");
    let mask_of = |option: &str, names: &[&String]| -> Result<u64, String> {
        let mut mask = 0;
        for name in names {
            let n = number(name).ok_or_else(|| {
                format!("{option}: {name:?} is not a Linux capability (e.g. CAP_NET_ADMIN)")
            })?;
            mask |= 1 << n;
        }
        Ok(mask)
    };
    let add_all = add.iter().any(|n| is_all(&n));
    let added = if add_all {
        (1u64 << ALL.len()) - 1
    } else {
        mask_of("cap_add", &add.iter().collect::<Vec<_>>())?
    };
    // Docker: a named drop wins over an add; a drop of ALL only clears the starting set.
    let dropped = mask_of("cap_drop", &drop.iter().filter(|n| !is_all(n)).collect::<Vec<_>>())?;
    let base = if drop.iter().any(|n| is_all(&n)) { 0 } else { DEFAULT_MASK };
    Ok((base | added) & !dropped)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn the_default_is_dockers_without_mknod() {
        // Docker's default effective set is 0xa80425fb; CAP_MKNOD is bit 27.
        assert_eq!(DEFAULT_MASK, 0xa804_25fb & !(1 << 27));
        assert!(!names(DEFAULT_MASK).contains("MKNOD"));
        assert_eq!(resolve(&[], &[]), Ok(DEFAULT_MASK));
    }

    #[test]
    fn names_are_taken_as_docker_takes_them() {
        assert_eq!(number("CAP_SYS_PTRACE"), Some(19));
        assert_eq!(number("sys_ptrace"), Some(19));
        assert_eq!(number("Net_Raw"), Some(13));
        assert_eq!(number("CAP_CHECKPOINT_RESTORE"), Some(40));
        assert_eq!(number("CAP_NOPE"), None);
        assert_eq!(number(""), None);
    }

    #[test]
    fn add_and_drop_change_the_default_set() {
        let mask = resolve(&strings(&["SYS_PTRACE"]), &strings(&["cap_net_raw"])).unwrap();
        assert_eq!(mask, (DEFAULT_MASK | (1 << 19)) & !(1 << 13));
        let only_chown = resolve(&strings(&["CHOWN"]), &strings(&["ALL"])).unwrap();
        assert_eq!(only_chown, 1);
        assert_eq!(resolve(&[], &strings(&["all"])), Ok(0));
        // A named drop wins over an add of the same capability.
        assert_eq!(resolve(&strings(&["CHOWN"]), &strings(&["CHOWN"])).unwrap() & 1, 0);
    }

    #[test]
    fn unknown_names_are_refused_with_the_option_named() {
        let err = resolve(&strings(&["CAP_NOPE"]), &[]).unwrap_err();
        assert!(err.starts_with("cap_add: \"CAP_NOPE\" is not a Linux capability"), "{err}");
        let err = resolve(&[], &strings(&["bogus"])).unwrap_err();
        assert!(err.starts_with("cap_drop: \"bogus\""), "{err}");
    }

    #[test]
    fn mknod_and_all_can_be_added() {
        assert_eq!(resolve(&strings(&["MKNOD"]), &[]), Ok(DEFAULT_MASK | (1 << 27)));
        assert_eq!(resolve(&strings(&["ALL"]), &[]), Ok((1 << ALL.len()) - 1));
    }
}
