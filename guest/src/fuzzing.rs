//! Entry point of the `cargo fuzz` target `exec_request` (fuzz/). Not part of any API.
//!
//! One input is an exec request, the box config it meets, and a small hostile box root (user
//! databases, files, symbolic links, FIFOs, directories) that the target builds in a scratch
//! directory and plans the request against with [`plan_in`], the production planner. What must
//! hold whatever the bytes are: no panic, an answer within [`PLAN_TIMEOUT`], nothing taken from
//! outside the root (a sibling directory `outside` holds marked databases and programs that a
//! lookup which escaped would find), and an environment error only for an environment the
//! request or the config really got wrong. The tests below replay `fuzz/corpus/exec_request/`
//! through the same function in every `cargo test`.
//!
//! The input is text, one directive a line, so that seeds can be written by hand; in each
//! argument `\n`, `\t`, `\0`, `\\` and `\xHH` stand for those bytes:
//!
//! | directive               | what it does                                          |
//! |-------------------------|-------------------------------------------------------|
//! | `arg S`                 | appends to the request's argv                         |
//! | `env N=V`, `boxenv N=V` | the request's / the box's environment                 |
//! | `user S`, `boxuser S`   | the request's / the box's user                        |
//! | `cwd S`, `boxcwd S`     | the request's / the box's working directory           |
//! | `tty ROWS COLS`         | asks for a terminal of that size                      |
//! | `passwd L`, `group L`   | appends line `L` to the root's `etc/passwd` / `etc/group` |
//! | `file MODE PATH DATA`   | a regular file (MODE in octal)                        |
//! | `big PATH SIZE`         | a sparse regular file of SIZE bytes (at most 8 MiB)   |
//! | `dir MODE PATH`         | a directory                                           |
//! | `link PATH TARGET`      | a symbolic link                                       |
//! | `fifo PATH`             | a FIFO                                                |

use std::ffi::CString;
use std::fs;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use boxlite_protocol::launch::GuestConfig;
use tonic::Status;

use crate::plan::{plan_in, PlanError, Request, PLAN_TIMEOUT};
use crate::pty::WindowSize;
use crate::root::BoxRoot;

/// What only the `outside` directory holds. An input that names them itself is still planned,
/// but cannot be told from an escape, so the containment checks skip it.
const MARKERS: [&str; 2] = ["escape", "31337"];
const OUTSIDE_ID: u32 = 31337;
const OUTSIDE_HOME: &str = "/escaped-home";
/// Most entries one input builds: enough for links that meet each other.
const MAX_ENTRIES: usize = 64;
/// Largest sparse file: past the user databases' bound, cheap as it is sparse.
const MAX_BIG: u64 = 8 << 20;

/// Plans the exec request that `input` describes against the root it describes. `Err` is the
/// planner's refusal (a fine outcome); panics are findings.
pub fn exec_request(input: &[u8]) -> Result<(), String> {
    let spec = Spec::parse(input);
    let scratch = Scratch::new().map_err(|e| format!("scratch directory: {e}"))?;
    let root_dir = scratch.path.join("root");
    let outside = scratch.path.join("outside");
    build_outside(&outside).map_err(|e| format!("building {}: {e}", outside.display()))?;
    fs::create_dir(&root_dir).map_err(|e| format!("creating {}: {e}", root_dir.display()))?;
    spec.build(&root_dir);
    let root = BoxRoot::open(&root_dir).map_err(|e| format!("opening the root: {e}"))?;

    let tty = match spec.tty {
        // As the exec handler does before planning.
        Some((rows, cols)) => Some(WindowSize::initial(rows, cols).ok_or("terminal too large")?),
        None => None,
    };
    let request = Request {
        argv: spec.argv.clone(),
        env: spec.env.clone(),
        working_dir: spec.cwd.clone(),
        user: spec.user.clone(),
        stdin: false,
        tty,
    };
    let started = Instant::now();
    let result = plan_in(&root, &spec.config, request);
    let took = started.elapsed();
    assert!(took < PLAN_TIMEOUT, "planning took {took:?}, past the agent's {PLAN_TIMEOUT:?}");

    let contained = !MARKERS.iter().any(|m| contains(input, m.as_bytes()));
    match result {
        Ok(plan) => {
            let env: Vec<&[u8]> = plan.env.iter().map(|e| e.as_bytes()).collect();
            for name in ["PATH=", "HOME="] {
                assert!(env.iter().any(|e| e.starts_with(name.as_bytes())), "no {name} in {env:?}");
            }
            let cwd = Path::new(std::ffi::OsStr::from_bytes(plan.cwd.as_bytes()));
            let program = cwd.join(std::ffi::OsStr::from_bytes(plan.program.as_bytes()));
            if contained {
                if let Some(c) = &plan.credentials {
                    let ids = [c.uid, c.gid].into_iter().chain(c.groups.iter().copied());
                    assert!(!ids.into_iter().any(|id| id == OUTSIDE_ID), "ids from outside: {c:?}");
                }
                let home = format!("HOME={OUTSIDE_HOME}");
                assert!(!env.contains(&home.as_bytes()), "HOME from outside the root");
                // A reference resolver, written apart from the planner's openat2: what the
                // plan found must be there when the root's links are followed by hand.
                let found_cwd = resolve_in(&root_dir, cwd.as_os_str().as_bytes());
                assert!(
                    found_cwd.as_ref().is_some_and(|p| p.is_dir()),
                    "working directory {cwd:?} is not a directory inside the root"
                );
                let found = resolve_in(&root_dir, program.as_os_str().as_bytes());
                assert!(
                    found.as_ref().is_some_and(|p| p.is_file()),
                    "program {program:?} is not a file inside the root"
                );
            }
            Ok(())
        }
        Err(err) => {
            if let PlanError::BadEnv(name) = &err {
                // Only the request and the config can make an environment wrong: values the
                // agent adds from the box's files (HOME) must be made valid or left out.
                let given = spec.config.env.iter().chain(&spec.env);
                assert!(
                    given.filter(|(n, _)| n == name).any(|(n, v)| !valid_env(n, v)),
                    "{err} though the request and the box set {name:?} validly or not at all"
                );
            }
            let message = err.to_string();
            let _ = Status::from(err);
            Err(message)
        }
    }
}

fn valid_env(name: &str, value: &str) -> bool {
    !(name.is_empty() || name.contains('=') || name.contains('\0') || value.contains('\0'))
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w.eq_ignore_ascii_case(needle))
}

/// What the planner would find if it escaped: marked databases and programs next to the root.
fn build_outside(outside: &Path) -> io::Result<()> {
    fs::create_dir_all(outside.join("etc"))?;
    fs::create_dir_all(outside.join("bin"))?;
    fs::create_dir_all(outside.join("escaped-dir"))?;
    let id = OUTSIDE_ID;
    fs::write(outside.join("etc/passwd"), format!("escapee:x:{id}:{id}::{OUTSIDE_HOME}:/x\n"))?;
    fs::write(outside.join("etc/group"), format!("escapees:x:{id}:escapee\n"))?;
    for name in ["escapee-tool", "sh", "tool"] {
        let path = outside.join("bin").join(name);
        fs::write(&path, "#!/bin/sh\n")?;
        fs::set_permissions(&path, fs::Permissions::from_mode(0o755))?;
    }
    Ok(())
}

/// Resolves `path` inside `root` component by component, as the box would see it: `..`
/// stops at the root, absolute link targets start again from it. Returns the host path of
/// what it names, `None` when something on the way is missing or links loop.
fn resolve_in(root: &Path, path: &[u8]) -> Option<PathBuf> {
    let mut pending: Vec<Vec<u8>> = components(path).rev().collect();
    let mut done: Vec<Vec<u8>> = Vec::new();
    let mut links = 0;
    while let Some(part) = pending.pop() {
        match part.as_slice() {
            b"." => continue,
            b".." => {
                done.pop();
                continue;
            }
            _ => {}
        }
        let mut here = root.to_owned();
        here.extend(done.iter().map(|c| std::ffi::OsStr::from_bytes(c)));
        here.push(std::ffi::OsStr::from_bytes(&part));
        let meta = fs::symlink_metadata(&here).ok()?;
        if meta.file_type().is_symlink() {
            links += 1;
            // The kernel's own bound on links in one lookup.
            if links > 40 {
                return None;
            }
            let target = fs::read_link(&here).ok()?;
            let target = target.as_os_str().as_bytes();
            if target.starts_with(b"/") {
                done.clear();
            }
            pending.extend(components(target).rev());
        } else {
            if !meta.is_dir() && !pending.is_empty() {
                return None;
            }
            done.push(part);
        }
    }
    let mut found = root.to_owned();
    found.extend(done.iter().map(|c| std::ffi::OsStr::from_bytes(c)));
    Some(found)
}

fn components(path: &[u8]) -> impl DoubleEndedIterator<Item = Vec<u8>> + '_ {
    path.split(|&b| b == b'/').filter(|c| !c.is_empty()).map(<[u8]>::to_vec)
}

/// One input, decoded.
#[derive(Default)]
struct Spec {
    argv: Vec<String>,
    env: Vec<(String, String)>,
    user: String,
    cwd: String,
    tty: Option<(u32, u32)>,
    config: GuestConfig,
    passwd: Vec<u8>,
    group: Vec<u8>,
    entries: Vec<Entry>,
}

enum Entry {
    File { mode: u32, path: Vec<u8>, data: Vec<u8> },
    Big { path: Vec<u8>, size: u64 },
    Dir { mode: u32, path: Vec<u8> },
    Link { path: Vec<u8>, target: Vec<u8> },
    Fifo { path: Vec<u8> },
}

impl Spec {
    fn parse(input: &[u8]) -> Self {
        let mut spec = Spec::default();
        for line in input.split(|&b| b == b'\n') {
            let (key, rest) = split_at_space(line);
            let text = || String::from_utf8_lossy(&unescape(rest)).into_owned();
            let pair = || {
                let (name, value) = match rest.iter().position(|&b| b == b'=') {
                    Some(i) => (&rest[..i], &rest[i + 1..]),
                    None => (rest, &b""[..]),
                };
                let s = |b: &[u8]| String::from_utf8_lossy(&unescape(b)).into_owned();
                (s(name), s(value))
            };
            match key {
                b"arg" => spec.argv.push(text()),
                b"env" => spec.env.push(pair()),
                b"boxenv" => spec.config.env.push(pair()),
                b"user" => spec.user = text(),
                b"boxuser" => spec.config.user = text(),
                b"cwd" => spec.cwd = text(),
                b"boxcwd" => spec.config.working_dir = text(),
                b"tty" => {
                    let (rows, cols) = split_at_space(rest);
                    spec.tty = Some((number(rows, 10).unwrap_or(0), number(cols, 10).unwrap_or(0)));
                }
                b"passwd" => line_into(&mut spec.passwd, rest),
                b"group" => line_into(&mut spec.group, rest),
                _ if spec.entries.len() >= MAX_ENTRIES => {}
                b"file" => {
                    let (mode, rest) = split_at_space(rest);
                    let (path, data) = split_at_space(rest);
                    let mode = number(mode, 8).unwrap_or(0o644);
                    spec.entries.push(Entry::File {
                        mode,
                        path: unescape(path),
                        data: unescape(data),
                    });
                }
                b"big" => {
                    let (path, size) = split_at_space(rest);
                    let size = number(size, 10).map_or(0, u64::from).min(MAX_BIG);
                    spec.entries.push(Entry::Big { path: unescape(path), size });
                }
                b"dir" => {
                    let (mode, path) = split_at_space(rest);
                    let mode = number(mode, 8).unwrap_or(0o755);
                    spec.entries.push(Entry::Dir { mode, path: unescape(path) });
                }
                b"link" => {
                    let (path, target) = split_at_space(rest);
                    spec.entries
                        .push(Entry::Link { path: unescape(path), target: unescape(target) });
                }
                b"fifo" => spec.entries.push(Entry::Fifo { path: unescape(rest) }),
                _ => {}
            }
        }
        spec
    }

    /// Builds the entries under `root`, then the databases where no entry took their place.
    /// Building never follows a link and never leaves `root`: an entry whose path does not fit
    /// (`..`, a parent that is not a directory, a name already taken) is left out.
    fn build(&self, root: &Path) {
        for entry in &self.entries {
            let _ = build_entry(root, entry);
        }
        let databases: [(&[u8], &Vec<u8>); 2] =
            [(b"etc/passwd", &self.passwd), (b"etc/group", &self.group)];
        for (path, data) in databases {
            if !data.is_empty() {
                let file = Entry::File { mode: 0o644, path: path.to_vec(), data: data.clone() };
                let _ = build_entry(root, &file);
            }
        }
    }
}

fn build_entry(root: &Path, entry: &Entry) -> io::Result<()> {
    let path = match entry {
        Entry::File { path, .. }
        | Entry::Big { path, .. }
        | Entry::Dir { path, .. }
        | Entry::Link { path, .. }
        | Entry::Fifo { path } => path,
    };
    let parts: Vec<Vec<u8>> = components(path).filter(|c| c != b".").collect();
    let refused = || io::Error::from(io::ErrorKind::InvalidInput);
    let (leaf, parents) = parts.split_last().ok_or_else(refused)?;
    if parts.iter().any(|c| c == b".." || c.contains(&0) || contains(c, b"escape")) {
        return Err(refused());
    }
    let mut dir = root.to_owned();
    for part in parents {
        dir.push(std::ffi::OsStr::from_bytes(part));
        match fs::symlink_metadata(&dir) {
            Ok(meta) if meta.is_dir() => {}
            Ok(_) => return Err(refused()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => fs::create_dir(&dir)?,
            Err(e) => return Err(e),
        }
    }
    let at = dir.join(std::ffi::OsStr::from_bytes(leaf));
    let new_file = |mode: u32| {
        fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode & 0o7777)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&at)
    };
    match entry {
        Entry::File { mode, data, .. } => {
            use std::io::Write;
            new_file(*mode)?.write_all(data)?;
            // The mode is what the entry says, not what the umask left of it.
            fs::set_permissions(&at, fs::Permissions::from_mode(mode & 0o7777))
        }
        Entry::Big { size, .. } => new_file(0o644)?.set_len(*size),
        Entry::Dir { mode, .. } => {
            fs::create_dir(&at)?;
            fs::set_permissions(&at, fs::Permissions::from_mode(mode & 0o7777))
        }
        Entry::Link { target, .. } => {
            std::os::unix::fs::symlink(std::ffi::OsStr::from_bytes(target), &at)
        }
        Entry::Fifo { .. } => {
            let c_path = CString::new(at.as_os_str().as_bytes()).map_err(|_| refused())?;
            // SAFETY: a valid NUL-terminated path.
            match unsafe { libc::mkfifo(c_path.as_ptr(), 0o644) } {
                0 => Ok(()),
                _ => Err(io::Error::last_os_error()),
            }
        }
    }
}

fn split_at_space(bytes: &[u8]) -> (&[u8], &[u8]) {
    match bytes.iter().position(|&b| b == b' ') {
        Some(i) => (&bytes[..i], &bytes[i + 1..]),
        None => (bytes, &[]),
    }
}

fn line_into(file: &mut Vec<u8>, line: &[u8]) {
    file.extend_from_slice(&unescape(line));
    file.push(b'\n');
}

fn number(bytes: &[u8], radix: u32) -> Option<u32> {
    u32::from_str_radix(std::str::from_utf8(bytes).ok()?, radix).ok()
}

/// `\n`, `\t`, `\0`, `\\` and `\xHH`; any other backslash stands for itself.
fn unescape(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        i += 1;
        if b != b'\\' || i == bytes.len() {
            out.push(b);
            continue;
        }
        let escaped = match bytes[i] {
            b'n' => Some(b'\n'),
            b't' => Some(b'\t'),
            b'0' => Some(0),
            b'\\' => Some(b'\\'),
            b'x' => bytes
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .inspect(|_| i += 2),
            _ => None,
        };
        match escaped {
            Some(byte) => {
                out.push(byte);
                i += 1;
            }
            None => out.push(b'\\'),
        }
    }
    out
}

/// A directory of its own in the temporary directory ($TMPDIR), removed on drop.
struct Scratch {
    path: PathBuf,
}

impl Scratch {
    fn new() -> io::Result<Self> {
        static SEQ: AtomicU64 = AtomicU64::new(0);
        let base = std::env::temp_dir();
        // A name taken by a leftover of an earlier process is skipped, boundedly.
        for _ in 0..100 {
            let seq = SEQ.fetch_add(1, Ordering::Relaxed);
            let path = base.join(format!("boxlite-fuzz-exec-{}-{seq}", std::process::id()));
            match fs::create_dir(&path) {
                Ok(()) => return Ok(Scratch { path }),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(e),
            }
        }
        Err(io::Error::from(io::ErrorKind::AlreadyExists))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        // An input may leave directories without write or search permission: open them up
        // first, so the tree can be removed by a caller that is not root too.
        open_up(&self.path);
        let _ = fs::remove_dir_all(&self.path);
    }
}

fn open_up(dir: &Path) {
    let _ = fs::set_permissions(dir, fs::Permissions::from_mode(0o700));
    let Ok(entries) = fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        // DirEntry::file_type does not follow symlinks.
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            open_up(&entry.path());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The committed corpus of the fuzz target, file by file, sorted.
    fn corpus() -> Vec<(PathBuf, Vec<u8>)> {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/exec_request");
        let mut files: Vec<PathBuf> = fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("corpus {}: {e}", dir.display()))
            .map(|e| e.expect("list the corpus").path())
            .collect();
        files.sort();
        assert!(!files.is_empty(), "corpus {} is empty", dir.display());
        files.into_iter().map(|p| (p.clone(), fs::read(p).expect("read an input"))).collect()
    }

    #[test]
    fn exec_request_corpus_replays() {
        let mut planned = 0;
        for (path, bytes) in corpus() {
            // A panic names no file: say which one is being replayed.
            eprintln!("replay {}", path.display());
            planned += usize::from(exec_request(&bytes).is_ok());
        }
        assert!(planned > 0, "no request of the corpus plans");
    }

    #[test]
    fn a_link_out_of_the_root_finds_nothing_outside() {
        let input = b"arg tool\nenv PATH=/b\nlink b ../outside/bin\nuser u\n\
                      link etc ../../outside/etc\n";
        let err = exec_request(input).expect_err("the root has no users");
        assert!(err.contains("unknown user"), "{err}");
        let input = b"arg tool\nenv PATH=/b\nlink b ../outside/bin\n";
        let err = exec_request(input).expect_err("the root has no tool");
        assert!(err.contains("command not found"), "{err}");
        let input =
            b"arg tool\nenv PATH=/b\nfile 755 b/tool #!/bin/sh\nuser u\npasswd u:x:5:6::/h:/x\n";
        exec_request(input).expect("the root's own tool and user");
    }

    #[test]
    fn the_reference_resolver_stays_in_the_root() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path();
        fs::create_dir_all(root.join("a/b")).expect("mkdir");
        std::os::unix::fs::symlink("../../..", root.join("a/b/up")).expect("link");
        std::os::unix::fs::symlink("/a", root.join("abs")).expect("link");
        std::os::unix::fs::symlink("loop", root.join("loop")).expect("link");
        assert_eq!(resolve_in(root, b"/a/b/up/a/b"), Some(root.join("a/b")));
        assert_eq!(resolve_in(root, b"/abs/b/../b"), Some(root.join("a/b")));
        assert_eq!(resolve_in(root, b"/../../a"), Some(root.join("a")));
        assert_eq!(resolve_in(root, b"/loop"), None);
        assert_eq!(resolve_in(root, b"/missing"), None);
    }

    #[test]
    fn escapes_are_decoded() {
        assert_eq!(unescape(br"a\nb\0\x41\\\q\x4"), b"a\nb\0A\\\\q\\x4");
    }
}
