//! Checking fleet objects against the embedded JSON Schemas (`fleet-schema/`).
//!
//! The schemas are the contract editors see; the same files are compiled
//! into the binary. Each kind's file refers to shared definitions in
//! `defs.schema.json`; [`bundled`] inlines them so a printed schema stands
//! alone. Errors are mapped from JSON pointers back to the YAML spans of the
//! offending value (or key), with a "did you mean" for unknown fields.

use crate::diag::Code;
use crate::suggest::did_you_mean;
use std::sync::OnceLock;

use jsonschema::error::ValidationErrorKind;
use serde_json::Value as Json;

use crate::diag::Diagnostic;
use crate::yaml::{Node, Value};

/// Every schema compiled into the binary: (name, file text).
pub const SCHEMAS: &[(&str, &str)] = &[
    ("Fleet", include_str!("../fleet-schema/fleet.schema.json")),
    (
        "Cluster",
        include_str!("../fleet-schema/cluster.schema.json"),
    ),
    (
        "ClusterGroup",
        include_str!("../fleet-schema/clustergroup.schema.json"),
    ),
    (
        "Component",
        include_str!("../fleet-schema/component.schema.json"),
    ),
    ("Policy", include_str!("../fleet-schema/policy.schema.json")),
    (
        "Placement",
        include_str!("../fleet-schema/placement.schema.json"),
    ),
    (
        "Inventory",
        include_str!("../fleet-schema/inventory.schema.json"),
    ),
    (
        "FleetReport",
        include_str!("../fleet-schema/report.schema.json"),
    ),
    (
        "Diagnostics",
        include_str!("../fleet-schema/diagnostics.schema.json"),
    ),
    (
        "PolicyReport",
        include_str!("../fleet-schema/policy-report.schema.json"),
    ),
];

const DEFS: &str = include_str!("../fleet-schema/defs.schema.json");

/// The names `fleetc schema` accepts, in display order.
pub fn kinds() -> impl Iterator<Item = &'static str> {
    SCHEMAS.iter().map(|(k, _)| *k)
}

/// A kind's schema with the shared definitions inlined under `$defs`.
pub fn bundled(kind: &str) -> Option<Json> {
    let (_, text) = SCHEMAS.iter().find(|(k, _)| k.eq_ignore_ascii_case(kind))?;
    let text = text.replace("\"defs.schema.json#/$defs/", "\"#/$defs/");
    let mut schema: Json = serde_json::from_str(&text).expect("embedded schema is JSON");
    if text.contains("\"#/$defs/") {
        let defs: Json = serde_json::from_str(DEFS).expect("embedded defs are JSON");
        if let (Some(obj), Some(Json::Object(d))) = (schema.as_object_mut(), defs.get("$defs")) {
            // Merged with the schema's own definitions (its own win).
            let slot = obj
                .entry("$defs")
                .or_insert_with(|| Json::Object(Default::default()));
            if let Some(m) = slot.as_object_mut() {
                for (k, v) in d {
                    m.entry(k.clone()).or_insert_with(|| v.clone());
                }
            }
        }
    }
    Some(schema)
}

struct Compiled {
    kind: &'static str,
    schema: Json,
    validator: jsonschema::Validator,
}

fn compiled() -> &'static [Compiled] {
    static C: OnceLock<Vec<Compiled>> = OnceLock::new();
    C.get_or_init(|| {
        kinds()
            .map(|k| {
                let schema = bundled(k).expect("known kind");
                let validator = jsonschema::draft202012::new(&schema)
                    .unwrap_or_else(|e| panic!("embedded schema {k} does not compile: {e}"));
                Compiled {
                    kind: k,
                    schema,
                    validator,
                }
            })
            .collect()
    })
}

/// Validate `node` (a whole fleet object) against the schema of `kind`.
pub fn check(kind: &str, node: &Node) -> Vec<Diagnostic> {
    let Some(c) = compiled().iter().find(|c| c.kind == kind) else {
        return vec![
            Diagnostic::error(Code::WrongKind, format!("no schema for kind {kind}")).at(&node.span),
        ];
    };
    check_with(&c.validator, &c.schema, node, kind)
}

/// Validate a JSON value against the schema of `kind` (used for inventory.json).
pub fn check_json(kind: &str, value: &Json) -> Vec<String> {
    let Some(c) = compiled().iter().find(|c| c.kind == kind) else {
        return vec![format!("no schema for kind {kind}")];
    };
    c.validator
        .iter_errors(value)
        .map(|e| format!("{}: {e}", e.instance_path().as_str()))
        .collect()
}

/// Validate `node` against a user's JSON Schema (a component's `valuesSchema`).
pub fn check_with(
    validator: &jsonschema::Validator,
    schema: &Json,
    node: &Node,
    what: &str,
) -> Vec<Diagnostic> {
    let json = node.to_json();
    let mut out: Vec<Diagnostic> = Vec::new();
    for e in validator.iter_errors(&json) {
        let pointer = decode_pointer(e.instance_path().as_str());
        let (target, parent_key) = locate(node, &pointer);
        let at = At {
            field: display_field(&pointer, what),
            pointer: &pointer,
            target,
            what,
        };
        match e.kind() {
            ValidationErrorKind::AdditionalProperties { unexpected } => {
                let allowed = allowed_properties(schema, &e);
                out.extend(unexpected.iter().map(|n| unknown_field(&at, n, &allowed)));
            }
            ValidationErrorKind::Required { property } => {
                out.push(missing_field(
                    &at,
                    property.as_str().unwrap_or("?"),
                    parent_key,
                ));
            }
            ValidationErrorKind::Type { kind } => out.push(wrong_type(&at, &format!("{kind:?}"))),
            ValidationErrorKind::Enum { options } => {
                let got = json_at(&json, &pointer)
                    .map(|v| v.to_string())
                    .unwrap_or_default();
                out.push(not_an_option(&at, options, &got));
            }
            ValidationErrorKind::Constant { expected_value } => out.push(
                Diagnostic::error(
                    Code::InvalidValue,
                    format!("`{}` must be {expected_value}", at.field),
                )
                .at(&target.span),
            ),
            ValidationErrorKind::Pattern { pattern } => out.push(no_match(&at, pattern)),
            _ => out.push(
                Diagnostic::error(Code::InvalidValue, format!("`{}`: {e}", at.field))
                    .at(&target.span),
            ),
        }
    }
    out
}

/// Where a schema error is: the value at fault and how to name it.
struct At<'a> {
    /// The field as messages show it (`spec.selector.matchLabels`).
    field: String,
    pointer: &'a [String],
    target: &'a Node,
    /// The object being checked (`Cluster`, `values of web`).
    what: &'a str,
}

fn unknown_field(at: &At<'_>, name: &str, allowed: &[String]) -> Diagnostic {
    let mut d = Diagnostic::error(
        Code::UnknownField,
        format!("unknown field `{name}` in {}", at.what),
    )
    .at(&at.target.key_span(name))
    .label("unknown field");
    if let Some(best) = did_you_mean(name, allowed) {
        d = d.help(format!("did you mean `{best}`?"));
    } else if !allowed.is_empty() {
        d = d.help(format!("allowed fields here: {}", allowed.join(", ")));
    }
    d
}

fn missing_field(at: &At<'_>, property: &str, parent_key: Option<crate::diag::Span>) -> Diagnostic {
    let span = parent_key.unwrap_or_else(|| at.target.span.clone());
    let within = if at.pointer.is_empty() {
        at.what.to_string()
    } else {
        format!("`{}`", at.field)
    };
    Diagnostic::error(
        Code::MissingField,
        format!("missing required field `{property}` in {within}"),
    )
    .at(&span)
}

/// `kind` is the schema's type set as jsonschema prints it (`Single(String)`).
fn wrong_type(at: &At<'_>, kind: &str) -> Diagnostic {
    // `kind` is the validator's debug form (`Single(String)`, or several
    // types for a nullable field): keep the type names, in order.
    const TYPES: [&str; 7] = [
        "array", "boolean", "integer", "null", "number", "object", "string",
    ];
    let lower = kind.to_lowercase();
    let names: Vec<&str> = lower
        .split(|c: char| !c.is_ascii_alphabetic())
        .filter(|w| TYPES.contains(w))
        .collect();
    let (null, named): (Vec<&str>, Vec<&str>) = names.into_iter().partition(|n| *n == "null");
    let mut expected = article(&named.join(" or "));
    if !null.is_empty() {
        expected.push_str(" or null");
    }
    let found = at.target.type_name();
    let mut d = Diagnostic::error(
        Code::InvalidType,
        format!("`{}` must be {expected}, found {found}", at.field),
    )
    .at(&at.target.span)
    .label(format!("this is a {found}"));
    if expected.contains("string")
        && matches!(
            at.target.v,
            Value::Int(_) | Value::Float(_) | Value::Bool(_)
        )
    {
        d = d.help(
            "quote it, e.g. \"1.30\": YAML reads unquoted numbers and booleans as non-strings",
        );
    }
    d
}

fn not_an_option(at: &At<'_>, options: &Json, got: &str) -> Diagnostic {
    let opts: Vec<String> = options
        .as_array()
        .map(|a| {
            a.iter()
                .map(|v| v.to_string().trim_matches('"').to_string())
                .collect()
        })
        .unwrap_or_default();
    let mut d = Diagnostic::error(
        Code::InvalidValue,
        format!(
            "`{}` must be one of {}, found {got}",
            at.field,
            opts.join(", ")
        ),
    )
    .at(&at.target.span);
    if let Some(best) = did_you_mean(got.trim_matches('"'), &opts) {
        d = d.help(format!("did you mean `{best}`?"));
    }
    d
}

fn no_match(at: &At<'_>, pattern: &str) -> Diagnostic {
    let got = at.target.as_str().unwrap_or_default();
    let d = Diagnostic::error(
        Code::InvalidValue,
        format!("`{}` has an invalid value {got:?}", at.field),
    )
    .at(&at.target.span);
    let field = at.pointer.last().map(String::as_str).unwrap_or_default();
    if pattern.contains("[a-z0-9]([-a-z0-9]*") {
        d.help("names are DNS-1123 labels: at most 63 lower-case letters, digits and '-', starting and ending with a letter or digit")
    } else if field == "kubernetesVersion" {
        d.help("write a Kubernetes version such as \"1.30.4\"")
    } else if at.pointer.first().map(String::as_str) == Some("spec")
        && at.pointer.get(1).map(String::as_str) == Some("locked")
    {
        d.help("a lock is a dotted path starting with `vars.` or `values.`, e.g. values.ingress.replicas")
    } else {
        d.help(format!("it must match the pattern {pattern}"))
    }
}

fn article(t: &str) -> String {
    if t.starts_with(['a', 'e', 'i', 'o', 'u']) {
        format!("an {t}")
    } else {
        format!("a {t}")
    }
}

/// `spec.selector.matchExpressions[0].operator`.
fn display_field(pointer: &[String], what: &str) -> String {
    if pointer.is_empty() {
        return what.to_string();
    }
    let mut s = String::new();
    for seg in pointer {
        if seg.parse::<usize>().is_ok() {
            s.push_str(&format!("[{seg}]"));
        } else {
            if !s.is_empty() {
                s.push('.');
            }
            s.push_str(seg);
        }
    }
    s
}

fn decode_pointer(p: &str) -> Vec<String> {
    if p.is_empty() {
        return Vec::new();
    }
    p.trim_start_matches('/')
        .split('/')
        .map(|s| s.replace("~1", "/").replace("~0", "~"))
        .collect()
}

fn json_at<'a>(v: &'a Json, pointer: &[String]) -> Option<&'a Json> {
    let mut cur = v;
    for seg in pointer {
        cur = match cur {
            Json::Object(o) => o.get(seg)?,
            Json::Array(a) => a.get(seg.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    Some(cur)
}

/// The node at `pointer`, and the span of the key that holds it (if a map entry).
fn locate<'a>(node: &'a Node, pointer: &[String]) -> (&'a Node, Option<crate::diag::Span>) {
    let mut cur = node;
    let mut key = None;
    for seg in pointer {
        let next = match &cur.v {
            Value::Map(m) => m.get_key_value(seg.as_str()).map(|(k, v)| {
                key = Some(k.span.clone());
                v
            }),
            Value::Seq(s) => seg
                .parse::<usize>()
                .ok()
                .and_then(|i| s.get(i))
                .inspect(|_| key = None),
            _ => None,
        };
        match next {
            Some(n) => cur = n,
            None => break,
        }
    }
    (cur, key)
}

/// Property names the schema allows at the location of an additionalProperties error.
fn allowed_properties(schema: &Json, e: &jsonschema::ValidationError<'_>) -> Vec<String> {
    let loc = match e.absolute_keyword_location() {
        Some(uri) => uri
            .as_str()
            .split_once('#')
            .map(|(_, f)| f.to_string())
            .unwrap_or_default(),
        None => e.schema_path().as_str().to_string(),
    };
    let loc = loc.replace("%24", "$");
    let parent = loc.rsplit_once('/').map_or("", |(p, _)| p);
    let mut cur = schema;
    for seg in decode_pointer(parent) {
        match json_at(cur, &[seg]) {
            Some(v) => cur = v,
            None => return Vec::new(),
        }
    }
    cur.get("properties")
        .and_then(Json::as_object)
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default()
}
