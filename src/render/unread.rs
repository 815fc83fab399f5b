//! Values that no template reads. Without a `valuesSchema`, a value set
//! under a misspelt name (`replicsa: 3`) is silently ignored: the
//! template reads the default. The templates of a unit say, before any
//! rendering, which `values.*` paths they read (minijinja's analysis of
//! undeclared variables); a value set outside all of them is a warning at
//! the place that sets it.

use std::collections::BTreeSet;

use crate::diag::{Code, Diagnostic, Diags};
use crate::load::model::Unit;
use crate::yaml::{Node, Value};

/// Names that, after a dot, are a method call, not a key: reading
/// `values.env.items()` reads all of `values.env`.
const METHODS: &[&str] = &["get", "items", "keys", "values"];

/// The `values` paths (`""` for all of them, else `a.b`) that the
/// templates `names` of `env` read.
pub fn reads<'a>(
    env: &minijinja::Environment<'static>,
    names: impl Iterator<Item = &'a String>,
) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for name in names {
        let Some(vars) = super::template::undeclared(env, name) else {
            // A template that does not compile is reported when rendered;
            // until it does, any value may be meant for it.
            out.insert(String::new());
            continue;
        };
        for v in vars {
            let Some(rest) = v.strip_prefix("values") else {
                continue;
            };
            if !(rest.is_empty() || rest.starts_with('.')) {
                continue;
            }
            let mut kept: Vec<&str> = Vec::new();
            for seg in rest.split('.').filter(|s| !s.is_empty()) {
                if METHODS.contains(&seg) {
                    break;
                }
                kept.push(seg);
            }
            out.insert(kept.join("."));
        }
    }
    out
}

/// Warn of each leaf of `values` (a unit's merged values on `cluster`)
/// that no path in `reads` reaches.
pub fn check(values: &Node, reads: &BTreeSet<String>, u: &Unit, cluster: &str, d: &mut Diags) {
    if reads.contains("") {
        return;
    }
    let mut leaves = Vec::new();
    collect(values, "", &mut leaves);
    for (path, node) in leaves {
        // The unit's own defaults declare what it takes; the layers over
        // them are where a misspelt name hides.
        if node.span.path() == u.file {
            continue;
        }
        let read = reads.iter().any(|r| {
            path == *r || path.starts_with(&format!("{r}.")) || r.starts_with(&format!("{path}."))
        });
        if read {
            continue;
        }
        let candidates: Vec<String> = reads.iter().cloned().collect();
        let hint = crate::suggest::did_you_mean(&path, &candidates)
            .map(|s| format!("did you mean `values.{}.{s}`? ", u.name))
            .unwrap_or_default();
        let kind = if u.policy.is_some() {
            "policy"
        } else {
            "component"
        };
        d.push(
            Diagnostic::warning(
                Code::ValueUnread,
                format!(
                    "`values.{}.{path}` is set, but no template of {kind} `{}` reads it",
                    u.name, u.name
                ),
            )
            .at(&node.span)
            .on_cluster(cluster)
            .help(format!(
                "{hint}a misspelt value is ignored and the template uses its default; give the {kind} a `valuesSchema` to have its values checked, or remove the value"
            )),
        );
    }
}

/// Every leaf (scalar, list, or empty map) of `n`, with its dotted path.
fn collect<'a>(n: &'a Node, path: &str, out: &mut Vec<(String, &'a Node)>) {
    match &n.v {
        Value::Map(m) if !m.is_empty() => {
            for (k, v) in m {
                let p = if path.is_empty() {
                    k.name.clone()
                } else {
                    format!("{path}.{}", k.name)
                };
                collect(v, &p, out);
            }
        }
        _ if path.is_empty() => {}
        _ => out.push((path.to_string(), n)),
    }
}
