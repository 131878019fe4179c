//! The types of `Box.copyIn`, `copyOut`, `readFile`, `writeFile`, `listDir` (core's `files`
//! module): `CopyOptions` in, `CopyStats` and `FileEntry` out, camelCase. The methods are in
//! `litebox.rs`: napi's type generation names a class's methods only in the file of the class.

use boxlite_core::{CopyOptions, CopyStats, FileEntry};
use napi_derive::napi;

/// How `copyIn` and `copyOut` copy (upstream BoxLite's four, and `preserveOwners`); an unset
/// option takes core's default.
#[napi(object, js_name = "CopyOptions", object_to_js = false)]
#[derive(Default)]
pub struct JsCopyOptions {
    /// Copy directory trees (default true).
    pub recursive: Option<bool>,
    /// Replace files and symlinks in the way (default true).
    pub overwrite: Option<bool>,
    /// Copy what symlinks point to instead of the links (default false).
    pub follow_symlinks: Option<bool>,
    /// A directory copied into a directory lands as `dst/<name>` (default true).
    pub include_parent: Option<bool>,
    /// Keep numeric owners (default false).
    pub preserve_owners: Option<bool>,
}

impl From<JsCopyOptions> for CopyOptions {
    fn from(o: JsCopyOptions) -> Self {
        let d = CopyOptions::default();
        CopyOptions {
            recursive: o.recursive.unwrap_or(d.recursive),
            overwrite: o.overwrite.unwrap_or(d.overwrite),
            follow_symlinks: o.follow_symlinks.unwrap_or(d.follow_symlinks),
            include_parent: o.include_parent.unwrap_or(d.include_parent),
            preserve_owners: o.preserve_owners.unwrap_or(d.preserve_owners),
            ..d
        }
    }
}

/// What a copy moved. Numbers: exact up to 2^53.
#[napi(object, js_name = "CopyStats", object_from_js = false)]
pub struct JsCopyStats {
    /// Files, directories and links.
    pub entries: f64,
    /// Bytes of file data.
    pub bytes: f64,
}

impl From<CopyStats> for JsCopyStats {
    fn from(s: CopyStats) -> Self {
        JsCopyStats { entries: s.entries as f64, bytes: s.bytes as f64 }
    }
}

/// One entry of `Box.listDir`.
#[napi(object, js_name = "FileEntry", object_from_js = false, use_nullable = true)]
pub struct JsFileEntry {
    /// The entry's name in its directory.
    pub name: String,
    /// The entry's path in the box.
    pub path: String,
    /// `'file'`, `'dir'`, `'symlink'` or `'other'`.
    #[napi(ts_type = "'file' | 'dir' | 'symlink' | 'other'")]
    pub kind: String,
    /// Bytes (of the link itself for a symlink).
    pub size: f64,
    /// Permission bits.
    pub mode: u32,
    /// Last modification, milliseconds since the epoch.
    pub mtime_ms: f64,
    /// Owner, as the box numbers users.
    pub uid: u32,
    /// Group, as the box numbers groups.
    pub gid: u32,
    /// Where a symlink points; null for anything else.
    pub link_target: Option<String>,
}

impl From<FileEntry> for JsFileEntry {
    fn from(e: FileEntry) -> Self {
        JsFileEntry {
            name: e.name,
            path: e.path,
            kind: e.kind.as_str().to_owned(),
            size: e.size as f64,
            mode: e.mode,
            mtime_ms: e.mtime_ms as f64,
            uid: e.uid,
            gid: e.gid,
            link_target: e.link_target,
        }
    }
}
