//! Sources: the fleet repository as an in-memory, sorted [`FileSet`].
//!
//! Every later stage reads only the `FileSet`, never the file system, so the
//! same compile serves a work tree, a git revision and the tests. Reading a
//! directory follows symbolic links only when they resolve inside the
//! repository, refuses special files without opening them, and caps file
//! sizes before reading. Only the fleet's own directories are read.

use crate::diag::Code;
use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::diag::{Diagnostic, Diags, Source, Span};

/// Top-level entries of a fleet repository that fleetc reads.
pub const FLEET_ROOTS: &[&str] = &[
    "fleet.yaml",
    "clusters",
    "groups",
    "components",
    "policies",
    "placements",
    "crds",
    "patches",
];

/// Limits on what is read.
#[derive(Clone, Debug)]
pub struct Limits {
    pub max_file_bytes: u64,
    pub max_total_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_file_bytes: 16 << 20,
            max_total_bytes: 1 << 30,
        }
    }
}

/// Repo-relative path (with `/`) → file bytes, in byte order of the path.
#[derive(Clone, Debug, Default)]
pub struct FileSet {
    pub files: BTreeMap<String, Arc<[u8]>>,
}

impl FileSet {
    pub fn get(&self, path: &str) -> Option<&Arc<[u8]>> {
        self.files.get(path)
    }

    pub fn insert(&mut self, path: impl Into<String>, bytes: impl Into<Arc<[u8]>>) {
        self.files.insert(path.into(), bytes.into());
    }
}

/// A diagnostic about a path that has no text to show.
pub fn path_error(code: Code, path: &str, message: impl Into<String>) -> Diagnostic {
    Diagnostic::error(code, message).at(&Span::file(&Source::new(path, "")))
}

/// Read the fleet directories of `root` into a [`FileSet`].
pub fn read_dir(root: &Path, limits: &Limits) -> Result<FileSet, Diags> {
    let mut diags = Diags::default();
    let mut set = FileSet::default();
    let canon_root = match root.canonicalize() {
        Ok(p) => p,
        Err(e) => {
            diags.push(Diagnostic::error(
                Code::Io,
                format!(
                    "cannot read the repository directory {}: {e}",
                    root.display()
                ),
            ));
            return Err(diags);
        }
    };
    if !canon_root.is_dir() {
        diags.push(Diagnostic::error(
            Code::Io,
            format!("{} is not a directory", root.display()),
        ));
        return Err(diags);
    }
    let mut total: u64 = 0;
    for top in FLEET_ROOTS {
        let start = canon_root.join(top);
        if std::fs::symlink_metadata(&start).is_err() {
            continue;
        }
        let mut it = walkdir::WalkDir::new(&start)
            .follow_links(true)
            .sort_by_file_name()
            .into_iter();
        while let Some(entry) = it.next() {
            let entry = match entry {
                Ok(e) => e,
                Err(e) => {
                    let rel = e
                        .path()
                        .and_then(|p| rel_path(&canon_root, p))
                        .unwrap_or_else(|| top.to_string());
                    let is_link = e
                        .path()
                        .and_then(|p| p.symlink_metadata().ok())
                        .is_some_and(|m| m.file_type().is_symlink());
                    let (code, msg) = if e.loop_ancestor().is_some() {
                        (Code::LinkOutside, "symbolic link loop".to_string())
                    } else if is_link {
                        // A link whose target cannot be read: dangling, or a loop of links.
                        let why = e
                            .io_error()
                            .map_or_else(|| e.to_string(), |x| x.to_string());
                        (
                            Code::LinkOutside,
                            format!("symbolic link leads nowhere readable ({why})"),
                        )
                    } else {
                        let why = e
                            .io_error()
                            .map_or_else(|| e.to_string(), |x| x.to_string());
                        (Code::Io, format!("cannot read: {why}"))
                    };
                    diags.push(path_error(code, &rel, msg));
                    continue;
                }
            };
            let path = entry.path();
            let Some(rel) = rel_path(&canon_root, path) else {
                diags.push(Diagnostic::error(
                    Code::UnsupportedFile,
                    format!("file name is not valid UTF-8: {}", path.display()),
                ));
                continue;
            };
            // Confinement: a link (anywhere on the path) must resolve inside the repository.
            if entry.path_is_symlink() || path_has_symlink(&canon_root, path) {
                match path.canonicalize() {
                    Ok(real) if real.starts_with(&canon_root) => {}
                    Ok(_) | Err(_) => {
                        diags.push(path_error(Code::LinkOutside, &rel, "symbolic link leads outside the repository (or nowhere)")
                            .help("links are followed only when their target is inside the fleet repository"));
                        if entry.file_type().is_dir() {
                            it.skip_current_dir();
                        }
                        continue;
                    }
                }
            }
            let ft = entry.file_type();
            if ft.is_dir() {
                continue;
            }
            if !ft.is_file() {
                diags.push(path_error(
                    Code::UnsupportedFile,
                    &rel,
                    "not a regular file (FIFO, socket or device); refusing to read it",
                ));
                continue;
            }
            let len = entry.metadata().map(|m| m.len()).unwrap_or(0);
            if len > limits.max_file_bytes {
                diags.push(
                    path_error(Code::FileTooLarge,
                        &rel,
                        format!(
                            "file is {}, over the {} byte limit",
                            crate::diag::plural(len, "byte", "bytes"),
                            limits.max_file_bytes
                        ),
                    )
                    .help("raise the limit with `--limit file-bytes=N` (or --max-file-size) if this file is really needed"),
                );
                continue;
            }
            total = total.saturating_add(len);
            if total > limits.max_total_bytes {
                diags.push(
                    path_error(Code::FileTooLarge,
                        &rel,
                        format!(
                            "the repository is over the {} byte input limit",
                            limits.max_total_bytes
                        ),
                    )
                    .help("raise the limit with `--limit total-bytes=N` if the fleet is really this large"),
                );
                return Err(diags);
            }
            match read_capped(path, limits.max_file_bytes) {
                Ok(bytes) => set.insert(rel, bytes),
                Err(e) => diags.push(path_error(Code::Io, &rel, format!("cannot read: {e}"))),
            }
        }
    }
    if diags.has_errors() {
        Err(diags)
    } else {
        Ok(set)
    }
}

fn rel_path(root: &Path, p: &Path) -> Option<String> {
    let rel = p.strip_prefix(root).ok()?;
    let parts: Option<Vec<&str>> = rel.components().map(|c| c.as_os_str().to_str()).collect();
    Some(parts?.join("/"))
}

fn path_has_symlink(root: &Path, p: &Path) -> bool {
    let mut cur = PathBuf::from(root);
    if let Ok(rel) = p.strip_prefix(root) {
        for c in rel.components() {
            cur.push(c);
            if std::fs::symlink_metadata(&cur).is_ok_and(|m| m.file_type().is_symlink()) {
                return true;
            }
        }
    }
    false
}

fn read_capped(path: &Path, cap: u64) -> std::io::Result<Vec<u8>> {
    let f = std::fs::File::open(path)?;
    let mut buf = Vec::new();
    f.take(cap + 1).read_to_end(&mut buf)?;
    if buf.len() as u64 > cap {
        return Err(std::io::Error::other(format!(
            "file grew over the {cap} byte limit"
        )));
    }
    Ok(buf)
}
