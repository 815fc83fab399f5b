//! Namespaces that exist: a component's `namespace` is created on each
//! cluster it lands on (a `Namespace` object in its tree) unless a unit
//! there renders it, it exists already, or the component opts out; and
//! every namespaced object must land in a namespace the cluster will have.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::json;

use crate::diag::{Code, Diagnostic, Diags};
use crate::load::model::{Format, Repo};
use crate::yaml::Node;

use super::{is_cluster_scoped, RenderedCluster, Resource};

/// Namespaces every Kubernetes cluster has.
pub const BUILT_IN: &[&str] = &["default", "kube-node-lease", "kube-public", "kube-system"];

/// Namespaces a cluster has without fleetc: Kubernetes' own, the agent's
/// (`flux-system` in the flux format, made by `flux bootstrap`), and what
/// the fleet and the cluster declare in `existingNamespaces`.
pub fn existing(repo: &Repo, cluster: &str, format: Format) -> BTreeSet<String> {
    let mut out: BTreeSet<String> = BUILT_IN.iter().map(|s| s.to_string()).collect();
    if format == Format::Flux {
        out.insert(super::helm::FLUX_NAMESPACE.to_string());
    }
    if let Some(f) = &repo.fleet {
        out.extend(f.existing_namespaces.iter().cloned());
    }
    if let Some(c) = repo.cluster(cluster) {
        out.extend(c.existing_namespaces.iter().cloned());
    }
    out
}

/// The Namespaces rendered on a cluster.
fn rendered(rc: &RenderedCluster) -> BTreeSet<String> {
    rc.units
        .iter()
        .flat_map(|u| &u.resources)
        .filter(|r| r.kind == "Namespace" && r.group.is_empty())
        .map(|r| r.name.clone())
        .collect()
}

/// Add a `Namespace` for each unit's `namespace` that nothing else creates
/// on this cluster, to the first unit (by name) that needs it. A Helm
/// chart's namespace is created by its agent (`createNamespace`).
pub(super) fn create(repo: &Repo, rc: &mut RenderedCluster, format: Format) {
    let mut have = rendered(rc);
    have.extend(existing(repo, &rc.name, format));
    for ru in &mut rc.units {
        let u = &repo.units[ru.unit];
        let Some(ns) = &u.namespace else { continue };
        if u.helm.is_some() || !u.create_namespace || have.contains(ns) {
            continue;
        }
        have.insert(ns.clone());
        let span = u
            .namespace_span
            .clone()
            .unwrap_or_else(|| u.name_span.clone());
        let mut metadata = json!({ "name": ns });
        let map = |pairs: &[(String, String)]| {
            serde_json::Value::Object(pairs.iter().map(|(k, v)| (k.clone(), json!(v))).collect())
        };
        if !u.namespace_labels.is_empty() {
            metadata["labels"] = map(&u.namespace_labels);
        }
        if !u.namespace_annotations.is_empty() {
            metadata["annotations"] = map(&u.namespace_annotations);
        }
        let object = json!({ "apiVersion": "v1", "kind": "Namespace", "metadata": metadata });
        ru.resources.push(Resource {
            node: Node::from_json(&object, &span),
            api_version: "v1".into(),
            group: String::new(),
            kind: "Namespace".into(),
            name: ns.clone(),
            namespace: None,
            source: u.file.clone(),
            path: String::new(),
        });
    }
}

/// Every namespaced object lands in a namespace the cluster will have:
/// rendered there (fleetc's own included), a Helm chart's (its agent
/// creates it), or existing.
pub(super) fn check(
    repo: &Repo,
    rc: &RenderedCluster,
    crd: &BTreeMap<(String, String), bool>,
    format: Format,
    d: &mut Diags,
) {
    let mut have = rendered(rc);
    have.extend(existing(repo, &rc.name, format));
    have.extend(
        rc.units
            .iter()
            .map(|ru| &repo.units[ru.unit])
            .filter(|u| u.helm.is_some())
            .filter_map(|u| u.namespace.clone()),
    );
    for ru in &rc.units {
        let u = &repo.units[ru.unit];
        for r in &ru.resources {
            let Some(ns) = &r.namespace else { continue };
            if have.contains(ns) || is_cluster_scoped(u, crd, &r.group, &r.kind) {
                continue;
            }
            // The template's `namespace:` key, or the component's
            // `namespace` when it was defaulted from there (fleetc inserted
            // the key then, at the object's span).
            let whole = &r.node.span;
            let at = r
                .node
                .get("metadata")
                .map(|m| m.key_span("namespace"))
                .filter(|k| (k.start, k.end) != (whole.start, whole.end))
                .or_else(|| u.namespace_span.clone())
                .unwrap_or_else(|| whole.clone());
            d.push(
                Diagnostic::error(
                    Code::NamespaceMissing,
                    format!(
                        "{} `{}` is in namespace `{ns}`, which nothing creates on this cluster",
                        r.kind, r.name
                    ),
                )
                .at(&at)
                .on_cluster(&rc.name)
                .object(r.object_ref())
                .help("render a Namespace in some unit, give the component `namespace` (fleetc then creates it), or list it in `existingNamespaces` of the cluster or the fleet if it is made outside fleetc"),
            );
        }
    }
}
