//! Options objects, converted field by field into the core's; core validates them.

use std::path::PathBuf;

use boxlite_core::{BoxOptions, Error, ErrorKind, RuntimeOptions};
use napi_derive::napi;

/// How to open a runtime.
#[napi(object, js_name = "RuntimeOptions", object_to_js = false)]
pub struct JsRuntimeOptions {
    /// Home directory; unset means `$BOXLITE_HOME`, else `~/.boxlite`.
    pub home_dir: Option<String>,
}

impl From<JsRuntimeOptions> for RuntimeOptions {
    fn from(opts: JsRuntimeOptions) -> Self {
        RuntimeOptions { home_dir: opts.home_dir.map(PathBuf::from), ..Default::default() }
    }
}

/// The configuration of a box (camelCase of the core's `BoxOptions`).
#[napi(object, js_name = "BoxOptions", object_to_js = false)]
pub struct JsBoxOptions {
    /// Image reference (`alpine:3.20`, `oci:/path/to/layout:tag`, …).
    pub image: String,
    /// Environment as `[name, value]` pairs, in order; a later pair wins. Pairs rather than an
    /// object so the order core keeps is the caller's.
    pub env: Option<Vec<(String, String)>>,
    /// Absolute working directory.
    pub working_dir: Option<String>,
    /// Command; unset takes the image's `Cmd`.
    pub cmd: Option<Vec<String>>,
    /// Entrypoint; unset takes the image's `Entrypoint`.
    pub entrypoint: Option<Vec<String>>,
    /// `uid[:gid]` or `name[:group]`.
    pub user: Option<String>,
    /// CPU limit in cores (fractions allowed).
    pub cpus: Option<f64>,
    /// Memory limit in MiB (a whole number).
    pub memory_mib: Option<f64>,
    /// Remove the box when it stops.
    pub auto_remove: Option<bool>,
    /// Keep the box running after the process that started it exits.
    pub detach: Option<bool>,
}

impl TryFrom<JsBoxOptions> for BoxOptions {
    type Error = Error;

    fn try_from(opts: JsBoxOptions) -> Result<Self, Error> {
        Ok(BoxOptions {
            image: opts.image,
            env: opts.env.unwrap_or_default(),
            working_dir: opts.working_dir,
            cmd: opts.cmd,
            entrypoint: opts.entrypoint,
            user: opts.user,
            cpus: opts.cpus,
            memory_mib: opts.memory_mib.map(whole_mib).transpose()?,
            auto_remove: opts.auto_remove.unwrap_or_default(),
            detach: opts.detach.unwrap_or_default(),
        })
    }
}

/// A JS number as the core's `u64`. JS has no integer type, so a fraction or a negative value
/// is refused here instead of being truncated; core checks the range.
fn whole_mib(mib: f64) -> Result<u64, Error> {
    if mib.is_finite() && mib >= 0.0 && mib.fract() == 0.0 {
        // Saturates above u64::MAX, which core's range check then refuses.
        Ok(mib as u64)
    } else {
        Err(Error::new(
            ErrorKind::InvalidArgument,
            format!("invalid memory_mib {mib}: must be a whole non-negative number"),
        ))
    }
}
