use std::process::ExitCode;

use boxlite_core::{BoxOptions, Runtime};

use super::args::ProcessArgs;

/// The box options shared by `create` and `run`.
#[derive(clap::Args)]
pub(crate) struct BoxArgs {
    /// Unique name (also the box's hostname)
    #[arg(long)]
    name: Option<String>,
    #[command(flatten)]
    process: ProcessArgs,
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
    /// Image reference (oci:PATH[:TAG] for a local OCI layout)
    image: String,
    /// The box's main command (the box stops when it exits); none: the box stays up for exec
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    cmd: Vec<String>,
}

impl BoxArgs {
    pub(crate) fn into_options(self, detach: bool) -> anyhow::Result<(BoxOptions, Option<String>)> {
        let options = BoxOptions {
            env: self.process.env_pairs()?,
            working_dir: self.process.working_dir,
            user: self.process.user,
            cpus: self.cpus,
            memory_mib: self.memory_mib,
            entrypoint: self.entrypoint.map(|e| vec![e]),
            cmd: (!self.cmd.is_empty()).then_some(self.cmd),
            auto_remove: self.auto_remove,
            detach,
            ..BoxOptions::new(self.image)
        };
        Ok((options, self.name))
    }
}

#[derive(clap::Args)]
pub(crate) struct Args {
    #[command(flatten)]
    spec: BoxArgs,
}

pub(crate) fn run(rt: &Runtime, args: Args) -> anyhow::Result<ExitCode> {
    let (options, name) = args.spec.into_options(false)?;
    let created = rt.create(options, name.as_deref())?;
    println!("{}", created.id());
    Ok(ExitCode::SUCCESS)
}
