//! Turning a request into a [`Plan`] before anything is forked: environment, user, working
//! directory and the program looked up in PATH. Every error here maps to the status code the
//! protocol promises, and no process is started.

use std::ffi::CString;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use boxlite_protocol::exec_failure;
use boxlite_protocol::launch::GuestConfig;
use boxlite_protocol::pb::ExecFailure;
use tonic::{Code, Status};

use crate::caps::{self, Privileges};
use crate::child::Stage;
use crate::pty::WindowSize;
use crate::spawn::{Plan, SpawnError};
use crate::users::{Credentials, Databases, UserError};

/// PATH when neither the box nor the request sets one.
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// What a caller asks for; empty fields fall back to the box config.
pub struct Request<'a> {
    pub argv: &'a [String],
    pub env: Vec<(String, String)>,
    pub working_dir: &'a str,
    pub user: &'a str,
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
}

impl From<PlanError> for Status {
    fn from(err: PlanError) -> Self {
        let message = err.to_string();
        match err {
            PlanError::EmptyArgv
            | PlanError::NulInArgument(_)
            | PlanError::BadEnv(_)
            | PlanError::User { .. } => Status::invalid_argument(message),
            PlanError::WorkingDir { .. } => {
                exec_failure::status(Code::FailedPrecondition, message, ExecFailure::BadWorkingDir)
            }
            PlanError::NotFound(_) => {
                exec_failure::status(Code::NotFound, message, ExecFailure::CommandNotFound)
            }
            PlanError::PermissionDenied(_) => {
                exec_failure::status(Code::PermissionDenied, message, ExecFailure::NotExecutable)
            }
        }
    }
}

/// Resolves `request` against the box `config`.
pub fn plan(config: &GuestConfig, request: Request<'_>) -> Result<Plan, PlanError> {
    let argv0 = request.argv.first().ok_or(PlanError::EmptyArgv)?;
    if argv0.is_empty() {
        return Err(PlanError::EmptyArgv);
    }
    let argv = request.argv.iter().map(|a| c_string(a)).collect::<Result<Vec<_>, _>>()?;

    let spec = if request.user.is_empty() { config.user.as_str() } else { request.user };
    let mut databases = None;
    let credentials = if spec.is_empty() {
        None
    } else {
        let db = databases.get_or_insert_with(|| Databases::load(Path::new("/")));
        let creds =
            db.resolve(spec).map_err(|source| PlanError::User { spec: spec.to_owned(), source })?;
        Some(creds)
    };

    let mut env = merge_env(&config.env, request.env)?;
    if !env.iter().any(|(k, _)| k == "PATH") {
        env.push(("PATH".into(), DEFAULT_PATH.into()));
    }
    if !env.iter().any(|(k, _)| k == "HOME") {
        let home = match &credentials {
            Some(creds) => creds.home.clone(),
            None => databases
                .get_or_insert_with(|| Databases::load(Path::new("/")))
                // SAFETY: geteuid cannot fail.
                .home_of(unsafe { libc::geteuid() })
                .unwrap_or_else(|| "/".into()),
        };
        env.push(("HOME".into(), home));
    }

    let cwd = working_dir(config, request.working_dir)?;
    let identity = Identity::of(credentials.as_ref());
    let path_var = env.iter().find(|(k, _)| k == "PATH").map_or(DEFAULT_PATH, |(_, v)| v.as_str());
    let program = find_program(argv0, path_var, &cwd, &identity)?;

    let env = env
        .into_iter()
        .map(|(k, v)| CString::new(format!("{k}={v}")).map_err(|_| PlanError::BadEnv(k)))
        .collect::<Result<Vec<_>, _>>()?;
    let privileges = Privileges::for_uid(identity.uid);
    Ok(Plan {
        program: c_string(&program.to_string_lossy())?,
        argv,
        env,
        cwd: c_string(&cwd.to_string_lossy())?,
        credentials,
        stdin: request.stdin,
        tty: request.tty,
        privileges,
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

fn working_dir(config: &GuestConfig, requested: &str) -> Result<PathBuf, PlanError> {
    let path = match (requested, config.working_dir.as_str()) {
        ("", "") => "/",
        ("", default) => default,
        (requested, _) => requested,
    };
    let fail = |reason: String| PlanError::WorkingDir { path: path.to_owned(), reason };
    if !path.starts_with('/') {
        return Err(fail("not an absolute path".into()));
    }
    match std::fs::metadata(path) {
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
    argv0: &str,
    path_var: &str,
    cwd: &Path,
    identity: &Identity,
) -> Result<PathBuf, PlanError> {
    if argv0.contains('/') {
        return match std::fs::metadata(cwd.join(argv0)) {
            Ok(meta) if identity.can_execute(&meta) => Ok(PathBuf::from(argv0)),
            Ok(_) => Err(PlanError::PermissionDenied(argv0.to_owned())),
            Err(_) => Err(PlanError::NotFound(argv0.to_owned())),
        };
    }
    let mut denied = false;
    for dir in path_var.split(':') {
        // An empty PATH entry means the working directory.
        let candidate = cwd.join(dir).join(argv0);
        match std::fs::metadata(&candidate) {
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
        assert_eq!(
            find_program("tool", &path, Path::new("/"), &id).expect("found"),
            b.join("tool")
        );
        assert!(matches!(
            find_program("plain", &path, Path::new("/"), &id),
            Err(PlanError::PermissionDenied(_))
        ));
        assert!(matches!(
            find_program("missing", &path, Path::new("/"), &id),
            Err(PlanError::NotFound(_))
        ));
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
