//! `fleetc publish`: the rendered tree as a commit on a branch, written
//! straight into the object database (SPEC §8).
//!
//! - parent = the branch's tip; the message ends with the trailer
//!   `Fleetc-Source: <sha>`;
//! - author and committer are `fleetc` at the source commit's committer time,
//!   so the same source and the same tip give the same commit id;
//! - no commit when the tree equals the tip's;
//! - a source older than the one the tip was rendered from (the tip's source
//!   descends from it) is refused unless forced;
//! - the ref moves by compare-and-swap from the tip that was read; when
//!   another publish moved it first, the decision is made again against the
//!   new tip (a few times), so racing publishers leave a full render.
//!
//! HEAD, the index and the work tree are never touched.

use crate::diag::Code;
use gix::bstr::ByteSlice;
use gix::refs::transaction::{PreviousValue, RefEdit};
use gix::refs::{FullName, Target};
use gix::ObjectId;

use super::{short, Failure, Git};
use crate::diag::Diagnostic;

/// The trailer naming the source commit.
pub const TRAILER: &str = "Fleetc-Source";
/// Attempts of the compare-and-swap before giving up.
const ATTEMPTS: usize = 5;

#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// A new commit is the branch's tip.
    Committed {
        commit: ObjectId,
        parent: Option<ObjectId>,
    },
    /// The branch already holds this tree.
    Unchanged { tip: ObjectId },
}

/// Commit the tree `tree_id` (already in the object database) onto branch
/// `branch` as rendered from `source`.
pub fn commit(
    git: &Git,
    source: ObjectId,
    branch: &str,
    tree_id: ObjectId,
    message: Option<&str>,
    force: bool,
) -> Result<Outcome, Failure> {
    let repo = &git.repo;
    let name = branch_ref(branch)?;
    let src = repo
        .find_commit(source)
        .map_err(|e| Failure::other(format!("cannot read commit {source}: {e}")))?;
    let time = src
        .committer()
        .map_err(|e| Failure::other(format!("cannot read the committer of {source}: {e}")))?
        .time()
        .map_err(|e| Failure::other(format!("cannot read the commit time of {source}: {e}")))?;
    let subject = message.map_or_else(
        || format!("Render {}", short(source)),
        |m| m.trim_end().to_string(),
    );
    let body = format!("{subject}\n\n{TRAILER}: {}\n", source.to_hex());
    let signature = gix::actor::Signature {
        name: "fleetc".into(),
        email: "fleetc@localhost".into(),
        time,
    };

    for _ in 0..ATTEMPTS {
        let tip = tip_of(git, &name)?;
        if let Some(tip) = tip {
            let tip_commit = repo
                .find_commit(tip)
                .map_err(|e| Failure::other(format!("cannot read {branch}'s tip {tip}: {e}")))?;
            let tip_tree = tip_commit
                .tree_id()
                .map_err(|e| Failure::other(format!("cannot read {branch}'s tip tree: {e}")))?
                .detach();
            if !force {
                if let Some(prev) = source_of(&tip_commit) {
                    if prev != source && is_ancestor(git, source, prev)? {
                        return Err(Failure::invalid(
                            Diagnostic::error(Code::PublishRefused, format!(
                                "refusing to publish {}: branch `{branch}` was rendered from {}, which is newer",
                                short(source),
                                short(prev)
                            ))
                            .help("publish a newer revision, or pass --force to move the branch back"),
                        ));
                    }
                }
            }
            if tip_tree == tree_id {
                return Ok(Outcome::Unchanged { tip });
            }
        }
        let commit = gix::objs::Commit {
            tree: tree_id,
            parents: tip.into_iter().collect(),
            author: signature.clone(),
            committer: signature.clone(),
            encoding: None,
            message: body.clone().into(),
            extra_headers: Vec::new(),
        };
        let id = repo
            .write_object(&commit)
            .map_err(|e| Failure::other(format!("cannot write the commit: {e}")))?
            .detach();
        let expected = match tip {
            Some(t) => PreviousValue::MustExistAndMatch(Target::Object(t)),
            None => PreviousValue::MustNotExist,
        };
        let edit = RefEdit::update(
            name.clone(),
            Target::Object(id),
            expected,
            format!("fleetc publish: {subject}"),
        );
        let mut time_buf = Default::default();
        match repo.edit_references_as([edit], Some(signature.to_ref(&mut time_buf))) {
            Ok(_) => {
                return Ok(Outcome::Committed {
                    commit: id,
                    parent: tip,
                })
            }
            Err(_) if tip_of(git, &name)? != tip => continue, // another publish won; decide again
            Err(e) => {
                return Err(Failure::other(format!(
                    "cannot update {}: {e}",
                    name.as_bstr()
                )))
            }
        }
    }
    Err(Failure::other(format!(
        "branch `{branch}` kept moving while publishing ({ATTEMPTS} attempts); run again"
    )))
}

/// A branch's tip, as a publish onto it sees it.
pub struct Tip {
    pub commit: ObjectId,
    pub tree: ObjectId,
    /// What its `inventory.json` records, when it has one fleetc can read
    /// back: equal inputs digests mean the same tree, so `publish` says "up
    /// to date" without rendering, and a cluster whose digest is unchanged
    /// keeps its part of the tree.
    pub recorded: Option<crate::emit::recorded::Recorded>,
}

/// The tip of `branch`, when the branch exists.
pub fn tip(git: &Git, branch: &str) -> Result<Option<Tip>, Failure> {
    let name = branch_ref(branch)?;
    let Some(commit) = tip_of(git, &name)? else {
        return Ok(None);
    };
    let tree = git
        .repo
        .find_commit(commit)
        .and_then(|c| c.tree_id().map(|t| t.detach()))
        .map_err(|e| Failure::other(format!("cannot read {branch}'s tip {commit}: {e}")))?;
    let root = git
        .repo
        .find_tree(tree)
        .map_err(|e| Failure::other(format!("cannot read {branch}'s tip tree: {e}")))?;
    let recorded = root
        .find_entry("inventory.json")
        .and_then(|entry| git.repo.find_blob(entry.object_id()).ok())
        .and_then(|blob| crate::emit::recorded::Recorded::parse(&blob.data));
    Ok(Some(Tip {
        commit,
        tree,
        recorded,
    }))
}

/// The entries of `tree` down to its second level: each file at the top
/// (`inventory.json`) and each entry of a top directory (`clusters/<c>`,
/// `bootstrap/<c>.yaml`), with its kind and object; the parts a cluster
/// keeps come from here.
pub fn second_level(git: &Git, tree: ObjectId) -> Result<super::pack::Slots, Failure> {
    let fail = |e: &dyn std::fmt::Display| Failure::other(format!("cannot read a tree: {e}"));
    let mut out = super::pack::Slots::new();
    let root = git.repo.find_tree(tree).map_err(|e| fail(&e))?;
    for e in root.iter() {
        let e = e.map_err(|e| fail(&e))?;
        let name = e.filename().to_str().map_err(|e| fail(&e))?.to_string();
        if !e.mode().is_tree() {
            out.insert(name, (e.mode().kind(), e.oid().to_owned()));
            continue;
        }
        let sub = git.repo.find_tree(e.oid()).map_err(|e| fail(&e))?;
        for s in sub.iter() {
            let s = s.map_err(|e| fail(&e))?;
            let leaf = s.filename().to_str().map_err(|e| fail(&e))?;
            out.insert(
                format!("{name}/{leaf}"),
                (s.mode().kind(), s.oid().to_owned()),
            );
        }
    }
    Ok(out)
}

fn branch_ref(branch: &str) -> Result<FullName, Failure> {
    let full = if branch.starts_with("refs/") {
        branch.to_string()
    } else {
        format!("refs/heads/{branch}")
    };
    if branch.starts_with('-') || full == "refs/heads/HEAD" {
        return Err(Failure::invalid(Diagnostic::error(
            Code::PublishRefused,
            format!("`{branch}` is not a branch name"),
        )));
    }
    FullName::try_from(full.as_str()).map_err(|e| {
        Failure::invalid(Diagnostic::error(
            Code::PublishRefused,
            format!("`{branch}` is not a valid branch name: {e}"),
        ))
    })
}

/// The commit the branch points at, if it exists.
fn tip_of(git: &Git, name: &FullName) -> Result<Option<ObjectId>, Failure> {
    let r = git
        .repo
        .try_find_reference(name.as_bstr())
        .map_err(|e| Failure::other(format!("cannot read {}: {e}", name.as_bstr())))?;
    match r {
        None => Ok(None),
        Some(mut r) => {
            let id = r
                .peel_to_id()
                .map_err(|e| Failure::other(format!("cannot resolve {}: {e}", name.as_bstr())))?;
            Ok(Some(id.detach()))
        }
    }
}

/// The source commit named by a rendered commit's trailer.
fn source_of(c: &gix::Commit<'_>) -> Option<ObjectId> {
    let msg = c.message_raw().ok()?;
    msg.lines().rev().find_map(|l| {
        let l = l.to_str().ok()?;
        let v = l.strip_prefix(TRAILER)?.strip_prefix(':')?.trim();
        ObjectId::from_hex(v.as_bytes()).ok()
    })
}

/// Whether `a` is an ancestor of `b`.
fn is_ancestor(git: &Git, a: ObjectId, b: ObjectId) -> Result<bool, Failure> {
    if git.repo.find_commit(b).is_err() {
        return Ok(false); // the tip names a commit this clone does not have
    }
    match git.repo.merge_base(a, b) {
        Ok(Some(base)) => Ok(base.detach() == a),
        Ok(None) => Ok(false),
        Err(e) => Err(Failure::other(format!("cannot compare {a} and {b}: {e}"))),
    }
}
