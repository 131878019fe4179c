//! The init pipeline: starting → rootfs → shim → reaper → ready → connect → running. Every
//! step after `starting` is persisted runs under a [`CleanupGuard`].

use std::path::PathBuf;
use std::time::{Duration, Instant};

use boxlite_protocol::launch::{DiskSpec, GuestConfig, Limits, LogLimits, ShimSpec};

use super::guard::CleanupGuard;
use super::{LiveBox, Runtime};
use boxlite_protocol::pb::AttachMainRequest;

use crate::agent::{
    connect, status_error, wait_for_guest_ready, within, ReadyContext, AGENT_CALL_TIMEOUT,
};
use crate::db::BoxRecord;
use crate::engine::LaunchRequest;
use crate::error::{Error, ErrorKind, Result};
use crate::home::{BoxPaths, Home};
use crate::images::ImageConfig;
use crate::limits::BoxLimits;
use crate::metrics::StartTimes;
use crate::options::{BoxOptions, SeccompMode, UsernsMode};
use crate::shim::ShimHandle;
use crate::status::BoxStatus;

/// Grace between SIGTERM and SIGKILL when the box stops on its own (main command exited,
/// host gone).
pub(crate) const STOP_GRACE: Duration = Duration::from_secs(10);

impl Runtime {
    /// Starts box `id` unless it runs already. `detach` overrides the box's option.
    pub(crate) async fn start_box(&self, id: &str, detach: Option<bool>) -> Result<()> {
        self.check_open(&format!("start box {id}"))?;
        let begun = Instant::now();
        let _lock = self.lock_box(id).await?;
        let mut rec = self.resolve_existing(id)?;
        if rec.state.status() == BoxStatus::Running {
            if self.shim_alive(&rec) {
                return Ok(());
            }
            // Recorded as running but its shim is gone: settle that first, then start anew.
            self.settle_exit(&rec, false)?;
            rec = self.resolve_existing(id)?;
        }
        let status = rec.state.status();
        if !status.can_start() {
            return Err(Error::new(
                ErrorKind::InvalidState,
                format!("cannot start box {id}: it is {status}"),
            ));
        }
        if !rec.config.unknown.is_empty() {
            // An option this version would ignore may be one that protects the host.
            return Err(Error::new(
                ErrorKind::InvalidState,
                format!(
                    "cannot start box {id}: a newer boxlite configured it with options this \
                     version does not know ({}); start it with that version",
                    rec.config.unknown_names()
                ),
            ));
        }
        rec.state.transition(BoxStatus::Starting)?;
        rec.state.set_owner_pid(std::process::id());
        self.store().update_state(id, &rec.state)?;

        let mut guard = CleanupGuard::new(self, id);
        let detach = detach.unwrap_or(rec.config.detach);
        match self.launch_and_connect(&mut rec, detach, &mut guard).await {
            Ok(mut times) => {
                guard.disarm();
                times.total = begun.elapsed();
                self.counters().started(&rec.id, times);
                Ok(())
            }
            Err(e) => {
                guard.fail(&e.to_string()).await;
                Err(e)
            }
        }
    }

    async fn launch_and_connect(
        &self,
        rec: &mut BoxRecord,
        detach: bool,
        guard: &mut CleanupGuard,
    ) -> Result<StartTimes> {
        let id = rec.id.clone();
        let config = rec.config.clone();
        let name = rec.name.clone();
        let booted = self
            .boot(&id, name.as_deref(), &config, Boot { detach, main: true }, |shim| {
                guard.set_shim(shim.clone());
                rec.state.set_shim(shim.pid(), crate::procfs::start_ticks(shim.pid()));
                self.store().update_state(&id, &rec.state)
            })
            .await?;
        let Booted { shim, liveness, mut agent, has_main, times } = booted;
        // The shim wrote them before it started the box, which is ready now.
        if !rec.config.ports.is_empty() {
            let ports_path = self.home().box_paths(&id).ports;
            let bound = crate::ports::read_bound(&id, &ports_path, &rec.config.ports)?;
            rec.state.set_ports(bound);
        }
        // Attaching starts the main command: done here, before anyone else can talk to the
        // agent, the stream sees all of its output however fast it exits.
        let main_stream = match has_main {
            true => Some(
                within(&id, "start main command", AGENT_CALL_TIMEOUT, async {
                    agent
                        .attach_main(AttachMainRequest {})
                        .await
                        .map(tonic::Response::into_inner)
                        .map_err(|s| status_error(&id, "start main command", s))
                })
                .await?,
            ),
            false => None,
        };

        rec.state.transition(BoxStatus::Running)?;
        self.store().update_state(&id, &rec.state)?;
        self.live().insert(
            id.clone(),
            LiveBox { shim: Some(shim.clone()), liveness, agent: Some(agent), detach, main_stream },
        );
        self.spawn_exit_monitor(&id, shim);
        Ok(times)
    }

    /// Launches the shim of box `id` and connects to its agent once it is ready. `registered`
    /// runs as soon as the shim is the reaper's, so that a failure after it can take the shim
    /// down. Nothing here changes the box's record.
    pub(super) async fn boot(
        &self,
        id: &str,
        name: Option<&str>,
        config: &BoxOptions,
        boot: Boot,
        mut registered: impl FnMut(&ShimHandle) -> Result<()>,
    ) -> Result<Booted> {
        let id = id.to_string();
        let stage = Instant::now();
        let image = self.image_for_box(&id, &config.image).await?;
        let image_prepare = stage.elapsed();

        let paths = self.home().box_paths(&id);
        let limits = BoxLimits::of(config);
        let rootless = crate::rootless::active();
        // Checked at create; checked again because the stored options are a file on disk.
        crate::rootless::check(config)
            .map_err(|e| Error::invalid_argument(format!("box {id}: {e}")))?;
        // The host may have changed since create: a volume's path gone or made a link.
        crate::volumes::validate(config)
            .map_err(|e| Error::invalid_argument(format!("box {id}: {e}")))?;
        crate::volumes::check_hosts(config, &format!("box {id}"))?;
        let layer = WritableLayer::of(self.home(), &paths, limits.disk_size_gb, rootless);
        for dir in [&paths.merged, &paths.disk_mount] {
            std::fs::create_dir_all(dir)
                .map_err(|e| Error::io(format!("box {id}: create {}", dir.display()), e))?;
        }
        if let Some(logs) = paths.log.parent() {
            std::fs::create_dir_all(logs)
                .map_err(|e| Error::io(format!("box {id}: create {}", logs.display()), e))?;
        }
        // Records left by the previous run must never be mistaken for this one's.
        for (file, what) in [(&paths.exit_record, "exit record"), (&paths.ports, "ports file")] {
            match std::fs::remove_file(file) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    return Err(Error::io(format!("box {id}: remove stale {what}"), e))
                }
                _ => {}
            }
        }
        let engine = self.engine()?;
        let guest_path =
            crate::binaries::find_guest(self.options().guest_path.as_deref(), self.shim_path()?)?;

        let mut guest = GuestConfig {
            nproc_max: rootless.then_some(limits.pids_max),
            ..guest_config(&id, config, &image.config)?
        };
        if !boot.main {
            guest.main = None;
        }
        let spec = ShimSpec {
            box_id: id.clone(),
            hostname: name.map(str::to_string).unwrap_or_else(|| id.clone()),
            rootfs_lower: image.rootfs.clone(),
            upper_dir: layer.upper,
            work_dir: layer.work,
            merged_dir: paths.merged.clone(),
            socket_path: paths.socket.clone(),
            guest_path,
            exit_record_path: paths.exit_record.clone(),
            detach: boot.detach,
            stop_grace_ms: STOP_GRACE.as_millis() as u64,
            // A rootless box has no cgroup: its pids limit is the agent's RLIMIT_NPROC, set
            // from the guest config, and the rest is reported as not enforced.
            limits: match rootless {
                true => Limits::default(),
                false => Limits {
                    memory_mib: Some(limits.memory_mib),
                    cpus: limits.cpus,
                    pids_max: Some(limits.pids_max),
                },
            },
            tmp_size_mib: limits.tmp_size_mib,
            log: LogLimits {
                path: paths.log.clone(),
                max_bytes: limits.log_max_size_mib << 20,
                files: limits.log_max_files,
            },
            disk: layer.disk,
            user_namespace: config.userns == UsernsMode::Private,
            rootless,
            network: crate::network::spec(config, &paths.ports),
            volumes: crate::volumes::spec(config),
            guest,
        };
        let has_main = spec.guest.main.is_some();
        let request =
            LaunchRequest { spec, spec_path: paths.spec.clone(), log_path: paths.log.clone() };
        let stage = Instant::now();
        let launched = engine.launch(&request)?;
        let shim = self.reaper()?.register(launched.child)?;
        let box_spawn = stage.elapsed();
        registered(&shim)?;

        let timeout = self.options().resolved_guest_ready_timeout()?;
        let ctx = ReadyContext {
            box_id: id.clone(),
            log_path: paths.log.clone(),
            socket_path: paths.socket.clone(),
        };
        let stage = Instant::now();
        wait_for_guest_ready(launched.ready, &shim, timeout, &ctx).await.map_err(|reason| {
            let kind = if shim.status().is_none() && !reason.contains("exited") {
                ErrorKind::Timeout
            } else {
                ErrorKind::Engine
            };
            Error::new(kind, reason)
        })?;
        let guest_ready = stage.elapsed();
        let agent = connect(&id, &paths.socket).await?;
        let times = StartTimes { total: Duration::ZERO, image_prepare, box_spawn, guest_ready };
        Ok(Booted { shim, liveness: launched.liveness, agent, has_main, times })
    }
}

/// How [`Runtime::boot`] boots a box.
#[derive(Clone, Copy, Debug)]
pub(super) struct Boot {
    /// The shim outlives the host process.
    pub(super) detach: bool,
    /// The box's main command runs; otherwise the agent waits for calls only.
    pub(super) main: bool,
}

/// A shim launched for a box, its agent connected.
pub(super) struct Booted {
    pub(super) shim: ShimHandle,
    pub(super) liveness: Option<std::process::ChildStdin>,
    pub(super) agent: crate::agent::Agent,
    pub(super) has_main: bool,
    /// How long each stage took (`total` is the caller's to fill).
    pub(super) times: StartTimes,
}

/// Where a box's writable layer lives.
struct WritableLayer {
    upper: PathBuf,
    work: PathBuf,
    disk: Option<DiskSpec>,
}

impl WritableLayer {
    /// On the box's disk (docs/architecture.md, "Box disk"), unless the box was made by a
    /// boxlite without disks: its changes are in a host directory then, which stays its upper
    /// dir (unbounded) rather than being hidden behind a new, empty disk. A rootless box has
    /// no disk either: it would need a loop device (core/src/rootless.rs).
    fn of(home: &Home, paths: &BoxPaths, disk_size_gb: u64, rootless: bool) -> Self {
        let legacy = std::fs::symlink_metadata(&paths.legacy_upper).is_ok()
            && std::fs::symlink_metadata(&paths.disk_image).is_err();
        if legacy || rootless {
            return WritableLayer {
                upper: paths.legacy_upper.clone(),
                work: paths.legacy_work.clone(),
                disk: None,
            };
        }
        WritableLayer {
            upper: paths.disk_mount.join("upper"),
            work: paths.disk_mount.join("work"),
            disk: Some(DiskSpec {
                image: paths.disk_image.clone(),
                size_bytes: disk_size_gb << 30,
                mount_dir: paths.disk_mount.clone(),
                template: home.disk_template(disk_size_gb),
            }),
        }
    }
}

/// The agent's view of the box: image defaults overlaid by the box's options.
fn guest_config(id: &str, opts: &BoxOptions, image: &ImageConfig) -> Result<GuestConfig> {
    let limits = BoxLimits::of(opts);
    let mut env: Vec<(String, String)> = Vec::new();
    for (k, v) in image.env.iter().chain(&opts.env) {
        env.retain(|(existing, _)| existing != k);
        env.push((k.clone(), v.clone()));
    }
    // As Docker: an explicit entrypoint replaces the image's entrypoint and drops its cmd; a
    // cmd alone is appended to the image's entrypoint. Without either the box has no main
    // command and stays up for exec: a box is a long-lived environment.
    let main = match (&opts.entrypoint, &opts.cmd) {
        (Some(ep), cmd) => Some(ep.iter().chain(cmd.iter().flatten()).cloned().collect()),
        (None, Some(cmd)) => {
            Some(image.entrypoint.iter().flatten().chain(cmd).cloned().collect::<Vec<_>>())
        }
        (None, None) => None,
    }
    .filter(|argv: &Vec<String>| !argv.is_empty());
    // Checked at create; checked again because the stored options are a file on disk.
    let capabilities =
        opts.capabilities().map_err(|e| Error::invalid_argument(format!("box {id}: {e}")))?;
    // Keeps the kind: a profile refused is the caller's error, a host fact unreadable is not.
    let seccomp_profile = opts
        .seccomp_program(capabilities)
        .map_err(|e| Error::new(e.kind(), format!("box {id}: {e}")))?;
    Ok(GuestConfig {
        box_id: id.to_string(),
        env,
        working_dir: opts
            .working_dir
            .clone()
            .or_else(|| image.working_dir.clone().filter(|w| !w.is_empty()))
            .unwrap_or_else(|| "/".to_string()),
        user: opts.user.clone().or_else(|| image.user.clone()).unwrap_or_default(),
        main,
        stop_grace_ms: STOP_GRACE.as_millis() as u64,
        nofile: Some([limits.nofile_soft, limits.nofile_hard]),
        capabilities: Some(capabilities),
        seccomp_unconfined: opts.seccomp == SeccompMode::Unconfined,
        seccomp_profile,
        nproc_max: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image() -> ImageConfig {
        ImageConfig {
            entrypoint: Some(vec!["/init".into()]),
            cmd: Some(vec!["serve".into()]),
            env: vec![("PATH".into(), "/bin".into()), ("A".into(), "image".into())],
            working_dir: Some("/app".into()),
            user: Some("1000".into()),
        }
    }

    #[test]
    fn box_options_override_image_defaults() {
        let opts = BoxOptions {
            env: vec![("A".into(), "box".into())],
            cmd: Some(vec!["run".into()]),
            ..BoxOptions::new("x")
        };
        let cfg = guest_config("id", &opts, &image()).unwrap();
        assert_eq!(cfg.env, vec![("PATH".into(), "/bin".into()), ("A".into(), "box".into())]);
        assert_eq!(cfg.main, Some(vec!["/init".to_string(), "run".to_string()]));
        assert_eq!((cfg.working_dir.as_str(), cfg.user.as_str()), ("/app", "1000"));
    }

    #[test]
    fn entrypoint_drops_image_cmd_and_no_command_means_no_main() {
        let opts = BoxOptions { entrypoint: Some(vec!["sh".into()]), ..BoxOptions::new("x") };
        assert_eq!(guest_config("id", &opts, &image()).unwrap().main, Some(vec!["sh".to_string()]));
        assert_eq!(guest_config("id", &BoxOptions::new("x"), &image()).unwrap().main, None);
    }
}
