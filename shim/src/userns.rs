//! The box's user namespace: box root is an unprivileged host uid, never host root.
//!
//! **A range per box, host-wide.** Each running box gets 65 536 host uids (and the same gids)
//! of its own: box uid `n` is host uid `base + n`. Boxes therefore never share a host uid, so
//! a process that escapes one box's mount namespace still cannot touch another box's processes
//! or files as their owner. The range is a *slot* under [`SLOT_DIR`], taken with `flock` by the
//! shim for its whole life: the kernel releases the lock when the shim dies however it dies,
//! after the box's last process (the shim outlives the box's PID 1, whose pid namespace dies
//! with it), so a slot can never be reused while a box still runs in it, and nothing is left
//! to clean up. Slots are host-wide rather than per home because host uids are.
//!
//! **Image files keep their owners through idmapped mounts.** The image's rootfs and the box's
//! writable layer stay on disk as the image made them (owned by 0, 1000, …). The child mounts
//! an idmapped copy of each over itself ([`idmap_in_place`]) before it builds the overlay, so
//! file owner `n` on disk is host uid `base + n` in the box, and a file the box creates as its
//! uid `n` is stored as `n`. That is why the range may change from one start to the next, why
//! boxes sharing an image need no copy of it, and why a box made before user namespaces keeps
//! its files. The alternative, chowning every file to the range at unpack, costs a copy of the
//! image per range and rewrites a box's disk whenever its range changes.
//!
//! **Order.** The idmapped mounts, the box's disk (ext4 mounts need host root) and `/proc`
//! (the box's pid namespace belongs to the host's user namespace) are set up while the child
//! is still host root; then it joins the user namespace ([`enter`]) and unshares new mount,
//! uts, ipc and network namespaces owned by it, so box root's capabilities work in the box's
//! own namespaces (binding port 80, setting the hostname with CAP_SYS_ADMIN granted) and
//! nowhere else. The mounts made before are locked in the new mount namespace: box root cannot
//! unmount them to see what they cover.
//!
//! The namespace is made by a short-lived helper process rather than taken from the child
//! itself, because the idmapped mounts need it before the child may leave host root.
//!
//! **Rootless.** A shim run by a non-root user has no host uids to give but its own: box root
//! is that user ([`Range::own`], a range of one uid and one gid; other box uids are unmapped).
//! None of the host-root steps can be taken, and the box's pid namespace must belong to the
//! user namespace for box root to mount its `/proc`, so the shim itself joins the namespace
//! ([`join`]) before it clones the box, whose namespaces are then all owned by it. The image's
//! files, unpacked by that user, are all owned by it, hence by box root.

use std::fs::{DirBuilder, File, OpenOptions};
use std::io::{self, Write};
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::Path;

use nix::sched::{clone, setns, unshare, CloneFlags};
use nix::sys::wait::waitpid;
use nix::unistd::{pipe, setgroups, setresgid, setresuid, Gid, Uid};

use crate::error::{io_cause, Step, StepError};
use crate::mount_api;

/// Where the shims keep their slot locks (a tmpfs: cleared at boot, like the ranges' users).
pub const SLOT_DIR: &str = "/run/boxlite/userns";
/// Uids (and gids) per box: the whole 16-bit range images use.
pub const RANGE_SIZE: u32 = 65_536;
/// Host uid of slot 0. systemd reserves 524 288..1 879 048 191 for container ranges; ours sit
/// at its top, above those systemd-nspawn picks first, and below 2^31 (some tools read uids as
/// signed).
const FIRST_BASE: u32 = 0x6000_0000;
/// Slots: up to 0x7000_0000, the end of systemd's container range.
const SLOTS: u32 = 4096;

/// A box's host uid range, held for the life of the shim.
#[derive(Debug)]
pub struct Range {
    /// Host uid of box uid 0.
    pub base: u32,
    /// Host gid of box gid 0.
    gid_base: u32,
    /// Uids (and gids) mapped.
    size: u32,
    /// The slot's lock; dropping it (or the shim's death) frees the range. `None` for a
    /// rootless box's range of one, the user's own.
    lock: Option<File>,
}

impl Range {
    /// Takes a free slot, starting from one derived from the box id so that boxes started
    /// together rarely probe the same slots.
    pub fn allocate(box_id: &str) -> Result<Range, StepError> {
        let step = || format!("allocate a host uid range in {SLOT_DIR}");
        DirBuilder::new().recursive(true).mode(0o700).create(SLOT_DIR).step(step)?;
        let first = box_id
            .bytes()
            .fold(2_166_136_261u32, |h, b| (h ^ u32::from(b)).wrapping_mul(16_777_619));
        for probe in 0..SLOTS {
            let slot = (first.wrapping_add(probe)) % SLOTS;
            let path = Path::new(SLOT_DIR).join(slot.to_string());
            let lock = OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .mode(0o600)
                .custom_flags(libc::O_CLOEXEC)
                .open(&path)
                .step(|| format!("open {}", path.display()))?;
            // SAFETY: flock on a descriptor we own; LOCK_NB never blocks.
            if unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0 {
                let base = FIRST_BASE + slot * RANGE_SIZE;
                return Ok(Range { base, gid_base: base, size: RANGE_SIZE, lock: Some(lock) });
            }
            let err = io::Error::last_os_error();
            if err.raw_os_error() != Some(libc::EWOULDBLOCK) {
                return Err(StepError::new(format!("lock {}", path.display()), io_cause(&err)));
            }
        }
        Err(StepError::new(step(), format!("all {SLOTS} ranges are in use by running boxes")))
    }

    /// The range of a rootless box: box root is the shim's own uid and gid, the only ones a
    /// non-root user may map without a setuid helper.
    pub fn own() -> Range {
        let (uid, gid) = (nix::unistd::geteuid(), nix::unistd::getegid());
        Range { base: uid.as_raw(), gid_base: gid.as_raw(), size: 1, lock: None }
    }

    /// A user namespace mapping box ids `0..size` to this range, as a descriptor.
    pub fn namespace(&self) -> Result<OwnedFd, StepError> {
        let step = || "create the box's user namespace".to_string();
        let (hold_read, hold_write) = pipe().step(step)?;
        let mut stack = vec![0u8; 64 * 1024];
        let (hold, held) = (hold_read.as_raw_fd(), hold_write.as_raw_fd());
        // The helper only waits for EOF on the pipe: it exists to own the namespace while the
        // maps are written and the descriptor opened.
        let body: Box<dyn FnMut() -> isize> = Box::new(move || {
            let mut byte = [0u8; 1];
            // SAFETY: closes this copy's write end (so the shim's close is the EOF), reads from
            // the read end, then exits without running the shim's destructors.
            unsafe {
                libc::close(held);
                libc::read(hold, byte.as_mut_ptr().cast(), 1);
                libc::_exit(0)
            }
        });
        // SAFETY: without CLONE_VM the helper runs `body` on its own copy of `stack`, only
        // the two libc calls above; the shim is single-threaded here.
        let helper =
            unsafe { clone(body, &mut stack, CloneFlags::CLONE_NEWUSER, Some(libc::SIGCHLD)) }
                .step(step)?;
        drop(hold_read);
        let opened = (|| {
            let proc_dir = Path::new("/proc").join(helper.as_raw().to_string());
            let uid_map = format!("0 {} {}\n", self.base, self.size);
            let gid_map = format!("0 {} {}\n", self.gid_base, self.size);
            // An unprivileged writer of gid_map must first give up setgroups in the namespace
            // (else a process could drop a group that denies it access); root need not.
            let rootless = self.lock.is_none();
            let setgroups = rootless.then_some(("setgroups", "deny"));
            let writes = [("uid_map", uid_map.as_str()), ("gid_map", gid_map.as_str())];
            for (file, text) in setgroups.into_iter().chain(writes) {
                let path = proc_dir.join(file);
                OpenOptions::new()
                    .write(true)
                    .open(&path)
                    .and_then(|mut f| f.write_all(text.as_bytes()))
                    .step(|| format!("write {}", path.display()))?;
            }
            let ns = proc_dir.join("ns/user");
            File::open(&ns).map(OwnedFd::from).step(|| format!("open {}", ns.display()))
        })();
        drop(hold_write);
        waitpid(helper, None).step(|| "reap the user namespace's helper".to_string())?;
        opened
    }
}

/// Why `mount_setattr` answers EINVAL to an idmap request, for the messages that explain it.
pub const NO_IDMAP: &str = "this filesystem or kernel has no idmapped mounts: Linux 5.19+ with \
                            ext4, xfs, btrfs or tmpfs is needed";

/// In the child, still host root, in its private mount namespace: replaces the mount at `dir`
/// (a directory) by a copy of it idmapped through `userns`: owner `n` on disk is host `base +
/// n` through it, and back for what is written through it.
pub fn idmap_in_place(dir: &Path, userns: RawFd) -> Result<(), StepError> {
    let tree = mount_api::clone_tree(dir, false)?;
    // SAFETY: `userns` is the namespace descriptor the shim opened for this child.
    let userns = unsafe { BorrowedFd::borrow_raw(userns) };
    mount_api::set_idmap(&tree, userns, false).map_err(|err| {
        let mut cause = io_cause(&err);
        if err.raw_os_error() == Some(libc::EINVAL) {
            cause.push_str(&format!(
                " ({NO_IDMAP}; a box created with userns \"host\" runs without a user namespace)"
            ));
        }
        StepError::new(format!("idmap the mount of {}", dir.display()), cause)
    })?;
    mount_api::attach(&tree, dir)
}

/// Files the child creates from now on (overlay's work dir, mount points in the overlay) get
/// box root's owner: the child is still host root, which the idmapped mounts cannot store (it
/// has no box uid). Overlay also keeps these credentials as the mounter's, so its own writes
/// to the layers work the same way. A change of fsuid away from 0 clears the filesystem
/// capabilities from the effective set; they are raised again (overlay needs them to copy up
/// files whatever their modes). [`enter`] replaces all of it for good.
pub fn write_as_box_root(base: u32) -> Result<(), StepError> {
    // SAFETY: setfsuid/setfsgid take any id from host root; success is checked below through
    // the returned previous value of a second call.
    unsafe {
        libc::setfsgid(base);
        libc::setfsuid(base);
        if libc::setfsuid(base) as u32 != base {
            return Err(StepError::new("write as box root", "setfsuid was refused"));
        }
    }
    let mut header = CapHeader { version: CAPABILITY_VERSION_3, pid: 0 };
    let mut data = [CapData::default(); 2];
    // SAFETY: capget/capset on the calling thread with version 3, for which `data` holds the
    // two words the kernel reads and writes.
    unsafe {
        if libc::syscall(libc::SYS_capget, &mut header, data.as_mut_ptr()) != 0 {
            return Err(StepError::new("read capabilities", io_cause(&io::Error::last_os_error())));
        }
        for word in &mut data {
            word.effective = word.permitted;
        }
        if libc::syscall(libc::SYS_capset, &header, data.as_ptr()) != 0 {
            return Err(StepError::new(
                "raise capabilities again",
                io_cause(&io::Error::last_os_error()),
            ));
        }
    }
    Ok(())
}

/// `_LINUX_CAPABILITY_VERSION_3` and its header and data words (linux/capability.h).
const CAPABILITY_VERSION_3: u32 = 0x2008_0522;

#[repr(C)]
struct CapHeader {
    version: u32,
    pid: libc::c_int,
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

/// In a rootless shim, before it clones the box: joins the box's user namespace, so that the
/// namespaces of the clone belong to it. The shim, as the namespace's owner, has every
/// capability in it, and keeps its host uid for everything it does on the host.
pub fn join(userns: BorrowedFd<'_>) -> Result<(), StepError> {
    setns(userns, CloneFlags::CLONE_NEWUSER).step(|| "join the box's user namespace".to_string())
}

/// In the child: joins the box's user namespace and unshares the namespaces it must own, then
/// becomes box root (host uid `base`). Everything that needs host root is done by now.
pub fn enter(userns: RawFd) -> Result<(), StepError> {
    // SAFETY: `userns` is a descriptor of a user namespace the shim opened for this child.
    let fd = unsafe { BorrowedFd::borrow_raw(userns) };
    setns(fd, CloneFlags::CLONE_NEWUSER).step(|| "join the box's user namespace".to_string())?;
    unshare(
        CloneFlags::CLONE_NEWNS
            | CloneFlags::CLONE_NEWUTS
            | CloneFlags::CLONE_NEWIPC
            | CloneFlags::CLONE_NEWNET,
    )
    .step(|| "unshare the namespaces box root owns".to_string())?;
    let root = (Uid::from_raw(0), Gid::from_raw(0));
    setgroups(&[]).step(|| "clear supplementary groups".to_string())?;
    setresgid(root.1, root.1, root.1).step(|| "become box root (gid)".to_string())?;
    setresuid(root.0, root.0, root.0).step(|| "become box root (uid)".to_string())
}
