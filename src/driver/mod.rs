//! The pipeline driver: runs the stages for each use, and nothing else.
//!
//! One entry per use, all starting from a [`Planned`] fleet ([`plan`]: load,
//! validate, resolve):
//! - [`render_to`]: render and emit every cluster into a [`Sink`] a batch at
//!   a time (`render` writes a staging directory, `render --check` compares
//!   with the tree on disk, `validate` and `report` discard);
//! - [`compile`]: the same, holding the rendered fleet and its tree in
//!   memory (`publish`, tests);
//! - [`diff()`]: two planned fleets, rendering only the clusters whose inputs
//!   differ;
//! - `explain` needs nothing past [`plan`] (see [`crate::explain`]), so a
//!   template broken elsewhere does not stop it.
//!
//! The digests that let `render` and `diff` skip work live in [`digest`].

mod diff;
pub mod digest;
pub mod shard;
mod stream;

pub use diff::{diff, DiffSide};
pub use digest::{cluster_digests, inputs_digest, mentions_crds};
pub use stream::{render_keeping, render_to, render_to_in_batches, Streamed, Streaming};

use crate::diag::Diags;
use crate::load::model::{Format, Repo};
use crate::render::template::TemplateLimits;
use crate::yaml::Budget;
use crate::{emit, load, render, resolve, source, validate};

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
    /// The estimated cost one admission policy expression may have.
    pub admission_cost: u64,
    /// Keep every admission result, passes included (`report`); validate
    /// and render keep only the diagnostics.
    pub admission_results: bool,
    /// Keep the objects each patch matched, per cluster (`explain`).
    pub patch_objects: bool,
    /// `--shard K/N`: render only this shard's clusters (the inputs digest
    /// stays the whole fleet's, so that the shards' outputs can be merged).
    pub shard: Option<shard::Shard>,
    /// Told how far a long run is, once per batch of clusters.
    pub progress: Option<Progress>,
}

/// Where a long run is: told (what, clusters done, of how many) once per
/// batch of clusters, from the thread that drives the run: never on the
/// hot path.
#[derive(Clone)]
pub struct Progress(pub std::sync::Arc<Tell>);

/// What [`Progress`] calls: (what, done, total).
pub type Tell = dyn Fn(&str, usize, usize) + Send + Sync;

impl Progress {
    pub fn tell(&self, what: &str, done: usize, total: usize) {
        (self.0)(what, done, total);
    }
}

impl std::fmt::Debug for Progress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Progress")
    }
}

impl Options {
    /// The default of [`Options::max_cluster_units`].
    pub const MAX_CLUSTER_UNITS: usize = 4_000_000;
    /// The default of [`Options::admission_cost`].
    pub const ADMISSION_COST: u64 = 10_000_000;

    /// The defaults, with `today` (YYYY-MM-DD) as the date exemptions and
    /// rollouts are checked against.
    pub fn new(today: String) -> Options {
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
            admission_cost: Options::ADMISSION_COST,
            admission_results: false,
            patch_objects: false,
            shard: None,
            progress: None,
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
/// Clusters that name no owner get their groups': the last group in
/// layering order that names one (the same order in which groups' values
/// override each other).
fn owners_from_groups(mut repo: Repo, resolved: &resolve::Resolved) -> Repo {
    for rc in &resolved.clusters {
        if !repo.clusters[rc.cluster].owner.is_empty() {
            continue;
        }
        let owner = rc
            .groups
            .iter()
            .rev()
            .find_map(|g| repo.group(g).and_then(|g| g.owner.clone()));
        if let Some(o) = owner {
            repo.clusters[rc.cluster].owner = o;
        }
    }
    repo
}

pub fn plan(fs: &source::FileSet, opts: &Options) -> Result<Planned, Diags> {
    let (repo, mut diags) = load::load(fs, &opts.budget);
    if diags.has_errors() {
        diags.normalize();
        return Err(diags);
    }
    let format = opts
        .format
        .or(repo.fleet.as_ref().map(|f| f.format))
        .unwrap_or(Format::Flux);
    diags.extend(validate::validate(
        &repo,
        &validate::Settings {
            format,
            format_overridden: opts.format.is_some(),
            clusters: &opts.clusters,
            max_cluster_units: opts.max_cluster_units,
        },
    ));
    if diags.has_errors() {
        diags.normalize();
        return Err(diags);
    }
    let (mut resolved, d) = resolve::resolve(&repo, &opts.today);
    diags.extend(d);
    let repo = owners_from_groups(repo, &resolved);
    if !opts.clusters.is_empty() {
        resolved
            .clusters
            .retain(|c| opts.clusters.contains(&c.name));
    }
    let inputs_digest = inputs_digest(fs, opts, format, &resolved);
    if let Some(s) = opts.shard {
        resolved.clusters.retain(|c| s.holds(&c.name));
    }
    diags.extend(emit::agents::check_settings(&repo, &resolved, format));
    if format == Format::ArgoCd {
        diags.extend(emit::agents::check_argocd_names(&repo, &resolved));
    }
    if format == Format::Plain {
        diags.extend(emit::agents::check_plain_helm(
            &repo,
            &resolved,
            opts.format.is_some(),
        ));
    }
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
/// [`render_to`]). Returns the result (None when any error was found) and
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
    let api = crate::accept::Checker::new(format);
    let admit = crate::admit::Admission::new(format, opts.admission_cost, &opts.today);
    for rc in &rendered.clusters {
        api.cluster(&repo, rc, &mut diags);
        admit.cluster(&repo, rc, &mut diags);
    }
    diags.normalize();
    if diags.has_errors() {
        return (None, diags);
    }
    let tree = if opts.tree {
        let digests = cluster_digests(
            fs,
            (&repo, &resolved, format),
            &rendered.crd_scopes,
            &opts.today,
        );
        emit::tree(
            fs,
            (&repo, &resolved),
            &rendered,
            format,
            opts.inventory.then_some(emit::Stamp {
                source_rev: opts.source_rev.as_deref(),
                inputs_digest: &digest,
            }),
            digests,
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
