//! Reading a kustomize layout: the kustomization of each overlay, the
//! bases it lists (recursively, as one component each), the kustomize
//! components it includes, and its changes.
//!
//! Bases hold resources (files, or directories of further plain
//! kustomizations), may set `namespace` and generate ConfigMaps and
//! Secrets. Overlays list bases and resource files, include kustomize
//! components, generate objects, and change them with
//! `patchesStrategicMerge`, `patches`, `namespace`, `labels`,
//! `commonAnnotations`, `patchesJson6902`, `replicas` and `images`, which
//! kustomize applies in that order (a component's before the overlay's);
//! each becomes patch files in the same order (`changes`), and generated
//! names are written into references last (`generators`). Every other
//! field is reported with the reason it is not imported.

mod changes;
mod generators;
mod names;
mod state;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use super::{join, label_of, Cluster, Component, Layout, ObjectId, Overlay, Tree};
use crate::diag::{Code, Diagnostic, Diags, Source, Span};
use crate::yaml::{parse_documents, Budget, Node};

const FILE_NAMES: [&str; 3] = ["kustomization.yaml", "kustomization.yml", "Kustomization"];
/// What a kustomize component (`kind: Component`) an overlay includes may
/// say; an overlay may say all of it, and [`OVERLAY_ONLY`].
const COMPONENT_FIELDS: &[&str] = &[
    "apiVersion",
    "kind",
    "metadata",
    "resources",
    "patchesStrategicMerge",
    "patches",
    "patchesJson6902",
    "replicas",
    "images",
    "commonLabels",
    "labels",
    "commonAnnotations",
    "sortOptions",
];
const OVERLAY_ONLY: &[&str] = &[
    "bases",
    "namePrefix",
    "nameSuffix",
    "namespace",
    "configMapGenerator",
    "secretGenerator",
    "components",
];
const BASE_FIELDS: &[&str] = &[
    "apiVersion",
    "kind",
    "metadata",
    "resources",
    "bases",
    "namespace",
    "configMapGenerator",
    "secretGenerator",
    "sortOptions",
];
/// Nesting of bases in bases.
const MAX_DEPTH: usize = 16;

/// Why a kustomization field is not imported.
/// Which kind of kustomization a field is in.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Role {
    Overlay,
    Base,
    Component,
}

impl Role {
    fn as_str(self) -> &'static str {
        match self {
            Role::Overlay => "an overlay",
            Role::Base => "a base",
            Role::Component => "a kustomize component",
        }
    }
}

fn why_not(field: &str, role: Role) -> String {
    let s = match field {
        "namespace" | "configMapGenerator" | "secretGenerator" if role == Role::Component => {
            "not imported in a component yet: move it to the overlay that includes the component"
        }
        "namePrefix" | "nameSuffix" if role == Role::Base => "a shared base's names are the same on every cluster; rename them in the base's files (an overlay's prefix and suffix are imported)",
        "namePrefix" | "nameSuffix" => "not imported in a component yet: move it to the overlay that includes the component",
        "labels" | "commonLabels" | "commonAnnotations" => "labels and annotations of a shared base apply on every cluster; add them to the base's files (an overlay's are imported)",
        "generatorOptions" => "options for every generator (labels, annotations, immutable) are not imported: set them on the generated objects by hand after importing",
        "components" => "a kustomize component can be included by an overlay, not by a base or another component",
        "helmCharts" | "helmGlobals" => "the chart would be inflated by Helm; make it a Helm component (`helm`) of the new fleet",
        "replacements" | "vars" => "it copies fields between objects; write the values in place",
        "transformers" | "generators" | "validators" => "plugins run code fleetc cannot see",
        "crds" | "configurations" | "openapi" => "it changes kustomize's knowledge of schemas, which fleetc cannot follow",
        "buildMetadata" => "it adds kustomize's own labels and annotations",
        "patchesStrategicMerge" | "patches" | "patchesJson6902" | "replicas" | "images"
            if role == Role::Base =>
        {
            "changes in a shared base apply on every cluster; apply them to the base's files (or import the base's directory as an overlay)"
        }
        _ => "fleetc does not know this kustomization field",
    };
    s.to_string()
}

fn unsupported(at: &Span, message: String, help: impl Into<String>) -> Diagnostic {
    Diagnostic::error(Code::ImportUnsupported, message)
        .at(at)
        .help(help)
}

struct Kust {
    dir: String,
    node: Node,
}

/// A component being read: its public part and its parsed documents.
struct Read {
    comp: Component,
    docs: Vec<Node>,
    /// Changes every cluster makes first: the base's generated names
    /// written into its references.
    first: Vec<super::Change>,
    /// (kind, generator name, object name) of the objects its generators
    /// made under another name.
    generated: Vec<(&'static str, String, String)>,
}

impl Read {
    /// A component with nothing read into it yet.
    fn new(name: String, from: &str, namespace: Option<String>) -> Read {
        Read {
            comp: Component {
                name,
                from: from.to_string(),
                namespace,
                renders_namespace: false,
                defines_kinds: Vec::new(),
                cluster_kinds: Vec::new(),
                templates: Vec::new(),
                objects: Vec::new(),
            },
            docs: Vec::new(),
            first: Vec::new(),
            generated: Vec::new(),
        }
    }
}

struct Reader<'a> {
    tree: &'a dyn Tree,
    budget: Budget,
    diags: Diags,
    comps: Vec<Read>,
    /// Base directory → component.
    bases: BTreeMap<String, usize>,
    /// Local resource files (sorted) → component.
    locals: BTreeMap<Vec<String>, usize>,
    names: BTreeSet<String>,
    /// The objects the overlay being read generates, by their final names
    /// (a prefix or suffix does not rename them again).
    final_names: BTreeSet<String>,
}

/// Read the layout of `overlays`; every problem at once.
pub fn read(tree: &dyn Tree, overlays: &[Overlay]) -> Result<Layout, Diags> {
    let mut r = Reader {
        tree,
        budget: Budget::default(),
        diags: Diags::default(),
        comps: Vec::new(),
        bases: BTreeMap::new(),
        locals: BTreeMap::new(),
        names: BTreeSet::new(),
        final_names: BTreeSet::new(),
    };
    let mut clusters = Vec::new();
    let mut cluster_names = BTreeSet::new();
    for o in overlays {
        let name = o
            .name
            .clone()
            .unwrap_or_else(|| label_of(o.dir.rsplit('/').next().unwrap_or(&o.dir)));
        if !cluster_names.insert(name.clone()) {
            r.diags.push(Diagnostic::error(
                Code::Usage,
                format!(
                    "two overlays become cluster `{name}`: name one of them (`NAME={}`)",
                    o.dir
                ),
            ));
            continue;
        }
        if let Some(c) = r.overlay(&name, &o.dir) {
            clusters.push(c);
        }
    }
    if r.diags.has_errors() {
        r.diags.normalize();
        return Err(r.diags);
    }
    Ok(Layout {
        components: r.comps.into_iter().map(|c| c.comp).collect(),
        clusters,
    })
}

impl Reader<'_> {
    fn read_bytes(&mut self, path: &str) -> Option<Vec<u8>> {
        match self.tree.read(path) {
            Ok(b) => Some(b),
            Err(e) => {
                self.diags.push(Diagnostic::error(
                    Code::Io,
                    format!("cannot read {path}: {e}"),
                ));
                None
            }
        }
    }

    /// Parse `bytes`, shown as `path` in messages.
    fn parse_text(&mut self, path: &str, bytes: &[u8]) -> Option<(Arc<Source>, Vec<Node>)> {
        let Ok(text) = std::str::from_utf8(bytes) else {
            self.diags.push(Diagnostic::error(
                Code::Io,
                format!("{path} is not UTF-8 text"),
            ));
            return None;
        };
        let src = Source::new(path, text);
        match parse_documents(&src, &self.budget) {
            Ok(docs) => Some((src, docs)),
            Err(d) => {
                self.diags.push(d);
                None
            }
        }
    }

    fn parse(&mut self, path: &str) -> Option<(Arc<Source>, Vec<Node>)> {
        let bytes = self.read_bytes(path)?;
        self.parse_text(path, &bytes)
    }

    fn kustomization(&mut self, dir: &str, from: Option<&Span>) -> Option<Kust> {
        let Some(file) = FILE_NAMES
            .iter()
            .map(|f| join(dir, f))
            .find(|p| self.tree.is_file(p))
        else {
            let mut d = Diagnostic::error(
                Code::ImportUnsupported,
                format!("{dir} has no kustomization.yaml"),
            )
            .help("each overlay and each base is a directory that `kubectl kustomize` builds");
            if let Some(at) = from {
                d = d.at(at);
            }
            self.diags.push(d);
            return None;
        };
        let (src, docs) = self.parse(&file)?;
        let Some(node) = docs.into_iter().next().filter(|n| n.as_map().is_some()) else {
            self.diags.push(
                Diagnostic::error(
                    Code::ImportUnsupported,
                    format!("{file} is not a kustomization"),
                )
                .at(&Span::file(&src)),
            );
            return None;
        };
        Some(Kust {
            dir: dir.to_string(),
            node,
        })
    }

    /// Report the fields of `k` outside `allowed`.
    fn check_fields(&mut self, k: &Kust, allowed: &[&[&str]], role: Role) {
        for (key, _) in k.node.as_map().into_iter().flatten() {
            if !allowed.iter().any(|a| a.contains(&key.name.as_str())) {
                self.diags.push(unsupported(
                    &key.span,
                    format!("`{}` in {} cannot be imported", key.name, role.as_str()),
                    why_not(&key.name, role),
                ));
            }
        }
    }

    /// The entries of a list of strings (`resources`, `bases`, ...).
    fn strings<'n>(&mut self, k: &'n Kust, field: &str) -> Vec<(&'n str, Span)> {
        let Some(n) = k.node.get(field) else {
            return Vec::new();
        };
        let Some(items) = n.as_seq() else {
            self.diags.push(unsupported(
                &n.span,
                format!("`{field}` must be a list"),
                "as kubectl kustomize reads it",
            ));
            return Vec::new();
        };
        items
            .iter()
            .filter_map(|i| match i.as_str() {
                Some(s) => Some((s, i.span.clone())),
                None => {
                    self.diags.push(unsupported(
                        &i.span,
                        format!("an entry of `{field}` must be a string"),
                        "as kubectl kustomize reads it",
                    ));
                    None
                }
            })
            .collect()
    }

    /// The resources a kustomization (an overlay, or a kustomize component
    /// it includes) lists: bases become components, files local resources.
    fn resource_entries(&mut self, k: &Kust, components: &mut Vec<usize>, local: &mut Vec<String>) {
        let mut entries = self.strings(k, "resources");
        entries.extend(self.strings(k, "bases"));
        for (entry, span) in entries {
            if entry.contains("://") || entry.starts_with("github.com/") {
                self.diags.push(unsupported(
                    &span,
                    format!("remote resource `{entry}` cannot be imported"),
                    "copy what it holds into the layout first",
                ));
                continue;
            }
            let path = join(&k.dir, entry);
            if self.tree.is_dir(&path) {
                if let Some(c) = self.base(&path, &span) {
                    components.push(c);
                }
            } else if self.tree.is_file(&path) {
                local.push(path);
            } else {
                self.diags.push(unsupported(
                    &span,
                    format!("resource `{entry}` ({path}) does not exist"),
                    "kubectl kustomize would fail on it too",
                ));
            }
        }
    }

    /// The kustomize components (`kind: Component`) an overlay includes:
    /// their resources join the overlay's, and their changes apply, in
    /// order, before the overlay's own (as kustomize applies them).
    fn kustomize_components(&mut self, k: &Kust, components: &mut Vec<usize>) -> Vec<Kust> {
        let mut out = Vec::new();
        for (entry, span) in self.strings(k, "components") {
            let path = join(&k.dir, entry);
            let Some(ck) = self.kustomization(&path, Some(&span)) else {
                continue;
            };
            self.check_fields(&ck, &[COMPONENT_FIELDS], Role::Component);
            // Its resource files: a component of the fleet, shared by the
            // overlays that include it.
            let mut own = Vec::new();
            self.resource_entries(&ck, components, &mut own);
            if !own.is_empty() {
                let preferred = path.rsplit('/').next().unwrap_or(&path).to_string();
                if let Some(c) = self.local(&preferred, &path, own, &[]) {
                    components.push(c);
                }
            }
            out.push(ck);
        }
        out
    }

    fn overlay(&mut self, name: &str, dir: &str) -> Option<Cluster> {
        let k = self.kustomization(dir, None)?;
        self.check_fields(&k, &[COMPONENT_FIELDS, OVERLAY_ONLY], Role::Overlay);
        let mut components = Vec::new();
        let mut local = Vec::new();
        self.resource_entries(&k, &mut components, &mut local);
        let included = self.kustomize_components(&k, &mut components);
        let generated = self.generators(&k);
        // Their names are final: the overlay's prefix and suffix are in them.
        self.final_names = generated.iter().map(|g| g.hashed.clone()).collect();
        if !local.is_empty() || !generated.is_empty() {
            if let Some(c) = self.local(&format!("{name}-resources"), dir, local, &generated) {
                components.push(c);
            }
        }
        components.sort_unstable();
        components.dedup();
        // The bases' own reference changes first, then each included
        // component's changes, then the overlay's: each sees those before.
        let mut changes: BTreeMap<usize, Vec<super::Change>> = components
            .iter()
            .filter(|&&c| !self.comps[c].first.is_empty())
            .map(|&c| (c, self.comps[c].first.clone()))
            .collect();
        for kust in included.iter().chain([&k]) {
            changes = changes::changes(self, kust, &components, changes);
        }
        self.generated_references(&components, &generated, &mut changes);
        Some(Cluster {
            name: name.to_string(),
            dir: dir.to_string(),
            namespace: k
                .node
                .get("namespace")
                .and_then(Node::as_str)
                .map(String::from),
            components,
            changes,
        })
    }

    fn unique_name(&mut self, preferred: &str, fallback: &str) -> String {
        let mut name = label_of(preferred);
        if self.names.contains(&name) {
            name = label_of(fallback);
        }
        let stem = name.clone();
        let mut n = 2;
        while self.names.contains(&name) {
            name = format!("{stem}-{n}");
            n += 1;
        }
        self.names.insert(name.clone());
        name
    }

    /// A base directory as a component (read once, however many overlays list it).
    fn base(&mut self, dir: &str, from: &Span) -> Option<usize> {
        if let Some(i) = self.bases.get(dir) {
            return Some(*i);
        }
        let k = self.kustomization(dir, Some(from))?;
        self.check_fields(&k, &[BASE_FIELDS], Role::Base);
        let segs: Vec<&str> = dir.split('/').filter(|s| *s != "..").collect();
        let preferred = match segs.as_slice() {
            [.., parent, last] if matches!(*last, "base" | "bases") => parent.to_string(),
            [.., last] => last.to_string(),
            [] => "base".into(),
        };
        let name = self.unique_name(&preferred, &segs.join("-"));
        let namespace = k
            .node
            .get("namespace")
            .and_then(Node::as_str)
            .map(String::from);
        let mut read = Read::new(name, dir, namespace);
        let mut seen = BTreeSet::new();
        self.base_resources(&k, dir, &mut read, &mut seen, 0);
        let generated = self.generators(&k);
        read.first = reference_changes(&read, &generated);
        for g in &generated {
            self.add_generated(g, &mut read);
        }
        Some(self.add(read, Some(dir)))
    }

    /// The resources of kustomization `k` (a base, or a directory nested in
    /// one), with paths under `templates/` relative to the base `root`.
    fn base_resources(
        &mut self,
        k: &Kust,
        root: &str,
        read: &mut Read,
        seen: &mut BTreeSet<String>,
        depth: usize,
    ) {
        let mut entries = self.strings(k, "resources");
        entries.extend(self.strings(k, "bases"));
        for (entry, span) in entries {
            let path = join(&k.dir, entry);
            if !seen.insert(path.clone()) {
                continue;
            }
            if self.tree.is_dir(&path) && depth < MAX_DEPTH {
                let Some(inner) = self.kustomization(&path, Some(&span)) else {
                    continue;
                };
                self.check_fields(&inner, &[BASE_FIELDS], Role::Base);
                if let Some(ns) = inner.node.get("namespace") {
                    self.diags.push(unsupported(
                        &ns.span,
                        "`namespace` in a kustomization nested in a base cannot be imported".into(),
                        "set it on the base the overlays list",
                    ));
                }
                self.base_resources(&inner, root, read, seen, depth + 1);
            } else if self.tree.is_file(&path) {
                let rel = relative_to(&path, root);
                self.resource_file(&path, rel, read);
            } else {
                self.diags.push(unsupported(
                    &span,
                    format!("resource `{entry}` ({path}) does not exist, or nests too deep"),
                    "kubectl kustomize would fail on it too",
                ));
            }
        }
    }

    /// One resource file: its objects, kept as a template.
    fn resource_file(&mut self, path: &str, rel: String, read: &mut Read) {
        let Some(bytes) = self.read_bytes(path) else {
            return;
        };
        let Some((src, docs)) = self.parse_text(path, &bytes) else {
            return;
        };
        let rel = if rel.ends_with(".yaml") || rel.ends_with(".yml") {
            rel
        } else {
            format!("{rel}.yaml")
        };
        for d in docs.into_iter().filter(|d| !d.is_null()) {
            let field = |k: &str| d.get(k).and_then(Node::as_str).map(String::from);
            let meta = |k: &str| {
                d.get_path(&["metadata", k])
                    .and_then(Node::as_str)
                    .map(String::from)
            };
            let (Some(api_version), Some(kind), Some(name)) =
                (field("apiVersion"), field("kind"), meta("name"))
            else {
                self.diags.push(unsupported(
                    &Span::file(&src),
                    format!("{path} holds a document that is not a Kubernetes object with a name"),
                    "every resource needs apiVersion, kind and metadata.name",
                ));
                continue;
            };
            if kind == "List" || kind.ends_with("List") && d.get("items").is_some() {
                self.diags.push(unsupported(
                    &d.key_span("kind"),
                    format!("a `{kind}` in {path} cannot be imported"),
                    "write each item as its own document",
                ));
                continue;
            }
            if kind == "Namespace" && read.comp.namespace.as_deref() == Some(name.as_str()) {
                read.comp.renders_namespace = true;
            }
            if kind == "CustomResourceDefinition" {
                let spec = |p: &[&str]| d.get_path(p).and_then(Node::as_str).map(String::from);
                if let (Some(k), Some(g)) =
                    (spec(&["spec", "names", "kind"]), spec(&["spec", "group"]))
                {
                    if spec(&["spec", "scope"]).as_deref() == Some("Cluster") {
                        read.comp.cluster_kinds.push(format!("{k}.{g}"));
                    }
                    read.comp.defines_kinds.push(format!("{k}.{g}"));
                }
            }
            read.comp.objects.push(ObjectId {
                api_version,
                kind,
                name,
                namespace: meta("namespace"),
            });
            read.docs.push(d);
        }
        read.comp.templates.push((rel, bytes));
    }

    /// Resource files an overlay (or a kustomize component it includes)
    /// lists itself: a component of their own, named `preferred`, shared
    /// by the overlays that list the same files.
    fn local(
        &mut self,
        preferred: &str,
        dir: &str,
        mut files: Vec<String>,
        generated: &[generators::Generated],
    ) -> Option<usize> {
        files.sort();
        files.dedup();
        if generated.is_empty() {
            if let Some(i) = self.locals.get(&files) {
                return Some(*i);
            }
        }
        let name = self.unique_name(preferred, &format!("{dir}-resources"));
        let mut read = Read::new(name, dir, None);
        for f in &files {
            let rel = f.rsplit('/').next().unwrap_or(f).to_string();
            self.resource_file(f, rel, &mut read);
        }
        for g in generated {
            self.add_generated(g, &mut read);
        }
        let i = self.add(read, None);
        if generated.is_empty() {
            self.locals.insert(files, i);
        }
        Some(i)
    }

    /// A generated object as one of the component's resource files.
    fn add_generated(&mut self, g: &generators::Generated, read: &mut Read) {
        if g.hashed != g.name {
            read.generated
                .push((g.kind, g.name.clone(), g.hashed.clone()));
        }
        let rel = format!("{}-{}.yaml", g.kind.to_ascii_lowercase(), g.name);
        let path = format!("<generated {} {}>", g.kind, g.name);
        let src = Source::new(path.as_str(), g.yaml.clone());
        let Ok(docs) = parse_documents(&src, &self.budget) else {
            return;
        };
        for d in docs {
            read.comp.objects.push(ObjectId {
                api_version: "v1".into(),
                kind: g.kind.into(),
                name: g.hashed.clone(),
                namespace: d
                    .get_path(&["metadata", "namespace"])
                    .and_then(Node::as_str)
                    .map(String::from),
            });
            read.docs.push(d);
        }
        read.comp.templates.push((rel, g.yaml.clone().into_bytes()));
    }

    /// An overlay's generated names written into the references of every
    /// component on its cluster, after all its other changes (kustomize
    /// fixes references at the end of the build). A patch of the overlay
    /// that names a generated object itself is refused: its reference
    /// would have to be rewritten too.
    fn generated_references(
        &mut self,
        comps: &[usize],
        generated: &[generators::Generated],
        changes: &mut BTreeMap<usize, Vec<super::Change>>,
    ) {
        // Only names that change: a generator without the hash keeps its name.
        let mut renamed: Vec<generators::Generated> = generated
            .iter()
            .filter(|g| g.hashed != g.name)
            .map(generators::Generated::renamed)
            .collect();
        for &c in comps {
            renamed.extend(self.comps[c].generated.iter().map(|(kind, name, _)| {
                generators::Generated::renamed(&generators::Generated {
                    kind,
                    name: name.clone(),
                    hashed: String::new(),
                    yaml: String::new(),
                })
            }));
        }
        let mut found = Vec::new();
        for (c, list) in changes.iter() {
            for ch in list {
                let src = Source::new(
                    ch.file_name.as_str(),
                    String::from_utf8_lossy(&ch.bytes).into_owned(),
                );
                let docs = parse_documents(&src, &self.budget).unwrap_or_default();
                if let Some(g) = renamed.iter().find(|g| {
                    docs.iter()
                        .any(|d| !generators::reference_ops(d, std::slice::from_ref(*g)).is_empty())
                }) {
                    found.push((ch.file_name.clone(), *c, g.kind, g.name.clone()));
                }
            }
        }
        for (file, c, kind, name) in found {
            self.diags.push(
                Diagnostic::error(
                    Code::ImportUnsupported,
                    format!("patch {file} of `{}` names the generated {kind} `{name}`", self.comps[c].comp.name),
                )
                .help("kustomize rewrites that reference to the generated name with its hash; write the hashed name in the patch, or set the generator's `options.disableNameSuffixHash: true`"),
            );
        }
        // On the objects as the overlay's changes leave them (renamed, moved).
        for &c in comps {
            let list = changes.entry(c).or_default();
            let refs = changes::object_changes(&self.comps[c], list, "references", &|_, doc, _| {
                generators::reference_ops(doc, generated)
            });
            list.extend(refs);
        }
    }

    fn add(&mut self, read: Read, base: Option<&str>) -> usize {
        let i = self.comps.len();
        self.comps.push(read);
        if let Some(dir) = base {
            self.bases.insert(dir.to_string(), i);
        }
        i
    }
}

/// The JSON 6902 changes that write generated names into the references
/// of a component's objects, one per object that has any.
fn reference_changes(read: &Read, generated: &[generators::Generated]) -> Vec<super::Change> {
    if generated.is_empty() {
        return Vec::new();
    }
    changes::object_changes(read, &[], "references", &|_, doc, _| {
        generators::reference_ops(doc, generated)
    })
}

/// `path` relative to directory `root` (a path under it, or its file name).
fn relative_to(path: &str, root: &str) -> String {
    path.strip_prefix(root)
        .and_then(|r| r.strip_prefix('/'))
        .filter(|r| !r.starts_with(".."))
        .map_or_else(
            || path.rsplit('/').next().unwrap_or(path).to_string(),
            String::from,
        )
}
