//! Loading the [`ShimSpec`] the host wrote for this box.

use std::fs;
use std::path::{Path, PathBuf};

use boxlite_protocol::launch::ShimSpec;

use crate::error::io_cause;

/// Why the spec could not be loaded, and where the exit record goes if that is still known.
#[derive(Debug)]
pub struct SpecError {
    /// The line for the log and the exit record.
    pub message: String,
    /// Recovered from a spec that is JSON but not a valid `ShimSpec` (an unknown field from a
    /// host of another build, say), so the host still reads why the box did not start.
    pub exit_record_path: Option<PathBuf>,
}

/// Reads and parses the spec file.
pub fn load(path: &Path) -> Result<ShimSpec, SpecError> {
    let bytes = fs::read(path).map_err(|err| SpecError {
        message: format!("read spec {}: {}", path.display(), io_cause(&err)),
        exit_record_path: None,
    })?;
    serde_json::from_slice(&bytes).map_err(|err| SpecError {
        message: format!("parse spec {}: {err}", path.display()),
        exit_record_path: recover_exit_record_path(&bytes),
    })
}

fn recover_exit_record_path(bytes: &[u8]) -> Option<PathBuf> {
    let value: serde_json::Value = serde_json::from_slice(bytes).ok()?;
    let path = value.get("exit_record_path")?.as_str()?;
    (!path.is_empty()).then(|| PathBuf::from(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recovers_the_exit_record_path_from_an_invalid_spec() {
        let bytes = br#"{"exit_record_path": "/b/exit", "surprise": 1}"#;
        assert_eq!(recover_exit_record_path(bytes), Some(PathBuf::from("/b/exit")));
        assert_eq!(recover_exit_record_path(b"not json"), None);
        assert_eq!(recover_exit_record_path(br#"{"exit_record_path": 3}"#), None);
    }
}
