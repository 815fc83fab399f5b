//! Git: the only user of gix. Reads a fleet at a revision straight from the
//! object database into a [`FileSet`] (no checkout: work tree, index and hooks
//! are never touched), and writes a rendered tree as a commit on a branch
//! (blobs, trees, a commit, and a compare-and-swap ref update).
//!
//! A tree is hostile input like any file: entries named `.`, `..` or `.git`
//! (any case), gitlinks (submodules) and symbolic links that leave the fleet
//! directory are errors; links inside it are followed, as on disk.

pub mod pack;
pub mod publish;

use crate::diag::Code;
use std::path::Path;

use gix::bstr::ByteSlice;
use gix::objs::tree::EntryKind;
use gix::ObjectId;

use crate::diag::{Diagnostic, Diags};
use crate::source::{path_error, FileSet, Limits, FLEET_ROOTS};

/// Why a git operation failed: bad input (exit 2) or anything else (exit 3).
#[derive(Debug)]
pub enum Failure {
    /// An invalid revision, a hostile tree, a path that is not in a repository.
    Invalid(Diags),
    /// Git or I/O errors.
    Other(Diags),
}

impl Failure {
    fn invalid(d: Diagnostic) -> Failure {
        let mut ds = Diags::default();
        ds.push(d);
        Failure::Invalid(ds)
    }

    fn other(msg: impl Into<String>) -> Failure {
        let mut ds = Diags::default();
        ds.push(Diagnostic::error(Code::Git, msg));
        Failure::Other(ds)
    }

    pub fn diags(&self) -> &Diags {
        match self {
            Failure::Invalid(d) | Failure::Other(d) => d,
        }
    }

    pub fn exit_code(&self) -> u8 {
        match self {
            Failure::Invalid(_) => 2,
            Failure::Other(_) => 3,
        }
    }
}

/// A repository opened from a fleet directory inside its work tree.
pub struct Git {
    pub repo: gix::Repository,
    /// The fleet directory relative to the work tree root (`""` at the root), with `/`.
    pub prefix: String,
}

/// Longest revision string accepted (git's own refnames stay far below).
const MAX_REV_LEN: usize = 256;
/// Symbolic links followed in a row before giving up (as the kernel's ELOOP).
const MAX_LINK_HOPS: usize = 40;

impl Git {
    /// Open the repository whose work tree contains `dir`.
    pub fn open(dir: &Path) -> Result<Git, Failure> {
        let canon = dir.canonicalize().map_err(|e| {
            Failure::invalid(Diagnostic::error(
                Code::Io,
                format!(
                    "cannot read the repository directory {}: {e}",
                    dir.display()
                ),
            ))
        })?;
        let repo = gix::discover(&canon).map_err(|e| {
            Failure::invalid(
                Diagnostic::error(Code::Git, format!(
                    "{} is not inside a git repository ({e})",
                    dir.display()
                ))
                .help("--rev reads the fleet from git; without it fleetc reads the directory as it is"),
            )
        })?;
        let Some(work) = repo.workdir().map(Path::to_path_buf) else {
            return Err(Failure::invalid(Diagnostic::error(
                Code::Git,
                format!(
                    "{} is a bare repository; run fleetc from a work tree",
                    dir.display()
                ),
            )));
        };
        let work = work.canonicalize().unwrap_or(work);
        let rel = canon.strip_prefix(&work).map_err(|_| {
            Failure::invalid(Diagnostic::error(
                Code::Git,
                format!(
                    "{} is not inside the work tree of {}",
                    dir.display(),
                    work.display()
                ),
            ))
        })?;
        let parts: Option<Vec<&str>> = rel.components().map(|c| c.as_os_str().to_str()).collect();
        let prefix = parts
            .ok_or_else(|| {
                Failure::invalid(Diagnostic::error(
                    Code::UnsupportedFile,
                    "the repository path is not valid UTF-8",
                ))
            })?
            .join("/");
        Ok(Git { repo, prefix })
    }

    /// The commit `rev` names (anything `git rev-parse` accepts that peels to a commit).
    pub fn commit_id(&self, rev: &str) -> Result<ObjectId, Failure> {
        check_rev(rev)?;
        let id = self.repo.rev_parse_single(rev.as_bytes().as_bstr()).map_err(|e| {
            Failure::invalid(
                Diagnostic::error(Code::InvalidRevision, format!("invalid revision `{rev}`: {e}"))
                    .help("give a commit, branch, tag or expression `git rev-parse` accepts (e.g. HEAD~1, origin/main)"),
            )
        })?;
        let commit = id
            .object()
            .map_err(|e| Failure::other(format!("cannot read {id}: {e}")))?
            .peel_to_commit()
            .map_err(|e| {
                Failure::invalid(Diagnostic::error(
                    Code::InvalidRevision,
                    format!("revision `{rev}` is not a commit: {e}"),
                ))
            })?;
        Ok(commit.id)
    }

    /// Read the fleet directory at `commit` into a [`FileSet`].
    pub fn read(&self, commit: ObjectId, limits: &Limits) -> Result<FileSet, Failure> {
        let c = self
            .repo
            .find_commit(commit)
            .map_err(|e| Failure::other(format!("cannot read commit {commit}: {e}")))?;
        let root_tree = c
            .tree_id()
            .map_err(|e| Failure::other(format!("cannot read the tree of {commit}: {e}")))?
            .detach();
        let mut r = Reader {
            repo: &self.repo,
            root: root_tree,
            prefix: self.prefix.clone(),
            limits,
            total: 0,
            set: FileSet::default(),
            diags: Diags::default(),
        };
        let fleet_tree = match r.lookup(&self.prefix, 0)? {
            Some((EntryKind::Tree, id)) => id,
            _ => {
                let what = if self.prefix.is_empty() {
                    "the repository root".to_string()
                } else {
                    format!("`{}`", self.prefix)
                };
                return Err(Failure::invalid(Diagnostic::error(
                    Code::InvalidRevision,
                    format!("{what} is not a directory at revision {}", short(commit)),
                )));
            }
        };
        let tree = self
            .repo
            .find_tree(fleet_tree)
            .map_err(|e| Failure::other(format!("cannot read tree {fleet_tree}: {e}")))?;
        for entry in tree.iter() {
            let entry = entry.map_err(|e| Failure::other(format!("corrupt tree: {e}")))?;
            let Ok(name) = entry.filename().to_str() else {
                continue;
            };
            if FLEET_ROOTS.contains(&name) {
                r.entry(name, entry.mode().kind(), entry.object_id(), 0)?;
            } else {
                check_name(entry.filename(), name).map_err(Failure::invalid)?;
            }
        }
        if r.diags.has_errors() {
            return Err(Failure::Invalid(r.diags));
        }
        Ok(r.set)
    }

    /// The commit `rev` names and the fleet read from it.
    pub fn read_rev(&self, rev: &str, limits: &Limits) -> Result<(FileSet, ObjectId), Failure> {
        let id = self.commit_id(rev)?;
        Ok((self.read(id, limits)?, id))
    }
}

/// The first 12 hex digits of an id.
pub fn short(id: ObjectId) -> String {
    id.to_hex_with_len(12).to_string()
}

/// Revision strings come from CI variables and PR titles: no option-like,
/// overlong or control-character strings reach the parser.
fn check_rev(rev: &str) -> Result<(), Failure> {
    let bad = if rev.is_empty() {
        Some("it is empty")
    } else if rev.starts_with('-') {
        Some("it starts with `-`")
    } else if rev.len() > MAX_REV_LEN {
        Some("it is too long")
    } else if rev.chars().any(|c| c.is_control() || c.is_whitespace()) {
        Some("it contains whitespace or control characters")
    } else {
        None
    };
    match bad {
        Some(why) => {
            let shown: String = rev.chars().take(60).filter(|c| !c.is_control()).collect();
            Err(Failure::invalid(
                Diagnostic::error(
                    Code::InvalidRevision,
                    format!("invalid revision `{shown}`: {why}"),
                )
                .help("give a commit, branch, tag or expression `git rev-parse` accepts"),
            ))
        }
        None => Ok(()),
    }
}

/// Tree entry names that must never become paths.
fn check_name(raw: &gix::bstr::BStr, name: &str) -> Result<(), Diagnostic> {
    let hostile = name.is_empty()
        || name == "."
        || name == ".."
        || name.eq_ignore_ascii_case(".git")
        || raw.contains(&b'/')
        || raw.contains(&b'\\')
        || raw.contains(&0);
    if hostile {
        Err(Diagnostic::error(Code::HostileTree, format!(
            "the revision's tree has an entry named {name:?}, which no checkout can hold; refusing to read it"
        )))
    } else {
        Ok(())
    }
}

struct Reader<'a> {
    repo: &'a gix::Repository,
    root: ObjectId,
    /// The fleet directory in the work tree (paths in the FileSet are relative to it).
    prefix: String,
    limits: &'a Limits,
    total: u64,
    set: FileSet,
    diags: Diags,
}

impl Reader<'_> {
    /// Find `path` (relative to the work tree root, `/`-separated, no `..`)
    /// in the commit's tree, following symbolic links on the way.
    fn lookup(&self, path: &str, hops: usize) -> Result<Option<(EntryKind, ObjectId)>, Failure> {
        let mut kind = EntryKind::Tree;
        let mut id = self.root;
        let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
        for (i, part) in parts.iter().enumerate() {
            if kind != EntryKind::Tree {
                return Ok(None);
            }
            let tree = self
                .repo
                .find_tree(id)
                .map_err(|e| Failure::other(format!("cannot read tree {id}: {e}")))?;
            let Some(e) = tree.find_entry(*part) else {
                return Ok(None);
            };
            kind = e.mode().kind();
            id = e.object_id();
            if kind == EntryKind::Link {
                let here = parts[..i].join("/");
                let target = self.link_target(&here, part, id)?;
                let Some(target) = target else {
                    return Ok(None);
                };
                if hops >= MAX_LINK_HOPS {
                    return Ok(None);
                }
                let rest = parts[i + 1..].join("/");
                let next = if rest.is_empty() {
                    target
                } else {
                    format!("{target}/{rest}")
                };
                return self.lookup(&next, hops + 1);
            }
        }
        Ok(Some((kind, id)))
    }

    /// Where a link at `dir/name` points, relative to the work tree root; None
    /// when it leaves the fleet directory.
    fn link_target(
        &self,
        dir: &str,
        name: &str,
        blob: ObjectId,
    ) -> Result<Option<String>, Failure> {
        let b = self
            .repo
            .find_blob(blob)
            .map_err(|e| Failure::other(format!("cannot read {dir}/{name}: {e}")))?;
        let Ok(text) = std::str::from_utf8(&b.data) else {
            return Ok(None);
        };
        if text.starts_with('/') || text.contains('\0') {
            return Ok(None);
        }
        let mut parts: Vec<&str> = dir.split('/').filter(|p| !p.is_empty()).collect();
        for c in text.split('/') {
            match c {
                "" | "." => {}
                ".." => {
                    if parts.pop().is_none() {
                        return Ok(None);
                    }
                }
                c => parts.push(c),
            }
        }
        let joined = parts.join("/");
        let inside = self.prefix.is_empty()
            || joined == self.prefix
            || joined.starts_with(&format!("{}/", self.prefix));
        Ok(inside.then_some(joined))
    }

    /// Repo-relative path → work-tree path.
    fn full(&self, rel: &str) -> String {
        if self.prefix.is_empty() {
            rel.to_string()
        } else {
            format!("{}/{rel}", self.prefix)
        }
    }

    /// Read one entry at `rel` (relative to the fleet directory).
    fn entry(
        &mut self,
        rel: &str,
        kind: EntryKind,
        id: ObjectId,
        depth: usize,
    ) -> Result<(), Failure> {
        match kind {
            EntryKind::Tree => self.tree(rel, id, depth),
            EntryKind::Blob | EntryKind::BlobExecutable => self.blob(rel, id),
            EntryKind::Commit => {
                self.diags.push(
                    path_error(
                        Code::HostileTree,
                        rel,
                        "a git submodule (gitlink) in the fleet; refusing to read it",
                    )
                    .help("fleet files must be part of the repository itself"),
                );
                Ok(())
            }
            EntryKind::Link => {
                let full = self.full(rel);
                let (dir, name) = full.rsplit_once('/').unwrap_or(("", full.as_str()));
                let target = self.link_target(dir, name, id)?;
                let resolved = match target {
                    Some(t) => self.lookup(&t, 1)?,
                    None => None,
                };
                match resolved {
                    Some((EntryKind::Link, _)) | None => {
                        self.diags.push(
                            path_error(Code::LinkOutside, rel, "symbolic link leads outside the repository (or nowhere)")
                                .help("links are followed only when their target is inside the fleet repository"),
                        );
                        Ok(())
                    }
                    Some((k, target_id)) => {
                        if depth >= MAX_LINK_HOPS {
                            self.diags.push(path_error(
                                Code::LinkOutside,
                                rel,
                                "symbolic link loop",
                            ));
                            return Ok(());
                        }
                        self.entry(rel, k, target_id, depth + 1)
                    }
                }
            }
        }
    }

    fn tree(&mut self, rel: &str, id: ObjectId, depth: usize) -> Result<(), Failure> {
        let tree = self
            .repo
            .find_tree(id)
            .map_err(|e| Failure::other(format!("cannot read tree {id}: {e}")))?;
        let mut entries = Vec::new();
        for e in tree.iter() {
            let e = e.map_err(|e| Failure::other(format!("corrupt tree at {rel}: {e}")))?;
            let Ok(name) = e.filename().to_str() else {
                self.diags.push(path_error(
                    Code::UnsupportedFile,
                    rel,
                    "a file name in this directory is not valid UTF-8",
                ));
                continue;
            };
            if let Err(d) = check_name(e.filename(), name) {
                let at = format!("{rel}/{}", name.escape_debug());
                self.diags
                    .push(d.at(&crate::diag::Span::file(&crate::diag::Source::new(at, ""))));
                continue;
            }
            entries.push((name.to_string(), e.mode().kind(), e.object_id()));
        }
        for (name, kind, oid) in entries {
            self.entry(&format!("{rel}/{name}"), kind, oid, depth)?;
        }
        Ok(())
    }

    fn blob(&mut self, rel: &str, id: ObjectId) -> Result<(), Failure> {
        let header = self
            .repo
            .find_header(id)
            .map_err(|e| Failure::other(format!("cannot read {rel}: {e}")))?;
        let len = header.size();
        if len > self.limits.max_file_bytes {
            self.diags.push(
                path_error(Code::FileTooLarge,
                    rel,
                    format!(
                        "file is {}, over the {} byte limit",
                        crate::diag::plural(len, "byte", "bytes"),
                        self.limits.max_file_bytes
                    ),
                )
                .help("raise the limit with `--limit file-bytes=N` (or --max-file-size) if this file is really needed"),
            );
            return Ok(());
        }
        self.total = self.total.saturating_add(len);
        if self.total > self.limits.max_total_bytes {
            self.diags.push(path_error(
                Code::FileTooLarge,
                rel,
                format!(
                    "the repository is over the {} byte input limit",
                    self.limits.max_total_bytes
                ),
            ));
            return Err(Failure::Invalid(std::mem::take(&mut self.diags)));
        }
        let b = self
            .repo
            .find_blob(id)
            .map_err(|e| Failure::other(format!("cannot read {rel}: {e}")))?;
        let mut b = b;
        self.set
            .insert(rel.to_string(), std::mem::take(&mut b.data));
        Ok(())
    }
}
