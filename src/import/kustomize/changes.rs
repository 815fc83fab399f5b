//! An overlay's changes to its components, in the order kustomize applies
//! them (`patchesStrategicMerge`, `patches`, `patchesJson6902`,
//! `replicas`, `images`), each as the patch files of a placement entry:
//! a patch file is kept byte for byte when all of it goes to one
//! component; `replicas` and `images` become generated patch files.

use std::collections::BTreeMap;

use serde_json::json;

use super::{names, state, unsupported, Kust, Read, Reader};
use crate::diag::{Diagnostic, Span};
use crate::import::{join, label_of, Change, ObjectId};
use crate::yaml::{Node, Value};

/// A target as fleetc's patch entries have it: group, version, kind, name.
type Target = [Option<String>; 4];

/// Kinds whose `spec.replicas` kustomize's `replicas` sets.
const SCALABLE: [&str; 4] = [
    "Deployment",
    "ReplicaSet",
    "StatefulSet",
    "ReplicationController",
];

/// The changes of kustomization `k` to `comps`, after `before` (which the
/// result begins with).
pub(super) fn changes(
    r: &mut Reader,
    k: &Kust,
    comps: &[usize],
    before: BTreeMap<usize, Vec<Change>>,
) -> BTreeMap<usize, Vec<Change>> {
    let mut c = Changes {
        r,
        comps,
        dir: &k.dir,
        out: before,
        inline: 0,
        renames: Vec::new(),
    };
    for (entry, span) in c.r.strings(k, "patchesStrategicMerge") {
        if let Some((name, bytes)) = c.content(Some(entry), None, &span) {
            c.patch(&name, bytes, None, &span);
        }
    }
    let seq = |f: &str| k.node.get(f).and_then(Node::as_seq).unwrap_or_default();
    for entry in seq("patches") {
        c.entry("patches", entry);
    }
    if let Some(ns) = k.node.get("namespace") {
        c.namespace(ns);
    }
    let affix = |f: &str| k.node.get(f).and_then(Node::as_str).unwrap_or_default();
    let (prefix, suffix) = (affix("namePrefix"), affix("nameSuffix"));
    if !prefix.is_empty() || !suffix.is_empty() {
        c.names(prefix, suffix);
    }
    if let Some(map) = k.node.get("commonLabels") {
        c.common_labels(map);
    }
    if let Some(list) = k.node.get("labels").and_then(Node::as_seq) {
        c.labels(list);
    }
    if let Some(map) = k.node.get("commonAnnotations") {
        c.annotations(map);
    }
    for entry in seq("patchesJson6902") {
        c.entry("patchesJson6902", entry);
    }
    if let Some(list) = k.node.get("replicas").and_then(Node::as_seq) {
        c.replicas(list);
    }
    if let Some(list) = k.node.get("images").and_then(Node::as_seq) {
        c.images(list);
    }
    c.out
}

struct Changes<'r, 'a> {
    r: &'r mut Reader<'a>,
    comps: &'r [usize],
    dir: &'r str,
    out: BTreeMap<usize, Vec<Change>>,
    /// Inline patches so far (they become `patch-<n>.yaml`).
    inline: usize,
    /// (kind, old name, new name) of the objects `namePrefix`/`nameSuffix`
    /// renamed: a later patch's target by the old name follows.
    renames: Vec<(String, String, String)>,
}

pub(super) fn group_version(api_version: &str) -> (String, String) {
    match api_version.split_once('/') {
        Some((g, v)) => (g.to_string(), v.to_string()),
        None => (String::new(), api_version.to_string()),
    }
}

/// Whether `t` (and `namespace`) selects object `o`.
pub(super) fn matches(o: &ObjectId, t: &Target, namespace: Option<&str>) -> bool {
    let (g, v) = group_version(&o.api_version);
    let same = |want: &Option<String>, got: &str| want.as_deref().is_none_or(|w| w == got);
    same(&t[0], &g)
        && same(&t[1], &v)
        && same(&t[2], &o.kind)
        && same(&t[3], &o.name)
        && namespace.is_none_or(|ns| o.namespace.as_deref() == Some(ns))
}

impl Changes<'_, '_> {
    /// A patch's (file name, bytes): from its file, or inline.
    fn content(
        &mut self,
        path: Option<&str>,
        inline: Option<&str>,
        span: &Span,
    ) -> Option<(String, Vec<u8>)> {
        let file = path.map(|p| join(self.dir, p));
        if let Some(f) = file.as_deref().filter(|f| self.r.tree.is_file(f)) {
            if !f.starts_with(&format!("{}/", self.dir)) {
                self.r.diags.push(unsupported(
                    span,
                    format!("patch file {f} is outside the overlay {}", self.dir),
                    "kubectl kustomize loads patches only from inside the kustomization's directory (and fails here); keep a copy in the overlay",
                ));
                return None;
            }
        }
        match (file, inline) {
            (Some(f), _) if self.r.tree.is_file(&f) => {
                let bytes = self.r.read_bytes(&f)?;
                Some((f.rsplit('/').next().unwrap_or(&f).to_string(), bytes))
            }
            (Some(_), None) if path.is_some_and(|p| p.contains('\n')) => self.inline_patch(path),
            (None, Some(text)) => self.inline_patch(Some(text)),
            (Some(f), _) => {
                self.r.diags.push(unsupported(
                    span,
                    format!("patch file {f} does not exist"),
                    "kubectl kustomize would fail on it too",
                ));
                None
            }
            (None, None) => {
                self.r.diags.push(unsupported(
                    span,
                    "a patch without `path` or `patch`".into(),
                    "kubectl kustomize would fail on it too",
                ));
                None
            }
        }
    }

    fn inline_patch(&mut self, text: Option<&str>) -> Option<(String, Vec<u8>)> {
        self.inline += 1;
        Some((
            format!("patch-{}.yaml", self.inline),
            text.unwrap_or_default().as_bytes().to_vec(),
        ))
    }

    /// One entry of `patches` or `patchesJson6902`.
    fn entry(&mut self, field: &str, e: &Node) {
        for (key, _) in e.as_map().into_iter().flatten() {
            if !["path", "patch", "target"].contains(&key.name.as_str()) {
                self.r.diags.push(unsupported(
                    &key.span,
                    format!("`{}` of an entry of `{field}` cannot be imported", key.name),
                    "fleetc patches neither rename objects nor change their kind",
                ));
                return;
            }
        }
        let target = match e.get("target") {
            Some(t) => match self.target(t) {
                Some(t) => Some(t),
                None => return,
            },
            None => None,
        };
        let path = e.get("path").and_then(Node::as_str);
        let inline = e.get("patch").and_then(Node::as_str);
        if let Some((name, bytes)) = self.content(path, inline, &e.span) {
            self.patch(&name, bytes, target, &e.span);
        }
    }

    /// A kustomize target as fleetc's, with its namespace if it has one.
    fn target(&mut self, t: &Node) -> Option<(Target, Option<String>)> {
        let mut out: Target = Default::default();
        let mut namespace = None;
        for (key, v) in t.as_map().into_iter().flatten() {
            let s = v.as_str().map(String::from);
            match key.name.as_str() {
                "group" => out[0] = s,
                "version" => out[1] = s,
                "kind" => out[2] = s,
                "name" => {
                    if s.as_deref()
                        .is_some_and(|n| n.contains(['*', '?', '[', '(', '|', '^', '$', '+', '\\']))
                    {
                        self.r.diags.push(unsupported(
                            &v.span,
                            "a target name that is a regular expression cannot be imported".into(),
                            "list one patch entry per object name",
                        ));
                        return None;
                    }
                    out[3] = s;
                }
                "namespace" => namespace = s,
                other => {
                    self.r.diags.push(unsupported(
                        &key.span,
                        format!("a patch target's `{other}` cannot be imported"),
                        "fleetc targets a patch by group, version, kind and name",
                    ));
                    return None;
                }
            }
        }
        Some((out, namespace))
    }

    /// Components with an object `t` (and `namespace`) matches. A namespace
    /// must not be needed to tell objects of one component apart: fleetc's
    /// patch targets have none.
    fn matching(&mut self, t: &Target, namespace: Option<&str>, at: &Span) -> Vec<usize> {
        let mut found = Vec::new();
        for &c in self.comps {
            // As kustomize, a target matches an object as it now is or as
            // its base had it (before the overlay moved or renamed it).
            let ids: Vec<(ObjectId, ObjectId)> = self
                .now(c)
                .iter()
                .zip(&self.r.comps[c].comp.objects)
                .map(|(n, o)| {
                    (
                        placed(&self.r.comps[c].comp, &n.id),
                        placed(&self.r.comps[c].comp, o),
                    )
                })
                .collect();
            let hit = |ns: Option<&str>| {
                ids.iter()
                    .filter(|(now, was)| matches(now, t, ns) || matches(was, t, ns))
                    .count()
            };
            let (with, without) = (hit(namespace), hit(None));
            if with > 0 && with != without {
                self.r.diags.push(unsupported(
                    at,
                    format!(
                        "the patch targets one namespace, and `{}` has objects of the same kind and name in others",
                        self.r.comps[c].comp.name
                    ),
                    "fleetc's patch targets have no namespace; give the objects distinct names",
                ));
            }
            if with > 0 {
                found.push(c);
            }
        }
        found
    }

    fn push(&mut self, comp: usize, change: Change) {
        self.out.entry(comp).or_default().push(change);
    }

    /// A patch file's contents, with the entry's target if any.
    fn patch(
        &mut self,
        name: &str,
        bytes: Vec<u8>,
        target: Option<(Target, Option<String>)>,
        at: &Span,
    ) {
        let shown = format!("{}/{name}", self.dir);
        let Some((src, docs)) = self.r.parse_text(&shown, &bytes) else {
            return;
        };
        let docs: Vec<Node> = docs.into_iter().filter(|d| !d.is_null()).collect();
        let json6902 = docs.first().is_some_and(|d| matches!(d.v, Value::Seq(_)));
        match target {
            Some((mut t, ns)) => {
                let renamed = self.renames.iter().find(|(k, old, _)| {
                    t[2].as_deref().is_none_or(|want| want == k) && t[3].as_deref() == Some(old)
                });
                let new_name = renamed.map(|(_, _, new)| new.clone());
                let found = self.matching(&t, ns.as_deref(), at);
                if new_name.is_some() {
                    t[3] = new_name;
                }
                for c in found {
                    self.push(
                        c,
                        Change {
                            file_name: name.to_string(),
                            bytes: bytes.clone(),
                            target: Some(t.clone()),
                        },
                    );
                }
            }
            None if json6902 => self.r.diags.push(unsupported(
                &Span::file(&src),
                format!("{shown} holds JSON 6902 operations, and its entry has no target"),
                "kubectl kustomize would fail on it too",
            )),
            None => self.by_name(name, &bytes, &docs),
        }
    }

    /// Strategic merge patches that name their objects: each document goes
    /// to the components with its object; the file is kept as it is when
    /// it all goes to one.
    fn by_name(&mut self, name: &str, bytes: &[u8], docs: &[Node]) {
        let mut per: BTreeMap<usize, Vec<&Node>> = BTreeMap::new();
        let mut split = false;
        for d in docs {
            let s = |p: &[&str]| d.get_path(p).and_then(Node::as_str).map(String::from);
            let (g, v) = group_version(&s(&["apiVersion"]).unwrap_or_default());
            let t: Target = [Some(g), Some(v), s(&["kind"]), s(&["metadata", "name"])];
            let found = self.matching(&t, s(&["metadata", "namespace"]).as_deref(), &d.span);
            if found.is_empty() {
                self.r.diags.push(
                    Diagnostic::error(
                        crate::diag::Code::ImportUnsupported,
                        format!(
                            "the patch names {} `{}`, which no resource of the overlay has",
                            t[2].clone().unwrap_or_default(),
                            t[3].clone().unwrap_or_default()
                        ),
                    )
                    .at(&d.span)
                    .help("kubectl kustomize would fail on it too; check its apiVersion, kind and name"),
                );
            }
            split |= found.len() > 1;
            for c in found {
                per.entry(c).or_default().push(d);
            }
        }
        if per.len() == 1 && !split {
            if let Some((&c, _)) = per.iter().next() {
                self.push(
                    c,
                    Change {
                        file_name: name.to_string(),
                        bytes: bytes.to_vec(),
                        target: None,
                    },
                );
            }
            return;
        }
        let stem = name.rsplit_once('.').map_or(name, |(s, _)| s).to_string();
        for (c, ds) in per {
            let text: Vec<String> = ds.iter().map(|d| crate::yaml::write::to_yaml(d)).collect();
            let file_name = format!("{stem}-{}.yaml", self.r.comps[c].comp.name);
            self.push(
                c,
                Change {
                    file_name,
                    bytes: text.join("---\n").into_bytes(),
                    target: None,
                },
            );
        }
    }

    /// `replicas: [{name, count}]`: a strategic merge patch of
    /// `spec.replicas` per scalable object of that name.
    fn replicas(&mut self, list: &[Node]) {
        let mut per: BTreeMap<usize, Vec<String>> = BTreeMap::new();
        for e in list {
            let (Some(name), Some(count)) = (
                e.get("name").and_then(Node::as_str),
                e.get("count").and_then(Node::as_i64),
            ) else {
                self.r.diags.push(unsupported(
                    &e.span,
                    "a `replicas` entry needs `name` and `count`".into(),
                    "as kubectl kustomize reads it",
                ));
                continue;
            };
            for &c in self.comps {
                let now = self.now(c);
                let base = &self.r.comps[c].comp.objects;
                for (n, was) in now.iter().zip(base) {
                    // kustomize finds the object by its name now or in its base.
                    let named = n.id.name == name || was.name == name;
                    let o = &n.id;
                    if named && SCALABLE.contains(&o.kind.as_str()) && n.doc.is_some() {
                        let mut meta = json!({ "name": o.name });
                        if let Some(ns) = &o.namespace {
                            meta["namespace"] = json!(ns);
                        }
                        let doc = json!({
                            "apiVersion": o.api_version,
                            "kind": o.kind,
                            "metadata": meta,
                            "spec": { "replicas": count },
                        });
                        per.entry(c).or_default().push(yaml_of(&doc));
                    }
                }
            }
        }
        for (c, docs) in per {
            self.push(
                c,
                Change {
                    file_name: "replicas.yaml".into(),
                    bytes: docs.join("---\n").into_bytes(),
                    target: None,
                },
            );
        }
    }

    /// `images: [{name, newName, newTag, digest}]`: per object with such a
    /// container image, JSON 6902 operations that replace it.
    fn images(&mut self, list: &[Node]) {
        let mut rules = Vec::new();
        for e in list {
            let s = |k: &str| e.get(k).and_then(Node::as_str).map(String::from);
            let tag = s("newTag").or_else(|| {
                e.get("newTag")
                    .and_then(Node::as_i64)
                    .map(|i| i.to_string())
            });
            match s("name") {
                Some(name) => rules.push(ImageRule {
                    name,
                    new_name: s("newName"),
                    new_tag: tag,
                    digest: s("digest"),
                }),
                None => self.r.diags.push(unsupported(
                    &e.span,
                    "an `images` entry needs `name`".into(),
                    "as kubectl kustomize reads it",
                )),
            }
        }
        self.per_object("images", |_, doc, _| {
            let mut ops = Vec::new();
            image_ops(doc, &mut Vec::new(), &rules, &mut ops, false);
            ops
        });
    }
}

/// Object `o` of component `comp` in the namespace it is put in when it
/// names none: the component's (namespaced kinds only).
fn placed(comp: &crate::import::Component, o: &ObjectId) -> ObjectId {
    let mut id = o.clone();
    if id.namespace.is_none()
        && crate::import::namespaced(&o.api_version, &o.kind, &comp.cluster_kinds)
    {
        id.namespace = comp.namespace.clone();
    }
    id
}

/// For every object of component `read` as the changes `before` leave it
/// (deleted ones aside), the JSON 6902 operations `ops_of` gives (the
/// object in its namespace, its document, the component's cluster-scoped
/// custom kinds), as a `<what>-<kind>-<name>.yaml` change.
pub(super) fn object_changes(
    read: &Read,
    before: &[Change],
    what: &str,
    ops_of: &impl Fn(&ObjectId, &Node, &[String]) -> Vec<serde_json::Value>,
) -> Vec<Change> {
    let comp = &read.comp;
    let now = state::apply(&comp.objects, &read.docs, comp.namespace.as_deref(), before);
    let mut out = Vec::new();
    for n in &now {
        let Some(doc) = &n.doc else { continue };
        let id = placed(comp, &n.id);
        let ops = ops_of(&id, doc, &comp.cluster_kinds);
        if !ops.is_empty() {
            out.push(object_ops(what, &id.api_version, &id.kind, &id.name, &ops));
        }
    }
    out
}

/// A generated patch file of JSON 6902 `ops` for one object, targeted by
/// its group, version, kind and (current) name: `<what>-<kind>-<name>.yaml`.
pub(super) fn object_ops(
    what: &str,
    api_version: &str,
    kind: &str,
    name: &str,
    ops: &[serde_json::Value],
) -> Change {
    let (g, v) = group_version(api_version);
    Change {
        file_name: format!("{what}-{}-{}.yaml", label_of(kind), label_of(name)),
        bytes: yaml_of(&json!(ops)).into_bytes(),
        target: Some([
            Some(g),
            Some(v),
            Some(kind.to_string()),
            Some(name.to_string()),
        ]),
    }
}

/// Kinds whose pod template kustomize's label and annotation transformers
/// reach, and where: (group, kind, paths of the template metadata).
const TEMPLATES: &[(&str, &str, &[&[&str]])] = &[
    ("", "ReplicationController", &[&["spec", "template"]]),
    ("apps", "Deployment", &[&["spec", "template"]]),
    ("apps", "ReplicaSet", &[&["spec", "template"]]),
    ("apps", "DaemonSet", &[&["spec", "template"]]),
    ("apps", "StatefulSet", &[&["spec", "template"]]),
    ("batch", "Job", &[&["spec", "template"]]),
    (
        "batch",
        "CronJob",
        &[
            &["spec", "jobTemplate"],
            &["spec", "jobTemplate", "spec", "template"],
        ],
    ),
];

fn str_of<'n>(n: &'n Node, path: &[&str]) -> Option<&'n str> {
    n.get_path(path).and_then(Node::as_str)
}

/// `{a: {b: {...leaf}}}` along `path`.
fn nest(path: &[&str], leaf: serde_json::Value) -> serde_json::Value {
    path.iter().rev().fold(leaf, |acc, k| json!({ *k: acc }))
}

impl Changes<'_, '_> {
    /// `labels: [{pairs, includeSelectors, includeTemplates}]`: labels on
    /// every object's metadata (and pod templates with `includeTemplates`).
    fn labels(&mut self, list: &[Node]) {
        for e in list {
            if let Some(f) = e.as_map().into_iter().flatten().find(|(k, _)| {
                !["pairs", "includeSelectors", "includeTemplates"].contains(&k.name.as_str())
            }) {
                self.r.diags.push(unsupported(
                    &f.0.span,
                    format!("`{}` of a `labels` entry cannot be imported", f.0.name),
                    "fleetc imports pairs, includeSelectors and includeTemplates (fieldSpecs are kustomize's own configuration)",
                ));
                continue;
            }
            let flag = |k: &str| e.get(k).and_then(Node::as_bool) == Some(true);
            let specs: &[&[state::Spec]] =
                match (flag("includeSelectors"), flag("includeTemplates")) {
                    (true, _) => &[state::METADATA, state::SELECTORS],
                    (false, true) => &[state::METADATA],
                    (false, false) => &[state::METADATA_ONLY],
                };
            if let Some(pairs) = self.string_map(e.get("pairs"), "pairs") {
                self.label_changes(&pairs, specs);
            }
        }
    }

    /// `namePrefix`/`nameSuffix`: every object renamed, references to them
    /// rewritten (`names`); later targets by name follow the new names.
    fn names(&mut self, prefix: &str, suffix: &str) {
        let all: Vec<(usize, Vec<state::Now>)> =
            self.comps.iter().map(|&c| (c, self.now(c))).collect();
        // Generated objects: a base's keep their hash after the new name;
        // the overlay's own already have their final names.
        let generated: Vec<names::GeneratedName> = self
            .comps
            .iter()
            .flat_map(|&c| self.r.comps[c].generated.iter())
            .map(|(kind, name, hashed)| names::GeneratedName {
                kind,
                name: name.clone(),
                hashed: hashed.clone(),
                is_final: self.r.final_names.contains(hashed),
            })
            .collect();
        let renamed = names::renamed(&all, prefix, suffix, &generated);
        for (c, ch) in names::changes(&all, &renamed) {
            self.push(c, ch);
        }
        self.renames
            .extend(renamed.iter().map(names::Renamed::pair));
    }

    /// [`object_changes`] for every component of the overlay, after its
    /// changes so far.
    fn per_object(
        &mut self,
        what: &str,
        ops_of: impl Fn(&ObjectId, &Node, &[String]) -> Vec<serde_json::Value>,
    ) {
        for &c in self.comps {
            let before = self.out.get(&c).map_or(&[][..], Vec::as_slice);
            for ch in object_changes(&self.r.comps[c], before, what, &ops_of) {
                self.push(c, ch);
            }
        }
    }

    /// Component `c`'s objects as the overlay's changes so far leave them.
    fn now(&self, c: usize) -> Vec<state::Now> {
        let read = &self.r.comps[c];
        state::apply(
            &read.comp.objects,
            &read.docs,
            read.comp.namespace.as_deref(),
            self.out.get(&c).map_or(&[][..], Vec::as_slice),
        )
    }

    /// `commonLabels`: labels on every object, its pod templates and its
    /// selectors (as `labels` with `includeSelectors`).
    fn common_labels(&mut self, map: &Node) {
        if let Some(pairs) = self.string_map(Some(map), "commonLabels") {
            self.label_changes(&pairs, &[state::METADATA, state::SELECTORS]);
        }
    }

    /// Per object, the operations that set `pairs` where `specs` say, on
    /// the object as the overlay's changes so far leave it.
    fn label_changes(
        &mut self,
        pairs: &serde_json::Map<String, serde_json::Value>,
        specs: &[&[state::Spec]],
    ) {
        self.per_object("labels", |id, doc, _| {
            state::label_ops(id, doc, specs, pairs)
        });
    }

    /// `commonAnnotations`: annotations on every object and its pod template.
    fn annotations(&mut self, map: &Node) {
        if let Some(pairs) = self.string_map(Some(map), "commonAnnotations") {
            self.metadata_patches("annotations", &[(pairs, true)], "annotations.yaml");
        }
    }

    fn string_map(
        &mut self,
        n: Option<&Node>,
        what: &str,
    ) -> Option<serde_json::Map<String, serde_json::Value>> {
        let mut out = serde_json::Map::new();
        for (k, v) in n?.as_map().into_iter().flatten() {
            let text = match &v.v {
                Value::Str(s) => s.clone(),
                Value::Int(i) => i.to_string(),
                Value::Bool(b) => b.to_string(),
                Value::Float(f) => f.to_string(),
                _ => {
                    self.r.diags.push(unsupported(
                        &v.span,
                        format!("a value of `{what}` must be a string"),
                        "as kubectl kustomize reads it",
                    ));
                    return None;
                }
            };
            out.insert(k.name.clone(), json!(text));
        }
        Some(out)
    }

    /// A strategic merge patch per object (and pod template, where `sets`
    /// say so) adding `field` (labels or annotations).
    fn metadata_patches(
        &mut self,
        field: &str,
        sets: &[(serde_json::Map<String, serde_json::Value>, bool)],
        file_name: &str,
    ) {
        for &c in self.comps {
            let now = self.now(c);
            let mut docs = Vec::new();
            for n in now.iter().filter(|n| n.doc.is_some()) {
                let o = &n.id;
                let (g, _) = group_version(&o.api_version);
                let mut meta = serde_json::Map::new();
                let mut doc = json!({ "apiVersion": o.api_version, "kind": o.kind });
                for (pairs, templates) in sets {
                    meta.extend(pairs.clone());
                    if !templates {
                        continue;
                    }
                    let paths = TEMPLATES
                        .iter()
                        .find(|(tg, tk, _)| *tg == g && *tk == o.kind)
                        .map_or(&[][..], |(_, _, p)| *p);
                    for path in paths {
                        let mut at: Vec<&str> = path.to_vec();
                        at.extend(["metadata", field]);
                        merge_json(&mut doc, nest(&at, json!(pairs)));
                    }
                }
                let mut md = json!({ "name": o.name });
                if let Some(ns) = &o.namespace {
                    md["namespace"] = json!(ns);
                }
                md[field] = json!(meta);
                doc["metadata"] = md;
                docs.push(yaml_of(&doc));
            }
            if !docs.is_empty() {
                self.push(
                    c,
                    Change {
                        file_name: file_name.into(),
                        bytes: docs.join("---\n").into_bytes(),
                        target: None,
                    },
                );
            }
        }
    }
}

/// Kinds whose service references kustomize's namespace transformer
/// rewrites, which the import does not follow.
const SERVICE_REFERENCES: [&str; 3] = [
    "ValidatingWebhookConfiguration",
    "MutatingWebhookConfiguration",
    "APIService",
];

impl Changes<'_, '_> {
    /// `namespace:` of an overlay: every namespaced object moves there,
    /// a Namespace object is renamed to it, and the ServiceAccount subjects
    /// of role bindings that name a ServiceAccount of the overlay follow
    /// it — as kustomize's namespace transformer does; JSON 6902
    /// operations per object.
    fn namespace(&mut self, n: &Node) {
        let Some(ns) = n.as_str().map(String::from) else {
            self.r.diags.push(unsupported(
                &n.span,
                "`namespace` must be a string".into(),
                "as kubectl kustomize reads it",
            ));
            return;
        };
        let mut accounts = Vec::new();
        for &c in self.comps {
            for now in self.now(c).iter().filter(|now| now.doc.is_some()) {
                let o = placed(&self.r.comps[c].comp, &now.id);
                if SERVICE_REFERENCES.contains(&o.kind.as_str()) {
                    self.r.diags.push(unsupported(
                        &n.span,
                        format!("`namespace` with a {} (`{}`) cannot be imported", o.kind, o.name),
                        "kustomize also moves the service it names; set the namespace in the base's files",
                    ));
                    return;
                }
                if o.kind == "ServiceAccount" && o.api_version == "v1" {
                    accounts.push((o.name, o.namespace.unwrap_or_else(|| "default".into())));
                }
            }
        }
        self.per_object("namespace", |id, doc, cluster_kinds| {
            let mut ops = Vec::new();
            if id.kind == "Namespace" && id.api_version == "v1" {
                if id.name != ns {
                    ops.push(json!({ "op": "replace", "path": "/metadata/name", "value": ns }));
                }
            } else if crate::import::namespaced(&id.api_version, &id.kind, cluster_kinds)
                && id.namespace.as_deref() != Some(ns.as_str())
            {
                ops.push(json!({ "op": "add", "path": "/metadata/namespace", "value": ns }));
            }
            ops.extend(subject_ops(id, doc, &ns, &accounts));
            ops
        });
    }
}

/// The operations that move the ServiceAccount subjects of role binding
/// `o` (document `d`) naming one of `accounts` (name, namespace) to `ns`.
fn subject_ops(
    o: &ObjectId,
    d: &Node,
    ns: &str,
    accounts: &[(String, String)],
) -> Vec<serde_json::Value> {
    if !matches!(o.kind.as_str(), "RoleBinding" | "ClusterRoleBinding") {
        return Vec::new();
    }
    let subjects = d.get("subjects").and_then(Node::as_seq).unwrap_or_default();
    let mut ops = Vec::new();
    for (i, sub) in subjects.iter().enumerate() {
        let name = str_of(sub, &["name"]).unwrap_or_default();
        let sub_ns = str_of(sub, &["namespace"]).unwrap_or("default");
        let ours = accounts.iter().any(|(n, a)| n == name && a == sub_ns);
        if str_of(sub, &["kind"]) == Some("ServiceAccount") && ours && sub_ns != ns {
            ops.push(
                json!({ "op": "add", "path": format!("/subjects/{i}/namespace"), "value": ns }),
            );
        }
    }
    ops
}

/// Deep-merge JSON maps (`b` wins on leaves).
fn merge_json(a: &mut serde_json::Value, b: serde_json::Value) {
    match (a, b) {
        (serde_json::Value::Object(am), serde_json::Value::Object(bm)) => {
            for (k, v) in bm {
                match am.get_mut(&k) {
                    Some(slot) => merge_json(slot, v),
                    None => {
                        am.insert(k, v);
                    }
                }
            }
        }
        (slot, v) => *slot = v,
    }
}

struct ImageRule {
    name: String,
    new_name: Option<String>,
    new_tag: Option<String>,
    digest: Option<String>,
}

/// The image a rule makes of `image`, if the rule is for it.
fn new_image(image: &str, rules: &[ImageRule]) -> Option<String> {
    let (name, suffix) = match image.find('@') {
        Some(i) => (&image[..i], &image[i..]),
        None => match image.rfind(':') {
            Some(i) if !image[i..].contains('/') => (&image[..i], &image[i..]),
            _ => (image, ""),
        },
    };
    let rule = rules.iter().find(|r| r.name == name)?;
    let name = rule.new_name.as_deref().unwrap_or(name);
    let suffix = match (&rule.digest, &rule.new_tag) {
        (Some(d), _) => format!("@{d}"),
        (None, Some(t)) => format!(":{t}"),
        (None, None) => suffix.to_string(),
    };
    Some(format!("{name}{suffix}"))
}

/// Walk `n` for `image` fields of `containers` and `initContainers` items,
/// at any depth, collecting replace operations.
fn image_ops(
    n: &Node,
    path: &mut Vec<String>,
    rules: &[ImageRule],
    ops: &mut Vec<serde_json::Value>,
    in_list: bool,
) {
    match &n.v {
        Value::Map(m) => {
            if in_list {
                if let Some(new) = m
                    .get("image")
                    .and_then(Node::as_str)
                    .and_then(|i| new_image(i, rules))
                {
                    if m.get("image").and_then(Node::as_str) != Some(new.as_str()) {
                        ops.push(json!({ "op": "replace", "path": format!("/{}/image", path.join("/")), "value": new }));
                    }
                }
            }
            for (k, v) in m {
                path.push(k.name.replace('~', "~0").replace('/', "~1"));
                let list = matches!(k.name.as_str(), "containers" | "initContainers");
                if let (true, Value::Seq(items)) = (list, &v.v) {
                    for (i, item) in items.iter().enumerate() {
                        path.push(i.to_string());
                        image_ops(item, path, rules, ops, true);
                        path.pop();
                    }
                } else {
                    image_ops(v, path, rules, ops, false);
                }
                path.pop();
            }
        }
        Value::Seq(items) => {
            for (i, item) in items.iter().enumerate() {
                path.push(i.to_string());
                image_ops(item, path, rules, ops, false);
                path.pop();
            }
        }
        _ => {}
    }
}

fn yaml_of(v: &serde_json::Value) -> String {
    crate::yaml::write::json_to_yaml(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(
        name: &str,
        new_name: Option<&str>,
        tag: Option<&str>,
        digest: Option<&str>,
    ) -> ImageRule {
        ImageRule {
            name: name.into(),
            new_name: new_name.map(String::from),
            new_tag: tag.map(String::from),
            digest: digest.map(String::from),
        }
    }

    #[test]
    fn images_are_replaced_as_kustomize_does() {
        let r = [rule("nginx", None, Some("1.27"), None)];
        assert_eq!(new_image("nginx", &r).as_deref(), Some("nginx:1.27"));
        assert_eq!(new_image("nginx:1.25", &r).as_deref(), Some("nginx:1.27"));
        assert_eq!(
            new_image("nginx@sha256:ab", &r).as_deref(),
            Some("nginx:1.27")
        );
        assert_eq!(new_image("nginx-extra:1", &r), None);
        let r = [rule(
            "registry:5000/app",
            Some("ghcr.io/acme/app"),
            None,
            None,
        )];
        assert_eq!(
            new_image("registry:5000/app:v1", &r).as_deref(),
            Some("ghcr.io/acme/app:v1")
        );
        assert_eq!(
            new_image("registry:5000/app", &r).as_deref(),
            Some("ghcr.io/acme/app")
        );
        let r = [rule("app", None, Some("v2"), Some("sha256:cd"))];
        assert_eq!(new_image("app:v1", &r).as_deref(), Some("app@sha256:cd"));
    }
}
