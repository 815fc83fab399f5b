//! The Kubernetes CEL `format` library: `format.dns1123Label()`,
//! `format.named("dns1123Label")` (optional) and the rest, each with
//! `validate(string)`: `optional.none()` when the string is valid, else an
//! optional list of what is wrong. The rules are the API server's own
//! (its validation of names, label values, UUIDs, dates).

use std::sync::{Arc, OnceLock};

use base64::Engine as _;
use cel::extractors::{Arguments, This};
use cel::objects::{Key, OptionalValue};
use cel::{ExecutionError, FunctionContext, Value};

use crate::date::valid_date;

/// The formats, by the name `format.named` takes.
pub const NAMES: &[&str] = &[
    "dns1123Label",
    "dns1123Subdomain",
    "dns1035Label",
    "qualifiedName",
    "dns1123LabelPrefix",
    "dns1123SubdomainPrefix",
    "dns1035LabelPrefix",
    "labelValue",
    "uri",
    "uuid",
    "byte",
    "date",
    "datetime",
];

/// The key a format value carries its name under.
const TAG: &str = "@format";

fn format_value(name: &str) -> Value {
    let mut m = std::collections::HashMap::new();
    m.insert(
        Key::String(Arc::new(TAG.into())),
        Value::String(Arc::new(name.into())),
    );
    Value::Map(cel::objects::Map { map: Arc::new(m) })
}

fn optional(v: Option<Value>) -> Value {
    Value::Opaque(Arc::new(match v {
        Some(v) => OptionalValue::of(v),
        None => OptionalValue::none(),
    }))
}

/// `format.<name>()`: the format of that name (its function's name).
pub fn make(
    ftx: &FunctionContext,
    This(_): This<Value>,
    _: Arguments,
) -> Result<Value, ExecutionError> {
    Ok(format_value(ftx.name))
}

/// `format.named(name)`: the format, or none when there is no such format.
pub fn named(
    ftx: &FunctionContext,
    This(_): This<Value>,
    a: Arguments,
) -> Result<Value, ExecutionError> {
    match a.0.first() {
        Some(Value::String(n)) => Ok(optional(
            NAMES.contains(&n.as_str()).then(|| format_value(n)),
        )),
        other => Err(ftx.error(format!("format.named takes a string, not {other:?}"))),
    }
}

/// `<format>.validate(s)`: none when `s` is valid, else the errors.
pub fn validate(
    ftx: &FunctionContext,
    This(f): This<Value>,
    a: Arguments,
) -> Result<Value, ExecutionError> {
    let Value::Map(m) = &f else {
        return Err(ftx.error("validate is a method of a format (format.dns1123Label()…)"));
    };
    let Some(Value::String(name)) = m.map.get(&Key::String(Arc::new(TAG.into()))) else {
        return Err(ftx.error("validate is a method of a format (format.dns1123Label()…)"));
    };
    let Some(Value::String(s)) = a.0.first() else {
        return Err(ftx.error("validate takes a string"));
    };
    let errors = errors(name, s);
    Ok(optional((!errors.is_empty()).then(|| {
        Value::List(Arc::new(
            errors
                .into_iter()
                .map(|e| Value::String(Arc::new(e)))
                .collect(),
        ))
    })))
}

/// Whether `s` matches a fixed pattern, compiled once (the unit tests
/// check each pattern against valid and invalid strings).
fn matches(cell: &'static OnceLock<Option<regex::Regex>>, pattern: &str, s: &str) -> bool {
    cell.get_or_init(|| regex::Regex::new(pattern).ok())
        .as_ref()
        .is_some_and(|r| r.is_match(s))
}

/// The errors of `s` against a length limit and a pattern (`what` says
/// what the pattern asks for).
fn limited(
    s: &str,
    max: usize,
    (re, pattern): (&'static OnceLock<Option<regex::Regex>>, &str),
    what: &str,
) -> Vec<String> {
    let mut e = Vec::new();
    if s.len() > max {
        e.push(format!("must be no more than {max} characters"));
    }
    if !matches(re, pattern, s) {
        e.push(what.into());
    }
    e
}

fn label_1123(s: &str) -> Vec<String> {
    static R: OnceLock<Option<regex::Regex>> = OnceLock::new();
    limited(s, 63, (&R, "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"),
        "a lowercase RFC 1123 label: lowercase letters, digits and '-', starting and ending with a letter or digit")
}

fn subdomain_1123(s: &str) -> Vec<String> {
    static R: OnceLock<Option<regex::Regex>> = OnceLock::new();
    limited(s, 253, (&R, r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"),
        "a lowercase RFC 1123 subdomain: lowercase letters, digits, '-' and '.', starting and ending with a letter or digit")
}

fn label_1035(s: &str) -> Vec<String> {
    static R: OnceLock<Option<regex::Regex>> = OnceLock::new();
    limited(s, 63, (&R, "^[a-z]([-a-z0-9]*[a-z0-9])?$"),
        "a DNS-1035 label: lowercase letters, digits and '-', starting with a letter and ending with a letter or digit")
}

fn name_part(s: &str) -> Vec<String> {
    static R: OnceLock<Option<regex::Regex>> = OnceLock::new();
    let mut e = Vec::new();
    if s.is_empty() {
        e.push("the name part must not be empty".into());
    } else if s.len() > 63 {
        e.push("the name part must be no more than 63 characters".into());
    }
    if !s.is_empty() && !matches(&R, "^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$", s) {
        e.push("the name part: letters, digits, '-', '_' and '.', starting and ending with a letter or digit".into());
    }
    e
}

/// The prefix forms allow a trailing '-' (a `generateName`).
fn prefix(s: &str, check: fn(&str) -> Vec<String>) -> Vec<String> {
    match s.strip_suffix('-') {
        Some(stem) => check(&format!("{stem}a")),
        None => check(s),
    }
}

fn errors(format: &str, s: &str) -> Vec<String> {
    static UUID: OnceLock<Option<regex::Regex>> = OnceLock::new();
    static LABEL: OnceLock<Option<regex::Regex>> = OnceLock::new();
    static DATETIME: OnceLock<Option<regex::Regex>> = OnceLock::new();
    match format {
        "dns1123Label" => label_1123(s),
        "dns1123Subdomain" => subdomain_1123(s),
        "dns1035Label" => label_1035(s),
        "dns1123LabelPrefix" => prefix(s, label_1123),
        "dns1123SubdomainPrefix" => prefix(s, subdomain_1123),
        "dns1035LabelPrefix" => prefix(s, label_1035),
        "qualifiedName" => match s.split('/').collect::<Vec<_>>().as_slice() {
            [name] => name_part(name),
            [p, name] => {
                let mut e = if p.is_empty() {
                    vec!["the prefix part must not be empty".to_string()]
                } else {
                    subdomain_1123(p)
                };
                e.extend(name_part(name));
                e
            }
            _ => vec!["a qualified name has at most one '/'".into()],
        },
        "labelValue" => {
            let mut e = Vec::new();
            if s.len() > 63 {
                e.push("must be no more than 63 characters".into());
            }
            if !matches(&LABEL, "^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$", s) {
                e.push("a label value: empty, or letters, digits, '-', '_' and '.', starting and ending with a letter or digit".into());
            }
            e
        }
        "uri" => match s.split_once(':') {
            Some((scheme, _))
                if !scheme.is_empty()
                    && scheme
                        .chars()
                        .next()
                        .is_some_and(|c| c.is_ascii_alphabetic())
                    && scheme
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
                    && !s.contains(char::is_whitespace) =>
            {
                Vec::new()
            }
            _ => vec!["an absolute URI (a scheme, ':' and the rest)".into()],
        },
        "uuid" => ok(
            matches(
                &UUID,
                "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$",
                s,
            ),
            "a UUID (8-4-4-4-12 hexadecimal digits)",
        ),
        "byte" => ok(
            base64::engine::general_purpose::STANDARD.decode(s).is_ok(),
            "base64 data",
        ),
        "date" => ok(valid_date(s), "a date (YYYY-MM-DD)"),
        "datetime" => ok(
            matches(
                &DATETIME,
                r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$",
                s,
            ) && valid_date(&s[..10]),
            "an RFC 3339 date-time",
        ),
        _ => vec![format!("no format {format}")],
    }
}

fn ok(valid: bool, what: &str) -> Vec<String> {
    if valid {
        Vec::new()
    } else {
        vec![format!("must be {what}")]
    }
}
