//! Two targets of one placement that set the same value, or patch the
//! same field of the same object, on one cluster.
//! Every matching target applies, in order, so the later one wins; tools
//! that apply only the first match (Rancher Fleet's targetCustomizations)
//! mean the opposite, and a catch-all target listed last silently
//! overrides the specific ones above it. Such a pair is a warning unless
//! the later target names the earlier in `overrides`.

use crate::diag::{Code, Diagnostic, Diags, Span};
use crate::load::model::{Customization, PatchBody, PatchTarget, Placement};
use crate::yaml::{Node, Value};

/// Warn, for cluster `cluster`, of each value that two of the `applied`
/// targets (indices into `p.targets`, in order) set differently.
pub fn warn(p: &Placement, applied: &[usize], unit: &str, cluster: &str, diags: &mut Diags) {
    if applied.len() < 2 {
        return;
    }
    for (k, &later) in applied.iter().enumerate() {
        let t = &p.targets[later];
        let leaves = t
            .values
            .as_ref()
            .map(|v| super::merge::leaves(v, &format!("values.{unit}")))
            .unwrap_or_default();
        for &earlier in &applied[..k] {
            let e = &p.targets[earlier];
            if t.overrides.iter().any(|o| Some(&o.name) == e.name.as_ref()) {
                continue;
            }
            patches(p, (e, t), cluster, diags);
            let Some(old) = &e.values else { continue };
            for (path, node) in &leaves {
                let Some(was) = at(old, &path[format!("values.{unit}").len()..]) else {
                    continue;
                };
                if was.to_json() == node.to_json() {
                    continue;
                }
                let what = format!("`{path}`");
                diags.push(
                    diagnostic(p, (e, &was.span), (t, &node.span), &what).on_cluster(cluster),
                );
            }
        }
    }
}

/// Merge patches of two targets that set the same field of the same
/// object differently (fields under maps; lists, which strategic merge
/// combines by key, and directives are left out).
fn patches(p: &Placement, (e, t): (&Customization, &Customization), cluster: &str, d: &mut Diags) {
    for later in &t.patches {
        let PatchBody::Merge(now) = &later.body else {
            continue;
        };
        let mut leaves = Vec::new();
        fields(now, "", &mut leaves);
        for earlier in &e.patches {
            let PatchBody::Merge(was) = &earlier.body else {
                continue;
            };
            let Some(object) = same_object(&earlier.target, &later.target) else {
                continue;
            };
            for (path, node) in &leaves {
                let Some(old) = at(was, path) else { continue };
                if matches!(old.v, Value::Seq(_)) || old.to_json() == node.to_json() {
                    continue;
                }
                let what = format!("`{}` of {object}", path.trim_start_matches('.'));
                d.push(diagnostic(p, (e, &old.span), (t, &node.span), &what).on_cluster(cluster));
            }
        }
    }
}

/// The object both patch targets name (`Kind name`), when they name the
/// same one by kind and name.
fn same_object(a: &PatchTarget, b: &PatchTarget) -> Option<String> {
    let same = |x: &Option<String>, y: &Option<String>| x.is_none() || y.is_none() || x == y;
    match (&a.kind, &a.name, &b.kind, &b.name) {
        (Some(k1), Some(n1), Some(k2), Some(n2))
            if k1 == k2
                && n1 == n2
                && same(&a.group, &b.group)
                && same(&a.namespace, &b.namespace) =>
        {
            Some(format!("{k1} `{n1}`"))
        }
        _ => None,
    }
}

/// The scalar fields a merge patch sets, through maps only.
fn fields<'a>(n: &'a Node, path: &str, out: &mut Vec<(String, &'a Node)>) {
    match &n.v {
        Value::Map(m) => {
            for (k, v) in m.iter().filter(|(k, _)| !k.name.starts_with('$')) {
                fields(v, &format!("{path}.{}", k.name), out);
            }
        }
        Value::Seq(_) => {}
        _ => out.push((path.to_string(), n)),
    }
}

fn name(t: &Customization) -> String {
    t.name.clone().unwrap_or_else(|| "(unnamed)".into())
}

fn diagnostic(
    p: &Placement,
    (earlier, was): (&Customization, &Span),
    (later, now): (&Customization, &Span),
    what: &str,
) -> Diagnostic {
    Diagnostic::warning(
        Code::TargetOverride,
        format!(
            "targets `{}` and `{}` of placement `{}` both set {what} on this cluster: the later, `{}`, wins",
            name(earlier),
            name(later),
            p.name,
            name(later)
        ),
    )
    .at(now)
    .related(was, "overridden here")
    .help(format!(
        "every matching target applies, in order (not only the first, as in Rancher Fleet). If `{}` should win, add `overrides: [{}]` to it; if `{}` should, move it after `{}` or exclude its clusters from `{}`'s target",
        name(later),
        name(earlier),
        name(earlier),
        name(later),
        name(later)
    ))
}

/// The node at `rest` (`.a.b`) below `n`, if `n` has one there.
fn at<'a>(n: &'a Node, rest: &str) -> Option<&'a Node> {
    let mut here = n;
    for key in rest.split('.').filter(|k| !k.is_empty()) {
        here = here.as_map()?.get(key)?;
    }
    // A map there is merged into, not replaced: only a leaf is a conflict.
    match &here.v {
        Value::Map(m) if !m.is_empty() => None,
        _ => Some(here),
    }
}
