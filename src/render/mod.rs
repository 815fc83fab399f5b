//! Rendering (SPEC §5): every (cluster, unit) pair becomes checked Kubernetes objects.
//!
//! Per unit, once: plain `*.yaml` files are parsed, `*.yaml.j2` templates are
//! loaded into one minijinja environment, SOPS files are kept as bytes.
//! Per cluster, in parallel (rayon): templates render with the cluster's
//! context, output is parsed (split by the parser, never by text), every
//! document must be an object. Then, once the CustomResourceDefinitions of the
//! whole fleet are known: namespace defaulting, labels and the source
//! annotation, identity and Secret checks, and the file name of each object.
//! Results keep file order and are sorted by name, whatever the thread count.

pub mod helm;
pub mod namespaces;
pub mod patch;
pub mod template;
mod unread;

use crate::diag::Code;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use minijinja::Value as JValue;
use rayon::prelude::*;

use crate::diag::{Diagnostic, Diags, Source, Span};
use crate::load::model::{
    Engine, Format, Mode, Patch, PatchBody, PatchTarget, Repo, TemplateKind, Unit, UnitKind,
};
use crate::load::source_of;
use crate::resolve::PatchId;
use crate::resolve::{Resolved, ResolvedCluster, ResolvedUnit};
use crate::source::FileSet;
use crate::yaml::{self, Budget, Key, Map, Node, Value};
use indexmap::IndexMap;
use template::TemplateLimits;

/// One rendered Kubernetes object.
/// The label fleetc puts on every rendered object with its cluster's name.
pub const CLUSTER_LABEL: &str = "fleetc.dev/cluster";

#[derive(Clone, Debug)]

pub struct Resource {
    pub node: Node,
    pub api_version: String,
    pub group: String,
    pub kind: String,
    pub name: String,
    pub namespace: Option<String>,
    /// Repo-relative path of the file it came from.
    pub source: String,
    /// Output path relative to the unit directory.
    pub path: String,
}

/// A SOPS-encrypted file, copied byte for byte.
#[derive(Clone, Debug)]
pub struct SopsFile {
    pub rel: String,
    pub bytes: Arc<[u8]>,
}

#[derive(Clone, Debug)]
pub struct RenderedUnit {
    pub unit: usize,
    pub name: String,
    pub kind: UnitKind,
    pub placement: Option<String>,
    pub version: Option<String>,
    /// Policies: the resolved mode on this cluster.
    pub mode: Option<Mode>,
    /// Rollouts: the cluster's wave and whether it is promoted.
    pub wave: Option<(String, bool)>,
    /// Patches to apply on this cluster (from the resolved placement).
    pub patches: Vec<(PatchId, std::sync::Arc<Patch>)>,
    pub resources: Vec<Resource>,
    pub sops: Vec<SopsFile>,
}

#[derive(Clone, Debug)]
pub struct RenderedCluster {
    pub name: String,
    pub units: Vec<RenderedUnit>,
}

#[derive(Clone, Debug, Default)]
pub struct Rendered {
    pub clusters: Vec<RenderedCluster>,
    /// The scopes of custom resources the CRDs declared and rendered decide.
    pub crd_scopes: CrdScopes,
}

enum Item {
    /// Objects of a plain file, checked once.
    Plain {
        objects: Vec<Resource>,
    },
    Jinja {
        name: String,
        path: String,
    },
    Sops {
        rel: String,
        bytes: Arc<[u8]>,
    },
}

struct Prepared {
    env: Option<minijinja::Environment<'static>>,
    items: Vec<Item>,
    /// Template sources by name, for error snippets.
    sources: BTreeMap<String, Arc<Source>>,
    /// The `values` paths its templates read ([`unread`]), when its
    /// values are checked that way: not a Helm chart's (the chart reads
    /// them), nor a unit with a `valuesSchema` (the schema checks them).
    value_reads: Option<unread::ValueReads>,
}

fn prepare(
    fs: &FileSet,
    u: &Unit,
    budget: &Budget,
    limits: &TemplateLimits,
    diags: &mut Diags,
) -> Prepared {
    let mut items = Vec::new();
    let mut texts: BTreeMap<String, String> = BTreeMap::new();
    let mut sources = BTreeMap::new();
    for t in &u.templates {
        let bytes = fs
            .get(&t.path)
            .cloned()
            .unwrap_or_else(|| Arc::from(Vec::new()));
        if t.kind == TemplateKind::Sops {
            items.push(Item::Sops {
                rel: t.rel.clone(),
                bytes,
            });
            continue;
        }
        let src = match source_of(&t.path, &bytes) {
            Ok(s) => s,
            Err(d) => {
                diags.push(d);
                continue;
            }
        };
        match t.kind {
            TemplateKind::Plain => match yaml::parse_documents(&src, budget) {
                Ok(docs) => {
                    let mut res = Vec::new();
                    objects(docs, &t.path, &mut res, diags);
                    items.push(Item::Plain { objects: res });
                }
                Err(d) => diags.push(d),
            },
            TemplateKind::Jinja | TemplateKind::Partial => {
                texts.insert(t.rel.clone(), src.text.to_string());
                sources.insert(t.rel.clone(), src);
                if t.kind == TemplateKind::Jinja {
                    items.push(Item::Jinja {
                        name: t.rel.clone(),
                        path: t.path.clone(),
                    });
                }
            }
            TemplateKind::Sops => {}
        }
    }
    let names: Vec<String> = texts.keys().cloned().collect();
    let env = (!texts.is_empty()).then(|| template::environment(Arc::new(texts), limits));
    let value_reads = (u.helm.is_none() && u.values_schema.is_none())
        .then(|| env.as_ref().map(|e| unread::reads(e, names.iter())))
        .flatten();
    Prepared {
        env,
        items,
        sources,
        value_reads,
    }
}

fn context(repo: &Repo, rc: &ResolvedCluster, ru: &ResolvedUnit) -> JValue {
    let c = &repo.clusters[rc.cluster];
    let u = &repo.units[ru.unit];
    let fleet_name = repo
        .fleet
        .as_ref()
        .map(|f| f.name.clone())
        .unwrap_or_default();
    let unit_ctx = minijinja::context! {
        name => u.name.clone(),
        namespace => u.namespace.clone(),
        version => ru.version.clone(),
        mode => ru.mode.map(|m| m.as_str()),
    };
    let cluster = minijinja::context! {
        name => c.name.clone(),
        labels => JValue::from(minijinja::value::Serde(&c.labels)),
        owner => c.owner.clone(),
        kubernetesVersion => c.kubernetes_version.clone(),
        server => c.server.clone(),
    };
    let key = if u.kind == UnitKind::Component {
        "component"
    } else {
        "policy"
    };
    let mut m: BTreeMap<&str, JValue> = BTreeMap::new();
    m.insert("cluster", cluster);
    m.insert("vars", JValue::from(minijinja::value::Serde(&rc.vars.node)));
    m.insert(
        "values",
        JValue::from(minijinja::value::Serde(&ru.values.node)),
    );
    m.insert(key, unit_ctx);
    m.insert("fleet", minijinja::context! { name => fleet_name });
    JValue::from(minijinja::value::Serde(&m))
}

/// The raw objects of one document stream, checked for the object shape.
fn objects(docs: Vec<Node>, source: &str, out: &mut Vec<Resource>, diags: &mut Diags) {
    for doc in docs {
        let Some(m) = doc.as_map() else {
            diags.push(
                Diagnostic::error(
                    Code::NotAKubernetesObject,
                    format!(
                        "expected a Kubernetes object (a mapping), found a {}",
                        doc.type_name()
                    ),
                )
                .at(&doc.span),
            );
            continue;
        };
        let api = m.get("apiVersion").and_then(Node::as_str);
        let kind = m.get("kind").and_then(Node::as_str);
        let md = m.get("metadata");
        let name = md.and_then(|x| x.get("name")).and_then(Node::as_str);
        // `kind: List` (or `FooList`) would carry objects past every check
        // made per object (a plaintext Secret among its items, say).
        if kind.is_some_and(|k| k.ends_with("List"))
            && m.get("items")
                .is_some_and(|i| matches!(i.v, crate::yaml::Value::Seq(_)))
        {
            diags.push(
                Diagnostic::error(Code::ListKind, format!(
                    "`kind: {}` is not expanded: its items would skip the checks made on each object",
                    kind.unwrap_or_default()
                ))
                .at(&doc.key_span("kind"))
                .help("write each item as its own YAML document (separated by `---`)"),
            );
            continue;
        }
        // A kustomization under another name (a Flux `Kustomization` is
        // kustomize.toolkit.fluxcd.io, a resource like any other).
        if let Some(api) = api.filter(|a| a.starts_with("kustomize.config.k8s.io/")) {
            diags.push(
                Diagnostic::error(Code::KustomizationFile, format!(
                    "this is a kustomize `{}` ({api}), not a Kubernetes object: fleetc does not read kustomizations",
                    kind.unwrap_or("Kustomization")
                ))
                .at(&doc.key_span("apiVersion"))
                .help(crate::load::KUSTOMIZE_HELP),
            );
            continue;
        }
        let mut missing = Vec::new();
        if api.is_none_or(str::is_empty) {
            missing.push("apiVersion");
        }
        if kind.is_none_or(str::is_empty) {
            missing.push("kind");
        }
        if name.is_none_or(str::is_empty) {
            missing.push("metadata.name");
        }
        if !missing.is_empty() {
            diags.push(Diagnostic::error(Code::NotAKubernetesObject, format!("not a Kubernetes object: missing {}", missing.join(", ")))
                .at(&doc.span)
                .help("every document in a resource file needs apiVersion, kind and metadata.name (an empty document is fine)"));
            continue;
        }
        let (api, kind, name) = (
            api.unwrap_or_default(),
            kind.unwrap_or_default(),
            name.unwrap_or_default(),
        );
        if md.and_then(Node::as_map).is_none() {
            continue;
        }
        let (kind_ok, api_ok) = (
            crate::kube::valid_kind(kind),
            crate::kube::valid_api_version(api),
        );
        if !kind_ok || !api_ok {
            let (field, value, help) = if kind_ok {
                ("apiVersion", api, "an apiVersion is `<version>` or `<group>/<version>` (a DNS name and a version)")
            } else {
                ("kind", kind, "a kind is a name of letters and digits that starts with a letter (e.g. ConfigMap)")
            };
            diags.push(
                Diagnostic::error(
                    Code::InvalidObjectField,
                    format!("{field} {value:?} is not a valid Kubernetes {field}"),
                )
                .at(&doc.key_span(field))
                .help(help),
            );
            continue;
        }
        if !crate::kube::safe_name(name) {
            let span = md
                .and_then(|x| x.get("name"))
                .map_or(doc.span.clone(), |n| n.span.clone());
            diags.push(Diagnostic::error(Code::InvalidObjectField, format!("resource name {name:?} cannot be used as a file name"))
                .at(&span)
                .help("Kubernetes names are at most 253 printable characters without '/', '%' or whitespace"));
            continue;
        }
        let namespace = md
            .and_then(|x| x.get("namespace"))
            .and_then(Node::as_str)
            .map(str::to_string);
        if let Some(ns) = &namespace {
            if !crate::kube::dns_label(ns) {
                let span = md
                    .and_then(|x| x.get("namespace"))
                    .map_or(doc.span.clone(), |n| n.span.clone());
                diags.push(
                    Diagnostic::error(
                        Code::InvalidObjectField,
                        format!("namespace {ns:?} is not a valid namespace name"),
                    )
                    .at(&span)
                    .help("namespaces are DNS-1123 labels: lower-case letters, digits and '-'"),
                );
                continue;
            }
        }
        out.push(Resource {
            group: crate::kube::group_of(api).to_string(),
            api_version: api.to_string(),
            kind: kind.to_string(),
            name: name.to_string(),
            namespace,
            source: source.to_string(),
            path: String::new(),
            node: doc,
        });
    }
}

/// Scope of custom kinds: (group, kind) → cluster-scoped, from the
/// CustomResourceDefinitions rendered anywhere in the fleet.
pub type CrdScopes = BTreeMap<(String, String), bool>;

/// One cluster rendered to its final objects.
#[derive(Debug)]
pub struct ClusterRender {
    pub cluster: RenderedCluster,
    pub diags: Diags,
    /// Patches that apply on this cluster, and those whose target matched.
    pub applicable: BTreeSet<PatchId>,
    pub matched: BTreeSet<PatchId>,
    /// When the renderer records them ([`Renderer::recording_patch_objects`]):
    /// each object a patch matched, in the order patches applied.
    pub patch_objects: Vec<PatchHit>,
}

/// A patch that matched an object: the object (`Kind namespace/name`, as
/// it was when the patch applied) and whether the patch deleted it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PatchHit {
    pub patch: PatchId,
    pub object: String,
    pub deleted: bool,
}

/// Which patches matched on a cluster and, when recording, what.
#[derive(Default)]
struct Hits {
    matched: BTreeSet<PatchId>,
    objects: Option<Vec<PatchHit>>,
}

/// What rendering needs once per fleet: every used unit prepared (plain
/// files parsed, templates loaded), the fleet's common labels and the CRD
/// scopes. Clusters are then rendered independently ([`Renderer::cluster`]),
/// in any order and on any thread, which lets callers stream a large fleet
/// to disk a batch at a time.
pub struct Renderer<'a> {
    repo: &'a Repo,
    budget: &'a Budget,
    limits: &'a TemplateLimits,
    format: Format,
    prepared: BTreeMap<usize, Prepared>,
    fleet_labels: Vec<(String, String)>,
    crd_scopes: CrdScopes,
    record_patch_objects: bool,
}

impl<'a> Renderer<'a> {
    /// Record the objects each patch matches (for `explain`); off by
    /// default, as every render but one cluster's explanation discards them.
    pub fn recording_patch_objects(mut self, on: bool) -> Self {
        self.record_patch_objects = on;
        self
    }

    /// Prepare every unit some cluster of `resolved` uses (diagnostics of
    /// broken files are returned here, once).
    pub fn new(
        fs: &FileSet,
        repo: &'a Repo,
        resolved: &Resolved,
        budget: &'a Budget,
        limits: &'a TemplateLimits,
        format: Format,
    ) -> (Self, Diags) {
        let mut diags = Diags::default();
        let used: BTreeSet<usize> = resolved
            .clusters
            .iter()
            .flat_map(|c| c.units.iter().map(|u| u.unit))
            .collect();
        let prepared: BTreeMap<usize, Prepared> = used
            .iter()
            .map(|&ui| (ui, prepare(fs, &repo.units[ui], budget, limits, &mut diags)))
            .collect();
        let fleet_labels = repo
            .fleet
            .as_ref()
            .map(|f| f.common_labels.clone())
            .unwrap_or_default();
        (
            Renderer {
                repo,
                budget,
                limits,
                format,
                prepared,
                fleet_labels,
                crd_scopes: declared_scopes(repo),
                record_patch_objects: false,
            },
            diags,
        )
    }

    /// Add the scopes of the CRDs rendered (see [`Renderer::scopes_of`])
    /// to those declared in `spec.crds`; a rendered CRD wins.
    pub fn set_crd_scopes(&mut self, scopes: CrdScopes) {
        self.crd_scopes.extend(scopes);
    }

    /// The scopes of custom resources, as set so far.
    pub fn crd_scopes(&self) -> &CrdScopes {
        &self.crd_scopes
    }

    /// The CRD scopes declared by one cluster's objects (templates rendered,
    /// nothing else done); merge these over every cluster, then set them.
    pub fn scopes_of(&self, rc: &ResolvedCluster) -> CrdScopes {
        let (cluster, _) = self.phase1(rc);
        let mut out = CrdScopes::new();
        add_scopes(&cluster, &mut out);
        out
    }

    /// Templates rendered and parsed: raw objects, nothing applied yet.
    /// One template rendered for a cluster and parsed into `resources`.
    /// `at`: the template's name, its path, its unit's directory, the cluster.
    fn jinja(
        &self,
        prep: &Prepared,
        at: (&str, &str, &str, &str),
        ctx: &JValue,
        resources: &mut Vec<Resource>,
        d: &mut Diags,
    ) {
        let (name, path, unit_dir, cluster) = at;
        let env = prep.env.as_ref().expect("env exists when templates do");
        match template::render(env, name, ctx, self.limits) {
            Ok(text) => {
                let src = Arc::new(Source {
                    path: path.to_string(),
                    text: text.into(),
                    note: Some(format!("rendered for cluster {cluster}")),
                });
                match yaml::parse_documents(&src, self.budget) {
                    Ok(docs) => objects(docs, path, resources, d),
                    Err(mut e) => {
                        if e.code == Code::YamlSyntax {
                            e.code = Code::RenderedYaml;
                        }
                        let help = yaml_help(prep.sources.get(name).map(|s| &*s.text));
                        d.push(e.on_cluster(cluster).help(help))
                    }
                }
            }
            Err(e) => d.push(template_diag(&e, prep, path, unit_dir, cluster)),
        }
    }

    fn phase1(&self, rc: &ResolvedCluster) -> (RenderedCluster, Diags) {
        let repo = self.repo;
        let mut d = Diags::default();
        let mut units = Vec::new();
        for ru in &rc.units {
            let u = &repo.units[ru.unit];
            let prep = &self.prepared[&ru.unit];
            let errors_before = d.error_count();
            let ctx = context(repo, rc, ru);
            let mut resources = Vec::new();
            let mut sops = Vec::new();
            if let (Some(h), Format::Flux) = (&u.helm, self.format) {
                resources.extend(helm::flux_objects(
                    u,
                    h,
                    ru,
                    &repo.output().interval,
                    &rc.name,
                ));
            }
            for item in &prep.items {
                match item {
                    Item::Plain { objects } => resources.extend(objects.iter().cloned()),
                    Item::Sops { rel, bytes } => sops.push(SopsFile {
                        rel: rel.clone(),
                        bytes: bytes.clone(),
                    }),
                    Item::Jinja { name, path } => {
                        let at = (
                            name.as_str(),
                            path.as_str(),
                            u.dir.as_str(),
                            rc.name.as_str(),
                        );
                        self.jinja(prep, at, &ctx, &mut resources, &mut d);
                    }
                }
            }
            // Values no template reads, once its templates render (a
            // template that fails may be the one meant to read them).
            if let (Some(reads), true) = (&prep.value_reads, d.error_count() == errors_before) {
                unread::check(&ru.values.node, reads, u, &rc.name, &mut d);
            }
            units.push(RenderedUnit {
                unit: ru.unit,
                name: u.name.clone(),
                kind: u.kind,
                placement: ru.placement.map(|p| repo.placements[p].name.clone()),
                version: ru.version.clone(),
                mode: ru.mode,
                wave: ru.wave.clone(),
                // Only the patches of this output format.
                patches: ru
                    .patches
                    .iter()
                    .filter(|(_, p)| p.formats.as_ref().is_none_or(|f| f.contains(&self.format)))
                    .cloned()
                    .collect(),
                resources,
                sops,
            });
        }
        (
            RenderedCluster {
                name: rc.name.clone(),
                units,
            },
            d,
        )
    }

    /// Defaulting, patches, labels, checks and file names, once the CRD
    /// scopes are set.
    fn phase2(&self, mut rc: RenderedCluster, mut d: Diags) -> ClusterRender {
        let mut hits = Hits {
            matched: BTreeSet::new(),
            objects: self.record_patch_objects.then(Vec::new),
        };
        namespaces::create(self.repo, &mut rc, self.format);
        finish_cluster(
            self.repo,
            &mut rc,
            &self.crd_scopes,
            &self.fleet_labels,
            &mut hits,
            &mut d,
        );
        namespaces::check(self.repo, &rc, &self.crd_scopes, self.format, &mut d);
        let applicable = rc
            .units
            .iter()
            .flat_map(|u| u.patches.iter().map(|(id, _)| *id))
            .collect();
        ClusterRender {
            cluster: rc,
            diags: d,
            applicable,
            matched: hits.matched,
            patch_objects: hits.objects.unwrap_or_default(),
        }
    }

    /// Render one cluster completely (the CRD scopes must be set first).
    pub fn cluster(&self, rc: &ResolvedCluster) -> ClusterRender {
        let (c, d) = self.phase1(rc);
        self.phase2(c, d)
    }
}

/// The scopes of the CRDs the fleet declares (`spec.crds` of the Fleet,
/// clusters and units): a kind fleetc does not render still decides
/// whether its objects are namespaced.
fn declared_scopes(repo: &Repo) -> CrdScopes {
    let mut out = CrdScopes::new();
    for crd in repo.declared_crds().flat_map(|d| &d.objects) {
        if let Some((g, k)) =
            crate::kube::crd_defines("apiextensions.k8s.io", "CustomResourceDefinition", crd)
        {
            let scope = crd.get_path(&["spec", "scope"]).and_then(Node::as_str);
            out.insert((g.to_string(), k.to_string()), scope == Some("Cluster"));
        }
    }
    out
}

fn add_scopes(rc: &RenderedCluster, crd_scopes: &mut CrdScopes) {
    for u in &rc.units {
        for r in &u.resources {
            if let Some((g, k)) = crate::kube::crd_defines(&r.group, &r.kind, &r.node) {
                let scope = r.node.get_path(&["spec", "scope"]).and_then(Node::as_str);
                crd_scopes.insert((g.to_string(), k.to_string()), scope == Some("Cluster"));
            }
        }
    }
}

/// A patch whose target matches nothing on every cluster it applies to is an
/// error. Only decidable when every cluster was rendered: callers leave it
/// out for `--cluster` and for a diff's subset.
pub fn unmatched_patches(
    repo: &Repo,
    applicable: &BTreeSet<PatchId>,
    matched: &BTreeSet<PatchId>,
) -> Diags {
    let mut diags = Diags::default();
    for (pi, ci, i) in applicable.difference(matched) {
        let p = &repo.placements[*pi];
        let patch = match ci {
            Some(c) => &p.targets[*c].patches[*i],
            None => &p.patches[*i],
        };
        diags.push(
            Diagnostic::error(Code::PatchMatchesNothing, format!("this patch of placement `{}` matches no resource on any cluster it applies to", p.name))
                .at(&patch.target_span)
                .help("check kind, name and namespace (after defaulting) against the component's resources"),
        );
    }
    diags
}

/// Render every resolved pair, holding the whole fleet in memory.
/// Diagnostics of every cluster are returned together.
pub fn render(
    fs: &FileSet,
    repo: &Repo,
    resolved: &Resolved,
    budget: &Budget,
    limits: &TemplateLimits,
    format: Format,
) -> (Rendered, Diags) {
    let (mut r, mut diags) = Renderer::new(fs, repo, resolved, budget, limits, format);
    // Phase 1: render and parse, per cluster in parallel.
    let phase1: Vec<(RenderedCluster, Diags)> = resolved
        .clusters
        .par_iter()
        .map(|rc| r.phase1(rc))
        .collect();
    let mut scopes = CrdScopes::new();
    for (rc, _) in &phase1 {
        add_scopes(rc, &mut scopes);
    }
    r.set_crd_scopes(scopes);
    // Phase 2: defaulting, patches, labels, checks, file names.
    let phase2: Vec<ClusterRender> = phase1
        .into_par_iter()
        .map(|(rc, d)| r.phase2(rc, d))
        .collect();
    let mut out = Rendered {
        clusters: Vec::new(),
        crd_scopes: r.crd_scopes.clone(),
    };
    let mut applicable: BTreeSet<PatchId> = BTreeSet::new();
    let mut matched: BTreeSet<PatchId> = BTreeSet::new();
    for c in phase2 {
        diags.extend(c.diags);
        applicable.extend(c.applicable);
        matched.extend(c.matched);
        out.clusters.push(c.cluster);
    }
    if resolved.clusters.len() == repo.clusters.len() {
        diags.extend(unmatched_patches(repo, &applicable, &matched));
    }
    (out, diags)
}

/// The help of a template whose output is not valid YAML. A control tag
/// alone on an indented line (`  {% if x %}`, as Helm templates indent
/// `{{- if }}`) leaves its spaces in the output, in front of the next
/// line: the usual cause, so its lines are named.
fn yaml_help(template: Option<&str>) -> String {
    let indented: Vec<String> = template
        .unwrap_or_default()
        .lines()
        .enumerate()
        .filter(|(_, l)| {
            let t = l.trim_start();
            t.len() < l.len()
                && t.starts_with("{%")
                && !t.starts_with("{%-")
                && t.trim_end().ends_with("%}")
                && t.matches("{%").count() == 1
        })
        .map(|(i, _)| (i + 1).to_string())
        .take(5)
        .collect();
    if indented.is_empty() {
        return "the template's output is not valid YAML; check indentation and quoting of values (| toyaml, | quote)".into();
    }
    format!(
        "the template's output is not valid YAML. Line{} {} of the template indent{} a control tag: the spaces before a tag are kept (fleetc's templates do not strip them, docs/templates.md) and land in front of the next line. Start such tags in column 0 (Helm's indented `{{{{- if … }}}}` becomes `{{% if … %}}` at the start of its line)",
        if indented.len() == 1 { "" } else { "s" },
        indented.join(", "),
        if indented.len() == 1 { "s" } else { "" },
    )
}

fn template_diag(
    e: &template::TemplateError,
    prep: &Prepared,
    path: &str,
    dir: &str,
    cluster: &str,
) -> Diagnostic {
    let mut d = Diagnostic::error(e.code, e.message.clone());
    let src = prep.sources.get(&e.template);
    match (src, &e.range, e.line) {
        (Some(src), Some(r), _) => d = d.at(&Span::new(src, r.start, r.end)),
        (Some(src), None, Some(line)) => {
            let off = src
                .text
                .split_inclusive('\n')
                .take(line.saturating_sub(1))
                .map(str::len)
                .sum();
            d = d.at(&Span::new(src, off, off));
        }
        _ => d = d.at(&Span::file(&Source::new(path, ""))),
    }
    d = d.on_cluster(cluster);
    if !e.chain.is_empty() {
        let chain: Vec<String> = e
            .chain
            .iter()
            .map(|t| format!("{dir}/templates/{t}"))
            .collect();
        d = d.help(format!("included from {}", chain.join(" ← ")));
    } else if e.message.starts_with("undefined value") {
        d = d.help(
            "test it first (`{% if values.x is defined %}`) or give a default (`| default(...)`)",
        );
    }
    d
}

pub(crate) fn is_cluster_scoped(
    u: &Unit,
    crd: &BTreeMap<(String, String), bool>,
    group: &str,
    kind: &str,
) -> bool {
    if let Some(&c) = crd.get(&(group.to_string(), kind.to_string())) {
        return c;
    }
    if crate::kube::known_cluster_scoped(group, kind) {
        return true;
    }
    u.cluster_scoped_kinds
        .iter()
        .any(|k| match k.split_once('.') {
            Some((kk, g)) => kk == kind && g == group,
            None => k == kind && group.is_empty(),
        })
}

fn set_string(map: &mut Map, key: &str, value: &str, span: &Span) {
    let node = Node::string(value, span);
    match map.get_mut(key) {
        Some(slot) => *slot = node,
        None => {
            map.insert(
                Key {
                    name: key.to_string(),
                    span: span.clone(),
                },
                node,
            );
        }
    }
}

fn child_map<'a>(map: &'a mut Map, key: &str, span: &Span) -> &'a mut Map {
    let needs = !matches!(map.get(key).map(|n| &n.v), Some(Value::Map(_)));
    if needs {
        let n = Node::map(Map::new(), span.clone());
        match map.get_mut(key) {
            Some(slot) => *slot = n,
            None => {
                map.insert(
                    Key {
                        name: key.to_string(),
                        span: span.clone(),
                    },
                    n,
                );
            }
        }
    }
    match map.get_mut(key).map(|n| &mut n.v) {
        Some(Value::Map(m)) => m,
        _ => unreachable!("just inserted a map"),
    }
}

type Identity = (String, String, Option<String>, String);

fn patch_matches(t: &PatchTarget, r: &Resource) -> bool {
    let version = r.api_version.rsplit('/').next().unwrap_or_default();
    t.kind.as_ref().is_none_or(|k| *k == r.kind)
        && t.name.as_ref().is_none_or(|n| *n == r.name)
        && t.namespace
            .as_ref()
            .is_none_or(|n| Some(n) == r.namespace.as_ref())
        && t.group.as_ref().is_none_or(|g| *g == r.group)
        && t.version.as_ref().is_none_or(|v| v == version)
        && t.selector.as_ref().is_none_or(|s| {
            let labels: IndexMap<String, String> = r
                .node
                .get_path(&["metadata", "labels"])
                .and_then(Node::as_map)
                .map(|m| {
                    m.iter()
                        .filter_map(|(k, v)| v.as_str().map(|v| (k.name.clone(), v.to_string())))
                        .collect()
                })
                .unwrap_or_default();
            s.matches(&labels)
        })
}

/// Apply every patch whose target matches `r` (SPEC §5): strategic merge for built-in
/// kinds, JSON merge patch for custom resources, or RFC 6902 operations. The object's
/// name and namespace are read again after each patch (a patch may change them, and
/// the next one matches the object as it then is).
/// Returns false when a patch deletes the object (`$patch: delete` at its
/// top level, as kustomize does).
fn apply_patches(
    patches: &[(PatchId, std::sync::Arc<Patch>)],
    r: &mut Resource,
    cluster: &str,
    hits: &mut Hits,
    d: &mut Diags,
) -> bool {
    for (id, p) in patches {
        if !patch_matches(&p.target, r) {
            continue;
        }
        hits.matched.insert(*id);
        let deletes = matches!(&p.body, PatchBody::Merge(body) if patch::deletes(body));
        if let Some(objects) = &mut hits.objects {
            let ns = r
                .namespace
                .as_deref()
                .map(|n| format!("{n}/"))
                .unwrap_or_default();
            objects.push(PatchHit {
                patch: *id,
                object: format!("{} {ns}{}", r.kind, r.name),
                deleted: deletes,
            });
        }
        if deletes {
            return false;
        }
        let result = match &p.body {
            PatchBody::Merge(body) if patch::is_builtin(&r.group) => {
                patch::strategic(&mut r.node, body, &r.group, &r.kind)
            }
            PatchBody::Merge(body) => {
                patch::merge_patch(&mut r.node, body);
                Ok(())
            }
            PatchBody::Json(ops) => patch::json_patch(&mut r.node, ops),
            // Loading replaced it with the patches of its file.
            PatchBody::File { .. } => Ok(()),
        };
        if let Err(e) = result {
            d.push(
                Diagnostic::error(
                    Code::PatchFailed,
                    format!("patch cannot be applied to {} `{}`: {e}", r.kind, r.name),
                )
                .at(&p.span)
                .on_cluster(cluster),
            );
        }
        // A patch may rename or move the object: later patches match it
        // as it now is (as kustomize's do).
        if let Some(n) = r
            .node
            .get_path(&["metadata", "name"])
            .and_then(Node::as_str)
        {
            r.name = n.to_string();
        }
        r.namespace = r
            .node
            .get_path(&["metadata", "namespace"])
            .and_then(Node::as_str)
            .map(str::to_string)
            .or(r.namespace.take());
    }
    true
}

/// Write a policy's resolved mode into its engine's own fields (SPEC §2 Policy):
/// Kyverno `spec.validationFailureAction` and every rule's `validate.failureAction`
/// that is present; Gatekeeper constraints' `spec.enforcementAction`.
fn apply_mode(engine: Engine, mode: Mode, r: &mut Resource) {
    let span = r.node.span.clone();
    let Value::Map(top) = &mut r.node.v else {
        return;
    };
    match engine {
        Engine::Kyverno
            if r.group == "kyverno.io" && matches!(r.kind.as_str(), "ClusterPolicy" | "Policy") =>
        {
            let action = if mode == Mode::Enforce {
                "Enforce"
            } else {
                "Audit"
            };
            let spec = child_map(top, "spec", &span);
            set_string(spec, "validationFailureAction", action, &span);
            if let Some(Value::Seq(rules)) = spec.get_mut("rules").map(|n| &mut n.v) {
                for rule in rules {
                    if let Some(Value::Map(v)) = rule
                        .as_map_mut()
                        .and_then(|m| m.get_mut("validate"))
                        .map(|n| &mut n.v)
                    {
                        if v.contains_key("failureAction") {
                            set_string(v, "failureAction", action, &span);
                        }
                    }
                }
            }
        }
        // Kyverno's CEL policies and Kubernetes' bindings: the actions a
        // failed validation takes.
        Engine::Kyverno | Engine::Kubernetes
            if (engine == Engine::Kyverno
                && r.group == "policies.kyverno.io"
                && r.kind == "ValidatingPolicy")
                || (engine == Engine::Kubernetes
                    && r.group == "admissionregistration.k8s.io"
                    && r.kind == "ValidatingAdmissionPolicyBinding") =>
        {
            let actions: &[&str] = if mode == Mode::Enforce {
                &["Deny"]
            } else {
                &["Warn", "Audit"]
            };
            let spec = child_map(top, "spec", &span);
            let list = actions.iter().map(|a| Node::string(*a, &span)).collect();
            let node = Node::new(Value::Seq(list), span.clone());
            match spec.get_mut("validationActions") {
                Some(slot) => *slot = node,
                None => {
                    spec.insert(
                        Key {
                            name: "validationActions".to_string(),
                            span: span.clone(),
                        },
                        node,
                    );
                }
            }
        }
        Engine::Gatekeeper if r.group == "constraints.gatekeeper.sh" => {
            let action = if mode == Mode::Enforce {
                "deny"
            } else {
                "dryrun"
            };
            set_string(
                child_map(top, "spec", &span),
                "enforcementAction",
                action,
                &span,
            );
        }
        _ => {}
    }
}

/// `metadata.labels` and `metadata.annotations` are mappings of strings to
/// strings, as the API server decodes them (`map[string]string`: it rejects
/// a number or a boolean; null and nesting are no label either). Anything
/// else is an error at the value (the line of the rendered template, or of
/// the patch that set it), rather than being replaced by fleetc's labels.
fn check_string_map(r: &Resource, field: &str, cluster: &str, d: &mut Diags) {
    let Some(n) = r.node.get_path(&["metadata", field]) else {
        return;
    };
    let what = if field == "labels" {
        "label"
    } else {
        "annotation"
    };
    match &n.v {
        // `labels:` with nothing after it: no labels (the API server's reading too).
        Value::Null => {}
        Value::Map(m) => {
            for (k, v) in m {
                if v.as_str().is_none() {
                    let found = match v.v {
                        Value::Null => "null".to_string(),
                        _ => format!("a {}", v.type_name()),
                    };
                    let mut diag = Diagnostic::error(Code::InvalidObjectField, format!(
                        "{} `{}`: the value of {what} `{}` is {found}, and {what} values must be strings",
                        r.kind,
                        r.name,
                        k.name.escape_debug(),
                    ))
                    .at(&v.span)
                    .on_cluster(cluster);
                    diag = match (&v.v, field) {
                        (Value::Seq(_) | Value::Map(_), "labels") => diag.help(
                            "a label value is one short string; put structured data in an annotation, as text (`| tojson`)",
                        ),
                        (Value::Seq(_) | Value::Map(_), _) => diag.help(
                            "an annotation value is one string; write structured data as text (`| tojson`)",
                        ),
                        (Value::Null, _) => diag.help(
                            "the API server accepts only strings here; write `\"\"` for an empty value, or leave the key out",
                        ),
                        _ => diag.help(
                            "the API server accepts only strings here; quote the value (`\"1\"`, `\"true\"`), or print it with `| quote` in a template",
                        ),
                    };
                    d.push(diag);
                }
            }
        }
        _ => d.push(
            Diagnostic::error(Code::InvalidObjectField, format!(
                "{} `{}`: metadata.{field} must be a mapping of strings, found a {}",
                r.kind,
                r.name,
                n.type_name()
            ))
            .at(&r.node.get("metadata").map_or(n.span.clone(), |md| md.key_span(field)))
            .on_cluster(cluster)
            .help(format!(
                "write each {what} as `key: value` under `{field}:` (fleetc adds its own to that mapping)"
            )),
        ),
    }
}

impl Resource {
    /// The object, as a diagnostic names it.
    pub fn object_ref(&self) -> crate::diag::ObjectRef {
        crate::diag::ObjectRef {
            api_version: self.api_version.clone(),
            kind: self.kind.clone(),
            namespace: self.namespace.clone(),
            name: self.name.clone(),
        }
    }
}

/// The last steps on a rendered cluster, object by object: namespace
/// defaulting, patches, labels and annotations, the policy mode, the file
/// name, and the checks that need every object of the cluster (identities,
/// file names) or its final form (Secrets).
fn finish_cluster(
    repo: &Repo,
    rc: &mut RenderedCluster,
    crd: &BTreeMap<(String, String), bool>,
    fleet_labels: &[(String, String)],
    hits: &mut Hits,
    d: &mut Diags,
) {
    // (group, kind, namespace, name) → (unit, where the name is written)
    let mut ids: BTreeMap<Identity, (String, Span)> = BTreeMap::new();
    for ru in &mut rc.units {
        let u = &repo.units[ru.unit];
        let ru_mode = ru.mode;
        let mut paths: BTreeMap<String, String> = BTreeMap::new();
        for s in &ru.sops {
            paths.insert(s.rel.to_lowercase(), s.rel.clone());
        }
        let mut deleted = Vec::new();
        for (i, r) in ru.resources.iter_mut().enumerate() {
            let scoped = is_cluster_scoped(u, crd, &r.group, &r.kind);
            if !scoped && r.namespace.is_none() {
                r.namespace = u.namespace.clone();
            }
            let span = r.node.span.clone();
            let Value::Map(top) = &mut r.node.v else {
                continue;
            };
            if !scoped {
                if let Some(ns) = &r.namespace {
                    set_string(child_map(top, "metadata", &span), "namespace", ns, &span);
                }
            }
            if !apply_patches(&ru.patches, r, &rc.name, hits, d) {
                deleted.push(i);
                continue;
            }
            for field in ["labels", "annotations"] {
                check_string_map(r, field, &rc.name, d);
            }
            if !stamp(r, fleet_labels, &rc.name) {
                continue;
            }
            if let (Some(p), Some(mode)) = (&u.policy, ru_mode) {
                apply_mode(p.engine, mode, r);
            }
            let file_ns = if scoped { None } else { r.namespace.as_deref() };
            r.path = crate::kube::file_name(&r.group, &r.kind, file_ns, &r.name);
            check_identity(r, scoped, &u.name, &rc.name, &mut ids, &mut paths, d);
            if r.kind == "Secret" && r.group.is_empty() {
                check_secret(r, u, &rc.name, d);
            }
        }
        for i in deleted.into_iter().rev() {
            ru.resources.remove(i);
        }
        ru.resources.sort_by(|a, b| a.path.cmp(&b.path));
    }
}

/// fleetc's labels (the Fleet's `commonLabels`, managed-by, the cluster)
/// and its source annotation; false when the object is no longer a mapping
/// (a patch replaced it), which has been reported.
fn stamp(r: &mut Resource, fleet_labels: &[(String, String)], cluster: &str) -> bool {
    let span = r.node.span.clone();
    let Value::Map(top) = &mut r.node.v else {
        return false;
    };
    let md = child_map(top, "metadata", &span);
    let labels = child_map(md, "labels", &span);
    for (k, v) in fleet_labels {
        set_string(labels, k, v, &span);
    }
    set_string(labels, "app.kubernetes.io/managed-by", "fleetc", &span);
    set_string(labels, CLUSTER_LABEL, cluster, &span);
    let ann = child_map(md, "annotations", &span);
    set_string(ann, "fleetc.dev/source", &r.source, &span);
    true
}

/// One object per identity on a cluster, and one object per file name in a
/// unit's directory (names that differ only in case collide).
fn check_identity(
    r: &Resource,
    scoped: bool,
    unit: &str,
    cluster: &str,
    ids: &mut BTreeMap<Identity, (String, Span)>,
    paths: &mut BTreeMap<String, String>,
    d: &mut Diags,
) {
    let id = (
        r.group.clone(),
        r.kind.clone(),
        if scoped { None } else { r.namespace.clone() },
        r.name.clone(),
    );
    let name_span = r
        .node
        .get_path(&["metadata", "name"])
        .map_or(r.node.span.clone(), |n| n.span.clone());
    if let Some((other_unit, other_span)) = ids.get(&id) {
        let ns =
            id.2.as_deref()
                .map(|n| format!(" in namespace {n}"))
                .unwrap_or_default();
        let from = if other_unit == unit {
            format!("both from {unit}")
        } else {
            format!("from {other_unit} and {unit}")
        };
        d.push(
            Diagnostic::error(Code::DuplicateResource, format!(
                "{} `{}`{ns} is defined twice on one cluster ({from})",
                r.kind, r.name
            ))
            .at(&name_span)
            .on_cluster(cluster)
            .object(r.object_ref())
            .related(other_span, "the other one")
            .help("an object may be defined once per cluster; rename one, or place only one of the components"),
        );
        return;
    }
    ids.insert(id, (unit.to_string(), name_span.clone()));
    if let Some(prev) = paths.insert(r.path.clone(), r.name.clone()) {
        d.push(
            Diagnostic::error(
                Code::DuplicateResource,
                format!(
                    "resources `{prev}` and `{}` would both be written to {}",
                    r.name, r.path
                ),
            )
            .at(&name_span)
            .on_cluster(cluster)
            .object(r.object_ref())
            .help("file names are lower case; names that differ only in case collide"),
        );
    }
}

/// A Secret's `data` and `stringData` are mappings, and empty unless the
/// component allows plaintext Secrets (messages name keys, never values).
fn check_secret(r: &Resource, u: &crate::load::model::Unit, cluster: &str, d: &mut Diags) {
    for key in ["data", "stringData"] {
        let Some(v) = r.node.get(key) else { continue };
        if !v.is_null() && v.as_map().is_none() {
            d.push(
                Diagnostic::error(Code::PlaintextSecret, format!(
                    "Secret `{}` has an invalid `{key}`: a mapping of keys to values is expected (values hidden)",
                    r.name
                ))
                .at(&r.node.key_span(key))
                .on_cluster(cluster)
                .object(r.object_ref())
                .redacted(),
            );
            continue;
        }
        if !u.allow_plaintext_secrets && v.as_map().is_some_and(|m| !m.is_empty()) {
            let keys: Vec<&str> = v
                .as_map()
                .map(|m| m.keys().map(|k| k.name.as_str()).collect())
                .unwrap_or_default();
            d.push(Diagnostic::error(Code::PlaintextSecret, format!(
                "Secret `{}` has plaintext `{key}`: {} (values hidden)",
                r.name,
                secret_keys(&keys)
            ))
            .at(&r.node.key_span(key))
            .on_cluster(cluster)
            .object(r.object_ref())
            .redacted()
            .help(format!(
                "encrypt the file with SOPS (it is then copied byte for byte), or set `allowPlaintextSecrets: true` in {}",
                u.file
            )));
        }
    }
}

/// The keys of a Secret's `data` or `stringData` for a message: names only
/// (never values), in file order, escaped, at most eight of them.
fn secret_keys(keys: &[&str]) -> String {
    const SHOWN: usize = 8;
    let list: Vec<String> = keys
        .iter()
        .take(SHOWN)
        .map(|k| format!("`{}`", k.escape_debug()))
        .collect();
    let word = if keys.len() == 1 { "key" } else { "keys" };
    match keys.len() {
        n if n > SHOWN => format!("{word} {}, and {} more", list.join(", "), n - SHOWN),
        _ => format!("{word} {}", list.join(", ")),
    }
}
