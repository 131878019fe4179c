//! Finding the helper binaries: `boxlite-shim` (host side, one per box) and the static
//! `boxlite-guest` (PID 1 in every box). The library is loaded by Python, Node and C programs,
//! whose executable is `python`, `node` or `a.out`, so the search starts from the file this
//! code is linked into. The order and the install layout are in docs/architecture.md,
//! "Helper discovery and install layout".

mod elf;
#[cfg(test)]
mod tests;

use std::ffi::{c_void, CStr, OsStr};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use crate::error::{Error, ErrorKind, Result};
use elf::Linkage;

pub(crate) const SHIM_ENV: &str = "BOXLITE_SHIM";
pub(crate) const GUEST_ENV: &str = "BOXLITE_GUEST";

/// Where `make install` puts the helpers, relative to the prefix that holds `lib/` and `bin/`.
const LIBEXEC: &str = "libexec/boxlite";

/// The helper binaries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Helper {
    Shim,
    Guest,
}

/// What a look at one path found.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Check {
    Usable,
    Missing,
    /// There is a file, and this says why it cannot serve.
    Unusable(String),
}

impl Helper {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Helper::Shim => "boxlite-shim",
            Helper::Guest => "boxlite-guest",
        }
    }

    fn env(self) -> &'static str {
        match self {
            Helper::Shim => SHIM_ENV,
            Helper::Guest => GUEST_ENV,
        }
    }

    fn option(self) -> &'static str {
        match self {
            Helper::Shim => "the shim_path option",
            Helper::Guest => "the guest_path option",
        }
    }

    /// What the user can do about a missing or unusable helper.
    fn remedy(self) -> &'static str {
        match self {
            Helper::Shim => {
                "build it (`make build`, or `cargo build -p boxlite-shim`), install boxlite \
                 (`pip install .`, `npm pack`, `make install`), or set BOXLITE_SHIM"
            }
            Helper::Guest => {
                "build the static guest (`make build`, or `bash scripts/build-guest.sh`, which \
                 writes target/guest/x86_64-unknown-linux-gnu/guest/boxlite-guest), install \
                 boxlite (`pip install .`, `npm pack`, `make install`), or set BOXLITE_GUEST"
            }
        }
    }

    /// Can the file at `path` serve as this helper?
    pub(crate) fn check(self, path: &Path) -> Check {
        use std::os::unix::fs::PermissionsExt;
        let meta = match path.metadata() {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Check::Missing,
            Err(e) => return Check::Unusable(format!("cannot be read ({e})")),
        };
        if !meta.is_file() {
            return Check::Unusable("is not a regular file".into());
        }
        if meta.permissions().mode() & 0o111 == 0 {
            return Check::Unusable("is not executable".into());
        }
        if self == Helper::Shim {
            return Check::Usable;
        }
        match elf::linkage(path) {
            Ok(Linkage::Static) => Check::Usable,
            Ok(Linkage::Dynamic { interpreter }) => Check::Unusable(format!(
                "is dynamically linked (it needs the loader {interpreter}), but the guest runs \
                 as PID 1 inside the box's image, which may have no such loader: it must be \
                 statically linked"
            )),
            Ok(Linkage::NotElf(what)) => {
                Check::Unusable(format!("is {what}, not a statically linked executable"))
            }
            Err(e) => Check::Unusable(format!("cannot be read ({e})")),
        }
    }
}

/// Where a search looks. [`Places::of_this_process`] gathers them; tests make up their own.
#[derive(Clone, Debug, Default)]
pub(crate) struct Places {
    /// The directory of the file this code is linked into: the Python extension, the Node
    /// addon, `libboxlite.so`, or the executable itself (the CLI).
    pub(crate) library_dir: Option<PathBuf>,
    /// The directory of the running executable.
    pub(crate) exe_dir: Option<PathBuf>,
    /// The absolute entries of `$PATH`, in order.
    pub(crate) path_dirs: Vec<PathBuf>,
}

impl Places {
    pub(crate) fn of_this_process() -> Places {
        let parent = |p: PathBuf| p.parent().map(Path::to_path_buf);
        // A relative PATH entry (or an empty one, meaning ".") would make the helper that runs
        // depend on the caller's working directory.
        let path_dirs = std::env::var_os("PATH")
            .map(|p| std::env::split_paths(&p).filter(|d| d.is_absolute()).collect())
            .unwrap_or_default();
        Places {
            library_dir: loaded_file().and_then(parent),
            exe_dir: std::env::current_exe().ok().and_then(parent),
            path_dirs,
        }
    }
}

/// One place a search looks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Candidate {
    pub(crate) path: PathBuf,
    pub(crate) on_path: bool,
}

/// Option, then `$BOXLITE_SHIM`, then the search of [`candidates`].
pub(crate) fn find_shim(option: Option<&Path>) -> Result<PathBuf> {
    let helper = Helper::Shim;
    find(helper, explicit(helper, option), &Places::of_this_process(), None)
}

/// Option, then `$BOXLITE_GUEST`, then the search of [`candidates`], which also looks next to
/// `shim`. Only a statically linked guest is accepted.
pub(crate) fn find_guest(option: Option<&Path>, shim: &Path) -> Result<PathBuf> {
    let helper = Helper::Guest;
    find(helper, explicit(helper, option), &Places::of_this_process(), shim.parent())
}

/// The path named by the option or the environment, with where it came from.
fn explicit(helper: Helper, option: Option<&Path>) -> Option<(PathBuf, String)> {
    if let Some(path) = option {
        return Some((path.to_path_buf(), helper.option().to_string()));
    }
    std::env::var_os(helper.env())
        .filter(|v| !v.is_empty())
        .map(|v| (PathBuf::from(v), format!("${}", helper.env())))
}

/// An explicitly named helper is used or refused, never searched around: a user who set it
/// wants that file. Otherwise the first usable candidate wins; unusable ones are skipped and
/// named in the error when none is usable.
pub(crate) fn find(
    helper: Helper,
    explicit: Option<(PathBuf, String)>,
    places: &Places,
    beside_shim: Option<&Path>,
) -> Result<PathBuf> {
    let name = helper.name();
    if let Some((path, source)) = explicit {
        let (kind, why) = match helper.check(&path) {
            Check::Usable => return Ok(path),
            Check::Missing => (ErrorKind::NotFound, "does not exist".to_string()),
            Check::Unusable(why) => (ErrorKind::InvalidArgument, why),
        };
        return Err(Error::new(
            kind,
            format!("{name} at {} (from {source}) {why}; {}", path.display(), helper.remedy()),
        ));
    }
    let candidates = candidates(helper, places, beside_shim);
    let mut skipped = Vec::new();
    for c in &candidates {
        match helper.check(&c.path) {
            Check::Usable => return Ok(c.path.clone()),
            Check::Missing => {}
            Check::Unusable(why) => skipped.push(format!("{} {why}", c.path.display())),
        }
    }
    let mut dirs: Vec<String> = Vec::new();
    for c in candidates.iter().filter(|c| !c.on_path) {
        let dir = c.path.parent().unwrap_or(Path::new("/")).display().to_string();
        if !dirs.contains(&dir) {
            dirs.push(dir);
        }
    }
    let looked = if dirs.is_empty() {
        "on PATH".to_string()
    } else {
        format!("in {} and on PATH", dirs.join(", "))
    };
    let message = if skipped.is_empty() {
        format!("{name} not found (looked {looked}); {}", helper.remedy())
    } else {
        format!("no usable {name} (looked {looked}): {}; {}", skipped.join("; "), helper.remedy())
    };
    Err(Error::new(ErrorKind::NotFound, message))
}

/// The search order, first match wins: for the library's directory, then the executable's,
/// each `DIR/NAME`, then `DIR/../libexec/boxlite/NAME` (the `make install` layout), then, for
/// the guest only, a dev tree's static guest; then the guest next to the shim; then `$PATH`.
pub(crate) fn candidates(
    helper: Helper,
    places: &Places,
    beside_shim: Option<&Path>,
) -> Vec<Candidate> {
    let name = helper.name();
    let mut fixed = Vec::new();
    for base in places.library_dir.iter().chain(&places.exe_dir) {
        fixed.push(base.join(name));
        if let Some(prefix) = base.parent() {
            fixed.push(prefix.join(LIBEXEC).join(name));
        }
        if helper == Helper::Guest {
            fixed.extend(dev_tree_guest(base));
        }
    }
    if helper == Helper::Guest {
        fixed.extend(beside_shim.map(|dir| dir.join(name)));
    }
    let mut out: Vec<Candidate> = Vec::new();
    let all = fixed
        .into_iter()
        .map(|path| Candidate { path, on_path: false })
        .chain(places.path_dirs.iter().map(|d| Candidate { path: d.join(name), on_path: true }));
    for c in all {
        if !out.iter().any(|o| o.path == c.path) {
            out.push(c);
        }
    }
    out
}

/// In a source checkout, `cargo build` puts the CLI in `target/debug/` (or
/// `target/<triple>/debug/`) next to a dynamically linked guest, while scripts/build-guest.sh
/// writes the static one to `target/guest/<triple>/guest/`. A cargo target directory is known
/// by the `CACHEDIR.TAG` cargo writes at its root, so an installed program never looks here.
fn dev_tree_guest(base: &Path) -> Option<PathBuf> {
    let triple = format!("{}-unknown-linux-gnu", std::env::consts::ARCH);
    base.ancestors()
        .skip(1)
        .take(2)
        .find(|dir| dir.join("CACHEDIR.TAG").is_file() && dir.join("guest").is_dir())
        .map(|target| target.join("guest").join(triple).join("guest").join("boxlite-guest"))
}

/// The file this code is linked into: a shared object (the Python extension, the Node addon,
/// `libboxlite.so`) or, when core is linked statically, the executable.
fn loaded_file() -> Option<PathBuf> {
    let here = loaded_file as fn() -> Option<PathBuf> as *const c_void;
    // SAFETY: dladdr only reads the loader's tables and fills the struct it is given.
    let mut info: libc::Dl_info = unsafe { std::mem::zeroed() };
    if unsafe { libc::dladdr(here, &mut info) } == 0 || info.dli_fname.is_null() {
        return None;
    }
    // For the main program the loader reports argv[0], which may be relative or a bare name:
    // recognise the executable by its load base (that of its entry point) and ask the kernel.
    // SAFETY: getauxval has no preconditions; dladdr as above.
    let entry = unsafe { libc::getauxval(libc::AT_ENTRY) } as *const c_void;
    let mut exe: libc::Dl_info = unsafe { std::mem::zeroed() };
    if !entry.is_null()
        && unsafe { libc::dladdr(entry, &mut exe) } != 0
        && exe.dli_fbase == info.dli_fbase
    {
        return std::env::current_exe().ok();
    }
    // SAFETY: dladdr returned a NUL-terminated name owned by the loader, alive while the
    // object stays loaded (it is: this code is in it).
    let name = unsafe { CStr::from_ptr(info.dli_fname) };
    let path = PathBuf::from(OsStr::from_bytes(name.to_bytes()));
    // Symlinks resolved: a library linked into another directory keeps its helpers where it
    // was installed.
    Some(path.canonicalize().unwrap_or(path))
}
