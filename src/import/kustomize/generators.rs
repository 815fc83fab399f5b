//! `configMapGenerator` and `secretGenerator`: each generated object
//! becomes a resource file of the component (its name with kustomize's
//! content hash, computed as kustomize computes it), and each reference to
//! it from a pod spec (`configMapKeyRef`, `configMapRef`, `secretKeyRef`,
//! `secretRef`, `configMap` and `secret` volumes and projected sources,
//! `imagePullSecrets`) is rewritten to that name by a generated JSON 6902
//! patch, as kustomize's name reference transformer does.

use std::collections::BTreeMap;

use base64::Engine as _;
use serde_json::json;
use sha2::{Digest, Sha256};

use super::{join, unsupported, Kust, Reader};
use crate::diag::Span;
use crate::yaml::Node;

/// One generated ConfigMap or Secret.
pub(super) struct Generated {
    pub kind: &'static str,
    /// The generator's name, which references use.
    pub name: String,
    /// The object's name: with the content hash, unless disabled.
    pub hashed: String,
    /// The object as a resource file.
    pub yaml: String,
}

impl Generated {
    /// The same generator as one whose object has another name: what
    /// looking for references to it needs.
    pub fn renamed(g: &Generated) -> Generated {
        Generated {
            kind: g.kind,
            name: g.name.clone(),
            hashed: format!("{}-", g.name),
            yaml: String::new(),
        }
    }
}

/// kustomize's hash suffix: the first ten hex digits of the SHA-256 of
/// the object's encoding, with 0, 1, 3, a and e replaced (no vowels, no
/// look-alikes). The encoding is the JSON of kind, an empty name, data
/// (and a Secret's type), keys sorted — checked against `kubectl kustomize`.
fn suffix(encoding: &serde_json::Value) -> String {
    let digest = Sha256::digest(encoding.to_string().as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    hex.chars()
        .take(10)
        .map(|c| match c {
            '0' => 'g',
            '1' => 'h',
            '3' => 'k',
            'a' => 'm',
            'e' => 't',
            c => c,
        })
        .collect()
}

/// A Secret's value as kustomize writes it: base64, in lines of 70
/// characters each ending in a newline once it takes 70 or more.
fn secret_value(v: &str) -> String {
    const LINE: usize = 70;
    let b64 = base64::engine::general_purpose::STANDARD.encode(v);
    if b64.len() < LINE {
        return b64;
    }
    let mut out = String::with_capacity(b64.len() + b64.len() / LINE + 1);
    for chunk in b64.as_bytes().chunks(LINE) {
        out.push_str(&String::from_utf8_lossy(chunk));
        out.push('\n');
    }
    out
}

/// A literal's value, without one pair of surrounding quotes.
fn unquote(v: &str) -> &str {
    for q in ['"', '\''] {
        if v.len() >= 2 && v.starts_with(q) && v.ends_with(q) {
            return &v[1..v.len() - 1];
        }
    }
    v
}

impl Reader<'_> {
    /// Every generator of kustomization `k`, in order: ConfigMaps, then Secrets.
    pub(super) fn generators(&mut self, k: &Kust) -> Vec<Generated> {
        let mut out = Vec::new();
        for (field, kind) in [
            ("configMapGenerator", "ConfigMap"),
            ("secretGenerator", "Secret"),
        ] {
            for g in k.node.get(field).and_then(Node::as_seq).unwrap_or_default() {
                if let Some(x) = self.generator(k, g, kind) {
                    out.push(x);
                }
            }
        }
        out
    }

    /// Whether generator `g` uses only what the import reproduces (each
    /// other field is reported).
    fn generator_fields(&mut self, g: &Node, kind: &'static str) -> bool {
        let allowed = [
            "name",
            "namespace",
            "behavior",
            "literals",
            "files",
            "envs",
            "env",
            "type",
            "options",
        ];
        for (key, v) in g.as_map().into_iter().flatten() {
            let fine = match key.name.as_str() {
                "behavior" => v.as_str() == Some("create"),
                "options" => v
                    .as_map()
                    .is_some_and(|m| m.iter().all(|(o, _)| o.name == "disableNameSuffixHash")),
                "type" => kind == "Secret",
                k => allowed.contains(&k),
            };
            if !fine {
                self.diags.push(unsupported(
                    &key.span,
                    format!("`{}` of a generator cannot be imported", key.name),
                    "fleetc imports generators that create an object from literals, files and env files (options: disableNameSuffixHash); write the object as a resource file otherwise",
                ));
                return false;
            }
        }
        true
    }

    fn generator(&mut self, k: &Kust, g: &Node, kind: &'static str) -> Option<Generated> {
        if !self.generator_fields(g, kind) {
            return None;
        }
        let Some(name) = g.get("name").and_then(Node::as_str).map(String::from) else {
            self.diags.push(unsupported(
                &g.span,
                "a generator needs a `name`".into(),
                "as kubectl kustomize reads it",
            ));
            return None;
        };
        let mut data: BTreeMap<String, String> = BTreeMap::new();
        self.literals(g, &mut data);
        self.files(k, g, &mut data)?;
        self.env_files(k, g, &mut data)?;
        let no_hash = g
            .get_path(&["options", "disableNameSuffixHash"])
            .and_then(Node::as_bool)
            == Some(true);
        let (mut obj, encoding) = if kind == "Secret" {
            let typ = g
                .get("type")
                .and_then(Node::as_str)
                .unwrap_or("Opaque")
                .to_string();
            let data: BTreeMap<String, String> = data
                .into_iter()
                .map(|(k, v)| (k, secret_value(&v)))
                .collect();
            (
                json!({ "apiVersion": "v1", "kind": "Secret", "metadata": {}, "type": typ, "data": data }),
                json!({ "data": data, "kind": "Secret", "name": "", "type": typ }),
            )
        } else {
            (
                json!({ "apiVersion": "v1", "kind": "ConfigMap", "metadata": {}, "data": data }),
                json!({ "data": data, "kind": "ConfigMap", "name": "" }),
            )
        };
        // An overlay's prefix and suffix go around the name, before the hash.
        let affix = |f: &str| k.node.get(f).and_then(Node::as_str).unwrap_or_default();
        let full = format!("{}{name}{}", affix("namePrefix"), affix("nameSuffix"));
        let hashed = if no_hash {
            full
        } else {
            format!("{full}-{}", suffix(&encoding))
        };
        obj["metadata"]["name"] = json!(hashed);
        if let Some(ns) = g.get("namespace").and_then(Node::as_str) {
            obj["metadata"]["namespace"] = json!(ns);
        }
        Some(Generated {
            kind,
            name,
            hashed,
            yaml: crate::yaml::write::json_to_yaml(&obj),
        })
    }

    fn literals(&mut self, g: &Node, data: &mut BTreeMap<String, String>) {
        for l in g.get("literals").and_then(Node::as_seq).unwrap_or_default() {
            match l.as_str().and_then(|s| s.split_once('=')) {
                Some((k, v)) => {
                    data.insert(k.trim().to_string(), unquote(v).to_string());
                }
                None => self.diags.push(unsupported(
                    &l.span,
                    "a literal must be KEY=VALUE".into(),
                    "as kubectl kustomize reads it",
                )),
            }
        }
    }

    /// A file of the generator, read from inside the kustomization's directory.
    fn generator_file(&mut self, k: &Kust, rel: &str, at: &Span) -> Option<String> {
        let path = join(&k.dir, rel);
        if !path.starts_with(&format!("{}/", k.dir)) {
            self.diags.push(unsupported(
                at,
                format!("{path} is outside the kustomization's directory {}", k.dir),
                "kubectl kustomize reads generator files only from inside it (and fails here)",
            ));
            return None;
        }
        let bytes = self.read_bytes(&path)?;
        match String::from_utf8(bytes) {
            Ok(t) => Some(t),
            Err(_) => {
                self.diags.push(unsupported(
                    at,
                    format!("{path} is not UTF-8 text"),
                    "kustomize puts such a file in binaryData, which the import does not write; write the object as a resource file",
                ));
                None
            }
        }
    }

    fn files(&mut self, k: &Kust, g: &Node, data: &mut BTreeMap<String, String>) -> Option<()> {
        for f in g.get("files").and_then(Node::as_seq).unwrap_or_default() {
            let Some(spec) = f.as_str() else { continue };
            let (key, rel) = match spec.split_once('=') {
                Some((k, p)) => (k.to_string(), p),
                None => (spec.rsplit('/').next().unwrap_or(spec).to_string(), spec),
            };
            let text = self.generator_file(k, rel, &f.span)?;
            data.insert(key, text);
        }
        Some(())
    }

    fn env_files(&mut self, k: &Kust, g: &Node, data: &mut BTreeMap<String, String>) -> Option<()> {
        let mut files: Vec<&Node> = g
            .get("envs")
            .and_then(Node::as_seq)
            .unwrap_or_default()
            .iter()
            .collect();
        files.extend(g.get("env"));
        for f in files {
            let Some(rel) = f.as_str() else { continue };
            let text = self.generator_file(k, rel, &f.span)?;
            for line in text.lines() {
                let line = line.trim_start().trim_end_matches('\r');
                if line.is_empty() || line.starts_with('#') {
                    continue;
                }
                let Some((key, v)) = line.split_once('=') else {
                    self.diags.push(unsupported(
                        &f.span,
                        format!("`{line}` in {rel} takes its value from kustomize's environment"),
                        "write KEY=VALUE",
                    ));
                    return None;
                };
                data.insert(key.trim().to_string(), v.to_string());
            }
        }
        Some(())
    }
}

/// Which generated object a pod spec field refers to: (kind, the field
/// holding the name), looked up under these keys of any map.
const REFERENCES: &[(&str, &str, &str)] = &[
    ("configMapKeyRef", "ConfigMap", "name"),
    ("configMapRef", "ConfigMap", "name"),
    ("configMap", "ConfigMap", "name"),
    ("secretKeyRef", "Secret", "name"),
    ("secretRef", "Secret", "name"),
    ("secret", "Secret", "secretName"),
];

/// JSON 6902 operations rewriting, in object `d`, every reference to a
/// generated object by its generator's name.
pub(super) fn reference_ops(d: &Node, generated: &[Generated]) -> Vec<serde_json::Value> {
    let mut ops = Vec::new();
    walk(d, &mut Vec::new(), generated, &mut ops);
    ops
}

fn walk(
    n: &Node,
    path: &mut Vec<String>,
    generated: &[Generated],
    ops: &mut Vec<serde_json::Value>,
) {
    use crate::yaml::Value;
    match &n.v {
        Value::Map(m) => {
            for (k, v) in m {
                path.push(k.name.replace('~', "~0").replace('/', "~1"));
                let rule = REFERENCES.iter().find(|(key, _, _)| *key == k.name);
                // A secret volume names its Secret with `secretName`; `secret` elsewhere
                // (a projected source) with `name`.
                let rules: Vec<(&str, &str)> = match rule {
                    Some(("secret", kind, _)) => vec![(kind, "secretName"), (kind, "name")],
                    Some((_, kind, field)) => vec![(kind, field)],
                    None => Vec::new(),
                };
                for (kind, field) in rules {
                    let named = v.get(field).and_then(Node::as_str);
                    if let Some(g) = generated
                        .iter()
                        .find(|g| g.kind == kind && Some(g.name.as_str()) == named)
                    {
                        if g.hashed != g.name {
                            ops.push(json!({ "op": "replace", "path": format!("/{}/{field}", path.join("/")), "value": g.hashed }));
                        }
                    }
                }
                if k.name == "imagePullSecrets" {
                    for (i, s) in v.as_seq().unwrap_or_default().iter().enumerate() {
                        let named = s.get("name").and_then(Node::as_str);
                        if let Some(g) = generated
                            .iter()
                            .find(|g| g.kind == "Secret" && Some(g.name.as_str()) == named)
                        {
                            if g.hashed != g.name {
                                ops.push(json!({ "op": "replace", "path": format!("/{}/{i}/name", path.join("/")), "value": g.hashed }));
                            }
                        }
                    }
                }
                walk(v, path, generated, ops);
                path.pop();
            }
        }
        Value::Seq(items) => {
            for (i, item) in items.iter().enumerate() {
                path.push(i.to_string());
                walk(item, path, generated, ops);
                path.pop();
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Suffixes `kubectl kustomize` (kustomize v5.5.0) gave for these generators.
    #[test]
    fn hashes_are_kustomizes() {
        let cm = |data: serde_json::Value| {
            suffix(&json!({ "data": data, "kind": "ConfigMap", "name": "" }))
        };
        assert_eq!(cm(json!({"COLOR": "blue", "SIZE": "3"})), "7ggkb26hb4");
        assert_eq!(cm(json!({"LOG": "debug", "MODE": "fast"})), "9gchb42mk5");
        assert_eq!(
            cm(json!({"greeting": "hello\nworld\n", "motd.txt": "hello\nworld\n"})),
            "7ccg9bg92g"
        );
        let secret = json!({ "data": {"password": "czNjcmV0"}, "kind": "Secret", "name": "", "type": "Opaque" });
        assert_eq!(suffix(&secret), "bf5fk5d75b");
        assert_eq!(unquote("\"a b\""), "a b");
        assert_eq!(secret_value("s3cret"), "czNjcmV0");
        let long = secret_value("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n");
        assert_eq!(long.lines().next().map(str::len), Some(70));
        assert!(long.ends_with("UtLS0tLQo=\n"), "{long}");
        assert_eq!(unquote("'x"), "'x");
    }
}
