//! The OCI runtime spec's seccomp profile (`linux.seccomp` of `config.json`), with Docker's
//! extensions (`archMap`, per-rule `includes` / `excludes`, `comment`), so that Docker's own
//! profile files load unchanged. Fields this runtime cannot honour are refused by name, never
//! skipped (docs/threat-model.md, "Seccomp profiles of one's own").

use serde::{Deserialize, Deserializer};

/// `null` read as the empty value: profiles written by Go tools (Docker's own included) spell
/// an absent list or object as `null`.
fn or_empty<'de, D, T>(input: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(input)?.unwrap_or_default())
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct Profile {
    pub default_action: String,
    #[serde(default)]
    pub default_errno_ret: Option<u32>,
    /// Accepted and checked; the filter always covers x86_64 only (see [`super::compile`]).
    #[serde(default, deserialize_with = "or_empty")]
    pub architectures: Vec<String>,
    #[serde(default, deserialize_with = "or_empty")]
    pub arch_map: Vec<ArchMap>,
    #[serde(default, deserialize_with = "or_empty")]
    pub flags: Vec<String>,
    #[serde(default)]
    pub listener_path: Option<String>,
    #[serde(default)]
    pub listener_metadata: Option<String>,
    #[serde(default, deserialize_with = "or_empty")]
    pub syscalls: Vec<Rule>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct ArchMap {
    pub architecture: String,
    #[serde(default, deserialize_with = "or_empty")]
    pub sub_architectures: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct Rule {
    #[serde(default, deserialize_with = "or_empty")]
    pub names: Vec<String>,
    /// Docker's older single-name form.
    #[serde(default)]
    pub name: Option<String>,
    pub action: String,
    #[serde(default)]
    pub errno_ret: Option<u32>,
    #[serde(default, deserialize_with = "or_empty")]
    pub args: Vec<Arg>,
    #[serde(default)]
    #[allow(dead_code)] // read by serde only: a comment is allowed, and means nothing
    pub comment: Option<String>,
    #[serde(default, deserialize_with = "or_empty")]
    pub includes: Condition,
    #[serde(default, deserialize_with = "or_empty")]
    pub excludes: Condition,
}

/// Docker's rule conditions: `includes` applies a rule only where all of them hold,
/// `excludes` drops it where any holds.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct Condition {
    #[serde(default, deserialize_with = "or_empty")]
    pub caps: Vec<String>,
    #[serde(default, deserialize_with = "or_empty")]
    pub arches: Vec<String>,
    #[serde(default)]
    pub min_kernel: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct Arg {
    pub index: u32,
    pub value: u64,
    #[serde(default)]
    pub value_two: u64,
    pub op: String,
}
