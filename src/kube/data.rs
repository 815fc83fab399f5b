//! The embedded Kubernetes API schemas (data/k8s-schemas/schemas.json,
//! written by `cargo xtask k8s-schemas`), parsed once on first use.
//!
//! The file holds each definition once per distinct body with the minors it
//! applies to, and each "apiVersion kind" with the minors that serve it and
//! the name of its definition. Schemas use the compact keys the generator
//! documents: `$` reference, `t` type letters (`z` null), `p` properties,
//! `x` closed, `m` map values, `i` items, `r` required, `e` enum, `f` format,
//! `lt`/`lk` list type and keys, `pu` preserve unknown fields, `er` embedded
//! resource.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use serde_json::Value;

const SCHEMAS: &str = include_str!("../../data/k8s-schemas/schemas.json");

/// JSON types as bits.
pub(crate) const STRING: u8 = 1;
pub(crate) const INTEGER: u8 = 2;
pub(crate) const NUMBER: u8 = 4;
pub(crate) const BOOLEAN: u8 = 8;
pub(crate) const OBJECT: u8 = 16;
pub(crate) const ARRAY: u8 = 32;
pub(crate) const NULL: u8 = 64;

/// A format the API server enforces by decoding the value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Format {
    Byte,
    DateTime,
    Int32,
    Int64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ListType {
    Atomic,
    Map(Vec<String>),
    Set,
}

/// One schema node.
#[derive(Debug)]
pub(crate) struct Schema {
    /// The definition it refers to (then nothing else is set).
    pub reference: Option<String>,
    /// Allowed JSON types; 0 = any.
    pub types: u8,
    pub properties: BTreeMap<String, Schema>,
    /// Unknown fields are refused (additionalProperties: false).
    pub closed: bool,
    /// The schema of a map's values (additionalProperties: schema).
    pub values: Option<Box<Schema>>,
    pub items: Option<Box<Schema>>,
    pub required: Vec<String>,
    pub enumeration: Option<Vec<Value>>,
    pub format: Option<Format>,
    pub list: ListType,
    pub preserve_unknown: bool,
    pub embedded: bool,
}

impl Schema {
    pub(crate) fn parse(v: &Value) -> Schema {
        let boxed = |k: &str| v.get(k).map(|s| Box::new(Schema::parse(s)));
        let strings = |k: &str| -> Vec<String> {
            v.get(k)
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(|x| x.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default()
        };
        let types = v.get("t").and_then(Value::as_str).unwrap_or_default();
        Schema {
            reference: v.get("$").and_then(Value::as_str).map(str::to_string),
            types: types.chars().fold(0, |acc, c| acc | type_bit(c)),
            properties: v
                .get("p")
                .and_then(Value::as_object)
                .map(|m| {
                    m.iter()
                        .map(|(k, s)| (k.clone(), Schema::parse(s)))
                        .collect()
                })
                .unwrap_or_default(),
            closed: v.get("x").is_some(),
            values: boxed("m"),
            items: boxed("i"),
            required: strings("r"),
            enumeration: v.get("e").and_then(Value::as_array).cloned(),
            format: match v.get("f").and_then(Value::as_str) {
                Some("byte") => Some(Format::Byte),
                Some("date-time") => Some(Format::DateTime),
                Some("int32") => Some(Format::Int32),
                Some("int64") => Some(Format::Int64),
                _ => None,
            },
            list: match v.get("lt").and_then(Value::as_str) {
                Some("map") => ListType::Map(strings("lk")),
                Some("set") => ListType::Set,
                _ => ListType::Atomic,
            },
            preserve_unknown: v.get("pu").is_some(),
            embedded: v.get("er").is_some(),
        }
    }
}

fn type_bit(c: char) -> u8 {
    match c {
        's' => STRING,
        'i' => INTEGER,
        'n' => NUMBER,
        'b' => BOOLEAN,
        'o' => OBJECT,
        'a' => ARRAY,
        'z' => NULL,
        _ => 0,
    }
}

/// Something that holds for some minors.
pub(crate) type Variants<T> = Vec<(Vec<u32>, T)>;

pub(crate) struct Data {
    pub first: u32,
    pub last: u32,
    /// Definition name → its bodies by minor.
    pub defs: BTreeMap<String, Variants<Schema>>,
    /// (apiVersion, kind) → its definition by the minors that serve it.
    pub gvks: BTreeMap<(String, String), Variants<String>>,
}

impl Data {
    /// The definition `name` as minor `minor` has it.
    pub(crate) fn def(&self, minor: u32, name: &str) -> Option<&Schema> {
        variant(self.defs.get(name)?, minor)
    }

    /// The definition of `api_version kind` at `minor`, when it serves it.
    pub(crate) fn kind(&self, minor: u32, api_version: &str, kind: &str) -> Option<&Schema> {
        let gvk = (api_version.to_string(), kind.to_string());
        let name = variant(self.gvks.get(&gvk)?, minor)?;
        self.def(minor, name)
    }
}

pub(crate) fn variant<T>(list: &Variants<T>, minor: u32) -> Option<&T> {
    list.iter()
        .find(|(ms, _)| ms.contains(&minor))
        .map(|(_, t)| t)
}

fn minors(v: &Value) -> Vec<u32> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|m| m.as_u64())
                .map(|m| m as u32)
                .collect()
        })
        .unwrap_or_default()
}

fn parse(text: &str) -> Data {
    let doc: Value = serde_json::from_str(text).expect("data/k8s-schemas/schemas.json is JSON");
    let range = minors(&doc["minors"]);
    let mut defs = BTreeMap::new();
    for (name, vs) in doc["defs"].as_object().into_iter().flatten() {
        let list = vs
            .as_array()
            .into_iter()
            .flatten()
            .map(|pair| (minors(&pair[0]), Schema::parse(&pair[1])))
            .collect();
        defs.insert(name.clone(), list);
    }
    let mut gvks = BTreeMap::new();
    for (key, vs) in doc["gvks"].as_object().into_iter().flatten() {
        let Some((api, kind)) = key.split_once(' ') else {
            continue;
        };
        let list = vs
            .as_array()
            .into_iter()
            .flatten()
            .map(|pair| {
                (
                    minors(&pair[0]),
                    pair[1].as_str().unwrap_or_default().to_string(),
                )
            })
            .collect();
        gvks.insert((api.to_string(), kind.to_string()), list);
    }
    Data {
        first: range.first().copied().unwrap_or(0),
        last: range.last().copied().unwrap_or(0),
        defs,
        gvks,
    }
}

/// The embedded data, parsed on first use.
pub(crate) fn get() -> &'static Data {
    static DATA: OnceLock<Data> = OnceLock::new();
    DATA.get_or_init(|| parse(SCHEMAS))
}
