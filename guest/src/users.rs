//! Users and groups from the box's own `/etc/passwd` and `/etc/group`, parsed by hand.
//!
//! The agent is a static binary dropped into arbitrary images: NSS (`getpwnam`) would load the
//! image's modules or none at all. Numeric users work without either file.
//!
//! Both files belong to the box, so whatever runs in it may have replaced them: with a FIFO (a
//! plain open would wait for a writer forever), a device such as `/dev/zero` (a plain read
//! would never end), a symbolic link into `/proc` (the agent reads with every capability), or
//! a file of any size. [`read_database`] refuses all of these before reading a byte.

use std::fs::File;
use std::io::{self, Read};

use crate::root::{BoxRoot, Resolve};

/// Largest user database the agent reads. Real ones are a few KiB; a directory with tens of
/// thousands of accounts still fits.
pub const MAX_DATABASE_BYTES: u64 = 4 * 1024 * 1024;

/// Who a process runs as.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Credentials {
    pub uid: u32,
    pub gid: u32,
    /// Supplementary groups (the primary group included).
    pub groups: Vec<u32>,
    /// The user's home directory, for HOME.
    pub home: String,
}

/// Why a user spec does not resolve.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum UserError {
    #[error("malformed user {0:?}: expected uid[:gid] or name[:group]")]
    Malformed(String),
    #[error("unknown user {0:?}")]
    UnknownUser(String),
    #[error("unknown group {0:?}")]
    UnknownGroup(String),
    #[error(transparent)]
    Database(#[from] DatabaseError),
}

/// Why a user database of the box was not read. Never "missing": an image without the file
/// simply has no named users.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DatabaseError {
    #[error("{path} is not a regular file (it is {kind})")]
    NotRegular { path: String, kind: &'static str },
    #[error("{path} is larger than {max_bytes} bytes")]
    TooLarge { path: String, max_bytes: u64 },
    #[error("{path} leads out of the box's root filesystem (a symbolic link to another mount)")]
    OutsideRoot { path: String },
    #[error("reading {path}: {reason}")]
    Io { path: String, reason: String },
}

/// The contents of the user databases; either may be missing from an image.
#[derive(Default)]
pub struct Databases {
    pub passwd: String,
    pub group: String,
}

impl Databases {
    /// Reads `<root>/etc/passwd` and `<root>/etc/group` (see [`read_database`]); a missing
    /// file reads as empty.
    pub fn load(root: &BoxRoot) -> Result<Self, DatabaseError> {
        Ok(Self {
            passwd: read_database(root, "etc/passwd")?,
            group: read_database(root, "etc/group")?,
        })
    }

    /// Resolves `uid[:gid]` or `name[:group]` (the parts may mix: `1000:wheel`).
    pub fn resolve(&self, spec: &str) -> Result<Credentials, UserError> {
        let (user, group) = match spec.split_once(':') {
            Some((user, group)) => (user, Some(group)),
            None => (spec, None),
        };
        if user.is_empty() || group.is_some_and(str::is_empty) {
            return Err(UserError::Malformed(spec.to_owned()));
        }
        let (uid, entry) = match user.parse::<u32>() {
            // A numeric user needs no entry; when there is one it supplies group and home.
            Ok(uid) => (uid, self.passwd_entries().find(|e| e.uid == uid)),
            Err(_) => {
                let entry = self
                    .passwd_entries()
                    .find(|e| e.name == user)
                    .ok_or_else(|| UserError::UnknownUser(user.to_owned()))?;
                (entry.uid, Some(entry))
            }
        };
        let gid = match group {
            Some(group) => match group.parse::<u32>() {
                Ok(gid) => gid,
                Err(_) => self
                    .group_entries()
                    .find(|g| g.name == group)
                    .map(|g| g.gid)
                    .ok_or_else(|| UserError::UnknownGroup(group.to_owned()))?,
            },
            // A uid unknown to the image gets group 0, as other container runtimes do.
            None => entry.as_ref().map_or(0, |e| e.gid),
        };
        let mut groups = vec![gid];
        if let Some(entry) = &entry {
            for g in self.group_entries().filter(|g| g.members.split(',').any(|m| m == entry.name))
            {
                if !groups.contains(&g.gid) {
                    groups.push(g.gid);
                }
            }
        }
        let home = entry.as_ref().map_or("/", |e| e.home).to_owned();
        Ok(Credentials { uid, gid, groups, home })
    }

    /// Home directory of `uid`, when the image knows it.
    pub fn home_of(&self, uid: u32) -> Option<String> {
        self.passwd_entries().find(|e| e.uid == uid).map(|e| e.home.to_owned())
    }

    fn passwd_entries(&self) -> impl Iterator<Item = PasswdEntry<'_>> {
        self.passwd.lines().filter_map(PasswdEntry::parse)
    }

    fn group_entries(&self) -> impl Iterator<Item = GroupEntry<'_>> {
        self.group.lines().filter_map(GroupEntry::parse)
    }
}

/// Reads the database at `relative` (to `root`) without ever blocking and within
/// [`MAX_DATABASE_BYTES`]; a missing file reads as empty.
///
/// - Resolved in `root`, never leaving its mount: symbolic links are followed (images link
///   their databases, e.g. into a Nix store) but cannot lead into `/proc`, `/sys` or `/dev`,
///   and no `/proc` magic link is followed (see [`BoxRoot::open_at`]).
/// - Opened with O_NONBLOCK, so a FIFO answers at once instead of waiting for a writer, and
///   O_NOCTTY, so a terminal never becomes the agent's.
/// - Only a regular file is read, judged on the opened descriptor (no check-then-open race),
///   and only up to the bound, whatever its size said.
pub fn read_database(root: &BoxRoot, relative: &str) -> Result<String, DatabaseError> {
    let shown = format!("/{relative}");
    let io_error =
        |err: io::Error| DatabaseError::Io { path: shown.clone(), reason: err.to_string() };
    let flags = libc::O_RDONLY | libc::O_NONBLOCK | libc::O_NOCTTY;
    let opened = root.open_at(std::path::Path::new(relative), flags, Resolve::SameMount);
    let Some(fd) = opened.map_err(|err| match err.raw_os_error() {
        Some(libc::EXDEV) => DatabaseError::OutsideRoot { path: shown.clone() },
        _ => io_error(err),
    })?
    else {
        return Ok(String::new());
    };
    let file = File::from(fd);
    let meta = file.metadata().map_err(io_error)?;
    if !meta.is_file() {
        return Err(DatabaseError::NotRegular { path: shown, kind: file_kind(&meta.file_type()) });
    }
    let too_large =
        || DatabaseError::TooLarge { path: shown.clone(), max_bytes: MAX_DATABASE_BYTES };
    if meta.len() > MAX_DATABASE_BYTES {
        return Err(too_large());
    }
    // One byte past the bound tells a file that grew since the fstat from one that fits.
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    file.take(MAX_DATABASE_BYTES + 1).read_to_end(&mut bytes).map_err(io_error)?;
    if bytes.len() as u64 > MAX_DATABASE_BYTES {
        return Err(too_large());
    }
    // A stray invalid byte costs at most the line it is on, not every user.
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// What kind of file this is, for messages.
fn file_kind(file_type: &std::fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    if file_type.is_dir() {
        "a directory"
    } else if file_type.is_fifo() {
        "a FIFO"
    } else if file_type.is_char_device() {
        "a character device"
    } else if file_type.is_block_device() {
        "a block device"
    } else if file_type.is_socket() {
        "a socket"
    } else {
        "a special file"
    }
}

/// `name:password:uid:gid:gecos:home:shell`
struct PasswdEntry<'a> {
    name: &'a str,
    uid: u32,
    gid: u32,
    home: &'a str,
}

impl<'a> PasswdEntry<'a> {
    fn parse(line: &'a str) -> Option<Self> {
        if line.starts_with('#') {
            return None;
        }
        let mut fields = line.split(':');
        let name = fields.next()?;
        let _password = fields.next()?;
        let uid = fields.next()?.parse().ok()?;
        let gid = fields.next()?.parse().ok()?;
        let _gecos = fields.next();
        // A home with a NUL in it cannot become HOME (nor any path): it counts as none, as an
        // empty one does, instead of failing every exec as that user with an environment
        // error the request did not cause.
        let home = fields.next().filter(|h| !h.is_empty() && !h.contains('\0')).unwrap_or("/");
        Some(Self { name, uid, gid, home })
    }
}

/// `name:password:gid:member,member`
struct GroupEntry<'a> {
    name: &'a str,
    gid: u32,
    members: &'a str,
}

impl<'a> GroupEntry<'a> {
    fn parse(line: &'a str) -> Option<Self> {
        if line.starts_with('#') {
            return None;
        }
        let mut fields = line.split(':');
        let name = fields.next()?;
        let _password = fields.next()?;
        let gid = fields.next()?.parse().ok()?;
        let members = fields.next().unwrap_or("");
        Some(Self { name, gid, members })
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::ffi::OsStrExt;
    use std::path::Path;

    use super::*;

    fn open(path: &Path) -> BoxRoot {
        BoxRoot::open(path).expect("open the root")
    }

    fn db() -> Databases {
        Databases {
            passwd:
                "# comment\nroot:x:0:0:root:/root:/bin/sh\nalice:x:1000:1000::/home/alice:/bin/sh\n\
                     broken line\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n"
                    .into(),
            group:
                "root:x:0:\nalice:x:1000:\nwheel:x:10:alice,bob\naudio:x:29:bob\nstaff:x:50:alice\n"
                    .into(),
        }
    }

    #[test]
    fn name_gets_primary_and_supplementary_groups_and_home() {
        let c = db().resolve("alice").expect("alice resolves");
        assert_eq!((c.uid, c.gid), (1000, 1000));
        assert_eq!(c.groups, vec![1000, 10, 50]);
        assert_eq!(c.home, "/home/alice");
    }

    #[test]
    fn numeric_user_in_passwd_takes_its_group() {
        let c = db().resolve("65534").expect("numeric resolves");
        assert_eq!((c.uid, c.gid, c.home.as_str()), (65534, 65534, "/nonexistent"));
    }

    #[test]
    fn numeric_user_works_without_databases() {
        let c = Databases::default().resolve("4242:77").expect("numeric needs no files");
        assert_eq!((c.uid, c.gid), (4242, 77));
        assert_eq!(c.groups, vec![77]);
        assert_eq!(c.home, "/");
        let c = Databases::default().resolve("4242").expect("numeric needs no files");
        assert_eq!(c.gid, 0);
    }

    /// Found by the exec_request fuzz target (corpus input regression-passwd-home-nul).
    #[test]
    fn a_home_with_a_nul_byte_is_no_home() {
        let db = Databases {
            passwd: "alice:x:1000:1000::/home/al\0ice:/bin/sh\n".into(),
            group: String::new(),
        };
        let c = db.resolve("alice").expect("alice resolves");
        assert_eq!((c.uid, c.home.as_str()), (1000, "/"));
        assert_eq!(db.home_of(1000).as_deref(), Some("/"));
    }

    #[test]
    fn group_by_name_overrides_primary() {
        let c = db().resolve("alice:wheel").expect("resolves");
        assert_eq!((c.uid, c.gid), (1000, 10));
        assert_eq!(c.groups, vec![10, 50]);
    }

    /// A root with `etc/` in it, for [`read_database`].
    fn image_root() -> tempfile::TempDir {
        let root = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir(root.path().join("etc")).expect("mkdir etc");
        root
    }

    fn mkfifo(path: &Path) {
        let path = std::ffi::CString::new(path.as_os_str().as_bytes()).expect("path");
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(path.as_ptr(), 0o644) }, 0, "mkfifo");
    }

    #[test]
    fn a_database_is_read_and_a_missing_one_is_empty() {
        let root = image_root();
        assert_eq!(read_database(&open(root.path()), "etc/passwd"), Ok(String::new()));
        std::fs::write(root.path().join("etc/passwd"), "alice:x:1000:1000::/home/alice:/bin/sh\n")
            .expect("write");
        let db = Databases::load(&open(root.path())).expect("loads");
        assert_eq!(db.resolve("alice").map(|c| c.uid), Ok(1000));
    }

    #[test]
    fn a_symlink_resolves_inside_the_root() {
        let root = image_root();
        std::fs::create_dir(root.path().join("store")).expect("mkdir");
        std::fs::write(root.path().join("store/passwd"), "bob:x:7:7::/b:/bin/sh\n").expect("write");
        // Absolute, as images write them: it means the image's /store, not the agent's.
        std::os::unix::fs::symlink("/store/passwd", root.path().join("etc/passwd")).expect("link");
        assert_eq!(
            read_database(&open(root.path()), "etc/passwd"),
            Ok("bob:x:7:7::/b:/bin/sh\n".to_owned())
        );
    }

    #[test]
    fn a_fifo_is_refused_at_once() {
        let root = image_root();
        mkfifo(&root.path().join("etc/passwd"));
        // On a thread, bounded: the bug this guards against is a read that never returns.
        let path = root.path().to_owned();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || tx.send(read_database(&open(&path), "etc/passwd")));
        let result = rx.recv_timeout(std::time::Duration::from_secs(10)).expect("no answer");
        assert_eq!(
            result,
            Err(DatabaseError::NotRegular { path: "/etc/passwd".into(), kind: "a FIFO" })
        );
        assert_eq!(
            result.unwrap_err().to_string(),
            "/etc/passwd is not a regular file (it is a FIFO)"
        );
    }

    #[test]
    fn a_device_and_a_directory_are_refused() {
        let root = image_root();
        std::fs::create_dir(root.path().join("etc/group")).expect("mkdir");
        assert_eq!(
            read_database(&open(root.path()), "etc/group"),
            Err(DatabaseError::NotRegular { path: "/etc/group".into(), kind: "a directory" })
        );
        // SAFETY: geteuid cannot fail.
        if unsafe { libc::geteuid() } != 0 {
            eprintln!("skipped the device half: mknod needs root");
            return;
        }
        let node = std::ffi::CString::new(root.path().join("etc/passwd").as_os_str().as_bytes())
            .expect("path");
        // SAFETY: a valid NUL-terminated path; 1:5 is /dev/zero.
        let rc = unsafe { libc::mknod(node.as_ptr(), libc::S_IFCHR | 0o644, libc::makedev(1, 5)) };
        assert_eq!(rc, 0, "mknod");
        assert_eq!(
            read_database(&open(root.path()), "etc/passwd"),
            Err(DatabaseError::NotRegular {
                path: "/etc/passwd".into(),
                kind: "a character device"
            })
        );
    }

    #[test]
    fn a_symlink_to_another_mount_is_refused() {
        // From the real root, through a link to /dev/zero: /dev is a mount of its own.
        let dir = tempfile::tempdir().expect("tempdir");
        std::os::unix::fs::symlink("/dev/zero", dir.path().join("passwd")).expect("link");
        let relative = dir.path().join("passwd");
        let relative = relative.strip_prefix("/").expect("absolute").to_str().expect("utf-8");
        let err = read_database(&open(Path::new("/")), relative).expect_err("refused");
        assert!(matches!(err, DatabaseError::OutsideRoot { .. }), "{err:?}");
    }

    #[test]
    fn an_oversized_database_is_refused_without_reading_it() {
        let root = image_root();
        let file = std::fs::File::create(root.path().join("etc/passwd")).expect("create");
        // Sparse: the size is what counts.
        file.set_len(MAX_DATABASE_BYTES + 1).expect("set_len");
        assert_eq!(
            read_database(&open(root.path()), "etc/passwd"),
            Err(DatabaseError::TooLarge {
                path: "/etc/passwd".into(),
                max_bytes: MAX_DATABASE_BYTES
            })
        );
        file.set_len(MAX_DATABASE_BYTES).expect("set_len");
        assert_eq!(
            read_database(&open(root.path()), "etc/passwd").map(|s| s.len() as u64),
            Ok(MAX_DATABASE_BYTES)
        );
    }

    #[test]
    fn errors_name_the_subject() {
        assert_eq!(db().resolve("mallory"), Err(UserError::UnknownUser("mallory".into())));
        assert_eq!(db().resolve("alice:nogroup"), Err(UserError::UnknownGroup("nogroup".into())));
        assert_eq!(db().resolve(":5"), Err(UserError::Malformed(":5".into())));
        assert_eq!(db().resolve("alice:"), Err(UserError::Malformed("alice:".into())));
    }
}
