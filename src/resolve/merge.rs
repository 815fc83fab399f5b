//! Deep merge of layers with locks and provenance (SPEC §4).
//!
//! Maps merge key by key; lists and scalars replace; an explicit null
//! deletes. The merged tree's leaves are clones of the layer nodes that set
//! them, so each leaf's span *is* its provenance; `shadowed` records, per
//! dotted path, the spans of the values each later layer replaced.

use crate::diag::Code;
use std::collections::BTreeMap;

use crate::diag::{Diagnostic, Diags, Span};
use crate::load::model::Lock;
use crate::yaml::{Map, Node, Value};

#[derive(Clone, Debug)]
pub struct ActiveLock<'a> {
    /// Path relative to the layering root.
    pub rel: &'a [String],
    pub lock: &'a Lock,
    pub file: &'a str,
}

/// One layer: its node (a mapping, or absent), its file, and the locks it declares
/// (which bind every later layer).
pub struct Layer<'a> {
    pub node: Option<&'a Node>,
    pub file: &'a str,
    pub locks: Vec<ActiveLock<'a>>,
}

/// A merged tree and what it shadowed.
#[derive(Clone, Debug)]
pub struct Merged {
    pub node: Node,
    /// Dotted path → spans of earlier values that a later layer replaced or deleted, oldest first.
    pub shadowed: BTreeMap<String, Vec<Span>>,
}

pub fn merge(layers: &[Layer<'_>], root: &str, anchor: &Span, diags: &mut Diags) -> Merged {
    let mut out = Merged {
        node: Node::map(Map::new(), anchor.clone()),
        shadowed: BTreeMap::new(),
    };
    let mut active: Vec<ActiveLock<'_>> = Vec::new();
    for layer in layers {
        if let Some(n) = layer.node {
            if let Value::Map(src) = &n.v {
                let mut path = Vec::new();
                let mut m = Merger {
                    active: &active,
                    root,
                    diags,
                    shadowed: &mut out.shadowed,
                };
                m.apply(&mut out.node, src, &mut path);
            }
        }
        active.extend(layer.locks.iter().cloned());
    }
    out
}

struct Merger<'a, 'b> {
    active: &'a [ActiveLock<'b>],
    root: &'a str,
    diags: &'a mut Diags,
    shadowed: &'a mut BTreeMap<String, Vec<Span>>,
}

impl Merger<'_, '_> {
    fn dotted(&self, path: &[String]) -> String {
        if path.is_empty() {
            self.root.to_string()
        } else {
            format!("{}.{}", self.root, path.join("."))
        }
    }

    /// A layer changes `path` from `old` to `new` (None = delete): check the locks.
    /// Returns false (and reports) when a lock forbids the change; it is then not applied,
    /// so one violation does not cascade into errors about the changed value.
    fn check_locks(
        &mut self,
        path: &[String],
        old: Option<&Node>,
        new: Option<&Node>,
        at: &Span,
    ) -> bool {
        let same = match (old, new) {
            (Some(a), Some(b)) => a.same(b),
            (None, None) => true,
            _ => false,
        };
        if same {
            return true;
        }
        for l in self.active {
            let covers = l.rel.len() <= path.len() && l.rel.iter().zip(path).all(|(a, b)| a == b);
            let above = path.len() < l.rel.len() && path.iter().zip(l.rel).all(|(a, b)| a == b);
            if covers || above {
                let what = match (new, above) {
                    (None, _) => "deletes",
                    (Some(_), true) => "replaces a map above",
                    (Some(_), false) => "changes",
                };
                self.diags.push(
                    Diagnostic::error(
                        Code::LockedValue,
                        format!(
                            "`{}` is locked by {}, but this layer {what} it",
                            l.lock.text, l.file
                        ),
                    )
                    .at(at)
                    .label(format!("changes `{}`", self.dotted(path)))
                    .related(&l.lock.span, "locked here")
                    .help("remove this setting, or set exactly the locked value"),
                );
                return false;
            }
        }
        true
    }

    fn apply(&mut self, dst: &mut Node, src: &Map, path: &mut Vec<String>) {
        if !matches!(dst.v, Value::Map(_)) {
            dst.v = Value::Map(Map::new());
        }
        for (k, v) in src {
            path.push(k.name.clone());
            let Value::Map(dm) = &mut dst.v else {
                unreachable!()
            };
            let old = dm.get(k.name.as_str());
            match &v.v {
                Value::Null => {
                    if let Some(o) = old {
                        let o = o.clone();
                        if self.check_locks(path, Some(&o), None, &v.span) {
                            self.shadow(path, &o);
                            if let Value::Map(dm) = &mut dst.v {
                                dm.shift_remove(k.name.as_str());
                            }
                        }
                    }
                }
                Value::Map(sm) if old.is_some_and(|o| matches!(o.v, Value::Map(_))) => {
                    if let Value::Map(dm) = &mut dst.v {
                        let child = dm.get_mut(k.name.as_str()).expect("checked above");
                        self.apply(child, sm, path);
                    }
                }
                _ => {
                    let o = old.cloned();
                    // Setting a map where nothing (or a non-map) was: lock check against the whole map.
                    if !self.check_locks(path, o.as_ref(), Some(v), &v.span) {
                        path.pop();
                        continue;
                    }
                    if let Some(o) = &o {
                        self.shadow(path, o);
                    }
                    let mut newv = v.clone();
                    strip_nulls(&mut newv);
                    if let Value::Map(dm) = &mut dst.v {
                        match dm.get_mut(k.name.as_str()) {
                            Some(slot) => *slot = newv,
                            None => {
                                dm.insert(k.clone(), newv);
                            }
                        }
                    }
                }
            }
            path.pop();
        }
    }

    fn shadow(&mut self, path: &[String], old: &Node) {
        let key = self.dotted(path);
        collect_leaves(old, &key, self.shadowed);
    }
}

fn collect_leaves(n: &Node, key: &str, out: &mut BTreeMap<String, Vec<Span>>) {
    for (path, leaf) in leaves(n, key) {
        out.entry(path).or_default().push(leaf.span.clone());
    }
}

/// Every leaf of a values tree (a scalar, a list, an empty map) with its
/// dotted path below `prefix` (`prefix.a.b`; `a.b` for an empty prefix,
/// and `prefix` itself when `n` is a leaf).
pub fn leaves<'a>(n: &'a Node, prefix: &str) -> Vec<(String, &'a Node)> {
    fn walk<'a>(n: &'a Node, path: String, out: &mut Vec<(String, &'a Node)>) {
        match &n.v {
            Value::Map(m) if !m.is_empty() => {
                for (k, v) in m {
                    let p = if path.is_empty() {
                        k.name.clone()
                    } else {
                        format!("{path}.{}", k.name)
                    };
                    walk(v, p, out);
                }
            }
            _ => out.push((path, n)),
        }
    }
    let mut out = Vec::new();
    walk(n, prefix.to_string(), &mut out);
    out
}

/// A null inside a newly set map means "absent" (there is nothing below to delete).
fn strip_nulls(n: &mut Node) {
    if let Value::Map(m) = &mut n.v {
        m.retain(|_, v| !v.is_null());
        for v in m.values_mut() {
            strip_nulls(v);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diag::Source;
    use crate::yaml::{parse_single, Budget};

    fn node(name: &str, text: &str) -> Node {
        parse_single(&Source::new(name, text), &Budget::default())
            .expect("yaml")
            .expect("doc")
    }

    fn lock(path: &str, src: &Node) -> Lock {
        Lock {
            path: path.split('.').map(String::from).collect(),
            text: path.into(),
            span: src.span.clone(),
        }
    }

    #[test]
    fn maps_merge_lists_replace_null_deletes_and_provenance_is_kept() {
        let a = node("a.yaml", "m: {x: 1, y: 2}\nl: [1, 2]\nz: 1\n");
        let b = node("b.yaml", "m: {y: 3}\nl: [9]\nz: null\n");
        let mut d = Diags::default();
        let layers = [
            Layer {
                node: Some(&a),
                file: "a.yaml",
                locks: vec![],
            },
            Layer {
                node: Some(&b),
                file: "b.yaml",
                locks: vec![],
            },
        ];
        let m = merge(&layers, "values.x", &a.span, &mut d);
        assert!(d.items.is_empty());
        let out = m.node.to_json();
        assert_eq!(out, serde_json::json!({"m": {"x": 1, "y": 3}, "l": [9]}));
        assert_eq!(
            m.node.get_path(&["m", "y"]).expect("y").span.path(),
            "b.yaml"
        );
        assert_eq!(
            m.node.get_path(&["m", "x"]).expect("x").span.path(),
            "a.yaml"
        );
        assert_eq!(m.shadowed["values.x.m.y"][0].path(), "a.yaml");
        assert_eq!(m.shadowed["values.x.z"][0].path(), "a.yaml");
    }

    #[test]
    fn locks_bind_later_layers_only() {
        let f = node("fleet.yaml", "port: 80\nsec: {a: 1}\n");
        let same = node("g.yaml", "port: 80\n");
        let changed = node("c.yaml", "port: 81\n");
        let above = node("p.yaml", "sec: 5\n");
        let lk = [lock("port", &f), lock("sec", &f)];
        fn active(l: &[Lock]) -> Vec<ActiveLock<'_>> {
            l.iter()
                .map(|l| ActiveLock {
                    rel: &l.path,
                    lock: l,
                    file: "fleet.yaml",
                })
                .collect()
        }
        let mut d = Diags::default();
        let layers = [
            Layer {
                node: Some(&f),
                file: "fleet.yaml",
                locks: active(&lk),
            },
            Layer {
                node: Some(&same),
                file: "g.yaml",
                locks: vec![],
            },
            Layer {
                node: Some(&changed),
                file: "c.yaml",
                locks: vec![],
            },
            Layer {
                node: Some(&above),
                file: "p.yaml",
                locks: vec![],
            },
        ];
        let m = merge(&layers, "values", &f.span, &mut d);
        let msgs: Vec<_> = d
            .items
            .iter()
            .map(|x| {
                (
                    x.span.as_ref().expect("span").path().to_string(),
                    x.message.clone(),
                )
            })
            .collect();
        assert_eq!(msgs.len(), 2, "{msgs:?}");
        assert_eq!(msgs[0].0, "c.yaml");
        assert_eq!(msgs[1].0, "p.yaml");
        // Violations are not applied.
        assert_eq!(
            m.node.to_json(),
            serde_json::json!({"port": 80, "sec": {"a": 1}})
        );
    }
}
