//! The box's disk: the filesystem its writable layer lives on, so that what a box writes is
//! bounded by the disk's size and a full disk is the box's ENOSPC, never the host's.
//!
//! Why an ext4 image on a loop device (docs/architecture.md, "Box disk"): the upper dir of an
//! overlay has no size bound of its own; project quotas need a host filesystem made and
//! mounted for them (not the case on common hosts, this one included); a tmpfs would charge
//! the disk to memory. A sparse image takes on the host only the blocks the box uses (the
//! mount's `discard` gives deleted blocks back), and a loop device with `LO_FLAGS_AUTOCLEAR`
//! that only the box's mount holds goes away with the box's mount namespace: a shim killed at
//! any point leaves neither a mount nor a loop device behind.
//!
//! The shim makes the image on the box's first start ([`prepare`], before `clone`: a copy of
//! a per-home template that `mkfs.ext4` formatted once) and attaches it; the child mounts it in its private mount namespace
//! ([`mount`]) and creates the upper and work dirs in it.

use std::ffi::CString;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{DirBuilderExt, FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use boxlite_protocol::launch::DiskSpec;
use nix::mount::{mount as mount2, MsFlags};

use crate::error::{io_cause, Step, StepError};

/// `ioctl` requests of `<linux/loop.h>`.
const LOOP_CTL_GET_FREE: libc::c_ulong = 0x4C82;
const LOOP_CONFIGURE: libc::c_ulong = 0x4C0A;
/// Detach the device when its last user (descriptor or mount) goes away.
const LO_FLAGS_AUTOCLEAR: u32 = 4;
/// Read and write the image with `O_DIRECT`: the box's pages are cached once, by the box's
/// own filesystem (charged to the box's memory cgroup), not a second time by the host's.
const LO_FLAGS_DIRECT_IO: u32 = 16;
/// Tries at a free loop device: another process may take the one the kernel offered first.
const ATTACH_TRIES: usize = 16;
/// Most of `mkfs.ext4`'s complaints kept for the error.
const MKFS_ERROR_BYTES: u64 = 2048;

/// `struct loop_info64`.
#[repr(C)]
struct LoopInfo64 {
    device: u64,
    inode: u64,
    rdevice: u64,
    offset: u64,
    sizelimit: u64,
    number: u32,
    encrypt_type: u32,
    encrypt_key_size: u32,
    flags: u32,
    file_name: [u8; 64],
    crypt_name: [u8; 64],
    encrypt_key: [u8; 32],
    init: [u64; 2],
}

/// `struct loop_config`.
#[repr(C)]
struct LoopConfig {
    fd: u32,
    block_size: u32,
    info: LoopInfo64,
    reserved: [u64; 8],
}

/// The box's disk attached to a loop device. Holding it holds the device; once the child has
/// mounted it, dropping it leaves the mount as the device's only user.
#[derive(Debug)]
pub struct Attached {
    /// `/dev/loopN`.
    pub device: PathBuf,
    _fd: OwnedFd,
}

/// Makes the image if the box has none yet, and attaches it to a free loop device.
pub fn prepare(box_id: &str, disk: &DiskSpec) -> Result<Attached, StepError> {
    if !usable(box_id, &disk.image)? {
        if !usable(box_id, &disk.template)? {
            make_template(&disk.template, disk.size_bytes)?;
        }
        copy_template(disk)?;
    }
    attach(box_id, &disk.image)
}

/// Offset and value of the ext4 superblock's magic number.
const EXT4_MAGIC_AT: u64 = 1024 + 0x38;
const EXT4_MAGIC: [u8; 2] = 0xEF53u16.to_le_bytes();

/// Whether `image` exists and starts like an ext4 filesystem. Images are written without
/// `fsync` (that would cost a box's first start hundreds of ms here), so a host that lost
/// power right after making one may leave zeros: such an image held nothing yet. It is kept
/// aside as `<image>.damaged` (never deleted: it may be a box's data after all) and made anew.
fn usable(box_id: &str, image: &Path) -> Result<bool, StepError> {
    let file = match OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(image)
    {
        Ok(file) => file,
        Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(false),
        Err(err) => return Err(err).step(|| format!("open box disk {}", image.display())),
    };
    let mut magic = [0u8; 2];
    let read = file.read_exact_at(&mut magic, EXT4_MAGIC_AT);
    if read.is_ok() && magic == EXT4_MAGIC {
        return Ok(true);
    }
    let mut aside = image.as_os_str().to_owned();
    aside.push(".damaged");
    crate::log::line(
        box_id,
        format!("{} is not an ext4 image; kept as {:?}, made anew", image.display(), aside),
    );
    fs::rename(image, &aside).step(|| format!("move {} aside", image.display()))?;
    Ok(false)
}

/// A formatted, empty image of `size_bytes`, made once per home and size, that new boxes'
/// images are copied from: copying its few MiB of blocks costs a fraction of `mkfs`.
fn make_template(template: &Path, size_bytes: u64) -> Result<(), StepError> {
    if let Some(dir) = template.parent() {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .step(|| format!("create {}", dir.display()))?;
    }
    // Per process: two shims making the same template never write the same file; the
    // second rename replaces an equal image.
    let tmp = sibling(template, &format!(".{}.new", std::process::id()));
    let file = create_new(&tmp)?;
    file.set_len(size_bytes).step(|| format!("size {}", tmp.display()))?;
    format(&tmp)?;
    fs::rename(&tmp, template).step(|| format!("rename {} into place", tmp.display()))
}

/// Copies the template's data extents (its holes stay holes) into a new image for the box,
/// then renames it into place: a start killed halfway leaves only the `.new` file, which
/// the next start replaces.
fn copy_template(disk: &DiskSpec) -> Result<(), StepError> {
    let step = || format!("copy {} to {}", disk.template.display(), disk.image.display());
    let tmp = sibling(&disk.image, ".new");
    let src = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(&disk.template)
        .step(step)?;
    let dst = create_new(&tmp)?;
    let size = src.metadata().step(step)?.len();
    let mut offset: i64 = 0;
    loop {
        // SAFETY: plain lseek on a descriptor we own.
        let data = unsafe { libc::lseek(src.as_raw_fd(), offset, libc::SEEK_DATA) };
        if data < 0 {
            let err = io::Error::last_os_error();
            if err.raw_os_error() == Some(libc::ENXIO) {
                break; // no data past `offset`
            }
            return Err(err).step(step);
        }
        // SAFETY: as above.
        let hole = unsafe { libc::lseek(src.as_raw_fd(), data, libc::SEEK_HOLE) };
        if hole < 0 {
            return Err(io::Error::last_os_error()).step(step);
        }
        copy_range(&src, &dst, data, hole - data).map_err(|e| StepError::new(step(), e))?;
        offset = hole;
    }
    dst.set_len(size).step(step)?;
    fs::rename(&tmp, &disk.image).step(step)
}

/// `copy_file_range` of `len` bytes at `at` in both files (in-kernel; a reflink where the
/// host filesystem has them).
fn copy_range(src: &File, dst: &File, at: i64, len: i64) -> Result<(), String> {
    let (mut from, mut to, mut left) = (at, at, len);
    while left > 0 {
        // SAFETY: both descriptors are open; the offsets are ours and advanced by the kernel.
        let n = unsafe {
            libc::copy_file_range(
                src.as_raw_fd(),
                &mut from,
                dst.as_raw_fd(),
                &mut to,
                left as usize,
                0,
            )
        };
        match n {
            n if n > 0 => left -= n as i64,
            0 => return Err("the template ended early".to_string()),
            _ => return Err(io_cause(&io::Error::last_os_error())),
        }
    }
    Ok(())
}

fn create_new(path: &Path) -> Result<File, StepError> {
    OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(path)
        .step(|| format!("create {}", path.display()))
}

fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// Runs `mkfs.ext4` on `image`. The inode tables and the journal are left to the kernel to
/// initialise lazily (their blocks are holes of a new sparse file, so they read as zeros
/// anyway): the image starts at about 240 KiB of blocks, in about 10 ms.
fn format(image: &Path) -> Result<(), StepError> {
    let mkfs = find_mkfs()?;
    let step = || format!("format box disk {} with {}", image.display(), mkfs.display());
    let mut child = Command::new(&mkfs)
        .args(["-q", "-F", "-t", "ext4", "-m", "0", "-L", "boxlite"])
        .args(["-E", "lazy_itable_init=1,lazy_journal_init=1,nodiscard"])
        // No blocks reserved for growing the filesystem online: box disks never grow, and
        // the reserved descriptor blocks were 4 of the image's 4.2 MiB of data.
        .args(["-O", "^resize_inode"])
        .arg(image)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .step(step)?;
    let mut complaint = Vec::new();
    if let Some(stderr) = child.stderr.take() {
        // Drained to EOF so mkfs never blocks on a full pipe; only the head is kept.
        let mut head = stderr.take(MKFS_ERROR_BYTES);
        head.read_to_end(&mut complaint).step(step)?;
        io::copy(&mut head.into_inner(), &mut io::sink()).step(step)?;
    }
    let status = child.wait().step(step)?;
    if status.success() {
        return Ok(());
    }
    let text = String::from_utf8_lossy(&complaint);
    let text = text.trim();
    Err(StepError::new(step(), if text.is_empty() { status.to_string() } else { text.to_string() }))
}

/// `mkfs.ext4` from e2fsprogs, where Debian and others install it; the shim's own `PATH` is
/// the caller's and may lack the sbin directories.
fn find_mkfs() -> Result<PathBuf, StepError> {
    let dirs = ["/usr/sbin", "/sbin", "/usr/bin", "/bin", "/usr/local/sbin"];
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(dirs.iter().map(PathBuf::from))
        .map(|dir| dir.join("mkfs.ext4"))
        .find(|candidate| candidate.is_file())
        .ok_or_else(|| {
            StepError::new(
                "make the box's disk",
                "mkfs.ext4 not found (install e2fsprogs), needed to bound the box's disk",
            )
        })
}

/// Attaches `image` to a free loop device with [`LO_FLAGS_AUTOCLEAR`].
fn attach(box_id: &str, image: &Path) -> Result<Attached, StepError> {
    let backing = OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(image)
        .step(|| format!("open box disk {}", image.display()))?;
    let control = OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_CLOEXEC)
        .open("/dev/loop-control")
        .step(|| "open /dev/loop-control (needed to bound the box's disk)".to_string())?;
    let mut config = LoopConfig {
        fd: backing.as_raw_fd() as u32,
        block_size: 0,
        // SAFETY: all-zero is a valid `loop_info64` (plain integers and byte arrays).
        info: unsafe { std::mem::zeroed() },
        reserved: [0; 8],
    };
    config.info.flags = LO_FLAGS_AUTOCLEAR | LO_FLAGS_DIRECT_IO;
    let name = format!("boxlite:{box_id}");
    let len = name.len().min(config.info.file_name.len() - 1);
    config.info.file_name[..len].copy_from_slice(&name.as_bytes()[..len]);

    let mut last = io::Error::from_raw_os_error(libc::EBUSY);
    for _ in 0..ATTACH_TRIES {
        // SAFETY: LOOP_CTL_GET_FREE takes no argument and returns a device number.
        let number = unsafe { libc::ioctl(control.as_raw_fd(), LOOP_CTL_GET_FREE) };
        if number < 0 {
            return Err(io::Error::last_os_error()).step(|| "find a free loop device".to_string());
        }
        let device = PathBuf::from(format!("/dev/loop{number}"));
        let loop_file = open_device(&device)?;
        // SAFETY: `config` is a properly laid out `loop_config` that outlives the call.
        let rc = unsafe { libc::ioctl(loop_file.as_raw_fd(), LOOP_CONFIGURE, &config) };
        if rc == 0 {
            return Ok(Attached { device, _fd: loop_file.into() });
        }
        last = io::Error::last_os_error();
        if last.raw_os_error() != Some(libc::EBUSY) {
            break;
        }
    }
    Err(StepError::new(
        format!("attach box disk {} to a loop device", image.display()),
        io_cause(&last),
    ))
}

fn open_device(device: &Path) -> Result<File, StepError> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_CLOEXEC)
        .open(device)
        .step(|| format!("open {}", device.display()))
}

/// In the child: mounts the attached disk on `disk.mount_dir` and makes sure the overlay's
/// upper and work dirs exist in it.
pub fn mount(device: &Path, disk: &DiskSpec, upper: &Path, work: &Path) -> Result<(), StepError> {
    let source = CString::new(device.as_os_str().as_bytes())
        .map_err(|_| StepError::new("mount the box's disk", "device path has a NUL byte"))?;
    mount2(
        Some(source.as_c_str()),
        &disk.mount_dir,
        Some("ext4"),
        MsFlags::MS_NOATIME | MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
        // `discard`: deleted blocks become holes of the image again. `barrier=0`: no cache
        // flushes, each of which the loop device turns into an fsync of the image (the
        // journal's commit at unmount made every stop wait for one). The journal still keeps
        // the filesystem whole across a killed box or shim; only a host power loss can cost
        // the box its last writes.
        Some("discard,barrier=0"),
    )
    .step(|| format!("mount box disk {} on {}", device.display(), disk.mount_dir.display()))?;
    for dir in [upper, work] {
        fs::DirBuilder::new()
            .mode(0o755)
            .create(dir)
            .or_else(
                |err| if err.kind() == io::ErrorKind::AlreadyExists { Ok(()) } else { Err(err) },
            )
            .step(|| format!("create {} on the box's disk", dir.display()))?;
    }
    Ok(())
}
