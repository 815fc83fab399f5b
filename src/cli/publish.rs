//! `fleetc publish`: commit the rendered tree of a revision onto a branch
//! (no checkout, no push).
//!
//! The tree streams into one pack as clusters are rendered; a cluster
//! whose digest the branch's inventory records unchanged keeps its part of
//! the branch's tree without being rendered, and within a cluster that
//! changed, objects the branch already has are not written again.

use std::path::PathBuf;

use fleetc::diag::plural;
use fleetc::driver::{self, shard};
use fleetc::emit;
use fleetc::git::pack::{write_root, PackWriter, TreeSink};
use fleetc::git::publish::{commit, second_level, tip, Outcome, Tip};
use fleetc::git::{short, Git};

use crate::exit::{Exit, Failure};
use crate::{input, Ctx};

#[derive(clap::Args)]
pub struct Args {
    /// The fleet repository (default: the current directory).
    #[arg(default_value = ".")]
    repo: PathBuf,
    /// The source revision (default: HEAD).
    #[arg(long, value_name = "REV", default_value = "HEAD")]
    rev: String,
    /// The branch to commit onto (created when missing).
    #[arg(long, value_name = "B")]
    branch: String,
    /// Commit subject (default: "Render <source>").
    #[arg(long, value_name = "M")]
    message: Option<String>,
    /// Publish even when the branch was rendered from a newer source, and
    /// render every cluster even when the branch's inventory says its
    /// inputs did not change.
    #[arg(long)]
    force: bool,
    /// Publish the tree assembled from the directories `fleetc render
    /// --shard K/N --rev REV` wrote (repeatable: every shard once) instead
    /// of rendering: the same commit one machine would make.
    #[arg(long = "from", value_name = "DIR")]
    from: Vec<PathBuf>,
}

pub fn run(ctx: &Ctx, a: Args) -> Result<Exit, Failure> {
    let git = Git::open(&a.repo)?;
    let source = git.commit_id(&a.rev)?;
    // The tip's tree and inventory are read while the fleet loads and plans.
    let other = Git {
        repo: git.repo.clone(),
        prefix: git.prefix.clone(),
    };
    let branch = a.branch.clone();
    let (tip, planned) = std::thread::scope(|scope| {
        let reading = scope.spawn(move || tip(&other, &branch));
        let planned = plan(ctx, &a);
        let tip = reading
            .join()
            .unwrap_or_else(|p| std::panic::resume_unwind(p));
        (tip, planned)
    });
    let (tip, (fs, planned, opts)) = (tip?, planned?);
    // What the tip records is trusted unless --force (which so repairs a
    // hand-edited branch).
    let recorded = tip
        .as_ref()
        .and_then(|t| t.recorded.as_ref())
        .filter(|r| !a.force && r.format == planned.format.as_str());
    if let (Some(r), Some(t)) = (recorded, &tip) {
        // Same inputs as the tip was rendered from: the same tree.
        if r.inputs_digest == planned.inputs_digest && !planned.diags.has_errors() {
            ctx.ui.report(&planned.diags);
            ctx.ui.say(&format!(
                "{} is up to date at {} (rendered from {}; same inputs, nothing rendered)",
                a.branch,
                short(t.commit),
                short(source)
            ));
            return Ok(Exit::Success);
        }
    }
    let (root, clusters, kept) = write_tree(
        ctx,
        &git,
        tip.as_ref(),
        (fs, planned, &opts),
        recorded,
        &a.from,
    )?;
    let branch = &a.branch;
    let rendered = if !a.from.is_empty() {
        format!("; merged from {}", plural(a.from.len(), "shard", "shards"))
    } else if kept.is_empty() {
        String::new()
    } else {
        format!(
            "; {} rendered, {} unchanged",
            plural(clusters, "cluster", "clusters"),
            kept.len()
        )
    };
    match commit(&git, source, branch, root, a.message.as_deref(), a.force)? {
        Outcome::Committed { commit, .. } => ctx.ui.say(&format!(
            "published {} onto {branch} (rendered from {}{rendered})",
            short(commit),
            short(source)
        )),
        Outcome::Unchanged { tip } => ctx.ui.say(&format!(
            "{branch} is up to date at {} (rendered from {})",
            short(tip),
            short(source)
        )),
    }
    Ok(Exit::Success)
}

/// Load the source revision and plan it (its diagnostics reported when it
/// does not plan).
fn plan(
    ctx: &Ctx,
    a: &Args,
) -> Result<
    (
        &'static fleetc::source::FileSet,
        driver::Planned,
        driver::Options,
    ),
    Failure,
> {
    let loaded = input::load(ctx, &a.repo, Some(&a.rev))?;
    let opts = driver::Options {
        source_rev: loaded.commit,
        ..ctx.options()
    };
    // Kept until exit: freeing a large fleet just before exiting costs time nobody waits for.
    let fs: &'static fleetc::source::FileSet = Box::leak(Box::new(loaded.fs));
    match driver::plan(fs, &opts) {
        Ok(p) => Ok((fs, p, opts)),
        Err(d) => {
            ctx.ui.report(&d);
            Err(Failure::reported())
        }
    }
}

/// Render (or merge `from`) into one pack and write the root tree: the
/// clusters `recorded` keeps take their part of the tip's tree. Returns the
/// root tree, the clusters rendered and those kept.
fn write_tree(
    ctx: &Ctx,
    git: &Git,
    tip: Option<&Tip>,
    (fs, planned, opts): (
        &'static fleetc::source::FileSet,
        driver::Planned,
        &driver::Options,
    ),
    recorded: Option<&fleetc::emit::recorded::Recorded>,
    from: &[PathBuf],
) -> Result<(gix::ObjectId, usize, std::collections::BTreeSet<String>), Failure> {
    let format = planned.format;
    let pack = PackWriter::new(&git.repo)?;
    let old = tip.map(|t| (git.repo.clone().into_sync(), t.tree));
    let sink = TreeSink::new(&pack, old);
    let mut taken = fleetc::git::pack::Slots::new();
    let (clusters, kept) = if from.is_empty() {
        let s = input::render_to(ctx, fs, planned, opts, &sink, recorded)?;
        (s.clusters, s.kept.clone())
    } else {
        let shards = from
            .iter()
            .map(|d| shard::read(d))
            .collect::<Result<Vec<_>, _>>()?;
        // Shards that wrote their objects give them as they are.
        let packed = shards
            .iter()
            .all(|s| s.file.objects.is_some() || s.inventory.clusters.is_empty());
        let (m, diags) = shard::merge(fs, &planned, opts, &shards, &sink, !packed)?;
        if ctx.ui.report(&diags) {
            return Err(Failure::reported());
        }
        if packed {
            taken = take_objects(git, &shards)?;
        }
        (m.clusters, Default::default())
    };
    let mut slots = sink.finish()?;
    slots.extend(taken);
    if let (Some(t), false) = (tip, kept.is_empty()) {
        let at_tip = second_level(git, t.tree)?;
        for p in kept.iter().flat_map(|c| emit::cluster_paths(format, c)) {
            if let Some(e) = at_tip.get(&p) {
                slots.insert(p, *e);
            }
        }
    }
    let root = write_root(&pack, slots)?;
    pack.finish()?;
    Ok((root, clusters, kept))
}

/// The shards' packs, linked (or copied) into the repository's objects as
/// they are, and the cluster entries their `shard.json` records.
fn take_objects(
    git: &Git,
    shards: &[shard::ShardOutput],
) -> Result<fleetc::git::pack::Slots, Failure> {
    use gix::objs::tree::EntryKind;
    let io = |what: &std::path::Path, e: &dyn std::fmt::Display| {
        Failure::failed(fleetc::diag::Diagnostic::error(
            fleetc::diag::Code::Io,
            format!("cannot take the objects of {}: {e}", what.display()),
        ))
    };
    let packs = git.repo.common_dir().join("objects").join("pack");
    std::fs::create_dir_all(&packs).map_err(|e| io(&packs, &e))?;
    let mut slots = fleetc::git::pack::Slots::new();
    for s in shards {
        let Some(o) = &s.file.objects else { continue };
        let bad = |why: &str| {
            Failure::failed(fleetc::diag::Diagnostic::error(
                fleetc::diag::Code::ShardMismatch,
                format!("{}: {why}", s.label),
            ))
        };
        if !o.pack.starts_with("pack-") || !o.pack[5..].bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(bad("shard.json names no pack fleetc wrote"));
        }
        // The index last: a pack git sees is whole.
        for ext in ["pack", "idx"] {
            let from = s.dir.join("objects").join(format!("{}.{ext}", o.pack));
            let to = packs.join(format!("{}.{ext}", o.pack));
            if to.exists() {
                continue;
            }
            if std::fs::hard_link(&from, &to).is_err() {
                std::fs::copy(&from, &to).map_err(|e| io(&from, &e))?;
            }
        }
        for (path, (kind, hex)) in &o.slots {
            let id = gix::ObjectId::from_hex(hex.as_bytes())
                .map_err(|_| bad("a bad object id in shard.json"))?;
            let kind = match kind.as_str() {
                "tree" => EntryKind::Tree,
                "blob" => EntryKind::Blob,
                _ => return Err(bad("a bad object kind in shard.json")),
            };
            slots.insert(path.clone(), (kind, id));
        }
    }
    // Nothing is committed that the repository does not now have.
    if let Some((path, _)) = slots.iter().find(|(_, (_, id))| !git.repo.has_object(id)) {
        return Err(Failure::failed(fleetc::diag::Diagnostic::error(
            fleetc::diag::Code::ShardMismatch,
            format!("the shards' objects do not hold `{path}`"),
        )));
    }
    Ok(slots)
}
