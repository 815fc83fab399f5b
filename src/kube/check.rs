//! The walk of an object against its schema ([`super::api::validate`]).

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::api::{PathSeg, Violation, ViolationKind};
use super::data::{Data, Format, ListType, Schema};
use super::data::{ARRAY, BOOLEAN, INTEGER, NULL, NUMBER, OBJECT, STRING};

/// Deeper paths than this are not followed (recursive definitions such as
/// JSONSchemaProps could otherwise nest without end).
const MAX_DEPTH: usize = 256;

pub(crate) fn run(
    d: &Data,
    minor: u32,
    schema: &Schema,
    object: &Value,
    budget: usize,
) -> Vec<Violation> {
    let mut w = Walker {
        d,
        minor,
        budget,
        exhausted: false,
        out: vec![],
        path: vec![],
    };
    w.node(schema, object);
    w.out
}

struct Walker<'a> {
    d: &'a Data,
    minor: u32,
    budget: usize,
    exhausted: bool,
    out: Vec<Violation>,
    path: Vec<PathSeg>,
}

impl<'a> Walker<'a> {
    fn push(&mut self, kind: ViolationKind, message: String, suggestion: Option<String>) {
        self.out.push(Violation {
            kind,
            path: self.path.clone(),
            message,
            suggestion,
        });
    }

    /// Follows references; None for a definition the data lacks.
    fn resolve(&self, mut s: &'a Schema) -> Option<&'a Schema> {
        for _ in 0..8 {
            match &s.reference {
                Some(r) => s = self.d.def(self.minor, r)?,
                None => return Some(s),
            }
        }
        None
    }

    /// Takes one value from the budget; false when it is spent.
    fn spend(&mut self) -> bool {
        if self.budget > 0 && self.path.len() <= MAX_DEPTH {
            self.budget -= 1;
            return true;
        }
        if !self.exhausted {
            self.exhausted = true;
            self.push(
                ViolationKind::TooLarge,
                "the object is too large or too deep to check; the rest was not checked".into(),
                None,
            );
        }
        false
    }

    fn node(&mut self, s: &'a Schema, v: &Value) {
        if !self.spend() {
            return;
        }
        let Some(s) = self.resolve(s) else {
            return;
        };
        if v.is_null() {
            if s.types != 0 && s.types & NULL == 0 {
                let want = type_names(s.types);
                self.push(
                    ViolationKind::InvalidType,
                    format!("must be {want}, not null"),
                    None,
                );
            }
            return;
        }
        let actual = type_of(v);
        if s.types != 0 && s.types & actual == 0 {
            let msg = format!("must be {}, not {}", type_names(s.types), shown(v));
            self.push(ViolationKind::InvalidType, msg, None);
            return;
        }
        if let Some(e) = &s.enumeration {
            if !e.contains(v) {
                let allowed: Vec<String> = e.iter().map(Value::to_string).collect();
                let msg = format!("{} is not one of {}", shown(v), allowed.join(", "));
                self.push(ViolationKind::InvalidValue, msg, None);
            }
        }
        if let Some(f) = s.format {
            if let Some(msg) = format_problem(f, v) {
                self.push(ViolationKind::InvalidValue, msg, None);
            }
        }
        match v {
            Value::Object(m) => self.object(s, m),
            Value::Array(a) => self.array(s, a),
            _ => {}
        }
    }

    fn object(&mut self, s: &'a Schema, m: &Map<String, Value>) {
        for (k, v) in m {
            self.path.push(PathSeg::Field(k.clone()));
            if let Some(ps) = s.properties.get(k) {
                self.node(ps, v);
            } else if let Some(vs) = &s.values {
                self.node(vs, v);
            } else if s.embedded && matches!(k.as_str(), "apiVersion" | "kind" | "metadata") {
                // An embedded resource carries its own type and metadata.
            } else if s.closed && !s.preserve_unknown {
                let known: Vec<String> = s.properties.keys().cloned().collect();
                let suggestion = crate::suggest::did_you_mean(k, &known);
                self.push(
                    ViolationKind::UnknownField,
                    format!("unknown field \"{k}\""),
                    suggestion,
                );
            }
            self.path.pop();
        }
        for r in &s.required {
            if !m.contains_key(r) {
                self.path.push(PathSeg::Field(r.clone()));
                self.push(
                    ViolationKind::MissingRequired,
                    "required field is missing".into(),
                    None,
                );
                self.path.pop();
            }
        }
    }

    fn array(&mut self, s: &'a Schema, a: &[Value]) {
        let keys = match &s.list {
            ListType::Map(keys) => Some(keys),
            _ => None,
        };
        // Identity of an item (its keys, or the item itself for a set) → first position.
        let mut seen: BTreeMap<String, usize> = BTreeMap::new();
        for (i, item) in a.iter().enumerate() {
            let seg = keys
                .and_then(|k| key_seg(k, item))
                .unwrap_or(PathSeg::Index(i));
            self.path.push(seg);
            if let Some(is) = &s.items {
                self.node(is, item);
            }
            let identity = match (&s.list, keys) {
                (ListType::Set, _) => Some(item.to_string()),
                (_, Some(k)) => key_identity(k, item),
                _ => None,
            };
            if let Some(id) = identity {
                if let Some(first) = seen.get(&id) {
                    let msg = match keys {
                        Some(k) => format!(
                            "duplicate entry for key {} (first at [{first}])",
                            k.join(",")
                        ),
                        None => format!(
                            "duplicate entry {} in a set (first at [{first}])",
                            shown(item)
                        ),
                    };
                    self.push(ViolationKind::DuplicateListKey, msg, None);
                } else {
                    seen.insert(id, i);
                }
            }
            self.path.pop();
        }
    }
}

fn scalar_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// `[name=web]` for an item of a map list, when it has any of the keys.
fn key_seg(keys: &[String], item: &Value) -> Option<PathSeg> {
    let pairs: Vec<(String, String)> = keys
        .iter()
        .filter_map(|k| Some((k.clone(), scalar_text(item.get(k)?))))
        .collect();
    (!pairs.is_empty()).then_some(PathSeg::Keys(pairs))
}

/// The tuple of an item's keys (absent ones as null), when it is an object
/// with at least one of them.
fn key_identity(keys: &[String], item: &Value) -> Option<String> {
    let m = item.as_object()?;
    if !keys.iter().any(|k| m.contains_key(k)) {
        return None;
    }
    let tuple: Vec<&Value> = keys
        .iter()
        .map(|k| m.get(k).unwrap_or(&Value::Null))
        .collect();
    Some(serde_json::to_string(&tuple).unwrap_or_default())
}

fn integral(n: &serde_json::Number) -> bool {
    n.is_i64()
        || n.is_u64()
        || n.as_f64()
            .is_some_and(|f| f.is_finite() && f.fract() == 0.0)
}

fn type_of(v: &Value) -> u8 {
    match v {
        Value::Null => NULL,
        Value::Bool(_) => BOOLEAN,
        Value::Number(n) if integral(n) => INTEGER | NUMBER,
        Value::Number(_) => NUMBER,
        Value::String(_) => STRING,
        Value::Array(_) => ARRAY,
        Value::Object(_) => OBJECT,
    }
}

fn type_names(t: u8) -> String {
    let names: Vec<&str> = [
        (STRING, "a string"),
        (INTEGER, "an integer"),
        (NUMBER, "a number"),
        (BOOLEAN, "a boolean"),
        (OBJECT, "an object"),
        (ARRAY, "a list"),
    ]
    .iter()
    .filter(|(b, _)| t & b != 0)
    .map(|(_, n)| *n)
    .collect();
    names.join(" or ")
}

/// A value as a message shows it: scalars in full (shortened), others by type.
fn shown(v: &Value) -> String {
    match v {
        Value::Object(_) => "an object".into(),
        Value::Array(_) => "a list".into(),
        Value::String(s) if s.chars().count() > 40 => {
            let head: String = s.chars().take(40).collect();
            format!("the string \"{head}…\"")
        }
        Value::String(s) => format!("the string \"{s}\""),
        Value::Number(n) => format!("the number {n}"),
        other => other.to_string(),
    }
}

/// Why a value does not decode in its format, as the API server decodes it.
fn format_problem(f: Format, v: &Value) -> Option<String> {
    match (f, v) {
        (Format::Int32 | Format::Int64, Value::Number(n)) => {
            let (lo, hi, name) = if f == Format::Int32 {
                (i32::MIN as f64, i32::MAX as f64, "int32")
            } else {
                (i64::MIN as f64, i64::MAX as f64, "int64")
            };
            let in_range = match (n.as_i64(), n.as_u64()) {
                (Some(i), _) => f == Format::Int64 || i32::try_from(i).is_ok(),
                (None, Some(_)) => false,
                _ => n.as_f64().is_some_and(|x| x >= lo && x < hi),
            };
            (!in_range).then(|| format!("{n} is out of the range of {name}"))
        }
        (Format::Byte, Value::String(s)) => {
            (!base64_ok(s)).then(|| "is not base64 (standard alphabet, padded)".to_string())
        }
        (Format::DateTime, Value::String(s)) => {
            (!rfc3339(s)).then(|| format!("\"{s}\" is not an RFC 3339 date-time"))
        }
        _ => None,
    }
}

/// Go's `base64.StdEncoding` (what `[]byte` fields decode with): standard
/// alphabet, padding required, line breaks ignored.
fn base64_ok(s: &str) -> bool {
    use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
    use base64::Engine;
    const GO_STD: GeneralPurpose = GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        GeneralPurposeConfig::new()
            .with_decode_allow_trailing_bits(true)
            .with_decode_padding_mode(DecodePaddingMode::RequireCanonical),
    );
    let clean: String = s.chars().filter(|c| *c != '\r' && *c != '\n').collect();
    GO_STD.decode(clean).is_ok()
}

/// `2006-01-02T15:04:05Z07:00` with optional fractional seconds, as Go's
/// `time.Parse(time.RFC3339, …)` accepts it (metav1.Time): days within
/// their month.
fn rfc3339(s: &str) -> bool {
    let b = s.as_bytes();
    let num = |from: usize, len: usize| -> Option<u32> {
        let part = b.get(from..from + len)?;
        part.iter()
            .all(u8::is_ascii_digit)
            .then(|| std::str::from_utf8(part).ok()?.parse().ok())?
    };
    let at = |i: usize, c: u8| b.get(i) == Some(&c);
    let fields = (
        num(0, 4),
        num(5, 2),
        num(8, 2),
        num(11, 2),
        num(14, 2),
        num(17, 2),
    );
    let (Some(y), Some(mo), Some(d), Some(h), Some(mi), Some(sec)) = fields else {
        return false;
    };
    if !(at(4, b'-') && at(7, b'-') && at(10, b'T') && at(13, b':') && at(16, b':')) {
        return false;
    }
    let leap = y % 4 == 0 && (y % 100 != 0 || y % 400 == 0);
    let days = match mo {
        2 if leap => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    };
    if !((1..=12).contains(&mo) && (1..=days).contains(&d) && h < 24 && mi < 60 && sec < 60) {
        return false;
    }
    let mut i = 19;
    if at(i, b'.') {
        i += 1;
        let start = i;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        if i == start {
            return false;
        }
    }
    match b.get(i) {
        Some(b'Z') => i + 1 == b.len(),
        Some(b'+' | b'-') => {
            i + 6 == b.len()
                && at(i + 3, b':')
                && num(i + 1, 2).is_some_and(|h| h < 24)
                && num(i + 4, 2).is_some_and(|m| m < 60)
        }
        _ => false,
    }
}
