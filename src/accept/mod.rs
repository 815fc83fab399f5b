//! accept: would each cluster's API server accept what fleetc sends it?
//!
//! Every rendered object is checked against the API of its own cluster's
//! Kubernetes minor ([`crate::kube::api`]): an apiVersion and kind that
//! version does not serve (removed, or not yet added), one a later version
//! removes (deprecated: a warning), and the object against the version's
//! OpenAPI schema, strictly, as server-side field validation does. Custom
//! resources (no schema in the built-in data) are not checked here.
//!
//! Identical objects recur on many clusters: each distinct (minor, object)
//! is checked once ([`Checker`] keeps the answers; an object's
//! `fleetc.dev/cluster` label does not count as a difference).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use sha2::{Digest, Sha256};

use crate::diag::{Code, Diagnostic, Diags, Span};
use crate::kube::api::{self, PathSeg, Served, Violation, ViolationKind};
use crate::load::model::Repo;
use crate::memo::Memo;
use crate::render::{RenderedCluster, Resource};
use crate::yaml::{Node, Value};

type Key = (u32, [u8; 32]);

/// Checks clusters against their APIs, remembering each distinct object's
/// answer. Shared by the workers that render clusters in parallel.
pub struct Checker {
    format: crate::load::model::Format,
    answers: Memo<Key, Arc<Vec<Violation>>>,
    /// Compiled CRD version schemas, by the digest of the schema.
    crd_schemas: Memo<[u8; 32], Option<Arc<CrdSchema>>>,
    /// The versions of each declared CRD (`spec.crds`), by where its
    /// document starts: declared CRDs are the same on every cluster, and
    /// a chart's CRDs are large, so each is compiled and hashed once.
    declared: Memo<(String, u32), Arc<CrdVersions>>,
    blockers: Mutex<Vec<Blocker>>,
}

/// An object that stops being served within the next two minors of its
/// cluster: what upgrading that cluster needs changed first.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Blocker {
    pub cluster: String,
    /// The minor that no longer serves it.
    pub removed_in: u32,
    pub object: crate::diag::ObjectRef,
    /// The apiVersion to use instead, when there is one.
    pub replacement: Option<String>,
    /// The template it comes from.
    pub source: String,
}

impl Checker {
    /// A checker for a fleet rendered in `format` (Flux's own kinds exist
    /// on every cluster in the flux format).
    pub fn new(format: crate::load::model::Format) -> Checker {
        Checker {
            format,
            answers: Memo::default(),
            crd_schemas: Memo::default(),
            declared: Memo::default(),
            blockers: Mutex::default(),
        }
    }

    /// What stops each cluster from upgrading by one or two minors, sorted
    /// by cluster, then minor, then object.
    pub fn blockers(&self) -> Vec<Blocker> {
        let mut b = self
            .blockers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        b.sort();
        b.dedup();
        b
    }

    /// Check every object of one rendered cluster; problems go to `d`.
    pub fn cluster(&self, repo: &Repo, rc: &RenderedCluster, d: &mut Diags) {
        let Some(cluster) = repo.cluster(&rc.name) else {
            return;
        };
        let version = &cluster.kubernetes_version;
        let minor = match api::minor_of(version) {
            Some(m) if api::versions().contains(&m) => m,
            _ => {
                let known = api::versions();
                d.push(
                    Diagnostic::warning(
                        Code::KubernetesVersionUnchecked,
                        format!(
                            "no Kubernetes API schemas for {version}: objects on this cluster are not checked against its API (fleetc knows 1.{} to 1.{})",
                            known.start(),
                            known.end()
                        ),
                    )
                    .at(&cluster.name_span)
                    .on_cluster(&rc.name),
                );
                return;
            }
        };
        let crds = self.crds_of(repo, rc);
        let kinds = defined_kinds(repo, rc, self.format);
        let warn = repo.fleet.as_ref().is_some_and(|f| f.unknown_kinds_warn);
        for ru in &rc.units {
            for r in &ru.resources {
                let served = api::served(minor, &r.api_version, &r.kind);
                if served != Served::UnknownKind {
                    self.object(minor, served, r, &rc.name, d);
                    continue;
                }
                // A custom resource: its kind must exist here; its schema,
                // where fleetc knows one.
                if !kinds.contains(&(r.group.clone(), r.kind.clone())) {
                    d.push(kind_unknown(minor, r, &rc.name, warn));
                    continue;
                }
                let schema = crds
                    .get(&(r.api_version.clone(), r.kind.clone()))
                    .cloned()
                    .or_else(|| agent_schema(&r.api_version, &r.kind));
                if let Some(schema) = schema {
                    custom_resource(&schema, minor, r, &rc.name, d);
                }
            }
        }
    }

    /// The schemas of the custom resources this cluster will have:
    /// (apiVersion, kind) → schema. From CustomResourceDefinitions rendered
    /// on it or declared (`spec.crds` of the Fleet, the cluster, a unit
    /// placed there; rendered ones win), and the constraint kinds of the
    /// Gatekeeper ConstraintTemplates rendered on it.
    fn crds_of(
        &self,
        repo: &Repo,
        rc: &RenderedCluster,
    ) -> BTreeMap<(String, String), Arc<CrdSchema>> {
        let mut out = BTreeMap::new();
        for crd in declared_crds(repo, rc) {
            let key = (crd.span.src.path.clone(), crd.span.start);
            let versions = self
                .declared
                .get_or(&key, || Arc::new(self.crd_versions(crd)));
            out.extend(versions.iter().cloned());
        }
        for r in rc.units.iter().flat_map(|u| &u.resources) {
            if crate::kube::crd_defines(&r.group, &r.kind, &r.node).is_some() {
                out.extend(self.crd_versions(&r.node));
            } else if let Some((kind, schema)) = constraint_schema(r) {
                if let Some(c) = self.compile(&schema) {
                    for v in ["v1", "v1beta1", "v1alpha1"] {
                        out.insert(
                            (format!("constraints.gatekeeper.sh/{v}"), kind.clone()),
                            c.clone(),
                        );
                    }
                }
            }
        }
        out
    }

    /// Each version's schema of one CRD: ((apiVersion, kind), schema).
    fn crd_versions(&self, crd: &Node) -> CrdVersions {
        let mut out = Vec::new();
        let Some((group, kind)) =
            crate::kube::crd_defines("apiextensions.k8s.io", "CustomResourceDefinition", crd)
        else {
            return out;
        };
        let versions = crd.get_path(&["spec", "versions"]).and_then(Node::as_seq);
        for v in versions.into_iter().flatten() {
            let name = v.get("name").and_then(Node::as_str);
            let schema = v.get_path(&["schema", "openAPIV3Schema"]);
            if let (Some(name), Some(schema)) = (name, schema) {
                if let Some(c) = self.compile(schema) {
                    out.push(((format!("{group}/{name}"), kind.to_string()), c));
                }
            }
        }
        out
    }

    /// A CRD version's schema as a validator, strict as the API server is
    /// with field validation (objects that list properties accept no others
    /// unless they preserve unknown fields); compiled once per distinct
    /// schema. None when the schema does not compile (the CRD itself is
    /// then at fault, which the API server reports when it is applied).
    fn compile(&self, schema: &Node) -> Option<Arc<CrdSchema>> {
        self.crd_schemas.get_or(&digest(schema), || {
            let mut json = schema.to_json();
            strict(&mut json);
            jsonschema::draft202012::new(&json)
                .ok()
                .map(|validator| Arc::new(CrdSchema { json, validator }))
        })
    }

    /// A built-in object (`served` says whether its cluster's minor serves it).
    fn object(&self, minor: u32, served: Served, r: &Resource, cluster: &str, d: &mut Diags) {
        if served == Served::Served {
            deprecated(minor, r, cluster, d);
            if let Some((_, last)) = api::lifecycle(&r.api_version, &r.kind) {
                if last < minor + 2 && last < *api::versions().end() {
                    self.blockers
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .push(Blocker {
                            cluster: cluster.to_string(),
                            removed_in: last + 1,
                            object: r.object_ref(),
                            replacement: api::replacement(&r.api_version, &r.kind),
                            source: r.source.clone(),
                        });
                }
            }
        }
        let violations = self.answers.get_or(&(minor, digest(&r.node)), || {
            Arc::new(api::validate(minor, &r.node.to_json()))
        });
        for v in violations.iter().filter(|v| !checked_by_render(v)) {
            d.push(diagnostic(minor, r, cluster, v));
        }
    }
}

/// Labels and annotations that are not strings are reported for every
/// object, custom resources included, while rendering (render's
/// `check_string_map`): not twice.
fn checked_by_render(v: &Violation) -> bool {
    v.kind == ViolationKind::InvalidType
        && matches!(
            v.path.as_slice(),
            [PathSeg::Field(m), PathSeg::Field(f), ..] if m == "metadata" && (f == "labels" || f == "annotations")
        )
}

/// The custom resource kinds (group, kind) a cluster has: defined by a CRD
/// or a Gatekeeper ConstraintTemplate rendered there, provided by a unit
/// placed there (`providesKinds`), declared as existing (the Fleet's and
/// the cluster's `existingKinds`), or Flux's own in the flux format.
fn defined_kinds(
    repo: &Repo,
    rc: &RenderedCluster,
    format: crate::load::model::Format,
) -> std::collections::BTreeSet<(String, String)> {
    let mut out = std::collections::BTreeSet::new();
    let declared = |list: &[String], out: &mut std::collections::BTreeSet<(String, String)>| {
        for k in list {
            if let Some((kind, group)) = k.split_once('.') {
                out.insert((group.to_string(), kind.to_string()));
            }
        }
    };
    for crd in declared_crds(repo, rc) {
        if let Some((g, k)) =
            crate::kube::crd_defines("apiextensions.k8s.io", "CustomResourceDefinition", crd)
        {
            out.insert((g.to_string(), k.to_string()));
        }
    }
    if let Some(f) = &repo.fleet {
        declared(&f.existing_kinds, &mut out);
    }
    if let Some(c) = repo.cluster(&rc.name) {
        declared(&c.existing_kinds, &mut out);
    }
    for ru in &rc.units {
        declared(&repo.units[ru.unit].provides_kinds, &mut out);
        for r in &ru.resources {
            let defined = crate::kube::crd_defines(&r.group, &r.kind, &r.node).or_else(|| {
                // A Gatekeeper ConstraintTemplate defines its constraint kind.
                (r.group == "templates.gatekeeper.sh" && r.kind == "ConstraintTemplate")
                    .then(|| r.node.get_path(&["spec", "crd", "spec", "names", "kind"]))?
                    .and_then(Node::as_str)
                    .map(|k| ("constraints.gatekeeper.sh", k))
            });
            if let Some((g, k)) = defined {
                out.insert((g.to_string(), k.to_string()));
            }
        }
    }
    if format == crate::load::model::Format::Flux {
        for r in rc.units.iter().flat_map(|u| &u.resources) {
            if r.group.ends_with(".toolkit.fluxcd.io") {
                out.insert((r.group.clone(), r.kind.clone()));
            }
        }
    }
    out
}

/// The CustomResourceDefinitions declared for a cluster: the Fleet's, its
/// own, and those of the units placed on it.
fn declared_crds<'a>(repo: &'a Repo, rc: &'a RenderedCluster) -> impl Iterator<Item = &'a Node> {
    let fleet = repo.fleet.iter().flat_map(|f| &f.crds.objects);
    let cluster = repo
        .cluster(&rc.name)
        .into_iter()
        .flat_map(|c| &c.crds.objects);
    let units = rc
        .units
        .iter()
        .flat_map(|u| &repo.units[u.unit].crds.objects);
    fleet.chain(cluster).chain(units)
}

/// The constraint kind a Gatekeeper ConstraintTemplate defines, with the
/// schema Gatekeeper gives its constraints: `spec.parameters` per the
/// template's `validation.openAPIV3Schema` (free with `legacySchema: true`
/// or no schema), `spec.match`, `spec.enforcementAction` and
/// `spec.scopedEnforcementActions`; nothing else in `spec`.
fn constraint_schema(r: &Resource) -> Option<(String, Node)> {
    if r.group != "templates.gatekeeper.sh" || r.kind != "ConstraintTemplate" {
        return None;
    }
    let crd = r.node.get_path(&["spec", "crd", "spec"])?;
    let kind = crd.get_path(&["names", "kind"])?.as_str()?.to_string();
    let legacy = crd
        .get_path(&["validation", "legacySchema"])
        .and_then(Node::as_bool)
        .unwrap_or(false);
    let free = serde_json::json!({"x-kubernetes-preserve-unknown-fields": true});
    let parameters = match crd.get_path(&["validation", "openAPIV3Schema"]) {
        Some(s) if !legacy => s.to_json(),
        _ => free.clone(),
    };
    let schema = serde_json::json!({
        "type": "object",
        "properties": {
            "apiVersion": {"type": "string"},
            "kind": {"type": "string"},
            "metadata": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
            "spec": {
                "type": "object",
                "properties": {
                    "enforcementAction": {"type": "string"},
                    "match": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
                    "parameters": parameters,
                    "scopedEnforcementActions": {"type": "array", "items": free},
                }
            },
            "status": free,
        }
    });
    Some((kind, Node::from_json(&schema, &r.node.span)))
}

/// A kind nothing defines on the cluster: its API server would refuse the
/// object (`no matches for kind`).
fn kind_unknown(minor: u32, r: &Resource, cluster: &str, warn: bool) -> Diagnostic {
    let (message, help) = if api::is_kubernetes_group(&r.group) {
        let known = api::kinds_of(&r.api_version);
        (
            format!("Kubernetes has no kind `{}` in {}", r.kind, r.api_version),
            crate::suggest::did_you_mean(&r.kind, &known)
                .map(|k| format!("did you mean `{k}`?"))
                .unwrap_or_else(|| {
                    "check the apiVersion and kind against the Kubernetes API reference".into()
                }),
        )
    } else {
        (
            format!(
                "no CustomResourceDefinition defines `{}.{}` on this cluster",
                r.kind, r.group
            ),
            "render its CRD in a unit placed here, list it in `providesKinds` of the unit that installs it (a Helm chart, an operator), or in `existingKinds` of the cluster or the fleet".to_string(),
        )
    };
    let d = if warn {
        Diagnostic::warning(Code::KindUnknown, message)
    } else {
        Diagnostic::error(Code::KindUnknown, message)
    };
    d.at(&r.node.key_span("kind"))
        .on_cluster(cluster)
        .on_kubernetes(format!("1.{minor}"))
        .object(r.object_ref())
        .help(help)
}

/// The schemas of the Flux and Argo CD objects fleetc itself emits
/// (data/crd-schemas/, generated from the npm packages
/// @kubernetes-models/flux-cd and argo-cd; see its SOURCES.md): a
/// placement patch on a HelmRelease is checked like any custom resource.
const AGENT_SCHEMAS: &[(&str, &str, &str)] = &[
    (
        "argoproj.io/v1alpha1",
        "Application",
        include_str!("../../data/crd-schemas/argoproj.io_v1alpha1_Application.json"),
    ),
    (
        "helm.toolkit.fluxcd.io/v2",
        "HelmRelease",
        include_str!("../../data/crd-schemas/helm.toolkit.fluxcd.io_v2_HelmRelease.json"),
    ),
    (
        "kustomize.toolkit.fluxcd.io/v1",
        "Kustomization",
        include_str!("../../data/crd-schemas/kustomize.toolkit.fluxcd.io_v1_Kustomization.json"),
    ),
    (
        "source.toolkit.fluxcd.io/v1",
        "GitRepository",
        include_str!("../../data/crd-schemas/source.toolkit.fluxcd.io_v1_GitRepository.json"),
    ),
    (
        "source.toolkit.fluxcd.io/v1",
        "HelmRepository",
        include_str!("../../data/crd-schemas/source.toolkit.fluxcd.io_v1_HelmRepository.json"),
    ),
    (
        "source.toolkit.fluxcd.io/v1",
        "OCIRepository",
        include_str!("../../data/crd-schemas/source.toolkit.fluxcd.io_v1_OCIRepository.json"),
    ),
];

/// The schema of each version of a CRD: ((apiVersion, kind), schema).
type CrdVersions = Vec<((String, String), Arc<CrdSchema>)>;

/// (apiVersion, kind, the compiled schema; None if it does not compile).
type AgentSchema = (&'static str, &'static str, Option<Arc<CrdSchema>>);

/// The compiled schema of an object fleetc emits for an agent.
pub fn agent_schema(api_version: &str, kind: &str) -> Option<Arc<CrdSchema>> {
    static COMPILED: std::sync::OnceLock<Vec<AgentSchema>> = std::sync::OnceLock::new();
    let all = COMPILED.get_or_init(|| {
        AGENT_SCHEMAS
            .iter()
            .map(|(a, k, text)| {
                let schema = serde_json::from_str(text).ok().and_then(|mut json| {
                    strict(&mut json);
                    let validator = jsonschema::draft202012::new(&json).ok()?;
                    Some(Arc::new(CrdSchema { json, validator }))
                });
                (*a, *k, schema)
            })
            .collect()
    });
    all.iter()
        .find(|(a, k, _)| *a == api_version && *k == kind)
        .and_then(|(_, _, s)| s.clone())
}

/// A compiled CRD version schema.
pub struct CrdSchema {
    json: serde_json::Value,
    validator: jsonschema::Validator,
}

impl CrdSchema {
    /// Strict check of `node` (named `what` in messages); the diagnostics
    /// point at its nodes' spans.
    pub fn check(&self, node: &Node, what: &str) -> Vec<Diagnostic> {
        crate::schema::check_with(&self.validator, &self.json, node, what)
    }
}

/// A CRD schema made strict ([`close_objects`]), except for the object's
/// `metadata`: a CRD may constrain `name`, but the rest of ObjectMeta is
/// the API server's own (labels, annotations, namespace are always fine).
fn strict(json: &mut serde_json::Value) {
    close_objects(json);
    if let Some(meta) = json
        .pointer_mut("/properties/metadata")
        .and_then(serde_json::Value::as_object_mut)
    {
        meta.remove("additionalProperties");
    }
}

/// Strict field validation: an object schema that lists `properties`
/// accepts no other field, unless it preserves unknown fields.
fn close_objects(s: &mut serde_json::Value) {
    match s {
        serde_json::Value::Object(m) => {
            let preserve = m
                .get("x-kubernetes-preserve-unknown-fields")
                .and_then(serde_json::Value::as_bool)
                .unwrap_or(false);
            if m.contains_key("properties") && !m.contains_key("additionalProperties") && !preserve
            {
                m.insert(
                    "additionalProperties".into(),
                    serde_json::Value::Bool(false),
                );
            }
            for v in m.values_mut() {
                close_objects(v);
            }
        }
        serde_json::Value::Array(a) => a.iter_mut().for_each(close_objects),
        _ => {}
    }
}

/// A custom resource against the schema of its version in a CRD rendered
/// on the same cluster. `metadata` is the API server's to check (the
/// schema's own `metadata` says little); `apiVersion` and `kind` chose it.
fn custom_resource(schema: &CrdSchema, minor: u32, r: &Resource, cluster: &str, d: &mut Diags) {
    let what = format!("{} `{}`", r.kind, r.name);
    for diag in crate::schema::check_with(&schema.validator, &schema.json, &r.node, &what) {
        d.push(
            diag.on_cluster(cluster)
                .on_kubernetes(format!("1.{minor}"))
                .object(r.object_ref()),
        );
    }
}

/// The object's identity for the cache: a digest of its tree (keys in
/// order, typed scalars), with the one label that differs on every cluster
/// by construction left out. Hashed as it is walked: nothing is built.
pub fn digest(node: &Node) -> [u8; 32] {
    let mut buf = Vec::with_capacity(1024);
    write_tree(node, &mut buf, 0);
    Sha256::digest(&buf).into()
}

/// The bytes [`digest`] hashes: `n`'s tree, tagged and length-prefixed,
/// the `fleetc.dev/cluster` label (a map key at `depth` 2, counting from
/// the object) left out. Admission hashes the parts of objects with it.
pub fn write_tree(n: &Node, buf: &mut Vec<u8>, depth: usize) {
    match &n.v {
        Value::Null => buf.push(b'n'),
        Value::Bool(b) => buf.push(if *b { b't' } else { b'f' }),
        Value::Int(i) => {
            buf.push(b'i');
            buf.extend_from_slice(&i.to_le_bytes());
        }
        Value::Float(f) => {
            buf.push(b'd');
            buf.extend_from_slice(&f.to_bits().to_le_bytes());
        }
        Value::Str(s) => write_text(buf, b's', s),
        Value::Seq(items) => {
            buf.push(b'[');
            buf.extend_from_slice(&(items.len() as u64).to_le_bytes());
            for i in items {
                write_tree(i, buf, depth + 1);
            }
        }
        Value::Map(m) => {
            buf.push(b'{');
            for (k, v) in m {
                if cluster_label(depth, &k.name) {
                    continue;
                }
                write_text(buf, b'k', &k.name);
                write_tree(v, buf, depth + 1);
            }
            buf.push(b'}');
        }
    }
}

/// Whether a map key at `depth` (counting from the object) is the label
/// with the cluster's name: the one difference between clusters by
/// construction, left out of every digest.
pub fn cluster_label(depth: usize, key: &str) -> bool {
    depth == 2 && key == crate::render::CLUSTER_LABEL
}

/// A tagged, length-prefixed string, as [`write_tree`] writes one.
pub fn write_text(buf: &mut Vec<u8>, tag: u8, s: &str) {
    buf.push(tag);
    buf.extend_from_slice(&(s.len() as u64).to_le_bytes());
    buf.extend_from_slice(s.as_bytes());
}

/// A warning when a later minor stops serving the object's apiVersion.
fn deprecated(minor: u32, r: &Resource, cluster: &str, d: &mut Diags) {
    let Some((_, last)) = api::lifecycle(&r.api_version, &r.kind) else {
        return;
    };
    if last >= *api::versions().end() {
        return;
    }
    let instead = api::replacement(&r.api_version, &r.kind)
        .map(|x| format!("; use {x}"))
        .unwrap_or_default();
    d.push(
        Diagnostic::warning(
            Code::ApiDeprecated,
            format!(
                "{} {} is removed in Kubernetes 1.{}; the cluster runs 1.{minor}{instead}",
                r.api_version,
                r.kind,
                last + 1
            ),
        )
        .at(&r.node.key_span("apiVersion"))
        .on_cluster(cluster)
        .on_kubernetes(format!("1.{minor}"))
        .object(r.object_ref()),
    );
}

fn diagnostic(minor: u32, r: &Resource, cluster: &str, v: &Violation) -> Diagnostic {
    let path = api::render_path(&v.path);
    let (code, message) = match v.kind {
        ViolationKind::NotServed => (Code::ApiRemoved, not_served(minor, r)),
        ViolationKind::UnknownField => (
            Code::UnknownField,
            format!("unknown field `{path}` in {} `{}`", r.kind, r.name),
        ),
        ViolationKind::InvalidType => (Code::InvalidType, at_path(r, &path, &v.message)),
        ViolationKind::MissingRequired => (Code::MissingField, at_path(r, &path, &v.message)),
        ViolationKind::InvalidValue => (Code::InvalidValue, at_path(r, &path, &v.message)),
        ViolationKind::DuplicateListKey => (Code::DuplicateListKey, at_path(r, &path, &v.message)),
        ViolationKind::TooLarge => (Code::YamlBudget, at_path(r, &path, &v.message)),
    };
    let (span, on_key) = match v.kind {
        ViolationKind::NotServed => (r.node.key_span("apiVersion"), false),
        // The second entry with the key (the first is fine by itself).
        ViolationKind::DuplicateListKey => locate(&r.node, &v.path, 1),
        _ => locate(&r.node, &v.path, 0),
    };
    let mut diag = Diagnostic::error(code, message)
        .at(&span)
        .on_cluster(cluster)
        .on_kubernetes(format!("1.{minor}"))
        .object(r.object_ref());
    if !path.is_empty() {
        diag = diag.field(path);
    }
    if on_key && v.kind == ViolationKind::UnknownField {
        diag = diag.label("unknown field");
    }
    match &v.suggestion {
        Some(s) => diag.help(format!("did you mean `{s}`?")),
        None => diag,
    }
}

fn at_path(r: &Resource, path: &str, message: &str) -> String {
    if path.is_empty() {
        format!("{} `{}`: {message}", r.kind, r.name)
    } else {
        format!("{} `{}`: `{path}`: {message}", r.kind, r.name)
    }
}

fn not_served(minor: u32, r: &Resource) -> String {
    let instead = api::replacement(&r.api_version, &r.kind)
        .map(|x| format!("; use {x}"))
        .unwrap_or_default();
    match api::lifecycle(&r.api_version, &r.kind) {
        Some((_, last)) if last < minor => format!(
            "{} {} was removed in Kubernetes 1.{}; the cluster runs 1.{minor}{instead}",
            r.api_version,
            r.kind,
            last + 1
        ),
        Some((first, _)) => format!(
            "{} {} is served from Kubernetes 1.{first}; the cluster runs 1.{minor}{instead}",
            r.api_version, r.kind
        ),
        None => format!(
            "Kubernetes 1.{minor} does not serve {} {}",
            r.api_version, r.kind
        ),
    }
}

/// The span of the value (or, for an unknown field, the key) at `path`:
/// the nearest one the rendered node has (for a missing field, the key of
/// the mapping that misses it). True when it is the exact key.
/// For a keyed item, `nth` picks among the items with those keys, and the
/// span is that of its first key's value.
fn locate(node: &Node, path: &[PathSeg], nth: usize) -> (Span, bool) {
    let mut cur = node;
    let mut key: Option<Span> = None;
    for (i, seg) in path.iter().enumerate() {
        let last = i + 1 == path.len();
        let next = match seg {
            PathSeg::Field(f) => {
                if last && cur.get(f).is_some() {
                    return (cur.key_span(f), true);
                }
                let k = cur.key_span(f);
                let n = cur.get(f);
                if n.is_some() {
                    key = Some(k);
                }
                n
            }
            PathSeg::Index(n) => cur.as_seq().and_then(|s| s.get(*n)),
            PathSeg::Keys(keys) => {
                let item = cur.as_seq().and_then(|s| {
                    s.iter()
                        .filter(|item| {
                            keys.iter().all(|(k, v)| {
                                item.get(k).is_some_and(|x| {
                                    x.as_str()
                                        .map(str::to_string)
                                        .unwrap_or_else(|| x.to_json().to_string())
                                        == *v
                                })
                            })
                        })
                        .nth(if last { nth } else { 0 })
                });
                if let (true, Some(item)) = (last, item) {
                    if let Some(first) = keys.first().and_then(|(k, _)| item.get(k)) {
                        return (first.span.clone(), false);
                    }
                }
                item
            }
        };
        match next {
            Some(n) => cur = n,
            None => return (key.unwrap_or_else(|| cur.span.clone()), false),
        }
    }
    (cur.span.clone(), false)
}
