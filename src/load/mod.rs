//! Loading: the [`FileSet`] becomes a typed [`Repo`].
//!
//! Each file is put in its place by path (SPEC §1), parsed strictly with
//! spans, checked for the kind its directory holds, for `metadata.name`
//! against the file name, and against its JSON Schema; only objects that pass
//! become typed model values. Every problem in every file is reported.

mod fast;
pub mod model;
pub mod yaml;

use std::sync::Arc;

use crate::diag::{Diagnostic, Diags, Source, Span};
use crate::source::{path_error, FileSet};
use crate::validate::schema;
use model::{Repo, TemplateFile, TemplateKind, UnitKind};
use yaml::{Budget, Node};

/// Make a [`Source`] for a repo file; non-UTF-8 content is an error.
pub fn source_of(path: &str, bytes: &[u8]) -> Result<Arc<Source>, Diagnostic> {
    match std::str::from_utf8(bytes) {
        Ok(t) => Ok(Source::new(path, t)),
        Err(e) => Err(path_error(
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
            Diagnostic::error(message).at(&Span::new(&src, 0, end))
        }
        _ => path_error(path, message),
    };
    d.help(KUSTOMIZE_HELP)
}

fn stem(name: &str) -> &str {
    name.strip_suffix(".yaml")
        .or_else(|| name.strip_suffix(".yml"))
        .unwrap_or(name)
}

fn hidden(path: &str) -> bool {
    path.split('/').any(|p| p.starts_with('.'))
}

/// Load every fleet object of the file set.
pub fn load(fs: &FileSet, budget: &Budget) -> (Repo, Diags) {
    let mut diags = Diags::default();
    let mut repo = Repo::default();
    // (slot, path, expected name) of every object file, plus unit templates by unit dir.
    let mut objects: Vec<(Slot, String, String)> = Vec::new();
    let mut templates: std::collections::BTreeMap<String, Vec<TemplateFile>> = Default::default();

    for path in fs.files.keys() {
        if hidden(path) {
            continue;
        }
        let parts: Vec<&str> = path.split('/').collect();
        match parts.as_slice() {
            ["fleet.yaml"] => objects.push((Slot::Fleet, path.clone(), String::new())),
            [dir @ ("clusters" | "groups" | "placements"), file] => {
                let slot = match *dir {
                    "clusters" => Slot::Cluster,
                    "groups" => Slot::Group,
                    _ => Slot::Placement,
                };
                if is_yaml(file) {
                    objects.push((slot, path.clone(), stem(file).to_string()));
                } else {
                    diags.push(path_error(
                        path,
                        format!("{dir}/ holds only {} YAML files (*.yaml)", slot.kind()),
                    ));
                }
            }
            [dir @ ("clusters" | "groups" | "placements"), ..] => {
                diags.push(
                    path_error(path, format!("{dir}/ holds files only, not subdirectories"))
                        .help(format!("move the file directly into {dir}/")),
                );
            }
            [dir @ ("components" | "policies"), name, rest @ ..] => {
                let kind = if *dir == "components" {
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
                        objects.push((Slot::Unit(kind), path.clone(), name.to_string()))
                    }
                    ["templates", tail @ ..] if !tail.is_empty() => {
                        let rel = tail.join("/");
                        let file = tail.last().copied().unwrap_or_default();
                        if is_kustomization(file) {
                            diags.push(kustomization_error(fs, path));
                            continue;
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
                            diags.push(path_error(path, "unsupported file in templates/")
                                .help("templates/ holds *.yaml (plain), *.yaml.j2 (templated) and *.j2 partials for include"));
                            continue;
                        };
                        templates.entry(udir).or_default().push(TemplateFile {
                            rel,
                            path: path.clone(),
                            kind: tkind,
                        });
                    }
                    [f] if is_kustomization(f) => diags.push(kustomization_error(fs, path)),
                    [f] if is_yaml(f) => {
                        diags.push(path_error(path, format!("unexpected YAML file in {udir}/"))
                            .help(format!("the object is {udir}/{obj_file}; resources go under {udir}/templates/")));
                    }
                    [] => diags.push(path_error(
                        path,
                        format!("{dir}/ holds one directory per {}", kind.as_str()),
                    )),
                    _ => {} // README and other documentation beside the object are fine.
                }
            }
            _ => {}
        }
    }

    if !objects.iter().any(|(s, _, _)| *s == Slot::Fleet) {
        diags.push(Diagnostic::error("no fleet.yaml at the repository root")
            .help("a fleet repository has exactly one fleet.yaml (kind: Fleet); is this the right directory?"));
    }
    // A component directory without its object file.
    for udir in templates.keys() {
        if !objects
            .iter()
            .any(|(s, p, _)| matches!(s, Slot::Unit(_)) && p.starts_with(&format!("{udir}/")))
        {
            let obj = if udir.starts_with("components/") {
                "component.yaml"
            } else {
                "policy.yaml"
            };
            diags.push(path_error(
                udir,
                format!("{udir}/ has templates but no {obj}"),
            ));
        }
    }

    for (slot, path, expected) in objects {
        let bytes = fs
            .get(&path)
            .cloned()
            .unwrap_or_else(|| Arc::from(Vec::new()));
        let src = match source_of(&path, &bytes) {
            Ok(s) => s,
            Err(d) => {
                diags.push(d);
                continue;
            }
        };
        let node = match yaml::parse_single(&src, budget) {
            Ok(Some(n)) => n,
            Ok(None) => {
                diags.push(
                    Diagnostic::error(format!("empty file; expected a {} object", slot.kind()))
                        .at(&Span::file(&src)),
                );
                continue;
            }
            Err(d) => {
                diags.push(d);
                continue;
            }
        };
        if !check_header(slot, &node, &expected, &mut diags) {
            continue;
        }
        let errs = schema::check(slot.kind(), &node);
        if !errs.is_empty() {
            for e in errs {
                diags.push(e);
            }
            continue;
        }
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
    (repo, diags)
}

fn is_sops(bytes: &[u8]) -> bool {
    // A top-level `sops:` key starts a line at column 0.
    bytes.starts_with(b"sops:") || bytes.windows(6).any(|w| w == b"\nsops:")
}

/// apiVersion, kind and metadata.name, before the schema (clearer messages).
fn check_header(slot: Slot, node: &Node, expected_name: &str, diags: &mut Diags) -> bool {
    if node.as_map().is_none() {
        diags.push(
            Diagnostic::error(format!(
                "expected a {} object (a YAML mapping), found a {}",
                slot.kind(),
                node.type_name()
            ))
            .at(&node.span),
        );
        return false;
    }
    let mut ok = true;
    match node.get("apiVersion") {
        Some(v) if v.as_str() == Some("fleetc.dev/v1alpha1") => {}
        Some(v) => {
            diags.push(
                Diagnostic::error("unsupported apiVersion")
                    .at(&v.span)
                    .label("expected fleetc.dev/v1alpha1")
                    .help("write `apiVersion: fleetc.dev/v1alpha1`"),
            );
            ok = false;
        }
        None => {
            diags.push(
                Diagnostic::error("missing `apiVersion`")
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
                Diagnostic::error(format!("expected kind {}, found {k}", slot.kind()))
                    .at(&node
                        .get("kind")
                        .map_or(node.span.clone(), |n| n.span.clone()))
                    .help(dir_help),
            );
            ok = false;
        }
        None => {
            diags.push(
                Diagnostic::error(format!("missing `kind` (expected {})", slot.kind()))
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
                    Diagnostic::error(format!(
                        "metadata.name `{}` does not match the file name `{expected_name}`",
                        n.0
                    ))
                    .at(&n.1.span)
                    .help("the file (or directory) name is the object's name; rename one of them"),
                );
                return false;
            }
        }
    }
    true
}
