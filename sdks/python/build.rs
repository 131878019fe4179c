//! Builds the helper binaries, `boxlite-shim` and the static `boxlite-guest`, and puts them in
//! the Python package next to the native module, where core's helper discovery finds them
//! (docs/architecture.md, "Helper discovery and install layout"). maturin builds only this
//! crate: without this step a wheel would hold a module that cannot start a box.
//!
//! The helpers come from their own cargo invocation (scripts/build-helpers.sh), never from
//! this one: the guest needs `+crt-static`, which must not reach this cdylib.

use std::path::PathBuf;
use std::process::Command;

const HELPERS: [&str; 2] = ["boxlite-shim", "boxlite-guest"];

fn main() {
    let manifest = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("run by cargo"));
    let root = manifest.join("../..");
    let package = manifest.join("python/boxlite");
    for input in ["guest", "shim", "protocol", "Cargo.lock", "Cargo.toml"] {
        println!("cargo:rerun-if-changed={}", root.join(input).display());
    }
    for script in ["build-helpers.sh", "build-guest.sh"] {
        println!("cargo:rerun-if-changed={}", root.join("scripts").join(script).display());
    }
    // A deleted copy is put back. The script copies with `cp -p`, so a copy made during this
    // run keeps the binary's older mtime and does not count as a change next time.
    for helper in HELPERS {
        println!("cargo:rerun-if-changed={}", package.join(helper).display());
    }
    let script = root.join("scripts/build-helpers.sh");
    // Its stdout goes to our stderr: a build script's stdout is read by cargo as directives.
    let status = Command::new("bash")
        .arg(&script)
        .arg(&package)
        .stdout(std::process::Stdio::from(std::io::stderr()))
        .status();
    match status {
        Ok(s) if s.success() => {}
        Ok(s) => {
            panic!("{} {} failed ({s}); its output is above", script.display(), package.display())
        }
        Err(e) => panic!("cannot run bash {}: {e}", script.display()),
    }
}
