//! Writing the output tree to a directory, atomically.
//!
//! A fresh staging directory is written next to `<out>` and swapped in only
//! when every file was written; `<out>` is refused unless fleetc created it
//! (marker file [`MARKER`]) or it is empty; nothing is written through a
//! symbolic link; when the new tree equals the existing one nothing on disk
//! changes. On any failure the previous tree stays exactly as it was and the
//! staging directory is removed.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use rayon::prelude::*;

use super::Tree;

pub const MARKER: &str = ".fleetc-output";
const MARKER_TEXT: &str =
    "This directory is written by fleetc; it is replaced as a whole on every render.\n";

#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// The output directory may not be written (exit 2).
    #[error("{0}")]
    Refused(String),
    /// An I/O failure (exit 3).
    #[error("{0}")]
    Io(String),
}

#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    UpToDate,
    Written { files: usize },
}

/// One difference between a rendered tree and a directory.
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Difference {
    Changed(String),
    Missing(String),
    Extra(String),
}

fn io(what: &str, p: &Path, e: std::io::Error) -> WriteError {
    WriteError::Io(format!("cannot {what} {}: {e}", p.display()))
}

/// Check that `out` may be replaced; returns whether it exists.
fn check_out(out: &Path) -> Result<bool, WriteError> {
    let meta = match fs::symlink_metadata(out) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(io("inspect", out, e)),
    };
    if meta.file_type().is_symlink() {
        return Err(WriteError::Refused(format!(
            "refusing to write to {}: it is a symbolic link",
            out.display()
        )));
    }
    if !meta.is_dir() {
        return Err(WriteError::Refused(format!(
            "refusing to write to {}: it is not a directory",
            out.display()
        )));
    }
    let marker = out.join(MARKER);
    let has_marker = fs::symlink_metadata(&marker).is_ok_and(|m| m.is_file());
    if !has_marker {
        let empty = fs::read_dir(out)
            .map_err(|e| io("read", out, e))?
            .next()
            .is_none();
        if !empty {
            return Err(WriteError::Refused(format!(
                "refusing to replace {}: it exists and was not created by fleetc (no {MARKER} file)",
                out.display()
            )));
        }
    }
    Ok(true)
}

/// The `inputsDigest` recorded in an output tree fleetc wrote (marker
/// present, `inventory.json` a regular file), if any.
pub fn recorded_digest(out: &Path) -> Option<String> {
    let regular = |p: &Path| fs::symlink_metadata(p).is_ok_and(|m| m.is_file());
    if fs::symlink_metadata(out).map_or(true, |m| !m.is_dir())
        || !regular(&out.join(MARKER))
        || !regular(&out.join("inventory.json"))
    {
        return None;
    }
    let text = fs::read(out.join("inventory.json")).ok()?;
    let v: serde_json::Value = serde_json::from_slice(&text).ok()?;
    v.get("inputsDigest")?.as_str().map(str::to_string)
}

/// Read an existing output tree (regular files only, marker excluded).
pub fn read_tree(out: &Path) -> Result<BTreeMap<String, Vec<u8>>, WriteError> {
    let mut files = BTreeMap::new();
    if fs::symlink_metadata(out).is_err() {
        return Ok(files);
    }
    for entry in walkdir::WalkDir::new(out)
        .sort_by_file_name()
        .follow_links(false)
    {
        let entry =
            entry.map_err(|e| WriteError::Io(format!("cannot read {}: {e}", out.display())))?;
        if entry.file_type().is_dir() {
            continue;
        }
        let rel = entry
            .path()
            .strip_prefix(out)
            .ok()
            .and_then(|p| p.to_str())
            .map(|s| s.replace('\\', "/"))
            .unwrap_or_default();
        if rel == MARKER {
            continue;
        }
        if entry.file_type().is_symlink() {
            // Never follow: a link is reported as a file whose content differs.
            files.insert(rel, Vec::new());
            continue;
        }
        let bytes = fs::read(entry.path()).map_err(|e| io("read", entry.path(), e))?;
        files.insert(rel, bytes);
    }
    Ok(files)
}

/// Compare a rendered tree with a directory (for `render --check`).
pub fn compare(out: &Path, tree: &Tree) -> Result<Vec<Difference>, WriteError> {
    let on_disk = read_tree(out)?;
    let mut diffs = Vec::new();
    for (p, bytes) in &tree.files {
        match on_disk.get(p) {
            None => diffs.push(Difference::Missing(p.clone())),
            Some(b) if b != bytes => diffs.push(Difference::Changed(p.clone())),
            Some(_) => {}
        }
    }
    for p in on_disk.keys() {
        if !tree.files.contains_key(p) {
            diffs.push(Difference::Extra(p.clone()));
        }
    }
    diffs.sort_by(|a, b| {
        let key = |d: &Difference| match d {
            Difference::Changed(p) | Difference::Missing(p) | Difference::Extra(p) => p.clone(),
        };
        key(a).cmp(&key(b))
    });
    Ok(diffs)
}

fn side_path(out: &Path, what: &str) -> Result<PathBuf, WriteError> {
    let name = out.file_name().and_then(|n| n.to_str()).ok_or_else(|| {
        WriteError::Refused(format!(
            "refusing to write to {}: no directory name",
            out.display()
        ))
    })?;
    let parent = out
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    Ok(parent.join(format!(".{name}.fleetc-{what}-{}", std::process::id())))
}

/// Remove leftovers of earlier runs that were killed half-way (only ours: they hold the marker).
fn clean_leftovers(out: &Path) {
    let (Some(name), Some(parent)) = (out.file_name().and_then(|n| n.to_str()), out.parent())
    else {
        return;
    };
    let parent = if parent.as_os_str().is_empty() {
        Path::new(".")
    } else {
        parent
    };
    let prefix = format!(".{name}.fleetc-");
    if let Ok(rd) = fs::read_dir(parent) {
        for e in rd.flatten() {
            let n = e.file_name();
            let Some(n) = n.to_str() else { continue };
            if n.starts_with(&prefix)
                && fs::symlink_metadata(e.path()).is_ok_and(|m| m.is_dir())
                && fs::symlink_metadata(e.path().join(MARKER)).is_ok_and(|m| m.is_file())
            {
                let _ = fs::remove_dir_all(e.path());
            }
        }
    }
}

fn write_all(dir: &Path, tree: &Tree) -> Result<(), WriteError> {
    fs::create_dir(dir).map_err(|e| io("create", dir, e))?;
    let mut marker =
        fs::File::create(dir.join(MARKER)).map_err(|e| io("create", &dir.join(MARKER), e))?;
    marker
        .write_all(MARKER_TEXT.as_bytes())
        .map_err(|e| io("write", &dir.join(MARKER), e))?;
    // Directories first (sorted, so parents precede children), then files in parallel.
    let mut dirs: Vec<PathBuf> = tree
        .files
        .keys()
        .filter_map(|p| Path::new(p).parent().map(|d| dir.join(d)))
        .collect();
    dirs.sort();
    dirs.dedup();
    for d in &dirs {
        fs::create_dir_all(d).map_err(|e| io("create", d, e))?;
    }
    tree.files.par_iter().try_for_each(|(p, bytes)| {
        let path = dir.join(p);
        fs::write(&path, bytes).map_err(|e| io("write", &path, e))
    })
}

/// Write `tree` to `out`, replacing what fleetc wrote there before.
pub fn write_dir(out: &Path, tree: &Tree) -> Result<Outcome, WriteError> {
    let exists = check_out(out)?;
    if exists && fs::symlink_metadata(out.join(MARKER)).is_ok() && read_tree(out)? == tree.files {
        return Ok(Outcome::UpToDate);
    }
    clean_leftovers(out);
    let staging = side_path(out, "staging")?;
    if let Err(e) = write_all(&staging, tree) {
        let _ = fs::remove_dir_all(&staging);
        return Err(e);
    }
    if exists {
        let old = side_path(out, "old")?;
        if let Err(e) = fs::rename(out, &old) {
            let _ = fs::remove_dir_all(&staging);
            return Err(io("move aside", out, e));
        }
        if let Err(e) = fs::rename(&staging, out) {
            let _ = fs::rename(&old, out);
            let _ = fs::remove_dir_all(&staging);
            return Err(io("move into place", out, e));
        }
        // The old tree is ours (it had the marker, or was empty).
        let _ = fs::remove_dir_all(&old);
    } else if let Err(e) = fs::rename(&staging, out) {
        let _ = fs::remove_dir_all(&staging);
        return Err(io("move into place", out, e));
    }
    Ok(Outcome::Written {
        files: tree.files.len(),
    })
}
