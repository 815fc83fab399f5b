//! Secret masking for diffs: both sides of a file are re-read, every Secret
//! value is replaced by a placeholder (the new side marks the keys whose
//! value changed), and the text is written again with fleetc's YAML writer,
//! so the unified diff shows which keys changed and never a value.
//! Secrets inside `kind: List` and invalid Secrets (`data` not a map) are
//! masked too; a file that cannot be read as YAML is not shown at all.

use std::collections::BTreeSet;

use super::Object;
use crate::diag::Source;
use crate::yaml::write::to_yaml;
use crate::yaml::{parse_documents, Budget, Node, Value};

const HIDDEN: &str = "(hidden)";
const HIDDEN_CHANGED: &str = "(hidden, changed)";
const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

pub struct Masked {
    pub old: Option<String>,
    pub new: Option<String>,
    pub object: Object,
    pub secret_keys: Option<Vec<String>>,
    pub encrypted: bool,
}

fn parse(rel: &str, text: &str) -> Option<Vec<Node>> {
    parse_documents(&Source::new(rel, text), &Budget::default()).ok()
}

fn object_of(doc: &Node) -> Object {
    let s = |path: &[&str]| {
        doc.get_path(path)
            .and_then(Node::as_str)
            .map(str::to_string)
    };
    Object {
        api_version: s(&["apiVersion"]).unwrap_or_default(),
        kind: s(&["kind"]).unwrap_or_default(),
        namespace: s(&["metadata", "namespace"]),
        name: s(&["metadata", "name"]).unwrap_or_default(),
    }
}

fn is_secret(doc: &Node) -> bool {
    doc.get("kind").and_then(Node::as_str) == Some("Secret")
}

fn hidden(text: &str, like: &Node) -> Node {
    Node::new(Value::Str(text.to_string()), like.span.clone())
}

/// Mask one document; `other` is the same document on the other side.
/// `mark_changed` is set on the new side.
fn mask(
    doc: &mut Node,
    other: Option<&Node>,
    mark_changed: bool,
    keys: &mut BTreeSet<String>,
    secrets: &mut bool,
) {
    if doc.get("kind").and_then(Node::as_str) == Some("List") {
        let others: Vec<Node> = other
            .and_then(|o| o.get("items"))
            .and_then(Node::as_seq)
            .map(<[Node]>::to_vec)
            .unwrap_or_default();
        if let Some(Value::Seq(items)) = doc
            .as_map_mut()
            .and_then(|m| m.get_mut("items"))
            .map(|n| &mut n.v)
        {
            for (i, item) in items.iter_mut().enumerate() {
                mask(item, others.get(i), mark_changed, keys, secrets);
            }
        }
        return;
    }
    if !is_secret(doc) {
        return;
    }
    *secrets = true;
    let Some(top) = doc.as_map_mut() else {
        return;
    };
    for field in ["data", "stringData"] {
        let theirs = other.and_then(|o| o.get(field));
        let Some(v) = top.get_mut(field) else {
            continue;
        };
        match &mut v.v {
            Value::Map(m) => {
                for (k, val) in m.iter_mut() {
                    let before = theirs.and_then(|t| t.get(&k.name));
                    let differs = before.is_none_or(|b| !b.same(val));
                    if differs {
                        keys.insert(format!("{field}.{}", k.name));
                    }
                    let text = if mark_changed && differs && before.is_some() {
                        HIDDEN_CHANGED
                    } else {
                        HIDDEN
                    };
                    *val = hidden(text, val);
                }
            }
            _ => {
                if theirs.is_none_or(|t| !t.same(v)) {
                    keys.insert(field.to_string());
                }
                *v = hidden(HIDDEN, v);
            }
        }
        // Keys only the other side has were removed (or added): name them too.
        if let Some(t) = theirs.and_then(Node::as_map) {
            let mine = top.get(field).and_then(Node::as_map);
            for k in t.keys() {
                if mine.is_none_or(|m| !m.contains_key(k.name.as_str())) {
                    keys.insert(format!("{field}.{}", k.name));
                }
            }
        }
    }
    if let Some(Value::Map(md)) = top.get_mut("metadata").map(|n| &mut n.v) {
        if let Some(Value::Map(ann)) = md.get_mut("annotations").map(|n| &mut n.v) {
            if let Some(v) = ann.get_mut(LAST_APPLIED) {
                *v = hidden(HIDDEN, v);
            }
        }
    }
}

/// Whether a cluster-relative path is a file of a chart kept in the fleet
/// (`components/<x>/chart/...`): the chart's source, copied as it is, not
/// an object (its templates are not YAML until Helm renders them).
fn is_chart_file(rel: &str) -> bool {
    matches!(
        rel.split('/').collect::<Vec<_>>().as_slice(),
        ["components", _, "chart", _, ..]
    )
}

/// Mask both sides of one file.
pub fn mask_pair(rel: &str, old: Option<&str>, new: Option<&str>) -> Masked {
    if is_chart_file(rel) {
        return Masked {
            old: old.map(String::from),
            new: new.map(String::from),
            object: Default::default(),
            secret_keys: None,
            encrypted: false,
        };
    }
    let old_docs = old.map(|t| parse(rel, t));
    let new_docs = new.map(|t| parse(rel, t));
    let unreadable = matches!(old_docs, Some(None)) || matches!(new_docs, Some(None));
    let old_docs: Option<Vec<Node>> = old_docs.flatten();
    let new_docs: Option<Vec<Node>> = new_docs.flatten();
    let first = new_docs
        .as_ref()
        .and_then(|d| d.first())
        .or_else(|| old_docs.as_ref().and_then(|d| d.first()));
    let object = first.map(object_of).unwrap_or_default();
    let encrypted = unreadable
        || old_docs
            .iter()
            .chain(new_docs.iter())
            .flatten()
            .any(|d| d.get("sops").is_some());
    if encrypted {
        return Masked {
            old: old.map(|_| String::new()),
            new: new.map(|_| String::new()),
            object,
            secret_keys: None,
            encrypted: true,
        };
    }
    let mut keys = BTreeSet::new();
    let mut secrets = false;
    let write = |docs: Option<Vec<Node>>,
                 others: &Option<Vec<Node>>,
                 mark: bool,
                 keys: &mut BTreeSet<String>,
                 secrets: &mut bool| {
        docs.map(|docs| {
            let mut out = String::new();
            for (i, mut d) in docs.into_iter().enumerate() {
                mask(
                    &mut d,
                    others.as_ref().and_then(|o| o.get(i)),
                    mark,
                    keys,
                    secrets,
                );
                if i > 0 {
                    out.push_str("---\n");
                }
                out.push_str(&to_yaml(&d));
            }
            out
        })
    };
    let old_text = write(old_docs.clone(), &new_docs, false, &mut keys, &mut secrets);
    let new_text = write(new_docs, &old_docs, true, &mut keys, &mut secrets);
    Masked {
        old: old_text,
        new: new_text,
        object,
        secret_keys: secrets.then(|| keys.into_iter().collect()),
        encrypted: false,
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn chart_files_are_shown_as_text() {
        let old = "ports:\n  {{- include \"x\" . | nindent 4 }}\n  - port: 80\n";
        let new = old.replace("80", "8080");
        let m = mask_pair(
            "components/web/chart/templates/svc.yaml",
            Some(old),
            Some(&new),
        );
        assert!(!m.encrypted);
        assert_eq!(m.new.as_deref(), Some(new.as_str()));
        // The same text as an object file is unreadable, so not shown.
        let m = mask_pair("components/web/web/svc.yaml", Some(old), Some(&new));
        assert!(m.encrypted);
    }

    use super::*;

    #[test]
    fn secret_values_never_survive_masking() {
        let old = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: s\n  annotations:\n    kubectl.kubernetes.io/last-applied-configuration: '{\"data\":{\"k\":\"c2VjcmV0MQ==\"}}'\ndata:\n  k: c2VjcmV0MQ==\n  gone: b2xk\nstringData:\n  same: plain-old\n";
        let new = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: s\ndata:\n  k: c2VjcmV0Mg==\nstringData:\n  same: plain-old\n  fresh: plain-new\n";
        let m = mask_pair("s.yaml", Some(old), Some(new));
        let all = format!("{}{}", m.old.clone().unwrap(), m.new.clone().unwrap());
        for v in ["c2VjcmV0MQ", "c2VjcmV0Mg", "b2xk", "plain-old", "plain-new"] {
            assert!(!all.contains(v), "{v} leaked:\n{all}");
        }
        assert_eq!(
            m.secret_keys.unwrap(),
            vec!["data.gone", "data.k", "stringData.fresh"]
        );
        assert!(m.new.unwrap().contains("k: (hidden, changed)"));
    }

    #[test]
    fn secrets_in_lists_and_invalid_secrets_are_masked() {
        let list = "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: Secret\n  metadata: {name: a}\n  data: {k: dG9wc2VjcmV0}\n";
        let m = mask_pair("l.yaml", None, Some(list));
        assert!(!m.new.unwrap().contains("dG9wc2VjcmV0"));
        let invalid = "apiVersion: v1\nkind: Secret\nmetadata: {name: b}\ndata: dG9wc2VjcmV0\n";
        let m = mask_pair("b.yaml", Some(invalid), None);
        assert!(!m.old.unwrap().contains("dG9wc2VjcmV0"));
    }
}
