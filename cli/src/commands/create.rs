use std::process::ExitCode;

use boxlite_core::{parse_env_pair, BoxOptions, Runtime};

#[derive(clap::Args)]
pub(crate) struct Args {
    /// Unique name (also the box's hostname)
    #[arg(long)]
    name: Option<String>,
    /// Environment variable, KEY=VALUE (repeatable)
    #[arg(short = 'e', long = "env", value_name = "KEY=VALUE")]
    env: Vec<String>,
    /// Working directory inside the box
    #[arg(short = 'w', long = "workdir", value_name = "DIR")]
    working_dir: Option<String>,
    /// User to run as: uid[:gid] or name[:group]
    #[arg(short = 'u', long)]
    user: Option<String>,
    /// CPU limit in cores
    #[arg(long)]
    cpus: Option<f64>,
    /// Memory limit in MiB
    #[arg(long = "memory", value_name = "MIB")]
    memory_mib: Option<u64>,
    /// Override the image's entrypoint
    #[arg(long)]
    entrypoint: Option<String>,
    /// Remove the box when it stops
    #[arg(long = "rm")]
    auto_remove: bool,
    /// Image reference
    image: String,
    /// Command and arguments (default: the image's)
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    cmd: Vec<String>,
}

pub(crate) fn run(rt: &Runtime, args: Args) -> anyhow::Result<ExitCode> {
    let env = args.env.iter().map(|p| parse_env_pair(p)).collect::<Result<Vec<_>, _>>()?;
    let options = BoxOptions {
        env,
        working_dir: args.working_dir,
        user: args.user,
        cpus: args.cpus,
        memory_mib: args.memory_mib,
        entrypoint: args.entrypoint.map(|e| vec![e]),
        cmd: (!args.cmd.is_empty()).then_some(args.cmd),
        auto_remove: args.auto_remove,
        ..BoxOptions::new(args.image)
    };
    let created = rt.create(options, args.name.as_deref())?;
    println!("{}", created.id());
    Ok(ExitCode::SUCCESS)
}
