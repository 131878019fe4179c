//! The ELF check on made-up and real binaries, and the search order on a made-up tree.

use std::io::Cursor;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::elf::{linkage, linkage_of, Linkage};
use super::{candidates, find, Check, Helper, Places};
use crate::error::ErrorKind;

/// A minimal 64-bit little-endian ELF executable image: one PT_LOAD, plus a PT_INTERP naming
/// `interpreter` when given (what the linker emits for a dynamically linked program).
fn elf64(interpreter: Option<&str>) -> Vec<u8> {
    let phnum: u16 = if interpreter.is_some() { 2 } else { 1 };
    let table_end = 64 + 56 * u64::from(phnum);
    let mut b = vec![0u8; 64];
    b[..4].copy_from_slice(b"\x7fELF");
    b[4] = 2; // ELFCLASS64
    b[5] = 1; // little endian
    b[6] = 1; // EV_CURRENT
    b[16..18].copy_from_slice(&3u16.to_le_bytes()); // ET_DYN, as a PIE or static-pie is
    b[18..20].copy_from_slice(&62u16.to_le_bytes()); // x86_64
    b[32..40].copy_from_slice(&64u64.to_le_bytes()); // e_phoff
    b[52..54].copy_from_slice(&64u16.to_le_bytes());
    b[54..56].copy_from_slice(&56u16.to_le_bytes());
    b[56..58].copy_from_slice(&phnum.to_le_bytes());
    let mut load = [0u8; 56];
    load[..4].copy_from_slice(&1u32.to_le_bytes());
    b.extend_from_slice(&load);
    if let Some(name) = interpreter {
        let mut interp = [0u8; 56];
        interp[..4].copy_from_slice(&3u32.to_le_bytes());
        interp[8..16].copy_from_slice(&table_end.to_le_bytes());
        interp[32..40].copy_from_slice(&(name.len() as u64 + 1).to_le_bytes());
        b.extend_from_slice(&interp);
        b.extend_from_slice(name.as_bytes());
        b.push(0);
    }
    b
}

const LOADER: &str = "/lib64/ld-linux-x86-64.so.2";

fn of(bytes: &[u8]) -> Linkage {
    linkage_of(&mut Cursor::new(bytes)).unwrap()
}

#[test]
fn elf_without_interpreter_is_static_and_with_one_is_dynamic() {
    assert_eq!(of(&elf64(None)), Linkage::Static);
    assert_eq!(of(&elf64(Some(LOADER))), Linkage::Dynamic { interpreter: LOADER.into() });
}

#[test]
fn elf32_and_big_endian_headers_are_read_by_their_own_layout() {
    // ELF32, big endian: header 52 bytes, entries 32 bytes, PT_INTERP naming "/ld".
    let mut b = vec![0u8; 52];
    b[..4].copy_from_slice(b"\x7fELF");
    b[4] = 1;
    b[5] = 2;
    b[16..18].copy_from_slice(&2u16.to_be_bytes()); // ET_EXEC
    b[28..32].copy_from_slice(&52u32.to_be_bytes());
    b[42..44].copy_from_slice(&32u16.to_be_bytes());
    b[44..46].copy_from_slice(&1u16.to_be_bytes());
    let mut interp = [0u8; 32];
    interp[..4].copy_from_slice(&3u32.to_be_bytes());
    interp[4..8].copy_from_slice(&84u32.to_be_bytes());
    interp[16..20].copy_from_slice(&4u32.to_be_bytes());
    b.extend_from_slice(&interp);
    b.extend_from_slice(b"/ld\0");
    assert_eq!(of(&b), Linkage::Dynamic { interpreter: "/ld".into() });
}

#[test]
fn files_that_are_not_elf_executables_are_named_as_such() {
    assert_eq!(of(b"#!/bin/sh\necho hi\n"), Linkage::NotElf("not an ELF file"));
    assert_eq!(of(b""), Linkage::NotElf("not an ELF file"));
    assert_eq!(of(&elf64(None)[..40]), Linkage::NotElf("a truncated ELF file"));
    let mut relocatable = elf64(None);
    relocatable[16] = 1; // ET_REL: an object file
    assert_eq!(of(&relocatable), Linkage::NotElf("an ELF file that is not an executable"));
    let mut table_past_end = elf64(None);
    table_past_end[32..40].copy_from_slice(&1_000_000u64.to_le_bytes());
    assert_eq!(of(&table_past_end), Linkage::NotElf("a truncated ELF file"));
}

#[test]
fn hostile_header_sizes_are_refused_before_anything_large_is_read() {
    let malformed = Linkage::NotElf("an ELF file with a malformed program header table");
    let mut many = elf64(None);
    many[56..58].copy_from_slice(&0xffffu16.to_le_bytes());
    assert_eq!(of(&many), malformed);
    let mut wide_entries = elf64(None);
    wide_entries[54..56].copy_from_slice(&0xffffu16.to_le_bytes());
    assert_eq!(of(&wide_entries), malformed);
    let mut huge_interp = elf64(Some(LOADER));
    huge_interp[64 + 56 + 32..64 + 56 + 40].copy_from_slice(&u64::MAX.to_le_bytes());
    assert_eq!(of(&huge_interp), Linkage::Dynamic { interpreter: LOADER.into() });
}

#[test]
fn real_binaries_dynamic_test_executable_and_static_c_program() {
    // This test binary is linked by rustc against the host's glibc: dynamic.
    let me = std::env::current_exe().unwrap();
    match linkage(&me).unwrap() {
        Linkage::Dynamic { interpreter } => assert!(interpreter.contains("ld-"), "{interpreter}"),
        other => panic!("{} read as {other:?}", me.display()),
    }
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("main.c");
    std::fs::write(&src, "int main(void) { return 0; }\n").unwrap();
    // -static-pie is what the guest is (ET_DYN without an interpreter); -static is ET_EXEC.
    for flag in ["-static", "-static-pie"] {
        let out = dir.path().join(flag.trim_start_matches('-'));
        let status = Command::new("cc").arg(flag).arg("-o").arg(&out).arg(&src).status();
        assert!(status.is_ok_and(|s| s.success()), "cc {flag} failed (scripts/setup.sh)");
        assert_eq!(linkage(&out).unwrap(), Linkage::Static, "cc {flag}");
    }
}

/// Writes an executable file at `path`, creating its directories.
fn put(path: &Path, bytes: &[u8]) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, bytes).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// A made-up install: a library in PREFIX/lib, a program in APP/bin, two PATH entries.
struct Tree {
    _dir: tempfile::TempDir,
    root: PathBuf,
    places: Places,
}

impl Tree {
    fn new() -> Tree {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().to_path_buf();
        let places = Places {
            library_dir: Some(root.join("prefix/lib")),
            exe_dir: Some(root.join("app/bin")),
            path_dirs: vec![root.join("path1"), root.join("path2")],
        };
        Tree { _dir: dir, root, places }
    }

    fn at(&self, rel: &str) -> PathBuf {
        self.root.join(rel)
    }

    fn find(&self, helper: Helper) -> crate::Result<PathBuf> {
        find(helper, None, &self.places, Some(&self.at("shimdir")))
    }
}

#[test]
fn shim_search_order_library_then_libexec_then_executable_then_path() {
    let t = Tree::new();
    let order = [
        "prefix/lib/boxlite-shim",
        "prefix/libexec/boxlite/boxlite-shim",
        "app/bin/boxlite-shim",
        "app/libexec/boxlite/boxlite-shim",
        "path1/boxlite-shim",
        "path2/boxlite-shim",
    ];
    let listed: Vec<PathBuf> =
        candidates(Helper::Shim, &t.places, None).into_iter().map(|c| c.path).collect();
    assert_eq!(listed, order.map(|rel| t.at(rel)));
    for rel in order {
        put(&t.at(rel), b"#!/bin/sh\n");
    }
    // Each one found in turn once every earlier one is gone.
    for rel in order {
        assert_eq!(t.find(Helper::Shim).unwrap(), t.at(rel));
        std::fs::remove_file(t.at(rel)).unwrap();
    }
    let err = t.find(Helper::Shim).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);
    let msg = err.to_string();
    assert!(msg.contains("boxlite-shim not found"), "{msg}");
    assert!(msg.contains(&t.at("prefix/libexec/boxlite").display().to_string()), "{msg}");
    assert!(msg.contains("BOXLITE_SHIM"), "{msg}");
}

#[test]
fn library_and_executable_in_one_directory_are_searched_once() {
    let mut t = Tree::new();
    t.places.exe_dir = t.places.library_dir.clone();
    let listed = candidates(Helper::Shim, &t.places, None);
    assert_eq!(listed.len(), 4, "{listed:?}");
}

#[test]
fn guest_search_looks_next_to_the_shim_before_path() {
    let t = Tree::new();
    let listed: Vec<PathBuf> = candidates(Helper::Guest, &t.places, Some(&t.at("shimdir")))
        .into_iter()
        .map(|c| c.path)
        .collect();
    let expected = [
        "prefix/lib/boxlite-guest",
        "prefix/libexec/boxlite/boxlite-guest",
        "app/bin/boxlite-guest",
        "app/libexec/boxlite/boxlite-guest",
        "shimdir/boxlite-guest",
        "path1/boxlite-guest",
        "path2/boxlite-guest",
    ];
    assert_eq!(listed, expected.map(|rel| t.at(rel)));
}

#[test]
fn dynamic_guest_is_skipped_for_a_static_one_later_in_the_order() {
    let t = Tree::new();
    put(&t.at("prefix/lib/boxlite-guest"), &elf64(Some(LOADER)));
    put(&t.at("path2/boxlite-guest"), &elf64(None));
    assert_eq!(t.find(Helper::Guest).unwrap(), t.at("path2/boxlite-guest"));
}

#[test]
fn only_a_dynamic_guest_is_refused_naming_the_file_why_and_the_fix() {
    let t = Tree::new();
    let dynamic = t.at("app/bin/boxlite-guest");
    put(&dynamic, &elf64(Some(LOADER)));
    assert!(matches!(Helper::Guest.check(&dynamic), Check::Unusable(_)));
    let err = t.find(Helper::Guest).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);
    let msg = err.to_string();
    for needle in [
        &format!("{} is dynamically linked", dynamic.display()),
        LOADER,
        "inside the box's image",
        "make build",
        "bash scripts/build-guest.sh",
    ] {
        assert!(msg.contains(needle), "{needle:?} missing from: {msg}");
    }
}

#[test]
fn guest_that_is_not_executable_or_not_elf_is_skipped_with_the_reason() {
    let t = Tree::new();
    put(&t.at("prefix/lib/boxlite-guest"), b"#!/bin/sh\n");
    let not_exec = t.at("app/bin/boxlite-guest");
    put(&not_exec, &elf64(None));
    std::fs::set_permissions(&not_exec, std::fs::Permissions::from_mode(0o644)).unwrap();
    let msg = t.find(Helper::Guest).unwrap_err().to_string();
    assert!(msg.contains("is not an ELF file, not a statically linked executable"), "{msg}");
    assert!(msg.contains(&format!("{} is not executable", not_exec.display())), "{msg}");
}

#[test]
fn explicit_guest_is_used_or_refused_never_searched_around() {
    let t = Tree::new();
    put(&t.at("prefix/lib/boxlite-guest"), &elf64(None));
    let mine = t.at("mine/boxlite-guest");
    put(&mine, &elf64(None));
    let named = |p: &Path| Some((p.to_path_buf(), "$BOXLITE_GUEST".to_string()));
    assert_eq!(find(Helper::Guest, named(&mine), &t.places, None).unwrap(), mine);

    put(&mine, &elf64(Some(LOADER)));
    let err = find(Helper::Guest, named(&mine), &t.places, None).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    let msg = err.to_string();
    assert!(msg.contains(&format!("{} (from $BOXLITE_GUEST) is dynamically", mine.display())));
    assert!(msg.contains("scripts/build-guest.sh"), "{msg}");

    let missing = t.at("nowhere/boxlite-guest");
    let err = find(Helper::Guest, named(&missing), &t.places, None).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);
    assert!(err.to_string().contains("does not exist"), "{err}");
}

#[test]
fn dev_tree_static_guest_is_found_from_a_cargo_built_cli() {
    for profile_dir in ["target/debug", "target/x86_64-unknown-linux-gnu/debug"] {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        put(&root.join("target/CACHEDIR.TAG"), b"Signature: 8a477f597d28d172789f06886806bc55");
        // What plain `cargo build` leaves next to the CLI: a dynamically linked guest.
        put(&root.join(profile_dir).join("boxlite-guest"), &elf64(Some(LOADER)));
        let places = Places {
            library_dir: Some(root.join(profile_dir)),
            exe_dir: Some(root.join(profile_dir)),
            path_dirs: vec![],
        };
        let triple = format!("{}-unknown-linux-gnu", std::env::consts::ARCH);
        let dev = root.join("target/guest").join(triple).join("guest/boxlite-guest");
        let err = find(Helper::Guest, None, &places, None).unwrap_err();
        assert!(err.to_string().contains("is dynamically linked"), "{profile_dir}: {err}");
        put(&dev, &elf64(None));
        assert_eq!(find(Helper::Guest, None, &places, None).unwrap(), dev, "{profile_dir}");
    }
}

#[test]
fn installed_tree_without_cargo_marker_never_looks_for_a_dev_guest() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let triple = format!("{}-unknown-linux-gnu", std::env::consts::ARCH);
    put(&root.join("guest").join(&triple).join("guest/boxlite-guest"), &elf64(None));
    let places = Places { library_dir: Some(root.join("bin")), exe_dir: None, path_dirs: vec![] };
    assert_eq!(candidates(Helper::Guest, &places, None).len(), 2);
}

#[test]
fn core_linked_into_an_executable_reports_the_executable_as_its_file() {
    // Unit tests link core statically, as the CLI does: the loaded file is the executable,
    // whatever argv[0] was.
    let places = Places::of_this_process();
    let exe = std::env::current_exe().unwrap();
    assert_eq!(places.library_dir.as_deref(), exe.parent());
    assert!(places.path_dirs.iter().all(|d| d.is_absolute()));
}
