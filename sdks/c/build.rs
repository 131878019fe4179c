//! Generates `include/boxlite.h` from the crate's `extern "C"` items with cbindgen, so the
//! committed header can never silently drift from the library (CI fails on `git diff`), and
//! gives the shared object its soname.

use std::error::Error;
use std::path::PathBuf;

fn main() -> Result<(), Box<dyn Error>> {
    let crate_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?);
    let header = crate_dir.join("../../include/boxlite.h");
    let config = cbindgen::Config::from_file(crate_dir.join("cbindgen.toml"))?;

    // `with_src` parses lib.rs and follows its `mod` items; unlike `with_crate` it does not run
    // `cargo metadata` from inside a build that already holds cargo's locks.
    cbindgen::Builder::new()
        .with_config(config)
        .with_src(crate_dir.join("src/lib.rs"))
        .generate()?
        // Writes only when the text changed, so an unchanged header keeps its mtime.
        .write_to_file(&header);

    println!("cargo:rerun-if-changed=src");
    println!("cargo:rerun-if-changed=cbindgen.toml");
    // A hand-edited or deleted header is regenerated on the next build instead of surviving
    // until a clean build.
    println!("cargo:rerun-if-changed={}", header.display());
    // Consumers link with -lboxlite and load libboxlite.so whatever versioned file name a
    // package gives it.
    println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libboxlite.so");
    Ok(())
}
