//! The rules over the typed model: references, cycles, selectors and
//! targets, shared names, Helm components, rollouts, label keys, and what
//! the output format needs. Each is one function of [`super::RULES`].

use crate::diag::Code;
use std::collections::{BTreeMap, BTreeSet};

use crate::diag::{Diagnostic, Diags, Source, Span};
use crate::load::model::{Format, NameRef, Repo, Selector, Target, TemplateKind, UnitKind};
use crate::suggest::did_you_mean;

use super::Settings;

fn unknown(kind: &str, r: &NameRef, known: &[String]) -> Diagnostic {
    let mut d = Diagnostic::error(
        Code::UnknownReference,
        format!("unknown {kind} `{}`", r.name),
    )
    .at(&r.span)
    .label(format!("no {kind} has this name"));
    if let Some(b) = did_you_mean(&r.name, known) {
        d = d.help(format!("did you mean `{b}`?"));
    }
    d
}

fn check_selector(s: &Selector, diags: &mut Diags) {
    if s.is_empty() {
        diags.push(
            Diagnostic::error(
                Code::EmptySelector,
                "empty label selector `{}` matches every cluster",
            )
            .at(&s.span)
            .help(
                "write `all: true` to select every cluster, or add matchLabels / matchExpressions",
            ),
        );
    }
    for r in &s.exprs {
        use crate::load::model::Op;
        match r.op {
            Op::In | Op::NotIn if r.values.is_empty() => diags.push(
                Diagnostic::error(
                    Code::SelectorOperator,
                    format!("operator {:?} needs at least one value", r.op),
                )
                .at(&r.span),
            ),
            Op::Exists | Op::DoesNotExist if !r.values.is_empty() => diags.push(
                Diagnostic::error(
                    Code::SelectorOperator,
                    format!("operator {:?} takes no values", r.op),
                )
                .at(&r.span),
            ),
            _ => {}
        }
    }
}

/// Check a Target's shape and names.
fn check_target(t: &Target, repo: &Repo, diags: &mut Diags) {
    if t.is_empty() {
        diags.push(Diagnostic::error(Code::EmptySelector, "empty target selects no cluster")
            .at(&t.span)
            .help("write `all: true` for every cluster, or name groups, clusters or a clusterSelector"));
    }
    if let Some(s) = &t.selector {
        check_selector(s, diags);
    }
    let clusters = repo.cluster_names();
    let groups: Vec<String> = repo.groups.iter().map(|g| g.name.clone()).collect();
    for r in &t.groups {
        if repo.group(&r.name).is_none() {
            diags.push(unknown("group", r, &groups));
        }
    }
    for r in t.clusters.iter().chain(&t.exclude) {
        if repo.cluster(&r.name).is_none() {
            diags.push(unknown("cluster", r, &clusters));
        }
    }
}

/// Component and Policy names share one namespace.
pub(super) fn unit_names(repo: &Repo, _: &Settings, diags: &mut Diags) {
    let mut seen: BTreeMap<&str, &str> = BTreeMap::new();
    for u in &repo.units {
        if let Some(other) = seen.insert(&u.name, &u.file) {
            diags.push(
                Diagnostic::error(
                    Code::DuplicateName,
                    format!("`{}` is both a Component and a Policy", u.name),
                )
                .at(&u.name_span)
                .help(format!(
                    "components and policies share one namespace; rename this one or {other}"
                )),
            );
        }
    }
}

/// Every group has members; its selector is well formed; the clusters and
/// groups it names exist.
pub(super) fn groups(repo: &Repo, _: &Settings, diags: &mut Diags) {
    let clusters = repo.cluster_names();
    let groups: Vec<String> = repo.groups.iter().map(|g| g.name.clone()).collect();
    for g in &repo.groups {
        if g.selector.is_none() && g.clusters.is_empty() && g.groups.is_empty() {
            diags.push(
                Diagnostic::error(
                    Code::GroupWithoutMembers,
                    format!("group `{}` has no members", g.name),
                )
                .at(&g.spec_span)
                .help("give it a selector, a `clusters` list or member `groups`"),
            );
        }
        if let Some(s) = &g.selector {
            check_selector(s, diags);
        }
        for r in &g.clusters {
            if repo.cluster(&r.name).is_none() {
                diags.push(unknown("cluster", r, &clusters));
            }
        }
        for r in &g.groups {
            if repo.group(&r.name).is_none() {
                diags.push(unknown("group", r, &groups));
            }
        }
    }
}

/// No group contains itself through other groups.
pub(super) fn group_cycles(repo: &Repo, _: &Settings, diags: &mut Diags) {
    let edges: BTreeMap<&str, Vec<&NameRef>> = repo
        .groups
        .iter()
        .map(|g| (g.name.as_str(), g.groups.iter().collect()))
        .collect();
    for cycle in find_cycles(&edges) {
        diags.push(
            Diagnostic::error(
                Code::GroupCycle,
                format!("group membership cycle: {}", cycle.0.join(" → ")),
            )
            .at(&cycle.1)
            .help("a group may contain other groups, but not itself through them"),
        );
    }
}

/// `dependsOn` names components that exist, and none depends on itself
/// through others.
pub(super) fn depends_on(repo: &Repo, _: &Settings, diags: &mut Diags) {
    let units: Vec<String> = repo.units.iter().map(|u| u.name.clone()).collect();
    for r in repo.units.iter().flat_map(|u| &u.depends_on) {
        match repo.unit(&r.name) {
            None => diags.push(unknown("component", r, &units)),
            Some(d) if d.kind == UnitKind::Policy => diags.push(
                Diagnostic::error(
                    Code::PolicyMisused,
                    format!("`{}` is a Policy; dependsOn names components", r.name),
                )
                .at(&r.span),
            ),
            Some(_) => {}
        }
    }
    let edges: BTreeMap<&str, Vec<&NameRef>> = repo
        .units
        .iter()
        .map(|u| (u.name.as_str(), u.depends_on.iter().collect()))
        .collect();
    for cycle in find_cycles(&edges) {
        diags.push(
            Diagnostic::error(
                Code::DependsOnCycle,
                format!("dependsOn cycle: {}", cycle.0.join(" → ")),
            )
            .at(&cycle.1)
            .help("components must be installable in some order; break the cycle"),
        );
    }
}

/// A policy's targets are well formed; its exemptions' dates are dates.
pub(super) fn policies(repo: &Repo, _: &Settings, diags: &mut Diags) {
    for p in repo.units.iter().filter_map(|u| u.policy.as_ref()) {
        for t in [&p.target, &p.enforce].into_iter().flatten() {
            check_target(t, repo, diags);
        }
        for ex in &p.exemptions {
            check_target(&ex.target, repo, diags);
            if !crate::date::valid_date(&ex.expires) {
                diags.push(
                    Diagnostic::error(
                        Code::InvalidDate,
                        format!("`{}` is not a calendar date", ex.expires),
                    )
                    .at(&ex.expires_span)
                    .help("write the last day the exemption is valid as YYYY-MM-DD"),
                );
            }
        }
    }
}

/// A Helm component pins its chart version, names its namespace, and has
/// no templates besides.
pub(super) fn helm_components(repo: &Repo, _: &Settings, diags: &mut Diags) {
    for u in &repo.units {
        let Some(h) = &u.helm else { continue };
        if u.version.is_none() {
            diags.push(
                Diagnostic::error(Code::HelmComponent, format!("Helm component `{}` has no `version`", u.name))
                    .at(&h.span)
                    .help(format!("set `spec.version` to the `{}` chart version to install; an unpinned chart would change under the fleet without a commit", h.chart)),
            );
        }
        if u.namespace.is_none() {
            diags.push(
                Diagnostic::error(
                    Code::HelmComponent,
                    format!("Helm component `{}` has no `namespace`", u.name),
                )
                .at(&h.span)
                .help("set `spec.namespace`: the chart is installed into it"),
            );
        }
        // A chart archive's own URL is not a repository: neither agent can
        // read one as a HelmRepository or an OCI source.
        let url = h.repository.split(['?', '#']).next().unwrap_or_default();
        if [".tgz", ".tar.gz"].iter().any(|x| url.ends_with(x)) {
            diags.push(
                Diagnostic::error(
                    Code::HelmComponent,
                    format!("`{}` is a chart archive, not a chart repository", h.repository),
                )
                .at(&h.span)
                .help(format!(
                    "`helm.repository` is the repository that serves the chart: an HTTP(S) chart repository (the URL whose index.yaml lists `{}`, e.g. https://charts.example.com) or an OCI registry path (oci://registry.example.com/charts); `spec.version` picks the version",
                    h.chart
                )),
            );
        }
        if h.path.is_some() {
            path_chart_versions(repo, u, diags);
        }
        if let Some(t) = u.templates.first() {
            diags.push(
                Diagnostic::error(Code::HelmComponent, format!("Helm component `{}` also has templates ({})", u.name, t.path))
                    .at(&h.span)
                    .help("a component is either a Helm chart or templates; put extra resources in their own component that `dependsOn` this one"),
            );
        }
    }
}

/// A chart kept in the fleet has the one version of its Chart.yaml: a
/// placement target or rollout cannot install another.
fn path_chart_versions(repo: &Repo, u: &crate::load::model::Unit, diags: &mut Diags) {
    for p in repo
        .placements
        .iter()
        .filter(|p| p.component.name == u.name)
    {
        let spans = p
            .targets
            .iter()
            .filter(|t| t.version.is_some())
            .map(|_| p.name_span.clone())
            .chain(
                p.rollout
                    .iter()
                    .filter(|r| r.version.is_some())
                    .map(|r| r.span.clone()),
            );
        for at in spans {
            diags.push(
                Diagnostic::error(
                    Code::HelmComponent,
                    format!("placement `{}` sets a version of `{}`, whose chart is kept in the fleet", p.name, u.name),
                )
                .at(&at)
                .help("the chart in the repository is the version every cluster gets; to run two versions, keep two charts (two components), or use a chart repository"),
            );
        }
    }
}

/// A placement places a component that exists; its targets and its
/// patches' selectors are well formed.
pub(super) fn placements(repo: &Repo, _: &Settings, diags: &mut Diags) {
    let units: Vec<String> = repo.units.iter().map(|u| u.name.clone()).collect();
    for p in &repo.placements {
        match repo.unit(&p.component.name) {
            None => diags.push(unknown("component", &p.component, &units)),
            Some(u) if u.kind == UnitKind::Policy => diags.push(
                Diagnostic::error(
                    Code::PolicyMisused,
                    format!("`{}` is a Policy; placements place components only", u.name),
                )
                .at(&p.component.span)
                .help("a policy says where it applies with its own `spec.target`"),
            ),
            Some(_) => {}
        }
        check_target(&p.target, repo, diags);
        for (i, c) in p.targets.iter().enumerate() {
            check_target(&c.target, repo, diags);
            let earlier: Vec<String> = p.targets[..i]
                .iter()
                .filter_map(|t| t.name.clone())
                .collect();
            for o in c.overrides.iter().filter(|o| !earlier.contains(&o.name)) {
                diags.push(
                    Diagnostic::error(
                        Code::UnknownReference,
                        format!("`overrides` names `{}`, which is not an earlier target of placement `{}`", o.name, p.name),
                    )
                    .at(&o.span)
                    .help(if earlier.is_empty() {
                        "a target overrides only the targets listed before it, and this one is the first".to_string()
                    } else {
                        format!("earlier targets: {}", earlier.join(", "))
                    }),
                );
            }
        }
        for patch in p
            .patches
            .iter()
            .chain(p.targets.iter().flat_map(|c| &c.patches))
        {
            if let Some(s) = &patch.target.selector {
                check_selector(s, diags);
            }
        }
    }
}

/// A rollout's waves have unique names, a target for every wave but the
/// last, and `promotedThrough` names one of them.
pub(super) fn rollouts(repo: &Repo, _: &Settings, diags: &mut Diags) {
    for r in repo.placements.iter().filter_map(|p| p.rollout.as_ref()) {
        let mut seen: BTreeMap<&str, &Span> = BTreeMap::new();
        for (i, w) in r.waves.iter().enumerate() {
            if let Some(first) = seen.insert(&w.name, &w.span) {
                diags.push(
                    Diagnostic::error(
                        Code::RolloutWave,
                        format!("wave `{}` is named twice", w.name),
                    )
                    .at(&w.span)
                    .related(first, "first wave of that name"),
                );
            }
            match &w.target {
                Some(t) => check_target(t, repo, diags),
                None if i + 1 < r.waves.len() => diags.push(
                    Diagnostic::error(Code::RolloutWave, format!("wave `{}` has no target but is not the last wave", w.name))
                        .at(&w.span)
                        .help("a wave without a target takes every remaining cluster, so only the last wave may omit it"),
                ),
                None => {}
            }
        }
        if let Some(pt) = &r.promoted_through {
            if !r.waves.iter().any(|w| w.name == pt.name) {
                let names: Vec<String> = r.waves.iter().map(|w| w.name.clone()).collect();
                diags.push(unknown("wave", pt, &names));
            }
        }
    }
}

/// Label keys that selectors use but no cluster carries (typos).
pub(super) fn label_keys(repo: &Repo, _: &Settings, diags: &mut Diags) {
    let carried: BTreeSet<&str> = repo
        .clusters
        .iter()
        .flat_map(|c| c.labels.keys().map(String::as_str))
        .collect();
    let all_keys: Vec<String> = carried.iter().map(|s| s.to_string()).collect();
    let mut selectors: Vec<&Selector> = repo
        .groups
        .iter()
        .filter_map(|g| g.selector.as_ref())
        .collect();
    for p in &repo.placements {
        selectors.extend(p.target.selector.as_ref());
        selectors.extend(p.targets.iter().filter_map(|c| c.target.selector.as_ref()));
    }
    for s in selectors {
        for (k, span) in s.keys() {
            if !carried.contains(k) {
                let mut d = Diagnostic::warning(
                    Code::UnknownLabelKey,
                    format!("no cluster carries the label `{k}`"),
                )
                .at(span);
                if let Some(b) = did_you_mean(k, &all_keys) {
                    d = d.help(format!("did you mean `{b}`?"));
                }
                diags.push(d);
            }
        }
    }
}

/// Every cycle in a name graph, once each: (the names around it, the span of the edge that closes it).
fn find_cycles(edges: &BTreeMap<&str, Vec<&NameRef>>) -> Vec<(Vec<String>, Span)> {
    #[derive(Clone, Copy, PartialEq)]
    enum St {
        New,
        Active,
        Done,
    }
    fn visit<'a>(
        n: &'a str,
        edges: &BTreeMap<&'a str, Vec<&'a NameRef>>,
        st: &mut BTreeMap<&'a str, St>,
        stack: &mut Vec<&'a str>,
        out: &mut Vec<(Vec<String>, Span)>,
    ) {
        st.insert(n, St::Active);
        stack.push(n);
        for r in edges.get(n).into_iter().flatten() {
            let m = r.name.as_str();
            let Some((&key, _)) = edges.get_key_value(m) else {
                continue;
            };
            match st.get(key).copied().unwrap_or(St::New) {
                St::New => visit(key, edges, st, stack, out),
                St::Active => {
                    let pos = stack.iter().position(|x| *x == key).unwrap_or(0);
                    let mut names: Vec<String> =
                        stack[pos..].iter().map(|s| s.to_string()).collect();
                    names.push(key.to_string());
                    out.push((names, r.span.clone()));
                }
                St::Done => {}
            }
        }
        stack.pop();
        st.insert(n, St::Done);
    }
    let mut st: BTreeMap<&str, St> = BTreeMap::new();
    let mut out = Vec::new();
    for &n in edges.keys() {
        if st.get(n).copied().unwrap_or(St::New) == St::New {
            visit(n, edges, &mut st, &mut Vec::new(), &mut out);
        }
    }
    out
}

/// What the agents consuming the output format need from the fleet.
pub(super) fn output_format(repo: &Repo, s: &Settings, diags: &mut Diags) {
    let (format, overridden) = (s.format, s.format_overridden);
    let Some(fleet) = &repo.fleet else {
        return;
    };
    let how = if overridden {
        format!("--format {}", format.as_str())
    } else {
        format!("output.format: {}", format.as_str())
    };
    match format {
        // A Helm chart in the plain format is checked once placement is
        // known (emit::agents::check_plain_helm): one placed nowhere is never
        // rendered.
        Format::Plain => {}
        Format::Flux | Format::ArgoCd => {
            if fleet.output.repository.is_none() {
                diags.push(
                    Diagnostic::error(Code::FormatRequirement, format!(
                        "{how} needs `spec.output.repository`, the git URL agents pull the rendered branch from"
                    ))
                    .at(&fleet.output.span)
                    .help("add `repository: https://git.example.com/platform/fleet.git` (and optionally `branch`, default `rendered`) under spec.output"),
                );
            }
        }
    }
    if format == Format::ArgoCd {
        for c in &repo.clusters {
            if c.server.is_none() {
                diags.push(
                    Diagnostic::error(Code::FormatRequirement, format!(
                        "cluster `{}` has no `server`, which {how} needs",
                        c.name
                    ))
                    .at(&c.name_span)
                    .help("set `spec.server` to the cluster's API endpoint as registered in Argo CD (e.g. https://10.0.0.1:6443)"),
                );
            }
        }
        for u in &repo.units {
            if let Some(t) = u.templates.iter().find(|t| t.kind == TemplateKind::Sops) {
                diags.push(
                    Diagnostic::warning(Code::SopsInArgoCd, format!(
                        "{} is SOPS-encrypted, and Argo CD applies files as they are",
                        t.path
                    ))
                    .at(&Span::file(&Source::new(t.path.clone(), "")))
                    .help("decrypt on the hub with a config management plugin (e.g. KSOPS), or use the flux format, whose Kustomizations decrypt SOPS"),
                );
            }
        }
    }
}
