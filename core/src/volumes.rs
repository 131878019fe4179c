//! Volumes: host files and directories bind-mounted into a box ([`VolumeSpec`]).
//!
//! A volume's paths are checked when the box is created and again at each start, since the
//! host may have changed in between: the host path must exist and be reached without a
//! symbolic link (the shim mounts what it opened without following one, so a link would
//! only fail later, with less to say); the guest path must be absolute, without `..`, and
//! not cover the box's `/`, `/proc`, `/sys` or `/dev`, which boxlite builds itself
//! (docs/architecture.md, "Volumes").

use std::path::{Component, Path};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::options::BoxOptions;

/// One host path seen inside a box. Given on a command line as `HOST:BOX[:ro|:rw]`
/// ([`VolumeSpec::parse`]).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VolumeSpec {
    /// An existing file or directory of the host, absolute, without symbolic links.
    pub host_path: String,
    /// Where the box sees it: absolute; a missing directory (or, for a file, an empty file)
    /// is created in the box's writable layer.
    pub guest_path: String,
    /// Read-only for every process of the box, its root included.
    #[serde(default)]
    pub read_only: bool,
}

/// Guest paths a volume may not cover or lie under: the box's own kernel and device trees.
const RESERVED: [&str; 3] = ["/proc", "/sys", "/dev"];

impl VolumeSpec {
    /// Parses `HOST:BOX`, `HOST:BOX:ro` or `HOST:BOX:rw`. The paths are checked at create.
    pub fn parse(text: &str) -> Result<Self> {
        let bad = || {
            Error::invalid_argument(format!(
                "invalid volume {text:?}: expected HOST_PATH:BOX_PATH[:ro|:rw]"
            ))
        };
        let mut parts = text.split(':');
        let (Some(host), Some(guest)) = (parts.next(), parts.next()) else { return Err(bad()) };
        let read_only = match (parts.next(), parts.next()) {
            (None, _) => false,
            (Some("ro"), None) => true,
            (Some("rw"), None) => false,
            _ => return Err(bad()),
        };
        if host.is_empty() || guest.is_empty() {
            return Err(bad());
        }
        Ok(VolumeSpec { host_path: host.to_string(), guest_path: guest.to_string(), read_only })
    }

    /// `HOST:BOX[:ro]`, for messages.
    fn label(&self) -> String {
        let mode = if self.read_only { ":ro" } else { "" };
        format!("{}:{}{mode}", self.host_path, self.guest_path)
    }

    /// The guest path's rules; the host is not consulted.
    fn validate_guest(&self) -> Result<()> {
        let bad = |why: &str| {
            Error::invalid_argument(format!(
                "invalid volume {}: guest path {:?} {why}",
                self.label(),
                self.guest_path
            ))
        };
        let guest = Path::new(&self.guest_path);
        if !guest.is_absolute() || self.guest_path.contains('\0') {
            return Err(bad("must be an absolute path without NUL"));
        }
        if guest.components().any(|c| c == Component::ParentDir) {
            return Err(bad("must not contain '..'"));
        }
        if guest.components().all(|c| c == Component::RootDir || c == Component::CurDir) {
            return Err(bad("must not be / (the box's root)"));
        }
        if let Some(reserved) = RESERVED.iter().find(|r| guest.starts_with(r)) {
            return Err(bad(&format!(
                "must not be {reserved} or below it (the box's own {reserved})"
            )));
        }
        Ok(())
    }

    /// The host path's rules, checked against the host as it is now; `subject` names the box.
    fn check_host(&self, subject: &str) -> Result<()> {
        let failed = |why: String| {
            Error::invalid_argument(format!(
                "{subject}: volume {}: host path {} {why}",
                self.label(),
                self.host_path
            ))
        };
        let host = Path::new(&self.host_path);
        if !host.is_absolute() || self.host_path.contains('\0') {
            return Err(failed("must be an absolute path without NUL".into()));
        }
        if host.components().any(|c| c == Component::ParentDir) {
            return Err(failed("must not contain '..'".into()));
        }
        // Each prefix in turn, so that the error names the component that is a link.
        let mut prefix = std::path::PathBuf::new();
        for component in host.components() {
            prefix.push(component);
            match std::fs::symlink_metadata(&prefix) {
                Ok(meta) if meta.file_type().is_symlink() => {
                    return Err(failed(format!(
                        "has a symbolic link in it ({}); give the path it leads to",
                        prefix.display()
                    )))
                }
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    return Err(failed("does not exist".into()))
                }
                Err(e) => return Err(failed(format!("cannot be inspected: {e}"))),
            }
        }
        let meta = std::fs::symlink_metadata(host)
            .map_err(|e| failed(format!("cannot be inspected: {e}")))?;
        if !(meta.is_dir() || meta.is_file()) {
            return Err(failed("is neither a directory nor a regular file".into()));
        }
        Ok(())
    }
}

/// The volume rules that need no host: guest paths, duplicates. Part of
/// [`BoxOptions::validate`].
pub(crate) fn validate(opts: &BoxOptions) -> Result<()> {
    let mut seen: Vec<&Path> = Vec::new();
    for volume in &opts.volumes {
        volume.validate_guest()?;
        let guest = Path::new(&volume.guest_path);
        if seen.contains(&guest) {
            return Err(Error::invalid_argument(format!(
                "invalid volume {}: guest path {} is given twice",
                volume.label(),
                volume.guest_path
            )));
        }
        seen.push(guest);
    }
    Ok(())
}

/// Checks every volume's host path now; `subject` names the box in the error ("box ID" at
/// start, "new box" at create).
pub(crate) fn check_hosts(opts: &BoxOptions, subject: &str) -> Result<()> {
    opts.volumes.iter().try_for_each(|volume| volume.check_host(subject))
}

/// The shim's view, in mount order: a volume inside another's guest path after it.
pub(crate) fn spec(opts: &BoxOptions) -> Vec<boxlite_protocol::launch::VolumeMount> {
    let mut mounts: Vec<_> = opts
        .volumes
        .iter()
        .map(|v| boxlite_protocol::launch::VolumeMount {
            host_path: v.host_path.clone().into(),
            guest_path: v.guest_path.clone().into(),
            read_only: v.read_only,
        })
        .collect();
    mounts.sort_by_key(|m| m.guest_path.components().count());
    mounts
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;

    fn volume(host: &str, guest: &str) -> VolumeSpec {
        VolumeSpec { host_path: host.into(), guest_path: guest.into(), read_only: false }
    }

    #[test]
    fn command_line_form() {
        assert_eq!(VolumeSpec::parse("/h:/g").unwrap(), volume("/h", "/g"));
        assert!(VolumeSpec::parse("/h:/g:ro").unwrap().read_only);
        assert!(!VolumeSpec::parse("/h:/g:rw").unwrap().read_only);
        for bad in ["/h", "/h:", ":/g", "/h:/g:RO", "/h:/g:ro:x", "/h:/g:z", ""] {
            let err = VolumeSpec::parse(bad).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{bad}");
            assert!(err.to_string().contains("HOST_PATH:BOX_PATH[:ro|:rw]"), "{err}");
        }
    }

    #[test]
    fn guest_paths_are_checked_without_the_host() {
        let with = |guest: &str| BoxOptions {
            volumes: vec![volume("/nonexistent", guest)],
            ..BoxOptions::new("a")
        };
        validate(&with("/data")).unwrap();
        validate(&with("/development")).unwrap();
        for (guest, why) in [
            ("data", "absolute"),
            ("/a/../etc", "'..'"),
            ("/", "must not be /"),
            ("/.", "must not be /"),
            ("/proc", "/proc"),
            ("/sys/fs/cgroup", "/sys"),
            ("/dev/shm", "/dev"),
        ] {
            let err = validate(&with(guest)).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::InvalidArgument);
            assert!(err.to_string().contains(why), "{guest}: {err}");
            assert!(err.to_string().contains(guest), "names the path: {err}");
        }
        let twice = BoxOptions {
            volumes: vec![volume("/a", "/data"), volume("/b", "/data/")],
            ..BoxOptions::new("a")
        };
        assert!(validate(&twice).unwrap_err().to_string().contains("given twice"));
    }

    #[test]
    fn host_paths_must_exist_without_links() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("real");
        std::fs::create_dir(&real).unwrap();
        std::os::unix::fs::symlink(&real, dir.path().join("link")).unwrap();
        let check = |host: &Path| volume(host.to_str().unwrap(), "/g").check_host("box x");
        check(&real).unwrap();
        let missing = check(&dir.path().join("missing")).unwrap_err();
        assert!(missing.to_string().starts_with("box x: volume "), "{missing}");
        assert!(missing.to_string().ends_with("missing does not exist"), "{missing}");
        let linked = check(&dir.path().join("link/sub")).unwrap_err();
        assert!(linked.to_string().contains("has a symbolic link in it"), "{linked}");
        assert!(check(Path::new("relative")).is_err());
        assert!(check(Path::new("/dev/null")).unwrap_err().to_string().contains("neither"));
    }

    #[test]
    fn nested_guest_paths_are_mounted_after_their_parent() {
        let opts = BoxOptions {
            volumes: vec![volume("/a", "/data/in"), volume("/b", "/data")],
            ..BoxOptions::new("a")
        };
        let order: Vec<_> = spec(&opts).into_iter().map(|m| m.guest_path).collect();
        assert_eq!(order, vec![Path::new("/data"), Path::new("/data/in")]);
    }
}
