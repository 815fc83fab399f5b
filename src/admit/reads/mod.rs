//! What of an object a policy can read, found from the policy's own
//! expressions before anything runs.
//!
//! The same object often differs from cluster to cluster only where no
//! policy looks (an environment variable with the cluster's name, a
//! ConfigMap value). A policy's answer is a function of the policy, of
//! what it reads of the object, and of the cluster data it reads (keyed
//! apart); so it is remembered by a digest of only the parts it reads
//! ([`Reads::hash`]), and computed once for all clusters that agree on
//! them.
//!
//! The analysis is conservative: a value an expression uses as a whole
//! (compares, passes to a function, prints) is read whole; navigating into
//! a value (a field, an index, an iteration) reads only where it goes; a
//! construct the analysis does not follow reads the whole object. Reading
//! too much only costs a repeated evaluation; reading too little would
//! give a wrong answer, so every rule here errs on the side of more.

use std::collections::BTreeMap;

use sha2::{Digest, Sha256};

use crate::accept::{cluster_label, write_text as text, write_tree as whole};
use crate::yaml::{Node, Value};

pub mod cel;
pub mod kyverno;
pub mod rego;
#[cfg(test)]
mod tests;

/// One step of a path into an object.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Seg {
    /// A map's field.
    Field(String),
    /// Every element of a list, or every entry (keys too) of a map.
    Any,
}

/// A value that is (a part of) the object: the path it sits at, under
/// `wrap` levels of list literals made around it (`[c]` wraps `c` once).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Alias {
    pub path: Vec<Seg>,
    pub wrap: u8,
}

/// The parts of the object a value is made of, when navigating into the
/// value navigates into them.
pub type Aliases = Vec<Alias>;

/// The most aliases one value keeps; past it they are read whole.
const MAX_ALIASES: usize = 64;

impl Alias {
    pub fn root() -> Alias {
        Alias {
            path: Vec::new(),
            wrap: 0,
        }
    }

    pub fn at(path: &[&str]) -> Alias {
        Alias {
            path: path.iter().map(|s| Seg::Field((*s).to_string())).collect(),
            wrap: 0,
        }
    }

    /// The value at `seg` below this one (None: a field of a list literal,
    /// which is an error, not a read).
    pub fn step(&self, seg: Seg) -> Option<Alias> {
        if self.wrap > 0 {
            return (seg == Seg::Any).then(|| Alias {
                path: self.path.clone(),
                wrap: self.wrap - 1,
            });
        }
        let mut path = self.path.clone();
        path.push(seg);
        Some(Alias { path, wrap: 0 })
    }
}

/// Each alias's value at `seg`.
pub fn step(aliases: &[Alias], seg: &Seg) -> Aliases {
    aliases.iter().filter_map(|a| a.step(seg.clone())).collect()
}

/// The elements (every entry) of each alias, touching what iterating them
/// reads: a list's length, a map's keys.
pub fn elements(aliases: &[Alias], out: &mut Reads) -> Aliases {
    let e = step(aliases, &Seg::Any);
    for x in e.iter().filter(|x| x.wrap == 0) {
        out.touch(&x.path);
    }
    e
}

/// The same aliases inside one more collection (a list literal, a
/// projection, a comprehension's result).
pub fn wrapped(aliases: Aliases) -> Aliases {
    aliases
        .into_iter()
        .map(|a| Alias {
            wrap: a.wrap.saturating_add(1),
            ..a
        })
        .collect()
}

/// Read the size of each alias: a map's keys, a list's length.
pub fn count(aliases: &[Alias], out: &mut Reads) {
    for a in aliases.iter().filter(|a| a.wrap == 0) {
        out.count(&a.path);
    }
}

/// The union of two alias sets, without repeats.
pub fn union(mut a: Aliases, b: Aliases, out: &mut Reads) -> Aliases {
    a.extend(b);
    a.sort();
    a.dedup();
    if a.len() > MAX_ALIASES {
        out.consume(&a);
        a.clear();
    }
    a
}

/// A tree of the paths read: `whole` reads everything below; otherwise a
/// node's kind (missing, null, scalar value, list length, map) is read and
/// its children say which fields, or every element (`any`), are read below.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Reads {
    /// The answer may depend on the cluster's name: the policy names the
    /// label that carries it ([`CLUSTER_LABEL`]).
    pub cluster: bool,
    whole: bool,
    /// A map's keys (a list's length is always read): what a count reads.
    keys: bool,
    /// The CEL variables besides `object` its expressions name
    /// ([`ROOT_REQUEST`], [`ROOT_NAMESPACE`]): the others are not built.
    pub roots: u8,
    fields: BTreeMap<String, Reads>,
    any: Option<Box<Reads>>,
}

impl Reads {
    /// Reads everything.
    pub fn all() -> Reads {
        Reads {
            whole: true,
            roots: ROOT_REQUEST | ROOT_NAMESPACE | ROOT_RESOURCE,
            ..Reads::default()
        }
    }

    pub fn is_all(&self) -> bool {
        self.whole
    }

    fn add(&mut self, path: &[Seg], whole: bool) {
        if self.whole {
            return;
        }
        let Some((first, rest)) = path.split_first() else {
            if whole {
                *self = Reads::all();
            }
            return;
        };
        let child = match first {
            Seg::Field(f) => self.fields.entry(f.clone()).or_default(),
            Seg::Any => self.any.get_or_insert_with(Box::default),
        };
        child.add(rest, whole);
    }

    /// Read the value at `path` whole.
    pub fn read(&mut self, path: &[Seg]) {
        self.add(path, true);
    }

    /// Read only what kind of value sits at `path` (whether it is there,
    /// a scalar's value, a list's length, a map's keys with `Any`).
    pub fn touch(&mut self, path: &[Seg]) {
        self.add(path, false);
    }

    /// Read the number of entries at `path`: a map's keys, a list's length,
    /// a string's value.
    pub fn count(&mut self, path: &[Seg]) {
        self.add(path, false);
        let mut node = self;
        for seg in path {
            if node.whole {
                return;
            }
            node = match seg {
                Seg::Field(f) => node.fields.entry(f.clone()).or_default(),
                Seg::Any => node.any.get_or_insert_with(Box::default),
            };
        }
        node.keys = true;
    }

    /// Read each alias whole (a list literal around it too).
    pub fn consume(&mut self, aliases: &[Alias]) {
        for a in aliases {
            self.read(&a.path);
        }
    }

    pub fn merge(&mut self, other: &Reads) {
        if self.whole {
            return;
        }
        if other.whole {
            *self = Reads::all();
            return;
        }
        self.keys |= other.keys;
        self.roots |= other.roots;
        self.cluster |= other.cluster;
        for (k, v) in &other.fields {
            self.fields.entry(k.clone()).or_default().merge(v);
        }
        if let Some(a) = &other.any {
            self.any.get_or_insert_with(Box::default).merge(a);
        }
    }

    /// The parts of `node` this tree reads, as JSON, for an evaluator to
    /// convert instead of the whole object: a field it does not read is
    /// left out; an entry of a map whose keys only are read, and an
    /// element of a list whose length only is read, is null. The
    /// projection has the same [`Reads::hash`] as the object (checked on
    /// every evaluation in debug builds), so an expression that reads no
    /// more than this tree cannot tell them apart.
    pub fn project(&self, node: &Node) -> serde_json::Value {
        use serde_json::Value as Json;
        if self.whole {
            return node.to_json();
        }
        match &node.v {
            Value::Seq(items) => Json::Array(
                items
                    .iter()
                    .map(|i| self.any.as_ref().map_or(Json::Null, |a| a.project(i)))
                    .collect(),
            ),
            Value::Map(m) => {
                let mut out = serde_json::Map::new();
                for (k, v) in m {
                    let value = match (self.fields.get(k.name.as_str()), self.any.as_deref()) {
                        (Some(f), Some(a)) => {
                            let mut both = f.clone();
                            both.merge(a);
                            both.project(v)
                        }
                        (Some(r), None) | (None, Some(r)) => r.project(v),
                        (None, None) if self.keys => Json::Null,
                        (None, None) => continue,
                    };
                    out.insert(k.name.clone(), value);
                }
                Json::Object(out)
            }
            _ => node.to_json(),
        }
    }

    /// Add to `h` the parts of `node` this tree reads. Two objects with
    /// the same digest look the same to every expression that reads no
    /// more than this tree.
    pub fn hash(&self, node: &Node, h: &mut Vec<u8>) {
        self.walk(Some(node), h, 0);
    }

    fn walk(&self, node: Option<&Node>, h: &mut Vec<u8>, depth: usize) {
        let Some(node) = node else {
            h.push(b'-');
            return;
        };
        if self.whole {
            whole(node, h, depth);
            return;
        }
        match &node.v {
            Value::Seq(items) => {
                h.push(b'[');
                h.extend_from_slice(&(items.len() as u64).to_le_bytes());
                if let Some(any) = &self.any {
                    for i in items {
                        any.walk(Some(i), h, depth + 1);
                    }
                }
            }
            Value::Map(m) => {
                h.push(b'{');
                if self.keys {
                    h.push(b'#');
                    for k in m.keys().filter(|k| !cluster_label(depth, &k.name)) {
                        text(h, b'k', &k.name);
                    }
                }
                for (k, child) in &self.fields {
                    text(h, b'k', k);
                    child.walk(m.get(k.as_str()), h, depth + 1);
                }
                if let Some(any) = &self.any {
                    h.push(b'*');
                    for (k, v) in m {
                        if cluster_label(depth, &k.name) {
                            continue;
                        }
                        text(h, b'k', &k.name);
                        any.walk(Some(v), h, depth + 1);
                    }
                }
                h.push(b'}');
            }
            _ => whole(node, h, depth),
        }
    }
}

/// CEL's `request` is read.
pub const ROOT_REQUEST: u8 = 1;
/// CEL's `namespaceObject` is read.
pub const ROOT_NAMESPACE: u8 = 2;
/// Kyverno's CEL `resource` library is called.
pub const ROOT_RESOURCE: u8 = 4;

pub use crate::render::CLUSTER_LABEL;

/// What every policy's matching reads: the object's kind, name,
/// namespace, labels and annotations.
pub fn identity() -> Reads {
    let mut r = Reads::default();
    for p in [
        &["apiVersion"][..],
        &["kind"],
        &["metadata", "name"],
        &["metadata", "generateName"],
        &["metadata", "namespace"],
        &["metadata", "labels"],
        &["metadata", "annotations"],
    ] {
        r.read(&Alias::at(p).path);
    }
    r
}

/// The digest an answer is remembered by: what `reads` reads of `node`
/// (`buf` is scratch space, kept between calls).
pub fn digest(reads: &Reads, node: &Node, buf: &mut Vec<u8>) -> [u8; 32] {
    buf.clear();
    reads.hash(node, buf);
    Sha256::digest(&buf[..]).into()
}

/// The digest of what every policy's matching reads of an object (see
/// [`identity`]), with what else the caller adds (`extra`).
pub fn identity_digest(node: &Node, extra: &[&[u8]], buf: &mut Vec<u8>) -> [u8; 32] {
    static IDENTITY: std::sync::OnceLock<Reads> = std::sync::OnceLock::new();
    buf.clear();
    for e in extra {
        buf.extend_from_slice(&(e.len() as u64).to_le_bytes());
        buf.extend_from_slice(e);
    }
    IDENTITY.get_or_init(identity).hash(node, buf);
    Sha256::digest(&buf[..]).into()
}
