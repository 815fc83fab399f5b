//! Writing YAML: block style, source key order, kubectl's list layout.
//!
//! Output must read back the same in the YAML 1.1 readers Kubernetes tools
//! use, so a string is written plain only when it could not be anything but
//! a string in YAML 1.1 *or* 1.2 (`on`, `yes`, `0755`, `1e3`, `1:20`,
//! `2024-01-01` are all quoted). Multi-line strings use literal blocks where
//! that is exact, double quotes otherwise.

use crate::yaml::{Node, Value};

/// One document written from JSON fleetc builds itself.
pub fn json_to_yaml(v: &serde_json::Value) -> String {
    to_yaml(&Node::generated(v))
}

/// One document, with a trailing newline.
pub fn to_yaml(node: &Node) -> String {
    let mut out = String::new();
    write_root(&mut out, node);
    out
}

/// For the `toyaml` template filter: block style without the trailing newline.
pub fn to_yaml_fragment(node: &Node) -> String {
    let mut s = to_yaml(node);
    while s.ends_with('\n') {
        s.pop();
    }
    s
}

fn write_root(out: &mut String, node: &Node) {
    match &node.v {
        Value::Map(m) if !m.is_empty() => write_map(out, node, 0),
        Value::Seq(s) if !s.is_empty() => write_seq(out, node, 0),
        _ => {
            write_scalar_or_empty(out, node, 0);
            out.push('\n');
        }
    }
}

fn indent(out: &mut String, n: usize) {
    for _ in 0..n {
        out.push(' ');
    }
}

fn write_map(out: &mut String, node: &Node, ind: usize) {
    let Value::Map(m) = &node.v else { return };
    let mut first = true;
    for (k, v) in m {
        if !first {
            indent(out, ind);
        }
        first = false;
        let mut key = String::new();
        write_str(&mut key, &k.name, ind, true);
        if key.len() > 1000 {
            // An implicit key is at most 1024 characters (YAML 1.2, 7.4.2);
            // a longer one is written as an explicit `? key` entry (found by
            // fuzzing the patch engine's round trip).
            out.push_str("? ");
            out.push_str(&key);
            out.push('\n');
            indent(out, ind);
        } else {
            out.push_str(&key);
        }
        out.push(':');
        write_value_after_key(out, v, ind);
    }
}

/// After `key:` — either ` scalar\n`, or a newline and a nested block.
fn write_value_after_key(out: &mut String, v: &Node, ind: usize) {
    match &v.v {
        Value::Map(m) if !m.is_empty() => {
            out.push('\n');
            indent(out, ind + 2);
            write_map(out, v, ind + 2);
        }
        // kubectl style: list items at the key's own indentation.
        Value::Seq(s) if !s.is_empty() => {
            out.push('\n');
            indent(out, ind);
            write_seq(out, v, ind);
        }
        _ => {
            out.push(' ');
            write_scalar_or_empty(out, v, ind + 2);
            out.push('\n');
        }
    }
}

fn write_seq(out: &mut String, node: &Node, ind: usize) {
    let Value::Seq(items) = &node.v else { return };
    let mut first = true;
    for item in items {
        if !first {
            indent(out, ind);
        }
        first = false;
        out.push('-');
        match &item.v {
            Value::Map(m) if !m.is_empty() => {
                out.push(' ');
                write_map(out, item, ind + 2);
            }
            Value::Seq(s) if !s.is_empty() => {
                out.push(' ');
                write_seq(out, item, ind + 2);
            }
            _ => {
                out.push(' ');
                write_scalar_or_empty(out, item, ind + 2);
                out.push('\n');
            }
        }
    }
}

/// Scalars, `{}` and `[]`; `ind` is the indentation of block-scalar content.
fn write_scalar_or_empty(out: &mut String, node: &Node, ind: usize) {
    match &node.v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Int(i) => out.push_str(&i.to_string()),
        Value::Float(f) => out.push_str(&format_float(*f)),
        Value::Str(s) => write_str(out, s, ind, false),
        Value::Seq(_) => out.push_str("[]"),
        Value::Map(_) => out.push_str("{}"),
    }
}

pub fn format_float(f: f64) -> String {
    if f.is_nan() {
        return ".nan".into();
    }
    if f.is_infinite() {
        return if f > 0.0 {
            ".inf".into()
        } else {
            "-.inf".into()
        };
    }
    let s = format!("{f:?}");
    if s.contains('.') || s.contains('e') || s.contains('E') {
        s
    } else {
        format!("{s}.0")
    }
}

fn write_str(out: &mut String, s: &str, ind: usize, is_key: bool) {
    if is_plain_safe(s) {
        out.push_str(s);
    } else if !is_key && literal_ok(s) {
        write_literal(out, s, ind);
    } else {
        write_double_quoted(out, s);
    }
}

/// Words that some YAML reader (1.1 or 1.2) takes as a non-string.
const RESERVED: &[&str] = &[
    "y", "n", "yes", "no", "on", "off", "true", "false", "null", "~", ".inf", "-.inf", "+.inf",
    ".nan", "=", "<<",
];

/// True when `s` can be written without quotes and reads back as this exact string.
pub fn is_plain_safe(s: &str) -> bool {
    let b = s.as_bytes();
    let Some(&first) = b.first() else {
        return false;
    };
    let last = *b.last().unwrap_or(&first);
    if first == b' ' || last == b' ' || last == b':' {
        return false;
    }
    if RESERVED.iter().any(|r| r.eq_ignore_ascii_case(s)) {
        return false;
    }
    // Anything that starts like a number, date or time is quoted: YAML 1.1 reads
    // `0755`, `1_000`, `1:20`, `1e3`, `1.30.4`, `0x1F`, `2024-01-01t10:00:00z` as
    // non-strings. A letter that no number or timestamp syntax uses (`500m`,
    // `512Mi`, `3d`) makes it a plain string in every reader.
    let starts_numeric = first.is_ascii_digit()
        || ((first == b'-' || first == b'+' || first == b'.')
            && b.get(1).is_some_and(|c| c.is_ascii_digit() || *c == b'.'));
    if starts_numeric {
        let distinct_letter = b
            .iter()
            .any(|c| c.is_ascii_alphabetic() && !b"abcdefABCDEFxXoOtTzZ".contains(c));
        if !distinct_letter || !first.is_ascii_digit() {
            return false;
        }
    }
    if !(first.is_ascii_alphanumeric() || matches!(first, b'/' | b'_' | b'.' | b'$' | b'(')) {
        return false;
    }
    for (i, &c) in b.iter().enumerate() {
        let ok = c.is_ascii_alphanumeric()
            || matches!(
                c,
                b'-' | b'_'
                    | b'.'
                    | b'/'
                    | b'@'
                    | b'+'
                    | b'='
                    | b'('
                    | b')'
                    | b'$'
                    | b'^'
                    | b'~'
                    | b','
                    | b'%'
                    | b';'
                    | b'<'
                    | b'>'
            )
            || (c == b' ' && b.get(i + 1) != Some(&b'#'))
            || (c == b':' && b.get(i + 1).is_some_and(|n| *n != b' '));
        if !ok {
            return false;
        }
    }
    true
}

/// A literal block keeps this string exactly: it has a line break, only
/// printable characters and tabs (no U+2028/U+2029, which YAML 1.1 reads
/// as line breaks), no line that starts with a space on the first line
/// (that would need an indentation indicator) and no line that looks like
/// a document marker.
fn literal_ok(s: &str) -> bool {
    s.contains('\n')
        && !s.starts_with(' ')
        && !s.starts_with('\n')
        && s.chars().all(|c| {
            c == '\n'
                || c == '\t'
                || (!c.is_control() && !matches!(c, '\u{feff}' | '\u{2028}' | '\u{2029}'))
        })
        && !s.lines().any(|l| {
            l.ends_with(' ')
                || l.ends_with('\t')
                // At indentation 0 (a document that is one string) these
                // lines would end the document (found by fuzzing).
                || l.starts_with("---")
                || l.starts_with("...")
        })
}

fn write_literal(out: &mut String, s: &str, ind: usize) {
    let trailing = s.len() - s.trim_end_matches('\n').len();
    out.push('|');
    match trailing {
        0 => out.push('-'),
        1 => {}
        _ => out.push('+'),
    }
    let body = s.strip_suffix('\n').unwrap_or(s);
    for line in body.split('\n') {
        out.push('\n');
        if !line.is_empty() {
            indent(out, ind);
            out.push_str(line);
        }
    }
}

fn write_double_quoted(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() || c == '\u{feff}' || c == '\u{2028}' || c == '\u{2029}' => {
                out.push_str(&format!("\\u{:04x}", c as u32))
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diag::Source;
    use crate::yaml::{parse_documents, Budget};

    fn roundtrip(s: &str) -> String {
        let docs = parse_documents(&Source::new("t", s), &Budget::default()).unwrap();
        let out = to_yaml(&docs[0]);
        let back = parse_documents(&Source::new("t2", out.as_str()), &Budget::default()).unwrap();
        assert!(
            back[0].same(&docs[0]),
            "roundtrip changed meaning:\n{s}\n---\n{out}"
        );
        out
    }

    #[test]
    fn ambiguous_strings_stay_quoted() {
        let out = roundtrip("a: 'on'\nb: 'yes'\nc: '0755'\nd: '1e3'\ne: '1:20'\nf: '2024-01-01'\ng: 'null'\nh: ''\n");
        for w in [
            "\"on\"",
            "\"yes\"",
            "\"0755\"",
            "\"1e3\"",
            "\"1:20\"",
            "\"2024-01-01\"",
            "\"null\"",
            "\"\"",
        ] {
            assert!(out.contains(w), "{w} not quoted in\n{out}");
        }
    }

    #[test]
    fn layout_is_kubectl_like() {
        let out = roundtrip("spec:\n  containers:\n  - name: a\n    args: [x, y]\n    env: []\n  s: |\n    line1\n    line2\n  n: 1.0\n  e: {}\n");
        assert_eq!(
            out,
            "spec:\n  containers:\n  - name: a\n    args:\n    - x\n    - \"y\"\n    env: []\n  s: |\n    line1\n    line2\n  \"n\": 1.0\n  e: {}\n"
        );
    }

    #[test]
    fn odd_strings_roundtrip() {
        roundtrip("a: \"x: y\"\nb: \"# c\"\nc: \"- d\"\nd: \"  lead\"\ne: \"tail \\n\"\nf: \"{{ x }}\"\ng: \"a\\tb\\n\\n\"\nh: \"*x\"\ni: \"\\u0001\"\n");
        let out = roundtrip("a: 500m\nb: 512Mi\nc: '1.30.4'\nd: '0x1F'\ne: '2001-12-14t21:59:43.10-05:00'\nf: '1_000'\n");
        assert!(
            out.starts_with("a: 500m\nb: 512Mi\nc: \"1.30.4\"\nd: \"0x1F\"\ne: \"2001"),
            "{out}"
        );
        roundtrip("k:\n- - a\n  - b\n- []\n- {}\n- c: d\n  e: f\n");
    }

    /// Found by fuzzing (fuzz/regress/patch-crash-b2201...): keys longer
    /// than YAML's 1,024-character limit for implicit keys.
    #[test]
    fn long_keys_roundtrip() {
        let k = "k".repeat(1500);
        let out = roundtrip(&format!("? {k}\n: 1\n"));
        assert!(out.starts_with("? k"), "{out}");
        roundtrip(&format!("a:\n  ? {k}\n  :\n    b: 1\n  c: 2\n"));
        roundtrip(&format!("a:\n  ? {k}\n  :\n  - x\n  - y\n"));
        roundtrip(&format!("? \"{}\"\n: z\n", "q\\n".repeat(400)));
    }

    /// Found by fuzzing (fuzz/regress/patch-*): a document that is one
    /// multi-line string with a `---` line must not be a literal block.
    #[test]
    fn document_markers_in_strings_roundtrip() {
        for s in [
            "\"a\\n---\\tb\"\n",
            "\"a\\n...\\nb\"\n",
            "k: \"a\\n---\\nb\"\n",
            "k: \"a\\u2028b\\nc\"\n",
        ] {
            roundtrip(s);
        }
        let docs =
            parse_documents(&Source::new("t", "\"x\\n---\\ty\"\n"), &Budget::default()).unwrap();
        let out = to_yaml(&docs[0]);
        assert!(!out.contains("\n---"), "{out}");
    }
}
