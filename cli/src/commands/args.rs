use boxlite_core::parse_env_pair;

/// How a process runs: shared by `create`/`run` (the box's defaults) and `exec`.
#[derive(clap::Args)]
pub(crate) struct ProcessArgs {
    /// Environment variable, KEY=VALUE (repeatable)
    #[arg(short = 'e', long = "env", value_name = "KEY=VALUE")]
    env: Vec<String>,
    /// Working directory inside the box
    #[arg(short = 'w', long = "workdir", value_name = "DIR")]
    pub(crate) working_dir: Option<String>,
    /// User to run as: uid[:gid] or name[:group]
    #[arg(short = 'u', long)]
    pub(crate) user: Option<String>,
}

impl ProcessArgs {
    pub(crate) fn env_pairs(&self) -> anyhow::Result<Vec<(String, String)>> {
        Ok(self.env.iter().map(|p| parse_env_pair(p)).collect::<Result<Vec<_>, _>>()?)
    }
}
