//! Values that no template reads. Without a `valuesSchema`, a value set
//! under a misspelt name (`replicsa: 3`) is silently ignored: the
//! template reads the default. The templates of a unit say, before any
//! rendering, which `values.*` paths they read (minijinja's analysis of
//! undeclared variables); a value set outside all of them is a warning at
//! the place that sets it.

use std::collections::BTreeSet;

use crate::diag::{Code, Diagnostic, Diags};
use crate::load::model::Unit;
use crate::memo::Memo;
use crate::yaml::Node;

/// Names that, after a dot, are a method call, not a key: reading
/// `values.env.items()` reads all of `values.env`.
const METHODS: &[&str] = &["get", "items", "keys", "values"];

/// What the templates of one unit read of `values`, and the warnings
/// made so far (the same value unread on many clusters is one warning).
pub struct ValueReads {
    /// Paths read (`a.b`): each reads everything below it.
    reads: BTreeSet<String>,
    /// Proper ancestors of the paths read: a leaf here is read in part.
    above: std::collections::HashSet<String>,
    /// Everything is read (a bare or dynamic `values`).
    all: bool,
    made: Memo<(String, String, u32), Diagnostic>,
}

/// What the templates `names` of `env` read of `values`.
pub fn reads<'a>(
    env: &minijinja::Environment<'static>,
    names: impl Iterator<Item = &'a String>,
) -> ValueReads {
    let mut reads = BTreeSet::new();
    for name in names {
        let Some(vars) = super::template::undeclared(env, name) else {
            // A template that does not compile is reported when rendered;
            // until it does, any value may be meant for it.
            reads.insert(String::new());
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
            reads.insert(kept.join("."));
        }
    }
    let mut above = std::collections::HashSet::new();
    for r in &reads {
        for (i, _) in r.match_indices('.') {
            above.insert(r[..i].to_string());
        }
    }
    ValueReads {
        all: reads.contains(""),
        reads,
        above,
        made: Memo::bounded(100_000),
    }
}

impl ValueReads {
    fn read(&self, leaf: &str) -> bool {
        self.above.contains(leaf)
            || self.reads.contains(leaf)
            || leaf
                .match_indices('.')
                .any(|(i, _)| self.reads.contains(&leaf[..i]))
    }
}

/// Warn of each leaf of `values` (a unit's merged values on `cluster`)
/// that no path the templates read reaches.
pub fn check(values: &Node, r: &ValueReads, u: &Unit, cluster: &str, d: &mut Diags) {
    if r.all {
        return;
    }
    let leaves = crate::resolve::merge::leaves(values, "");
    for (path, node) in leaves.into_iter().filter(|(p, _)| !p.is_empty()) {
        // The unit's own defaults declare what it takes; the layers over
        // them are where a misspelt name hides.
        if node.span.path() == u.file || r.read(&path) {
            continue;
        }
        let key = (path, node.span.path().to_string(), node.span.start);
        let made = r.made.get_or(&key, || diagnostic(&key.0, node, r, u));
        d.push(made.on_cluster(cluster));
    }
}

fn diagnostic(path: &str, node: &Node, r: &ValueReads, u: &Unit) -> Diagnostic {
    let candidates: Vec<String> = r.reads.iter().cloned().collect();
    let hint = crate::suggest::did_you_mean(path, &candidates)
        .map(|s| format!("did you mean `values.{}.{s}`? ", u.name))
        .unwrap_or_default();
    let kind = if u.policy.is_some() {
        "policy"
    } else {
        "component"
    };
    Diagnostic::warning(
        Code::ValueUnread,
        format!(
            "`values.{}.{path}` is set, but no template of {kind} `{}` reads it",
            u.name, u.name
        ),
    )
    .at(&node.span)
    .help(format!(
        "{hint}a misspelt value is ignored and the template uses its default; give the {kind} a `valuesSchema` to have its values checked, or remove the value"
    ))
}
