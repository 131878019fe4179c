//! `boxlite cp`: files between the host and a box, as `docker cp` moves them; `-` is a tar
//! stream on stdin (into a box directory) or stdout (out of a box).

use std::path::PathBuf;
use std::process::ExitCode;

use boxlite_core::{CopyOptions, Runtime};

#[derive(clap::Args)]
pub(crate) struct Args {
    /// Keep numeric owners (uid/gid) of the source
    #[arg(short = 'a', long = "archive")]
    archive: bool,
    /// Copy what symlinks in the source point to, not the links
    #[arg(short = 'L', long = "follow-link")]
    follow_link: bool,
    /// Fail rather than replace a file at the destination
    #[arg(long = "no-overwrite")]
    no_overwrite: bool,
    /// BOX:PATH, a host path, or - (a tar stream on stdin)
    #[arg(value_name = "SRC")]
    src: String,
    /// BOX:PATH, a host path, or - (a tar stream on stdout)
    #[arg(value_name = "DST")]
    dst: String,
}

/// One side of a copy.
#[derive(Debug, PartialEq)]
enum End {
    Box { key: String, path: String },
    Host(PathBuf),
    Stream,
}

impl End {
    /// `BOX:PATH` names a box when the part before the colon is a box key (no `/`), as with
    /// `docker cp`; a host path with a colon is written `./a:b`.
    fn parse(arg: &str) -> anyhow::Result<Self> {
        if arg == "-" {
            return Ok(End::Stream);
        }
        match arg.split_once(':') {
            Some((key, path)) if !key.is_empty() && !key.contains('/') => {
                if !path.starts_with('/') {
                    anyhow::bail!("{arg}: the path in a box must be absolute (BOX:/path)");
                }
                Ok(End::Box { key: key.to_string(), path: path.to_string() })
            }
            _ => Ok(End::Host(PathBuf::from(arg))),
        }
    }
}

pub(crate) async fn run(rt: &Runtime, args: Args) -> anyhow::Result<ExitCode> {
    let options = CopyOptions {
        preserve_owners: args.archive,
        follow_symlinks: args.follow_link,
        overwrite: !args.no_overwrite,
        ..Default::default()
    };
    match (End::parse(&args.src)?, End::parse(&args.dst)?) {
        (End::Host(src), End::Box { key, path }) => {
            super::find(rt, &key)?.copy_in(src, &path, options).await?;
        }
        (End::Stream, End::Box { key, path }) => {
            super::find(rt, &key)?.copy_in_tar(std::io::stdin(), &path, options).await?;
        }
        (End::Box { key, path }, End::Host(dst)) => {
            super::find(rt, &key)?.copy_out(&path, dst, options).await?;
        }
        (End::Box { key, path }, End::Stream) => {
            super::find(rt, &key)?.copy_out_tar(&path, std::io::stdout(), options).await?;
        }
        (End::Box { .. }, End::Box { .. }) => {
            anyhow::bail!("copy between two boxes: copy out to the host, then in")
        }
        _ => anyhow::bail!("one of SRC and DST must be BOX:PATH"),
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ends_parse_as_docker_cp_reads_them() {
        let boxed = |key: &str, path: &str| End::Box { key: key.into(), path: path.into() };
        assert_eq!(End::parse("web:/etc/hosts").unwrap(), boxed("web", "/etc/hosts"));
        assert_eq!(End::parse("-").unwrap(), End::Stream);
        assert_eq!(End::parse("./a:b").unwrap(), End::Host("./a:b".into()));
        assert_eq!(End::parse("/x/y").unwrap(), End::Host("/x/y".into()));
        assert!(End::parse("web:relative").is_err());
    }
}
