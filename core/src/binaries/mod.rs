//! Finding the helper binaries: `boxlite-shim` (host side) and `boxlite-guest` (static agent).
//! The library is loaded by Python, Node or C programs, so "next to the current executable"
//! is only one of the places to look.

use std::path::{Path, PathBuf};

use crate::error::{Error, ErrorKind, Result};

pub(crate) const SHIM_ENV: &str = "BOXLITE_SHIM";
pub(crate) const GUEST_ENV: &str = "BOXLITE_GUEST";

/// Option, then `$BOXLITE_SHIM`, then next to the running executable, then `$PATH`.
pub(crate) fn find_shim(option: Option<&Path>) -> Result<PathBuf> {
    find("boxlite-shim", SHIM_ENV, option, None)
}

/// Option, then `$BOXLITE_GUEST`, then next to the shim, then next to the executable, then
/// `$PATH`.
pub(crate) fn find_guest(option: Option<&Path>, shim: &Path) -> Result<PathBuf> {
    find("boxlite-guest", GUEST_ENV, option, shim.parent())
}

fn find(name: &str, env: &str, option: Option<&Path>, beside: Option<&Path>) -> Result<PathBuf> {
    let explicit = option
        .map(Path::to_path_buf)
        .or_else(|| std::env::var_os(env).filter(|v| !v.is_empty()).map(PathBuf::from));
    if let Some(path) = explicit {
        return if is_executable(&path) {
            Ok(path)
        } else {
            Err(Error::new(
                ErrorKind::NotFound,
                format!("{name} at {} is missing or not executable", path.display()),
            ))
        };
    }
    let exe_dir = std::env::current_exe().ok().and_then(|e| e.parent().map(Path::to_path_buf));
    let path_dirs = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default();
    beside
        .map(Path::to_path_buf)
        .into_iter()
        .chain(exe_dir)
        .chain(path_dirs)
        .map(|dir| dir.join(name))
        .find(|candidate| is_executable(candidate))
        .ok_or_else(|| {
            Error::new(
                ErrorKind::NotFound,
                format!(
                    "{name} not found: set {env}, or put it next to the program or on PATH \
                     (make build-binaries builds it)"
                ),
            )
        })
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata().is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}
