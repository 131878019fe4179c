//! `CopyOptions`, `CopyStats`, `FileEntry` ↔ core's `files` module, and the bodies of the
//! `Box` file methods (`copy_in`, `copy_out`, `read_file`, `write_file`, `list_dir`), which
//! `litebox.rs` declares: pyo3 takes one `#[pymethods]` block per class.

use std::path::PathBuf;

use boxlite_core::{CopyOptions, CopyStats, Error, ErrorKind, FileEntry, LiteBox};
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use crate::bridge::awaitable;
use crate::error::to_py_err;

/// How `copy_in` and `copy_out` copy: upstream BoxLite's four options, and
/// `preserve_owners`. An option not given takes core's default (`CopyOptions::default()`:
/// recursive, overwrite, include_parent on; follow_symlinks, preserve_owners off).
#[pyclass(name = "CopyOptions", module = "boxlite._boxlite", get_all, set_all)]
#[derive(Clone)]
pub(crate) struct PyCopyOptions {
    recursive: bool,
    overwrite: bool,
    follow_symlinks: bool,
    include_parent: bool,
    preserve_owners: bool,
}

impl From<&PyCopyOptions> for CopyOptions {
    fn from(o: &PyCopyOptions) -> Self {
        CopyOptions {
            recursive: o.recursive,
            overwrite: o.overwrite,
            follow_symlinks: o.follow_symlinks,
            include_parent: o.include_parent,
            preserve_owners: o.preserve_owners,
            ..CopyOptions::default()
        }
    }
}

#[pymethods]
impl PyCopyOptions {
    #[new]
    #[pyo3(signature = (recursive=None, overwrite=None, follow_symlinks=None,
                        include_parent=None, preserve_owners=None))]
    fn new(
        recursive: Option<bool>,
        overwrite: Option<bool>,
        follow_symlinks: Option<bool>,
        include_parent: Option<bool>,
        preserve_owners: Option<bool>,
    ) -> Self {
        let d = CopyOptions::default();
        PyCopyOptions {
            recursive: recursive.unwrap_or(d.recursive),
            overwrite: overwrite.unwrap_or(d.overwrite),
            follow_symlinks: follow_symlinks.unwrap_or(d.follow_symlinks),
            include_parent: include_parent.unwrap_or(d.include_parent),
            preserve_owners: preserve_owners.unwrap_or(d.preserve_owners),
        }
    }

    fn __repr__(&self) -> String {
        let py_bool = |b: bool| if b { "True" } else { "False" };
        format!(
            "CopyOptions(recursive={}, overwrite={}, follow_symlinks={}, include_parent={}, \
             preserve_owners={})",
            py_bool(self.recursive),
            py_bool(self.overwrite),
            py_bool(self.follow_symlinks),
            py_bool(self.include_parent),
            py_bool(self.preserve_owners)
        )
    }
}

/// What a copy moved.
#[pyclass(name = "CopyStats", module = "boxlite._boxlite", frozen, get_all)]
pub(crate) struct PyCopyStats {
    /// Files, directories and links.
    entries: u64,
    /// Bytes of file data.
    bytes: u64,
}

impl From<CopyStats> for PyCopyStats {
    fn from(s: CopyStats) -> Self {
        PyCopyStats { entries: s.entries, bytes: s.bytes }
    }
}

#[pymethods]
impl PyCopyStats {
    fn __repr__(&self) -> String {
        format!("CopyStats(entries={}, bytes={})", self.entries, self.bytes)
    }
}

/// One entry of `Box.list_dir`.
#[pyclass(name = "FileEntry", module = "boxlite._boxlite", frozen, get_all)]
pub(crate) struct PyFileEntry {
    name: String,
    path: String,
    /// `"file"`, `"dir"`, `"symlink"` or `"other"` (`EntryKind::as_str`).
    kind: &'static str,
    /// Bytes (of the link itself for a symlink).
    size: u64,
    /// Permission bits.
    mode: u32,
    /// Last modification, milliseconds since the epoch.
    mtime_ms: i64,
    uid: u32,
    gid: u32,
    /// Where a symlink points; `None` for anything else.
    link_target: Option<String>,
}

impl From<FileEntry> for PyFileEntry {
    fn from(e: FileEntry) -> Self {
        PyFileEntry {
            name: e.name,
            path: e.path,
            kind: e.kind.as_str(),
            size: e.size,
            mode: e.mode,
            mtime_ms: e.mtime_ms,
            uid: e.uid,
            gid: e.gid,
            link_target: e.link_target,
        }
    }
}

#[pymethods]
impl PyFileEntry {
    fn __repr__(&self) -> String {
        format!(
            "FileEntry(path={:?}, kind={:?}, size={}, mode=0o{:o})",
            self.path, self.kind, self.size, self.mode
        )
    }
}

/// A box path given by Python: a `str` that is valid Unicode (a lone surrogate cannot become
/// the UTF-8 the agent takes), else `invalid_argument`.
pub(crate) fn box_path(what: &str, path: &Bound<'_, PyAny>) -> PyResult<String> {
    path.extract::<String>().map_err(|e| {
        to_py_err(Error::new(
            ErrorKind::InvalidArgument,
            format!("{what}: not a valid box path: {e}"),
        ))
    })
}

fn core_options(options: Option<PyRef<'_, PyCopyOptions>>) -> CopyOptions {
    options.map_or_else(CopyOptions::default, |o| CopyOptions::from(&*o))
}

pub(crate) fn copy_in<'py>(
    py: Python<'py>,
    b: LiteBox,
    host_path: PathBuf,
    container_dest: String,
    options: Option<PyRef<'_, PyCopyOptions>>,
) -> PyResult<Bound<'py, PyAny>> {
    let options = core_options(options);
    awaitable(py, async move {
        b.copy_in(host_path, &container_dest, options)
            .await
            .map(PyCopyStats::from)
            .map_err(to_py_err)
    })
}

pub(crate) fn copy_out<'py>(
    py: Python<'py>,
    b: LiteBox,
    container_src: String,
    host_dest: PathBuf,
    options: Option<PyRef<'_, PyCopyOptions>>,
) -> PyResult<Bound<'py, PyAny>> {
    let options = core_options(options);
    awaitable(py, async move {
        b.copy_out(&container_src, host_dest, options)
            .await
            .map(PyCopyStats::from)
            .map_err(to_py_err)
    })
}

pub(crate) fn read_file<'py>(
    py: Python<'py>,
    b: LiteBox,
    path: String,
) -> PyResult<Bound<'py, PyAny>> {
    awaitable(py, async move {
        let data = b.read_file(&path).await.map_err(to_py_err)?;
        Ok(Python::attach(|py| PyBytes::new(py, &data).unbind()))
    })
}

pub(crate) fn write_file<'py>(
    py: Python<'py>,
    b: LiteBox,
    path: String,
    data: Vec<u8>,
    mode: Option<u32>,
) -> PyResult<Bound<'py, PyAny>> {
    awaitable(py, async move { b.write_file(&path, data, mode).await.map_err(to_py_err) })
}

pub(crate) fn list_dir<'py>(
    py: Python<'py>,
    b: LiteBox,
    path: String,
) -> PyResult<Bound<'py, PyAny>> {
    awaitable(py, async move {
        let entries = b.list_dir(&path).await.map_err(to_py_err)?;
        Ok(entries.into_iter().map(PyFileEntry::from).collect::<Vec<_>>())
    })
}
