//! One error shape for every step of the shim: what it was doing, and why that failed.
//!
//! The text is what lands in the box's log and in the exit record, so the cause is the errno's
//! plain description ("No such file or directory"), not Rust's debug forms.

use std::fmt;
use std::io;

use nix::errno::Errno;

/// A failed step, displayed as `<step>: <cause>`, e.g.
/// `mount overlay on /b/merged: No such file or directory`.
#[derive(Debug)]
pub struct StepError {
    /// What the shim was doing, with its subject (a path, a name).
    pub step: String,
    /// Why it failed.
    pub cause: String,
}

impl StepError {
    /// A failure that has no errno behind it.
    pub fn new(step: impl Into<String>, cause: impl Into<String>) -> Self {
        Self { step: step.into(), cause: cause.into() }
    }

    /// The same cause under another step name.
    pub fn with_step(mut self, step: impl Into<String>) -> Self {
        self.step = step.into();
        self
    }
}

impl fmt::Display for StepError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.step, self.cause)
    }
}

/// The plain text of an I/O error: the errno's description when there is one.
pub fn io_cause(err: &io::Error) -> String {
    match err.raw_os_error() {
        Some(code) => Errno::from_raw(code).desc().to_string(),
        None => err.to_string(),
    }
}

/// Names the step a fallible call belongs to.
pub trait Step<T> {
    /// Turns the error into a [`StepError`] for `step` (built only on failure).
    fn step(self, step: impl FnOnce() -> String) -> Result<T, StepError>;
}

impl<T> Step<T> for nix::Result<T> {
    fn step(self, step: impl FnOnce() -> String) -> Result<T, StepError> {
        self.map_err(|errno| StepError::new(step(), errno.desc()))
    }
}

impl<T> Step<T> for io::Result<T> {
    fn step(self, step: impl FnOnce() -> String) -> Result<T, StepError> {
        self.map_err(|err| StepError::new(step(), io_cause(&err)))
    }
}
