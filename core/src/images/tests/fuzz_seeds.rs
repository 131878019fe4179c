//! Seeds of the `apply_layer` fuzz target (fuzz/corpus/apply_layer/): real layers of every
//! entry kind and encoding the applier reads, built with [`builder`](super::builder). Every
//! seed must apply through the fuzz entry point, so the fuzzer starts from layers that reach
//! deep into the applier rather than from refusals. With `BOXLITE_FUZZ_SEEDS=DIR` the seeds
//! are also written to `DIR` (how the committed ones were made, before `cargo fuzz cmin`).

use tar::EntryType;

use super::builder::Layer;
use super::oracle::{borrowed, regions};

/// The longest input of the fuzz target (`-max_len` in scripts/fuzz.sh): 8 tar blocks, with
/// the 2 end-of-archive blocks. Small inputs keep the kept corpus small and the runs fast.
const MAX_SEED_BYTES: usize = 4096;

fn seeds() -> Vec<(&'static str, Vec<u8>)> {
    let long = "l".repeat(120);
    let many = regions(&[0, 4096, 8192, 12288, 16384, 20480], 100);
    let few = regions(&[512, 8192], 100);
    vec![
        (
            "tree",
            Layer::new()
                .dir("etc", 0o755)
                .file("etc/passwd", "root:x:0:0:root:/root:/bin/sh\n", 0o644)
                .symlink("bin/sh", "busybox")
                .hardlink("bin/passwd", "etc/passwd")
                .fifo("run/fifo", 0o600)
                .tar(),
        ),
        (
            "owned",
            Layer::new()
                .dir("./", 0o755)
                .dir_owned("home/user", 0o750, (1000, 1000))
                .file_owned("home/user/.profile", "PS1='$ '\n", 0o640, (1000, 1000))
                .tar(),
        ),
        (
            "whiteouts",
            Layer::new()
                .file("a/x", "x", 0o644)
                .whiteout("a/x")
                .opaque("b")
                .whiteout("gone")
                .file(".wh..wh.plnk", "", 0o644)
                .tar(),
        ),
        (
            "opaque",
            Layer::new().file("b/lower", "l", 0o644).opaque("b").file("b/kept", "k", 0o644).tar(),
        ),
        (
            "symlinks-absolute",
            Layer::new()
                .symlink("abs", "/etc")
                .file("abs/through-abs", "in root", 0o644)
                .hardlink("linked-symlink", "abs")
                .symlink("self", "self")
                .tar(),
        ),
        (
            "symlinks-dangling",
            Layer::new()
                .symlink("dangling", "missing/dir")
                .file("dangling/created", "in root", 0o644)
                .symlink("up", "../../..")
                .file("up/x", "in root", 0o644)
                .tar(),
        ),
        (
            "pax-xattrs",
            Layer::new()
                .xattr("user.mime_type", b"text/plain")
                .xattr("trusted.overlay.opaque", b"y")
                .xattr("security.selinux", b"system_u:object_r:bin_t:s0")
                .pax(&[("mtime", b"1600000000.5"), ("uid", b"4294967294"), ("uname", b"x")])
                .file("xattrs", "", 0o644)
                .symlink(&format!("{long}-link"), &format!("{long}/{long}"))
                .tar(),
        ),
        (
            "pax-long",
            Layer::new()
                .file(&format!("{long}/{long}/file"), "pax", 0o644)
                .at(0)
                .dir("epoch", 0o700)
                .tar(),
        ),
        (
            "gnu-long-name",
            Layer::new()
                .gnu_long(EntryType::GNULongName, format!("{long}/{long}/gnu").as_bytes())
                .file("short", "gnu long name", 0o644)
                .tar(),
        ),
        (
            "gnu-long-link",
            Layer::new()
                .gnu_long(EntryType::GNULongName, format!("{long}/gnu-link").as_bytes())
                .gnu_long(EntryType::GNULongLink, long.as_bytes())
                .symlink("short-link", "short")
                .tar(),
        ),
        (
            "gnu-sparse",
            Layer::new()
                .gnu_sparse("many", 32768, &borrowed(&many), 0o644)
                .gnu_sparse("few", 16384, &borrowed(&few), 0o600)
                .tar(),
        ),
        (
            "pax-sparse-0.0",
            Layer::new().pax_sparse("0.0", "s", 16384, &borrowed(&few), 0o644).tar(),
        ),
        (
            "pax-sparse-0.1",
            Layer::new().pax_sparse("0.1", "s", 16384, &borrowed(&few), 0o644).tar(),
        ),
        (
            "pax-sparse-1.0",
            Layer::new().pax_sparse("1.0", "s", 32768, &borrowed(&many), 0o755).tar(),
        ),
        (
            "devices",
            Layer::new()
                .typeflag(b'3', b"dev/tty", 0o666, b"")
                .typeflag(b'4', b"dev/sda", 0o660, b"")
                .typeflag(0, b"nul-typeflag", 0o644, b"old tar")
                .typeflag(b'7', b"contiguous", 0o644, b"contiguous")
                .tar(),
        ),
    ]
}

#[test]
fn fuzz_seed_layers_apply() {
    let out = std::env::var_os("BOXLITE_FUZZ_SEEDS").map(std::path::PathBuf::from);
    for (name, tar) in seeds() {
        assert!(tar.len() <= MAX_SEED_BYTES, "seed {name}: {} bytes", tar.len());
        crate::fuzzing::apply_layer(&tar).unwrap_or_else(|e| panic!("seed {name}: {e}"));
        if let Some(dir) = &out {
            std::fs::write(dir.join(format!("seed-{name}.tar")), &tar).unwrap();
        }
    }
}
