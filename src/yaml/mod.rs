//! Strict YAML reading into a span-carrying tree.
//!
//! Every node and every mapping key keeps the [`Span`] it came from, which is
//! what lets later stages say `file:line:col` for a value that was merged,
//! templated or checked far away from where it was written. We build the
//! tree from serde-saphyr's event parser (`granit_parser`) rather than
//! deserialising through serde, because fleet values are schemaless trees
//! and every leaf needs its own location.
//!
//! Strictness (SPEC §1): duplicate keys, tags other than the YAML core
//! schema's, merge keys, too deep nesting and too many nodes (which also
//! bounds alias expansion, so "billion laughs" fails fast) are errors.
//! Plain scalars resolve by the YAML 1.2 core schema, the same way
//! kustomize's reader does.

pub mod fast;
pub mod write;

use crate::diag::Code;
use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use indexmap::IndexMap;
use serde::ser::{SerializeMap, SerializeSeq};
use serde_saphyr::granit_parser::{Event, Options, Parser, ScalarStyle, ScanError};

use crate::diag::{plural, Diagnostic, Source, Span};

/// Limits applied while reading one file.
#[derive(Clone, Debug)]
pub struct Budget {
    /// Deepest nesting of mappings and sequences.
    pub max_depth: usize,
    /// Nodes in one file, counting every alias expansion.
    pub max_nodes: usize,
    /// Documents in one file.
    pub max_documents: usize,
    /// Aliases (`*name`) in one file.
    pub max_aliases: usize,
}

impl Default for Budget {
    fn default() -> Self {
        Budget {
            max_depth: 100,
            max_nodes: 2_000_000,
            max_documents: 10_000,
            max_aliases: 10_000,
        }
    }
}

/// A mapping key: its text and where it was written. Hashes and compares by text only.
#[derive(Clone, Debug)]
pub struct Key {
    pub name: String,
    pub span: Span,
}

impl PartialEq for Key {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
    }
}
impl Eq for Key {}
impl Hash for Key {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.name.hash(state)
    }
}
impl Borrow<str> for Key {
    fn borrow(&self) -> &str {
        &self.name
    }
}

pub type Map = IndexMap<Key, Node>;

#[derive(Clone, Debug)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Seq(Vec<Node>),
    Map(Map),
}

/// A YAML node with the span it was read from.
#[derive(Clone, Debug)]
pub struct Node {
    pub v: Value,
    pub span: Span,
}

impl Node {
    pub fn new(v: Value, span: Span) -> Node {
        Node { v, span }
    }

    pub fn as_map(&self) -> Option<&Map> {
        match &self.v {
            Value::Map(m) => Some(m),
            _ => None,
        }
    }

    pub fn as_map_mut(&mut self) -> Option<&mut Map> {
        match &mut self.v {
            Value::Map(m) => Some(m),
            _ => None,
        }
    }

    pub fn as_seq(&self) -> Option<&[Node]> {
        match &self.v {
            Value::Seq(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match &self.v {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_i64(&self) -> Option<i64> {
        match &self.v {
            Value::Int(i) => Some(*i),
            _ => None,
        }
    }

    pub fn as_bool(&self) -> Option<bool> {
        match &self.v {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }

    pub fn is_null(&self) -> bool {
        matches!(self.v, Value::Null)
    }

    /// `self[key]` for a mapping.
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.as_map().and_then(|m| m.get(key))
    }

    /// Follow a path of mapping keys.
    pub fn get_path(&self, path: &[&str]) -> Option<&Node> {
        let mut n = self;
        for k in path {
            n = n.get(k)?;
        }
        Some(n)
    }

    /// The span of the key `key` in this mapping, else this node's span.
    pub fn key_span(&self, key: &str) -> Span {
        self.as_map()
            .and_then(|m| m.get_key_value(key))
            .map_or_else(|| self.span.clone(), |(k, _)| k.span.clone())
    }

    /// Structural equality, ignoring spans and key order.
    pub fn same(&self, other: &Node) -> bool {
        self.v.same(&other.v)
    }

    /// A short name of the node's type for messages.
    pub fn type_name(&self) -> &'static str {
        match self.v {
            Value::Null => "null",
            Value::Bool(_) => "boolean",
            Value::Int(_) | Value::Float(_) => "number",
            Value::Str(_) => "string",
            Value::Seq(_) => "list",
            Value::Map(_) => "mapping",
        }
    }

    /// A mapping node built in code (spans point at `span`).
    pub fn map(entries: Map, span: Span) -> Node {
        Node::new(Value::Map(entries), span)
    }

    pub fn string(s: impl Into<String>, span: &Span) -> Node {
        Node::new(Value::Str(s.into()), span.clone())
    }

    /// Convert to a JSON value (for schemas, templates and inventory).
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or(serde_json::Value::Null)
    }

    /// Build a node from a JSON value; every span points at `span`.
    /// [`Node::from_json`] for an object fleetc builds itself: every node
    /// at the start of a source named `<generated>`.
    pub fn generated(v: &serde_json::Value) -> Node {
        let src = crate::diag::Source::new("<generated>", "");
        Node::from_json(v, &Span::file(&src))
    }

    pub fn from_json(v: &serde_json::Value, span: &Span) -> Node {
        let value = match v {
            serde_json::Value::Null => Value::Null,
            serde_json::Value::Bool(b) => Value::Bool(*b),
            serde_json::Value::Number(n) => match n.as_i64() {
                Some(i) => Value::Int(i),
                None => Value::Float(n.as_f64().unwrap_or(0.0)),
            },
            serde_json::Value::String(s) => Value::Str(s.clone()),
            serde_json::Value::Array(a) => {
                Value::Seq(a.iter().map(|x| Node::from_json(x, span)).collect())
            }
            serde_json::Value::Object(o) => Value::Map(
                o.iter()
                    .map(|(k, x)| {
                        (
                            Key {
                                name: k.clone(),
                                span: span.clone(),
                            },
                            Node::from_json(x, span),
                        )
                    })
                    .collect(),
            ),
        };
        Node::new(value, span.clone())
    }
}

impl Value {
    pub fn same(&self, other: &Value) -> bool {
        match (self, other) {
            (Value::Null, Value::Null) => true,
            (Value::Bool(a), Value::Bool(b)) => a == b,
            (Value::Int(a), Value::Int(b)) => a == b,
            (Value::Float(a), Value::Float(b)) => a.to_bits() == b.to_bits(),
            (Value::Int(a), Value::Float(b)) | (Value::Float(b), Value::Int(a)) => {
                (*a as f64) == *b
            }
            (Value::Str(a), Value::Str(b)) => a == b,
            (Value::Seq(a), Value::Seq(b)) => {
                a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.same(y))
            }
            (Value::Map(a), Value::Map(b)) => {
                a.len() == b.len()
                    && a.iter()
                        .all(|(k, x)| b.get(k.name.as_str()).is_some_and(|y| x.same(y)))
            }
            _ => false,
        }
    }
}

impl serde::Serialize for Node {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match &self.v {
            Value::Null => s.serialize_unit(),
            Value::Bool(b) => s.serialize_bool(*b),
            Value::Int(i) => s.serialize_i64(*i),
            Value::Float(f) => s.serialize_f64(*f),
            Value::Str(x) => s.serialize_str(x),
            Value::Seq(items) => {
                let mut seq = s.serialize_seq(Some(items.len()))?;
                for i in items {
                    seq.serialize_element(i)?;
                }
                seq.end()
            }
            Value::Map(m) => {
                let mut map = s.serialize_map(Some(m.len()))?;
                for (k, v) in m {
                    map.serialize_entry(&k.name, v)?;
                }
                map.end()
            }
        }
    }
}

/// Resolve a plain scalar by the YAML 1.2 core schema.
pub fn resolve_plain(s: &str) -> Value {
    match s {
        "" | "~" | "null" | "Null" | "NULL" => return Value::Null,
        "true" | "True" | "TRUE" => return Value::Bool(true),
        "false" | "False" | "FALSE" => return Value::Bool(false),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => {
            return Value::Float(f64::INFINITY)
        }
        "-.inf" | "-.Inf" | "-.INF" => return Value::Float(f64::NEG_INFINITY),
        ".nan" | ".NaN" | ".NAN" => return Value::Float(f64::NAN),
        _ => {}
    }
    let b = s.as_bytes();
    if let Some(hex) = s.strip_prefix("0x") {
        if !hex.is_empty() && hex.bytes().all(|c| c.is_ascii_hexdigit()) {
            if let Ok(i) = i64::from_str_radix(hex, 16) {
                return Value::Int(i);
            }
        }
    }
    if let Some(oct) = s.strip_prefix("0o") {
        if !oct.is_empty() && oct.bytes().all(|c| (b'0'..=b'7').contains(&c)) {
            if let Ok(i) = i64::from_str_radix(oct, 8) {
                return Value::Int(i);
            }
        }
    }
    let digits = if matches!(b.first(), Some(b'-' | b'+')) {
        &s[1..]
    } else {
        s
    };
    if !digits.is_empty() && digits.bytes().all(|c| c.is_ascii_digit()) {
        return match s.parse::<i64>() {
            Ok(i) => Value::Int(i),
            Err(_) => s
                .parse::<f64>()
                .map_or_else(|_| Value::Str(s.into()), Value::Float),
        };
    }
    if is_core_float(digits) {
        if let Ok(f) = s.parse::<f64>() {
            return Value::Float(f);
        }
    }
    Value::Str(s.to_string())
}

/// `( \.[0-9]+ | [0-9]+ ( \. [0-9]* )? ) ( [eE] [-+]? [0-9]+ )?` without the sign.
fn is_core_float(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    let int_digits = b.iter().take_while(|c| c.is_ascii_digit()).count();
    i += int_digits;
    let mut frac_digits = 0;
    if i < b.len() && b[i] == b'.' {
        i += 1;
        frac_digits = b[i..].iter().take_while(|c| c.is_ascii_digit()).count();
        i += frac_digits;
    }
    if int_digits == 0 && frac_digits == 0 {
        return false;
    }
    if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
        i += 1;
        if i < b.len() && (b[i] == b'-' || b[i] == b'+') {
            i += 1;
        }
        let e = b[i..].iter().take_while(|c| c.is_ascii_digit()).count();
        if e == 0 {
            return false;
        }
        i += e;
    }
    i == b.len()
}

/// Parse every document of `src`. Empty documents are dropped.
///
/// Plain block YAML takes the fast path ([`super::fast`]); anything else,
/// and every error, comes from the general parser.
pub fn parse_documents(src: &Arc<Source>, budget: &Budget) -> Result<Vec<Node>, Diagnostic> {
    if let Some(docs) = fast::parse(src, budget) {
        return Ok(docs);
    }
    parse_general(src, budget)
}

/// [`parse_documents`] without the fast path.
pub(crate) fn parse_general(src: &Arc<Source>, budget: &Budget) -> Result<Vec<Node>, Diagnostic> {
    let mut b = Builder {
        src,
        budget,
        stack: Vec::new(),
        anchors: HashMap::new(),
        docs: Vec::new(),
        nodes: 0,
        aliases: 0,
    };
    let mut opts = Options::default();
    opts.block_nesting_limit = budget.max_depth.saturating_add(1);
    opts.flow_nesting_limit = budget.max_depth.saturating_add(1);
    let parser = Parser::new_from_str_with_options(&src.text, opts);
    for item in parser {
        let (ev, span) = item.map_err(|e| scan_error(src, &e))?;
        let start = span.start.byte_offset().unwrap_or(0);
        let end = span.end.byte_offset().unwrap_or(start);
        b.event(ev, start, end)?;
    }
    Ok(b.docs)
}

/// Parse a file that must hold exactly one document.
pub fn parse_single(src: &Arc<Source>, budget: &Budget) -> Result<Option<Node>, Diagnostic> {
    let mut docs = parse_documents(src, budget)?;
    match docs.len() {
        0 => Ok(None),
        1 => Ok(docs.pop()),
        _ => Err(Diagnostic::error(
            Code::YamlDocuments,
            "this file holds more than one YAML document",
        )
        .at(&docs[1].span)
        .label("second document")
        .help("a fleet object file holds exactly one object; split it into files")),
    }
}

fn scan_error(src: &Arc<Source>, e: &ScanError) -> Diagnostic {
    let m = e.marker();
    let off = m.byte_offset().unwrap_or(0);
    let msg = e.info();
    let (code, message, help) = if msg.contains("nesting") || msg.contains("recursion") {
        (
            Code::YamlBudget,
            format!("YAML nesting is too deep ({msg})"),
            Some("nested mappings and lists are limited; flatten the structure"),
        )
    } else if msg.contains("unknown anchor") {
        (Code::YamlAlias, format!("invalid YAML: {msg}"), None)
    } else {
        (Code::YamlSyntax, format!("invalid YAML: {msg}"), None)
    };
    let d = Diagnostic::error(code, message).at(&Span::new(src, off, off + 1));
    match help {
        Some(h) => d.help(h),
        None => d,
    }
}

enum Frame {
    Seq {
        items: Vec<Node>,
        start: usize,
        anchor: usize,
    },
    Map {
        map: Map,
        pending: Option<Key>,
        start: usize,
        anchor: usize,
    },
}

struct Builder<'a> {
    src: &'a Arc<Source>,
    budget: &'a Budget,
    stack: Vec<Frame>,
    anchors: HashMap<usize, Node>,
    docs: Vec<Node>,
    nodes: usize,
    aliases: usize,
}

impl Builder<'_> {
    fn span(&self, start: usize, end: usize) -> Span {
        Span::new(self.src, start, end)
    }

    fn count(&mut self, n: usize, at: usize) -> Result<(), Diagnostic> {
        self.nodes = self.nodes.saturating_add(n);
        if self.nodes > self.budget.max_nodes {
            return Err(Diagnostic::error(Code::YamlBudget, format!(
                "this file expands to more than {}",
                plural(self.budget.max_nodes, "YAML node", "YAML nodes")
            ))
            .at(&self.span(at, at + 1))
            .help("aliases that repeat large anchors multiply the size (\"billion laughs\"); write the data out, split the file, or raise the budget with `--limit yaml-nodes=N`"));
        }
        Ok(())
    }

    fn check_tag(
        &self,
        tag: Option<&serde_saphyr::granit_parser::Tag>,
        start: usize,
        end: usize,
        expect: &[&str],
    ) -> Result<Option<String>, Diagnostic> {
        let Some(t) = tag else { return Ok(None) };
        if t.is_yaml_core_schema() {
            let suffix = t.suffix().to_string();
            if expect.contains(&suffix.as_str()) {
                return Ok(Some(suffix));
            }
        }
        let shown = format!("{}{}", t.original_handle(), t.suffix());
        Err(Diagnostic::error(Code::YamlTag, format!("YAML tag `{shown}` is not allowed"))
            .at(&self.span(start, end))
            .label("custom tag")
            .help("fleet files and manifests are plain YAML; remove the tag (quote the value if it must be a string)"))
    }

    fn event(&mut self, ev: Event<'_>, start: usize, end: usize) -> Result<(), Diagnostic> {
        match ev {
            Event::StreamStart | Event::StreamEnd | Event::DocumentStart(..) => Ok(()),
            Event::DocumentEnd => {
                self.anchors.clear();
                Ok(())
            }
            Event::Alias(id) => {
                self.aliases += 1;
                if self.aliases > self.budget.max_aliases {
                    return Err(Diagnostic::error(Code::YamlAlias, format!(
                        "this file uses more than {}",
                        plural(self.budget.max_aliases, "YAML alias", "YAML aliases")
                    ))
                    .at(&self.span(start, end))
                    .help("write the data out, split the file, or raise the budget with `--limit yaml-aliases=N`"));
                }
                let Some(node) = self.anchors.get(&id).cloned() else {
                    return Err(Diagnostic::error(
                        Code::YamlAlias,
                        "alias refers to an unknown anchor",
                    )
                    .at(&self.span(start, end)));
                };
                self.count(count_nodes(&node), start)?;
                self.add(node, start, end)
            }
            Event::Scalar(text, style, anchor, tag) => {
                let tag = self.check_tag(
                    tag.as_deref(),
                    start,
                    end,
                    &["str", "int", "float", "bool", "null"],
                )?;
                let span = self.span(start, end);
                let v = match (tag.as_deref(), style) {
                    (Some("str"), _) => Value::Str(text.to_string()),
                    (None, ScalarStyle::Plain) => resolve_plain(&text),
                    (None, _) => Value::Str(text.to_string()),
                    (Some(t), _) => {
                        let v = resolve_plain(&text);
                        let ok = matches!(
                            (t, &v),
                            ("int", Value::Int(_))
                                | ("float", Value::Float(_) | Value::Int(_))
                                | ("bool", Value::Bool(_))
                                | ("null", Value::Null)
                        );
                        if !ok {
                            return Err(Diagnostic::error(
                                Code::YamlTag,
                                format!("`{text}` is not a valid !!{t}"),
                            )
                            .at(&span));
                        }
                        match (t, v) {
                            ("float", Value::Int(i)) => Value::Float(i as f64),
                            (_, v) => v,
                        }
                    }
                };
                self.count(1, start)?;
                let node = Node::new(v, span);
                if anchor != 0 {
                    self.anchors.insert(anchor, node.clone());
                }
                self.add(node, start, end)
            }
            Event::SequenceStart(_, anchor, tag) => {
                self.check_tag(tag.as_deref(), start, end, &["seq"])?;
                self.push_frame(
                    Frame::Seq {
                        items: Vec::new(),
                        start,
                        anchor,
                    },
                    start,
                )
            }
            Event::MappingStart(_, anchor, tag) => {
                self.check_tag(tag.as_deref(), start, end, &["map"])?;
                self.push_frame(
                    Frame::Map {
                        map: Map::new(),
                        pending: None,
                        start,
                        anchor,
                    },
                    start,
                )
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let frame = self.stack.pop().expect("balanced events");
                let (node, anchor) = match frame {
                    Frame::Seq {
                        items,
                        start: s,
                        anchor,
                    } => (Node::new(Value::Seq(items), self.span(s, end)), anchor),
                    Frame::Map {
                        map,
                        start: s,
                        anchor,
                        ..
                    } => (Node::new(Value::Map(map), self.span(s, end)), anchor),
                };
                if anchor != 0 {
                    self.anchors.insert(anchor, node.clone());
                }
                self.add(node, start, end)
            }
            _ => Ok(()),
        }
    }

    fn push_frame(&mut self, f: Frame, start: usize) -> Result<(), Diagnostic> {
        if self.stack.len() >= self.budget.max_depth {
            return Err(Diagnostic::error(
                Code::YamlBudget,
                format!(
                    "YAML nesting is deeper than {}",
                    plural(self.budget.max_depth, "level", "levels")
                ),
            )
            .at(&self.span(start, start + 1))
            .help("flatten the structure, or raise the budget with `--limit yaml-depth=N`"));
        }
        self.count(1, start)?;
        self.stack.push(f);
        Ok(())
    }

    fn add(&mut self, node: Node, start: usize, end: usize) -> Result<(), Diagnostic> {
        let src = self.src.clone();
        match self.stack.last_mut() {
            None => {
                if self.docs.len() >= self.budget.max_documents {
                    return Err(Diagnostic::error(
                        Code::YamlBudget,
                        format!(
                            "more than {} in one file",
                            plural(self.budget.max_documents, "YAML document", "YAML documents")
                        ),
                    )
                    .at(&Span::new(&src, start, end))
                    .help("split the file, or raise the budget with `--limit yaml-documents=N`"));
                }
                // An empty document (`---` alone) is a null scalar: dropped.
                if !node.is_null() {
                    self.docs.push(node);
                }
                Ok(())
            }
            Some(Frame::Seq { items, .. }) => {
                items.push(node);
                Ok(())
            }
            Some(Frame::Map { map, pending, .. }) => {
                match pending.take() {
                    None => {
                        let Some(name) = key_name(&node.v) else {
                            return Err(Diagnostic::error(
                                Code::YamlComplexKey,
                                "a mapping key must be a scalar, not a list or mapping",
                            )
                            .at(&node.span));
                        };
                        if name == "<<" {
                            return Err(Diagnostic::error(Code::YamlMergeKey, "YAML merge keys (`<<`) are not supported")
                            .at(&node.span)
                            .help("write the keys out; Kubernetes' own readers disagree on merge keys"));
                        }
                        if let Some((first, _)) = map.get_key_value(name.as_str()) {
                            return Err(Diagnostic::error(
                                Code::YamlDuplicateKey,
                                format!("duplicate key `{name}`"),
                            )
                            .at(&node.span)
                            .label("duplicate key")
                            .related(&first.span, "first defined here")
                            .help("remove one of the two keys"));
                        }
                        *pending = Some(Key {
                            name,
                            span: node.span,
                        });
                        Ok(())
                    }
                    Some(key) => {
                        map.insert(key, node);
                        Ok(())
                    }
                }
            }
        }
    }
}

/// The text of a mapping key read as `v` (None for a collection).
pub(crate) fn key_name(v: &Value) -> Option<String> {
    Some(match v {
        Value::Str(s) => s.clone(),
        Value::Int(i) => i.to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Float(f) => f.to_string(),
        Value::Null => String::new(),
        Value::Seq(_) | Value::Map(_) => return None,
    })
}

fn count_nodes(n: &Node) -> usize {
    match &n.v {
        Value::Seq(s) => 1 + s.iter().map(count_nodes).sum::<usize>(),
        Value::Map(m) => 1 + m.values().map(count_nodes).sum::<usize>(),
        _ => 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<Vec<Node>, Diagnostic> {
        parse_documents(&Source::new("t.yaml", s), &Budget::default())
    }

    #[test]
    fn scalars_resolve_by_core_schema() {
        let d = parse("a: 1\nb: '1'\nc: on\nd: 1.5\ne: ~\nf: 0x10\ng: 1e3\nh: true\n").unwrap();
        let m = d[0].as_map().unwrap();
        assert!(matches!(m["a"].v, Value::Int(1)));
        assert!(matches!(m["b"].v, Value::Str(_)));
        assert!(matches!(m["c"].v, Value::Str(_)));
        assert!(matches!(m["d"].v, Value::Float(_)));
        assert!(m["e"].is_null());
        assert!(matches!(m["f"].v, Value::Int(16)));
        assert!(matches!(m["g"].v, Value::Float(_)));
        assert!(matches!(m["h"].v, Value::Bool(true)));
    }

    #[test]
    fn duplicate_keys_are_errors() {
        let e = parse("a: 1\nb: 2\na: 3\n").unwrap_err();
        assert!(e.message.contains("duplicate key `a`"));
        assert_eq!(e.span.unwrap().line(), 3);
    }

    #[test]
    fn custom_tags_are_errors() {
        assert!(parse("a: !foo 1\n").is_err());
        assert!(parse("a: !!str 1\n").is_ok());
    }

    #[test]
    fn alias_bombs_fail_fast() {
        let mut s = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..12 {
            let p = i - 1;
            s.push_str(&format!(
                "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
            ));
        }
        let e = parse(&s).unwrap_err();
        assert!(e.message.contains("more than"), "{}", e.message);
    }

    #[test]
    fn deep_nesting_fails() {
        let s = format!("{}1{}", "[".repeat(500), "]".repeat(500));
        assert!(parse(&s).is_err());
        let s: String = (0..300)
            .map(|i| format!("{}k:\n", "  ".repeat(i)))
            .collect();
        assert!(parse(&s).is_err());
    }

    #[test]
    fn empty_documents_are_dropped() {
        let d = parse("---\n---\na: 1\n---\n").unwrap();
        assert_eq!(d.len(), 1);
    }
}
