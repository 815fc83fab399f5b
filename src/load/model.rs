//! The typed fleet model, built from schema-valid YAML nodes.
//!
//! Builders here may assume the node passed its kind's JSON Schema (types
//! and required fields are right), so they only pick fields out; every
//! name reference keeps its span for later error messages.

use indexmap::IndexMap;

use crate::diag::Span;
use crate::yaml::Node;

/// A name written in a fleet file (a reference to a cluster, group, component...).
#[derive(Clone, Debug)]
pub struct NameRef {
    pub name: String,
    pub span: Span,
}

#[derive(Clone, Debug)]
pub struct Requirement {
    pub key: String,
    pub op: Op,
    pub values: Vec<String>,
    pub span: Span,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    In,
    NotIn,
    Exists,
    DoesNotExist,
}

/// A Kubernetes LabelSelector.
#[derive(Clone, Debug)]
pub struct Selector {
    pub match_labels: Vec<(String, String, Span)>,
    pub exprs: Vec<Requirement>,
    pub span: Span,
}

impl Selector {
    pub fn is_empty(&self) -> bool {
        self.match_labels.is_empty() && self.exprs.is_empty()
    }

    /// Kubernetes semantics: every matchLabels pair and every requirement holds.
    pub fn matches(&self, labels: &IndexMap<String, String>) -> bool {
        self.match_labels
            .iter()
            .all(|(k, v, _)| labels.get(k) == Some(v))
            && self.exprs.iter().all(|r| {
                let got = labels.get(&r.key);
                match r.op {
                    Op::In => got.is_some_and(|v| r.values.contains(v)),
                    Op::NotIn => got.is_none_or(|v| !r.values.contains(v)),
                    Op::Exists => got.is_some(),
                    Op::DoesNotExist => got.is_none(),
                }
            })
    }

    /// Label keys this selector reads, with where they are written.
    pub fn keys(&self) -> impl Iterator<Item = (&str, &Span)> {
        self.match_labels
            .iter()
            .map(|(k, _, s)| (k.as_str(), s))
            .chain(self.exprs.iter().map(|r| (r.key.as_str(), &r.span)))
    }
}

/// SPEC §3 Target.
#[derive(Clone, Debug)]
pub struct Target {
    pub all: bool,
    pub groups: Vec<NameRef>,
    pub selector: Option<Selector>,
    pub clusters: Vec<NameRef>,
    pub exclude: Vec<NameRef>,
    pub span: Span,
}

impl Target {
    pub fn is_empty(&self) -> bool {
        !self.all && self.groups.is_empty() && self.selector.is_none() && self.clusters.is_empty()
    }
}

#[derive(Clone, Debug)]
pub struct Lock {
    pub path: Vec<String>,
    pub text: String,
    pub span: Span,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Format {
    Flux,
    ArgoCd,
    Plain,
}

impl Format {
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Flux => "flux",
            Format::ArgoCd => "argocd",
            Format::Plain => "plain",
        }
    }

    pub fn parse(s: &str) -> Option<Format> {
        match s {
            "flux" => Some(Format::Flux),
            "argocd" => Some(Format::ArgoCd),
            "plain" => Some(Format::Plain),
            _ => None,
        }
    }
}

/// `Fleet.spec.output`: where and how agents pull the rendered tree.
#[derive(Clone, Debug)]
pub struct Output {
    /// Git URL of the repository holding the rendered branch.
    pub repository: Option<String>,
    /// The rendered branch (default `rendered`).
    pub branch: String,
    /// Flux reconcile interval (default `10m`).
    pub interval: String,
    /// Flux decryption Secret for components with SOPS files.
    pub sops_secret: Option<String>,
    /// Argo CD project (default `default`).
    pub argocd_project: String,
    /// `spec.output` if written, else `spec`, else the document.
    pub span: Span,
}

impl Output {
    /// The SPEC's defaults: branch `rendered`, interval `10m`, project `default`.
    fn defaults(span: Span) -> Output {
        Output {
            repository: None,
            branch: "rendered".into(),
            interval: "10m".into(),
            sops_secret: None,
            argocd_project: "default".into(),
            span,
        }
    }
}

#[derive(Clone, Debug)]
pub struct Fleet {
    pub name: String,
    pub file: String,
    pub format: Format,
    pub format_span: Option<Span>,
    pub output: Output,
    pub vars: Option<Node>,
    pub values: Option<Node>,
    /// Agent settings by unit name (`spec.agent`).
    pub agent: Option<Node>,
    pub locked: Vec<Lock>,
    pub common_labels: Vec<(String, String)>,
    /// Namespaces every cluster has without fleetc creating them.
    pub existing_namespaces: Vec<String>,
    /// Custom resource kinds (`Kind.group`) every cluster has without fleetc.
    pub existing_kinds: Vec<String>,
    /// A kind nothing defines on its cluster is a warning rather than an error.
    pub unknown_kinds_warn: bool,
    /// The Kubernetes version of clusters that do not set theirs.
    pub kubernetes_version: Option<String>,
    /// CRDs every cluster has without fleetc (`spec.crds`).
    pub crds: DeclaredCrds,
    pub node: Node,
}

/// CustomResourceDefinitions declared as installed outside fleetc
/// (`spec.crds` of the Fleet, a Cluster, a Component or a Policy): files
/// or directories, relative to the declaring file's directory.
#[derive(Clone, Debug, Default)]
pub struct DeclaredCrds {
    /// Each path as written, with where it is written.
    pub paths: Vec<(String, Span)>,
    /// The CustomResourceDefinition objects read from them at load.
    pub objects: Vec<Node>,
    /// The files read (repository paths, sorted).
    pub files: Vec<String>,
}

impl DeclaredCrds {
    fn of(spec: &Node) -> DeclaredCrds {
        let paths = spec
            .get("crds")
            .and_then(Node::as_seq)
            .map(|v| {
                v.iter()
                    .filter_map(|x| x.as_str().map(|p| (p.to_string(), x.span.clone())))
                    .collect()
            })
            .unwrap_or_default();
        DeclaredCrds {
            paths,
            ..DeclaredCrds::default()
        }
    }
}

#[derive(Clone, Debug)]
pub struct Taint {
    pub key: String,
    pub value: Option<String>,
}

#[derive(Clone, Debug)]
pub struct Cluster {
    pub name: String,
    pub file: String,
    /// Namespaces this cluster has without fleetc creating them.
    pub existing_namespaces: Vec<String>,
    /// Custom resource kinds (`Kind.group`) this cluster has without fleetc.
    pub existing_kinds: Vec<String>,
    /// CRDs this cluster has without fleetc (`spec.crds`).
    pub crds: DeclaredCrds,
    pub labels: IndexMap<String, String>,
    /// Its own, or its groups' (see `driver::plan`); empty: none.
    pub owner: String,
    /// Its own, or the Fleet's default (see `load::load`).
    pub kubernetes_version: String,
    pub server: Option<String>,
    pub taints: Vec<Taint>,
    pub vars: Option<Node>,
    pub values: Option<Node>,
    /// Agent settings by unit name (`spec.agent`).
    pub agent: Option<Node>,
    pub name_span: Span,
}

#[derive(Clone, Debug)]
pub struct Group {
    pub name: String,
    pub file: String,
    pub selector: Option<Selector>,
    pub clusters: Vec<NameRef>,
    pub groups: Vec<NameRef>,
    pub priority: i64,
    /// The owner of member clusters that do not name theirs.
    pub owner: Option<String>,
    pub vars: Option<Node>,
    pub values: Option<Node>,
    /// Agent settings by unit name (`spec.agent`).
    pub agent: Option<Node>,
    pub locked: Vec<Lock>,
    pub name_span: Span,
    pub spec_span: Span,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UnitKind {
    Component,
    Policy,
}

impl UnitKind {
    pub fn as_str(self) -> &'static str {
        match self {
            UnitKind::Component => "Component",
            UnitKind::Policy => "Policy",
        }
    }

    /// Output directory under a cluster: `components` or `policies`.
    pub fn dir(self) -> &'static str {
        match self {
            UnitKind::Component => "components",
            UnitKind::Policy => "policies",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TemplateKind {
    /// `*.yaml` / `*.yml`: passed through, never templated.
    Plain,
    /// `*.yaml.j2` / `*.yml.j2`: rendered per cluster.
    Jinja,
    /// Other `*.j2`: only included by other templates.
    Partial,
    /// A file with a top-level `sops:` key: copied byte for byte.
    Sops,
}

#[derive(Clone, Debug)]
pub struct TemplateFile {
    /// Path relative to the unit's `templates/` directory.
    pub rel: String,
    /// Repo-relative path.
    pub path: String,
    pub kind: TemplateKind,
}

/// `Component.spec.helm`: a chart fleetc does not render itself.
#[derive(Clone, Debug)]
pub struct Helm {
    /// The chart's name (a path chart's, from its Chart.yaml).
    pub chart: String,
    /// Empty for a chart kept in the fleet repository.
    pub repository: String,
    /// A chart kept in the fleet repository: its directory (repository
    /// path, e.g. `components/web/chart`), its files (repository paths,
    /// sorted) and its Chart.yaml `version` (see `load::chart_files`).
    pub path: Option<String>,
    pub files: Vec<String>,
    pub chart_version: Option<String>,
    /// The `helm:` key.
    pub span: Span,
}

impl Helm {
    /// An OCI registry (`oci://...`) rather than an HTTP chart repository.
    pub fn is_oci(&self) -> bool {
        self.repository.starts_with("oci://")
    }
}

/// A Component or a Policy: templates plus values.
#[derive(Clone, Debug)]
pub struct Unit {
    pub kind: UnitKind,
    pub name: String,
    pub file: String,
    /// `components/<name>` or `policies/<name>`.
    pub dir: String,
    pub namespace: Option<String>,
    /// Whether fleetc creates `namespace` where no unit renders it (default true).
    pub create_namespace: bool,
    /// Labels and annotations of the Namespace fleetc creates.
    pub namespace_labels: Vec<(String, String)>,
    pub namespace_annotations: Vec<(String, String)>,
    /// Where `namespace` is written (the created Namespace points there).
    pub namespace_span: Option<Span>,
    pub version: Option<String>,
    pub depends_on: Vec<NameRef>,
    pub values: Option<Node>,
    pub values_schema: Option<Node>,
    /// Settings of the agent objects that deploy it (`spec.agent`).
    pub agent: Option<Node>,
    pub allow_plaintext_secrets: bool,
    pub cluster_scoped_kinds: Vec<String>,
    /// Custom resource kinds (`Kind.group`) the unit installs without rendering their CRDs.
    pub provides_kinds: Vec<String>,
    /// CRDs the unit installs without rendering them (`spec.crds`).
    pub crds: DeclaredCrds,
    pub helm: Option<Helm>,
    /// Policy-only settings (None for components).
    pub policy: Option<PolicySpec>,
    pub templates: Vec<TemplateFile>,
    pub name_span: Span,
    pub node: Node,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Engine {
    Kyverno,
    Gatekeeper,
    /// Kubernetes' own ValidatingAdmissionPolicy (the mode goes into its bindings).
    Kubernetes,
    None,
}

/// A policy's mode on one cluster.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Mode {
    Audit,
    Enforce,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Audit => "audit",
            Mode::Enforce => "enforce",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Effect {
    /// The policy stays on the cluster, in audit mode.
    Audit,
    /// The policy's resources are left off the cluster.
    Skip,
}

#[derive(Clone, Debug)]
pub struct Exemption {
    pub target: Target,
    pub reason: String,
    pub approved_by: String,
    /// ISO date, valid through that day (UTC).
    pub expires: String,
    pub expires_span: Span,
    pub effect: Effect,
    pub span: Span,
}

#[derive(Clone, Debug)]
pub struct PolicySpec {
    pub engine: Engine,
    /// The fleet-wide baseline.
    pub mode: Mode,
    /// Where the mode is tightened to enforce.
    pub enforce: Option<Target>,
    /// Where the policy applies (None: every cluster).
    pub target: Option<Target>,
    pub exemptible: bool,
    pub exemptible_span: Option<Span>,
    pub exemptions: Vec<Exemption>,
}

#[derive(Clone, Debug)]
pub struct Toleration {
    pub key: String,
    pub value: Option<String>,
    pub exists: bool,
}

impl Toleration {
    pub fn tolerates(&self, t: &Taint) -> bool {
        self.key == t.key && (self.exists || self.value == t.value)
    }
}

#[derive(Clone, Debug)]
pub struct Customization {
    pub name: Option<String>,
    pub target: Target,
    pub values: Option<Node>,
    pub agent: Option<Node>,
    /// The component's version on these clusters (a rollout, once
    /// promoted, still wins).
    pub version: Option<String>,
    pub patches: Vec<Patch>,
    /// Earlier targets whose values this one overrides on purpose (no
    /// `target-override` warning for them).
    pub overrides: Vec<NameRef>,
}

/// Which resources a patch applies to (every field that is set must match).
#[derive(Clone, Debug)]
pub struct PatchTarget {
    pub group: Option<String>,
    pub version: Option<String>,
    pub kind: Option<String>,
    pub name: Option<String>,
    pub namespace: Option<String>,
    pub selector: Option<Selector>,
}

#[derive(Clone, Debug)]
pub enum PatchBody {
    /// Strategic merge (built-in kinds) or JSON merge patch (custom resources).
    Merge(Node),
    /// RFC 6902 operations.
    Json(Vec<Node>),
    /// `path:` as written: a file of patches, which loading replaces with
    /// the patches it holds (`targeted`: the entry has a `target`).
    File { path: String, targeted: bool },
}

#[derive(Clone, Debug)]
pub struct Patch {
    pub target: PatchTarget,
    pub body: PatchBody,
    /// The output formats it applies in (None: every format): a patch of
    /// an object only one agent's format has (a HelmRelease) names it.
    pub formats: Option<Vec<Format>>,
    /// The whole patch entry.
    pub span: Span,
    pub target_span: Span,
}

fn patches(n: Option<&Node>) -> Vec<Patch> {
    n.and_then(Node::as_seq)
        .map(|items| {
            items
                .iter()
                .map(|p| {
                    let t = p.get("target");
                    let ts = |k: &str| s(t.and_then(|t| t.get(k)));
                    Patch {
                        target: PatchTarget {
                            group: ts("group"),
                            version: ts("version"),
                            kind: ts("kind"),
                            name: ts("name"),
                            namespace: ts("namespace"),
                            selector: t.and_then(|t| t.get("labelSelector")).map(selector),
                        },
                        body: match (
                            p.get("patch"),
                            p.get("jsonPatch").and_then(Node::as_seq),
                            p.get("path").and_then(Node::as_str),
                        ) {
                            (Some(m), _, _) => PatchBody::Merge(m.clone()),
                            (None, Some(ops), _) => PatchBody::Json(ops.to_vec()),
                            (None, None, Some(path)) => PatchBody::File {
                                path: path.to_string(),
                                targeted: t.is_some(),
                            },
                            (None, None, None) => PatchBody::Json(Vec::new()),
                        },
                        formats: p.get("formats").and_then(Node::as_seq).map(|f| {
                            f.iter()
                                .filter_map(|x| x.as_str().and_then(Format::parse))
                                .collect()
                        }),
                        span: p.span.clone(),
                        target_span: t.map_or_else(|| p.span.clone(), |t| t.span.clone()),
                    }
                })
                .collect()
        })
        .unwrap_or_default()
}

#[derive(Clone, Debug)]
pub struct Placement {
    pub name: String,
    pub file: String,
    pub component: NameRef,
    pub target: Target,
    pub tolerations: Vec<Toleration>,
    pub number_of_clusters: Option<(usize, Span)>,
    pub spread_by: Option<String>,
    pub values: Option<Node>,
    pub agent: Option<Node>,
    pub targets: Vec<Customization>,
    pub patches: Vec<Patch>,
    /// The patch files its patches (and its targets') were read from.
    pub patch_files: Vec<String>,
    pub rollout: Option<Rollout>,
    pub name_span: Span,
}

#[derive(Clone, Debug)]
pub struct Wave {
    pub name: String,
    /// None: every cluster not in an earlier wave.
    pub target: Option<Target>,
    pub span: Span,
}

/// SPEC §6: ordered waves and how far the new version and values are promoted.
#[derive(Clone, Debug)]
pub struct Rollout {
    pub waves: Vec<Wave>,
    pub promoted_through: Option<NameRef>,
    pub version: Option<String>,
    pub values: Option<Node>,
    pub span: Span,
}

fn rollout(n: &Node) -> Rollout {
    Rollout {
        waves: n
            .get("waves")
            .and_then(Node::as_seq)
            .map(|ws| {
                ws.iter()
                    .map(|w| Wave {
                        name: s(w.get("name")).unwrap_or_default(),
                        target: w.get("target").map(target),
                        span: w
                            .get("name")
                            .map_or_else(|| w.span.clone(), |x| x.span.clone()),
                    })
                    .collect()
            })
            .unwrap_or_default(),
        promoted_through: n.get("promotedThrough").and_then(|x| {
            x.as_str().map(|v| NameRef {
                name: v.to_string(),
                span: x.span.clone(),
            })
        }),
        version: s(n.get("version")),
        values: opt_map(n.get("values")),
        span: n.span.clone(),
    }
}

/// Everything loaded from one repository.
#[derive(Clone, Debug, Default)]
pub struct Repo {
    pub fleet: Option<Fleet>,
    pub clusters: Vec<Cluster>,
    pub groups: Vec<Group>,
    pub units: Vec<Unit>,
    pub placements: Vec<Placement>,
    /// Cluster name → index of its first cluster, built on the first lookup
    /// (a fleet of 10,000 clusters looks names up per placement and cluster).
    cluster_index: std::sync::OnceLock<std::collections::HashMap<String, usize>>,
}

impl Repo {
    /// `Fleet.spec.output`, with the defaults when there is no fleet.yaml
    /// (loading reports that as an error before anything reads this).
    pub fn output(&self) -> Output {
        self.fleet.as_ref().map_or_else(
            || Output::defaults(Span::file(&crate::diag::Source::new("fleet.yaml", ""))),
            |f| f.output.clone(),
        )
    }

    /// Every cluster's name, in file order (for did-you-mean suggestions).
    pub fn cluster_names(&self) -> Vec<String> {
        self.clusters.iter().map(|c| c.name.clone()).collect()
    }

    pub fn cluster(&self, name: &str) -> Option<&Cluster> {
        let index = self.cluster_index.get_or_init(|| {
            let mut m = std::collections::HashMap::with_capacity(self.clusters.len());
            for (i, c) in self.clusters.iter().enumerate() {
                m.entry(c.name.clone()).or_insert(i);
            }
            m
        });
        match index.get(name) {
            Some(&i) if self.clusters.get(i).is_some_and(|c| c.name == name) => {
                self.clusters.get(i)
            }
            // Built before a change to the list: look the slow way.
            _ => self.clusters.iter().find(|c| c.name == name),
        }
    }
    pub fn group(&self, name: &str) -> Option<&Group> {
        self.groups.iter().find(|g| g.name == name)
    }
    pub fn unit(&self, name: &str) -> Option<&Unit> {
        self.units.iter().find(|u| u.name == name)
    }

    /// Every file of CustomResourceDefinitions the fleet declares (`spec.crds`
    /// of the Fleet, clusters and units), sorted: the scope of a kind they
    /// define decides the output of every cluster.
    pub fn declared_crd_files(&self) -> Vec<&str> {
        let mut out: Vec<&str> = self
            .declared_crds()
            .flat_map(|d| &d.files)
            .map(String::as_str)
            .collect();
        out.sort_unstable();
        out.dedup();
        out
    }

    /// The `spec.crds` of the Fleet, every cluster and every unit.
    pub fn declared_crds(&self) -> impl Iterator<Item = &DeclaredCrds> {
        let fleet = self.fleet.iter().map(|f| &f.crds);
        let clusters = self.clusters.iter().map(|c| &c.crds);
        let units = self.units.iter().map(|u| &u.crds);
        fleet.chain(clusters).chain(units)
    }
}

// ---- builders (assume a schema-valid node) ----

fn s(n: Option<&Node>) -> Option<String> {
    n.and_then(Node::as_str).map(str::to_string)
}

fn names(n: Option<&Node>) -> Vec<NameRef> {
    n.and_then(Node::as_seq)
        .map(|items| {
            items
                .iter()
                .filter_map(|i| {
                    i.as_str().map(|s| NameRef {
                        name: s.into(),
                        span: i.span.clone(),
                    })
                })
                .collect()
        })
        .unwrap_or_default()
}

fn opt_map(n: Option<&Node>) -> Option<Node> {
    n.filter(|n| !n.is_null()).cloned()
}

pub fn selector(n: &Node) -> Selector {
    let match_labels = n
        .get("matchLabels")
        .and_then(Node::as_map)
        .map(|m| {
            m.iter()
                .map(|(k, v)| {
                    (
                        k.name.clone(),
                        v.as_str().unwrap_or_default().to_string(),
                        k.span.clone(),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    let exprs = n
        .get("matchExpressions")
        .and_then(Node::as_seq)
        .map(|items| {
            items
                .iter()
                .map(|r| Requirement {
                    key: s(r.get("key")).unwrap_or_default(),
                    op: match r.get("operator").and_then(Node::as_str) {
                        Some("NotIn") => Op::NotIn,
                        Some("Exists") => Op::Exists,
                        Some("DoesNotExist") => Op::DoesNotExist,
                        _ => Op::In,
                    },
                    values: r
                        .get("values")
                        .and_then(Node::as_seq)
                        .map(|v| {
                            v.iter()
                                .filter_map(|x| x.as_str().map(String::from))
                                .collect()
                        })
                        .unwrap_or_default(),
                    span: r.key_span("key"),
                })
                .collect()
        })
        .unwrap_or_default();
    Selector {
        match_labels,
        exprs,
        span: n.span.clone(),
    }
}

pub fn target(n: &Node) -> Target {
    Target {
        all: n.get("all").and_then(Node::as_bool).unwrap_or(false),
        groups: names(n.get("groups")),
        selector: n.get("clusterSelector").map(selector),
        clusters: names(n.get("clusters")),
        exclude: names(n.get("excludeClusters")),
        span: n.span.clone(),
    }
}

fn locks(n: Option<&Node>) -> Vec<Lock> {
    n.and_then(Node::as_seq)
        .map(|items| {
            items
                .iter()
                .filter_map(|i| {
                    let t = i.as_str()?;
                    Some(Lock {
                        path: t.split('.').map(String::from).collect(),
                        text: t.to_string(),
                        span: i.span.clone(),
                    })
                })
                .collect()
        })
        .unwrap_or_default()
}

fn name_of(node: &Node) -> (String, Span) {
    let md = node.get("metadata");
    let name = md.and_then(|m| m.get("name"));
    (
        s(name).unwrap_or_default(),
        name.map_or_else(|| node.span.clone(), |n| n.span.clone()),
    )
}

/// A sequence of strings (absent: empty).
fn strings(n: Option<&Node>) -> Vec<String> {
    n.and_then(Node::as_seq)
        .map(|v| {
            v.iter()
                .filter_map(|x| x.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

/// A mapping of strings, in source order (absent: empty).
fn string_pairs(n: Option<&Node>) -> Vec<(String, String)> {
    n.and_then(Node::as_map)
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.name.clone(), v.as_str().unwrap_or_default().into()))
                .collect()
        })
        .unwrap_or_default()
}

fn empty_spec(node: &Node) -> Node {
    Node::map(Default::default(), node.span.clone())
}

pub fn fleet(file: &str, node: Node) -> Fleet {
    let (name, _) = name_of(&node);
    let spec = node
        .get("spec")
        .cloned()
        .unwrap_or_else(|| empty_spec(&node));
    let fmt_node = spec.get_path(&["output", "format"]);
    let out = spec.get("output");
    let out_s = |k: &str| s(out.and_then(|o| o.get(k)));
    let span = if out.is_some() {
        spec.key_span("output")
    } else if node.get("spec").is_some() {
        node.key_span("spec")
    } else {
        node.span.clone()
    };
    let d = Output::defaults(span);
    let output = Output {
        repository: out_s("repository"),
        branch: out_s("branch").unwrap_or(d.branch),
        interval: out_s("interval").unwrap_or(d.interval),
        sops_secret: out_s("sopsSecret"),
        argocd_project: s(out.and_then(|o| o.get_path(&["argocd", "project"])))
            .unwrap_or(d.argocd_project),
        span: d.span,
    };
    Fleet {
        output,
        name,
        file: file.into(),
        format: fmt_node
            .and_then(Node::as_str)
            .and_then(Format::parse)
            .unwrap_or(Format::Flux),
        format_span: fmt_node.map(|n| n.span.clone()),
        vars: opt_map(spec.get("vars")),
        values: opt_map(spec.get("values")),
        agent: opt_map(spec.get("agent")),
        locked: locks(spec.get("locked")),
        existing_namespaces: strings(spec.get("existingNamespaces")),
        existing_kinds: strings(spec.get("existingKinds")),
        unknown_kinds_warn: spec.get("unknownKinds").and_then(Node::as_str) == Some("warning"),
        kubernetes_version: s(spec.get("kubernetesVersion")),
        crds: DeclaredCrds::of(&spec),
        common_labels: spec
            .get("commonLabels")
            .and_then(Node::as_map)
            .map(|m| {
                m.iter()
                    .map(|(k, v)| (k.name.clone(), v.as_str().unwrap_or_default().into()))
                    .collect()
            })
            .unwrap_or_default(),
        node,
    }
}

pub fn cluster(file: &str, node: &Node) -> Cluster {
    let (name, name_span) = name_of(node);
    let spec = node
        .get("spec")
        .cloned()
        .unwrap_or_else(|| empty_spec(node));
    Cluster {
        name,
        file: file.into(),
        existing_namespaces: strings(spec.get("existingNamespaces")),
        existing_kinds: strings(spec.get("existingKinds")),
        crds: DeclaredCrds::of(&spec),
        labels: node
            .get_path(&["metadata", "labels"])
            .and_then(Node::as_map)
            .map(|m| {
                m.iter()
                    .map(|(k, v)| (k.name.clone(), v.as_str().unwrap_or_default().into()))
                    .collect()
            })
            .unwrap_or_default(),
        owner: s(spec.get("owner")).unwrap_or_default(),
        kubernetes_version: s(spec.get("kubernetesVersion")).unwrap_or_default(),
        server: s(spec.get("server")),
        taints: spec
            .get("taints")
            .and_then(Node::as_seq)
            .map(|ts| {
                ts.iter()
                    .map(|t| Taint {
                        key: s(t.get("key")).unwrap_or_default(),
                        value: s(t.get("value")),
                    })
                    .collect()
            })
            .unwrap_or_default(),
        vars: opt_map(spec.get("vars")),
        values: opt_map(spec.get("values")),
        agent: opt_map(spec.get("agent")),
        name_span,
    }
}

pub fn group(file: &str, node: &Node) -> Group {
    let (name, name_span) = name_of(node);
    let spec = node
        .get("spec")
        .cloned()
        .unwrap_or_else(|| empty_spec(node));
    Group {
        name,
        file: file.into(),
        selector: spec.get("selector").map(selector),
        clusters: names(spec.get("clusters")),
        groups: names(spec.get("groups")),
        priority: spec.get("priority").and_then(Node::as_i64).unwrap_or(0),
        owner: s(spec.get("owner")),
        vars: opt_map(spec.get("vars")),
        values: opt_map(spec.get("values")),
        agent: opt_map(spec.get("agent")),
        locked: locks(spec.get("locked")),
        name_span,
        spec_span: node.key_span("spec"),
    }
}

pub fn unit(
    kind: UnitKind,
    file: &str,
    dir: &str,
    node: Node,
    templates: Vec<TemplateFile>,
) -> Unit {
    let (name, name_span) = name_of(&node);
    let spec = node
        .get("spec")
        .cloned()
        .unwrap_or_else(|| empty_spec(&node));
    Unit {
        kind,
        name,
        file: file.into(),
        dir: dir.into(),
        namespace: s(spec.get("namespace")),
        create_namespace: spec
            .get("createNamespace")
            .and_then(Node::as_bool)
            .unwrap_or(true),
        namespace_labels: string_pairs(spec.get_path(&["namespaceMetadata", "labels"])),
        namespace_annotations: string_pairs(spec.get_path(&["namespaceMetadata", "annotations"])),
        namespace_span: spec.get("namespace").map(|n| n.span.clone()),
        version: s(spec.get("version")),
        depends_on: names(spec.get("dependsOn")),
        values: opt_map(spec.get("values")),
        values_schema: opt_map(spec.get("valuesSchema")),
        agent: opt_map(spec.get("agent")),
        allow_plaintext_secrets: spec
            .get("allowPlaintextSecrets")
            .and_then(Node::as_bool)
            .unwrap_or(false),
        cluster_scoped_kinds: spec
            .get("clusterScopedKinds")
            .and_then(Node::as_seq)
            .map(|v| {
                v.iter()
                    .filter_map(|x| x.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default(),
        provides_kinds: strings(spec.get("providesKinds")),
        crds: DeclaredCrds::of(&spec),
        helm: spec.get("helm").and_then(|h| {
            h.as_map()?;
            Some(Helm {
                chart: s(h.get("chart")).unwrap_or_default(),
                repository: s(h.get("repository")).unwrap_or_default(),
                path: s(h.get("path")).map(|p| format!("{dir}/{}", p.trim_end_matches('/'))),
                files: Vec::new(),
                chart_version: None,
                span: spec.key_span("helm"),
            })
        }),
        policy: (kind == UnitKind::Policy).then(|| policy_spec(&spec)),
        templates,
        name_span,
        node,
    }
}

fn policy_spec(spec: &Node) -> PolicySpec {
    PolicySpec {
        engine: match spec.get("engine").and_then(Node::as_str) {
            Some("kyverno") => Engine::Kyverno,
            Some("gatekeeper") => Engine::Gatekeeper,
            Some("kubernetes") => Engine::Kubernetes,
            _ => Engine::None,
        },
        mode: match spec.get("mode").and_then(Node::as_str) {
            Some("enforce") => Mode::Enforce,
            _ => Mode::Audit,
        },
        enforce: spec.get("enforce").map(target),
        target: spec.get("target").map(target),
        exemptible: spec
            .get("exemptible")
            .and_then(Node::as_bool)
            .unwrap_or(true),
        exemptible_span: spec.get("exemptible").map(|n| n.span.clone()),
        exemptions: spec
            .get("exemptions")
            .and_then(Node::as_seq)
            .map(|items| {
                items
                    .iter()
                    .map(|e| Exemption {
                        target: e.get("target").map_or_else(|| empty_target(e), target),
                        reason: s(e.get("reason")).unwrap_or_default(),
                        approved_by: s(e.get("approvedBy")).unwrap_or_default(),
                        expires: s(e.get("expires")).unwrap_or_default(),
                        expires_span: e
                            .get("expires")
                            .map_or_else(|| e.span.clone(), |n| n.span.clone()),
                        effect: match e.get("effect").and_then(Node::as_str) {
                            Some("skip") => Effect::Skip,
                            _ => Effect::Audit,
                        },
                        span: e.span.clone(),
                    })
                    .collect()
            })
            .unwrap_or_default(),
    }
}

fn empty_target(n: &Node) -> Target {
    Target {
        all: false,
        groups: vec![],
        selector: None,
        clusters: vec![],
        exclude: vec![],
        span: n.span.clone(),
    }
}

pub fn placement(file: &str, node: &Node) -> Placement {
    let (name, name_span) = name_of(node);
    let spec = node
        .get("spec")
        .cloned()
        .unwrap_or_else(|| empty_spec(node));
    let comp = spec.get("component");
    Placement {
        name,
        file: file.into(),
        component: NameRef {
            name: s(comp).unwrap_or_default(),
            span: comp.map_or_else(|| spec.span.clone(), |c| c.span.clone()),
        },
        target: spec
            .get("target")
            .map_or_else(|| empty_target(&spec), target),
        tolerations: spec
            .get("tolerations")
            .and_then(Node::as_seq)
            .map(|ts| {
                ts.iter()
                    .map(|t| {
                        let value = s(t.get("value"));
                        let exists = match t.get("operator").and_then(Node::as_str) {
                            Some("Exists") => true,
                            Some(_) => false,
                            None => value.is_none(),
                        };
                        Toleration {
                            key: s(t.get("key")).unwrap_or_default(),
                            value,
                            exists,
                        }
                    })
                    .collect()
            })
            .unwrap_or_default(),
        number_of_clusters: spec
            .get("numberOfClusters")
            .and_then(|n| n.as_i64().map(|i| (i.max(0) as usize, n.span.clone()))),
        spread_by: s(spec.get("spreadBy")),
        values: opt_map(spec.get("values")),
        agent: opt_map(spec.get("agent")),
        targets: spec
            .get("targets")
            .and_then(Node::as_seq)
            .map(|ts| {
                ts.iter()
                    .map(|t| Customization {
                        name: s(t.get("name")),
                        target: t.get("target").map_or_else(|| empty_target(t), target),
                        values: opt_map(t.get("values")),
                        agent: opt_map(t.get("agent")),
                        version: s(t.get("version")),
                        patches: patches(t.get("patches")),
                        overrides: names(t.get("overrides")),
                    })
                    .collect()
            })
            .unwrap_or_default(),
        patches: patches(spec.get("patches")),
        patch_files: Vec::new(),
        rollout: spec.get("rollout").map(rollout),
        name_span,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diag::Source;
    use crate::yaml::{parse_single, Budget};

    fn sel(text: &str) -> Selector {
        selector(
            &parse_single(&Source::new("s", text), &Budget::default())
                .expect("yaml")
                .expect("doc"),
        )
    }

    fn labels(pairs: &[(&str, &str)]) -> IndexMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn label_selectors_follow_kubernetes() {
        let l = labels(&[("env", "prod"), ("region", "eu")]);
        let none = labels(&[]);
        assert!(sel("matchLabels: {env: prod}").matches(&l));
        assert!(!sel("matchLabels: {env: prod, tier: web}").matches(&l));
        assert!(
            sel("matchExpressions: [{key: region, operator: In, values: [eu, us]}]").matches(&l)
        );
        assert!(!sel("matchExpressions: [{key: region, operator: In, values: [us]}]").matches(&l));
        // NotIn and DoesNotExist match objects without the label, as in Kubernetes.
        assert!(sel("matchExpressions: [{key: tier, operator: NotIn, values: [web]}]").matches(&l));
        assert!(
            sel("matchExpressions: [{key: tier, operator: NotIn, values: [web]}]").matches(&none)
        );
        assert!(
            !sel("matchExpressions: [{key: env, operator: NotIn, values: [prod]}]").matches(&l)
        );
        assert!(sel("matchExpressions: [{key: env, operator: Exists}]").matches(&l));
        assert!(!sel("matchExpressions: [{key: env, operator: Exists}]").matches(&none));
        assert!(sel("matchExpressions: [{key: env, operator: DoesNotExist}]").matches(&none));
        // matchLabels AND matchExpressions.
        assert!(!sel("matchLabels: {env: prod}\nmatchExpressions: [{key: region, operator: In, values: [us]}]").matches(&l));
    }
}
