//! Writing the output tree to a directory, atomically, and comparing a
//! rendered tree with one; both as [`Sink`]s, so that a large fleet streams
//! through a cluster at a time.
//!
//! A fresh staging directory is written next to `<out>` and swapped in only
//! when every file was written ([`Staging::commit`]); `<out>` is refused
//! unless fleetc created it (marker file [`MARKER`]) or it is empty, and
//! when it lies inside a tree fleetc wrote; its missing parents are created
//! (`mkdir -p`); nothing is written through a symbolic link. On any failure, and when a staging
//! directory is dropped without being committed, the previous tree stays
//! exactly as it was and the staging directory is removed.

use std::collections::{BTreeMap, HashSet};
use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use rayon::prelude::*;

use super::Tree;

pub const MARKER: &str = ".fleetc-output";
/// Written in `<out>` while [`Update::commit`] swaps clusters in: the
/// clusters it names may be half replaced, so the next render renders them
/// again whatever `inventory.json` says.
pub const JOURNAL: &str = ".fleetc-journal";
const MARKER_TEXT: &str =
    "This directory is written by fleetc; every render replaces or updates it.\n";

#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// The output directory may not be written (exit 2).
    #[error("{0}")]
    Refused(String),
    /// An I/O failure (exit 3).
    #[error("{0}")]
    Io(String),
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
/// present, `inventory.json` a regular file, no update left unfinished), if any.
pub fn recorded_digest(out: &Path) -> Option<String> {
    if !is_ours(out) || fs::symlink_metadata(out.join(JOURNAL)).is_ok() {
        return None;
    }
    // Only the digest is kept: the rest of the (large) file is scanned, not built.
    #[derive(serde::Deserialize)]
    struct Head {
        #[serde(rename = "inputsDigest")]
        inputs_digest: Option<String>,
    }
    let f = fs::File::open(out.join("inventory.json")).ok()?;
    let head: Head = serde_json::from_reader(std::io::BufReader::new(f)).ok()?;
    head.inputs_digest
}

/// Is `out` a directory fleetc wrote, with its marker and a regular `inventory.json`?
fn is_ours(out: &Path) -> bool {
    let regular = |p: &Path| fs::symlink_metadata(p).is_ok_and(|m| m.is_file());
    fs::symlink_metadata(out).is_ok_and(|m| m.is_dir())
        && regular(&out.join(MARKER))
        && regular(&out.join("inventory.json"))
}

/// What the output tree fleetc wrote at `out` records of each cluster (see
/// [`super::recorded`]), with the clusters an unfinished update named.
/// None when `out` is not such a tree, its inventory cannot be read back,
/// or a symbolic link lies anywhere in it.
pub fn recorded(out: &Path) -> Option<super::recorded::Recorded> {
    let r = read_recorded(out)?;
    // A tree with a symbolic link planted in it is replaced as a whole:
    // an update in place could write through it. (The file types come
    // with the directory listing: no file is opened or stat'ed.)
    for entry in walkdir::WalkDir::new(out).follow_links(false) {
        if entry.ok()?.file_type().is_symlink() {
            return None;
        }
    }
    Some(r)
}

/// The inventory and journal of a tree fleetc wrote, read back.
fn read_recorded(out: &Path) -> Option<super::recorded::Recorded> {
    if !is_ours(out) {
        return None;
    }
    let bytes = fs::read(out.join("inventory.json")).ok()?;
    let mut r = super::recorded::Recorded::parse(&bytes)?;
    match fs::read_to_string(out.join(JOURNAL)) {
        Ok(j) => r.unsettled = j.lines().map(String::from).collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(_) => return None,
    }
    Some(r)
}

/// [`recorded`], when what it records can be trusted without reading the
/// files back: no update left unfinished, no symbolic link, and nothing
/// under `out` modified after fleetc last finished writing there (every
/// render rewrites the marker last; a hand edit, a deleted file or a git
/// checkout makes something newer). `render --check` then compares only
/// the clusters whose digest changed.
pub fn trusted(out: &Path) -> Option<super::recorded::Recorded> {
    // Its own walk below refuses links too.
    let r = read_recorded(out)?;
    if !r.unsettled.is_empty() {
        return None;
    }
    let stamp = fs::symlink_metadata(out.join(MARKER))
        .ok()?
        .modified()
        .ok()?;
    for entry in walkdir::WalkDir::new(out).follow_links(false) {
        let m = entry.ok()?.metadata().ok()?;
        if m.file_type().is_symlink() || m.modified().ok()? > stamp {
            return None;
        }
    }
    Some(r)
}

/// Write the marker (again): the last write of every render, in place, so
/// that its time is the newest under the tree (see [`trusted`]).
fn stamp_marker(dir: &Path) -> Result<(), WriteError> {
    let marker = dir.join(MARKER);
    fs::write(&marker, MARKER_TEXT).map_err(|e| io("write", &marker, e))
}

/// Where the files of an output tree go, a cluster at a time, from many
/// threads at once.
pub trait Sink: Sync {
    /// Whole files (repo-relative path, bytes).
    fn put(&self, files: &[(String, Vec<u8>)]) -> Result<(), WriteError>;
    /// The next piece of a file written in pieces, in order (inventory.json).
    fn append(&self, path: &str, bytes: &[u8]) -> Result<(), WriteError>;
}

/// Two sinks fed at once: whole files go to both, pieces of files
/// (`inventory.json`) to the first only (`render --shard` writes its tree
/// and, beside it, the same files as git objects).
pub struct Tee<'a>(pub &'a dyn Sink, pub &'a dyn Sink);

impl Sink for Tee<'_> {
    fn put(&self, files: &[(String, Vec<u8>)]) -> Result<(), WriteError> {
        self.0.put(files)?;
        self.1.put(files)
    }

    fn append(&self, path: &str, bytes: &[u8]) -> Result<(), WriteError> {
        self.0.append(path, bytes)
    }
}

/// A sink that keeps nothing (`validate`).
pub struct Discard;

impl Sink for Discard {
    fn put(&self, _: &[(String, Vec<u8>)]) -> Result<(), WriteError> {
        Ok(())
    }
    fn append(&self, _: &str, _: &[u8]) -> Result<(), WriteError> {
        Ok(())
    }
}

/// A sink that collects the tree in memory.
#[derive(Default)]
pub struct Collect(pub std::sync::Mutex<BTreeMap<String, Vec<u8>>>);

impl Collect {
    /// What was collected, as a tree.
    pub fn into_tree(self) -> super::Tree {
        super::Tree {
            files: self.0.into_inner().unwrap_or_else(|e| e.into_inner()),
        }
    }
}

impl Sink for Collect {
    fn put(&self, files: &[(String, Vec<u8>)]) -> Result<(), WriteError> {
        let mut m = self.0.lock().unwrap_or_else(|e| e.into_inner());
        m.extend(files.iter().cloned());
        Ok(())
    }
    fn append(&self, path: &str, bytes: &[u8]) -> Result<(), WriteError> {
        let mut m = self.0.lock().unwrap_or_else(|e| e.into_inner());
        m.entry(path.to_string())
            .or_default()
            .extend_from_slice(bytes);
        Ok(())
    }
}

/// `render --check`: compares each file as it comes with the one on disk
/// (files written in pieces are compared piece by piece), remembers which
/// paths the tree has, and at the end walks the directory for the rest.
/// Nothing is followed through a symbolic link at the end; a link anywhere
/// in the tree is itself a difference.
pub struct Checker {
    out: PathBuf,
    seen: Mutex<HashSet<String>>,
    diffs: Mutex<Vec<Difference>>,
    streams: Mutex<BTreeMap<String, Stream>>,
}

struct Stream {
    reader: Option<std::io::BufReader<fs::File>>,
    differs: bool,
}

impl Checker {
    pub fn new(out: &Path) -> Result<Self, WriteError> {
        if fs::symlink_metadata(out).is_ok_and(|m| m.file_type().is_symlink()) {
            return Err(WriteError::Refused(format!(
                "refusing to compare with {}: it is a symbolic link",
                out.display()
            )));
        }
        Ok(Checker {
            out: out.to_path_buf(),
            seen: Mutex::default(),
            diffs: Mutex::default(),
            streams: Mutex::default(),
        })
    }

    fn differ(&self, d: Difference) {
        self.diffs.lock().unwrap_or_else(|e| e.into_inner()).push(d);
    }

    /// Every difference, sorted by path; what lies at or under a path of
    /// `kept` (clusters not rendered: their recorded files are trusted) is
    /// not looked at.
    pub fn finish(self, kept: &[String]) -> Result<Vec<Difference>, WriteError> {
        let kept: HashSet<&Path> = kept.iter().map(Path::new).collect();
        let mut diffs = self.diffs.into_inner().unwrap_or_else(|e| e.into_inner());
        let mut seen = self.seen.into_inner().unwrap_or_else(|e| e.into_inner());
        for (p, mut st) in self.streams.into_inner().unwrap_or_else(|e| e.into_inner()) {
            let longer = st.reader.as_mut().is_some_and(|r| {
                use std::io::Read as _;
                let mut b = [0u8; 1];
                !matches!(r.read(&mut b), Ok(0))
            });
            match st.reader {
                None => diffs.push(Difference::Missing(p.clone())),
                Some(_) if st.differs || longer => diffs.push(Difference::Changed(p.clone())),
                Some(_) => {}
            }
            seen.insert(p);
        }
        if fs::symlink_metadata(&self.out).is_ok() {
            let walk = walkdir::WalkDir::new(&self.out)
                .follow_links(false)
                .into_iter()
                .filter_entry(|e| {
                    e.path()
                        .strip_prefix(&self.out)
                        .is_ok_and(|rel| !kept.contains(rel))
                });
            for entry in walk {
                let entry = entry.map_err(|e| {
                    WriteError::Io(format!("cannot read {}: {e}", self.out.display()))
                })?;
                if entry.file_type().is_dir() {
                    continue;
                }
                let rel = entry
                    .path()
                    .strip_prefix(&self.out)
                    .ok()
                    .and_then(|p| p.to_str())
                    .map(|s| s.replace('\\', "/"))
                    .unwrap_or_default();
                if rel == MARKER {
                    continue;
                }
                if !seen.contains(&rel) {
                    diffs.push(Difference::Extra(rel));
                } else if entry.file_type().is_symlink() {
                    // Compared through the link above; a link is never what render writes.
                    diffs.retain(|d| !matches!(d, Difference::Changed(p) if *p == rel));
                    diffs.push(Difference::Changed(rel));
                }
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
}

impl Sink for Checker {
    fn put(&self, files: &[(String, Vec<u8>)]) -> Result<(), WriteError> {
        for (p, bytes) in files {
            let path = self.out.join(p);
            match fs::symlink_metadata(&path) {
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    self.differ(Difference::Missing(p.clone()))
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotADirectory => {
                    self.differ(Difference::Missing(p.clone()))
                }
                Err(e) => return Err(io("inspect", &path, e)),
                Ok(m) if !m.is_file() => self.differ(Difference::Changed(p.clone())),
                Ok(m) if m.len() != bytes.len() as u64 => {
                    self.differ(Difference::Changed(p.clone()))
                }
                Ok(_) => {
                    let on_disk = fs::read(&path).map_err(|e| io("read", &path, e))?;
                    if on_disk != *bytes {
                        self.differ(Difference::Changed(p.clone()));
                    }
                }
            }
        }
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        seen.extend(files.iter().map(|(p, _)| p.clone()));
        Ok(())
    }

    fn append(&self, path: &str, bytes: &[u8]) -> Result<(), WriteError> {
        use std::io::Read as _;
        let mut streams = self.streams.lock().unwrap_or_else(|e| e.into_inner());
        let st = streams.entry(path.to_string()).or_insert_with(|| {
            let full = self.out.join(path);
            let regular = fs::symlink_metadata(&full).is_ok_and(|m| m.is_file());
            Stream {
                reader: regular
                    .then(|| fs::File::open(&full).ok().map(std::io::BufReader::new))
                    .flatten(),
                differs: false,
            }
        });
        if st.differs {
            return Ok(());
        }
        if let Some(r) = st.reader.as_mut() {
            let mut buf = vec![0u8; bytes.len()];
            match r.read_exact(&mut buf) {
                Ok(()) => st.differs = buf != bytes,
                Err(_) => st.differs = true,
            }
        }
        Ok(())
    }
}

/// A staging directory next to `<out>`, filled by [`Sink`] calls and
/// swapped in by [`Staging::commit`]; removed when dropped uncommitted.
pub struct Staging {
    out: PathBuf,
    dir: PathBuf,
    exists: bool,
    /// Parents of `out` this run created (`mkdir -p`), outermost first;
    /// removed again, when still empty, if nothing is committed.
    created: Vec<PathBuf>,
    files: std::sync::atomic::AtomicUsize,
    streams: Mutex<BTreeMap<String, fs::File>>,
    done: bool,
}

impl Staging {
    /// Check that `out` may be replaced, clear what killed runs left, and
    /// create the staging directory (and `out`'s missing parents, as `mkdir
    /// -p` would).
    pub fn new(out: &Path) -> Result<Self, WriteError> {
        let exists = check_out(out)?;
        check_not_inside_output(out)?;
        let dir = side_path(out, "staging")?;
        let mut s = Staging {
            out: out.to_path_buf(),
            dir,
            exists,
            created: Vec::new(),
            files: Default::default(),
            streams: Mutex::default(),
            done: false,
        };
        if !exists {
            s.created = create_parents(out)?;
        }
        clean_leftovers(out);
        fs::create_dir(&s.dir).map_err(|e| io("create", &s.dir, e))?;
        let marker = s.dir.join(MARKER);
        fs::File::create(&marker)
            .and_then(|mut f| f.write_all(MARKER_TEXT.as_bytes()))
            .map_err(|e| io("write", &marker, e))?;
        Ok(s)
    }

    /// Flush and close the files written in pieces.
    fn sync_streams(&self) -> Result<(), WriteError> {
        let streams = std::mem::take(&mut *self.streams.lock().unwrap_or_else(|e| e.into_inner()));
        for (p, f) in streams {
            f.sync_all()
                .map_err(|e| io("write", &self.dir.join(p), e))?;
        }
        Ok(())
    }

    /// Swap the staged tree in for `<out>`; returns the number of files.
    pub fn commit(mut self) -> Result<usize, WriteError> {
        self.sync_streams()?;
        let (out, staging) = (self.out.clone(), self.dir.clone());
        stamp_marker(&staging)?;
        if self.exists {
            let old = side_path(&out, "old")?;
            fs::rename(&out, &old).map_err(|e| io("move aside", &out, e))?;
            if let Err(e) = fs::rename(&staging, &out) {
                let _ = fs::rename(&old, &out);
                return Err(io("move into place", &out, e));
            }
            self.done = true;
            // The old tree is ours (it had the marker, or was empty).
            let _ = fs::remove_dir_all(&old);
        } else {
            fs::rename(&staging, &out).map_err(|e| io("move into place", &out, e))?;
            self.done = true;
        }
        Ok(self.files.load(std::sync::atomic::Ordering::Relaxed))
    }
}

/// An output tree fleetc wrote, updated in place: each file rendered is
/// compared with the one `<out>` holds, and only the files that differ are
/// written (beside `<out>`, in a staging directory, until
/// [`Update::commit`]); the files of the replaced clusters that were not
/// rendered again are removed at commit. So an update costs what changed,
/// not the clusters it touches: their unchanged files are not rewritten,
/// nor deleted and created again.
pub struct Update {
    staging: Staging,
    /// Every path rendered, changed or not (what stays at commit).
    written: Mutex<HashSet<String>>,
}

impl Update {
    /// Update `out`, a tree fleetc wrote (see [`Staging::new`]).
    pub fn new(out: &Path) -> Result<Self, WriteError> {
        Ok(Update {
            staging: Staging::new(out)?,
            written: Mutex::default(),
        })
    }

    /// Move the changed files into `<out>` and remove what lies under
    /// `roots` (the replaced clusters' paths and the fleet's files) and was
    /// not rendered. [`JOURNAL`] names `clusters` meanwhile, so that a run
    /// killed half-way is finished by the next. Returns the number of files
    /// written.
    pub fn commit(
        self,
        roots: &[String],
        clusters: &std::collections::BTreeSet<String>,
    ) -> Result<usize, WriteError> {
        let mut st = self.staging;
        let written = self.written.into_inner().unwrap_or_else(|e| e.into_inner());
        st.sync_streams()?;
        if !st.exists {
            return st.commit();
        }
        let out = st.out.clone();
        let journal = out.join(JOURNAL);
        let names: String = clusters.iter().map(|c| format!("{c}\n")).collect();
        fs::write(&journal, names).map_err(|e| io("write", &journal, e))?;
        // The changed files, each over the old one in one rename. The
        // renames and the removals, in distinct directories, run on every
        // core: one after another they were most of an update's time.
        let mut staged = Vec::new();
        for entry in walkdir::WalkDir::new(&st.dir).follow_links(false) {
            let entry = entry
                .map_err(|e| WriteError::Io(format!("cannot read {}: {e}", st.dir.display())))?;
            if !entry.file_type().is_file() {
                continue;
            }
            let Ok(rel) = entry.path().strip_prefix(&st.dir) else {
                continue;
            };
            if rel != Path::new(MARKER) {
                staged.push(rel.to_path_buf());
            }
        }
        staged.par_iter().try_for_each(|rel| {
            let to = out.join(rel);
            if fs::symlink_metadata(&to).is_ok_and(|m| m.is_dir()) {
                fs::remove_dir_all(&to).map_err(|e| io("remove", &to, e))?;
            }
            move_to(&st.dir.join(rel), &to)
        })?;
        // What the replaced clusters held and no longer do.
        roots
            .par_iter()
            .try_for_each(|root| remove_stale(&out, root, &written))?;
        for top in ["clusters", "argocd", "bootstrap"] {
            // Only when empty: a tree without clusters has no such directory.
            let _ = fs::remove_dir(out.join(top));
        }
        fs::remove_file(&journal).map_err(|e| io("remove", &journal, e))?;
        stamp_marker(&out)?;
        st.done = true;
        remove_emptied(&st.dir);
        Ok(st.files.load(std::sync::atomic::Ordering::Relaxed))
    }
}

/// Remove the staging directory, its files moved out: its subdirectories
/// two levels down (a cluster's) on every core, then the rest.
fn remove_emptied(dir: &Path) {
    let below = |d: &Path| -> Vec<PathBuf> {
        fs::read_dir(d)
            .map(|rd| rd.flatten().map(|e| e.path()).collect())
            .unwrap_or_default()
    };
    let second: Vec<PathBuf> = below(dir).iter().flat_map(|d| below(d)).collect();
    second.par_iter().for_each(|d| {
        let _ = fs::remove_dir_all(d);
    });
    let _ = fs::remove_dir_all(dir);
}

/// Remove the files at or under `out/root` that are not among `keep`
/// (repo-relative paths), then the directories left empty.
fn remove_stale(out: &Path, root: &str, keep: &HashSet<String>) -> Result<(), WriteError> {
    let top = out.join(root);
    let Ok(meta) = fs::symlink_metadata(&top) else {
        return Ok(());
    };
    if !meta.is_dir() {
        if !keep.contains(root) {
            fs::remove_file(&top).map_err(|e| io("remove", &top, e))?;
        }
        return Ok(());
    }
    for entry in walkdir::WalkDir::new(&top)
        .follow_links(false)
        .contents_first(true)
    {
        let entry =
            entry.map_err(|e| WriteError::Io(format!("cannot read {}: {e}", top.display())))?;
        let path = entry.path();
        if entry.file_type().is_dir() {
            // Fails, as it should, while the directory still holds something.
            let _ = fs::remove_dir(path);
            continue;
        }
        let rel = path
            .strip_prefix(out)
            .ok()
            .and_then(|p| p.to_str())
            .map(|p| p.replace('\\', "/"))
            .unwrap_or_default();
        if !keep.contains(&rel) {
            fs::remove_file(path).map_err(|e| io("remove", path, e))?;
        }
    }
    Ok(())
}

impl Sink for Update {
    fn put(&self, files: &[(String, Vec<u8>)]) -> Result<(), WriteError> {
        let out = &self.staging.out;
        let mut changed = Vec::new();
        for (p, bytes) in files {
            let full = out.join(p);
            let same = fs::symlink_metadata(&full)
                .is_ok_and(|m| m.is_file() && m.len() == bytes.len() as u64)
                && fs::read(&full).is_ok_and(|b| b == *bytes);
            if !same {
                changed.push((p.clone(), bytes.clone()));
            }
        }
        if !changed.is_empty() {
            self.staging.put(&changed)?;
        }
        let mut w = self.written.lock().unwrap_or_else(|e| e.into_inner());
        w.extend(files.iter().map(|(p, _)| p.clone()));
        Ok(())
    }

    fn append(&self, path: &str, bytes: &[u8]) -> Result<(), WriteError> {
        self.written
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(path.to_string());
        self.staging.append(path, bytes)
    }
}

/// Rename `from` to `to`, creating `to`'s missing parents.
fn move_to(from: &Path, to: &Path) -> Result<(), WriteError> {
    if let Some(parent) = to.parent() {
        fs::create_dir_all(parent).map_err(|e| io("create", parent, e))?;
    }
    fs::rename(from, to).map_err(|e| io("move into place", to, e))
}

impl Drop for Staging {
    fn drop(&mut self) {
        if !self.done {
            let _ = fs::remove_dir_all(&self.dir);
            remove_created(&self.created);
        }
    }
}

/// Create the missing parents of `out`, outermost first, and return them.
/// On failure the ones already created are removed again.
fn create_parents(out: &Path) -> Result<Vec<PathBuf>, WriteError> {
    let mut missing = Vec::new();
    for p in out.ancestors().skip(1) {
        if p.as_os_str().is_empty() || fs::symlink_metadata(p).is_ok() {
            break;
        }
        missing.push(p.to_path_buf());
    }
    missing.reverse();
    let mut created = Vec::new();
    for p in missing {
        match fs::create_dir(&p) {
            Ok(()) => created.push(p),
            // Created by someone else meanwhile: not ours to remove.
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && p.is_dir() => {}
            Err(e) => {
                remove_created(&created);
                return Err(io("create", &p, e));
            }
        }
    }
    Ok(created)
}

/// Remove the parents [`create_parents`] made, innermost first, as long as
/// they are empty.
fn remove_created(created: &[PathBuf]) {
    for p in created.iter().rev() {
        if fs::remove_dir(p).is_err() {
            break;
        }
    }
}

/// A path made absolute with `.` and `..` taken lexically, as the shell's
/// `cd` does (`-o ../x` from inside a tree is not inside it).
pub fn lexical_absolute(p: &Path) -> Option<PathBuf> {
    let abs = std::path::absolute(p).ok()?;
    let mut out = PathBuf::new();
    for c in abs.components() {
        match c {
            std::path::Component::ParentDir => {
                out.pop();
            }
            std::path::Component::CurDir => {}
            c => out.push(c),
        }
    }
    Some(out)
}

/// `out` may not lie inside a tree fleetc wrote: that tree is replaced as a
/// whole on its next render, taking `out` with it.
fn check_not_inside_output(out: &Path) -> Result<(), WriteError> {
    let Some(resolved) = lexical_absolute(out) else {
        return Ok(());
    };
    for p in resolved.ancestors().skip(1) {
        if fs::symlink_metadata(p.join(MARKER)).is_ok_and(|m| m.is_file()) {
            return Err(WriteError::Refused(format!(
                "refusing to write to {}: it is inside {}, an output tree fleetc wrote (replaced as a whole on its next render)",
                out.display(),
                p.display()
            )));
        }
    }
    Ok(())
}

impl Sink for Staging {
    fn put(&self, files: &[(String, Vec<u8>)]) -> Result<(), WriteError> {
        // Each directory once (sorted, parents before children), then the files.
        let mut dirs: Vec<&Path> = files
            .iter()
            .filter_map(|(p, _)| Path::new(p).parent())
            .collect();
        dirs.sort_unstable();
        dirs.dedup();
        for d in dirs {
            let d = self.dir.join(d);
            fs::create_dir_all(&d).map_err(|e| io("create", &d, e))?;
        }
        for (p, bytes) in files {
            let path = self.dir.join(p);
            write_new(&path, bytes)?;
        }
        self.files
            .fetch_add(files.len(), std::sync::atomic::Ordering::Relaxed);
        Ok(())
    }

    fn append(&self, path: &str, bytes: &[u8]) -> Result<(), WriteError> {
        let mut streams = self.streams.lock().unwrap_or_else(|e| e.into_inner());
        let full = self.dir.join(path);
        if !streams.contains_key(path) {
            if let Some(parent) = full.parent() {
                fs::create_dir_all(parent).map_err(|e| io("create", parent, e))?;
            }
            let f = fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&full)
                .map_err(|e| io("create", &full, e))?;
            streams.insert(path.to_string(), f);
            self.files
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        let f = streams.get_mut(path).expect("inserted above");
        f.write_all(bytes).map_err(|e| io("write", &full, e))
    }
}

/// Create a file that must not exist yet (never through a link) and write it.
fn write_new(path: &Path, bytes: &[u8]) -> Result<(), WriteError> {
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(|e| io("create", path, e))?;
    f.write_all(bytes).map_err(|e| io("write", path, e))
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

/// Write `tree` to `out`, replacing what fleetc wrote there before;
/// returns the number of files.
pub fn write_dir(out: &Path, tree: &Tree) -> Result<usize, WriteError> {
    let staging = Staging::new(out)?;
    let files: Vec<(String, Vec<u8>)> = tree
        .files
        .iter()
        .map(|(p, b)| (p.clone(), b.clone()))
        .collect();
    // A chunk per worker, so the files are written in parallel.
    let per = files
        .len()
        .div_ceil(rayon::current_num_threads().max(1) * 4)
        .max(1);
    files.par_chunks(per).try_for_each(|c| staging.put(c))?;
    staging.commit()
}
