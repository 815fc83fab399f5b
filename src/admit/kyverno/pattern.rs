//! Kyverno's `validate.pattern`: an overlay the resource must match, with
//! anchors on keys and a small language in string values.
//!
//! - A plain key must be present and match; keys the pattern does not name
//!   are free.
//! - `(key)` conditional: when the resource's value does not match, the
//!   enclosing map is skipped (in a list, that element; at the top, the
//!   rule). `<(key)` global: the same, for the whole rule.
//! - `=(key)` equality: absent is fine; present must match.
//! - `X(key)` negation: the key must be absent.
//! - `^(key)` existence: at least one element of the list matches.
//! - A list pattern's first element applies to every element of the list.
//! - String values: `a | b` (any), `a & b` (all), `!a`, `>`, `>=`, `<`,
//!   `<=`, ranges `1-10` and `1!-10`, wildcards `*` and `?`; values compare
//!   as durations, then quantities, then strings.

use serde_json::Value as Json;

/// The outcome of matching (a part of) a resource.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Matched {
    Pass,
    /// Where and why it fails (`spec.containers[0].image`).
    Fail(String),
    /// A conditional anchor did not hold: this part does not apply.
    Skip(String),
    /// A global anchor did not hold: the rule does not apply.
    GlobalSkip(String),
}

/// Match `resource` against `pattern`.
pub fn matches(resource: &Json, pattern: &Json) -> Matched {
    walk(resource, pattern, "", 0)
}

enum Anchor<'a> {
    Plain(&'a str),
    Condition(&'a str),
    Global(&'a str),
    Equality(&'a str),
    Negation(&'a str),
    Existence(&'a str),
    /// `+(key)`: add-if-absent, for mutation; nothing to validate.
    Add,
}

fn anchor(key: &str) -> Anchor<'_> {
    let inner = |prefix: &str| {
        key.strip_prefix(prefix)
            .and_then(|k| k.strip_prefix('('))
            .and_then(|k| k.strip_suffix(')'))
    };
    if let Some(k) = inner("") {
        return Anchor::Condition(k);
    }
    if let Some(k) = inner("<") {
        return Anchor::Global(k);
    }
    if let Some(k) = inner("=") {
        return Anchor::Equality(k);
    }
    if let Some(k) = inner("X") {
        return Anchor::Negation(k);
    }
    if let Some(k) = inner("^") {
        return Anchor::Existence(k);
    }
    if inner("+").is_some() {
        return Anchor::Add;
    }
    Anchor::Plain(key)
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

/// Patterns nest no deeper than this (a YAML document cannot anyway).
const MAX_DEPTH: usize = 128;

fn walk(r: &Json, p: &Json, path: &str, depth: usize) -> Matched {
    if depth > MAX_DEPTH {
        return Matched::Fail(format!("{path}: the pattern nests too deeply"));
    }
    match p {
        Json::Object(pm) => walk_map(r, pm, path, depth),
        Json::Array(pl) => walk_list(r, pl, path, depth),
        _ => {
            if scalar(r, p) {
                Matched::Pass
            } else {
                Matched::Fail(format!(
                    "{}: {} does not match {}",
                    display(path),
                    text_of(r),
                    text_of(p)
                ))
            }
        }
    }
}

/// A map pattern: anchors first (conditions decide whether the rest
/// applies), then every other key.
fn walk_map(r: &Json, pm: &serde_json::Map<String, Json>, path: &str, depth: usize) -> Matched {
    let Some(rm) = r.as_object() else {
        return Matched::Fail(format!("{}: expected a map", display(path)));
    };
    // Anchors first: conditions decide whether the rest applies.
    for (k, pv) in pm {
        let (key, global) = match anchor(k) {
            Anchor::Condition(key) => (key, false),
            Anchor::Global(key) => (key, true),
            _ => continue,
        };
        let here = join(path, key);
        let held = match rm.get(key) {
            None => Matched::Skip(format!("{here} is absent")),
            Some(rv) => match walk(rv, pv, &here, depth + 1) {
                Matched::Pass => Matched::Pass,
                Matched::Fail(why) | Matched::Skip(why) => Matched::Skip(why),
                g @ Matched::GlobalSkip(_) => g,
            },
        };
        match held {
            Matched::Pass => {}
            Matched::Skip(why) if global => return Matched::GlobalSkip(why),
            other => return other,
        }
    }
    let mut skipped = None;
    for (k, pv) in pm {
        let result = match anchor(k) {
            Anchor::Condition(_) | Anchor::Global(_) | Anchor::Add => continue,
            Anchor::Plain(key) => match rm.get(key) {
                Some(rv) => walk(rv, pv, &join(path, key), depth + 1),
                None if absent_allowed(pv) => Matched::Pass,
                None => Matched::Fail(format!("{} is required", join(path, key))),
            },
            Anchor::Equality(key) => match rm.get(key) {
                Some(rv) => walk(rv, pv, &join(path, key), depth + 1),
                None => Matched::Pass,
            },
            Anchor::Negation(key) => match rm.get(key) {
                Some(_) => Matched::Fail(format!("{} must not be set", join(path, key))),
                None => Matched::Pass,
            },
            Anchor::Existence(key) => existence(rm.get(key), pv, &join(path, key), depth),
        };
        match result {
            Matched::Pass => {}
            Matched::Skip(why) => {
                skipped.get_or_insert(why);
            }
            other => return other,
        }
    }
    skipped.map_or(Matched::Pass, Matched::Skip)
}

/// A list pattern: its first element applies to every element.
fn walk_list(r: &Json, pl: &[Json], path: &str, depth: usize) -> Matched {
    let Some(rl) = r.as_array() else {
        return Matched::Fail(format!("{}: expected a list", display(path)));
    };
    let Some(element) = pl.first() else {
        return Matched::Pass;
    };
    if !element.is_object() && !element.is_array() {
        // A list of values: every value of the resource matches one.
        for (i, rv) in rl.iter().enumerate() {
            if !pl.iter().any(|pv| scalar(rv, pv)) {
                return Matched::Fail(format!("{path}[{i}]: {} does not match", text_of(rv)));
            }
        }
        return Matched::Pass;
    }
    let mut applied = 0;
    let mut skipped = None;
    for (i, rv) in rl.iter().enumerate() {
        match walk(rv, element, &format!("{path}[{i}]"), depth + 1) {
            Matched::Pass => applied += 1,
            Matched::Skip(why) => {
                skipped.get_or_insert(why);
            }
            other => return other,
        }
    }
    match skipped {
        Some(why) if applied == 0 => Matched::Skip(why),
        _ => Matched::Pass,
    }
}

/// `^(key)`: the list has an element that matches the pattern's first.
fn existence(r: Option<&Json>, p: &Json, path: &str, depth: usize) -> Matched {
    let (Some(Json::Array(rl)), Some(element)) = (r, p.as_array().and_then(|a| a.first())) else {
        return Matched::Fail(format!("{path}: expected a list with a matching element"));
    };
    if rl
        .iter()
        .any(|rv| walk(rv, element, path, depth + 1) == Matched::Pass)
    {
        Matched::Pass
    } else {
        Matched::Fail(format!("{path}: no element matches"))
    }
}

/// A pattern that an absent field satisfies (`null`, `""`, or a string
/// that accepts an empty value such as `*`).
fn absent_allowed(p: &Json) -> bool {
    match p {
        Json::Null => true,
        Json::String(s) => s.is_empty(),
        _ => false,
    }
}

fn display(path: &str) -> &str {
    if path.is_empty() {
        "the resource"
    } else {
        path
    }
}

fn text_of(v: &Json) -> String {
    match v {
        Json::String(s) => format!("{s:?}"),
        other => other.to_string(),
    }
}

/// A scalar value against a scalar pattern.
pub fn scalar(r: &Json, p: &Json) -> bool {
    match p {
        Json::Null => matches!(r, Json::Null) || zero(r),
        Json::Bool(b) => r.as_bool() == Some(*b),
        Json::Number(n) => match r {
            Json::Number(m) => m.as_f64() == n.as_f64(),
            Json::String(s) => s.trim().parse::<f64>().ok() == n.as_f64(),
            _ => false,
        },
        Json::String(s) => string_pattern(r, s),
        _ => false,
    }
}

fn zero(v: &Json) -> bool {
    match v {
        Json::Null => true,
        Json::Bool(b) => !b,
        Json::Number(n) => n.as_f64() == Some(0.0),
        Json::String(s) => s.is_empty(),
        _ => false,
    }
}

/// The resource value as the string the pattern language compares.
fn value_text(r: &Json) -> Option<String> {
    match r {
        Json::String(s) => Some(s.clone()),
        Json::Number(n) => Some(n.to_string()),
        Json::Bool(b) => Some(b.to_string()),
        Json::Null => Some(String::new()),
        _ => None,
    }
}

/// The string pattern language: `|` of `&` of (operator, operand).
fn string_pattern(r: &Json, pattern: &str) -> bool {
    let Some(value) = value_text(r) else {
        return false;
    };
    pattern.split('|').any(|alt| {
        alt.split('&').all(|part| {
            let part = part.trim();
            one(&value, part)
        })
    })
}

fn one(value: &str, part: &str) -> bool {
    if let Some((a, negated, b)) = range(part) {
        let inside = compare(value, ">=", a) && compare(value, "<=", b);
        return inside != negated;
    }
    for op in [">=", "<=", ">", "<", "!"] {
        if let Some(operand) = part.strip_prefix(op) {
            return compare(value, op, operand.trim());
        }
    }
    compare(value, "=", part)
}

/// `a-b` or `a!-b` with numeric (unit-suffixed) bounds.
fn range(part: &str) -> Option<(&str, bool, &str)> {
    let bound = |s: &str| {
        let s = s.trim();
        let digits = s.trim_start_matches(['-', '+']);
        !digits.is_empty()
            && digits.starts_with(|c: char| c.is_ascii_digit())
            && digits
                .trim_start_matches(|c: char| c.is_ascii_digit() || c == '.')
                .chars()
                .all(|c| c.is_ascii_alphabetic())
    };
    // The separator is a `-` (or `!-`) after the first character.
    for (i, _) in part.char_indices().skip(1) {
        let rest = &part[i..];
        let (negated, sep_len) = if rest.starts_with("!-") {
            (true, 2)
        } else if rest.starts_with('-') {
            (false, 1)
        } else {
            continue;
        };
        let (a, b) = (&part[..i], &part[i + sep_len..]);
        if bound(a) && bound(b) {
            return Some((a.trim(), negated, b.trim()));
        }
    }
    None
}

/// Compare a value with an operand: as durations when both are, as
/// quantities when both are, else as strings (equality by wildcard).
fn compare(value: &str, op: &str, operand: &str) -> bool {
    let numeric = |a: f64, b: f64| match op {
        "=" => a == b,
        "!" => a != b,
        ">" => a > b,
        ">=" => a >= b,
        "<" => a < b,
        "<=" => a <= b,
        _ => false,
    };
    let value_or_zero = if value.is_empty() { "0" } else { value };
    if let (Some(a), Some(b)) = (duration(value_or_zero), duration(operand)) {
        if !(value.chars().all(|c| c.is_ascii_digit())
            && operand.chars().all(|c| c.is_ascii_digit()))
        {
            return numeric(a, b);
        }
    }
    if let (Some(a), Some(b)) = (
        crate::admit::cel::parse_quantity(value),
        crate::admit::cel::parse_quantity(operand),
    ) {
        return numeric(a, b);
    }
    match op {
        "=" => wildcard(operand, value),
        "!" => !wildcard(operand, value),
        _ => false,
    }
}

/// A Go duration (`1h30m`, `90s`, `0`), in seconds.
pub fn duration(s: &str) -> Option<f64> {
    let (sign, mut rest) = match s.strip_prefix('-') {
        Some(r) => (-1.0, r),
        None => (1.0, s.strip_prefix('+').unwrap_or(s)),
    };
    if rest == "0" {
        return Some(0.0);
    }
    if rest.is_empty() {
        return None;
    }
    let mut total = 0.0;
    while !rest.is_empty() {
        let n_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .filter(|&i| i > 0)?;
        let n: f64 = rest[..n_end].parse().ok()?;
        rest = &rest[n_end..];
        let u_end = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let unit = match &rest[..u_end] {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return None,
        };
        total += n * unit;
        rest = &rest[u_end..];
    }
    Some(sign * total)
}

/// `*` matches any run of characters, `?` exactly one.
pub fn wildcard(pattern: &str, s: &str) -> bool {
    if !pattern.contains(['*', '?']) {
        return pattern == s;
    }
    if let Some(prefix) = pattern
        .strip_suffix('*')
        .filter(|p| !p.contains(['*', '?']))
    {
        return s.starts_with(prefix);
    }
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = s.chars().collect();
    // Iterative matching with one backtrack point (linear-time in practice).
    let (mut i, mut j) = (0, 0);
    let (mut star, mut mark) = (None, 0);
    while j < t.len() {
        if i < p.len() && (p[i] == '?' || p[i] == t[j]) {
            i += 1;
            j += 1;
        } else if i < p.len() && p[i] == '*' {
            star = Some(i);
            mark = j;
            i += 1;
        } else if let Some(s) = star {
            i = s + 1;
            mark += 1;
            j = mark;
        } else {
            return false;
        }
    }
    while i < p.len() && p[i] == '*' {
        i += 1;
    }
    i == p.len()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn m(r: Json, p: Json) -> Matched {
        matches(&r, &p)
    }

    #[test]
    fn strings_and_operators() {
        assert!(string_pattern(&json!("nginx:1.2"), "*:*"));
        assert!(!string_pattern(&json!("nginx"), "*:*"));
        assert!(string_pattern(&json!("nginx:1.2"), "!*:latest"));
        assert!(!string_pattern(&json!("nginx:latest"), "!*:latest"));
        assert!(string_pattern(&json!("x"), "?*"));
        assert!(!string_pattern(&json!(""), "?*"));
        assert!(string_pattern(&json!(5), ">3 & <10"));
        assert!(string_pattern(&json!(5), "1-10"));
        assert!(!string_pattern(&json!(11), "1-10"));
        assert!(string_pattern(&json!(11), "1!-10"));
        assert!(string_pattern(&json!("512Mi"), "<=1Gi"));
        assert!(!string_pattern(&json!("2Gi"), "<=1Gi"));
        assert!(string_pattern(&json!("1Gi"), "512Mi-2Gi"));
        assert!(string_pattern(&json!("90s"), ">1m"));
        assert!(string_pattern(&json!("Always"), "Always | IfNotPresent"));
        assert!(!string_pattern(&json!("Never"), "Always | IfNotPresent"));
        assert!(string_pattern(&json!(false), "false"));
        assert_eq!(duration("1h30m"), Some(5400.0));
        assert!(wildcard("a*b?c", "aXXbYc"));
        assert!(!wildcard("a*b?c", "aXXbc"));
    }

    #[test]
    fn anchors() {
        let pod = json!({"metadata": {"labels": {"app": "web"}},
            "spec": {"hostNetwork": false, "containers": [
                {"name": "a", "image": "r/a:1", "securityContext": {"privileged": false}},
                {"name": "b", "image": "r/b:latest", "imagePullPolicy": "Always"}]}});
        // Plain keys are required.
        assert_eq!(
            m(pod.clone(), json!({"metadata": {"labels": {"app": "?*"}}})),
            Matched::Pass
        );
        assert!(matches!(
            m(pod.clone(), json!({"metadata": {"labels": {"team": "?*"}}})),
            Matched::Fail(_)
        ));
        // Equality anchors: absent is fine, present must match.
        let priv_ =
            json!({"spec": {"containers": [{"=(securityContext)": {"=(privileged)": "false"}}]}});
        assert_eq!(m(pod.clone(), priv_.clone()), Matched::Pass);
        let mut bad = pod.clone();
        bad["spec"]["containers"][0]["securityContext"]["privileged"] = json!(true);
        assert!(matches!(m(bad, priv_), Matched::Fail(_)));
        // Conditional anchors in a list: only :latest images must pull Always.
        let latest =
            json!({"spec": {"containers": [{"(image)": "*:latest", "imagePullPolicy": "Always"}]}});
        assert_eq!(m(pod.clone(), latest.clone()), Matched::Pass);
        let mut bad = pod.clone();
        bad["spec"]["containers"][1]["imagePullPolicy"] = json!("IfNotPresent");
        assert!(matches!(m(bad, latest), Matched::Fail(_)));
        // A conditional that holds nowhere skips.
        let skip =
            json!({"spec": {"containers": [{"(image)": "*:v9", "imagePullPolicy": "Always"}]}});
        assert!(matches!(m(pod.clone(), skip), Matched::Skip(_)));
        // Negation: the key must be absent.
        assert!(matches!(
            m(pod.clone(), json!({"spec": {"X(hostNetwork)": "null"}})),
            Matched::Fail(_)
        ));
        assert_eq!(
            m(pod.clone(), json!({"spec": {"X(hostPID)": "null"}})),
            Matched::Pass
        );
        // Existence: some container is named a.
        assert_eq!(
            m(
                pod.clone(),
                json!({"spec": {"^(containers)": [{"name": "a"}]}})
            ),
            Matched::Pass
        );
        assert!(matches!(
            m(
                pod.clone(),
                json!({"spec": {"^(containers)": [{"name": "z"}]}})
            ),
            Matched::Fail(_)
        ));
        // Global: the rule applies only to pods labelled app=db.
        let global =
            json!({"metadata": {"labels": {"<(app)": "db"}}, "spec": {"hostNetwork": true}});
        assert!(matches!(m(pod, global), Matched::GlobalSkip(_)));
    }
}
