//! Turning a request into a [`Plan`] before anything is forked: environment, user, working
//! directory and the program looked up in PATH. Every error here maps to the status code the
//! protocol promises, and no process is started.

use std::ffi::CString;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use boxlite_protocol::exec_failure;
use boxlite_protocol::launch::GuestConfig;
use boxlite_protocol::pb::ExecFailure;
use tonic::{Code, Status};

use crate::caps::{self, Privileges};
use crate::child::Stage;
use crate::pty::WindowSize;
use crate::root::BoxRoot;
use crate::spawn::{Plan, SpawnError};
use crate::users::{Credentials, Databases, UserError};

/// PATH when neither the box nor the request sets one.
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Longest a request may take to plan. Planning stats a few paths and reads bounded files, in
/// well under a millisecond; past this the box's filesystem has stopped answering, and the
/// caller gets an error instead of a call that never ends. Below the host's deadline for
/// starting an exec, so this clearer error is the one it sees.
pub const PLAN_TIMEOUT: Duration = Duration::from_secs(3);

/// What a caller asks for; empty fields fall back to the box config.
pub struct Request {
    pub argv: Vec<String>,
    pub env: Vec<(String, String)>,
    pub working_dir: String,
    pub user: String,
    pub stdin: bool,
    /// Run on a terminal of this size.
    pub tty: Option<WindowSize>,
}

/// Why a request cannot become a process.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    #[error("argv is empty")]
    EmptyArgv,
    #[error("argument {0:?} contains a NUL byte")]
    NulInArgument(String),
    #[error("invalid environment variable {0:?}")]
    BadEnv(String),
    #[error("user {spec:?}: {source}")]
    User { spec: String, source: UserError },
    #[error("working directory {path}: {reason}")]
    WorkingDir { path: String, reason: String },
    #[error("command not found: {0}")]
    NotFound(String),
    #[error("permission denied: {0}")]
    PermissionDenied(String),
    #[error("opening the box's root directory: {0}")]
    Root(String),
}

impl From<PlanError> for Status {
    fn from(err: PlanError) -> Self {
        let message = err.to_string();
        match err {
            PlanError::EmptyArgv | PlanError::NulInArgument(_) | PlanError::BadEnv(_) => {
                Status::invalid_argument(message)
            }
            // The request is fine; the box's user database is not.
            PlanError::User { source: UserError::Database(_), .. } => {
                Status::failed_precondition(message)
            }
            PlanError::User { .. } => Status::invalid_argument(message),
            PlanError::WorkingDir { .. } => {
                exec_failure::status(Code::FailedPrecondition, message, ExecFailure::BadWorkingDir)
            }
            PlanError::NotFound(_) => {
                exec_failure::status(Code::NotFound, message, ExecFailure::CommandNotFound)
            }
            PlanError::PermissionDenied(_) => {
                exec_failure::status(Code::PermissionDenied, message, ExecFailure::NotExecutable)
            }
            // The agent's own `/`: nothing the caller or the box's files did.
            PlanError::Root(_) => Status::internal(message),
        }
    }
}

/// [`plan`] on the blocking pool, bounded by [`PLAN_TIMEOUT`]: it stats and reads the box's
/// files, which the box controls, and the runtime thread that serves every other call (ping,
/// other execs, shutdown) must never wait on them.
pub async fn plan_off_thread(config: Arc<GuestConfig>, request: Request) -> Result<Plan, Status> {
    match off_thread(PLAN_TIMEOUT, move || plan(&config, request)).await {
        Ok(result) => result.map_err(Status::from),
        Err(OffThreadError::Panicked) => Err(Status::internal("planning the request panicked")),
        Err(OffThreadError::TimedOut) => Err(Status::deadline_exceeded(format!(
            "planning the request took longer than {} ms: the box's files did not answer",
            PLAN_TIMEOUT.as_millis()
        ))),
    }
}

/// Why [`off_thread`] returned no result.
#[derive(Debug, PartialEq, Eq)]
enum OffThreadError {
    Panicked,
    /// The work goes on in its thread; its result is dropped when it ends.
    TimedOut,
}

/// Runs `work` on the blocking pool and waits at most `limit` for it.
async fn off_thread<T: Send + 'static>(
    limit: Duration,
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, OffThreadError> {
    match tokio::time::timeout(limit, tokio::task::spawn_blocking(work)).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(_)) => Err(OffThreadError::Panicked),
        Err(_) => Err(OffThreadError::TimedOut),
    }
}

/// Resolves `request` against the box `config`, in the agent's own root (`/`, the box's).
/// Blocking: see [`plan_off_thread`].
pub fn plan(config: &GuestConfig, request: Request) -> Result<Plan, PlanError> {
    let root = BoxRoot::system().map_err(|e| PlanError::Root(e.to_string()))?;
    plan_in(&root, config, request)
}

/// [`plan`] against `root`: every file it looks at (user databases, working directory,
/// program) is looked up inside `root` and never outside it, symbolic links included. The
/// plan's paths are the box's own (relative to `root`), as the process will see them.
pub fn plan_in(root: &BoxRoot, config: &GuestConfig, request: Request) -> Result<Plan, PlanError> {
    let argv0 = request.argv.first().ok_or(PlanError::EmptyArgv)?;
    if argv0.is_empty() {
        return Err(PlanError::EmptyArgv);
    }
    let argv = request.argv.iter().map(|a| c_string(a)).collect::<Result<Vec<_>, _>>()?;

    let spec = if request.user.is_empty() { config.user.as_str() } else { request.user.as_str() };
    let credentials = if spec.is_empty() {
        None
    } else {
        let user_error = |source| PlanError::User { spec: spec.to_owned(), source };
        // A user named by the request or the box needs readable databases: running it with
        // guessed groups would be wrong, so a broken file is an error.
        let db = Databases::load(root).map_err(|e| user_error(e.into()))?;
        Some(db.resolve(spec).map_err(user_error)?)
    };

    let mut env = merge_env(&config.env, request.env)?;
    if !env.iter().any(|(k, _)| k == "PATH") {
        env.push(("PATH".into(), DEFAULT_PATH.into()));
    }
    if !env.iter().any(|(k, _)| k == "HOME") {
        let home = match &credentials {
            Some(creds) => creds.home.clone(),
            // Only HOME depends on the file here: a broken one must not stop the box's own
            // user from running anything, so it counts as having no entry.
            None => Databases::load(root)
                .unwrap_or_default()
                // SAFETY: geteuid cannot fail.
                .home_of(unsafe { libc::geteuid() })
                .unwrap_or_else(|| "/".into()),
        };
        env.push(("HOME".into(), home));
    }

    let cwd = working_dir(root, config, &request.working_dir)?;
    let identity = Identity::of(credentials.as_ref());
    let path_var = env.iter().find(|(k, _)| k == "PATH").map_or(DEFAULT_PATH, |(_, v)| v.as_str());
    let program = find_program(root, argv0, path_var, &cwd, &identity)?;

    let env = env
        .into_iter()
        .map(|(k, v)| CString::new(format!("{k}={v}")).map_err(|_| PlanError::BadEnv(k)))
        .collect::<Result<Vec<_>, _>>()?;
    let allowed = config.capabilities.unwrap_or(caps::DEFAULT_MASK);
    let privileges = Privileges::for_uid(identity.uid, allowed);
    Ok(Plan {
        program: c_string(&program.to_string_lossy())?,
        argv,
        env,
        cwd: c_string(&cwd.to_string_lossy())?,
        credentials,
        stdin: request.stdin,
        tty: request.tty,
        privileges,
        nofile: config.nofile,
    })
}

/// Maps a failure reported by the child after fork to the status the caller sees.
pub fn spawn_status(err: SpawnError, plan: &Plan, argv0: &str) -> Status {
    let cwd = plan.cwd.to_string_lossy();
    match err {
        SpawnError::Child { stage, errno } => {
            let reason = std::io::Error::from_raw_os_error(errno);
            match (stage, errno) {
                (Stage::Exec, libc::ENOENT) => exec_failure::status(
                    Code::NotFound,
                    format!("command not found: {argv0}"),
                    ExecFailure::CommandNotFound,
                ),
                (Stage::Exec, libc::EACCES | libc::EPERM | libc::ENOEXEC | libc::EISDIR) => {
                    exec_failure::status(
                        Code::PermissionDenied,
                        format!("permission denied: {argv0}"),
                        ExecFailure::NotExecutable,
                    )
                }
                (Stage::Chdir, _) => exec_failure::status(
                    Code::FailedPrecondition,
                    format!("working directory {cwd}: {reason}"),
                    ExecFailure::BadWorkingDir,
                ),
                (Stage::Groups | Stage::Gid | Stage::Uid, _) => {
                    Status::permission_denied(format!("switching user: {reason}"))
                }
                (Stage::Exec, _) => Status::internal(format!("exec {argv0}: {reason}")),
                (Stage::Setup, _) => Status::internal(format!("setting up {argv0}: {reason}")),
                // The agent failed to apply its own policy, whatever was asked: not something
                // the caller may fix by asking differently (PERMISSION_DENIED would say so).
                (Stage::Bounding, _) => Status::internal(format!(
                    "dropping capabilities from the bounding set for {argv0}: {reason}"
                )),
                (Stage::Capabilities, _) => Status::internal(format!(
                    "dropping capabilities to {} for {argv0}: {reason}",
                    caps::names(plan.privileges.capabilities)
                )),
                (Stage::NoNewPrivs, _) => {
                    Status::internal(format!("setting no_new_privs for {argv0}: {reason}"))
                }
                (Stage::OomScore, _) => {
                    Status::internal(format!("raising the OOM score for {argv0}: {reason}"))
                }
                // The box asks for more than the kernel lets the agent grant (a hard limit
                // above the agent's own, without CAP_SYS_RESOURCE): the box's settings are
                // what must change.
                (Stage::Nofile, _) => Status::failed_precondition(format!(
                    "setting the open-file limit of {argv0} to {}: {reason}",
                    plan.nofile.map_or_else(
                        || "the agent's own".to_owned(),
                        |[soft, hard]| format!("{soft} (soft) / {hard} (hard)")
                    )
                )),
                (Stage::Seccomp, _) => Status::internal(format!(
                    "installing the box's seccomp profile for {argv0}: {reason}"
                )),
                (Stage::Terminal, _) => Status::internal(format!(
                    "making the terminal the controlling terminal of {argv0}: {reason}"
                )),
            }
        }
        SpawnError::Register(crate::reaper::RegisterError::Closed) => {
            Status::unavailable("the box is stopping")
        }
        other => Status::internal(other.to_string()),
    }
}

/// Box environment, then the request's, later names replacing earlier ones in place.
fn merge_env(
    base: &[(String, String)],
    overrides: Vec<(String, String)>,
) -> Result<Vec<(String, String)>, PlanError> {
    let mut env: Vec<(String, String)> = Vec::with_capacity(base.len() + overrides.len());
    for (name, value) in base.iter().cloned().chain(overrides) {
        if name.is_empty() || name.contains('=') || name.contains('\0') || value.contains('\0') {
            return Err(PlanError::BadEnv(name));
        }
        match env.iter_mut().find(|(k, _)| *k == name) {
            Some(slot) => slot.1 = value,
            None => env.push((name, value)),
        }
    }
    Ok(env)
}

fn working_dir(
    root: &BoxRoot,
    config: &GuestConfig,
    requested: &str,
) -> Result<PathBuf, PlanError> {
    let path = match (requested, config.working_dir.as_str()) {
        ("", "") => "/",
        ("", default) => default,
        (requested, _) => requested,
    };
    let fail = |reason: String| PlanError::WorkingDir { path: path.to_owned(), reason };
    if !path.starts_with('/') {
        return Err(fail("not an absolute path".into()));
    }
    match root.metadata(path) {
        Ok(meta) if meta.is_dir() => Ok(PathBuf::from(path)),
        Ok(_) => Err(fail("not a directory".into())),
        Err(err) => Err(fail(err.to_string())),
    }
}

/// Who the process will run as, for the execute-permission check.
struct Identity {
    uid: u32,
    gid: u32,
    groups: Vec<u32>,
}

impl Identity {
    fn of(credentials: Option<&Credentials>) -> Self {
        match credentials {
            Some(c) => Self { uid: c.uid, gid: c.gid, groups: c.groups.clone() },
            // SAFETY: geteuid/getegid cannot fail.
            None => Self {
                uid: unsafe { libc::geteuid() },
                gid: unsafe { libc::getegid() },
                groups: Vec::new(),
            },
        }
    }

    fn can_execute(&self, meta: &std::fs::Metadata) -> bool {
        if !meta.is_file() {
            return false;
        }
        let mode = meta.mode();
        if self.uid == 0 {
            return mode & 0o111 != 0;
        }
        if meta.uid() == self.uid {
            mode & 0o100 != 0
        } else if meta.gid() == self.gid || self.groups.contains(&meta.gid()) {
            mode & 0o010 != 0
        } else {
            mode & 0o001 != 0
        }
    }
}

/// execvp's rules: a name with a '/' is used as is; otherwise the first executable match in
/// PATH wins, and a non-executable match only matters when nothing executable exists.
fn find_program(
    root: &BoxRoot,
    argv0: &str,
    path_var: &str,
    cwd: &Path,
    identity: &Identity,
) -> Result<PathBuf, PlanError> {
    if argv0.contains('/') {
        return match root.metadata(cwd.join(argv0)) {
            Ok(meta) if identity.can_execute(&meta) => Ok(PathBuf::from(argv0)),
            Ok(_) => Err(PlanError::PermissionDenied(argv0.to_owned())),
            Err(_) => Err(PlanError::NotFound(argv0.to_owned())),
        };
    }
    let mut denied = false;
    for dir in path_var.split(':') {
        // An empty PATH entry means the working directory.
        let candidate = cwd.join(dir).join(argv0);
        match root.metadata(&candidate) {
            Ok(meta) if identity.can_execute(&meta) => return Ok(candidate),
            Ok(_) => denied = true,
            Err(_) => {}
        }
    }
    Err(if denied {
        PlanError::PermissionDenied(argv0.to_owned())
    } else {
        PlanError::NotFound(argv0.to_owned())
    })
}

fn c_string(s: &str) -> Result<CString, PlanError> {
    CString::new(s).map_err(|_| PlanError::NulInArgument(s.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_env_overrides_box_env_in_place() {
        let base = vec![("A".into(), "1".into()), ("B".into(), "2".into())];
        let merged = merge_env(&base, vec![("B".into(), "3".into()), ("C".into(), "4".into())])
            .expect("valid env");
        let expected: Vec<(String, String)> =
            vec![("A".into(), "1".into()), ("B".into(), "3".into()), ("C".into(), "4".into())];
        assert_eq!(merged, expected);
    }

    #[test]
    fn bad_env_names_are_rejected() {
        assert!(matches!(
            merge_env(&[], vec![("A=B".into(), "x".into())]),
            Err(PlanError::BadEnv(_))
        ));
        assert!(matches!(
            merge_env(&[], vec![(String::new(), "x".into())]),
            Err(PlanError::BadEnv(_))
        ));
    }

    #[test]
    fn path_lookup_prefers_executables_and_reports_denied() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        for d in [&a, &b] {
            std::fs::create_dir(d).expect("mkdir");
        }
        use std::os::unix::fs::PermissionsExt;
        let write = |p: PathBuf, mode: u32| {
            std::fs::write(&p, "#!/bin/sh\n").expect("write");
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).expect("chmod");
        };
        write(a.join("tool"), 0o644);
        write(b.join("tool"), 0o755);
        write(a.join("plain"), 0o644);
        let path = format!("{}:{}", a.display(), b.display());
        let id = Identity { uid: 1000, gid: 1000, groups: vec![] };
        let system = BoxRoot::system().expect("open /");
        assert_eq!(
            find_program(&system, "tool", &path, Path::new("/"), &id).expect("found"),
            b.join("tool")
        );
        assert!(matches!(
            find_program(&system, "plain", &path, Path::new("/"), &id),
            Err(PlanError::PermissionDenied(_))
        ));
        assert!(matches!(
            find_program(&system, "missing", &path, Path::new("/"), &id),
            Err(PlanError::NotFound(_))
        ));
    }

    #[tokio::test]
    async fn blocking_work_times_out_without_stalling_the_runtime() {
        // The runtime of these tests has one thread, as the agent's: if the work ran on it, the
        // timer below could never fire.
        let (release, wait) = std::sync::mpsc::channel::<()>();
        let (done_tx, done) = std::sync::mpsc::channel();
        let stuck = off_thread(Duration::from_millis(50), move || {
            // Bounded, so that work run on the runtime thread (the bug) fails the assertion
            // below instead of hanging the test.
            let _ = wait.recv_timeout(Duration::from_secs(10));
            let _ = done_tx.send(());
        });
        assert_eq!(stuck.await.err(), Some(OffThreadError::TimedOut));
        // Other work still runs, on the pool and on the runtime thread.
        assert_eq!(off_thread(Duration::from_secs(10), || 7).await, Ok(7));
        release.send(()).expect("the stuck work is still waiting");
        done.recv_timeout(Duration::from_secs(10)).expect("the stuck work ends once released");
    }

    #[test]
    fn a_broken_user_database_is_failed_precondition() {
        let err = PlanError::User {
            spec: "nobody".into(),
            source: UserError::Database(crate::users::DatabaseError::NotRegular {
                path: "/etc/passwd".into(),
                kind: "a FIFO",
            }),
        };
        let status = Status::from(err);
        assert_eq!(status.code(), Code::FailedPrecondition);
        assert_eq!(
            status.message(),
            "user \"nobody\": /etc/passwd is not a regular file (it is a FIFO)"
        );
        let unknown =
            PlanError::User { spec: "x".into(), source: UserError::UnknownUser("x".into()) };
        assert_eq!(Status::from(unknown).code(), Code::InvalidArgument);
    }

    #[test]
    fn a_failed_privilege_drop_is_internal_and_names_the_step() {
        let plan = Plan {
            program: c"/bin/true".into(),
            argv: vec![c"true".into()],
            env: Vec::new(),
            cwd: c"/".into(),
            credentials: None,
            stdin: false,
            tty: None,
            privileges: Privileges { last_cap: 40, bounding_drop: 0, capabilities: 1 },
            nofile: None,
        };
        for (stage, words) in [
            (Stage::Bounding, "bounding set"),
            (Stage::Capabilities, "to CAP_CHOWN"),
            (Stage::NoNewPrivs, "no_new_privs"),
            (Stage::OomScore, "OOM score"),
            (Stage::Terminal, "controlling terminal"),
        ] {
            let err = SpawnError::Child { stage, errno: libc::EPERM };
            let status = spawn_status(err, &plan, "true");
            assert_eq!(status.code(), tonic::Code::Internal, "{status:?}");
            assert!(status.message().contains(words), "{status:?}");
        }
    }
}
