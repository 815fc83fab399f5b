//! The objects of a component as an overlay's changes so far leave them:
//! the base's documents with each change applied by fleetc's own patch
//! engine (`render::patch`, the one the rendered fleet will use). What an
//! overlay generates later (labels, images) is computed from this state,
//! so a change that follows a patch sees what the patch made, as in
//! kustomize.

use serde_json::json;

use super::changes::group_version;
use crate::diag::Source;
use crate::import::{Change, ObjectId};
use crate::render::patch;
use crate::yaml::{parse_documents, Budget, Node, Value};

/// One object now: its identity (name and namespace as they now are) and
/// its document; None once a patch deleted it.
pub(super) struct Now {
    pub id: ObjectId,
    pub doc: Option<Node>,
}

fn str_at<'n>(n: &'n Node, path: &[&str]) -> Option<&'n str> {
    n.get_path(path).and_then(Node::as_str)
}

/// Apply `changes` in order to `objects` (each with its document).
/// `default_ns`: the component's namespace, which objects without one take.
pub(super) fn apply(
    objects: &[ObjectId],
    docs: &[Node],
    default_ns: Option<&str>,
    changes: &[Change],
) -> Vec<Now> {
    let mut now: Vec<Now> = objects
        .iter()
        .zip(docs)
        .map(|(o, d)| Now {
            id: o.clone(),
            doc: Some(d.clone()),
        })
        .collect();
    let budget = Budget::default();
    for ch in changes {
        let src = Source::new(
            ch.file_name.as_str(),
            String::from_utf8_lossy(&ch.bytes).into_owned(),
        );
        let Ok(patches) = parse_documents(&src, &budget) else {
            continue;
        };
        for p in patches.iter().filter(|p| !p.is_null()) {
            for n in now.iter_mut() {
                if n.doc.is_none() {
                    continue;
                }
                let hit = match &ch.target {
                    Some(t) => super::changes::matches(&n.id, t, None),
                    None => named(&n.id, default_ns, p),
                };
                if hit {
                    apply_one(n, p);
                }
            }
        }
    }
    now
}

fn named(o: &ObjectId, default_ns: Option<&str>, p: &Node) -> bool {
    let ns = o.namespace.as_deref().or(default_ns);
    str_at(p, &["apiVersion"]) == Some(o.api_version.as_str())
        && str_at(p, &["kind"]) == Some(o.kind.as_str())
        && str_at(p, &["metadata", "name"]) == Some(o.name.as_str())
        && str_at(p, &["metadata", "namespace"]).is_none_or(|want| Some(want) == ns)
}

fn apply_one(n: &mut Now, p: &Node) {
    let Some(doc) = n.doc.as_mut() else { return };
    let (group, _) = group_version(&n.id.api_version);
    match &p.v {
        Value::Seq(ops) => {
            let _ = patch::json_patch(doc, ops);
        }
        _ if patch::deletes(p) => {
            n.doc = None;
            return;
        }
        _ if patch::is_builtin(&group) => {
            let _ = patch::strategic(doc, p, &group, &n.id.kind);
        }
        _ => patch::merge_patch(doc, p),
    }
    if let Some(name) = str_at(doc, &["metadata", "name"]) {
        n.id.name = name.to_string();
    }
    if let Some(ns) = str_at(doc, &["metadata", "namespace"]) {
        n.id.namespace = Some(ns.to_string());
    }
}

/// A field kustomize's label transformer writes labels into: the kinds it
/// applies to (group, version, kind; None: any) and the path (`[]` or a
/// list met on the way: every item), created where missing when `create`.
pub(super) struct Spec {
    group: Option<&'static str>,
    version: Option<&'static str>,
    kind: Option<&'static str>,
    path: &'static str,
    create: bool,
}

const fn spec(
    group: Option<&'static str>,
    version: Option<&'static str>,
    kind: Option<&'static str>,
    path: &'static str,
    create: bool,
) -> Spec {
    Spec {
        group,
        version,
        kind,
        path,
        create,
    }
}

/// Metadata and pod-template labels (kustomize's metadata label field
/// specs, facts from its documentation and source).
pub(super) const METADATA: &[Spec] = &[
    spec(None, None, None, "metadata/labels", true),
    spec(
        None,
        Some("v1"),
        Some("ReplicationController"),
        "spec/template/metadata/labels",
        true,
    ),
    spec(
        None,
        None,
        Some("Deployment"),
        "spec/template/metadata/labels",
        true,
    ),
    spec(
        None,
        None,
        Some("ReplicaSet"),
        "spec/template/metadata/labels",
        true,
    ),
    spec(
        None,
        None,
        Some("DaemonSet"),
        "spec/template/metadata/labels",
        true,
    ),
    spec(
        Some("apps"),
        None,
        Some("StatefulSet"),
        "spec/template/metadata/labels",
        true,
    ),
    spec(
        Some("apps"),
        None,
        Some("StatefulSet"),
        "spec/volumeClaimTemplates[]/metadata/labels",
        true,
    ),
    spec(
        Some("batch"),
        None,
        Some("Job"),
        "spec/template/metadata/labels",
        true,
    ),
    spec(
        Some("batch"),
        None,
        Some("CronJob"),
        "spec/jobTemplate/metadata/labels",
        true,
    ),
    spec(
        Some("batch"),
        None,
        Some("CronJob"),
        "spec/jobTemplate/spec/template/metadata/labels",
        true,
    ),
];

/// Metadata labels alone (`labels` without `includeTemplates`).
pub(super) const METADATA_ONLY: &[Spec] = &[spec(None, None, None, "metadata/labels", true)];

const AFFINITY: [&str; 5] = [
    "spec/template/spec/affinity/podAffinity/preferredDuringSchedulingIgnoredDuringExecution/podAffinityTerm/labelSelector/matchLabels",
    "spec/template/spec/affinity/podAffinity/requiredDuringSchedulingIgnoredDuringExecution/labelSelector/matchLabels",
    "spec/template/spec/affinity/podAntiAffinity/preferredDuringSchedulingIgnoredDuringExecution/podAffinityTerm/labelSelector/matchLabels",
    "spec/template/spec/affinity/podAntiAffinity/requiredDuringSchedulingIgnoredDuringExecution/labelSelector/matchLabels",
    "spec/template/spec/topologySpreadConstraints/labelSelector/matchLabels",
];

/// Selectors, besides [`METADATA`], for `commonLabels` and `labels` with
/// `includeSelectors` (kustomize's common label field specs).
pub(super) const SELECTORS: &[Spec] = &[
    spec(None, Some("v1"), Some("Service"), "spec/selector", true),
    spec(
        None,
        Some("v1"),
        Some("ReplicationController"),
        "spec/selector",
        true,
    ),
    spec(
        None,
        None,
        Some("Deployment"),
        "spec/selector/matchLabels",
        true,
    ),
    spec(Some("apps"), None, Some("Deployment"), AFFINITY[0], false),
    spec(Some("apps"), None, Some("Deployment"), AFFINITY[1], false),
    spec(Some("apps"), None, Some("Deployment"), AFFINITY[2], false),
    spec(Some("apps"), None, Some("Deployment"), AFFINITY[3], false),
    spec(Some("apps"), None, Some("Deployment"), AFFINITY[4], false),
    spec(
        None,
        None,
        Some("ReplicaSet"),
        "spec/selector/matchLabels",
        true,
    ),
    spec(
        None,
        None,
        Some("DaemonSet"),
        "spec/selector/matchLabels",
        true,
    ),
    spec(
        Some("apps"),
        None,
        Some("StatefulSet"),
        "spec/selector/matchLabels",
        true,
    ),
    spec(Some("apps"), None, Some("StatefulSet"), AFFINITY[0], false),
    spec(Some("apps"), None, Some("StatefulSet"), AFFINITY[1], false),
    spec(Some("apps"), None, Some("StatefulSet"), AFFINITY[2], false),
    spec(Some("apps"), None, Some("StatefulSet"), AFFINITY[3], false),
    spec(Some("apps"), None, Some("StatefulSet"), AFFINITY[4], false),
    spec(
        Some("batch"),
        None,
        Some("Job"),
        "spec/selector/matchLabels",
        false,
    ),
    spec(
        Some("batch"),
        None,
        Some("CronJob"),
        "spec/jobTemplate/spec/selector/matchLabels",
        false,
    ),
    spec(
        Some("policy"),
        None,
        Some("PodDisruptionBudget"),
        "spec/selector/matchLabels",
        false,
    ),
    spec(
        Some("networking.k8s.io"),
        None,
        Some("NetworkPolicy"),
        "spec/podSelector/matchLabels",
        false,
    ),
    spec(
        Some("networking.k8s.io"),
        None,
        Some("NetworkPolicy"),
        "spec/ingress/from/podSelector/matchLabels",
        false,
    ),
    spec(
        Some("networking.k8s.io"),
        None,
        Some("NetworkPolicy"),
        "spec/egress/to/podSelector/matchLabels",
        false,
    ),
];

fn escape(s: &str) -> String {
    s.replace('~', "~0").replace('/', "~1")
}

/// JSON 6902 operations that set `pairs` in every field of `specs` that
/// applies to object `id` (document `doc`).
pub(super) fn label_ops(
    id: &ObjectId,
    doc: &Node,
    specs: &[&[Spec]],
    pairs: &serde_json::Map<String, serde_json::Value>,
) -> Vec<serde_json::Value> {
    let (group, version) = group_version(&id.api_version);
    let mut ops = Vec::new();
    for s in specs.iter().flat_map(|s| s.iter()) {
        let applies = s.group.is_none_or(|g| g == group)
            && s.version.is_none_or(|v| v == version)
            && s.kind.is_none_or(|k| k == id.kind);
        if applies {
            let segs: Vec<&str> = s.path.split('/').collect();
            walk(doc, &segs, String::new(), s.create, pairs, &mut ops);
        }
    }
    ops
}

fn walk(
    n: &Node,
    segs: &[&str],
    at: String,
    create: bool,
    pairs: &serde_json::Map<String, serde_json::Value>,
    ops: &mut Vec<serde_json::Value>,
) {
    if let Value::Seq(items) = &n.v {
        for (i, item) in items.iter().enumerate() {
            walk(item, segs, format!("{at}/{i}"), create, pairs, ops);
        }
        return;
    }
    let Some((first, rest)) = segs.split_first() else {
        // The labels map itself: each pair set in it.
        for (k, v) in pairs {
            ops.push(json!({ "op": "add", "path": format!("{at}/{}", escape(k)), "value": v }));
        }
        return;
    };
    let key = first.trim_end_matches("[]");
    match n.get(key) {
        Some(child) if !child.is_null() => walk(
            child,
            rest,
            format!("{at}/{}", escape(key)),
            create,
            pairs,
            ops,
        ),
        _ if create && n.as_map().is_some() && !rest.iter().any(|s| s.ends_with("[]")) => {
            // Create what is missing, down to the labels.
            let value = rest
                .iter()
                .rev()
                .fold(json!(pairs), |acc, k| json!({ *k: acc }));
            ops.push(
                json!({ "op": "add", "path": format!("{at}/{}", escape(key)), "value": value }),
            );
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diag::Source;

    fn doc(text: &str) -> Node {
        parse_documents(&Source::new("t.yaml", text), &Budget::default())
            .expect("yaml")
            .remove(0)
    }

    fn id(api_version: &str, kind: &str) -> ObjectId {
        ObjectId {
            api_version: api_version.into(),
            kind: kind.into(),
            name: "x".into(),
            namespace: None,
        }
    }

    fn paths(ops: &[serde_json::Value]) -> Vec<&str> {
        ops.iter().filter_map(|o| o["path"].as_str()).collect()
    }

    /// Labels go where the field specs say: created where `create`, through
    /// every item of a list, and never into a field a kind does not have.
    #[test]
    fn labels_follow_the_field_specs() {
        let pairs: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(r#"{"app.kubernetes.io/part-of": "shop"}"#).expect("json");
        let svc = doc("apiVersion: v1\nkind: Service\nmetadata: {name: x}\nspec: {ports: []}\n");
        let ops = label_ops(&id("v1", "Service"), &svc, &[METADATA, SELECTORS], &pairs);
        assert_eq!(
            paths(&ops),
            ["/metadata/labels", "/spec/selector"],
            "{ops:?}"
        );
        assert_eq!(ops[1]["value"]["app.kubernetes.io/part-of"], "shop");
        let np = doc("apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: x, labels: {a: b}}\nspec:\n  podSelector: {}\n  ingress:\n    - from:\n        - podSelector: {matchLabels: {a: b}}\n        - namespaceSelector: {}\n");
        let ops = label_ops(
            &id("networking.k8s.io/v1", "NetworkPolicy"),
            &np,
            &[METADATA, SELECTORS],
            &pairs,
        );
        assert_eq!(
            paths(&ops),
            [
                "/metadata/labels/app.kubernetes.io~1part-of",
                "/spec/ingress/0/from/0/podSelector/matchLabels/app.kubernetes.io~1part-of",
            ],
            "matchLabels is not created where `create` is false: {ops:?}"
        );
    }
}
