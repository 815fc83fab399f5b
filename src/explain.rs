//! `fleetc explain CLUSTER` (SPEC §8): why a cluster gets what it gets.
//!
//! For one cluster: the groups it is in and why (which selector, listing or
//! member group), every placement and policy with selected / not selected
//! and why, its rollout wave, and each value with the file and line that set
//! it and the layers it shadowed. Everything is read from a compile's
//! resolved model; nothing is recomputed differently from `render`.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use crate::diag::Span;
use crate::driver::Planned;
use crate::load::model::{Repo, Selector, Target, UnitKind};
use crate::resolve::merge::Merged;
use crate::resolve::select::eval_target;
use crate::yaml::{Node, Value};

fn loc(s: &Span) -> String {
    s.location()
}

fn selector_text(s: &Selector) -> String {
    let mut parts: Vec<String> = s
        .match_labels
        .iter()
        .map(|(k, v, _)| format!("{k}={v}"))
        .collect();
    for r in &s.exprs {
        let vals = if r.values.is_empty() {
            String::new()
        } else {
            format!(" [{}]", r.values.join(", "))
        };
        parts.push(format!("{} {:?}{vals}", r.key, r.op));
    }
    parts.join(", ")
}

/// Why a Target selects (or does not select) cluster `c`.
fn target_why(
    repo: &Repo,
    t: &Target,
    members: &BTreeMap<String, BTreeSet<String>>,
    c: &str,
) -> (bool, String) {
    let mut why = Vec::new();
    if t.all {
        why.push("all: true".to_string());
    }
    for g in &t.groups {
        if members.get(&g.name).is_some_and(|m| m.contains(c)) {
            why.push(format!("member of group {}", g.name));
        }
    }
    if let (Some(s), Some(cl)) = (&t.selector, repo.cluster(c)) {
        if !s.is_empty() && s.matches(&cl.labels) {
            why.push(format!("clusterSelector matches ({})", selector_text(s)));
        }
    }
    if t.clusters.iter().any(|r| r.name == c) {
        why.push("listed in clusters".to_string());
    }
    if t.exclude.iter().any(|r| r.name == c) {
        return (
            false,
            format!("excluded by excludeClusters ({})", loc(&t.span)),
        );
    }
    if why.is_empty() {
        (
            false,
            format!("its target does not select this cluster ({})", loc(&t.span)),
        )
    } else {
        (true, why.join("; "))
    }
}

fn scalar(n: &Node) -> String {
    match &n.v {
        Value::Map(m) if m.is_empty() => "{}".into(),
        _ => serde_json::to_string(&n.to_json()).unwrap_or_default(),
    }
}

/// Every leaf (maps flattened, lists whole) under `prefix`, with its provenance.
fn leaves(n: &Node, path: &str, out: &mut Vec<(String, String, Span)>) {
    match &n.v {
        Value::Map(m) if !m.is_empty() => {
            for (k, v) in m {
                leaves(v, &format!("{path}.{}", k.name), out);
            }
        }
        _ => out.push((path.to_string(), scalar(n), n.span.clone())),
    }
}

/// Write the values of one layer stack; false when `filter` matched none.
fn write_values(
    out: &mut String,
    title: &str,
    root: &str,
    m: &Merged,
    filter: Option<&str>,
    known: &mut Vec<String>,
) -> bool {
    let mut ls = Vec::new();
    if m.node.as_map().is_none_or(|x| !x.is_empty()) {
        leaves(&m.node, root, &mut ls);
    }
    known.extend(ls.iter().map(|(p, _, _)| p.clone()));
    let ls: Vec<_> = ls
        .into_iter()
        .filter(|(p, _, _)| filter.is_none_or(|f| p == f || p.starts_with(&format!("{f}."))))
        .collect();
    if ls.is_empty() && filter.is_some() {
        return false;
    }
    let _ = writeln!(out, "\n{title}:");
    if ls.is_empty() {
        let _ = writeln!(out, "  (none)");
    }
    for (p, v, span) in ls {
        let _ = writeln!(out, "  {p} = {v}");
        let _ = writeln!(out, "      set by   {}", loc(&span));
        if let Some(sh) = m.shadowed.get(&p) {
            for s in sh.iter().rev() {
                let _ = writeln!(out, "      shadows  {}", loc(s));
            }
        }
    }
    true
}

/// What every section of an explanation reads.
struct Explain<'a> {
    repo: &'a crate::load::model::Repo,
    rc: &'a crate::resolve::ResolvedCluster,
    cl: &'a crate::load::model::Cluster,
    members: &'a BTreeMap<String, std::collections::BTreeSet<String>>,
    component: Option<&'a str>,
}

/// The explanation for one cluster, or an error message (unknown cluster or component).
pub fn explain(
    c: &Planned,
    cluster: &str,
    component: Option<&str>,
    value: Option<&str>,
) -> Result<String, String> {
    let repo = &c.repo;
    let Some(rc) = c.resolved.clusters.iter().find(|r| r.name == cluster) else {
        let names: Vec<String> = repo.clusters.iter().map(|x| x.name.clone()).collect();
        let hint = crate::suggest::did_you_mean(cluster, &names)
            .map(|b| format!(" (did you mean `{b}`?)"))
            .unwrap_or_default();
        return Err(format!("no cluster `{cluster}`{hint}"));
    };
    if let Some(name) = component {
        if repo.unit(name).is_none() {
            return Err(format!("no component or policy `{name}`"));
        }
    }
    let x = Explain {
        repo,
        rc,
        cl: &repo.clusters[rc.cluster],
        members: &c.resolved.members,
        component,
    };
    let mut out = String::new();
    write_cluster(&x, &mut out);
    // The groups also with --component: the values shown come from them.
    write_groups(&x, &mut out);
    write_placements(&x, &mut out);
    write_policies(&x, &mut out);
    write_all_values(&x, value, &mut out)?;
    Ok(out)
}

/// The cluster: its file, owner, version, labels and taints.
fn write_cluster(x: &Explain<'_>, out: &mut String) {
    let cl = x.cl;
    let _ = writeln!(out, "cluster {} ({})", cl.name, cl.file);
    let _ = writeln!(
        out,
        "  owner {}, Kubernetes {}",
        cl.owner, cl.kubernetes_version
    );
    let labels: Vec<String> = cl.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let _ = writeln!(
        out,
        "  labels: {}",
        if labels.is_empty() {
            "(none)".into()
        } else {
            labels.join(", ")
        }
    );
    for t in &cl.taints {
        let _ = writeln!(
            out,
            "  taint: {}{} (NoSelect)",
            t.key,
            t.value
                .as_ref()
                .map(|v| format!("={v}"))
                .unwrap_or_default()
        );
    }
}

/// Its groups in layering order, and why it is in each.
fn write_groups(x: &Explain<'_>, out: &mut String) {
    let (repo, rc, cl, members) = (x.repo, x.rc, x.cl, x.members);
    let _ = writeln!(out, "\ngroups, in layering order:");
    if rc.groups.is_empty() {
        let _ = writeln!(out, "  (none)");
    }
    for gname in &rc.groups {
        let Some(g) = repo.group(gname) else { continue };
        let mut why = Vec::new();
        if let Some(s) = g
            .selector
            .as_ref()
            .filter(|s| !s.is_empty() && s.matches(&cl.labels))
        {
            why.push(format!("selector matches ({})", selector_text(s)));
        }
        if g.clusters.iter().any(|r| r.name == cl.name) {
            why.push("listed in clusters".into());
        }
        for sub in &g.groups {
            if members.get(&sub.name).is_some_and(|m| m.contains(&cl.name)) {
                why.push(format!("via member group {}", sub.name));
            }
        }
        let _ = writeln!(
            out,
            "  {gname} (priority {}): {}",
            g.priority,
            why.join("; ")
        );
    }
}

/// Every placement (of `--component`), and why it puts its component here or not.
fn write_placements(x: &Explain<'_>, out: &mut String) {
    let (repo, rc, cl, members, component) = (x.repo, x.rc, x.cl, x.members, x.component);
    let placed: BTreeMap<usize, &crate::resolve::ResolvedUnit> = rc
        .units
        .iter()
        .filter_map(|u| u.placement.map(|p| (p, u)))
        .collect();
    let _ = writeln!(out, "\nplacements:");
    for (pi, p) in repo.placements.iter().enumerate() {
        if component.is_some_and(|n| n != p.component.name) {
            continue;
        }
        let (selected, why) = target_why(repo, &p.target, members, &cl.name);
        let line = match placed.get(&pi) {
            Some(ru) => {
                let mut s = format!("selected: {why}");
                for t in &p.targets {
                    if eval_target(repo, &t.target, members).contains(&cl.name) {
                        let _ = write!(
                            s,
                            "; customization {} applies",
                            t.name.as_deref().unwrap_or("(unnamed)")
                        );
                    }
                }
                if let Some((w, promoted)) = &ru.wave {
                    let _ = write!(
                        s,
                        "; wave {w} ({})",
                        if *promoted {
                            "promoted"
                        } else {
                            "not promoted yet"
                        }
                    );
                }
                if let Some(v) = &ru.version {
                    let _ = write!(s, "; version {v}");
                }
                s
            }
            None if !selected => format!("not selected: {why}"),
            None => {
                let untolerated: Vec<&str> = cl
                    .taints
                    .iter()
                    .filter(|t| !p.tolerations.iter().any(|tol| tol.tolerates(t)))
                    .map(|t| t.key.as_str())
                    .collect();
                if !untolerated.is_empty() {
                    format!(
                        "not selected: taint {} is not tolerated",
                        untolerated.join(", ")
                    )
                } else if let Some((n, _)) = &p.number_of_clusters {
                    format!(
                        "not selected: not among the {} chosen (numberOfClusters)",
                        crate::diag::plural(*n, "cluster", "clusters")
                    )
                } else {
                    "not selected: another placement puts the component here".into()
                }
            }
        };
        let _ = writeln!(out, "  {} → {}: {line}", p.name, p.component.name);
        if let Some(ru) = placed.get(&pi) {
            write_patches(p, ru, out);
        }
    }
}

/// The patches a placement applies here, in order: where each is written,
/// which customization brings it, and what it selects (or deletes).
fn write_patches(
    p: &crate::load::model::Placement,
    ru: &crate::resolve::ResolvedUnit,
    out: &mut String,
) {
    for ((_, ti, _), patch) in &ru.patches {
        let from = ti
            .and_then(|t| p.targets.get(t))
            .map(|t| format!("customization {}", t.name.as_deref().unwrap_or("(unnamed)")))
            .unwrap_or_else(|| "the placement".into());
        let t = &patch.target;
        let mut what: Vec<String> = Vec::new();
        if let Some(k) = &t.kind {
            what.push(k.clone());
        }
        let name = match (&t.namespace, &t.name) {
            (Some(ns), Some(n)) => Some(format!("{ns}/{n}")),
            (None, Some(n)) => Some(n.clone()),
            (Some(ns), None) => Some(format!("{ns}/*")),
            (None, None) => None,
        };
        what.extend(name);
        if let Some(s) = &t.selector {
            what.push(format!("labels {}", selector_text(s)));
        }
        let what = if what.is_empty() {
            "every object of the component".to_string()
        } else {
            what.join(" ")
        };
        let action = match &patch.body {
            crate::load::model::PatchBody::Merge(b) if crate::render::patch::deletes(b) => {
                "deletes"
            }
            _ => "patches",
        };
        let only = patch
            .formats
            .as_ref()
            .map(|f| {
                let f: Vec<&str> = f.iter().map(|x| x.as_str()).collect();
                format!("; {} output only", f.join(", "))
            })
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "    {action} {what} ({}, from {from}{only})",
            loc(&patch.span)
        );
    }
}

/// Every policy (or `--component`), and its mode here and why.
fn write_policies(x: &Explain<'_>, out: &mut String) {
    let (repo, rc, cl, members, component) = (x.repo, x.rc, x.cl, x.members, x.component);
    let _ = writeln!(out, "\npolicies:");
    let mut any = false;
    for (ui, u) in repo
        .units
        .iter()
        .enumerate()
        .filter(|(_, u)| u.kind == UnitKind::Policy)
    {
        if component.is_some_and(|n| n != u.name) {
            continue;
        }
        any = true;
        let Some(spec) = &u.policy else { continue };
        let ru = rc.units.iter().find(|r| r.unit == ui);
        let line = match ru {
            Some(ru) => {
                let mode = ru.mode.map(|m| m.as_str()).unwrap_or("audit");
                let why = match (ru.exemption, &spec.enforce) {
                    (Some(i), _) => {
                        let e = &spec.exemptions[i];
                        format!(
                            "exempted to audit until {} by {}: {} ({})",
                            e.expires,
                            e.approved_by,
                            e.reason,
                            loc(&e.span)
                        )
                    }
                    (None, Some(t)) if eval_target(repo, t, members).contains(&cl.name) => {
                        "enforce target selects it".into()
                    }
                    _ => format!("baseline mode {}", spec.mode.as_str()),
                };
                format!("{mode} ({why})")
            }
            None => {
                let applies = spec
                    .target
                    .as_ref()
                    .is_none_or(|t| eval_target(repo, t, members).contains(&cl.name));
                if applies {
                    let e = spec
                        .exemptions
                        .iter()
                        .find(|e| eval_target(repo, &e.target, members).contains(&cl.name));
                    match e {
                        Some(e) => format!(
                            "skipped until {} by {}: {} ({})",
                            e.expires,
                            e.approved_by,
                            e.reason,
                            loc(&e.span)
                        ),
                        None => "not applied".into(),
                    }
                } else {
                    "does not apply: its target does not select this cluster".into()
                }
            }
        };
        let _ = writeln!(out, "  {}: {line}", u.name);
    }
    if !any {
        let _ = writeln!(out, "  (none)");
    }
}

/// The values (and vars) with their provenance, filtered by `--component`
/// and `--value`; Err when `--value` names nothing here.
fn write_all_values(x: &Explain<'_>, value: Option<&str>, out: &mut String) -> Result<(), String> {
    let (repo, rc, component, cluster) = (x.repo, x.rc, x.component, x.cl.name.as_str());
    let (filter_vars, filter_values) = match value {
        Some(v) if v.starts_with("vars") => (Some(v), None),
        Some(v) => (None, Some(v)),
        None => (None, None),
    };
    let (mut found, mut known) = (false, Vec::new());
    if component.is_none() && filter_values.is_none() {
        found |= write_values(out, "vars", "vars", &rc.vars, filter_vars, &mut known);
    }
    if filter_vars.is_none() {
        for ru in &rc.units {
            let u = &repo.units[ru.unit];
            if component.is_some_and(|n| n != u.name) {
                continue;
            }
            let root = format!("values.{}", u.name);
            // `--value replicas` with --component, or a full `values.<unit>.path`.
            let f = filter_values.map(|f| {
                if f.starts_with("values.") {
                    f.to_string()
                } else {
                    format!("{root}.{f}")
                }
            });
            if f.as_deref().is_some_and(|f| !f.starts_with(&root)) {
                continue;
            }
            found |= write_values(
                out,
                &format!("values of {} {}", u.kind.as_str().to_lowercase(), u.name),
                &root,
                &ru.values,
                f.as_deref(),
                &mut known,
            );
        }
    }
    if let (Some(v), false) = (value, found) {
        if let Some(c) = component {
            // `--value replicas` names paths below `values.<component>.`.
            let prefix = format!("values.{c}.");
            known = known
                .iter()
                .map(|k| k.strip_prefix(&prefix).unwrap_or(k).to_string())
                .collect();
        }
        let hint = crate::suggest::did_you_mean(v, &known)
            .map(|b| format!("; did you mean `{b}`?"))
            .unwrap_or_default();
        return Err(format!("no value `{v}` on cluster `{cluster}`{hint}"));
    }
    Ok(())
}
