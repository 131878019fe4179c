use std::fs;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

use super::*;

/// A tar stream built entry by entry from raw header fields, so that it can say what our own
/// packer never would.
#[derive(Default)]
struct Raw(Vec<u8>);

impl Raw {
    fn entry(mut self, name: &[u8], kind: tar::EntryType, data: &[u8], link: &[u8]) -> Self {
        let mut header = tar::Header::new_old();
        header.as_old_mut().name[..name.len()].copy_from_slice(name);
        header.as_old_mut().linkname[..link.len()].copy_from_slice(link);
        header.set_entry_type(kind);
        header.set_mode(0o644);
        header.set_uid(0);
        header.set_gid(0);
        header.set_mtime(0);
        header.set_size(data.len() as u64);
        header.set_cksum();
        self.0.extend_from_slice(header.as_bytes());
        self.0.extend_from_slice(data);
        self.0.resize(self.0.len().next_multiple_of(512), 0);
        self
    }

    fn file(self, name: &str, data: &str) -> Self {
        self.entry(name.as_bytes(), tar::EntryType::Regular, data.as_bytes(), b"")
    }

    fn end(mut self) -> Vec<u8> {
        self.0.extend_from_slice(&[0; 1024]);
        self.0
    }
}

fn open(path: &Path) -> OwnedFd {
    fs::File::open(path).unwrap().into()
}

fn unpack_into(dir: &Path, stream: &[u8], opts: &UnpackOptions) -> Result<Totals> {
    unpack(stream, open(dir).as_fd(), opts)
}

fn overwrite() -> UnpackOptions {
    UnpackOptions { overwrite: true, ..Default::default() }
}

/// A temporary directory holding `dest` (where streams go) and `outside` (which must never
/// change).
fn dirs() -> (tempfile::TempDir, std::path::PathBuf, std::path::PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let (dest, outside) = (tmp.path().join("dest"), tmp.path().join("outside"));
    fs::create_dir(&dest).unwrap();
    fs::create_dir(&outside).unwrap();
    fs::write(outside.join("secret"), "kept").unwrap();
    (tmp, dest, outside)
}

fn assert_outside_untouched(outside: &Path) {
    let names: Vec<_> = fs::read_dir(outside).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(names, vec![std::ffi::OsString::from("secret")]);
    assert_eq!(fs::read_to_string(outside.join("secret")).unwrap(), "kept");
}

#[test]
fn names_are_plain_relative_paths() {
    let ok = |raw: &str| components(raw.as_bytes()).map(|c| c.len());
    assert_eq!(ok("./a//b/"), Ok(2));
    assert_eq!(ok("."), Ok(0));
    assert!(ok("../x").is_err());
    assert!(ok("a/../../x").is_err());
    assert!(ok("a/..").is_err());
    assert!(ok("/etc/passwd").is_err());
    assert!(components(b"a\0b").is_err());
}

#[test]
fn dot_dot_and_absolute_names_are_refused_and_write_nothing_outside() {
    for name in ["../outside/secret", "a/../../outside/secret", "/tmp/boxlite-absolute"] {
        let (_tmp, dest, outside) = dirs();
        let stream = Raw::default().file(name, "evil").end();
        let err = unpack_into(&dest, &stream, &overwrite()).unwrap_err();
        assert_eq!(err.kind, Kind::Refused, "{name}: {err}");
        assert_outside_untouched(&outside);
        assert!(!Path::new("/tmp/boxlite-absolute").exists());
    }
}

#[test]
fn a_symlink_in_the_stream_is_never_followed() {
    let (_tmp, dest, outside) = dirs();
    let stream = Raw::default()
        .entry(b"link", tar::EntryType::Symlink, b"", outside.to_str().unwrap().as_bytes())
        .file("link/secret", "evil")
        .end();
    let err = unpack_into(&dest, &stream, &overwrite()).unwrap_err();
    assert_eq!(err.kind, Kind::Refused, "{err}");
    assert!(err.message.contains("link is not a directory"), "{err}");
    assert_outside_untouched(&outside);
    // The link itself was made, as given.
    assert_eq!(fs::read_link(dest.join("link")).unwrap(), outside);
}

#[test]
fn a_file_over_a_symlink_replaces_the_link_not_its_target() {
    let (_tmp, dest, outside) = dirs();
    std::os::unix::fs::symlink(outside.join("secret"), dest.join("f")).unwrap();
    let stream = Raw::default().file("f", "new").end();
    unpack_into(&dest, &stream, &overwrite()).unwrap();
    assert_outside_untouched(&outside);
    assert!(fs::symlink_metadata(dest.join("f")).unwrap().is_file());
    assert_eq!(fs::read_to_string(dest.join("f")).unwrap(), "new");
}

#[test]
fn a_hard_link_reaches_only_entries_beneath() {
    let (_tmp, dest, outside) = dirs();
    let stream = Raw::default().entry(b"h", tar::EntryType::Link, b"", b"../outside/secret").end();
    assert_eq!(unpack_into(&dest, &stream, &overwrite()).unwrap_err().kind, Kind::Refused);
    let stream =
        Raw::default().file("a", "data").entry(b"h", tar::EntryType::Link, b"", b"a").end();
    unpack_into(&dest, &stream, &overwrite()).unwrap();
    assert_eq!(
        fs::metadata(dest.join("h")).unwrap().ino(),
        fs::metadata(dest.join("a")).unwrap().ino()
    );
    assert_outside_untouched(&outside);
}

#[test]
fn devices_and_fifos_are_refused() {
    for kind in [tar::EntryType::Char, tar::EntryType::Block, tar::EntryType::Fifo] {
        let (_tmp, dest, _outside) = dirs();
        let stream = Raw::default().entry(b"dev", kind, b"", b"").end();
        let err = unpack_into(&dest, &stream, &overwrite()).unwrap_err();
        assert_eq!(err.kind, Kind::Refused, "{kind:?}: {err}");
        assert!(!dest.join("dev").exists());
    }
}

#[test]
fn overwrite_off_keeps_what_is_there() {
    let (_tmp, dest, _outside) = dirs();
    fs::write(dest.join("f"), "old").unwrap();
    let stream = Raw::default().file("f", "new").end();
    let err = unpack_into(&dest, &stream, &UnpackOptions::default()).unwrap_err();
    assert_eq!(err.kind, Kind::Exists);
    assert_eq!(fs::read_to_string(dest.join("f")).unwrap(), "old");
}

#[test]
fn limits_bound_entries_and_bytes() {
    let (_tmp, dest, _outside) = dirs();
    let stream = Raw::default().file("a", "12345").file("b", "12345").end();
    let opts = |max_entries, max_bytes| UnpackOptions {
        overwrite: true,
        limits: Limits { max_entries, max_bytes },
        ..Default::default()
    };
    assert_eq!(unpack_into(&dest, &stream, &opts(1, 0)).unwrap_err().kind, Kind::Limit);
    assert_eq!(unpack_into(&dest, &stream, &opts(0, 9)).unwrap_err().kind, Kind::Limit);
    assert_eq!(
        unpack_into(&dest, &stream, &opts(2, 10)).unwrap(),
        Totals { entries: 2, bytes: 10 }
    );
}

#[test]
fn an_oversized_extension_header_is_refused_before_it_is_read() {
    let (_tmp, dest, _outside) = dirs();
    let huge = vec![b'a'; MAX_EXTENSION_BYTES as usize + 1];
    let stream =
        Raw::default().entry(b"././@LongLink", tar::EntryType::GNULongName, &huge, b"").end();
    assert_eq!(unpack_into(&dest, &stream, &overwrite()).unwrap_err().kind, Kind::Refused);
}

#[test]
fn an_endless_run_of_extension_headers_ends_at_the_entry_bound() {
    let (_tmp, dest, _outside) = dirs();
    let mut stream = Raw::default();
    for _ in 0..50 {
        stream = stream.entry(b"././@LongLink", tar::EntryType::GNULongName, b"name", b"");
    }
    let opts = UnpackOptions { limits: Limits { max_entries: 5, max_bytes: 0 }, ..overwrite() };
    let err = unpack_into(&dest, &stream.end(), &opts).unwrap_err();
    assert_eq!(err.kind, Kind::Limit, "{err}");
}

#[test]
fn setuid_bits_are_cleared_unless_kept() {
    let (_tmp, dest, _outside) = dirs();
    let mut header = tar::Header::new_gnu();
    header.set_mode(0o4755);
    header.set_uid(0);
    header.set_gid(0);
    header.set_mtime(0);
    header.set_size(1);
    let mut builder = tar::Builder::new(Vec::new());
    builder.append_data(&mut header, "suid", &b"x"[..]).unwrap();
    let stream = builder.into_inner().unwrap();
    unpack_into(&dest, &stream, &overwrite()).unwrap();
    assert_eq!(fs::metadata(dest.join("suid")).unwrap().permissions().mode() & 0o7777, 0o755);
    let keep = UnpackOptions { keep_setid: true, ..overwrite() };
    unpack_into(&dest, &stream, &keep).unwrap();
    assert_eq!(fs::metadata(dest.join("suid")).unwrap().permissions().mode() & 0o7777, 0o4755);
}

#[test]
fn a_packed_tree_unpacks_with_its_modes_times_and_links() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    fs::create_dir_all(src.join("sub")).unwrap();
    fs::write(src.join("sub/run.sh"), "#!/bin/sh\n").unwrap();
    fs::set_permissions(src.join("sub/run.sh"), fs::Permissions::from_mode(0o750)).unwrap();
    std::os::unix::fs::symlink("sub/run.sh", src.join("link")).unwrap();
    fs::set_permissions(src.join("sub"), fs::Permissions::from_mode(0o700)).unwrap();
    let old = std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_000_000_000);
    fs::File::options()
        .write(true)
        .open(src.join("sub/run.sh"))
        .unwrap()
        .set_modified(old)
        .unwrap();

    let mut stream = Vec::new();
    let opts = PackOptions { recursive: true, ..Default::default() };
    let packed =
        pack(&mut stream, open(tmp.path()).as_fd(), OsStr::new("src"), b"copy", &opts).unwrap();
    assert_eq!(packed.entries, 4, "copy/, copy/link, copy/sub/, copy/sub/run.sh");

    let dest = tmp.path().join("dest");
    fs::create_dir(&dest).unwrap();
    let unpacked = unpack_into(&dest, &stream, &overwrite()).unwrap();
    assert_eq!(unpacked, packed);
    let script = dest.join("copy/sub/run.sh");
    assert_eq!(fs::read_to_string(&script).unwrap(), "#!/bin/sh\n");
    assert_eq!(fs::metadata(&script).unwrap().permissions().mode() & 0o7777, 0o750);
    assert_eq!(fs::metadata(&script).unwrap().mtime(), 1_000_000_000);
    assert_eq!(fs::metadata(dest.join("copy/sub")).unwrap().permissions().mode() & 0o7777, 0o700);
    assert_eq!(fs::read_link(dest.join("copy/link")).unwrap(), Path::new("sub/run.sh"));
}

#[test]
fn packing_refuses_a_fifo_without_blocking_and_a_directory_unless_recursive() {
    let tmp = tempfile::tempdir().unwrap();
    let made = std::process::Command::new("mkfifo").arg(tmp.path().join("fifo")).status().unwrap();
    assert!(made.success());
    let opts = PackOptions { recursive: true, ..Default::default() };
    let err =
        pack(Vec::new(), open(tmp.path()).as_fd(), OsStr::new("fifo"), b"", &opts).unwrap_err();
    assert_eq!(err.kind, Kind::Refused);
    assert!(err.message.contains("is a FIFO"), "{err}");

    fs::create_dir(tmp.path().join("d")).unwrap();
    let flat = PackOptions::default();
    let err = pack(Vec::new(), open(tmp.path()).as_fd(), OsStr::new("d"), b"", &flat).unwrap_err();
    assert_eq!(err.kind, Kind::WrongType);
}

#[test]
fn a_single_file_reads_back_within_its_bound() {
    let mut stream = Vec::new();
    pack_bytes(&mut stream, "f", b"hello", 0o644).unwrap();
    assert_eq!(read_single_file(&stream[..], 5).unwrap(), b"hello");
    assert_eq!(read_single_file(&stream[..], 4).unwrap_err().kind, Kind::Limit);
}

use std::ffi::OsStr;
