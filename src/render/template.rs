//! The template engine: one minijinja environment per component, shared by
//! every cluster that renders it.
//!
//! Only the unit's own `templates/` can be loaded (include of anything else
//! is "template not found"); no clock, randomness, environment, file system
//! or network is reachable; fuel and recursion limits stop hostile templates.
//! Undefined values may be tested but not printed, iterated or dereferenced
//! (minijinja's SemiStrict). A string with a line break printed raw is an
//! error unless it went through `toyaml`, `tojson`, `quote`, `indent` or
//! `nindent`, so a value can never add keys or documents to a resource.

use crate::diag::Code;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Arc;

use base64::Engine as _;
use minijinja::value::{Kwargs, Value as JValue};
use minijinja::{Environment, Error, ErrorKind, UndefinedBehavior};
use sha2::{Digest, Sha256};

use crate::yaml::write::to_yaml_fragment;
use crate::yaml::Node;

/// Limits for one template render.
#[derive(Clone, Debug)]
pub struct TemplateLimits {
    pub fuel: u64,
    pub recursion: usize,
    pub max_output_bytes: usize,
}

impl Default for TemplateLimits {
    fn default() -> Self {
        TemplateLimits {
            fuel: 20_000_000,
            recursion: 64,
            max_output_bytes: 16 << 20,
        }
    }
}

fn invalid(msg: impl Into<String>) -> Error {
    Error::new(ErrorKind::InvalidOperation, msg.into())
}

fn to_node(v: &JValue) -> Result<Node, Error> {
    let json =
        serde_json::to_value(v).map_err(|e| invalid(format!("cannot convert value: {e}")))?;
    let src = crate::diag::Source::new("<template value>", "");
    Ok(Node::from_json(&json, &crate::diag::Span::file(&src)))
}

fn toyaml(v: &JValue) -> Result<JValue, Error> {
    if v.is_undefined() {
        return Err(Error::new(
            ErrorKind::UndefinedError,
            "toyaml of an undefined value",
        ));
    }
    Ok(JValue::from_safe_string(to_yaml_fragment(&to_node(v)?)))
}

fn tojson(v: &JValue) -> Result<JValue, Error> {
    if v.is_undefined() {
        return Err(Error::new(
            ErrorKind::UndefinedError,
            "tojson of an undefined value",
        ));
    }
    let s =
        serde_json::to_string(v).map_err(|e| invalid(format!("cannot convert to JSON: {e}")))?;
    Ok(JValue::from_safe_string(s))
}

fn b64encode(s: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(s.as_bytes())
}

fn b64decode(s: &str) -> Result<String, Error> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(s.trim())
        .map_err(|e| invalid(format!("b64decode: not valid base64: {e}")))?;
    String::from_utf8(bytes).map_err(|_| invalid("b64decode: the decoded bytes are not UTF-8 text"))
}

fn sha256(v: &JValue) -> Result<String, Error> {
    let bytes = match v.as_str() {
        Some(s) => s.as_bytes().to_vec(),
        None => serde_json::to_vec(v).map_err(|e| invalid(format!("sha256: {e}")))?,
    };
    let d = Sha256::digest(&bytes);
    let mut out = String::with_capacity(64);
    for b in d {
        let _ = write!(out, "{b:02x}");
    }
    Ok(out)
}

fn text_of(v: &JValue) -> Result<String, Error> {
    if v.is_undefined() {
        return Err(Error::new(ErrorKind::UndefinedError, "undefined value"));
    }
    // String filters spell scalars as YAML does (minijinja's own Display
    // says None/True/False, Python's spelling); none is the empty text, as
    // Helm's `quote` gives for a missing value.
    Ok(match v.as_str() {
        Some(s) => s.to_string(),
        None if v.is_none() => String::new(),
        None if v.kind() == minijinja::value::ValueKind::Bool => v.is_true().to_string(),
        None => v.to_string(),
    })
}

/// The widest `indent`/`nindent` accepted (YAML never needs more; a huge
/// width from a hostile template would allocate without bound: found by
/// fuzzing).
const MAX_INDENT: usize = 256;
/// The most an indented text may grow to.
const MAX_INDENTED_BYTES: usize = 64 << 20;

fn check_indent(s: &str, width: usize) -> Result<(), Error> {
    if width > MAX_INDENT {
        return Err(invalid(format!(
            "indent width {width} is over {MAX_INDENT}"
        )));
    }
    let lines = s.bytes().filter(|&b| b == b'\n').count() + 1;
    if s.len().saturating_add(lines.saturating_mul(width)) > MAX_INDENTED_BYTES {
        return Err(invalid(format!(
            "indenting this text would make it over {MAX_INDENTED_BYTES} bytes"
        )));
    }
    Ok(())
}

/// minijinja's `indent`: every line but the first (unless `first`), blank lines only with `blank`.
fn indent(
    v: &JValue,
    width: usize,
    first: Option<bool>,
    blank: Option<bool>,
) -> Result<JValue, Error> {
    let s = text_of(v)?;
    check_indent(&s, width)?;
    let pad = " ".repeat(width);
    let mut out = String::with_capacity(s.len() + 16);
    for (i, line) in s.split('\n').enumerate() {
        if i > 0 {
            out.push('\n');
        }
        let want =
            (i > 0 || first.unwrap_or(false)) && (!line.is_empty() || blank.unwrap_or(false));
        if want {
            out.push_str(&pad);
        }
        out.push_str(line);
    }
    Ok(JValue::from_safe_string(out))
}

/// Helm's `nindent`: a newline, then every line indented.
fn nindent(v: &JValue, width: usize) -> Result<JValue, Error> {
    let s = text_of(v)?;
    check_indent(&s, width)?;
    let pad = " ".repeat(width);
    Ok(JValue::from_safe_string(format!(
        "\n{pad}{}",
        s.replace('\n', &format!("\n{pad}"))
    )))
}

fn quote(v: &JValue) -> Result<JValue, Error> {
    let s = text_of(v)?;
    Ok(JValue::from_safe_string(
        serde_json::to_string(&s).unwrap_or_default(),
    ))
}

fn required(v: JValue, msg: Option<&str>) -> Result<JValue, Error> {
    if v.is_undefined() || v.is_none() {
        return Err(invalid(
            msg.unwrap_or("a required value is missing").to_string(),
        ));
    }
    Ok(v)
}

/// Build the environment of one unit over its template sources (name = path under templates/).
pub fn environment(
    sources: Arc<BTreeMap<String, String>>,
    limits: &TemplateLimits,
) -> Environment<'static> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::SemiStrict);
    // Keep the newline at the end of a file (YAML documents end in one) and, as
    // Ansible does for YAML, drop the newline after a block tag.
    if let Ok(syntax) = minijinja::syntax::SyntaxConfig::builder()
        .keep_trailing_newline(true)
        .trim_blocks(true)
        .build()
    {
        env.set_syntax(syntax);
    }
    env.set_auto_escape_callback(|_| minijinja::AutoEscape::None);
    env.set_fuel(Some(limits.fuel));
    // Error spans (for snippets) need the debug machinery; its `debug()` global, which dumps
    // the whole context, is not offered to templates.
    env.set_debug(false);
    env.remove_global("debug");
    env.set_recursion_limit(limits.recursion);
    env.set_loader(move |name| {
        if name.split('/').any(|p| p == ".." || p.is_empty()) {
            return Ok(None);
        }
        Ok(sources.get(name).cloned())
    });
    env.set_formatter(|out, _state, value| {
        if value.is_none() {
            return out.write_str("null").map_err(Error::from);
        }
        if let Some(s) = value.as_str() {
            // Every character YAML (1.1 or 1.2) may take for a line break:
            // a raw one could start a new key, item or document.
            if s.contains(['\n', '\r', '\u{85}', '\u{2028}', '\u{2029}']) && !value.is_safe() {
                return Err(invalid(
                    "a string with a line break is printed raw; pass it through toyaml, tojson, quote, indent or nindent",
                ));
            }
            return out.write_str(s).map_err(Error::from);
        }
        match value.kind() {
            minijinja::value::ValueKind::Bool => {
                out.write_str(if value.is_true() { "true" } else { "false" }).map_err(Error::from)
            }
            minijinja::value::ValueKind::Map | minijinja::value::ValueKind::Seq => Err(invalid(
                "a map or list is printed raw; use `| toyaml` (block YAML) or `| tojson` (flow)",
            )),
            _ => write!(out, "{value}").map_err(Error::from),
        }
    });
    env.add_filter("toyaml", |v: JValue| toyaml(&v));
    env.add_filter("tojson", |v: JValue| tojson(&v));
    env.add_filter("b64encode", |s: String| b64encode(&s));
    env.add_filter("b64decode", |s: String| b64decode(&s));
    env.add_filter("sha256", |v: JValue| sha256(&v));
    env.add_filter(
        "indent",
        |v: JValue, width: usize, first: Option<bool>, blank: Option<bool>, _kw: Kwargs| {
            indent(&v, width, first, blank)
        },
    );
    env.add_filter("nindent", |v: JValue, width: usize| nindent(&v, width));
    env.add_filter("quote", |v: JValue| quote(&v));
    env.add_filter("required", |v: JValue, msg: Option<String>| {
        required(v, msg.as_deref())
    });
    env
}

thread_local! {
    /// Set while minijinja runs under [`render`]'s guard.
    static GUARDED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Keep the panic hook quiet for panics that [`render`] catches (the CLI
/// installs this once; other panics are reported as before).
pub fn install_panic_hook() {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if !GUARDED.with(std::cell::Cell::get) {
            previous(info);
        }
    }));
}

/// Render one template; errors are returned as (message, template name, line).
///
/// The template engine is third-party code run on hostile input: a panic
/// inside it (fuzzing found one in minijinja's code generator) becomes this
/// template's error instead of ending the process.
pub fn render(
    env: &Environment<'static>,
    name: &str,
    ctx: &JValue,
    limits: &TemplateLimits,
) -> Result<String, TemplateError> {
    GUARDED.with(|g| g.set(true));
    let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        render_unguarded(env, name, ctx, limits)
    }));
    GUARDED.with(|g| g.set(false));
    run.unwrap_or_else(|_| {
        Err(TemplateError {
            code: Code::TemplateError,
            message: "template error: the template engine failed on this template (an internal error of minijinja); simplify the construct it stops at".into(),
            template: name.to_string(),
            line: None,
            range: None,
            chain: vec![],
        })
    })
}

fn render_unguarded(
    env: &Environment<'static>,
    name: &str,
    ctx: &JValue,
    limits: &TemplateLimits,
) -> Result<String, TemplateError> {
    let t = env
        .get_template(name)
        .map_err(|e| TemplateError::from_error(&e, name))?;
    let out = t
        .render(ctx)
        .map_err(|e| TemplateError::from_error(&e, name))?;
    if out.len() > limits.max_output_bytes {
        return Err(TemplateError {
            code: Code::TemplateBudget,
            message: format!(
                "template output is over the {} byte budget (raise it with `--limit template-output-bytes=N`)",
                limits.max_output_bytes
            ),
            template: name.to_string(),
            line: None,
            range: None,
            chain: vec![],
        });
    }
    Ok(out)
}

#[derive(Debug, Clone)]
pub struct TemplateError {
    pub code: Code,
    pub message: String,
    /// The template where the error happened (an include, perhaps).
    pub template: String,
    pub line: Option<usize>,
    /// Byte range of the failing expression in the template source.
    pub range: Option<std::ops::Range<usize>>,
    /// Templates that included it, outermost first.
    pub chain: Vec<String>,
}

impl TemplateError {
    fn from_error(outer: &Error, top: &str) -> TemplateError {
        // An error inside an include is the source of a BadInclude error: walk to the innermost.
        let mut chain = Vec::new();
        let mut e = outer;
        while let Some(inner) = std::error::Error::source(e).and_then(|s| s.downcast_ref::<Error>())
        {
            chain.push(e.name().unwrap_or(top).to_string());
            e = inner;
        }
        let (mut code, kind) = match e.kind() {
            ErrorKind::UndefinedError => (Code::TemplateUndefined, "undefined value"),
            ErrorKind::TemplateNotFound => (Code::TemplateNotFound, "template not found"),
            ErrorKind::SyntaxError => (Code::TemplateSyntax, "template syntax error"),
            ErrorKind::OutOfFuel => (
                Code::TemplateBudget,
                "template ran out of fuel (too much work; is there a runaway loop? the budget is `--limit template-fuel=N`)",
            ),
            _ => (Code::TemplateError, "template error"),
        };
        let mut detail = e.detail().map(str::to_string).unwrap_or_default();
        if detail.contains("recursion limit") {
            code = Code::TemplateBudget;
            detail.push_str(" (the budget is `--limit template-recursion=N`)");
        } else if detail.contains("a string with a line break is printed raw") {
            code = Code::TemplateMultilineValue;
        }
        let message = if detail.is_empty() {
            kind.to_string()
        } else {
            format!("{kind}: {detail}")
        };
        let template = e.name().unwrap_or(top).to_string();
        TemplateError {
            code,
            message,
            template,
            line: e.line(),
            range: e.range(),
            chain,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use minijinja::context;

    fn run(src: &str, ctx: JValue) -> Result<String, TemplateError> {
        let mut m = BTreeMap::new();
        m.insert("t.yaml.j2".to_string(), src.to_string());
        m.insert("_h.j2".to_string(), "{{ nope.x }}".to_string());
        let l = TemplateLimits::default();
        let env = environment(Arc::new(m), &l);
        render(&env, "t.yaml.j2", &ctx, &l)
    }

    #[test]
    fn undefined_can_be_tested_not_printed() {
        let ctx = context! { values => context!{ a => 1 } };
        assert_eq!(
            run("{% if values.b %}x{% endif %}{{ values.a }}", ctx.clone()).unwrap(),
            "1"
        );
        assert_eq!(
            run("{{ values.b | default(2) }}", ctx.clone()).unwrap(),
            "2"
        );
        assert_eq!(
            run("{{ values.b is defined }}", ctx.clone()).unwrap(),
            "false"
        );
        assert_eq!(run("{{ values.a == 1 }}", ctx.clone()).unwrap(), "true");
        assert!(run("{{ values.b }}", ctx.clone()).is_err());
        assert!(run("{{ values.b.c }}", ctx.clone()).is_err());
        assert!(run("{% for x in values.b %}{% endfor %}", ctx.clone()).is_err());
        assert!(run("{{ missing }}", ctx).is_err());
    }

    #[test]
    fn quote_spells_scalars_as_yaml_does() {
        let ctx = context! { n => (), t => true, f => false, i => 3, s => "x" };
        let out = run(
            "a: {{ n | quote }}\nb: {{ t | quote }}\nc: {{ f | quote }}\nd: {{ i | quote }}\ne: {{ s | quote }}\n",
            ctx,
        )
        .unwrap();
        assert_eq!(
            out,
            "a: \"\"\nb: \"true\"\nc: \"false\"\nd: \"3\"\ne: \"x\"\n"
        );
    }

    #[test]
    fn multiline_values_need_a_filter() {
        let ctx = context! { v => "a\nb: c" };
        let e = run("k: {{ v }}\n", ctx.clone()).unwrap_err();
        assert!(e.message.contains("line break"), "{}", e.message);
        assert_eq!(
            run("k: {{ v | tojson }}\n", ctx.clone()).unwrap(),
            "k: \"a\\nb: c\"\n"
        );
        assert_eq!(
            run("k: {{ v | quote }}\n", ctx.clone()).unwrap(),
            "k: \"a\\nb: c\"\n"
        );
        assert_eq!(
            run("k: |{{ v | nindent(2) }}\n", ctx).unwrap(),
            "k: |\n  a\n  b: c\n"
        );
    }

    #[test]
    fn filters() {
        let ctx = context! { m => context!{ b => 1, a => context!{ x => "on" } } };
        assert_eq!(
            run("{{ m | toyaml }}", ctx.clone()).unwrap(),
            "b: 1\na:\n  x: \"on\""
        );
        assert_eq!(run("{{ 'hi' | b64encode }}", ctx.clone()).unwrap(), "aGk=");
        assert_eq!(run("{{ 'aGk=' | b64decode }}", ctx.clone()).unwrap(), "hi");
        assert_eq!(
            run("{{ 'abc' | sha256 }}", ctx.clone()).unwrap(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert!(run("{{ none | required('need it') }}", ctx.clone())
            .unwrap_err()
            .message
            .contains("need it"));
        assert_eq!(run("{{ 'a\nb' | indent(2) }}", ctx).unwrap(), "a\n  b");
    }

    #[test]
    fn includes_report_the_inner_template() {
        let e = run("{% include '_h.j2' %}", context! {}).unwrap_err();
        assert_eq!(e.template, "_h.j2");
        assert_eq!(e.chain, vec!["t.yaml.j2".to_string()]);
        let e = run("{% include '../x.j2' %}", context! {}).unwrap_err();
        assert!(e.message.contains("not found"));
        let e = run(
            "a: 1\nb: {{ values.nope }}\n",
            context! { values => context!{} },
        )
        .unwrap_err();
        assert_eq!(e.line, Some(2));
        assert!(e.range.is_some());
    }

    #[test]
    fn runaway_templates_stop() {
        let e = run(
            "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
            context! {},
        )
        .unwrap_err();
        assert!(e.message.contains("fuel"), "{}", e.message);
        let e = run(
            "{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}",
            context! {},
        )
        .unwrap_err();
        assert!(
            e.message.contains("recursion") || e.message.contains("fuel"),
            "{}",
            e.message
        );
    }
}
