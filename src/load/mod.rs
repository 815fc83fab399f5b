//! Loading: the [`FileSet`] becomes a typed [`Repo`].
//!
//! Each file is put in its place by path (SPEC §1), parsed strictly with
//! spans, checked for the kind its directory holds, for `metadata.name`
//! against the file name, and against its JSON Schema; only objects that pass
//! become typed model values. Every problem in every file is reported.

pub mod model;
pub mod patch_files;

use crate::diag::Code;
use std::sync::Arc;

use crate::diag::{Diagnostic, Diags, Source, Span};
use crate::schema;
use crate::source::{path_error, FileSet};
use crate::yaml::{Budget, Node};
use model::{Repo, TemplateFile, TemplateKind, UnitKind};

/// Make a [`Source`] for a repo file; non-UTF-8 content is an error.
pub fn source_of(path: &str, bytes: &[u8]) -> Result<Arc<Source>, Diagnostic> {
    match std::str::from_utf8(bytes) {
        Ok(t) => Ok(Source::new(path, t)),
        Err(e) => Err(path_error(
            Code::UnsupportedFile,
            path,
            format!("file is not valid UTF-8 (at byte {})", e.valid_up_to()),
        )),
    }
}

/// The kind a file's directory holds.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Slot {
    Fleet,
    Cluster,
    Group,
    Placement,
    Unit(UnitKind),
}

impl Slot {
    fn kind(self) -> &'static str {
        match self {
            Slot::Fleet => "Fleet",
            Slot::Cluster => "Cluster",
            Slot::Group => "ClusterGroup",
            Slot::Placement => "Placement",
            Slot::Unit(k) => k.as_str(),
        }
    }
}

fn is_yaml(name: &str) -> bool {
    name.ends_with(".yaml") || name.ends_with(".yml")
}

fn stem(name: &str) -> &str {
    name.strip_suffix(".yaml")
        .or_else(|| name.strip_suffix(".yml"))
        .unwrap_or(name)
}

fn hidden(path: &str) -> bool {
    path.split('/').any(|p| p.starts_with('.'))
}

/// The names kustomize reads a kustomization from (also templated).
fn is_kustomization(name: &str) -> bool {
    let name = name.strip_suffix(".j2").unwrap_or(name);
    matches!(
        name,
        "kustomization.yaml" | "kustomization.yml" | "Kustomization"
    )
}

/// What to do instead of a kustomization (shared with the check of rendered
/// documents whose apiVersion is kustomize's).
pub const KUSTOMIZE_HELP: &str = "fleetc does not run kustomize: every file under templates/ is already one of the component's resources (no `resources:` list needed), and overlays are a placement's `targets` with `patches` (strategic merge, JSON merge patch or `jsonPatch`)";

/// A kustomization file in a component or policy directory: an error at its
/// first line.
fn kustomization_error(fs: &FileSet, path: &str) -> Diagnostic {
    let message = format!(
        "{} is a kustomization, which fleetc does not read",
        path.rsplit('/').next().unwrap_or(path)
    );
    let d = match source_of(path, fs.get(path).map(|b| &b[..]).unwrap_or_default()) {
        Ok(src) if !src.text.is_empty() => {
            let end = src.text.find('\n').unwrap_or(src.text.len());
            Diagnostic::error(Code::KustomizationFile, message).at(&Span::new(&src, 0, end))
        }
        _ => path_error(Code::KustomizationFile, path, message),
    };
    d.help(KUSTOMIZE_HELP)
}

/// Every object file of a fleet, and each unit's templates by unit directory.
#[derive(Default)]
struct Layout {
    /// (slot, path, expected name) of every object file.
    objects: Vec<(Slot, String, String)>,
    templates: std::collections::BTreeMap<String, Vec<TemplateFile>>,
}

/// Load every fleet object of the file set.
pub fn load(fs: &FileSet, budget: &Budget) -> (Repo, Diags) {
    let mut diags = Diags::default();
    let mut layout = Layout::default();
    for path in fs.files.keys().filter(|p| !hidden(p)) {
        place_file(fs, path, &mut layout, &mut diags);
    }
    check_layout(&layout, &mut diags);
    let mut repo = Repo::default();
    let Layout {
        objects,
        mut templates,
    } = layout;
    for (slot, path, expected) in objects {
        let Some(node) = read_object(fs, slot, &path, &expected, budget, &mut diags) else {
            continue;
        };
        match slot {
            Slot::Fleet => repo.fleet = Some(model::fleet(&path, node)),
            Slot::Cluster => repo.clusters.push(model::cluster(&path, &node)),
            Slot::Group => repo.groups.push(model::group(&path, &node)),
            Slot::Placement => repo.placements.push(model::placement(&path, &node)),
            Slot::Unit(kind) => {
                let dir = path.rsplit_once('/').map_or("", |(d, _)| d).to_string();
                let t = templates.remove(&dir).unwrap_or_default();
                repo.units.push(model::unit(kind, &path, &dir, node, t));
            }
        }
    }
    read_declared_crds(fs, &mut repo, budget, &mut diags);
    patch_files::read(fs, &mut repo, budget, &mut diags);
    chart_files(fs, &mut repo, budget, &mut diags);
    default_versions(&mut repo, &mut diags);
    (repo, diags)
}

/// Helm components whose chart is kept in the fleet repository
/// (`helm.path`): the chart's files, and its name and version from its
/// Chart.yaml; the component's `version` defaults to the chart's and must
/// not say another.
fn chart_files(fs: &FileSet, repo: &mut Repo, budget: &Budget, diags: &mut Diags) {
    for u in &mut repo.units {
        let Some(h) = u.helm.as_mut() else { continue };
        let Some(dir) = h.path.clone() else { continue };
        let prefix = format!("{dir}/");
        if dir == format!("{}/templates", u.dir)
            || prefix.starts_with(&format!("{}/templates/", u.dir))
        {
            diags.push(Diagnostic::error(Code::HelmComponent, format!("the chart of `{}` is under templates/", u.name))
                .at(&h.span)
                .help("templates/ holds the component's own resources; keep the chart beside it, e.g. `helm: {path: chart}`"));
            continue;
        }
        h.files = fs
            .files
            .keys()
            .filter(|p| p.starts_with(&prefix))
            .cloned()
            .collect();
        let chart_yaml = format!("{dir}/Chart.yaml");
        let Some(bytes) = fs.get(&chart_yaml) else {
            diags.push(Diagnostic::error(Code::HelmComponent, format!("{dir}/ has no Chart.yaml: it is not a Helm chart")).at(&h.span)
                .help("`helm.path` names the chart's directory (the one with Chart.yaml), relative to the component's directory"));
            continue;
        };
        let src = crate::diag::Source::new(
            chart_yaml.as_str(),
            String::from_utf8_lossy(bytes).into_owned(),
        );
        let chart = match crate::yaml::parse_documents(&src, budget) {
            Ok(docs) => docs.into_iter().next(),
            Err(d) => {
                diags.push(d);
                continue;
            }
        };
        let field = |k: &str| {
            chart
                .as_ref()
                .and_then(|c| c.get(k))
                .and_then(|n| match &n.v {
                    crate::yaml::Value::Str(s) => Some(s.clone()),
                    crate::yaml::Value::Int(i) => Some(i.to_string()),
                    crate::yaml::Value::Float(f) => Some(f.to_string()),
                    _ => None,
                })
        };
        let (Some(name), Some(version)) = (field("name"), field("version")) else {
            diags.push(
                Diagnostic::error(
                    Code::HelmComponent,
                    format!("{chart_yaml} has no `name` and `version`"),
                )
                .at(&crate::diag::Span::file(&src))
                .help("a chart's Chart.yaml names it and gives its version"),
            );
            continue;
        };
        h.chart = name;
        match &u.version {
            Some(v) if *v != version => diags.push(
                Diagnostic::error(Code::HelmComponent, format!(
                    "`{}` says version {v}, and its chart in {dir}/ is version {version}", u.name))
                .at(&h.span)
                .help("a chart kept in the fleet has one version, its Chart.yaml's: drop `spec.version`, or change the chart")),
            _ => u.version = Some(version.clone()),
        }
        h.chart_version = Some(version);
    }
}

/// Clusters without `kubernetesVersion` get the Fleet's; with neither,
/// the cluster's API cannot be checked, which is an error.
fn default_versions(repo: &mut Repo, diags: &mut Diags) {
    let default = repo
        .fleet
        .as_ref()
        .and_then(|f| f.kubernetes_version.clone());
    for c in repo
        .clusters
        .iter_mut()
        .filter(|c| c.kubernetes_version.is_empty())
    {
        match &default {
            Some(v) => c.kubernetes_version = v.clone(),
            None => diags.push(
                Diagnostic::error(
                    Code::MissingField,
                    format!(
                        "cluster `{}` has no `spec.kubernetesVersion`, and the Fleet sets no default",
                        c.name
                    ),
                )
                .at(&c.name_span)
                .help("set `spec.kubernetesVersion` on the cluster, or a default for every cluster in fleet.yaml `spec.kubernetesVersion`"),
            ),
        }
    }
}

/// Read the CustomResourceDefinitions that the Fleet, the clusters and the
/// units declare in `spec.crds` (each file parsed once).
fn read_declared_crds(fs: &FileSet, repo: &mut Repo, budget: &Budget, diags: &mut Diags) {
    let mut files: std::collections::BTreeMap<String, Vec<Node>> = Default::default();
    let mut read = |declared: &mut model::DeclaredCrds| {
        let mut objects = Vec::new();
        let mut read_files = Vec::new();
        for (path, span) in &declared.paths {
            for file in crd_files(fs, path, span, diags) {
                let docs = files
                    .entry(file.clone())
                    .or_insert_with(|| crd_file(fs, &file, budget, diags));
                objects.extend(docs.iter().cloned());
                read_files.push(file);
            }
        }
        read_files.sort();
        read_files.dedup();
        declared.objects = objects;
        declared.files = read_files;
    };
    if let Some(f) = repo.fleet.as_mut() {
        read(&mut f.crds);
    }
    for c in &mut repo.clusters {
        read(&mut c.crds);
    }
    for u in &mut repo.units {
        read(&mut u.crds);
    }
}

/// The files one `spec.crds` entry names: the file, or every YAML file
/// beneath the directory. Paths are from the repository root and must lie
/// where fleetc reads (crds/, a unit's directory).
fn crd_files(fs: &FileSet, path: &str, span: &Span, diags: &mut Diags) -> Vec<String> {
    let clean = path.trim_start_matches("./").trim_end_matches('/');
    let readable = clean.starts_with("crds/")
        || clean == "crds"
        || ((clean.starts_with("components/") || clean.starts_with("policies/"))
            && clean.split('/').count() >= 3);
    let err = |message: String| {
        Diagnostic::error(Code::CrdFile, message)
            .at(span)
            .help("name a file or directory under crds/ (or under a unit's directory), from the repository root")
    };
    if clean
        .split('/')
        .any(|p| p.is_empty() || p == "." || p == "..")
        || !readable
    {
        diags.push(err(format!(
            "`{path}` is not a path fleetc reads CRDs from: paths start at the repository root, under crds/ or components/NAME/ or policies/NAME/"
        )));
        return Vec::new();
    }
    if fs.get(clean).is_some() {
        return vec![clean.to_string()];
    }
    let prefix = format!("{clean}/");
    let found: Vec<String> = fs
        .files
        .range(prefix.clone()..)
        .take_while(|(p, _)| p.starts_with(&prefix))
        .map(|(p, _)| p.clone())
        .filter(|p| is_yaml(p) && !hidden(p))
        .collect();
    if found.is_empty() {
        diags.push(err(format!("no file or directory of YAML files `{path}`")));
    }
    found
}

/// The CustomResourceDefinitions of one file; anything else in it is an
/// error (the API server would not create the kind from it).
fn crd_file(fs: &FileSet, path: &str, budget: &Budget, diags: &mut Diags) -> Vec<Node> {
    let bytes = fs
        .get(path)
        .cloned()
        .unwrap_or_else(|| Arc::from(Vec::new()));
    let Ok(src) = source_of(path, &bytes).map_err(|d| diags.push(d)) else {
        return Vec::new();
    };
    let docs = match crate::yaml::parse_documents(&src, budget) {
        Ok(d) => d,
        Err(d) => {
            diags.push(d);
            return Vec::new();
        }
    };
    let mut out = Vec::new();
    for doc in docs {
        let api = doc.get("apiVersion").and_then(Node::as_str);
        let kind = doc.get("kind").and_then(Node::as_str);
        if api != Some("apiextensions.k8s.io/v1") || kind != Some("CustomResourceDefinition") {
            let at = if doc.get("kind").is_some() {
                doc.key_span("kind")
            } else {
                doc.span.clone()
            };
            diags.push(
                Diagnostic::error(
                    Code::CrdFile,
                    format!(
                        "a CRD file holds only apiextensions.k8s.io/v1 CustomResourceDefinitions, not {} {}",
                        api.unwrap_or("(no apiVersion)"),
                        kind.unwrap_or("(no kind)")
                    ),
                )
                .at(&at)
                .help("keep only the chart's or operator's CRDs in the files `spec.crds` names (e.g. `helm show crds CHART`)"),
            );
            continue;
        }
        let problems =
            crate::kube::api::validate(*crate::kube::api::versions().end(), &doc.to_json());
        if let Some(v) = problems.first() {
            let field = crate::kube::api::render_path(&v.path);
            diags.push(
                Diagnostic::error(
                    Code::CrdFile,
                    format!("not a valid CustomResourceDefinition: `{field}`: {}", v.message),
                )
                .at(&doc.key_span("kind"))
                .help("check the CRD against `kubectl apply --dry-run=server`, or take it as the chart or operator ships it"),
            );
            continue;
        }
        out.push(doc);
    }
    out
}

/// Where one file of the repository belongs in the layout (or why it has no place).
fn place_file(fs: &FileSet, path: &str, layout: &mut Layout, diags: &mut Diags) {
    let parts: Vec<&str> = path.split('/').collect();
    match parts.as_slice() {
        ["fleet.yaml"] => layout
            .objects
            .push((Slot::Fleet, path.to_string(), String::new())),
        [dir @ ("clusters" | "groups" | "placements"), file] => {
            let slot = match *dir {
                "clusters" => Slot::Cluster,
                "groups" => Slot::Group,
                _ => Slot::Placement,
            };
            if is_yaml(file) {
                layout
                    .objects
                    .push((slot, path.to_string(), stem(file).to_string()));
            } else {
                diags.push(path_error(
                    Code::FileLayout,
                    path,
                    format!("{dir}/ holds only {} YAML files (*.yaml)", slot.kind()),
                ));
            }
        }
        [dir @ ("clusters" | "groups" | "placements"), ..] => {
            diags.push(
                path_error(
                    Code::FileLayout,
                    path,
                    format!("{dir}/ holds files only, not subdirectories"),
                )
                .help(format!("move the file directly into {dir}/")),
            );
        }
        [dir @ ("components" | "policies"), name, rest @ ..] => {
            place_unit_file(fs, path, dir, name, rest, layout, diags)
        }
        _ => {}
    }
}

/// A file under `components/<name>/` or `policies/<name>/`.
fn place_unit_file(
    fs: &FileSet,
    path: &str,
    dir: &str,
    name: &str,
    rest: &[&str],
    layout: &mut Layout,
    diags: &mut Diags,
) {
    let kind = if dir == "components" {
        UnitKind::Component
    } else {
        UnitKind::Policy
    };
    let udir = format!("{dir}/{name}");
    let obj_file = if kind == UnitKind::Component {
        "component.yaml"
    } else {
        "policy.yaml"
    };
    match rest {
        [f] if *f == obj_file => {
            layout
                .objects
                .push((Slot::Unit(kind), path.to_string(), name.to_string()))
        }
        ["templates", tail @ ..] if !tail.is_empty() => {
            let file = tail.last().copied().unwrap_or_default();
            if is_kustomization(file) {
                diags.push(kustomization_error(fs, path));
                return;
            }
            let tkind = if file.ends_with(".yaml.j2") || file.ends_with(".yml.j2") {
                TemplateKind::Jinja
            } else if file.ends_with(".j2") {
                TemplateKind::Partial
            } else if is_yaml(file) {
                if is_sops(fs.get(path).map(|b| &b[..]).unwrap_or_default()) {
                    TemplateKind::Sops
                } else {
                    TemplateKind::Plain
                }
            } else {
                diags.push(path_error(Code::FileLayout, path, "unsupported file in templates/")
                    .help("templates/ holds *.yaml (plain), *.yaml.j2 (templated) and *.j2 partials for include"));
                return;
            };
            layout
                .templates
                .entry(udir)
                .or_default()
                .push(TemplateFile {
                    rel: tail.join("/"),
                    path: path.to_string(),
                    kind: tkind,
                });
        }
        [f] if is_kustomization(f) => diags.push(kustomization_error(fs, path)),
        [f] if is_yaml(f) => {
            diags.push(
                path_error(
                    Code::FileLayout,
                    path,
                    format!("unexpected YAML file in {udir}/"),
                )
                .help(format!(
                    "the object is {udir}/{obj_file}; resources go under {udir}/templates/"
                )),
            );
        }
        [] => diags.push(path_error(
            Code::FileLayout,
            path,
            format!("{dir}/ holds one directory per {}", kind.as_str()),
        )),
        _ => {} // README and other documentation beside the object are fine.
    }
}

/// A fleet.yaml, and an object file for every unit directory with templates.
fn check_layout(layout: &Layout, diags: &mut Diags) {
    if !layout.objects.iter().any(|(s, _, _)| *s == Slot::Fleet) {
        diags.push(Diagnostic::error(Code::MissingFleet, "no fleet.yaml at the repository root")
            .help("a fleet repository has exactly one fleet.yaml (kind: Fleet); is this the right directory?"));
    }
    for udir in layout.templates.keys() {
        if !layout
            .objects
            .iter()
            .any(|(s, p, _)| matches!(s, Slot::Unit(_)) && p.starts_with(&format!("{udir}/")))
        {
            let obj = if udir.starts_with("components/") {
                "component.yaml"
            } else {
                "policy.yaml"
            };
            diags.push(path_error(
                Code::FileLayout,
                udir,
                format!("{udir}/ has templates but no {obj}"),
            ));
        }
    }
}

/// One object file parsed, its header and schema checked; None when it
/// has an error (reported).
fn read_object(
    fs: &FileSet,
    slot: Slot,
    path: &str,
    expected: &str,
    budget: &Budget,
    diags: &mut Diags,
) -> Option<Node> {
    let bytes = fs
        .get(path)
        .cloned()
        .unwrap_or_else(|| Arc::from(Vec::new()));
    let src = source_of(path, &bytes).map_err(|d| diags.push(d)).ok()?;
    let node = match crate::yaml::parse_single(&src, budget) {
        Ok(Some(n)) => n,
        Ok(None) => {
            diags.push(
                Diagnostic::error(
                    Code::WrongKind,
                    format!("empty file; expected a {} object", slot.kind()),
                )
                .at(&Span::file(&src)),
            );
            return None;
        }
        Err(d) => {
            diags.push(d);
            return None;
        }
    };
    if !check_header(slot, &node, expected, diags) {
        return None;
    }
    let errs = schema::check(slot.kind(), &node);
    if !errs.is_empty() {
        diags.extend(Diags { items: errs });
        return None;
    }
    Some(node)
}

fn is_sops(bytes: &[u8]) -> bool {
    // A top-level `sops:` key starts a line at column 0.
    bytes.starts_with(b"sops:") || bytes.windows(6).any(|w| w == b"\nsops:")
}

/// apiVersion, kind and metadata.name, before the schema (clearer messages).
fn check_header(slot: Slot, node: &Node, expected_name: &str, diags: &mut Diags) -> bool {
    if node.as_map().is_none() {
        diags.push(
            Diagnostic::error(
                Code::WrongKind,
                format!(
                    "expected a {} object (a YAML mapping), found a {}",
                    slot.kind(),
                    node.type_name()
                ),
            )
            .at(&node.span),
        );
        return false;
    }
    let mut ok = true;
    match node.get("apiVersion") {
        Some(v) if v.as_str() == Some("fleetc.dev/v1alpha1") => {}
        Some(v) => {
            diags.push(
                Diagnostic::error(Code::WrongKind, "unsupported apiVersion")
                    .at(&v.span)
                    .label("expected fleetc.dev/v1alpha1")
                    .help("write `apiVersion: fleetc.dev/v1alpha1`"),
            );
            ok = false;
        }
        None => {
            diags.push(
                Diagnostic::error(Code::WrongKind, "missing `apiVersion`")
                    .at(&node.span)
                    .help("write `apiVersion: fleetc.dev/v1alpha1`"),
            );
            ok = false;
        }
    }
    match node.get("kind").and_then(Node::as_str) {
        Some(k) if k == slot.kind() => {}
        Some(k) => {
            let dir_help = match k {
                "Fleet" => "Fleet lives in fleet.yaml at the root".to_string(),
                "Cluster" => "clusters live in clusters/<name>.yaml".to_string(),
                "ClusterGroup" => "groups live in groups/<name>.yaml".to_string(),
                "Placement" => "placements live in placements/<name>.yaml".to_string(),
                "Component" => "components live in components/<name>/component.yaml".to_string(),
                "Policy" => "policies live in policies/<name>/policy.yaml".to_string(),
                _ => format!("this file must hold a {}", slot.kind()),
            };
            diags.push(
                Diagnostic::error(
                    Code::WrongKind,
                    format!("expected kind {}, found {k}", slot.kind()),
                )
                .at(&node
                    .get("kind")
                    .map_or(node.span.clone(), |n| n.span.clone()))
                .help(dir_help),
            );
            ok = false;
        }
        None => {
            diags.push(
                Diagnostic::error(
                    Code::WrongKind,
                    format!("missing `kind` (expected {})", slot.kind()),
                )
                .at(&node.span),
            );
            ok = false;
        }
    }
    if !ok {
        return false;
    }
    if slot != Slot::Fleet {
        if let Some(n) = node
            .get_path(&["metadata", "name"])
            .and_then(|n| n.as_str().map(|s| (s, n)))
        {
            if n.0 != expected_name {
                diags.push(
                    Diagnostic::error(
                        Code::NameMismatch,
                        format!(
                            "metadata.name `{}` does not match the file name `{expected_name}`",
                            n.0
                        ),
                    )
                    .at(&n.1.span)
                    .help("the file (or directory) name is the object's name; rename one of them"),
                );
                return false;
            }
        }
    }
    true
}
