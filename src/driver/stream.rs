//! Streaming: render and emit a planned fleet a batch of clusters at a time.

use super::{mentions_crds, Options, Planned};
use crate::diag::Diags;
use crate::load::model::{Format, Repo};
use crate::{emit, render, resolve, source};

/// What [`render_to`] produced, besides the files it gave the sink.
#[derive(Debug)]
pub struct Streamed {
    pub repo: Repo,
    pub resolved: resolve::Resolved,
    pub format: Format,
    pub inputs_digest: String,
    /// Clusters and resources rendered.
    pub clusters: usize,
    pub resources: usize,
    /// Clusters kept from the recorded output (their digest is unchanged),
    /// and the resources they list.
    pub kept: std::collections::BTreeSet<String>,
    pub kept_resources: usize,
    /// The patches that apply to the clusters rendered or kept, and those
    /// that matched there (a shard records them for the merge).
    pub applicable: std::collections::BTreeSet<resolve::PatchId>,
    pub matched: std::collections::BTreeSet<resolve::PatchId>,
    /// What stops clusters from upgrading their Kubernetes by one or two minors.
    pub upgrade_blockers: Vec<crate::accept::Blocker>,
    /// Every admission result, when [`Options::admission_results`] asks.
    pub admission: Vec<crate::admit::Reported>,
    /// Per cluster, the objects each patch matched, when
    /// [`Options::patch_objects`] asks.
    pub patch_objects: std::collections::BTreeMap<String, Vec<render::PatchHit>>,
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
pub fn render_to(
    fs: &source::FileSet,
    p: Planned,
    opts: &Options,
    sink: &dyn emit::write::Sink,
) -> Result<(Streamed, Diags), emit::write::WriteError> {
    render_to_in_batches(fs, p, opts, sink, BATCH, None)
}

/// [`render_to`], keeping what `recorded` holds of each cluster whose
/// digest is unchanged: such a cluster is neither rendered nor given to
/// the sink, and its inventory entry is taken from `recorded`
/// ([`Streamed::kept`] names them). The sink thus receives the files of the
/// other clusters, the fleet's files and the whole `inventory.json`.
pub fn render_keeping(
    fs: &source::FileSet,
    p: Planned,
    opts: &Options,
    sink: &dyn emit::write::Sink,
    recorded: &emit::recorded::Recorded,
) -> Result<(Streamed, Diags), emit::write::WriteError> {
    render_to_in_batches(fs, p, opts, sink, BATCH, Some(recorded))
}

/// [`render_to`] (or [`render_keeping`]) with `batch` clusters at a time
/// (the output does not depend on it).
pub fn render_to_in_batches(
    fs: &source::FileSet,
    mut p: Planned,
    opts: &Options,
    sink: &dyn emit::write::Sink,
    batch: usize,
    recorded: Option<&emit::recorded::Recorded>,
) -> Result<(Streamed, Diags), emit::write::WriteError> {
    let diags = std::mem::take(&mut p.diags);
    let (counts, diags, upgrade_blockers, admission, patch_objects) = {
        let mut s = Streaming::new(fs, &p, opts, diags);
        s.recorded = recorded;
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
        let diags = s.finish();
        let counts = (
            s.clusters,
            s.resources,
            s.kept.iter().map(|c| c.name.clone()).collect(),
            s.kept_resources,
            std::mem::take(&mut s.applicable),
            std::mem::take(&mut s.matched),
        );
        if opts.tree && !diags.has_errors() {
            sink.put(&s.emitter.fleet_files(!p.resolved.clusters.is_empty()))?;
            if let Some(i) = &inventory {
                sink.append("inventory.json", &i.tail())?;
            }
        }
        (
            counts,
            diags,
            s.api.blockers(),
            s.admit.results(),
            std::mem::take(&mut s.patch_objects),
        )
    };
    Ok((
        Streamed {
            repo: p.repo,
            resolved: p.resolved,
            format: p.format,
            inputs_digest: p.inputs_digest,
            clusters: counts.0,
            resources: counts.1,
            kept: counts.2,
            kept_resources: counts.3,
            applicable: counts.4,
            matched: counts.5,
            upgrade_blockers,
            admission,
            patch_objects,
        },
        diags,
    ))
}

/// The state of streaming one planned fleet: what rendering and emitting
/// prepare once, and what is collected across batches (diagnostics, the
/// patches that matched). [`render_to`] feeds it every cluster; `diff` feeds
/// two of them (base and head) the same clusters a batch at a time, so that
/// only one batch of both sides is ever in memory.
pub struct Streaming<'a> {
    planned: &'a Planned,
    opts: &'a Options,
    renderer: render::Renderer<'a>,
    /// Each cluster's objects against its Kubernetes API (answers shared across batches).
    api: crate::accept::Checker,
    /// Each cluster's objects against its own admission policies.
    admit: crate::admit::Admission,
    pub emitter: emit::Emitter<'a>,
    failed: std::sync::atomic::AtomicBool,
    diags: Diags,
    applicable: std::collections::BTreeSet<resolve::PatchId>,
    matched: std::collections::BTreeSet<resolve::PatchId>,
    /// Per cluster, the objects each patch matched (when asked).
    patch_objects: std::collections::BTreeMap<String, Vec<render::PatchHit>>,
    /// Clusters and resources rendered so far.
    pub clusters: usize,
    pub resources: usize,
    /// Per cluster, [`super::cluster_digests`] (when a tree is built).
    pub digests: std::collections::BTreeMap<String, String>,
    /// What an earlier output recorded: clusters whose digest it holds are kept.
    pub recorded: Option<&'a emit::recorded::Recorded>,
    /// The clusters kept so far, and the resources they list.
    kept: Vec<&'a resolve::ResolvedCluster>,
    kept_resources: usize,
    /// Whether each batch tells [`Options::progress`] (`diff` tells its own).
    pub tell_progress: bool,
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
        renderer = renderer.recording_patch_objects(opts.patch_objects);
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
        let mut emitter = emit::Emitter::new(fs, &p.repo, p.format, opts.inventory);
        let digests = if opts.tree {
            let d = super::cluster_digests(
                fs,
                (&p.repo, &p.resolved, p.format),
                renderer.crd_scopes(),
                &opts.today,
            );
            emitter.set_cluster_digests(d.clone());
            d
        } else {
            Default::default()
        };
        Streaming {
            planned: p,
            opts,
            renderer,
            api: crate::accept::Checker::new(p.format),
            admit: crate::admit::Admission::new(p.format, opts.admission_cost, &opts.today)
                .keeping_results(opts.admission_results),
            emitter,
            failed: std::sync::atomic::AtomicBool::new(diags.has_errors()),
            diags,
            applicable: Default::default(),
            matched: Default::default(),
            patch_objects: Default::default(),
            clusters: 0,
            resources: 0,
            digests,
            recorded: None,
            kept: Vec::new(),
            kept_resources: 0,
            tell_progress: true,
        }
    }

    /// What `recorded` holds of `rc`, when its digest there is unchanged.
    fn kept_entry(
        &self,
        rc: &resolve::ResolvedCluster,
    ) -> Option<&'a emit::recorded::RecordedCluster> {
        let digest = self.digests.get(&rc.name)?;
        self.recorded?.keep(&rc.name, digest)
    }

    /// Render `clusters` in parallel; each one's files go to `sink` from the
    /// worker that rendered it (unless an error has been found: from then on
    /// nothing is written, but rendering goes on to find every error), and
    /// its inventory entry, in order, to `inventory.json`. A cluster whose
    /// recorded digest is unchanged is kept instead: not rendered, nothing
    /// given to the sink, its recorded entry in the inventory.
    pub fn batch(
        &mut self,
        clusters: &[&'a resolve::ResolvedCluster],
        sink: &dyn emit::write::Sink,
        mut inventory: Option<&mut emit::Inventory>,
    ) -> Result<(), emit::write::WriteError> {
        use rayon::prelude::*;
        use std::sync::atomic::Ordering;
        type Done = (render::ClusterRender, Option<String>, usize);
        let tree = self.opts.tree;
        let kept: Vec<_> = clusters.iter().map(|rc| self.kept_entry(rc)).collect();
        let (r, e, failed) = (&self.renderer, &self.emitter, &self.failed);
        let (api, admit, repo) = (&self.api, &self.admit, &self.planned.repo);
        let done: Vec<Result<Option<Done>, emit::write::WriteError>> = clusters
            .par_iter()
            .zip(&kept)
            .map(|(rc, kept)| {
                if kept.is_some() {
                    return Ok(None);
                }
                let mut cr = r.cluster(rc);
                api.cluster(repo, &cr.cluster, &mut cr.diags);
                admit.cluster(repo, &cr.cluster, &mut cr.diags);
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
                Ok(Some((cr, entry, unit_resources)))
            })
            .collect();
        for ((d, kept), rc) in done.into_iter().zip(kept).zip(clusters) {
            let entry = match (d?, kept) {
                (None, Some(k)) => {
                    self.kept.push(rc);
                    self.kept_resources += k.resources;
                    Some(k.entry.clone())
                }
                (Some((mut cr, entry, n)), _) => {
                    if !cr.patch_objects.is_empty() {
                        let hits = std::mem::take(&mut cr.patch_objects);
                        self.patch_objects.insert(cr.cluster.name.clone(), hits);
                    }
                    self.diags.extend(cr.diags);
                    self.applicable.extend(cr.applicable);
                    self.matched.extend(cr.matched);
                    self.clusters += 1;
                    self.resources += n;
                    entry
                }
                (None, None) => None,
            };
            if let (Some(i), Some(entry)) = (inventory.as_deref_mut(), entry) {
                if !self.failed.load(Ordering::Relaxed) {
                    sink.append("inventory.json", &i.entry(&entry))?;
                }
            }
        }
        if let (Some(p), true) = (&self.opts.progress, self.tell_progress) {
            let what = if tree { "rendering" } else { "checking" };
            let done = self.clusters + self.kept.len();
            p.tell(what, done, self.planned.resolved.clusters.len());
        }
        Ok(())
    }

    /// The patches that apply to the kept clusters (they were not
    /// rendered): those no rendered cluster matched are looked for there,
    /// rendering (in memory) only the kept clusters they apply to, until
    /// each is found. So "this patch matches nothing" is decided as if
    /// every cluster had been rendered.
    fn settle_kept(&mut self) {
        use rayon::prelude::*;
        use std::collections::BTreeSet;
        let format = self.planned.format;
        let applicable = |rc: &resolve::ResolvedCluster| -> BTreeSet<resolve::PatchId> {
            rc.units
                .iter()
                .flat_map(|u| &u.patches)
                .filter(|(_, p)| p.formats.as_ref().is_none_or(|f| f.contains(&format)))
                .map(|(id, _)| *id)
                .collect()
        };
        let kept = self.kept.clone();
        let per: Vec<BTreeSet<resolve::PatchId>> = kept.iter().map(|rc| applicable(rc)).collect();
        for a in &per {
            self.applicable.extend(a);
        }
        let mut wanted: BTreeSet<_> = self.applicable.difference(&self.matched).copied().collect();
        let mut todo: Vec<(&resolve::ResolvedCluster, &BTreeSet<resolve::PatchId>)> =
            kept.iter().copied().zip(&per).collect();
        while !wanted.is_empty() && !todo.is_empty() {
            todo.retain(|(_, a)| !a.is_disjoint(&wanted));
            let n = todo.len().min(BATCH);
            let found: Vec<BTreeSet<resolve::PatchId>> = todo[..n]
                .par_iter()
                .map(|(rc, _)| self.renderer.cluster(rc).matched)
                .collect();
            todo.drain(..n);
            for m in found {
                wanted.retain(|id| !m.contains(id));
                self.matched.extend(m);
            }
        }
    }

    /// Every diagnostic, sorted; with the check that every patch matched
    /// somewhere when every cluster of the fleet was rendered.
    pub fn finish(&mut self) -> Diags {
        self.settle_kept();
        let mut diags = std::mem::take(&mut self.diags);
        let repo = &self.planned.repo;
        if self.clusters + self.kept.len() == repo.clusters.len() {
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
