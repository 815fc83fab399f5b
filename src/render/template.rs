//! The template engine: one minijinja environment per component, shared by
//! every cluster that renders it.
//!
//! Only the unit's own `templates/` can be loaded (include of anything else
//! is "template not found"); no clock, randomness, environment, file system
//! or network is reachable; fuel and recursion limits stop hostile templates,
//! and the output budget holds while a template runs (the output is refused
//! as it is written, and fleetc's filters build nothing larger).
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

/// The value as JSON, or the budget error when its JSON is larger than the
/// output budget (measured without building it: a lazily repeated list is
/// far larger written out than in memory).
fn json_within_budget(v: &JValue, what: &str) -> Result<Vec<u8>, Error> {
    let mut w = Counting {
        inner: Vec::new(),
        n: 0,
        max: budget(),
    };
    match serde_json::to_writer(&mut w, v) {
        Ok(()) => Ok(w.inner),
        Err(e) if e.is_io() => Err(over_budget(what)),
        Err(e) => Err(invalid(format!("cannot convert to JSON: {e}"))),
    }
}

fn toyaml(v: &JValue) -> Result<JValue, Error> {
    if v.is_undefined() {
        return Err(Error::new(
            ErrorKind::UndefinedError,
            "toyaml of an undefined value",
        ));
    }
    json_within_budget(v, "`toyaml` of this value")?;
    let out = to_yaml_fragment(&to_node(v)?);
    over_budget_if(out.len(), "`toyaml` of this value")?;
    Ok(JValue::from_safe_string(out))
}

fn tojson(v: &JValue) -> Result<JValue, Error> {
    if v.is_undefined() {
        return Err(Error::new(
            ErrorKind::UndefinedError,
            "tojson of an undefined value",
        ));
    }
    let bytes = json_within_budget(v, "`tojson` of this value")?;
    let s = String::from_utf8(bytes).map_err(|_| invalid("cannot convert to JSON"))?;
    Ok(JValue::from_safe_string(s))
}

fn b64encode(v: &JValue) -> Result<String, Error> {
    let s = text_of(v)?;
    over_budget_if(
        s.len().div_ceil(3).saturating_mul(4),
        "`b64encode` of this value",
    )?;
    Ok(base64::engine::general_purpose::STANDARD.encode(s.as_bytes()))
}

fn b64decode(v: &JValue) -> Result<String, Error> {
    let s = text_of(v)?;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(s.trim())
        .map_err(|e| invalid(format!("b64decode: not valid base64: {e}")))?;
    String::from_utf8(bytes).map_err(|_| invalid("b64decode: the decoded bytes are not UTF-8 text"))
}

fn sha256(v: &JValue) -> Result<String, Error> {
    let d = match v.as_str() {
        Some(s) => Sha256::digest(s.as_bytes()),
        None => Sha256::digest(json_within_budget(v, "`sha256` of this value")?),
    };
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
    if let Some(s) = v.as_str() {
        over_budget_if(s.len(), "this value")?;
        return Ok(s.to_string());
    }
    // String filters spell scalars as YAML does (minijinja's own Display
    // says None/True/False, Python's spelling); none is the empty text, as
    // Helm's `quote` gives for a missing value.
    if v.is_none() {
        return Ok(String::new());
    }
    if v.kind() == minijinja::value::ValueKind::Bool {
        return Ok(v.is_true().to_string());
    }
    // A lazily repeated list (`[s] * 1000`) prints to far more than it holds:
    // stop at the budget instead of building the whole text.
    let mut out = Bounded::new(budget());
    match write!(out, "{v}") {
        Ok(()) => Ok(out.text),
        Err(_) => Err(over_budget("this value as text")),
    }
}

thread_local! {
    /// The output budget of the render under way on this thread, and how
    /// much of it the output has used.
    static OUTPUT: std::cell::Cell<(usize, usize)> =
        const { std::cell::Cell::new((0, 16 << 20)) };
    /// Set when the render under way stopped at its output budget.
    static OVER: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// The output budget of the render under way (`template-output-bytes`).
fn budget() -> usize {
    OUTPUT.with(|o| o.get().1)
}

/// What is left of it.
fn remaining() -> usize {
    OUTPUT.with(|o| {
        let (used, max) = o.get();
        max.saturating_sub(used)
    })
}

/// The error that stops a render at its output budget (the message is
/// replaced by [`render`]'s, which names the budget).
fn over_budget(what: &str) -> Error {
    OVER.with(|f| f.set(true));
    invalid(format!("{what} is over the template output budget"))
}

/// Nothing larger than the whole output budget is built by fleetc's filters:
/// it could never be printed.
fn over_budget_if(len: usize, what: &str) -> Result<(), Error> {
    if len > budget() {
        return Err(over_budget(what));
    }
    Ok(())
}

/// A `fmt::Write` that refuses to grow past `max` bytes.
struct Bounded {
    text: String,
    max: usize,
}

impl Bounded {
    fn new(max: usize) -> Self {
        Bounded {
            text: String::new(),
            max,
        }
    }
}

impl std::fmt::Write for Bounded {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        if self.text.len().saturating_add(s.len()) > self.max {
            return Err(std::fmt::Error);
        }
        self.text.push_str(s);
        Ok(())
    }
}

/// An `io::Write` that counts bytes and refuses past `max` (for serde).
struct Counting<W> {
    inner: W,
    n: usize,
    max: usize,
}

impl<W: std::io::Write> std::io::Write for Counting<W> {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        if self.n.saturating_add(b.len()) > self.max {
            return Err(std::io::Error::other("over the template output budget"));
        }
        self.n += b.len();
        self.inner.write_all(b)?;
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The whole output of one template render, refused past the budget while
/// it is written, so a template that prints without end stops at the budget
/// instead of growing the process without bound.
struct Output {
    buf: Vec<u8>,
    max: usize,
}

impl std::io::Write for Output {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        if self.buf.len().saturating_add(b.len()) > self.max {
            OVER.with(|f| f.set(true));
            return Err(std::io::Error::other("over the template output budget"));
        }
        self.buf.extend_from_slice(b);
        let used = self.buf.len();
        OUTPUT.with(|o| o.set((used, self.max)));
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The widest `indent`/`nindent` accepted (YAML never needs more; a huge
/// width from a hostile template would allocate without bound: found by
/// fuzzing).
const MAX_INDENT: usize = 256;

/// The width is at most [`MAX_INDENT`] and the indented text (at most one
/// more pad than there are line breaks) fits the output budget.
fn check_indent(s: &str, width: usize) -> Result<(), Error> {
    if width > MAX_INDENT {
        return Err(invalid(format!(
            "indent width {width} is over {MAX_INDENT}"
        )));
    }
    let lines = s.bytes().filter(|&b| b == b'\n').count() + 1;
    over_budget_if(
        s.len().saturating_add(lines.saturating_mul(width)),
        "the indented text",
    )
}

/// One `\n` and then one `\r` taken off the end (as minijinja does).
fn strip_trailing_newline(mut s: &str) -> &str {
    if let Some(x) = s.strip_suffix('\n') {
        s = x;
    }
    if let Some(x) = s.strip_suffix('\r') {
        s = x;
    }
    s
}

/// minijinja's `indent`, to the byte: the text loses one trailing line
/// break; every line but the first (unless `first`) gets `width` spaces,
/// blank lines (empty, or a lone `\r` of CRLF text) only with `blank`; the
/// result loses one trailing line break again. `width` defaults to 4 and the
/// arguments may also be given by name (`width`, `first`, `blank`). Unlike
/// minijinja's, the result is always safe to print (see [`environment`]'s
/// line-break check) and the width is at most [`MAX_INDENT`].
fn indent(
    v: &JValue,
    width: Option<usize>,
    first: Option<bool>,
    blank: Option<bool>,
    kwargs: &Kwargs,
) -> Result<JValue, Error> {
    let width = match width {
        Some(w) => w,
        None => kwargs.get::<Option<usize>>("width")?.unwrap_or(4),
    };
    let first = match first {
        Some(f) => f,
        None => kwargs.get::<Option<bool>>("first")?.unwrap_or(false),
    };
    let blank = match blank {
        Some(b) => b,
        None => kwargs.get::<Option<bool>>("blank")?.unwrap_or(false),
    };
    kwargs.assert_all_used()?;
    let s = text_of(v)?;
    check_indent(&s, width)?;
    let pad = " ".repeat(width);
    let mut out = String::with_capacity(s.len() + 16);
    let mut lines = strip_trailing_newline(&s).split('\n');
    if !first {
        out.push_str(lines.next().unwrap_or_default());
        out.push('\n');
    }
    for line in lines {
        if !(line.is_empty() || line == "\r") || blank {
            out.push_str(&pad);
        }
        out.push_str(line);
        out.push('\n');
    }
    out.truncate(strip_trailing_newline(&out).len());
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
    let out = serde_json::to_string(&s).unwrap_or_default();
    over_budget_if(out.len(), "`quote` of this value")?;
    Ok(JValue::from_safe_string(out))
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
            // Refused before it is written (the error then points at this
            // expression), also inside `{% set %}` blocks and macros.
            if s.len() > remaining() {
                return Err(over_budget("this value"));
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
    env.add_filter("b64encode", |v: JValue| b64encode(&v));
    env.add_filter("b64decode", |v: JValue| b64decode(&v));
    env.add_filter("sha256", |v: JValue| sha256(&v));
    env.add_filter(
        "indent",
        |v: JValue,
         width: Option<usize>,
         first: Option<bool>,
         blank: Option<bool>,
         kwargs: Kwargs| { indent(&v, width, first, blank, &kwargs) },
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

/// The variables a template reads and does not set, as nested paths
/// (`values.image.tag`), sorted; compiled under the same guard as
/// [`render`]. None when it does not compile or the engine fails on it.
pub fn undeclared(env: &Environment<'static>, name: &str) -> Option<Vec<String>> {
    GUARDED.with(|g| g.set(true));
    let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let t = env.get_template(name).ok()?;
        #[allow(clippy::disallowed_methods)]
        let mut v: Vec<String> = t.undeclared_variables(true).into_iter().collect();
        v.sort();
        Some(v)
    }));
    GUARDED.with(|g| g.set(false));
    run.ok().flatten()
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
    let max = limits.max_output_bytes;
    let previous = OUTPUT.with(|o| o.replace((0, max)));
    OVER.with(|f| f.set(false));
    // The output is refused as it is written: the budget holds while the
    // template runs, not only once it is done.
    let mut out = Output {
        buf: Vec::new(),
        max,
    };
    let run = t.render_captured_to(ctx, &mut out).map(drop);
    OUTPUT.with(|o| o.set(previous));
    let over = OVER.with(|f| f.replace(false));
    match run {
        Ok(()) => String::from_utf8(out.buf).map_err(|_| TemplateError {
            code: Code::TemplateError,
            message: "template error: the output is not UTF-8".into(),
            template: name.to_string(),
            line: None,
            range: None,
            chain: vec![],
        }),
        Err(e) => {
            let mut te = TemplateError::from_error(&e, name);
            if over {
                te.code = Code::TemplateBudget;
                te.message = format!(
                    "template output is over the {max} byte budget (raise it with `--limit template-output-bytes=N`)"
                );
            }
            Err(te)
        }
    }
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
        } else if detail.contains("over the template output budget") {
            code = Code::TemplateBudget;
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
        run_with(src, ctx, &TemplateLimits::default())
    }

    fn run_with(src: &str, ctx: JValue, l: &TemplateLimits) -> Result<String, TemplateError> {
        let mut m = BTreeMap::new();
        m.insert("t.yaml.j2".to_string(), src.to_string());
        m.insert("_h.j2".to_string(), "{{ nope.x }}".to_string());
        let env = environment(Arc::new(m), l);
        render(&env, "t.yaml.j2", &ctx, l)
    }

    fn budget_of(n: usize) -> TemplateLimits {
        TemplateLimits {
            max_output_bytes: n,
            ..TemplateLimits::default()
        }
    }

    fn assert_over_budget(r: Result<String, TemplateError>, n: usize) -> TemplateError {
        let e = r.expect_err("over the budget");
        assert_eq!(
            e.message,
            format!("template output is over the {n} byte budget (raise it with `--limit template-output-bytes=N`)")
        );
        e
    }

    #[test]
    fn the_output_budget_holds_while_rendering() {
        let l = budget_of(1000);
        // Exactly the budget is fine; one byte more is not.
        assert_eq!(
            run_with(&"x".repeat(1000), context! {}, &l).unwrap().len(),
            1000
        );
        assert_over_budget(run_with(&"x".repeat(1001), context! {}, &l), 1000);
        // A printed value that does not fit is refused before it is written,
        // at its expression; so is one in a `{% set %}` block.
        let e = assert_over_budget(
            run_with(
                "a: 1\n{% for i in range(100) %}{{ 'y' * 50 }}{% endfor %}\n",
                context! {},
                &l,
            ),
            1000,
        );
        assert_eq!(e.line, Some(2));
        assert!(e.range.is_some());
        let e = assert_over_budget(
            run_with(
                "{% set s %}{{ 'x' * 100000000 }}{% endset %}",
                context! {},
                &l,
            ),
            1000,
        );
        assert_eq!(e.line, Some(1));
        // Template text repeated by a loop stops at the budget too.
        assert_over_budget(
            run_with(
                &format!(
                    "{{% for i in range(100) %}}{}{{% endfor %}}",
                    "z".repeat(50)
                ),
                context! {},
                &l,
            ),
            1000,
        );
        // Inside an include, the include is named.
        let mut m = BTreeMap::new();
        m.insert(
            "t.yaml.j2".to_string(),
            "{% for i in range(100) %}{% include '_big.j2' %}{% endfor %}".to_string(),
        );
        m.insert("_big.j2".to_string(), "{{ 'q' * 40 }}".to_string());
        let env = environment(Arc::new(m), &l);
        let e = assert_over_budget(render(&env, "t.yaml.j2", &context! {}, &l), 1000);
        assert_eq!(e.template, "_big.j2");
        assert_eq!(e.chain, vec!["t.yaml.j2".to_string()]);
    }

    #[test]
    fn filters_build_nothing_larger_than_the_budget() {
        let l = budget_of(1000);
        let ctx = context! { s => "x".repeat(600), l => vec!["x".repeat(100); 3] };
        for src in [
            "{{ (s ~ s) | indent(2) }}",
            "{{ ((s ~ '\n') * 2) | nindent(4) }}",
            "{{ ([s] * 100000) | tojson }}",
            "{{ ([s] * 100000) | toyaml }}",
            "{{ ([s] * 100000) | sha256 }}",
            "{{ ([s] * 100000) | quote }}",
            "{{ s | b64encode | b64encode }}",
            "{{ ([l] * 1000000) | b64encode }}",
        ] {
            assert_over_budget(run_with(src, ctx.clone(), &l), 1000);
        }
        // Within the budget they work as before.
        assert_eq!(
            run_with("{{ l | tojson | length }}", ctx.clone(), &l).unwrap(),
            "310"
        );
        assert_eq!(
            run_with("{{ ('a' * 3) | sha256 }}", ctx, &l).unwrap(),
            "9834876dcfb05cb167a5c24953eba58c4ac89b1adf57f28f2f9d09af107ee8f0"
        );
    }

    #[test]
    fn the_budget_belongs_to_one_render() {
        let l = budget_of(1000);
        assert_over_budget(run_with(&"x".repeat(1001), context! {}, &l), 1000);
        // Neither the spent budget nor the failure carries over to the next render.
        assert_eq!(
            run_with(&"x".repeat(1000), context! {}, &l).unwrap().len(),
            1000
        );
        let e = run("{{ nope }}", context! {}).unwrap_err();
        assert!(e.message.starts_with("undefined value"), "{}", e.message);
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

    /// fleetc's `indent` gives exactly what minijinja's built-in gives.
    #[test]
    fn indent_is_minijinjas() {
        let plain = minijinja::Environment::new();
        let texts = [
            "",
            "a",
            "a\n",
            "a\nb",
            "a\nb\n",
            "a\nb\n\nc\n",
            "a\nb\n\nc\n\n",
            "\n",
            "\n\n",
            "\na",
            "a\n\n\nb",
            "  x\n\ty\n",
            "\r\n",
            "a\r\nb\r\n",
            "a\r\n\r\nb\r\n",
            "a\n\r",
            "é\nü\n",
        ];
        let args = [
            "",
            "()",
            "(2)",
            "(0)",
            "(2, true)",
            "(2, false, true)",
            "(2, true, true)",
            "(3, first=true)",
            "(2, blank=true)",
            "(width=1, first=true, blank=true)",
            "(first=true)",
        ];
        let mut compared = 0;
        for t in texts {
            for a in args {
                let src = format!("[{{{{ s | indent{a} }}}}]");
                let ctx = context! { s => t };
                let want = plain.render_str(&src, ctx.clone()).unwrap();
                let got = run(&src, ctx).unwrap();
                assert_eq!(got, want, "{t:?} | indent{a}");
                compared += 1;
            }
        }
        assert_eq!(compared, texts.len() * args.len());
        // The example from the bug: the trailing line break goes.
        assert_eq!(
            run("{{ s | indent(2) }}", context! { s => "a\nb\n\nc\n" }).unwrap(),
            "a\n  b\n\n  c"
        );
        // Not text: numbers as minijinja prints them; none and booleans as
        // YAML spells them (minijinja says None/True), like every fleetc
        // string filter. Unknown arguments are errors in both.
        let src = "{{ 42 | indent(2, true) }}";
        assert_eq!(
            run(src, context! {}).unwrap(),
            plain.render_str(src, ()).unwrap()
        );
        assert_eq!(
            run("[{{ none | indent(2, true) }}]", context! {}).unwrap(),
            "[]"
        );
        assert_eq!(
            run("{{ true | indent(2, true) }}", context! {}).unwrap(),
            "  true"
        );
        let src = "{{ 'a' | indent(2, bogus=true) }}";
        assert!(plain.render_str(src, ()).is_err());
        assert!(run(src, context! {}).is_err());
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
