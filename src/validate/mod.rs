//! The validate stage: every check of the input that needs no resolution,
//! one small function per rule, all run by [`validate`] (collect, then
//! fail: the caller decides from the diagnostics).
//!
//! What needs resolution is checked where it is known: values against a
//! component's `valuesSchema`, locks and conflicts in `resolve`; a Helm
//! chart placed in the plain format and Argo CD name collisions in
//! `emit::agents`; rendered objects in `render`.

use crate::diag::{self, Code, Diagnostic, Diags, Source, Span};
use crate::load::model::{Format, Repo};

mod semantic;

/// What the rules need besides the fleet: the run's settings.
#[derive(Clone, Copy, Debug)]
pub struct Settings<'a> {
    /// The output format in force.
    pub format: Format,
    /// Whether `--format` chose it (rather than `spec.output.format`).
    pub format_overridden: bool,
    /// `--cluster`: the clusters to render (empty: all).
    pub clusters: &'a [String],
    /// The most (cluster, unit) pairs the fleet may have (`--limit cluster-units`).
    pub max_cluster_units: usize,
}

type Rule = fn(&Repo, &Settings, &mut Diags);

/// Every rule, in the order of the fleet's files (the order of the
/// diagnostics does not depend on it: they are sorted by location).
const RULES: &[Rule] = &[
    semantic::unit_names,
    semantic::groups,
    semantic::group_cycles,
    semantic::depends_on,
    semantic::policies,
    semantic::helm_components,
    semantic::placements,
    semantic::rollouts,
    semantic::label_keys,
    semantic::output_format,
    cluster_names,
    cluster_units,
];

/// Run every rule over a loaded fleet.
pub fn validate(repo: &Repo, settings: &Settings) -> Diags {
    let mut diags = Diags::default();
    for rule in RULES {
        rule(repo, settings, &mut diags);
    }
    diags
}

/// Every `--cluster` names a cluster of the fleet.
fn cluster_names(repo: &Repo, s: &Settings, diags: &mut Diags) {
    for name in s.clusters {
        if repo.cluster(name).is_none() {
            let mut d = Diagnostic::error(
                Code::UnknownName,
                format!("--cluster {name}: no such cluster"),
            );
            if let Some(b) = crate::suggest::did_you_mean(name, &repo.cluster_names()) {
                d = d.help(format!("did you mean `{b}`?"));
            }
            diags.push(d);
        }
    }
}

/// The fleet stays within `--limit cluster-units` (checked before resolving,
/// which is linear in clusters × units).
fn cluster_units(repo: &Repo, s: &Settings, diags: &mut Diags) {
    let pairs = repo.clusters.len().saturating_mul(repo.units.len());
    if pairs <= s.max_cluster_units {
        return;
    }
    let mut d = Diagnostic::error(
        Code::ClusterUnitsBudget,
        format!(
            "{} × {} = {pairs} (cluster, unit) pairs, over the budget of {}",
            diag::plural(repo.clusters.len(), "cluster", "clusters"),
            diag::plural(
                repo.units.len(),
                "component or policy",
                "components and policies"
            ),
            s.max_cluster_units
        ),
    )
    .help("raise the budget with `--limit cluster-units=N` if the fleet is really this large");
    if let Some(f) = &repo.fleet {
        d = d.at(&Span::file(&Source::new(f.file.as_str(), "")));
    }
    diags.push(d);
}
