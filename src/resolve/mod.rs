//! Resolution: which clusters are in which groups, which placements land
//! where, and the layered `vars` and `values` of every (unit, cluster) pair.
//!
//! Pure and deterministic: inputs are the typed [`Repo`], outputs are sorted
//! by name. Merged values are YAML nodes whose leaves keep the span of the
//! layer that set them (provenance); what each layer shadowed is recorded
//! alongside. Locks and equal-priority conflicts are checked while merging.

pub mod merge;
mod overrides;
pub mod policy;
pub mod select;

use crate::diag::Code;
use std::collections::{BTreeMap, BTreeSet};

use crate::diag::{Diagnostic, Diags, Span};
use crate::load::model::{Lock, Repo, UnitKind};
use crate::yaml::{Node, Value};
use merge::{Layer, Merged};

/// One unit (component) placed on one cluster.
#[derive(Clone, Debug)]
pub struct ResolvedUnit {
    /// Index into `repo.units`.
    pub unit: usize,
    /// Index into `repo.placements`.
    pub placement: Option<usize>,
    /// Shared between the clusters whose layers for this unit are the same
    /// nodes ([`Shared`]): most clusters set no values of their own.
    pub values: std::sync::Arc<Merged>,
    /// Settings of its agent objects (`spec.agent`, layered like values);
    /// None when no layer sets any.
    pub agent: Option<Node>,
    pub version: Option<String>,
    /// Policies: the resolved mode on this cluster.
    pub mode: Option<crate::load::model::Mode>,
    /// Policies: the exemption (index into the policy's list) that applies here.
    pub exemption: Option<usize>,
    /// Rollouts: the wave this cluster is in, and whether it is promoted.
    pub wave: Option<(String, bool)>,
    /// Patches for this cluster, in the order they apply: the placement's, then each
    /// matching customization's.
    pub patches: Vec<(PatchId, std::sync::Arc<crate::load::model::Patch>)>,
}

/// A patch of a placement: (placement, customization if any, index in its list).
pub type PatchId = (usize, Option<usize>, usize);

#[derive(Clone, Debug)]
pub struct ResolvedCluster {
    /// Index into `repo.clusters`.
    pub cluster: usize,
    pub name: String,
    /// Groups the cluster is in, in layering order (priority, then name).
    pub groups: Vec<String>,
    pub vars: Merged,
    /// Sorted by unit name.
    pub units: Vec<ResolvedUnit>,
}

#[derive(Clone, Debug, Default)]
pub struct Resolved {
    /// Sorted by cluster name.
    pub clusters: Vec<ResolvedCluster>,
    /// Group name → member cluster names.
    pub members: BTreeMap<String, BTreeSet<String>>,
}

/// The path of a lock relative to a layering root (`vars` or `values.<unit>`).
fn relative_locks<'a>(
    locks: &'a [Lock],
    root: &[&str],
    file: &'a str,
) -> Vec<merge::ActiveLock<'a>> {
    locks
        .iter()
        .filter(|l| l.path.len() >= root.len() && l.path.iter().zip(root).all(|(a, b)| a == b))
        .map(|l| merge::ActiveLock {
            rel: &l.path[root.len()..],
            lock: l,
            file,
        })
        .collect()
}

fn sub<'a>(n: Option<&'a Node>, key: &str) -> Option<&'a Node> {
    n.and_then(|n| n.get(key)).filter(|n| !n.is_null())
}

type Members = BTreeMap<String, BTreeSet<String>>;
type SharedPatch = std::sync::Arc<crate::load::model::Patch>;

/// Where placements put components.
#[derive(Default)]
struct Placed {
    /// cluster → (unit, placement), in placement order.
    on: BTreeMap<String, Vec<(usize, usize)>>,
    /// (placement, cluster) → (wave, promoted).
    waves: BTreeMap<(usize, String), (String, bool)>,
}

/// Per placement, computed once for every cluster: its patches (shared, not
/// copied) and the clusters each of its customizations selects.
struct PerPlacement {
    own: Vec<SharedPatch>,
    per_target: Vec<Vec<SharedPatch>>,
    customized: Vec<BTreeSet<String>>,
}

/// Resolve the fleet; `today` (YYYY-MM-DD) decides which exemptions have expired.
pub fn resolve(repo: &Repo, today: &str) -> (Resolved, Diags) {
    let mut diags = Diags::default();
    let Some(fleet) = &repo.fleet else {
        return (Resolved::default(), diags);
    };
    let members = select::memberships(repo);
    empty_groups(repo, &members, &mut diags);
    let placed = place_components(repo, &members, &mut diags);
    let policies_on = place_policies(repo, &members, today, &mut diags);
    missing_dependencies(repo, &placed.on, &policies_on, &mut diags);
    let per_placement: Vec<PerPlacement> = repo
        .placements
        .iter()
        .map(|p| PerPlacement {
            own: p.patches.iter().cloned().map(std::sync::Arc::new).collect(),
            per_target: p
                .targets
                .iter()
                .map(|t| t.patches.iter().cloned().map(std::sync::Arc::new).collect())
                .collect(),
            customized: p
                .targets
                .iter()
                .map(|t| select::eval_target(repo, &t.target, &members))
                .collect(),
        })
        .collect();
    let mut out = Resolved::default();
    let mut conflicts_seen: BTreeSet<(String, String, String)> = BTreeSet::new();
    let mut shared = Shared::default();
    for (ci, c) in repo.clusters.iter().enumerate() {
        let mut layering = Layering {
            repo,
            fleet,
            cluster: c,
            groups: groups_of(repo, c, &members),
            conflicts_seen: &mut conflicts_seen,
            shared: &mut shared,
        };
        let vars = layering.vars(&mut diags);
        let mut units = Vec::new();
        for &(ui, pi) in placed
            .on
            .get(&c.name)
            .map(Vec::as_slice)
            .unwrap_or_default()
        {
            let wave = placed.waves.get(&(pi, c.name.clone())).cloned();
            units.push(layering.placed_unit(ui, pi, &per_placement[pi], wave, &mut diags));
        }
        for (ui, on) in policies_on
            .get(&c.name)
            .map(Vec::as_slice)
            .unwrap_or_default()
        {
            units.push(layering.policy(*ui, on, &mut diags));
        }
        units.sort_by(|a, b| repo.units[a.unit].name.cmp(&repo.units[b.unit].name));
        out.clusters.push(ResolvedCluster {
            cluster: ci,
            name: c.name.clone(),
            groups: layering.groups.iter().map(|g| g.name.clone()).collect(),
            vars,
            units,
        });
    }
    out.clusters.sort_by(|a, b| a.name.cmp(&b.name));
    check_values_schemas(repo, &out, &mut diags);
    out.members = members;
    (out, diags)
}

/// A group that no cluster is a member of is a warning.
fn empty_groups(repo: &Repo, members: &Members, diags: &mut Diags) {
    for g in &repo.groups {
        if members.get(&g.name).is_none_or(BTreeSet::is_empty) {
            diags.push(
                Diagnostic::warning(
                    Code::SelectsNothing,
                    format!("group `{}` matches no cluster", g.name),
                )
                .at(&g.name_span),
            );
        }
    }
}

/// Each placement's clusters (one placement per component and cluster) and
/// their rollout waves.
fn place_components(repo: &Repo, members: &Members, diags: &mut Diags) -> Placed {
    let mut placed = Placed::default();
    let mut first_on: BTreeMap<(usize, String), usize> = BTreeMap::new(); // (unit, cluster) → placement
    for (pi, p) in repo.placements.iter().enumerate() {
        let Some(ui) = repo
            .units
            .iter()
            .position(|u| u.name == p.component.name && u.kind == UnitKind::Component)
        else {
            continue;
        };
        for c in select::place(repo, p, members, diags) {
            if let Some(&other) = first_on.get(&(ui, c.clone())) {
                let o = &repo.placements[other];
                // The same message and spans on every cluster, which is
                // named in `clusters`: the clusters fold into one error.
                diags.push(Diagnostic::error(Code::TwoPlacements, format!(
                    "placements `{}` and `{}` both put component `{}` on the same cluster",
                    o.name, p.name, p.component.name
                ))
                .at(&p.component.span)
                .on_cluster(&c)
                .related(&o.component.span, "the other placement")
                .help("a component is placed on a cluster by one placement; narrow one of the targets (excludeClusters)"));
                continue;
            }
            first_on.insert((ui, c.clone()), pi);
            placed.on.entry(c).or_default().push((ui, pi));
        }
        if let Some(r) = &p.rollout {
            let on: Vec<String> = first_on
                .iter()
                .filter(|(_, &x)| x == pi)
                .map(|((_, c), _)| c.clone())
                .collect();
            assign_waves(repo, pi, r, &on, members, &mut placed.waves, diags);
        }
    }
    placed
}

/// Policies → clusters, with their mode there.
fn place_policies(
    repo: &Repo,
    members: &Members,
    today: &str,
    diags: &mut Diags,
) -> BTreeMap<String, Vec<(usize, policy::PolicyOn)>> {
    let mut policies_on: BTreeMap<String, Vec<(usize, policy::PolicyOn)>> = BTreeMap::new();
    for (ui, u) in repo
        .units
        .iter()
        .enumerate()
        .filter(|(_, u)| u.kind == UnitKind::Policy)
    {
        for (c, on) in policy::place(repo, u, members, today, diags) {
            policies_on.entry(c).or_default().push((ui, on));
        }
    }
    policies_on
}

/// dependsOn must be on the same cluster: a component (by its placement) or
/// a policy (by its target) whose dependency is absent there is an error,
/// one per (placement or policy, dependency) listing the clusters.
fn missing_dependencies(
    repo: &Repo,
    placed: &BTreeMap<String, Vec<(usize, usize)>>,
    policies_on: &BTreeMap<String, Vec<(usize, policy::PolicyOn)>>,
    diags: &mut Diags,
) {
    let mut missing: BTreeMap<(Option<usize>, usize, String), Vec<String>> = BTreeMap::new();
    let cluster_names: BTreeSet<&String> = placed.keys().chain(policies_on.keys()).collect();
    for c in cluster_names {
        // (unit, placement: None for a policy)
        let mut here: Vec<(usize, Option<usize>)> = placed
            .get(c)
            .map(|l| l.iter().map(|&(u, p)| (u, Some(p))).collect())
            .unwrap_or_default();
        here.extend(
            policies_on
                .get(c)
                .into_iter()
                .flatten()
                .map(|(u, _)| (*u, None)),
        );
        let names: BTreeSet<&str> = here
            .iter()
            .map(|(u, _)| repo.units[*u].name.as_str())
            .collect();
        for (u, p) in &here {
            for d in &repo.units[*u].depends_on {
                if !names.contains(d.name.as_str()) {
                    missing
                        .entry((*p, *u, d.name.clone()))
                        .or_default()
                        .push(c.clone());
                }
            }
        }
    }
    for ((p, u, dep), clusters) in missing {
        diags.push(dependency_not_placed(repo, p, u, &dep, &clusters));
    }
}

fn dependency_not_placed(
    repo: &Repo,
    placement: Option<usize>,
    u: usize,
    dep: &str,
    clusters: &[String],
) -> Diagnostic {
    let unit = &repo.units[u];
    let on = format!(
        "{} where `{dep}`, which it depends on, is not placed: {}",
        if clusters.len() == 1 {
            "a cluster"
        } else {
            "clusters"
        },
        clusters.join(", ")
    );
    let mut d = match placement {
        Some(p) => {
            let pl = &repo.placements[p];
            Diagnostic::error(
                Code::DependencyNotPlaced,
                format!(
                    "placement `{}` puts `{}` on {on}",
                    pl.name, pl.component.name
                ),
            )
            .at(&pl.component.span)
            .help(format!(
                "place `{dep}` on those clusters too, or exclude them from this placement"
            ))
        }
        None => {
            let at = unit
                .policy
                .as_ref()
                .and_then(|p| p.target.as_ref())
                .map_or_else(|| unit.name_span.clone(), |t| t.span.clone());
            Diagnostic::error(
                Code::DependencyNotPlaced,
                format!("policy `{}` applies to {on}", unit.name),
            )
            .at(&at)
            .help(format!(
                "place `{dep}` on those clusters too, or narrow the policy's target"
            ))
        }
    };
    if let Some(s) = unit.depends_on.iter().find(|d| d.name == dep) {
        d = d.related(&s.span, "the dependency is declared here");
    }
    d
}

/// The groups of a cluster, in layering order (priority, then name).
fn groups_of<'a>(
    repo: &'a Repo,
    c: &crate::load::model::Cluster,
    members: &Members,
) -> Vec<&'a crate::load::model::Group> {
    let mut gs: Vec<&crate::load::model::Group> = repo
        .groups
        .iter()
        .filter(|g| members.get(&g.name).is_some_and(|m| m.contains(&c.name)))
        .collect();
    gs.sort_by(|a, b| {
        a.priority
            .cmp(&b.priority)
            .then_with(|| a.name.cmp(&b.name))
    });
    gs
}

/// Layering on one cluster: Fleet → its groups → the cluster (→ placement,
/// customizations, rollout), for `vars` and each unit's `values`.
struct Layering<'a, 's> {
    repo: &'a Repo,
    fleet: &'a crate::load::model::Fleet,
    cluster: &'a crate::load::model::Cluster,
    groups: Vec<&'a crate::load::model::Group>,
    /// Equal-priority conflicts already reported (each once, not per cluster).
    conflicts_seen: &'s mut BTreeSet<(String, String, String)>,
    shared: &'s mut Shared,
}

/// Merged values by the identity of their layers. A unit's values are a
/// function of its layers' nodes and locks alone, and the nodes live in the
/// [`Repo`] for the whole resolution, so their addresses name them: clusters
/// whose layers are the same nodes (all but the ones that set values of
/// their own) share one merge. The diagnostics a merge made are kept and
/// repeated for every cluster, as merging again would.
#[derive(Default)]
struct Shared {
    merged: std::collections::HashMap<Vec<usize>, (std::sync::Arc<Merged>, Vec<Diagnostic>)>,
}

impl Shared {
    /// `layers` merged under `root` at `anchor`, or the merge of the same
    /// layers made before. `own` is the cluster's file: a layer of it is
    /// this cluster's alone, so that merge is not kept.
    fn merge(
        &mut self,
        (unit, own): (usize, &str),
        layers: &[Layer<'_>],
        (root, anchor): (&str, &Span),
        diags: &mut Diags,
    ) -> std::sync::Arc<Merged> {
        let addr = |s: &str| s.as_ptr() as usize;
        let mut key = vec![unit];
        for l in layers {
            if l.node.is_none() && l.locks.is_empty() {
                continue; // changes nothing
            }
            if l.node.is_some() && addr(l.file) == addr(own) {
                let merged = merge::merge(layers, root, anchor, diags);
                return std::sync::Arc::new(merged);
            }
            key.push(l.node.map_or(0, |n| std::ptr::from_ref(n) as usize));
            key.push(addr(l.file));
            key.push(l.locks.len());
            key.extend(l.locks.iter().map(|a| std::ptr::from_ref(a.lock) as usize));
        }
        if let Some((m, made)) = self.merged.get(&key) {
            diags.items.extend(made.iter().cloned());
            return m.clone();
        }
        let mut made = Diags::default();
        let m = std::sync::Arc::new(merge::merge(layers, root, anchor, &mut made));
        diags.items.extend(made.items.iter().cloned());
        self.merged.insert(key, (m.clone(), made.items));
        m
    }
}

impl<'a> Layering<'a, '_> {
    /// `vars`: Fleet → groups → Cluster.
    fn vars(&mut self, diags: &mut Diags) -> Merged {
        let (fleet, c) = (self.fleet, self.cluster);
        let mut layers: Vec<Layer<'_>> = vec![Layer {
            node: fleet.vars.as_ref(),
            file: &fleet.file,
            locks: relative_locks(&fleet.locked, &["vars"], &fleet.file),
        }];
        for g in &self.groups {
            layers.push(Layer {
                node: g.vars.as_ref(),
                file: &g.file,
                locks: relative_locks(&g.locked, &["vars"], &g.file),
            });
        }
        layers.push(Layer {
            node: c.vars.as_ref(),
            file: &c.file,
            locks: vec![],
        });
        let vars = merge::merge(&layers, "vars", &c.name_span, diags);
        equal_priority(
            &self.groups,
            |g| g.vars.as_ref(),
            "vars",
            self.conflicts_seen,
            diags,
        );
        vars
    }

    /// A unit's values from `layers`, with equal-priority conflicts checked.
    fn values(
        &mut self,
        u: &crate::load::model::Unit,
        layers: Vec<Layer<'_>>,
        diags: &mut Diags,
    ) -> std::sync::Arc<Merged> {
        let root = format!("values.{}", u.name);
        let ui = std::ptr::from_ref(u) as usize;
        let values = self.shared.merge(
            (ui, &self.cluster.file),
            &layers,
            (&root, &u.name_span),
            diags,
        );
        equal_priority(
            &self.groups,
            |g| sub(g.values.as_ref(), &u.name),
            &root,
            self.conflicts_seen,
            diags,
        );
        values
    }

    /// A unit's agent settings: its own, the Fleet's, its groups', the
    /// cluster's, then `placed` (a placement's and its matching targets',
    /// all in `placed_file`). None when no layer sets any: the common case
    /// costs no merge.
    fn agent(
        &self,
        u: &crate::load::model::Unit,
        placed_file: &str,
        placed: &[Option<&Node>],
        diags: &mut Diags,
    ) -> Option<Node> {
        let (fleet, c) = (self.fleet, self.cluster);
        let mut layers = vec![
            (u.agent.as_ref(), u.file.as_str()),
            (sub(fleet.agent.as_ref(), &u.name), fleet.file.as_str()),
        ];
        for g in &self.groups {
            layers.push((sub(g.agent.as_ref(), &u.name), g.file.as_str()));
        }
        layers.push((sub(c.agent.as_ref(), &u.name), c.file.as_str()));
        layers.extend(placed.iter().map(|n| (*n, placed_file)));
        if layers.iter().all(|(n, _)| n.is_none()) {
            return None;
        }
        let layers: Vec<Layer<'_>> = layers
            .into_iter()
            .map(|(node, file)| Layer {
                node,
                file,
                locks: vec![],
            })
            .collect();
        let root = format!("agent.{}", u.name);
        Some(merge::merge(&layers, &root, &u.name_span, diags).node)
    }

    /// A component placed here by placement `pi`: its values (with the
    /// placement, its matching customizations and, once promoted, its
    /// rollout on top), version and patches.
    fn placed_unit(
        &mut self,
        ui: usize,
        pi: usize,
        per: &PerPlacement,
        wave: Option<(String, bool)>,
        diags: &mut Diags,
    ) -> ResolvedUnit {
        let (repo, c) = (self.repo, self.cluster);
        let u = &repo.units[ui];
        let p = &repo.placements[pi];
        let mut layers = base_layers(self.fleet, &self.groups, c, u);
        layers.push(Layer {
            node: p.values.as_ref(),
            file: &p.file,
            locks: vec![],
        });
        let mut patches: Vec<(PatchId, SharedPatch)> = per
            .own
            .iter()
            .enumerate()
            .map(|(i, x)| ((pi, None, i), x.clone()))
            .collect();
        let mut version = u.version.clone();
        let mut applied = Vec::new();
        let mut agent_layers = vec![p.agent.as_ref()];
        for (ti, (t, selects)) in p.targets.iter().zip(&per.customized).enumerate() {
            if selects.contains(&c.name) {
                applied.push(ti);
                agent_layers.push(t.agent.as_ref());
                if let Some(v) = &t.version {
                    version = Some(v.clone());
                }
                layers.push(Layer {
                    node: t.values.as_ref(),
                    file: &p.file,
                    locks: vec![],
                });
                patches.extend(
                    per.per_target[ti]
                        .iter()
                        .enumerate()
                        .map(|(i, x)| ((pi, Some(ti), i), x.clone())),
                );
            }
        }
        if let (Some((_, true)), Some(r)) = (&wave, &p.rollout) {
            layers.push(Layer {
                node: r.values.as_ref(),
                file: &p.file,
                locks: vec![],
            });
            version = r.version.clone().or(version);
        }
        overrides::warn(p, &applied, &u.name, &c.name, diags);
        ResolvedUnit {
            unit: ui,
            placement: Some(pi),
            agent: self.agent(u, &p.file, &agent_layers, diags),
            values: self.values(u, layers, diags),
            version,
            mode: None,
            exemption: None,
            wave,
            patches,
        }
    }

    /// A policy that applies here, with its mode and exemption.
    fn policy(&mut self, ui: usize, on: &policy::PolicyOn, diags: &mut Diags) -> ResolvedUnit {
        let u = &self.repo.units[ui];
        let layers = base_layers(self.fleet, &self.groups, self.cluster, u);
        ResolvedUnit {
            unit: ui,
            placement: None,
            agent: self.agent(u, &u.file, &[], diags),
            values: self.values(u, layers, diags),
            version: u.version.clone(),
            mode: Some(on.mode),
            exemption: on.exemption,
            wave: None,
            patches: Vec::new(),
        }
    }
}

/// SPEC §6: each cluster of a rolled-out placement is in the first wave whose
/// Target selects it (a wave without one takes the rest); waves up to
/// `promotedThrough` are promoted.
fn assign_waves(
    repo: &Repo,
    pi: usize,
    r: &crate::load::model::Rollout,
    clusters: &[String],
    members: &BTreeMap<String, BTreeSet<String>>,
    out: &mut BTreeMap<(usize, String), (String, bool)>,
    diags: &mut Diags,
) {
    let p = &repo.placements[pi];
    let promoted_upto = r
        .promoted_through
        .as_ref()
        .and_then(|pt| r.waves.iter().position(|w| w.name == pt.name));
    let selected: Vec<Option<BTreeSet<String>>> = r
        .waves
        .iter()
        .map(|w| {
            w.target
                .as_ref()
                .map(|t| select::eval_target(repo, t, members))
        })
        .collect();
    let mut count = vec![0usize; r.waves.len()];
    let mut lost = Vec::new();
    for c in clusters {
        match selected
            .iter()
            .position(|s| s.as_ref().is_none_or(|s| s.contains(c)))
        {
            Some(i) => {
                count[i] += 1;
                out.insert(
                    (pi, c.clone()),
                    (
                        r.waves[i].name.clone(),
                        promoted_upto.is_some_and(|u| i <= u),
                    ),
                );
            }
            None => lost.push(c.as_str()),
        }
    }
    if !lost.is_empty() {
        diags.push(
            Diagnostic::error(Code::ClusterInNoWave, format!(
                "placement `{}` selects {} that no rollout wave takes: {}",
                p.name,
                if lost.len() == 1 { "a cluster" } else { "clusters" },
                lost.join(", ")
            ))
            .at(&r.span)
            .help("every selected cluster must fall in one wave; add them to a wave, or end with a wave without a target"),
        );
    }
    for (w, n) in r.waves.iter().zip(count) {
        if n == 0 {
            diags.push(
                Diagnostic::warning(
                    Code::SelectsNothing,
                    format!(
                        "wave `{}` of placement `{}` gets no cluster",
                        w.name, p.name
                    ),
                )
                .at(&w.span),
            );
        }
    }
}

/// The layers every unit's values start with: its defaults, Fleet, groups (in order), Cluster.
fn base_layers<'a>(
    fleet: &'a crate::load::model::Fleet,
    gs: &[&'a crate::load::model::Group],
    c: &'a crate::load::model::Cluster,
    u: &'a crate::load::model::Unit,
) -> Vec<Layer<'a>> {
    let root = ["values", u.name.as_str()];
    let mut layers = vec![
        Layer {
            node: u.values.as_ref(),
            file: &u.file,
            locks: vec![],
        },
        Layer {
            node: sub(fleet.values.as_ref(), &u.name),
            file: &fleet.file,
            locks: relative_locks(&fleet.locked, &root, &fleet.file),
        },
    ];
    for g in gs {
        layers.push(Layer {
            node: sub(g.values.as_ref(), &u.name),
            file: &g.file,
            locks: relative_locks(&g.locked, &root, &g.file),
        });
    }
    layers.push(Layer {
        node: sub(c.values.as_ref(), &u.name),
        file: &c.file,
        locks: vec![],
    });
    layers
}

/// Every cluster's merged values must pass the unit's `valuesSchema`. Errors point at the
/// layer that set the offending value: merged leaves keep the span they were written at.
fn check_values_schemas(repo: &Repo, resolved: &Resolved, diags: &mut Diags) {
    let mut validators: BTreeMap<usize, Option<(jsonschema::Validator, serde_json::Value)>> =
        BTreeMap::new();
    for rc in &resolved.clusters {
        for ru in &rc.units {
            let u = &repo.units[ru.unit];
            let Some(schema_node) = &u.values_schema else {
                continue;
            };
            let entry = validators.entry(ru.unit).or_insert_with(|| {
                let schema = schema_node.to_json();
                match jsonschema::draft202012::new(&schema) {
                    Ok(v) => Some((v, schema)),
                    Err(e) => {
                        diags.push(
                            Diagnostic::error(
                                Code::ValuesSchema,
                                format!(
                                    "`valuesSchema` of `{}` is not a valid JSON Schema: {e}",
                                    u.name
                                ),
                            )
                            .at(&schema_node.span),
                        );
                        None
                    }
                }
            });
            let Some((validator, schema)) = entry else {
                continue;
            };
            let what = format!("values of {}", u.name);
            for d in crate::schema::check_with(validator, schema, &ru.values.node, &what) {
                let d = d.on_cluster(&rc.name);
                let d = if d.help.is_none() {
                    d.help(format!(
                        "the value must satisfy `valuesSchema` in {}",
                        u.file
                    ))
                } else {
                    d
                };
                diags.push(d);
            }
        }
    }
}

/// Groups of equal priority that both contain a cluster must not set one leaf differently.
fn equal_priority<'a>(
    gs: &[&'a crate::load::model::Group],
    layer: impl Fn(&'a crate::load::model::Group) -> Option<&'a Node>,
    root: &str,
    seen: &mut BTreeSet<(String, String, String)>,
    diags: &mut Diags,
) {
    for (i, a) in gs.iter().enumerate() {
        for b in &gs[i + 1..] {
            if a.priority != b.priority {
                continue;
            }
            let (Some(na), Some(nb)) = (layer(a), layer(b)) else {
                continue;
            };
            let mut found = Vec::new();
            conflicts(na, nb, &mut vec![], &mut found);
            for (path, sa, sb) in found {
                let full = if path.is_empty() {
                    root.to_string()
                } else {
                    format!("{root}.{}", path.join("."))
                };
                if !seen.insert((a.name.clone(), b.name.clone(), full.clone())) {
                    continue;
                }
                diags.push(Diagnostic::error(Code::EqualPriorityConflict, format!(
                    "groups `{}` and `{}` have the same priority ({}) and set `{full}` to different values",
                    a.name, b.name, a.priority
                ))
                .at(&sb)
                .label(format!("set by {}", b.file))
                .related(&sa, format!("set by {}", a.file))
                .help("give one group a higher `priority`, or set the value in only one of them"));
            }
        }
    }
}

fn conflicts(a: &Node, b: &Node, path: &mut Vec<String>, out: &mut Vec<(Vec<String>, Span, Span)>) {
    match (&a.v, &b.v) {
        (Value::Map(ma), Value::Map(mb)) => {
            for (k, va) in ma {
                if let Some((kb, vb)) = mb.get_key_value(k.name.as_str()) {
                    path.push(k.name.clone());
                    if matches!((&va.v, &vb.v), (Value::Map(_), Value::Map(_))) {
                        conflicts(va, vb, path, out);
                    } else if !va.same(vb) {
                        let _ = kb;
                        out.push((path.clone(), va.span.clone(), vb.span.clone()));
                    }
                    path.pop();
                }
            }
        }
        _ => {
            if !a.same(b) {
                out.push((path.clone(), a.span.clone(), b.span.clone()));
            }
        }
    }
}
