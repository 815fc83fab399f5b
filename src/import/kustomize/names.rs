//! `namePrefix` and `nameSuffix`: every object is renamed (except
//! CustomResourceDefinitions, APIServices and Namespaces), and every reference to a
//! renamed object is rewritten, in the fields where kustomize's name
//! reference transformer looks (its field specs, facts from its source:
//! pod specs' ConfigMaps, Secrets, ServiceAccounts, claims and priority
//! classes; HPA targets; role bindings; Ingress backends and TLS; and the
//! rest of the table below). One JSON 6902 patch per object that changes.

use serde_json::json;

use super::changes::{group_version, object_ops};
use super::state::Now;
use crate::import::Change;
use crate::yaml::{Node, Value};

/// Where a pod spec sits in each kind that has one.
const POD_SPECS: &[(&str, &str)] = &[
    ("Pod", "spec"),
    ("PodTemplate", "template/spec"),
    ("Deployment", "spec/template/spec"),
    ("ReplicaSet", "spec/template/spec"),
    ("DaemonSet", "spec/template/spec"),
    ("StatefulSet", "spec/template/spec"),
    ("Job", "spec/template/spec"),
    ("CronJob", "spec/jobTemplate/spec/template/spec"),
    ("ReplicationController", "spec/template/spec"),
];

/// The kinds whose pod specs kustomize looks at for ConfigMaps and Secrets.
const CONFIG_KINDS: &[&str] = &[
    "Pod",
    "PodTemplate",
    "Deployment",
    "ReplicaSet",
    "DaemonSet",
    "StatefulSet",
    "Job",
    "CronJob",
];

/// The kinds whose pod specs it looks at for ServiceAccounts, claims and
/// priority classes.
const POD_KINDS: &[&str] = &[
    "Pod",
    "StatefulSet",
    "Deployment",
    "ReplicationController",
    "CronJob",
    "Job",
    "DaemonSet",
];

/// Referenced kind → fields inside a pod spec that name it. Which kinds
/// carry which fields follows kustomize's table (e.g. `imagePullSecrets`
/// and projected sources are not looked at in ReplicationControllers).
const IN_POD_SPEC: &[(&str, &[&str], &[&str])] = &[
    (
        "ConfigMap",
        &[
            "volumes/configMap/name",
            "containers/env/valueFrom/configMapKeyRef/name",
            "initContainers/env/valueFrom/configMapKeyRef/name",
            "containers/envFrom/configMapRef/name",
            "initContainers/envFrom/configMapRef/name",
            "volumes/projected/sources/configMap/name",
        ],
        CONFIG_KINDS,
    ),
    (
        "Secret",
        &[
            "volumes/secret/secretName",
            "containers/env/valueFrom/secretKeyRef/name",
            "initContainers/env/valueFrom/secretKeyRef/name",
            "containers/envFrom/secretRef/name",
            "initContainers/envFrom/secretRef/name",
            "imagePullSecrets/name",
            "volumes/projected/sources/secret/name",
        ],
        CONFIG_KINDS,
    ),
    ("ServiceAccount", &["serviceAccountName"], POD_KINDS),
    (
        "PersistentVolumeClaim",
        &["volumes/persistentVolumeClaim/claimName"],
        POD_KINDS,
    ),
    ("PriorityClass", &["priorityClassName"], POD_KINDS),
];

/// Referenced kind → (referring kind, its group if it must be one, path)
/// outside pod specs.
const OTHER: &[(&str, &str, Option<&str>, &str)] = &[
    (
        "Deployment",
        "HorizontalPodAutoscaler",
        None,
        "spec/scaleTargetRef/name",
    ),
    (
        "ReplicationController",
        "HorizontalPodAutoscaler",
        None,
        "spec/scaleTargetRef/name",
    ),
    (
        "ReplicaSet",
        "HorizontalPodAutoscaler",
        None,
        "spec/scaleTargetRef/name",
    ),
    (
        "StatefulSet",
        "HorizontalPodAutoscaler",
        None,
        "spec/scaleTargetRef/name",
    ),
    ("ConfigMap", "Node", None, "spec/configSource/configMap"),
    ("ConfigMap", "Role", None, "rules/resourceNames"),
    ("ConfigMap", "ClusterRole", None, "rules/resourceNames"),
    (
        "ConfigMap",
        "Ingress",
        None,
        "metadata/annotations/nginx.ingress.kubernetes.io~1fastcgi-params-configmap",
    ),
    ("Secret", "Ingress", None, "spec/tls/secretName"),
    (
        "Secret",
        "Ingress",
        None,
        "metadata/annotations/ingress.kubernetes.io~1auth-secret",
    ),
    (
        "Secret",
        "Ingress",
        None,
        "metadata/annotations/nginx.ingress.kubernetes.io~1auth-secret",
    ),
    (
        "Secret",
        "Ingress",
        None,
        "metadata/annotations/nginx.ingress.kubernetes.io~1auth-tls-secret",
    ),
    ("Secret", "ServiceAccount", None, "imagePullSecrets/name"),
    ("Secret", "StorageClass", None, "parameters/secretName"),
    ("Secret", "StorageClass", None, "parameters/adminSecretName"),
    ("Secret", "StorageClass", None, "parameters/userSecretName"),
    ("Secret", "StorageClass", None, "parameters/secretRef"),
    ("Secret", "Role", None, "rules/resourceNames"),
    ("Secret", "ClusterRole", None, "rules/resourceNames"),
    (
        "Secret",
        "Service",
        Some("serving.knative.dev"),
        "spec/template/spec/containers/env/valueFrom/secretKeyRef/name",
    ),
    (
        "Secret",
        "PersistentVolume",
        None,
        "spec/azureFile/secretName",
    ),
    ("Service", "StatefulSet", Some("apps"), "spec/serviceName"),
    (
        "Service",
        "Ingress",
        None,
        "spec/rules/http/paths/backend/serviceName",
    ),
    ("Service", "Ingress", None, "spec/backend/serviceName"),
    (
        "Service",
        "Ingress",
        None,
        "spec/rules/http/paths/backend/service/name",
    ),
    (
        "Service",
        "Ingress",
        None,
        "spec/defaultBackend/service/name",
    ),
    (
        "Service",
        "APIService",
        Some("apiregistration.k8s.io"),
        "spec/service/name",
    ),
    (
        "Service",
        "ValidatingWebhookConfiguration",
        Some("admissionregistration.k8s.io"),
        "webhooks/clientConfig/service",
    ),
    (
        "Service",
        "MutatingWebhookConfiguration",
        Some("admissionregistration.k8s.io"),
        "webhooks/clientConfig/service",
    ),
    ("Service", "HTTPRoute", None, "spec/rules/backendRefs/name"),
    (
        "Role",
        "RoleBinding",
        Some("rbac.authorization.k8s.io"),
        "roleRef/name",
    ),
    (
        "ClusterRole",
        "RoleBinding",
        Some("rbac.authorization.k8s.io"),
        "roleRef/name",
    ),
    (
        "ClusterRole",
        "ClusterRoleBinding",
        Some("rbac.authorization.k8s.io"),
        "roleRef/name",
    ),
    (
        "ServiceAccount",
        "RoleBinding",
        Some("rbac.authorization.k8s.io"),
        "subjects",
    ),
    (
        "ServiceAccount",
        "ClusterRoleBinding",
        Some("rbac.authorization.k8s.io"),
        "subjects",
    ),
    (
        "PersistentVolume",
        "PersistentVolumeClaim",
        None,
        "spec/volumeName",
    ),
    (
        "PersistentVolume",
        "ClusterRole",
        None,
        "rules/resourceNames",
    ),
    (
        "StorageClass",
        "PersistentVolume",
        None,
        "spec/storageClassName",
    ),
    (
        "StorageClass",
        "PersistentVolumeClaim",
        None,
        "spec/storageClassName",
    ),
    (
        "StorageClass",
        "StatefulSet",
        None,
        "spec/volumeClaimTemplates/spec/storageClassName",
    ),
    ("IngressClass", "Ingress", None, "spec/ingressClassName"),
];

/// One renamed object: its kind, old and new name, and namespace.
pub(super) struct Renamed {
    kind: String,
    old: String,
    new: String,
    namespace: Option<String>,
}

impl Renamed {
    /// (kind, old name, new name).
    pub fn pair(&self) -> (String, String, String) {
        (self.kind.clone(), self.old.clone(), self.new.clone())
    }
}

/// Whether kustomize renames objects of this kind.
fn renamed_kind(api_version: &str, kind: &str) -> bool {
    let (group, _) = group_version(api_version);
    // kubectl's kustomize (v5.5) leaves Namespaces too, checked by the tests.
    !matches!(
        (group.as_str(), kind),
        ("apiextensions.k8s.io", "CustomResourceDefinition")
            | ("apiregistration.k8s.io", "APIService")
            | ("", "Namespace")
    )
}

/// A generated object: its generator's name and its own (with the hash);
/// `is_final` when the overlay's prefix and suffix are already in it.
pub(super) struct GeneratedName {
    pub kind: &'static str,
    pub name: String,
    pub hashed: String,
    pub is_final: bool,
}

/// The objects of every component, as the changes so far leave them, that
/// `prefix`/`suffix` rename. A generated object keeps its hash last, as
/// kustomize names it (`<prefix><name><suffix>-<hash>`).
pub(super) fn renamed(
    all: &[(usize, Vec<Now>)],
    prefix: &str,
    suffix: &str,
    generated: &[GeneratedName],
) -> Vec<Renamed> {
    let mut out = Vec::new();
    for (_, objects) in all {
        for n in objects.iter().filter(|n| n.doc.is_some()) {
            if !renamed_kind(&n.id.api_version, &n.id.kind) {
                continue;
            }
            let g = generated
                .iter()
                .find(|g| g.kind == n.id.kind && g.hashed == n.id.name);
            let new = match g {
                Some(g) if g.is_final => continue,
                Some(g) => {
                    let hash = g.hashed.strip_prefix(g.name.as_str()).unwrap_or_default();
                    format!("{prefix}{}{suffix}{hash}", g.name)
                }
                None => format!("{prefix}{}{suffix}", n.id.name),
            };
            out.push(Renamed {
                kind: n.id.kind.clone(),
                old: n.id.name.clone(),
                new,
                namespace: n.id.namespace.clone(),
            });
        }
    }
    out
}

/// Per component, the changes: each object renamed, and each reference
/// to a renamed object rewritten.
pub(super) fn changes(all: &[(usize, Vec<Now>)], renamed: &[Renamed]) -> Vec<(usize, Change)> {
    let mut out = Vec::new();
    for (c, objects) in all {
        for n in objects {
            let Some(doc) = &n.doc else { continue };
            let mut ops = Vec::new();
            if renamed_kind(&n.id.api_version, &n.id.kind) {
                if let Some(r) = renamed.iter().find(|r| {
                    r.kind == n.id.kind && r.old == n.id.name && r.namespace == n.id.namespace
                }) {
                    ops.push(json!({ "op": "replace", "path": "/metadata/name", "value": r.new }));
                }
            }
            reference_ops(&n.id, doc, renamed, &mut ops);
            if !ops.is_empty() {
                // Targeted by the name the object has before this change.
                out.push((
                    *c,
                    object_ops("names", &n.id.api_version, &n.id.kind, &n.id.name, &ops),
                ));
            }
        }
    }
    out
}

/// The paths in object `id` that may name an object of `kind`.
fn paths_for(id: &crate::import::ObjectId, kind: &str) -> Vec<String> {
    let (group, _) = group_version(&id.api_version);
    let mut paths = Vec::new();
    for (referenced, fields, kinds) in IN_POD_SPEC {
        if *referenced == kind && kinds.contains(&id.kind.as_str()) {
            if let Some((_, at)) = POD_SPECS.iter().find(|(k, _)| *k == id.kind) {
                paths.extend(fields.iter().map(|f| format!("{at}/{f}")));
            }
        }
    }
    for (referenced, referrer, g, path) in OTHER {
        if *referenced == kind && *referrer == id.kind && g.is_none_or(|g| g == group) {
            paths.push(path.to_string());
        }
    }
    paths
}

fn reference_ops(
    id: &crate::import::ObjectId,
    doc: &Node,
    renamed: &[Renamed],
    ops: &mut Vec<serde_json::Value>,
) {
    for r in renamed {
        // A namespaced referral names an object of its own namespace.
        let same_ns = r.namespace.is_none() || r.namespace == id.namespace;
        for path in paths_for(id, &r.kind) {
            let segs: Vec<&str> = path.split('/').collect();
            walk(doc, &segs, String::new(), r, same_ns, ops);
        }
    }
}

fn walk(
    n: &Node,
    segs: &[&str],
    at: String,
    r: &Renamed,
    same_ns: bool,
    ops: &mut Vec<serde_json::Value>,
) {
    match (&n.v, segs.split_first()) {
        (Value::Seq(items), _) => {
            for (i, item) in items.iter().enumerate() {
                walk(item, segs, format!("{at}/{i}"), r, same_ns, ops);
            }
        }
        (Value::Map(_), Some((first, rest))) => {
            let key = first.replace("~1", "/");
            if let Some(child) = n.get(&key) {
                walk(child, rest, format!("{at}/{first}"), r, same_ns, ops);
            }
        }
        // The field itself: a name, or a reference map (subjects, a
        // webhook's service, a node's config source) with its own namespace.
        (Value::Str(s), None) if *s == r.old && same_ns => {
            ops.push(json!({ "op": "replace", "path": at, "value": r.new }));
        }
        (Value::Map(_), None) => {
            let named = n.get("name").and_then(Node::as_str) == Some(r.old.as_str());
            let kind_ok = n
                .get("kind")
                .and_then(Node::as_str)
                .is_none_or(|k| k == r.kind);
            let ns_ok = match n.get("namespace").and_then(Node::as_str) {
                Some(ns) => r.namespace.as_deref().is_none_or(|want| want == ns),
                None => same_ns,
            };
            if named && kind_ok && ns_ok {
                ops.push(json!({ "op": "replace", "path": format!("{at}/name"), "value": r.new }));
            }
        }
        _ => {}
    }
}
