//! Machine-readable diagnostics (`--output-format json|sarif|github`).
//!
//! None of them carries source text: a diagnostic's snippet is only ever
//! printed by the human renderer (which redacts Secrets), so secret
//! material cannot reach a document through a snippet; messages name keys,
//! never values.

use serde_json::{json, Map, Value};

use super::{Code, Diagnostic, Diags, Severity, Span};

/// The version of the JSON document's shape (fleet-schema/diagnostics.schema.json).
pub const JSON_VERSION: u32 = 1;

fn severity(d: &Diagnostic) -> &'static str {
    match d.severity {
        Severity::Error => "error",
        Severity::Warning => "warning",
    }
}

/// 1-based (line, column) of the span's start and end.
fn region(s: &Span) -> ((usize, usize), (usize, usize)) {
    (
        s.src.line_col(s.start as usize),
        s.src.line_col(s.end as usize),
    )
}

/// Everything a diagnostic says besides its message and location, as lines.
fn notes(d: &Diagnostic) -> Vec<String> {
    let mut out = Vec::new();
    for (s, label) in &d.related {
        out.push(format!("{}: {label}", s.location()));
    }
    if let Some(n) = d.clusters_note() {
        out.push(n);
    }
    out
}

fn object_json(o: &super::ObjectRef) -> Value {
    json!({"apiVersion": o.api_version, "kind": o.kind, "namespace": o.namespace, "name": o.name})
}

/// The message with the notes and the help under it, one per line (for
/// formats with a single text field: SARIF, GitHub annotations).
fn full_text(d: &Diagnostic) -> String {
    let mut text = d.message.clone();
    for n in notes(d) {
        text.push_str(&format!("\n{n}"));
    }
    if let Some(h) = &d.help {
        text.push_str(&format!("\nhelp: {h}"));
    }
    text
}

/// One JSON document with every diagnostic.
pub fn json(diags: &Diags) -> String {
    let items: Vec<Value> = diags.items.iter().map(json_one).collect();
    let doc = json!({
        "version": JSON_VERSION,
        "tool": {"name": "fleetc", "version": env!("CARGO_PKG_VERSION")},
        "summary": {"errors": diags.error_count(), "warnings": diags.warning_count()},
        "diagnostics": items,
    });
    let mut s = serde_json::to_string_pretty(&doc).unwrap_or_default();
    s.push('\n');
    s
}

fn json_one(d: &Diagnostic) -> Value {
    let mut m = Map::new();
    m.insert("code".into(), json!(d.code.as_str()));
    m.insert("severity".into(), json!(severity(d)));
    m.insert("message".into(), json!(d.message));
    match &d.span {
        Some(s) => {
            let ((l, c), (el, ec)) = region(s);
            m.insert("file".into(), json!(s.path()));
            m.insert("line".into(), json!(l));
            m.insert("column".into(), json!(c));
            m.insert("endLine".into(), json!(el));
            m.insert("endColumn".into(), json!(ec));
        }
        None => {
            for k in ["file", "line", "column", "endLine", "endColumn"] {
                m.insert(k.into(), Value::Null);
            }
        }
    }
    if let Some(l) = &d.label {
        m.insert("label".into(), json!(l));
    }
    m.insert("clusters".into(), json!(d.clusters));
    m.insert("help".into(), json!(d.help));
    m.insert("notes".into(), json!(notes(d)));
    let related: Vec<Value> = d
        .related
        .iter()
        .map(|(s, label)| {
            let ((l, c), _) = region(s);
            json!({"message": label, "file": s.path(), "line": l, "column": c})
        })
        .collect();
    m.insert("related".into(), json!(related));
    if let Some(f) = &d.field {
        m.insert("path".into(), json!(f));
    }
    if !d.kubernetes.is_empty() {
        m.insert("kubernetesVersions".into(), json!(d.kubernetes));
    }
    if let Some(o) = &d.object {
        m.insert("object".into(), object_json(o));
    }
    if let Some((policy, rule)) = &d.policy {
        m.insert("policy".into(), json!(policy));
        m.insert("rule".into(), json!(rule));
    }
    Value::Object(m)
}

/// SARIF 2.1.0, as GitHub code scanning takes it: one rule per code, each
/// result at a location relative to the repository root (`prefix` is the
/// fleet's directory inside the git work tree, `""` or `"dir/"`).
pub fn sarif(diags: &Diags, prefix: &str) -> String {
    let rules: Vec<Value> = Code::ALL
        .iter()
        .map(|c| {
            json!({
                "id": c.as_str(),
                "shortDescription": {"text": c.summary()},
                "fullDescription": {"text": c.summary()},
                "help": {"text": format!("{} (docs/diagnostics.md, section `{}`, has an example)", c.fix(), c.as_str())},
                "defaultConfiguration": {"level": "error"},
            })
        })
        .collect();
    let results: Vec<Value> = diags
        .items
        .iter()
        .map(|d| sarif_result(d, prefix))
        .collect();
    let doc = json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "fleetc",
                "version": env!("CARGO_PKG_VERSION"),
                "semanticVersion": env!("CARGO_PKG_VERSION"),
                "informationUri": "https://fleetc.dev/",
                "rules": rules,
            }},
            "originalUriBaseIds": {"%SRCROOT%": {"description": {"text": "the root of the git work tree"}}},
            "columnKind": "unicodeCodePoints",
            "results": results,
        }],
    });
    let mut s = serde_json::to_string_pretty(&doc).unwrap_or_default();
    s.push('\n');
    s
}

fn sarif_location(s: &Span, prefix: &str, message: Option<&str>) -> Value {
    let ((l, c), (el, ec)) = region(s);
    let mut loc = json!({
        "physicalLocation": {
            "artifactLocation": {"uri": uri(&format!("{prefix}{}", s.path())), "uriBaseId": "%SRCROOT%"},
            "region": {"startLine": l, "startColumn": c, "endLine": el, "endColumn": ec.max(if el == l { c } else { 1 })},
        }
    });
    if let Some(m) = message {
        loc["message"] = json!({"text": m});
    }
    loc
}

fn sarif_result(d: &Diagnostic, prefix: &str) -> Value {
    let index = Code::ALL.iter().position(|c| *c == d.code).unwrap_or(0);
    let text = full_text(d);
    let mut r = json!({
        "ruleId": d.code.as_str(),
        "ruleIndex": index,
        "level": severity(d),
        "message": {"text": text},
    });
    if let Some(s) = &d.span {
        r["locations"] = json!([sarif_location(s, prefix, None)]);
    }
    if !d.related.is_empty() {
        let rel: Vec<Value> = d
            .related
            .iter()
            .enumerate()
            .map(|(i, (s, l))| {
                let mut v = sarif_location(s, prefix, Some(l));
                v["id"] = json!(i + 1);
                v
            })
            .collect();
        r["relatedLocations"] = json!(rel);
    }
    if !d.clusters.is_empty() || d.object.is_some() {
        let mut p = Map::new();
        if !d.clusters.is_empty() {
            p.insert("clusters".into(), json!(d.clusters));
        }
        if let Some(o) = &d.object {
            p.insert("object".into(), object_json(o));
        }
        r["properties"] = Value::Object(p);
    }
    r
}

/// A relative URI: each path segment percent-encoded where URIs need it.
fn uri(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for b in path.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'/' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// GitHub Actions workflow commands: one `::error …::…` or `::warning …::…`
/// line per diagnostic, which the runner turns into annotations.
pub fn github(diags: &Diags, prefix: &str) -> String {
    let mut out = String::new();
    for d in &diags.items {
        let mut props = Vec::new();
        if let Some(s) = &d.span {
            let ((l, c), (el, ec)) = region(s);
            props.push(format!(
                "file={}",
                property(&format!("{prefix}{}", s.path()))
            ));
            props.push(format!("line={l}"));
            props.push(format!("col={c}"));
            props.push(format!("endLine={el}"));
            if el == l {
                props.push(format!("endColumn={}", ec.max(c)));
            }
        }
        props.push(format!(
            "title={}",
            property(&format!("fleetc {}", d.code.as_str()))
        ));
        let text = full_text(d);
        out.push_str(&format!(
            "::{} {}::{}\n",
            severity(d),
            props.join(","),
            data(&text)
        ));
    }
    out
}

/// Escaping of a workflow command's message.
fn data(s: &str) -> String {
    s.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// Escaping of a workflow command's property value.
fn property(s: &str) -> String {
    data(s).replace(':', "%3A").replace(',', "%2C")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diag::Source;

    #[test]
    fn github_commands_escape_their_parts() {
        let src = Source::new("clusters/a,b.yaml", "x: 1\ny: %2\n");
        let mut ds = Diags::default();
        ds.push(
            Diagnostic::error(Code::InvalidValue, "bad: 50%\nsecond line")
                .at(&Span::new(&src, 5, 10))
                .help("fix it"),
        );
        let out = github(&ds, "fleet/");
        assert_eq!(
            out,
            "::error file=fleet/clusters/a%2Cb.yaml,line=2,col=1,endLine=2,endColumn=6,title=fleetc invalid-value::bad: 50%25%0Asecond line%0Ahelp: fix it\n"
        );
    }

    #[test]
    fn uris_are_percent_encoded() {
        assert_eq!(uri("a b/c%.yaml"), "a%20b/c%25.yaml");
    }
}
