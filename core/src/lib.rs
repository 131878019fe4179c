//! boxlite-core: an embeddable sandbox runtime.
//!
//! A [`Runtime`] opens a home directory (SQLite state, images, boxes) and creates boxes —
//! isolated, stateful Linux environments built from OCI images. Each box has a [`BoxStatus`]
//! that only changes along the lifecycle in docs/architecture.md ("Box lifecycle");
//! [`BoxStatus::as_str`] is the canonical name every SDK shows.
//!
//! ```
//! use boxlite_core::{BoxOptions, BoxStatus, Runtime, RuntimeOptions};
//!
//! # let dir = tempfile::tempdir().unwrap();
//! let rt = Runtime::open(RuntimeOptions { home_dir: Some(dir.path().into()), ..Default::default() })?;
//! let b = rt.create(BoxOptions::new("alpine:3.20"), Some("demo"))?;
//! assert_eq!(b.info()?.status, BoxStatus::Configured);
//! rt.remove("demo", false)?;
//! assert!(rt.get("demo")?.is_none());
//! # Ok::<(), boxlite_core::Error>(())
//! ```
#![deny(missing_docs)]

mod agent;
mod binaries;
mod cgroups;
mod db;
mod engine;
mod error;
mod exec;
mod files;
mod home;
mod host;
mod id;
mod images;
mod info;
mod limits;
mod litebox;
mod lock;
mod logs;
mod metrics;
mod network;
mod options;
mod ports;
mod procfs;
mod registries;
mod rootless;
mod runtime;
mod shim;
mod status;
mod tree;
mod volumes;

#[doc(hidden)]
pub mod fuzzing;
#[doc(hidden)]
pub mod testing;

pub use error::{Error, ErrorKind, Result};
pub use exec::{Command, ExecControl, ExecResult, ExecStdin, Execution};
pub use files::{
    CopyOptions, CopyStats, EntryKind, FileEntry, DEFAULT_MAX_COPY_BYTES, DEFAULT_MAX_COPY_ENTRIES,
    MAX_LIST_ENTRIES, MAX_READ_FILE_BYTES,
};
pub use host::{host_report, HostReport, HostWall};
pub use images::{ProgressFn, PullProgress};
pub use info::BoxInfo;
pub use limits::{
    BoxLimits, DEFAULT_LOG_MAX_FILES, DEFAULT_LOG_MAX_SIZE_MIB, DEFAULT_MEMORY_MIB, DEFAULT_NOFILE,
    DEFAULT_PIDS_MAX,
};
pub use litebox::{LiteBox, DEFAULT_STOP_TIMEOUT};
pub use logs::{LogOptions, LogStream, LOG_CHUNK_BYTES};
pub use metrics::{BoxMetrics, RuntimeMetrics};
pub use network::NetworkMode;
pub use options::{
    parse_env_pair, validate_name, BoxOptions, RuntimeOptions, SeccompMode, UsernsMode,
    DEFAULT_GUEST_READY_TIMEOUT, GUEST_READY_TIMEOUT_ENV, MAX_CPUS, MAX_MEMORY_MIB, MAX_NAME_LEN,
    MIN_MEMORY_MIB,
};
pub use ports::{PortProtocol, PortSpec, DEFAULT_PORT_HOST_IP};
pub use registries::{
    ImageRegistry, RegistryAuth, RegistryTransport, CONFIG_FILE, IMAGE_REGISTRIES_ENV,
};
pub use runtime::{ImageHandle, ImageInfo, PruneReport, Runtime};
pub use status::{BoxState, BoxStatus};
pub use volumes::VolumeSpec;
