//! The one error type of the core. Every binding maps [`ErrorKind`] once, by its `code()`.

use std::fmt;

/// What went wrong, independent of the message. Stable: the codes are part of every SDK's API.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// A caller-supplied value is malformed (name, option, reference…).
    InvalidArgument,
    /// The box, image or file named does not exist.
    NotFound,
    /// A box with that name or id exists already.
    AlreadyExists,
    /// The box is in a status that does not allow the operation.
    InvalidState,
    /// An operation ran past its deadline.
    Timeout,
    /// An image could not be resolved, fetched or unpacked.
    Image,
    /// The isolation engine failed to build or run the box.
    Engine,
    /// A command inside the box could not be started.
    Exec,
    /// The state database failed.
    Database,
    /// A host filesystem or OS call failed.
    Io,
    /// A bug: an invariant of boxlite itself did not hold.
    Internal,
    /// The command of an exec does not exist in the box.
    CommandNotFound,
    /// The command of an exec exists but cannot be executed (mode, format, a directory).
    NotExecutable,
    /// The working directory of an exec does not exist or cannot be entered.
    BadWorkingDir,
    /// A registry refused the credentials given, or wants credentials and none were given.
    Unauthorized,
    /// A registry (or another service boxlite talks to) could not be reached or did not answer.
    Unavailable,
}

impl ErrorKind {
    /// Every kind, in the order of the C enum's numbering (new kinds are appended, so the
    /// numbers are stable).
    pub const ALL: &'static [ErrorKind] = &[
        ErrorKind::InvalidArgument,
        ErrorKind::NotFound,
        ErrorKind::AlreadyExists,
        ErrorKind::InvalidState,
        ErrorKind::Timeout,
        ErrorKind::Image,
        ErrorKind::Engine,
        ErrorKind::Exec,
        ErrorKind::Database,
        ErrorKind::Io,
        ErrorKind::Internal,
        ErrorKind::CommandNotFound,
        ErrorKind::NotExecutable,
        ErrorKind::BadWorkingDir,
        ErrorKind::Unauthorized,
        ErrorKind::Unavailable,
    ];

    /// The stable snake_case code every binding exposes.
    pub fn code(self) -> &'static str {
        match self {
            ErrorKind::InvalidArgument => "invalid_argument",
            ErrorKind::NotFound => "not_found",
            ErrorKind::AlreadyExists => "already_exists",
            ErrorKind::InvalidState => "invalid_state",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Image => "image",
            ErrorKind::Engine => "engine",
            ErrorKind::Exec => "exec",
            ErrorKind::Database => "database",
            ErrorKind::Io => "io",
            ErrorKind::Internal => "internal",
            ErrorKind::CommandNotFound => "command_not_found",
            ErrorKind::NotExecutable => "not_executable",
            ErrorKind::BadWorkingDir => "bad_working_dir",
            ErrorKind::Unauthorized => "unauthorized",
            ErrorKind::Unavailable => "unavailable",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

type Cause = Box<dyn std::error::Error + Send + Sync + 'static>;

/// An error with its kind, a message naming the operation and subject, and the cause.
#[derive(Debug)]
pub struct Error {
    kind: ErrorKind,
    message: String,
    source: Option<Cause>,
}

/// Result alias of the core.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// An error of `kind` with a message that says what failed and on which subject.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error { kind, message: message.into(), source: None }
    }

    /// Attaches the underlying cause; it is shown after the message.
    pub fn with_source(mut self, source: impl Into<Cause>) -> Self {
        self.source = Some(source.into());
        self
    }

    /// The kind, for matching and for mapping to binding error types.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// Shorthand for `self.kind().code()`.
    pub fn code(&self) -> &'static str {
        self.kind.code()
    }

    pub(crate) fn invalid_argument(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::InvalidArgument, message)
    }

    pub(crate) fn not_found(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::NotFound, message)
    }

    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Error::new(ErrorKind::Io, context).with_source(source)
    }

    pub(crate) fn database(context: impl Into<String>, source: rusqlite::Error) -> Self {
        Error::new(ErrorKind::Database, context).with_source(source)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)?;
        if let Some(source) = &self.source {
            write!(f, ": {source}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source.as_deref().map(|s| s as &(dyn std::error::Error + 'static))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn codes_are_unique_snake_case() {
        let codes: HashSet<_> = ErrorKind::ALL.iter().map(|k| k.code()).collect();
        assert_eq!(codes.len(), ErrorKind::ALL.len());
        for code in codes {
            assert!(code.chars().all(|c| c.is_ascii_lowercase() || c == '_'), "{code}");
        }
    }

    #[test]
    fn display_appends_cause() {
        let err = Error::io("create box dir /x", std::io::Error::from_raw_os_error(libc::EACCES));
        let text = err.to_string();
        assert!(text.starts_with("create box dir /x: "), "{text}");
        assert!(text.contains("ermission denied"), "{text}");
        assert_eq!(err.code(), "io");
    }
}
