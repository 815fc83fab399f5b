//! Kyverno's variables: `{{ }}` JMESPath expressions over the admission
//! context, with the functions Kyverno adds to JMESPath, and the
//! operators of `deny.conditions` and `preconditions`.

use std::sync::{Arc, OnceLock};

use jmespath::{Context, ErrorReason, JmespathError, Rcvar, Runtime, Variable};
use serde_json::Value as Json;

/// The runtime: JMESPath's functions and Kyverno's.
fn runtime() -> &'static Runtime {
    static RT: OnceLock<Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        let mut rt = Runtime::new();
        rt.register_builtin_functions();
        for (name, f) in FUNCTIONS {
            let f = *f;
            rt.register_function(
                name,
                Box::new(move |args: &[Rcvar], ctx: &mut Context<'_>| {
                    let args: Vec<Json> = args
                        .iter()
                        .map(|a| serde_json::to_value(&**a).unwrap_or(Json::Null))
                        .collect();
                    let out = f(&args).map_err(|m| {
                        JmespathError::from_ctx(ctx, ErrorReason::Parse(format!("{name}: {m}")))
                    })?;
                    Variable::try_from(&out).map(Arc::new).map_err(|e| {
                        JmespathError::from_ctx(ctx, ErrorReason::Parse(e.to_string()))
                    })
                }),
            );
        }
        rt
    })
}

type KyvernoFn = fn(&[Json]) -> Result<Json, String>;

/// The longest expression evaluated (the parser and interpreter recurse).
const MAX_EXPRESSION: usize = 4096;

/// Evaluate one JMESPath expression on `data`. A missing path is null.
pub fn search(expression: &str, data: &Json) -> Result<Json, String> {
    let expression = expression.trim();
    if expression.len() > MAX_EXPRESSION || nesting(expression) > 32 {
        return Err(format!(
            "the expression is too large to evaluate (over {MAX_EXPRESSION} bytes or 32 levels deep)"
        ));
    }
    let compiled = compiled(expression)?;
    let out = compiled
        .search(data)
        .map_err(|e| format!("`{expression}`: {}", e.reason))?;
    serde_json::to_value(&*out).map_err(|e| e.to_string())
}

/// The parsed expression (None when it does not parse or is too large
/// to evaluate).
pub fn parsed(expression: &str) -> Option<jmespath::ast::Ast> {
    if expression.len() > MAX_EXPRESSION || nesting(expression) > 32 {
        return None;
    }
    compiled(expression).ok().map(|c| c.as_ast().clone())
}

/// Each distinct expression compiled once (policies repeat them on every
/// object); a bounded cache, so hostile input cannot grow it without end.
fn compiled(expression: &str) -> Result<Arc<jmespath::Expression<'static>>, String> {
    type Compiled = Result<Arc<jmespath::Expression<'static>>, String>;
    static CACHE: OnceLock<crate::memo::Memo<String, Compiled>> = OnceLock::new();
    CACHE
        .get_or_init(|| crate::memo::Memo::bounded(100_000))
        .get_or(expression, || {
            runtime()
                .compile(expression)
                .map(Arc::new)
                .map_err(|e| format!("invalid JMESPath `{expression}`: {}", e.reason))
        })
}

fn nesting(s: &str) -> usize {
    let (mut depth, mut deepest) = (0usize, 0usize);
    for c in s.chars() {
        match c {
            '(' | '[' | '{' => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            ')' | ']' | '}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    deepest
}

/// Replace every `{{ expr }}` in the strings (and map keys) of `v`: a string
/// that is one variable becomes the typed result, an embedded one is
/// spliced in as text.
pub fn substitute(v: &Json, data: &Json) -> Result<Json, String> {
    match v {
        Json::String(s) => substitute_str(s, data),
        Json::Array(a) => a
            .iter()
            .map(|x| substitute(x, data))
            .collect::<Result<_, _>>()
            .map(Json::Array),
        Json::Object(m) => {
            let mut out = serde_json::Map::new();
            for (k, x) in m {
                let key = match substitute_str(k, data)? {
                    Json::String(s) => s,
                    other => other.to_string(),
                };
                out.insert(key, substitute(x, data)?);
            }
            Ok(Json::Object(out))
        }
        other => Ok(other.clone()),
    }
}

/// Whether a string holds a variable.
pub fn has_variables(s: &str) -> bool {
    s.contains("{{")
}

fn substitute_str(s: &str, data: &Json) -> Result<Json, String> {
    if !has_variables(s) {
        return Ok(Json::String(s.to_string()));
    }
    let trimmed = s.trim();
    if let Some(inner) = trimmed
        .strip_prefix("{{")
        .and_then(|x| x.strip_suffix("}}"))
    {
        if !inner.contains("{{") && !inner.contains("}}") {
            return search(inner.trim_start_matches('-'), data);
        }
    }
    let mut out = String::new();
    let mut rest = s;
    while let Some(start) = rest.find("{{") {
        if start > 0 && rest.as_bytes()[start - 1] == b'\\' {
            out.push_str(&rest[..start - 1]);
            out.push_str("{{");
            rest = &rest[start + 2..];
            continue;
        }
        let Some(len) = rest[start..].find("}}") else {
            break;
        };
        out.push_str(&rest[..start]);
        let value = search(rest[start + 2..start + len].trim_start_matches('-'), data)?;
        match value {
            Json::String(v) => out.push_str(&v),
            other => out.push_str(&other.to_string()),
        }
        rest = &rest[start + len + 2..];
    }
    out.push_str(rest);
    Ok(Json::String(out))
}

/// `any`/`all` blocks (or a plain list, meaning all) of conditions, each
/// `{key, operator, value}`, variables substituted first.
pub fn conditions(c: &Json, data: &Json) -> Result<bool, String> {
    let check = |list: &Json, any: bool| -> Result<bool, String> {
        let items = list.as_array().map(Vec::as_slice).unwrap_or_default();
        if items.is_empty() {
            return Ok(true);
        }
        for item in items {
            let held = condition(item, data)?;
            if any && held {
                return Ok(true);
            }
            if !any && !held {
                return Ok(false);
            }
        }
        Ok(!any)
    };
    match c {
        Json::Array(_) => check(c, false),
        Json::Object(m) => {
            let any = m.get("any").map_or(Ok(true), |a| check(a, true))?;
            let all = m.get("all").map_or(Ok(true), |a| check(a, false))?;
            Ok(any && all)
        }
        _ => Ok(true),
    }
}

fn condition(c: &Json, data: &Json) -> Result<bool, String> {
    let key = substitute(c.get("key").unwrap_or(&Json::Null), data)?;
    let value = substitute(c.get("value").unwrap_or(&Json::Null), data)?;
    let op = c.get("operator").and_then(Json::as_str).unwrap_or("Equals");
    operator(op, &key, &value)
}

/// The text a scalar compares as.
fn text(v: &Json) -> Option<String> {
    match v {
        Json::String(s) => Some(s.clone()),
        Json::Number(n) => Some(n.to_string()),
        Json::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn operator(op: &str, key: &Json, value: &Json) -> Result<bool, String> {
    let op = op.to_ascii_lowercase();
    Ok(match op.as_str() {
        "equals" | "equal" => equals(key, value),
        "notequals" | "notequal" => !key.is_null() && !equals(key, value),
        "anyin" | "in" => set_op(key, value, true, true),
        "allin" => set_op(key, value, false, true),
        "anynotin" | "notin" => set_op(key, value, true, false),
        "allnotin" => set_op(key, value, false, false),
        "greaterthan"
        | "greaterthanorequals"
        | "lessthan"
        | "lessthanorequals"
        | "durationgreaterthan"
        | "durationgreaterthanorequals"
        | "durationlessthan"
        | "durationlessthanorequals" => {
            let symbol = match op.trim_start_matches("duration") {
                "greaterthan" => ">",
                "greaterthanorequals" => ">=",
                "lessthan" => "<",
                _ => "<=",
            };
            order(key, value, symbol)
        }
        other => return Err(format!("unknown operator `{other}`")),
    })
}

fn equals(key: &Json, value: &Json) -> bool {
    match (key, value) {
        (Json::Null, _) => false,
        (Json::String(k), v) => {
            let Some(v) = text(v) else { return false };
            if let (Some(a), Some(b)) = (super::pattern::duration(k), super::pattern::duration(&v))
            {
                return a == b;
            }
            if let (Some(a), Some(b)) = (
                crate::admit::cel::parse_quantity(k),
                crate::admit::cel::parse_quantity(&v),
            ) {
                if !k.chars().all(|c| c.is_ascii_digit()) || !v.chars().all(|c| c.is_ascii_digit())
                {
                    return a == b;
                }
            }
            super::pattern::wildcard(&v, k)
        }
        (Json::Number(k), v) => match v {
            Json::Number(n) => k.as_f64() == n.as_f64(),
            Json::String(s) => s.parse::<f64>().ok() == k.as_f64(),
            _ => false,
        },
        (Json::Bool(k), v) => v.as_bool() == Some(*k),
        (k, v) => k == v,
    }
}

/// `value` as a list of patterns: an array, a JSON array in a string, a
/// range `a-b`, or one wildcard pattern.
fn patterns(value: &Json) -> Vec<Json> {
    match value {
        Json::Array(a) => a.clone(),
        Json::String(s) => match serde_json::from_str::<Json>(s) {
            Ok(Json::Array(a)) => a,
            _ => vec![value.clone()],
        },
        other => vec![other.clone()],
    }
}

fn in_values(k: &Json, values: &[Json]) -> bool {
    let Some(kt) = text(k) else {
        return values.iter().any(|v| v == k);
    };
    values.iter().any(|v| match text(v) {
        Some(vt) => {
            super::pattern::wildcard(&vt, &kt)
                || super::pattern::wildcard(&kt, &vt)
                || range_holds(&vt, &kt)
        }
        None => false,
    })
}

fn range_holds(range: &str, value: &str) -> bool {
    let Some((a, b)) = range.split_once('-').filter(|(a, _)| !a.is_empty()) else {
        return false;
    };
    match (value.parse::<f64>(), a.parse::<f64>(), b.parse::<f64>()) {
        (Ok(x), Ok(lo), Ok(hi)) => lo <= x && x <= hi,
        _ => false,
    }
}

fn set_op(key: &Json, value: &Json, any: bool, inside: bool) -> bool {
    if key.is_null() {
        return false;
    }
    let values = patterns(value);
    let keys: Vec<Json> = match key {
        Json::Array(a) => a.clone(),
        other => vec![other.clone()],
    };
    let held = |k: &Json| in_values(k, &values) == inside;
    if any {
        keys.iter().any(held)
    } else {
        keys.iter().all(held)
    }
}

fn order(key: &Json, value: &Json, op: &str) -> bool {
    let (Some(k), Some(v)) = (text(key), text(value)) else {
        return false;
    };
    let cmp = |a: f64, b: f64| match op {
        ">" => a > b,
        ">=" => a >= b,
        "<" => a < b,
        _ => a <= b,
    };
    if let (Some(a), Some(b)) = (super::pattern::duration(&k), super::pattern::duration(&v)) {
        return cmp(a, b);
    }
    if let (Some(a), Some(b)) = (
        crate::admit::cel::parse_quantity(&k),
        crate::admit::cel::parse_quantity(&v),
    ) {
        return cmp(a, b);
    }
    if let (Some(a), Some(b)) = (semver(&k), semver(&v)) {
        return match op {
            ">" => a > b,
            ">=" => a >= b,
            "<" => a < b,
            _ => a <= b,
        };
    }
    false
}

fn semver(s: &str) -> Option<(u64, u64, u64)> {
    let core = s.trim_start_matches('v').split(['-', '+']).next()?;
    let mut parts = core.split('.').map(|p| p.parse::<u64>().ok());
    Some((
        parts.next()??,
        parts.next().flatten().unwrap_or(0),
        parts.next().flatten().unwrap_or(0),
    ))
}

// ---- Kyverno's functions ----

fn s(args: &[Json], i: usize) -> Result<String, String> {
    match args.get(i) {
        Some(Json::String(x)) => Ok(x.clone()),
        Some(Json::Number(n)) => Ok(n.to_string()),
        Some(other) => Err(format!("argument {} must be a string, not {other}", i + 1)),
        None => Err(format!("missing argument {}", i + 1)),
    }
}

fn regex(p: &str) -> Result<regex::Regex, String> {
    regex::RegexBuilder::new(p)
        .size_limit(1 << 20)
        .build()
        .map_err(|e| e.to_string())
}

/// A number, quantity or duration operand of Kyverno's arithmetic.
enum Operand {
    Number(f64),
    Quantity(f64),
    Duration(f64),
}

fn operand(v: &Json) -> Result<Operand, String> {
    match v {
        Json::Number(n) => Ok(Operand::Number(n.as_f64().unwrap_or_default())),
        Json::String(x) => super::pattern::duration(x)
            .filter(|_| x.ends_with(|c: char| c.is_ascii_alphabetic()))
            .map(Operand::Duration)
            .or_else(|| crate::admit::cel::parse_quantity(x).map(Operand::Quantity))
            .ok_or_else(|| format!("{x:?} is not a number, quantity or duration")),
        other => Err(format!("{other} is not a number")),
    }
}

/// Kyverno's arithmetic: numbers with numbers; quantities and durations
/// with their own kind or a number. A ratio of two quantities or two
/// durations (`divide`) is a number.
fn arith(args: &[Json], f: fn(f64, f64) -> Option<f64>, ratio: bool) -> Result<Json, String> {
    let (a, b) = (
        operand(args.first().unwrap_or(&Json::Null))?,
        operand(args.get(1).unwrap_or(&Json::Null))?,
    );
    let (x, y, unit) = match (a, b) {
        (Operand::Number(x), Operand::Number(y)) => (x, y, None),
        (Operand::Quantity(x), Operand::Quantity(y)) if ratio => (x, y, None),
        (Operand::Duration(x), Operand::Duration(y)) if ratio => (x, y, None),
        (Operand::Quantity(x), Operand::Quantity(y) | Operand::Number(y)) => (x, y, Some("q")),
        (Operand::Duration(x), Operand::Duration(y) | Operand::Number(y)) => (x, y, Some("d")),
        _ => return Err("the operands are of different kinds".into()),
    };
    let r = f(x, y).ok_or("division by zero")?;
    Ok(match unit {
        None => serde_json::json!(r),
        Some("d") => Json::String(format!("{r}s")),
        Some(_) => Json::String(format!("{r}")),
    })
}

const FUNCTIONS: &[(&str, KyvernoFn)] = &[
    ("to_upper", |a| Ok(Json::String(s(a, 0)?.to_uppercase()))),
    ("to_lower", |a| Ok(Json::String(s(a, 0)?.to_lowercase()))),
    ("trim", |a| {
        let cut: Vec<char> = s(a, 1)?.chars().collect();
        Ok(Json::String(
            s(a, 0)?.trim_matches(|c| cut.contains(&c)).to_string(),
        ))
    }),
    ("trim_prefix", |a| {
        let x = s(a, 0)?;
        Ok(Json::String(
            x.strip_prefix(&s(a, 1)?).unwrap_or(&x).to_string(),
        ))
    }),
    ("split", |a| {
        Ok(Json::Array(
            s(a, 0)?
                .split(&s(a, 1)?)
                .map(|x| Json::String(x.into()))
                .collect(),
        ))
    }),
    ("replace", |a| {
        let n = a.get(3).and_then(Json::as_i64).unwrap_or(-1);
        let (x, from, to) = (s(a, 0)?, s(a, 1)?, s(a, 2)?);
        Ok(Json::String(if n < 0 {
            x.replace(&from, &to)
        } else {
            x.replacen(&from, &to, n as usize)
        }))
    }),
    ("replace_all", |a| {
        Ok(Json::String(s(a, 0)?.replace(&s(a, 1)?, &s(a, 2)?)))
    }),
    ("regex_match", |a| {
        Ok(Json::Bool(regex(&s(a, 0)?)?.is_match(&s(a, 1)?)))
    }),
    ("regex_replace_all", |a| {
        Ok(Json::String(
            regex(&s(a, 0)?)?
                .replace_all(&s(a, 1)?, s(a, 2)?.as_str())
                .into_owned(),
        ))
    }),
    ("regex_replace_all_literal", |a| {
        Ok(Json::String(
            regex(&s(a, 0)?)?
                .replace_all(&s(a, 1)?, regex::NoExpand(&s(a, 2)?))
                .into_owned(),
        ))
    }),
    ("pattern_match", |a| {
        Ok(Json::Bool(super::pattern::wildcard(&s(a, 0)?, &s(a, 1)?)))
    }),
    ("compare", |a| {
        Ok(serde_json::json!(s(a, 0)?.cmp(&s(a, 1)?) as i64))
    }),
    ("equal_fold", |a| {
        Ok(Json::Bool(
            s(a, 0)?.to_lowercase() == s(a, 1)?.to_lowercase(),
        ))
    }),
    ("truncate", |a| {
        let n = a.get(1).and_then(Json::as_f64).unwrap_or(0.0).max(0.0) as usize;
        Ok(Json::String(s(a, 0)?.chars().take(n).collect()))
    }),
    ("to_boolean", |a| match s(a, 0)?.to_lowercase().as_str() {
        "true" => Ok(Json::Bool(true)),
        "false" => Ok(Json::Bool(false)),
        other => Err(format!("{other:?} is not a boolean")),
    }),
    ("label_match", |a| {
        let (want, have) = (
            a.first().and_then(Json::as_object),
            a.get(1).and_then(Json::as_object),
        );
        Ok(Json::Bool(match (want, have) {
            (Some(w), Some(h)) => w.iter().all(|(k, v)| h.get(k) == Some(v)),
            _ => false,
        }))
    }),
    ("base64_decode", |a| {
        use base64::Engine as _;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(s(a, 0)?)
            .map_err(|e| e.to_string())?;
        String::from_utf8(bytes)
            .map(Json::String)
            .map_err(|e| e.to_string())
    }),
    ("base64_encode", |a| {
        use base64::Engine as _;
        Ok(Json::String(
            base64::engine::general_purpose::STANDARD.encode(s(a, 0)?),
        ))
    }),
    ("parse_json", |a| {
        serde_json::from_str(&s(a, 0)?).map_err(|e| e.to_string())
    }),
    ("parse_yaml", |a| {
        serde_saphyr::from_str::<Json>(&s(a, 0)?).map_err(|e| e.to_string())
    }),
    ("lookup", |a| {
        Ok(match (a.first(), a.get(1)) {
            (Some(Json::Object(m)), Some(Json::String(k))) => {
                m.get(k).cloned().unwrap_or(Json::Null)
            }
            (Some(Json::Array(l)), Some(Json::Number(i))) => i
                .as_u64()
                .and_then(|i| l.get(i as usize))
                .cloned()
                .unwrap_or(Json::Null),
            _ => Json::Null,
        })
    }),
    ("items", |a| {
        let (k, v) = (s(a, 1)?, s(a, 2)?);
        let pair = |key: Json, value: &Json| serde_json::json!({k.clone(): key, v.clone(): value});
        Ok(Json::Array(match a.first() {
            Some(Json::Object(m)) => {
                let mut keys: Vec<&String> = m.keys().collect();
                keys.sort();
                keys.into_iter()
                    .map(|key| pair(Json::String(key.clone()), &m[key]))
                    .collect()
            }
            Some(Json::Array(l)) => l
                .iter()
                .enumerate()
                .map(|(i, x)| pair(serde_json::json!(i), x))
                .collect(),
            _ => return Err("expected a map or a list".into()),
        }))
    }),
    ("object_from_lists", |a| {
        let keys = a
            .first()
            .and_then(Json::as_array)
            .ok_or("expected a list of keys")?;
        let values = a
            .get(1)
            .and_then(Json::as_array)
            .ok_or("expected a list of values")?;
        Ok(Json::Object(
            keys.iter()
                .enumerate()
                .filter_map(|(i, k)| {
                    k.as_str()
                        .map(|k| (k.to_string(), values.get(i).cloned().unwrap_or(Json::Null)))
                })
                .collect(),
        ))
    }),
    ("add", |a| arith(a, |x, y| Some(x + y), false)),
    ("subtract", |a| arith(a, |x, y| Some(x - y), false)),
    ("multiply", |a| arith(a, |x, y| Some(x * y), false)),
    ("divide", |a| {
        arith(a, |x, y| (y != 0.0).then(|| x / y), true)
    }),
    ("modulo", |a| {
        arith(a, |x, y| (y != 0.0).then(|| x % y), false)
    }),
    ("round", |a| {
        let x = a
            .first()
            .and_then(Json::as_f64)
            .ok_or("expected a number")?;
        let places = a.get(1).and_then(Json::as_i64).unwrap_or(0).clamp(0, 15) as i32;
        let f = 10f64.powi(places);
        Ok(serde_json::json!((x * f).round() / f))
    }),
    ("semver_compare", |a| {
        let v = semver(&s(a, 0)?).ok_or("not a semantic version")?;
        let range = s(a, 1)?;
        Ok(Json::Bool(range.split("||").any(|alt| {
            alt.split_whitespace().all(|c| {
                let (op, rest) = [">=", "<=", ">", "<", "=", "!="]
                    .iter()
                    .find_map(|op| c.strip_prefix(op).map(|r| (*op, r)))
                    .unwrap_or(("=", c));
                semver(rest).is_some_and(|w| match op {
                    ">=" => v >= w,
                    "<=" => v <= w,
                    ">" => v > w,
                    "<" => v < w,
                    "!=" => v != w,
                    _ => v == w,
                })
            })
        })))
    }),
];

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn variables_and_functions() {
        let data = json!({"request": {"object": {"metadata": {"name": "web", "labels": {"app": "web"}},
            "spec": {"containers": [{"name": "a", "image": "r.io/a:1"}, {"name": "b", "image": "docker.io/b"}]}}}});
        assert_eq!(
            substitute(&json!("{{request.object.metadata.name}}"), &data),
            Ok(json!("web"))
        );
        assert_eq!(
            substitute(&json!("name is {{ request.object.metadata.name }}!"), &data),
            Ok(json!("name is web!"))
        );
        assert_eq!(
            substitute(&json!("{{ request.object.spec.containers[].name }}"), &data),
            Ok(json!(["a", "b"]))
        );
        assert_eq!(
            substitute(&json!("{{ request.object.nothing }}"), &data),
            Ok(Json::Null)
        );
        assert_eq!(
            search("to_upper(request.object.metadata.name)", &data),
            Ok(json!("WEB"))
        );
        assert_eq!(
            search(
                "regex_match('^r\\.io/', request.object.spec.containers[0].image)",
                &data
            ),
            Ok(json!(true))
        );
        assert_eq!(search("split('a,b', ',')", &data), Ok(json!(["a", "b"])));
        assert_eq!(search("divide('1Gi', '512Mi')", &data), Ok(json!(2.0)));
        assert!(search("no_such_function(`1`)", &data).is_err());
    }

    #[test]
    fn operators() {
        let t = |op: &str, k: Json, v: Json| operator(op, &k, &v).unwrap();
        assert!(t("Equals", json!("nginx:1"), json!("nginx:*")));
        assert!(!t("NotEquals", Json::Null, json!("x")));
        assert!(!t("Equals", Json::Null, json!("x")));
        assert!(t("Equals", json!("1Gi"), json!("1024Mi")));
        assert!(t("AnyIn", json!(["a", "z"]), json!(["a", "b"])));
        assert!(!t("AllIn", json!(["a", "z"]), json!(["a", "b"])));
        assert!(t("AnyNotIn", json!(["a", "z"]), json!(["a", "b"])));
        assert!(t("AllNotIn", json!(["y", "z"]), json!(["a", "b"])));
        assert!(t("AnyIn", json!(5), json!("1-10")));
        assert!(t("GreaterThan", json!("2Gi"), json!("1Gi")));
        assert!(t("LessThanOrEquals", json!("90s"), json!("2m")));
        assert!(t("GreaterThanOrEquals", json!("1.25.0"), json!("1.24.3")));
        assert!(operator("Sometimes", &json!(1), &json!(1)).is_err());
    }
}
