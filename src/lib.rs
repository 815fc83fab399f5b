//! fleetc: a GitOps compiler for Kubernetes fleets.
//!
//! The pipeline, one module per stage:
//! `source` (files) → `load` (typed model with spans; schemas in `validate`)
//! → `validate` (semantic checks) → `resolve` (targets, layering, provenance)
//! → `render` (templates, resource processing) → `emit` (output tree).
//! [`compile`] runs it over an in-memory [`source::FileSet`]; I/O happens
//! only at the edges (`source::read_dir`, `emit::write`).
#![forbid(unsafe_code)]

pub mod diag;
pub mod diff;
pub mod emit;
pub mod explain;
pub mod git;
pub mod load;
pub mod promote;
pub mod render;
pub mod report;
pub mod resolve;
pub mod source;
pub mod validate;

use diag::{Diagnostic, Diags};
use load::model::{Format, Repo};
use load::yaml::Budget;
use render::template::TemplateLimits;

/// Settings of one compile.
#[derive(Clone, Debug)]
pub struct Options {
    pub budget: Budget,
    pub template_limits: TemplateLimits,
    /// `--format`, overriding `Fleet.spec.output.format`.
    pub format: Option<Format>,
    /// `--cluster`: render only these (empty: all).
    pub clusters: Vec<String>,
    /// The git revision rendered, recorded in inventory.json.
    pub source_rev: Option<String>,
    /// "Today" as YYYY-MM-DD, for exemption expiry (see [`resolve::policy::today`]).
    pub today: String,
    /// Build the output tree (false for `validate`: everything is checked, nothing serialised).
    pub tree: bool,
    /// Write `inventory.json` into the tree (false for `diff`, which compares the rest).
    pub inventory: bool,
    /// Clusters × components and policies: the most (cluster, unit) pairs a
    /// fleet may resolve to, checked before resolving.
    pub max_cluster_units: usize,
}

impl Options {
    /// The default of [`Options::max_cluster_units`].
    pub const MAX_CLUSTER_UNITS: usize = 4_000_000;
}

impl Default for Options {
    /// Defaults, with "today" from `SOURCE_DATE_EPOCH` or the clock.
    fn default() -> Self {
        // An unreadable SOURCE_DATE_EPOCH is the CLI's to report; a library default falls back to the clock.
        let today =
            resolve::policy::today_here(None).unwrap_or_else(|_| resolve::policy::clock_date());
        Options {
            budget: Budget::default(),
            template_limits: TemplateLimits::default(),
            format: None,
            clusters: Vec::new(),
            source_rev: None,
            today,
            tree: true,
            inventory: true,
            max_cluster_units: Options::MAX_CLUSTER_UNITS,
        }
    }
}

/// Everything a successful compile produced.
#[derive(Debug)]
pub struct Compiled {
    pub repo: Repo,
    pub resolved: resolve::Resolved,
    pub rendered: render::Rendered,
    pub format: Format,
    pub tree: emit::Tree,
    /// What the output tree records as its inputs (see [`inputs_digest`]).
    pub inputs_digest: String,
}

/// One digest of everything an output tree is a function of: fleetc's
/// version, every input file (path and bytes), the options that change the
/// output (format, `--cluster`, the source revision) and what "today" decided
/// (each policy's mode and exemption, each rollout wave, per cluster).
/// Equal digests mean byte-identical output trees, so `render` skips the
/// work when the tree on disk records the same one.
pub fn inputs_digest(
    fs: &source::FileSet,
    opts: &Options,
    format: Format,
    resolved: &resolve::Resolved,
) -> String {
    use sha2::{Digest, Sha256};
    use std::fmt::Write as _;
    let mut h = Sha256::new();
    let mut head = format!(
        "fleetc {}\nformat {}\nclusters {:?}\nsource {:?}\n",
        env!("CARGO_PKG_VERSION"),
        format.as_str(),
        opts.clusters,
        opts.source_rev
    );
    for (p, bytes) in &fs.files {
        let _ = writeln!(head, "{p}\0{}", emit::sha256_hex(bytes));
    }
    for c in &resolved.clusters {
        let _ = write!(head, "{}", c.name);
        for u in &c.units {
            let _ = write!(
                head,
                " {}:{:?}:{:?}:{:?}",
                u.unit, u.mode, u.exemption, u.wave
            );
        }
        head.push('\n');
    }
    h.update(head.as_bytes());
    emit::sha256_hex(&h.finalize())
}

/// A fleet loaded, checked and resolved: everything before rendering.
#[derive(Debug)]
pub struct Planned {
    pub repo: Repo,
    pub resolved: resolve::Resolved,
    pub format: Format,
    /// See [`inputs_digest`].
    pub inputs_digest: String,
    /// Diagnostics so far (may hold errors found while resolving).
    pub diags: Diags,
}

/// Load, check and resolve. `Err` holds the diagnostics when an error stops
/// the pipeline before resolving; resolution errors are kept in
/// [`Planned::diags`] so that rendering can report its own alongside.
pub fn plan(fs: &source::FileSet, opts: &Options) -> Result<Planned, Diags> {
    let (repo, mut diags) = load::load(fs, &opts.budget);
    if diags.has_errors() {
        diags.normalize();
        return Err(diags);
    }
    diags.extend(validate::semantic::check(&repo));
    let format = opts
        .format
        .or(repo.fleet.as_ref().map(|f| f.format))
        .unwrap_or(Format::Flux);
    diags.extend(validate::semantic::check_format(
        &repo,
        format,
        opts.format.is_some(),
    ));
    for name in &opts.clusters {
        if repo.cluster(name).is_none() {
            let known: Vec<String> = repo.clusters.iter().map(|c| c.name.clone()).collect();
            let mut d = Diagnostic::error(format!("--cluster {name}: no such cluster"));
            if let Some(b) = validate::schema::did_you_mean(name, &known) {
                d = d.help(format!("did you mean `{b}`?"));
            }
            diags.push(d);
        }
    }
    let pairs = repo.clusters.len().saturating_mul(repo.units.len());
    if pairs > opts.max_cluster_units {
        let mut d = Diagnostic::error(format!(
            "{} clusters × {} components and policies = {pairs} (cluster, unit) pairs, over the budget of {}",
            repo.clusters.len(),
            repo.units.len(),
            opts.max_cluster_units
        ))
        .help("raise the budget with `--limit cluster-units=N` if the fleet is really this large");
        if let Some(f) = &repo.fleet {
            d = d.at(&diag::Span::file(&diag::Source::new(f.file.as_str(), "")));
        }
        diags.push(d);
    }
    if diags.has_errors() {
        diags.normalize();
        return Err(diags);
    }
    let (mut resolved, d) = resolve::resolve(&repo, &opts.today);
    diags.extend(d);
    if !opts.clusters.is_empty() {
        resolved
            .clusters
            .retain(|c| opts.clusters.contains(&c.name));
    }
    if format == Format::ArgoCd {
        diags.extend(emit::agents::check_argocd_names(&repo, &resolved));
    }
    let inputs_digest = inputs_digest(fs, opts, format, &resolved);
    Ok(Planned {
        repo,
        resolved,
        format,
        inputs_digest,
        diags,
    })
}

/// Run the whole pipeline, holding the rendered fleet and its tree in
/// memory (for diff, publish and explain; `render` and `validate` use
/// [`stream`]). Returns the result (None when any error was found) and
/// every diagnostic, sorted.
pub fn compile(fs: &source::FileSet, opts: &Options) -> (Option<Compiled>, Diags) {
    let p = match plan(fs, opts) {
        Ok(p) => p,
        Err(d) => return (None, d),
    };
    let Planned {
        repo,
        resolved,
        format,
        inputs_digest: digest,
        mut diags,
    } = p;
    let (rendered, d) = render::render(
        fs,
        &repo,
        &resolved,
        &opts.budget,
        &opts.template_limits,
        format,
    );
    diags.extend(d);
    diags.normalize();
    if diags.has_errors() {
        return (None, diags);
    }
    let tree = if opts.tree {
        emit::tree(
            fs,
            &repo,
            &resolved,
            &rendered,
            format,
            opts.inventory.then_some(emit::Stamp {
                source_rev: opts.source_rev.as_deref(),
                inputs_digest: &digest,
            }),
        )
    } else {
        emit::Tree::default()
    };
    (
        Some(Compiled {
            repo,
            resolved,
            rendered,
            format,
            tree,
            inputs_digest: digest,
        }),
        diags,
    )
}

/// What [`stream`] produced, besides the files it gave the sink.
#[derive(Debug)]
pub struct Streamed {
    pub repo: Repo,
    pub resolved: resolve::Resolved,
    pub format: Format,
    pub inputs_digest: String,
    /// Clusters and resources rendered.
    pub clusters: usize,
    pub resources: usize,
}

/// Clusters rendered, serialised and handed to the sink before the next
/// ones start: what bounds memory (the inventory is written between batches).
const BATCH: usize = 128;

/// Render and emit a planned fleet into `sink` a cluster at a time, without
/// ever holding the whole output: each cluster is rendered, serialised and
/// handed over on a worker thread, then dropped. Produces the same files as
/// [`compile`]'s tree. When a custom resource's scope may come from a
/// CustomResourceDefinition ([`mentions_crds`]), every cluster's templates
/// are rendered once first to learn the scopes.
///
/// Once an error is found, nothing more goes to the sink, but every cluster
/// is still rendered so that every error is reported; the fleet comes back
/// either way (`report` describes a fleet with errors). `Err` is the sink's
/// own failure. The caller decides from the diagnostics whether to keep what
/// the sink received: with errors, it is incomplete.
pub fn stream(
    fs: &source::FileSet,
    p: Planned,
    opts: &Options,
    sink: &dyn emit::write::Sink,
) -> Result<(Streamed, Diags), emit::write::WriteError> {
    stream_in_batches(fs, p, opts, sink, BATCH)
}

/// [`stream`] with `batch` clusters at a time (the output does not depend on it).
pub fn stream_in_batches(
    fs: &source::FileSet,
    mut p: Planned,
    opts: &Options,
    sink: &dyn emit::write::Sink,
    batch: usize,
) -> Result<(Streamed, Diags), emit::write::WriteError> {
    let diags = std::mem::take(&mut p.diags);
    let (clusters, resources, diags) = {
        let mut s = Streaming::new(fs, &p, opts, diags);
        let mut inventory = opts.inventory.then(|| {
            s.emitter.inventory(emit::Stamp {
                source_rev: opts.source_rev.as_deref(),
                inputs_digest: &p.inputs_digest,
            })
        });
        if let Some(i) = &inventory {
            if opts.tree {
                sink.append("inventory.json", &i.head())?;
            }
        }
        let all: Vec<&resolve::ResolvedCluster> = p.resolved.clusters.iter().collect();
        for chunk in all.chunks(batch.max(1)) {
            s.batch(chunk, sink, inventory.as_mut())?;
        }
        let (clusters, resources) = (s.clusters, s.resources);
        let diags = s.finish();
        if opts.tree && !diags.has_errors() {
            sink.put(&s.emitter.fleet_files(!p.resolved.clusters.is_empty()))?;
            if let Some(i) = &inventory {
                sink.append("inventory.json", &i.tail())?;
            }
        }
        (clusters, resources, diags)
    };
    Ok((
        Streamed {
            repo: p.repo,
            resolved: p.resolved,
            format: p.format,
            inputs_digest: p.inputs_digest,
            clusters,
            resources,
        },
        diags,
    ))
}

/// The state of streaming one planned fleet: what rendering and emitting
/// prepare once, and what is collected across batches (diagnostics, the
/// patches that matched). [`stream`] feeds it every cluster; `diff` feeds
/// two of them (base and head) the same clusters a batch at a time, so that
/// only one batch of both sides is ever in memory.
pub struct Streaming<'a> {
    planned: &'a Planned,
    opts: &'a Options,
    renderer: render::Renderer<'a>,
    pub emitter: emit::Emitter<'a>,
    failed: std::sync::atomic::AtomicBool,
    diags: Diags,
    applicable: std::collections::BTreeSet<resolve::PatchId>,
    matched: std::collections::BTreeSet<resolve::PatchId>,
    /// Clusters and resources rendered so far.
    pub clusters: usize,
    pub resources: usize,
}

impl<'a> Streaming<'a> {
    /// Prepare to render `p` (its diagnostics so far are `diags`). When a
    /// unit mentions CustomResourceDefinition, every cluster's templates are
    /// rendered here once to learn custom resource scopes.
    pub fn new(
        fs: &'a source::FileSet,
        p: &'a Planned,
        opts: &'a Options,
        mut diags: Diags,
    ) -> Self {
        use rayon::prelude::*;
        let (mut renderer, d) = render::Renderer::new(
            fs,
            &p.repo,
            &p.resolved,
            &opts.budget,
            &opts.template_limits,
            p.format,
        );
        diags.extend(d);
        if mentions_crds(fs) {
            let scopes = p
                .resolved
                .clusters
                .par_iter()
                .map(|rc| renderer.scopes_of(rc))
                .reduce(render::CrdScopes::new, |mut a, b| {
                    a.extend(b);
                    a
                });
            renderer.set_crd_scopes(scopes);
        }
        Streaming {
            planned: p,
            opts,
            renderer,
            emitter: emit::Emitter::new(fs, &p.repo, &p.resolved, p.format, opts.inventory),
            failed: std::sync::atomic::AtomicBool::new(diags.has_errors()),
            diags,
            applicable: Default::default(),
            matched: Default::default(),
            clusters: 0,
            resources: 0,
        }
    }

    /// Render `clusters` in parallel; each one's files go to `sink` from the
    /// worker that rendered it (unless an error has been found: from then on
    /// nothing is written, but rendering goes on to find every error), and
    /// its inventory entry, in order, to `inventory.json`.
    pub fn batch(
        &mut self,
        clusters: &[&resolve::ResolvedCluster],
        sink: &dyn emit::write::Sink,
        mut inventory: Option<&mut emit::Inventory>,
    ) -> Result<(), emit::write::WriteError> {
        use rayon::prelude::*;
        use std::sync::atomic::Ordering;
        type Done = (render::ClusterRender, Option<String>, usize);
        let tree = self.opts.tree;
        let (r, e, failed) = (&self.renderer, &self.emitter, &self.failed);
        let done: Vec<Result<Done, emit::write::WriteError>> = clusters
            .par_iter()
            .map(|rc| {
                let mut cr = r.cluster(rc);
                if cr.diags.has_errors() {
                    failed.store(true, Ordering::Relaxed);
                }
                let unit_resources = cr.cluster.units.iter().map(|u| u.resources.len()).sum();
                let mut entry = None;
                if tree && !failed.load(Ordering::Relaxed) {
                    let files = e.cluster(rc, &cr.cluster);
                    sink.put(&files.files)?;
                    entry = files.inventory;
                }
                // The objects are done with: only diagnostics and patch sets stay.
                cr.cluster.units.clear();
                Ok((cr, entry, unit_resources))
            })
            .collect();
        for d in done {
            let (cr, entry, n) = d?;
            self.diags.extend(cr.diags);
            self.applicable.extend(cr.applicable);
            self.matched.extend(cr.matched);
            self.clusters += 1;
            self.resources += n;
            if let (Some(i), Some(entry)) = (inventory.as_deref_mut(), entry) {
                if !self.failed.load(Ordering::Relaxed) {
                    sink.append("inventory.json", &i.entry(&entry))?;
                }
            }
        }
        Ok(())
    }

    /// Every diagnostic, sorted; with the check that every patch matched
    /// somewhere when every cluster of the fleet was rendered.
    pub fn finish(&mut self) -> Diags {
        let mut diags = std::mem::take(&mut self.diags);
        let repo = &self.planned.repo;
        if self.clusters == repo.clusters.len() {
            diags.extend(render::unmatched_patches(
                repo,
                &self.applicable,
                &self.matched,
            ));
        }
        diags.normalize();
        diags
    }
}

/// One side of [`diff_planned`].
#[derive(Clone, Copy)]
pub struct DiffSide<'a> {
    pub fs: &'a source::FileSet,
    pub planned: &'a Planned,
    /// `inventory` should be off: the inventory records the revision, which differs.
    pub opts: &'a Options,
    pub label: &'a str,
}

/// Compare two planned fleets resource by resource ([`diff`]). Only the
/// clusters whose inputs differ ([`cluster_digests`]) are rendered, unless
/// a unit mentions CustomResourceDefinition (custom resource scopes cross
/// clusters: then every cluster is). Both sides render the same `batch`
/// clusters at a time; each batch's files are compared and dropped before
/// the next, so memory is bounded by the batch and the distinct changes,
/// not by the fleet. The report does not depend on `batch`.
///
/// `Err` is a side that does not render: its label and its diagnostics.
pub fn diff_planned<'a>(
    base: DiffSide<'a>,
    head: DiffSide<'a>,
    batch: usize,
) -> Result<diff::Report, (&'a str, Diags)> {
    use std::collections::{BTreeSet, HashSet};
    let (pb, ph) = (base.planned, head.planned);
    let every: BTreeSet<&String> = pb
        .resolved
        .clusters
        .iter()
        .chain(&ph.resolved.clusters)
        .map(|c| &c.name)
        .collect();
    let changed: Vec<&String> = if mentions_crds(base.fs) || mentions_crds(head.fs) {
        every.iter().copied().collect()
    } else {
        let (db, dh) = (cluster_digests(base.fs, pb), cluster_digests(head.fs, ph));
        every
            .iter()
            .copied()
            .filter(|c| db.get(*c) != dh.get(*c))
            .collect()
    };
    fn pick<'p>(p: &'p Planned, names: &HashSet<&String>) -> Vec<&'p resolve::ResolvedCluster> {
        let c = &p.resolved.clusters;
        c.iter().filter(|c| names.contains(&c.name)).collect()
    }
    let mut sb = Streaming::new(base.fs, pb, base.opts, pb.diags.clone());
    let mut sh = Streaming::new(head.fs, ph, head.opts, ph.diags.clone());
    let mut folder = diff::Folder::default();
    for chunk in changed.chunks(batch.max(1)) {
        let names: HashSet<&String> = chunk.iter().copied().collect();
        let (ob, oh) = (
            emit::write::Collect::default(),
            emit::write::Collect::default(),
        );
        // Collecting in memory cannot fail.
        let _ = sb.batch(&pick(pb, &names), &ob, None);
        let _ = sh.batch(&pick(ph, &names), &oh, None);
        folder.add(diff::changes(&ob.into_tree(), &oh.into_tree()));
    }
    for (mut s, side) in [(sb, &base), (sh, &head)] {
        let diags = s.finish();
        if diags.has_errors() {
            return Err((side.label, diags));
        }
    }
    let mut groups = pb.resolved.members.clone();
    groups.extend(ph.resolved.members.clone());
    Ok(folder.finish(&groups, base.label, head.label, every.len()))
}

/// Per cluster, a digest of everything its part of the output tree (its
/// `clusters/<c>/`, `argocd/<c>/` and `bootstrap/<c>.yaml`) is a function of:
/// fleetc's version, the format, its input files ([`emit::cluster_inputs`])
/// and what resolution decided for it (groups, versions, modes, exemptions,
/// waves). Equal digests on two sides of a diff
/// mean the same files, so `diff` renders only the clusters that differ.
///
/// One input crosses clusters: the scope of a custom resource comes from
/// CustomResourceDefinitions rendered anywhere in the fleet. When any unit
/// mentions `CustomResourceDefinition` ([`mentions_crds`]), callers render
/// every cluster instead.
pub fn cluster_digests(
    fs: &source::FileSet,
    p: &Planned,
) -> std::collections::BTreeMap<String, String> {
    use std::fmt::Write as _;
    let repo = &p.repo;
    // A file is hashed once, however many clusters read it.
    let mut hashes: std::collections::HashMap<&str, String> = Default::default();
    let mut out = std::collections::BTreeMap::new();
    for rc in &p.resolved.clusters {
        let mut s = format!(
            "fleetc {}\nformat {}\ngroups {:?}\n",
            env!("CARGO_PKG_VERSION"),
            p.format.as_str(),
            rc.groups
        );
        for ru in &rc.units {
            let _ = writeln!(
                s,
                "unit {} {:?} {:?} {:?} {:?} {:?}",
                repo.units[ru.unit].name,
                ru.placement.map(|pi| &repo.placements[pi].name),
                ru.version,
                ru.mode,
                ru.exemption,
                ru.wave
            );
        }
        for path in emit::cluster_inputs(repo, rc) {
            let h = hashes.entry(path).or_insert_with(|| {
                fs.get(path)
                    .map(|b| emit::sha256_hex(b))
                    .unwrap_or_default()
            });
            let _ = writeln!(s, "{path}\0{h}");
        }
        out.insert(rc.name.clone(), emit::sha256_hex(s.as_bytes()));
    }
    out
}

/// Does any component or policy file mention `CustomResourceDefinition`?
pub fn mentions_crds(fs: &source::FileSet) -> bool {
    const NEEDLE: &[u8] = b"CustomResourceDefinition";
    fs.files.iter().any(|(p, b)| {
        (p.starts_with("components/") || p.starts_with("policies/"))
            && b.windows(NEEDLE.len()).any(|w| w == NEEDLE)
    })
}
